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
import { messageKiB, type SaWorkerMessage, type SaWorkerReply } from './sa-messages.js';

/** Statements sent at a time (the text they stand in is sent once, before the first batch in it). */
const BATCH = 2048;

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
  /** start, semi and order of each statement pushed since the last batch */
  private at = new Float64Array(3 * BATCH);
  private n = 0;

  constructor(spools: OffloadSpools, now: bigint) {
    const { Worker } = lazyWorkerThreads();
    // (both cores run JavaScript from now on: sys/builtin.ts)
    compileWorkersInline();
    this.worker = new Worker(workerScript(), { workerData: { role: 'sa-loader', ...spools, now: now.toString(), handled: this.handled }, stdout: true, stderr: true });
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

  text(src: string): void {
    this.flush();
    this.src = src;
    this.sent = false;
  }

  push(start: number, semi: number, order: number, unchecked: boolean): void {
    const at = this.at;
    const i = 3 * this.n++;
    at[i] = start;
    at[i + 1] = semi;
    // (an order is at least 1: negative, the statement is to be checked there)
    at[i + 2] = unchecked ? -order : order;
    if (this.n === BATCH) this.flush();
  }

  /** The statements pushed since the last batch, sent (their text first, if the worker has not had it). */
  private flush(): void {
    if (this.n === 0) return;
    if (this.src === undefined) throw new Error('SAs pushed before their text');
    if (!this.sent) this.post({ text: this.src });
    this.sent = true;
    const at = this.n === BATCH ? this.at : this.at.slice(0, 3 * this.n);
    this.post({ at }, [at.buffer]);
    if (at === this.at) this.at = new Float64Array(3 * BATCH);
    this.n = 0;
  }

  async drain(): Promise<SaOffloadResult> {
    this.flush();
    Atomics.store(this.handled, 2, 1);
    this.worker.postMessage({ end: true } satisfies SaWorkerMessage);
    const r = await this.reply;
    if (r.ok) return { records: r.records, identities: r.identities, counts: r.counts };
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

/** The factory of SA workers, where this machine and the environment allow one (see above), and the worker's script is there. */
export function saWorkers(env: Readonly<Record<string, string | undefined>>): SaOffloadFactory | undefined {
  if (env.SETKEY_BULK_WORKER === '0') return undefined;
  const cores = typeof availableParallelism === 'function' ? availableParallelism() : cpus().length;
  if (cores < 2 && env.SETKEY_BULK_WORKER !== '1') return undefined;
  // (a build without it, or a copy of the bundle alone: loaded in one thread, as ever)
  if (!existsSync(workerScript())) return undefined;
  return (spools, now) => new SaWorker(spools, now);
}
