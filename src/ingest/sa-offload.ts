/**
 * A bulk load's SAs loaded on a second core (engine/bulk-load.ts
 * SaOffload, by sa-worker.ts): where a file is loaded as it is checked,
 * the main thread checks it and loads its policies, and hands each `add`
 * over as text, with the order the transaction gave it. The SAs were about
 * half of such a load's time. Past a load's first 1000 statements the
 * check leaves an `add` to the worker (syntax/parser.ts deferAdds), which
 * runs the quick check on it: if one is not clean the load is given up and
 * the file checked again (cli/script.ts checkAndLoad).
 *
 * Only where it pays: a machine with more than one core, and a load that
 * has a spool for SA records (engine/store.ts beginBulk) in a store that
 * held no SA. SETKEY_BULK_WORKER=0 loads them in the main thread, as ever.
 * A worker that cannot start or dies gives the load up (BulkConflict: the
 * file is then applied request by request, which reports as ever); one
 * that fails on its store reports that failure as the store's.
 */
import { existsSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { OffloadSpools, SaOffload, SaOffloadFactory, SaOffloadResult } from '../engine/bulk-load.js';
import { BulkConflict } from '../engine/sorted-layer.js';
import { StoreError } from '../engine/store-dir.js';
import { compileWorkersInline, lazyWorkerThreads } from '../sys/builtin.js';
import { concatBlocks, type BlocksState } from '../engine/store-format.js';
import { SaLoader, TakenIds } from './sa-loader.js';
import { packPolicy, POLICY_WORDS } from './policy-ids.js';
import { messageKiB, type SaWorkerMessage, type SaWorkerReply } from './sa-messages.js';

/** Statements sent at a time (the text they stand in is sent once, before the first batch in it). */
const BATCH = 2048;
/** Policies' identities sent at a time (28 bytes each: policy-ids.ts) */
const POLICY_BATCH = 4096;

/** Batches that may be taken back (one claim each, shared): 2^16 of 2048 SAs; past them the worker loads them all. */
const CLAIMS = 1 << 16;
/** The fewest batches the worker has not begun that are taken back at the end (~10 ms each). */
const TAKE_MIN = 4;
/**
 * The most text (of the last batches the worker has not begun) kept to be
 * taken back: ~17 batches of the bench's SAs, a sixth of a load of 100k.
 * All of it (up to AHEAD_KIB) took a load of 1M SAs + 1M policies to a
 * peak of 305-320 MiB, from 273; 12 MiB, to 297.
 */
const KEEP_BYTES = 6 << 20;

/** A worker started ahead (prestartSaWorker), not yet a load's; whether its thread has ended. */
let waiting: { readonly worker: Worker; gone: boolean } | undefined;

/**
 * The SA worker started now, ahead of the load that will use it (an apply
 * of a large file to the engine: cli/main.ts), where saWorkers() would
 * make one. Node's start-up of a worker thread (its own modules compiled,
 * ~80-130 ms of the second core) then runs while the main thread opens
 * the store, not after the load has begun: the worker's first batch came
 * ~100 ms after the main thread's first statement. A worker no load takes
 * (the store held SAs, say) waits unreferenced: it keeps no process alive.
 */
export function prestartSaWorker(env: Readonly<Record<string, string | undefined>>): void {
  if (waiting !== undefined || saWorkers(env) === undefined) return;
  const { Worker } = lazyWorkerThreads();
  compileWorkersInline();
  const w = { worker: new Worker(workerScript(), { workerData: { role: 'sa-waiting' }, stdout: true, stderr: true }), gone: false };
  w.worker.once('exit', () => (w.gone = true));
  w.worker.once('error', () => (w.gone = true));
  w.worker.unref();
  waiting = w;
}

/** The worker started ahead and not yet a load's (tests). */
export function waitingSaWorker(): Worker | undefined {
  return waiting?.worker;
}

/** Where the worker's script is: beside the one-file build (dist/sa-worker.cjs), else beside this module. */
function workerScript(): string | URL {
  return typeof __dirname === 'string' ? join(__dirname, 'sa-worker.cjs') : new URL('./sa-worker.js', import.meta.url);
}

/**
 * KiB of messages (text and batches: messageKiB) the worker may be behind
 * by before the check reads on (paced). Unbounded, a worker slower than
 * the main thread had the queue hold much of the file (a load of 1M SAs +
 * 1M policies peaked at 420 MB). Counted in messages (96, ~12 MB), the
 * main thread waited for the worker in the SAs of a load of 100k + 100k
 * (~17 MB of SAs' text), which it could have spent on the policies; at 24
 * MiB it reads on to them (1M + 1M peaked at 256-264 MiB; 16 MiB: 254).
 */
const AHEAD_KIB = 24 << 10;

/** Atomics.waitAsync (V8's since Node 16; ES2024, beyond the library this is compiled against). */
const waitAsync = (Atomics as unknown as { waitAsync?: (a: Int32Array, i: number, v: number) => { async: boolean; value: unknown } }).waitAsync;

class SaWorker implements SaOffload {
  private readonly worker: Worker;
  /**
   * [0]: KiB of messages the worker has handled (it counts each one, whatever it did with it: messageKiB);
   * [1]: KiB of messages posted (the worker is idle when it has handled them all: SaLoader.idle);
   * [2]: 1 once the end is posted (what the worker would do ahead of it, it does not: the end waits for it)
   */
  private readonly handled = new Int32Array(new SharedArrayBuffer(12));
  private posted = 0;
  /** the worker's thread ended before its reply (it failed to start, or died) */
  private gone = false;
  private readonly reply: Promise<SaWorkerReply | { readonly ok: false; readonly gone: string }>;
  /** the text of the statements pushed, and whether the worker has it */
  private src: string | undefined;
  private sent = false;
  /**
   * the text's bytes where told (valid while its statements are pushed),
   * and a copy of them once an SA of it is pushed: the worker is sent that
   * (read from bytes, an SA is checked and read in one pass: scan-bytes.ts)
   */
  private bytes: Uint8Array | undefined;
  private copy: Uint8Array | undefined;
  /** start, semi and order of each statement pushed since the last batch */
  private at = new Float64Array(3 * BATCH);
  private n = 0;

  /** the policies' identities given since the last batch of them (packPolicy), the first one's order */
  private pids = new Uint32Array(POLICY_WORDS * POLICY_BATCH);
  private pn = 0;
  private pbase = 0;

  /** each batch's claim: 0 none yet, 1 the worker's, 2 this thread's (taken back at the end: drain) */
  private readonly claims = new Int32Array(new SharedArrayBuffer(4 * CLAIMS));
  /** batches posted */
  private batches = 0;
  /** the batches posted that the worker may not have begun, with their text, from `keptFrom` on (those before it it had) */
  private readonly kept: { readonly batch: number; readonly text: string; readonly at: Float64Array; readonly span: number }[] = [];
  private keptFrom = 0;
  /** the text the kept batches' statements span */
  private keptSpan = 0;

  constructor(
    private readonly spools: OffloadSpools,
    private readonly now: bigint,
    /** what is written so far synced ahead of the commit, between the batches taken back */
    private readonly syncAhead: (() => void) | undefined,
    /** tests: the batches from this one on are this thread's from the start (the worker loads none of them) */
    private readonly takeFrom = Infinity,
  ) {
    const { Worker } = lazyWorkerThreads();
    // (both cores run JavaScript from now on: sys/builtin.ts)
    compileWorkersInline();
    const data = { ...spools, now: now.toString(), handled: this.handled, claims: this.claims };
    // the worker started ahead, if any (and alive): told its load now
    const ahead = waiting;
    waiting = undefined;
    if (ahead !== undefined && !ahead.gone) {
      this.worker = ahead.worker;
      this.worker.ref();
      this.worker.postMessage({ start: data });
    } else this.worker = new Worker(workerScript(), { workerData: { role: 'sa-loader', ...data }, stdout: true, stderr: true });
    this.reply = new Promise((resolve) => {
      this.worker.once('message', resolve);
      this.worker.once('error', (e) => resolve({ ok: false, gone: e instanceof Error ? e.message : String(e) }));
      this.worker.once('exit', (code) => resolve({ ok: false, gone: `it exited (${code})` }));
    });
    void this.reply.then((r) => (this.gone = !r.ok && 'gone' in r));
  }

  private post(m: SaWorkerMessage, transfer: ArrayBuffer[] = []): void {
    if (this.gone) return;
    // (weighed first: a transferred array is empty once posted)
    this.posted += messageKiB(m);
    Atomics.store(this.handled, 1, this.posted);
    this.worker.postMessage(m, transfer);
  }

  /**
   * Resolved once the worker is less than AHEAD_KIB behind, or gone
   * (undefined: it is already). Awaited between pieces of the file, with the
   * event loop running: a worker that ends is seen ending.
   */
  paced(): Promise<void> | undefined {
    if (this.gone || this.posted - Atomics.load(this.handled, 0) < AHEAD_KIB) return undefined;
    return (async () => {
      for (;;) {
        const seen = Atomics.load(this.handled, 0);
        if (this.gone || this.posted - seen < AHEAD_KIB) return;
        // woken by the worker's count, or by its reply (its thread ending)
        const w = waitAsync ? waitAsync(this.handled, 0, seen) : { async: true, value: new Promise<void>((r) => setTimeout(r, 5)) };
        if (w.async) await Promise.race([w.value, this.reply]);
      }
    })();
  }

  text(src: string, bytes?: Uint8Array): void {
    this.flush();
    this.src = src;
    this.sent = false;
    this.bytes = bytes;
    this.copy = undefined;
  }

  push(start: number, semi: number, order: number, unchecked: boolean): void {
    // (copied now, while they are valid: the batches are sent later; a Buffer's slice() would be a view)
    if (this.bytes !== undefined && this.copy === undefined) this.copy = new Uint8Array(this.bytes);
    const at = this.at;
    const i = 3 * this.n++;
    at[i] = start;
    at[i + 1] = semi;
    // (an order is at least 1: negative, the statement is to be checked there)
    at[i + 2] = unchecked ? -order : order;
    if (this.n === BATCH) this.flush();
  }

  policy(dir: number, src: number, sprefix: number, dst: number, dprefix: number, proto: number, sport: number, dport: number, order: number): void {
    if (this.pn === 0) this.pbase = order;
    packPolicy(this.pids, POLICY_WORDS * this.pn++, dir, src, sprefix, dst, dprefix, proto, sport, dport, order, this.pbase);
    if (this.pn === POLICY_BATCH) this.flushPolicies();
  }

  /** The policies' identities given since the last batch of them, sent (the array itself: transferred). */
  private flushPolicies(): void {
    if (this.pn === 0) return;
    const pids = this.pids;
    this.post({ pids, count: this.pn, base: this.pbase }, [pids.buffer as ArrayBuffer]);
    this.pids = new Uint32Array(POLICY_WORDS * POLICY_BATCH);
    this.pn = 0;
  }

  /** The statements pushed since the last batch, sent (their text first, if the worker has not had it). */
  private flush(): void {
    if (this.n === 0) return;
    if (this.src === undefined) throw new Error('SAs pushed before their text');
    // (the bytes' copy handed over whole: this thread keeps the text, for the batches it may take back)
    if (!this.sent) this.copy !== undefined ? this.post({ bytes: this.copy }, [this.copy.buffer as ArrayBuffer]) : this.post({ text: this.src });
    this.sent = true;
    const at = this.n === BATCH ? this.at : this.at.slice(0, 3 * this.n);
    const batch = this.batches++;
    if (batch >= this.takeFrom && batch < CLAIMS) this.claims[batch] = 2;
    // (a copy is sent: this one is kept, to be loaded here if the worker has not begun it by the end)
    this.post({ at, batch });
    if (batch < CLAIMS) {
      const span = at[at.length - 2]! - at[0]!;
      this.kept.push({ batch, text: this.src, at, span });
      this.keptSpan += span;
    }
    // what the worker has begun is let go (its text with it), and the oldest beyond KEEP_BYTES of text: left to the worker
    // (never one this thread has claimed: only it loads that)
    while (this.keptFrom < this.kept.length && this.claimOf(this.keptFrom) !== 2 && (this.keptSpan > KEEP_BYTES || this.claimOf(this.keptFrom) === 1)) {
      this.keptSpan -= this.kept[this.keptFrom]!.span;
      this.kept[this.keptFrom++] = DONE;
    }
    if (this.keptFrom > 1024 && this.keptFrom * 2 > this.kept.length) this.kept.splice(0, this.keptFrom), (this.keptFrom = 0);
    this.at = new Float64Array(3 * BATCH);
    this.n = 0;
  }

  /** The claim of kept batch j. */
  private claimOf(j: number): number {
    return Atomics.load(this.claims, this.kept[j]!.batch);
  }

  /**
   * The batches the worker has not begun, taken back from the last one on
   * (each by its claim: the worker skips one taken) and loaded here, each
   * by a loader of its own, into the same spool file: the worker, which
   * loads from the first on, and this thread meet in the middle, where a
   * file ends with SAs (the worker behind: this thread had only to read
   * them). The SAs so loaded come after the worker's, in order.
   */
  private takeBack(ids: TakenIds): { readonly records: BlocksState; readonly counts: readonly number[] }[] {
    const taken = [];
    // (a few left are the worker's: what it sorted and made ahead when idle would be made again for them)
    let unclaimed = 0;
    for (let j = this.keptFrom; j < this.kept.length; j++) if (this.kept[j] !== DONE && this.claimOf(j) !== 1) unclaimed++;
    if (unclaimed < TAKE_MIN && this.takeFrom === Infinity) return [];
    for (let j = this.kept.length - 1; j >= this.keptFrom; j--) {
      const b = this.kept[j]!;
      if (b === DONE || (this.claimOf(j) !== 2 && Atomics.compareExchange(this.claims, b.batch, 0, 2) !== 0)) break;
      const loader = new SaLoader(this.spools, this.now, b.at.length / 3);
      loader.load(b.text, b.at);
      taken.push(loader.taken(ids));
      this.kept[j] = DONE;
      this.keptSpan -= b.span;
      this.syncAhead?.();
    }
    return taken.reverse();
  }

  async drain(): Promise<SaOffloadResult> {
    this.flush();
    this.flushPolicies();
    Atomics.store(this.handled, 2, 1);
    let taken: ReturnType<SaWorker['takeBack']>;
    const gathered = new TakenIds();
    try {
      taken = this.takeBack(gathered);
    } finally {
      // (the worker waits for the end either way: stop() ends it if this failed)
      this.kept.length = 0;
    }
    // (taken back from the last batch on: their SAs' identities in that order, which the worker's sort does not mind)
    const ids = gathered.all();
    this.worker.postMessage({ end: true, ...(ids.length ? { ids } : {}) } satisfies SaWorkerMessage, ids.length ? [ids.buffer as ArrayBuffer] : []);
    const r = await this.reply;
    if (r.ok) {
      const counts = new Map<number, number>();
      for (const c of [r.counts, ...taken.map((t) => t.counts)]) for (let i = 0; i < c.length; i += 2) counts.set(c[i]!, (counts.get(c[i]!) ?? 0) + c[i + 1]!);
      return { records: concatBlocks([r.records, ...taken.map((t) => t.records)]), identities: r.identities, counts: [...counts].flat(), policies: r.policies };
    }
    if ('conflict' in r) throw new BulkConflict(r.conflict);
    if ('store' in r) throw new StoreError(r.store.code, r.store.message);
    if ('gone' in r) throw new BulkConflict(`the SAs' worker stopped: ${r.gone}`);
    throw new Error(`the SAs' worker failed: ${r.bug}`);
  }

  async stop(): Promise<void> {
    // (terminate() resolves once the thread has stopped: it writes no more to the spool)
    await this.worker.terminate();
  }
}

/**
 * The factory of SA workers, where this machine and the environment allow
 * one (see above), and the worker's script is there. `takeFrom` (tests):
 * the batches from that one on are the main thread's from the start.
 */
export function saWorkers(env: Readonly<Record<string, string | undefined>>, opts: { readonly takeFrom?: number } = {}): SaOffloadFactory | undefined {
  if (env.SETKEY_BULK_WORKER === '0') return undefined;
  const cores = typeof availableParallelism === 'function' ? availableParallelism() : cpus().length;
  if (cores < 2 && env.SETKEY_BULK_WORKER !== '1') return undefined;
  // (a build without it, or a copy of the bundle alone: loaded in one thread, as ever)
  if (!existsSync(workerScript())) return undefined;
  return (spools, now, syncAhead) => new SaWorker(spools, now, syncAhead, opts.takeFrom);
}

/** A kept batch the worker has begun. */
const DONE = { batch: -1, text: '', at: new Float64Array(0), span: 0 };
