/**
 * A worker thread that loads a bulk load's SAs (sa-offload.ts starts it):
 * each `add` statement's text, as the check found it clean (or, handed
 * over unchecked, as the quick check here finds it), read into numbers
 * (scan.ts), checked and made its record (engine/bulk-load.ts
 * saRecordAlone), and written at its order into the SA records' spool, by
 * the spool's open descriptor (engine/spool.ts SpoolBlocks). At the end the
 * SAs' identities are sorted and written into a spool of their own.
 *
 * The main thread meanwhile checks the file and loads the policies (their
 * records into the same file: spool.ts): the two halves of the work, on
 * two cores.
 *
 *   in:  workerData { role: 'sa-loader', file (OffloadSpools: the load's file), now, handled }
 *        { text }                    the text the statements of the next batches stand in
 *        { at: Float64Array }        start, semi, order of each statement of a batch (order negative: unchecked)
 *        { end: true }
 *        (each message's KiB (messageKiB) counted in `handled[0]` once handled: the main thread paces itself by it;
 *        it counts what it posted in `handled[1]`: the worker is idle when the two are equal; `handled[2]` is 1
 *        once the end is posted: then nothing is done ahead of it)
 *   out: { ok: true, records, identities (the blocks each spool got), counts }
 *        { ok: false, conflict } | { ok: false, store: { code, message } } | { ok: false, bug }
 */
import { fdatasync } from 'node:fs';
import { recordBytes, saRecordAlone, SA_IDENTITIES, type OffloadSpools, type SaOffloadResult } from '../engine/bulk-load.js';
import { ORDER_DIGITS, recordsPrefix } from '../engine/entries.js';
import { saKeyV4 } from '../engine/records.js';
import { BulkConflict } from '../engine/sorted-layer.js';
import { placeIn, SpoolBlocks, writeAt, type PlacedFile } from '../engine/spool.js';
import { StoreError } from '../engine/store-dir.js';
import { TableWriter, writeHexDigits, type BlocksState } from '../engine/store-format.js';
import { putU64Number } from '../engine/u64.js';
import { lazyWorkerThreads } from '../sys/builtin.js';
import { QuickSaCheck } from '../syntax/quick.js';
import { messageKiB, type SaWorkerMessage, type SaWorkerReply } from './sa-messages.js';
import { bulkPolicy, bulkSa, scanStatement } from './scan.js';

/** What a failure is told as (a store's failure keeps its code; anything else unexpected is a bug). */
function reply(e: unknown): SaWorkerReply {
  if (e instanceof BulkConflict) return { ok: false, conflict: e.message };
  if (e instanceof StoreError) return { ok: false, store: { code: e.code, message: e.message } };
  // (one line: it reaches the user as an internal error; SETKEY_DEBUG=1 shows the main thread's stack)
  return { ok: false, bug: e instanceof Error ? `${e.name}: ${e.message} (${(e.stack ?? '').split('\n')[1]?.trim() ?? 'no stack'})` : String(e) };
}

/** SAs sorted ahead at least (fewer sort quickly at the end) */
const IDLE_SORT_MIN = 4096;
/** bytes placed since the last sync that are synced when idle */
const IDLE_SYNC_BYTES = 16 << 20;
/** ms idle, nothing more come, before the identities' blocks are made ahead of the end (SaLoader.settled) */
export const SETTLE_MS = 10;
/** SAs whose identities' blocks may be made ahead, in memory (~40 bytes each: 16 MB) */
const SETTLE_MAX = 400000;

/** The SAs of the batches given, loaded (a class for its tests: run() is the thread's). */
export class SaLoader {
  private readonly records: SpoolBlocks;
  private readonly identities: SpoolBlocks;
  private readonly sa = bulkSa();
  private readonly quick = new QuickSaCheck();
  private readonly p = bulkPolicy();
  /**
   * each SA's identity as u32s: SA type, destination, SPI, and its order
   * less the first SA's (records.ts saKeyV4 makes its key of the first
   * three): 16 bytes an SA, a load of 1M holds 16 MB
   */
  private ids = new Uint32Array(4 * 4096);
  private n = 0;
  private firstOrder = -1;
  /** SAs by SA type */
  private readonly counts = new Map<number, number>();

  /** the load's file (every spool's) */
  private readonly file: PlacedFile;

  constructor(
    spools: OffloadSpools,
    private readonly now: bigint,
  ) {
    this.file = spools.file;
    this.records = new SpoolBlocks(spools.file, recordsPrefix('S'));
    this.identities = new SpoolBlocks(spools.file, SA_IDENTITIES);
  }

  /** The statements text[start, semi] to be stored at their orders: (start, semi, order) triples. */
  load(text: string, at: Float64Array): void {
    const sa = this.sa;
    for (let k = 0; k < at.length; k += 3) {
      // (a negative order: the main thread did not check it, the quick check is run here: syntax/parser.ts deferAdds)
      const order = Math.abs(at[k + 2]!);
      if (scanStatement(at[k + 2]! < 0 ? this.quick : 'checked', text, at[k]!, at[k + 1]!, sa, this.p) !== 'sa') throw new BulkConflict('a statement the bulk load does not read');
      this.records.putNumbered(order, ORDER_DIGITS, recordBytes(), saRecordAlone(sa, order, this.now));
      // (the store held no SA: whether one has this identity is the sort's to find, among these)
      if (this.n === this.ids.length) {
        const more = new Uint32Array(this.ids.length * 2);
        more.set(this.ids);
        this.ids = more;
      }
      if (this.firstOrder < 0) this.firstOrder = order;
      // (orders grow by one a statement: 2^32 of them past the first would be a file of ~600 GB)
      if (order - this.firstOrder >= 2 ** 32) throw new BulkConflict('orders beyond 2^32 in one load');
      const ids = this.ids;
      ids[this.n] = sa.satype;
      ids[this.n + 1] = sa.dst;
      ids[this.n + 2] = sa.spi;
      ids[this.n + 3] = order - this.firstOrder;
      this.n += 4;
      this.counts.set(sa.satype, (this.counts.get(sa.satype) ?? 0) + 1);
    }
  }

  /**
   * Nothing to do until more comes (the main thread is reading the file):
   * the identities sorted ahead of the end, which takes the order if no SA
   * came after (a file of SAs, then policies: the sort was ~60 ms of what
   * waited for the worker). Again only once there are twice as many: a file
   * of SAs and policies mixed, often idle, sorts a few times in all. Then
   * what was placed in the file so far synced, once it is much: the
   * commit's fsync has that much less to wait for. The sync runs on
   * libuv's threads, on the file's second descriptor (PlacedFile.syncFd):
   * done here, it held the end up to ~130 ms when the end came during it;
   * its outcome is nothing to this load (the commit's fsync finds what it
   * found), and it is never waited for.
   */
  idle(): void {
    const n = this.n / 4;
    if (n >= IDLE_SORT_MIN && n >= 2 * (this.sorted?.length ?? 0)) this.sorted = identityOrder(this.ids, n);
    const placed = Number(Atomics.load(this.file.end, 0));
    const fd = this.file.syncFd;
    if (fd !== undefined && !this.syncing && placed - this.synced >= IDLE_SYNC_BYTES) {
      this.syncing = true;
      this.synced = placed;
      fdatasync(fd, () => (this.syncing = false));
    }
  }

  /** an idle sync is under way */
  private syncing = false;

  /** the order of the first sorted.length identities, sorted when idle */
  private sorted: Uint32Array | undefined;
  /** bytes of the file synced when idle */
  private synced = 0;

  /**
   * Idle a while (SETTLE_MS), nothing more come: most likely the SAs are
   * all here (a file of SAs, then policies), and the end is the policies'
   * time away. The identities sorted and their blocks made, in memory, for
   * the end to write at once, if no SA comes after (writing them was ~60
   * ms of what waited for the worker). Not for a load of many SAs: that
   * would be much memory, held.
   */
  settled(): void {
    const n = this.n / 4;
    if (n === 0 || n > SETTLE_MAX || this.ahead?.n === n) return;
    if (this.sorted?.length !== n) this.sorted = identityOrder(this.ids, n);
    const parts: { b: Buffer; at: number }[] = [];
    let bytes = 0;
    // (each block where it lies among the others, from 0: placed in the file at the end)
    const w = new TableWriter((b, at) => parts.push({ b, at }), { blocksOnly: true, place: (length) => (bytes += length) - length });
    this.writeIdentities(this.sorted, (kb, kl, order) => w.addRaw(kb, 0, kl, order, 0, 8));
    // (the last block ended, and placed, first)
    const state = w.blocksState();
    this.ahead = { n, parts, bytes, state };
  }

  /** the identities' blocks made ahead (settled) for the first n SAs: in parts, from 0, `bytes` in all */
  private ahead: { readonly n: number; readonly parts: readonly { readonly b: Buffer; readonly at: number }[]; readonly bytes: number; readonly state: BlocksState } | undefined;

  /** The identities of idx's order (sorted), each key and order handed to `put`; one twice: BulkConflict, as the transaction's sort finds it. */
  private writeIdentities(idx: Uint32Array, put: (kb: Uint8Array, kl: number, order: Uint8Array) => void): void {
    const ids = this.ids;
    const key = new SaKeyBytes();
    const order = new Uint8Array(8);
    for (let j = 0; j < idx.length; j++) {
      const i = 4 * idx[j]!;
      if (j > 0) {
        const h = 4 * idx[j - 1]!;
        if (ids[h] === ids[i] && ids[h + 1] === ids[i + 1] && ids[h + 2] === ids[i + 2]) throw new BulkConflict(`${saKeyV4(ids[i]!, ids[i + 1]!, ids[i + 2]!)} put twice`);
      }
      putU64Number(order, 0, this.firstOrder + ids[i + 3]!);
      put(key.b, key.of(ids[i]!, ids[i + 1]!, ids[i + 2]!), order);
    }
  }

  /** Everything loaded: the records' blocks ended, the identities sorted and written (one twice: BulkConflict). */
  end(): SaOffloadResult {
    const records = this.records.w.blocksState();
    const counts = [...this.counts].flat();
    const n = this.n / 4;
    const ahead = this.ahead;
    if (ahead?.n === n && n > 0) {
      // the blocks made ahead, placed at once: each index entry where its block now lies
      const base = placeIn(this.file, ahead.bytes);
      for (const p of ahead.parts) writeAt(this.file, p.b, base + p.at);
      return { records, identities: { ...ahead.state, index: ahead.state.index.map((e) => ({ ...e, offset: base + e.offset })) }, counts };
    }
    this.writeIdentities(this.sorted?.length === n ? this.sorted : identityOrder(this.ids, n), (kb, kl, order) => this.identities.putKeyed(kb, kl, order));
    return { records, identities: this.identities.w.blocksState(), counts };
  }
}

/**
 * records.ts saKeyV4's key as bytes, `s/<satype>/4:<dst>/<spi>`, made of
 * its numbers without a string (100k strings made and written were most of
 * end()'s ~100 ms). The SA type is one digit: ESP and AH, the only ones a
 * load takes (checked: the keys' order is the numbers' only then).
 */
class SaKeyBytes {
  readonly b = Buffer.from('s/0/4:00000000/00000000', 'latin1');

  /** The key of an SA: its length in b. */
  of(satype: number, dst: number, spi: number): number {
    if (satype > 9) throw new BulkConflict(`SA type ${satype} in a load`);
    this.b[2] = 48 + satype;
    writeHexDigits(this.b, 6, dst, 8);
    writeHexDigits(this.b, 15, spi, 8);
    return this.b.length;
  }
}

/**
 * The order of `n` SA identities (SA type, destination, SPI: ids[4i..]) by key: SA type, then destination,
 * then SPI, as numbers, by a radix sort 16 bits at a time (5 passes at most; a sort of the keys' strings by a
 * comparator was ~40 ms of 100k). The same order as the keys' (SaKeyBytes: the SA type in one decimal
 * digit, the rest in 8 hex digits each).
 */
function identityOrder(ids: Uint32Array, n: number): Uint32Array {
  let idx = new Uint32Array(n);
  let tmp = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const count = new Uint32Array(65537);
  // least significant first: SPI low and high, destination low and high, SA type
  for (const [field, shift] of [[2, 0], [2, 16], [1, 0], [1, 16], [0, 0]] as const) {
    count.fill(0);
    for (let j = 0; j < n; j++) count[((ids[4 * j + field]! >>> shift) & 0xffff) + 1]!++;
    // (a digit all SAs have alike, as their SA type or their destinations' first half often: nothing to move)
    if (n === 0 || count[((ids[field]! >>> shift) & 0xffff) + 1] === n) continue;
    for (let v = 1; v <= 65536; v++) count[v]! += count[v - 1]!;
    for (let j = 0; j < n; j++) {
      const i = idx[j]!;
      tmp[count[(ids[4 * i + field]! >>> shift) & 0xffff]!++] = i;
    }
    [idx, tmp] = [tmp, idx];
  }
  return idx;
}

/** The thread's work: batches until the end, then one reply (the first failure's, if any: what follows it is not read). */
function run(): void {
  const { parentPort, workerData } = lazyWorkerThreads();
  const port = parentPort!;
  const data = workerData as OffloadSpools & { now: string; handled: Int32Array };
  // each message counted once handled, whatever came of it (the main thread waits while it is far ahead)
  // (messages handled: a wait for settling is over once another is)
  let count = 0;
  const idle = (): boolean => !failed && Atomics.load(data.handled, 0) === Atomics.load(data.handled, 1) && Atomics.load(data.handled, 2) === 0;
  const handled = (m: SaWorkerMessage): void => {
    Atomics.add(data.handled, 0, messageKiB(m));
    Atomics.notify(data.handled, 0);
    const seen = ++count;
    // nothing more posted yet (and not the end: it is handled next): time for what the end would do
    if (!idle()) return;
    try {
      loader?.idle();
    } catch (e) {
      failed = reply(e);
    }
    // and, nothing more come for a while, for more of it
    setTimeout(() => {
      if (seen !== count || !idle()) return;
      try {
        loader?.settled();
      } catch (e) {
        failed = reply(e);
      }
    }, SETTLE_MS);
  };

  let loader: SaLoader | undefined;
  let failed: SaWorkerReply | undefined;
  try {
    loader = new SaLoader(data, BigInt(data.now));
  } catch (e) {
    failed = reply(e);
  }
  let text = '';
  port.on('message', (m: SaWorkerMessage) => {
    if ('end' in m) {
      let r = failed;
      if (!r) {
        try {
          r = { ok: true, ...loader!.end() };
        } catch (e) {
          r = reply(e);
        }
      }
      port.postMessage(r);
      return;
    }
    try {
      if (failed) return;
      if ('text' in m) text = m.text;
      else loader!.load(text, m.at);
    } catch (e) {
      failed = reply(e);
    } finally {
      handled(m);
    }
  });
}

if (!lazyWorkerThreads().isMainThread && (lazyWorkerThreads().workerData as { role?: string } | undefined)?.role === 'sa-loader') run();
