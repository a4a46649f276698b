/**
 * A worker thread that loads a bulk load's SAs (sa-offload.ts starts it):
 * each `add` statement's text, as the check found it clean, read into
 * numbers (scan.ts), checked and made its record (engine/bulk-load.ts
 * saRecordAlone), and written at its order into the SA records' spool, by
 * the spool's open descriptor (engine/spool.ts NumberedBlocks). What the
 * transaction keeps of each, its identity, goes back at the end as numbers.
 *
 * The main thread meanwhile checks the file and loads the policies: the
 * two halves of the work, on two cores.
 *
 *   in:  workerData { role: 'sa-loader', fd, shown, now }
 *        { text }                 the text the statements of the next batches stand in
 *        { at: Float64Array }     start, semi, order of each statement of a batch
 *        { stream, n, ends, bytes }  entries of numbered stream `stream`: number n[k], value bytes[ends[k - 1], ends[k])
 *        { end: true }
 *   out: { ok: true, blocks: BlocksState, ids: Float64Array }  ids: SA type, destination, SPI, order of each, in order
 *        { ok: false, conflict } | { ok: false, store: { code, message } } | { ok: false, bug }
 */
import { recordBytes, saRecordAlone, SA_IDENTITIES, type OffloadSpools, type SaOffloadResult } from '../engine/bulk-load.js';
import { ORDER_DIGITS, recordsPrefix } from '../engine/entries.js';
import { saKeyV4 } from '../engine/records.js';
import { BulkConflict } from '../engine/sorted-layer.js';
import { SpoolBlocks } from '../engine/spool.js';
import { StoreError } from '../engine/store-dir.js';
import { writeLatin1 } from '../engine/store-format.js';
import { putU64Number } from '../engine/u64.js';
import { lazyWorkerThreads } from '../sys/builtin.js';
import { bulkPolicy, bulkSa, scanStatement } from './scan.js';

export type SaWorkerMessage =
  | { readonly text: string }
  | { readonly at: Float64Array }
  | { readonly stream: number; readonly n: Float64Array; readonly ends: Uint32Array; readonly bytes: Uint8Array }
  | { readonly end: true };

export type SaWorkerReply =
  | ({ readonly ok: true } & SaOffloadResult)
  | { readonly ok: false; readonly conflict: string }
  | { readonly ok: false; readonly store: { readonly code: StoreError['code']; readonly message: string } }
  | { readonly ok: false; readonly bug: string };

/** What a failure is told as (a store's failure keeps its code; anything else unexpected is a bug). */
function reply(e: unknown): SaWorkerReply {
  if (e instanceof BulkConflict) return { ok: false, conflict: e.message };
  if (e instanceof StoreError) return { ok: false, store: { code: e.code, message: e.message } };
  return { ok: false, bug: e instanceof Error ? (e.stack ?? e.message) : String(e) };
}

/** The SAs of the batches given, loaded (a class for its tests: run() is the thread's). */
export class SaLoader {
  private readonly records: SpoolBlocks;
  private readonly identities: SpoolBlocks;
  private readonly numbered: { readonly blocks: SpoolBlocks; readonly digits: number }[];
  private readonly sa = bulkSa();
  private readonly p = bulkPolicy();
  /** each SA's identity as numbers: SA type, destination, SPI, order (records.ts saKeyV4 makes its key of the first three) */
  private ids = new Float64Array(4 * 4096);
  private n = 0;
  /** SAs by SA type */
  private readonly counts = new Map<number, number>();

  constructor(
    spools: OffloadSpools,
    private readonly now: bigint,
  ) {
    this.records = new SpoolBlocks(spools.records.fd, spools.records.shown, recordsPrefix('S'));
    this.identities = new SpoolBlocks(spools.identities.fd, spools.identities.shown, SA_IDENTITIES);
    this.numbered = spools.numbered.map((x) => ({ blocks: new SpoolBlocks(x.file.fd, x.file.shown, x.prefix), digits: x.digits }));
  }

  /** Entries of numbered stream `stream`: n[k], its value bytes[ends[k - 1], ends[k]). */
  put(stream: number, n: Float64Array, ends: Uint32Array, bytes: Uint8Array): void {
    const { blocks, digits } = this.numbered[stream]!;
    let at = 0;
    for (let k = 0; k < n.length; k++) {
      blocks.putNumbered(n[k]!, digits, bytes, ends[k]! - at, at);
      at = ends[k]!;
    }
  }

  /** The statements text[start, semi] to be stored at their orders: (start, semi, order) triples. */
  load(text: string, at: Float64Array): void {
    const sa = this.sa;
    for (let k = 0; k < at.length; k += 3) {
      if (scanStatement('checked', text, at[k]!, at[k + 1]!, sa, this.p) !== 'sa') throw new BulkConflict('a statement the bulk load does not read');
      const order = at[k + 2]!;
      this.records.putNumbered(order, ORDER_DIGITS, recordBytes(), saRecordAlone(sa, order, this.now));
      // (the store held no SA: whether one has this identity is the sort's to find, among these)
      if (this.n === this.ids.length) {
        const more = new Float64Array(this.ids.length * 2);
        more.set(this.ids);
        this.ids = more;
      }
      const ids = this.ids;
      ids[this.n] = sa.satype;
      ids[this.n + 1] = sa.dst;
      ids[this.n + 2] = sa.spi;
      ids[this.n + 3] = order;
      this.n += 4;
      this.counts.set(sa.satype, (this.counts.get(sa.satype) ?? 0) + 1);
    }
  }

  /** Everything loaded: the records' blocks ended, the identities sorted and written (one twice: BulkConflict, as the transaction's sort finds it). */
  end(): SaOffloadResult {
    const ids = this.ids;
    const idx = identityOrder(ids, this.n / 4);
    const key = Buffer.allocUnsafe(64);
    const order = new Uint8Array(8);
    let last = '';
    for (let j = 0; j < idx.length; j++) {
      const i = 4 * idx[j]!;
      const k = saKeyV4(ids[i]!, ids[i + 1]!, ids[i + 2]!);
      if (k <= last) throw new BulkConflict(k === last ? `${k} put twice` : 'SA identities out of order');
      last = k;
      putU64Number(order, 0, ids[i + 3]!);
      this.identities.putKeyed(key, writeLatin1(key, 0, k), order);
    }
    return { records: this.records.w.blocksState(), identities: this.identities.w.blocksState(), counts: [...this.counts].flat(), numbered: this.numbered.map((x) => x.blocks.w.blocksState()) };
  }
}

/**
 * The order of `n` SA identities (SA type, destination, SPI, order: ids[4i..]) by key: SA type, then
 * destination, then SPI, as numbers, by a radix sort 16 bits at a time (5 passes; a sort of the keys'
 * strings by a comparator was ~40 ms of 100k). The same order as the keys' (saKeyV4: the SA type in
 * decimal, one digit for ESP and AH, the only ones a load takes; the rest in 8 hex digits each); end()
 * checks it as it writes them.
 */
function identityOrder(ids: Float64Array, n: number): Uint32Array {
  let idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  let tmp = new Uint32Array(n);
  const count = new Uint32Array(65537);
  // least significant first: SPI low, SPI high, destination low, destination high, SA type
  const digit: ((i: number) => number)[] = [(i) => ids[4 * i + 2]! & 0xffff, (i) => ids[4 * i + 2]! >>> 16, (i) => ids[4 * i + 1]! & 0xffff, (i) => ids[4 * i + 1]! >>> 16, (i) => ids[4 * i]! & 0xffff];
  for (const d of digit) {
    count.fill(0);
    for (let j = 0; j < n; j++) count[d(idx[j]!) + 1]!++;
    for (let v = 1; v <= 65536; v++) count[v]! += count[v - 1]!;
    for (let j = 0; j < n; j++) tmp[count[d(idx[j]!)]!++] = idx[j]!;
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
  const handled = (): void => {
    Atomics.add(data.handled, 0, 1);
    Atomics.notify(data.handled, 0);
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
      else if ('at' in m) loader!.load(text, m.at);
      else loader!.put(m.stream, m.n, m.ends, m.bytes);
    } catch (e) {
      failed = reply(e);
    } finally {
      handled();
    }
  });
}

if (!lazyWorkerThreads().isMainThread && (lazyWorkerThreads().workerData as { role?: string } | undefined)?.role === 'sa-loader') run();
