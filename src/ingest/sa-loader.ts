/**
 * A bulk load's SAs loaded from their statements' text (ingest/sa-worker.ts
 * runs one in a worker thread; the main thread runs one on the batches it
 * takes back at the end: sa-offload.ts): each `add` statement's text, as
 * the check found it clean (or, handed over unchecked, as the quick check
 * here finds it), read into numbers (scan.ts), checked and made its record
 * (engine/bulk-load.ts saRecordAlone), and written at its order into the SA
 * records' spool, by the spool's open descriptor (engine/spool.ts
 * SpoolBlocks). At the end the SAs' identities are sorted and written into
 * a spool of their own. A module without side effects: the main bundle
 * imports it.
 */
import { recordBytes, saRecordAlone, SA_IDENTITIES, type OffloadSpools, type SaOffloadResult } from '../engine/bulk-load.js';
import { ORDER_DIGITS, recordsPrefix } from '../engine/entries.js';
import { saKeyV4, writeSaKeyV4 } from '../engine/records.js';
import { BulkConflict } from '../engine/sorted-layer.js';
import { placeIn, SpoolBlocks, SyncsAhead, writeAt, type PlacedFile } from '../engine/spool.js';
import { TableWriter, type BlocksState } from '../engine/store-format.js';
import { putU64Number } from '../engine/u64.js';
import { QuickSaCheck } from '../syntax/quick.js';
import { radixOrder, type Digit } from './radix-order.js';
import { bulkPolicy, bulkSa, scanStatement } from './scan.js';
import { readSaBytes } from './scan-bytes.js';

let QUICK: QuickSaCheck | undefined;

/** bytes[s, e) as text, a char a byte. */
function latin1Of(bytes: Uint8Array, s: number, e: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + s, e - s).toString('latin1');
}

/** SA identities (SA type, destination, SPI, order) gathered from loaders (taken()), for another's end: in one array, which grows. */
export class TakenIds {
  private a = new Float64Array(4 * 4096);
  private n = 0;

  push(satype: number, dst: number, spi: number, order: number): void {
    if (this.n === this.a.length) {
      const more = new Float64Array(this.a.length * 2);
      more.set(this.a);
      this.a = more;
    }
    const a = this.a;
    a[this.n] = satype;
    a[this.n + 1] = dst;
    a[this.n + 2] = spi;
    a[this.n + 3] = order;
    this.n += 4;
  }

  /** The identities pushed, in the order given (a copy of its own: it may be transferred). */
  all(): Float64Array {
    return this.a.slice(0, this.n);
  }
}

/** SAs sorted ahead at least (fewer sort quickly at the end) */
const IDLE_SORT_MIN = 4096;
/** ms idle, nothing more come, before the identities' blocks are made ahead of the end (SaLoader.settled) */
export const SETTLE_MS = 10;
/** SAs whose identities' blocks may be made ahead, in memory (~40 bytes each: 16 MB) */
const SETTLE_MAX = 400000;

/** The SAs of the batches given, loaded (a class for its tests: run() is the thread's). */
export class SaLoader {
  private readonly records: SpoolBlocks;
  private readonly sa = bulkSa();
  /** (one for every loader of the thread: the main thread makes one for each batch it takes back) */
  private readonly quick = (QUICK ??= new QuickSaCheck());
  private readonly p = bulkPolicy();
  /**
   * each SA's identity as u32s: SA type, destination, SPI, and its order
   * less the first SA's (records.ts saKeyV4 makes its key of the first
   * three): 16 bytes an SA, a load of 1M holds 16 MB
   */
  private ids: Uint32Array;
  private n = 0;
  private firstOrder = -1;
  /** SAs by SA type */
  private readonly counts = new Map<number, number>();

  /** the load's file (every spool's) */
  private readonly file: PlacedFile;

  /** `sas`: about how many SAs it will load (room for their identities made at once: a loader of one batch, taken()). */
  constructor(
    spools: OffloadSpools,
    private readonly now: bigint,
    sas = 4096,
  ) {
    this.file = spools.file;
    this.syncs = new SyncsAhead(spools.file);
    this.records = new SpoolBlocks(spools.file, recordsPrefix('S'));
    this.ids = new Uint32Array(4 * Math.max(1, sas));
  }

  /** Where the identities are written at the end (made then: a loader whose SAs another's end writes has none). */
  private get identities(): SpoolBlocks {
    return (this.identitiesSpool ??= new SpoolBlocks(this.file, SA_IDENTITIES));
  }

  private identitiesSpool: SpoolBlocks | undefined;

  /**
   * The statements text[start, semi] to be stored at their orders: (start,
   * semi, order) triples. `text` may be its bytes (a char a byte): each
   * statement is then read from them, where scan-bytes.ts reads it (its
   * check too), else from its text.
   */
  load(text: string | Uint8Array, at: Float64Array): void {
    const sa = this.sa;
    for (let k = 0; k < at.length; k += 3) {
      const start = at[k]!;
      const semi = at[k + 1]!;
      // (a negative order: the main thread did not check it, the quick check is run here: syntax/parser.ts deferAdds)
      const order = Math.abs(at[k + 2]!);
      const read = typeof text === 'string' ? this.scan(text, start, semi, at[k + 2]! < 0) : readSaBytes(text, start, semi, sa) || this.scan(latin1Of(text, start, semi + 1), 0, semi - start, at[k + 2]! < 0);
      if (!read) throw new BulkConflict('a statement the bulk load does not read');
      this.records.putNumbered(order, ORDER_DIGITS, recordBytes(), saRecordAlone(sa, order, this.now));
      // (the store held no SA: whether one has this identity is the sort's to find, among these)
      this.identity(sa.satype, sa.dst, sa.spi, order);
      this.counts.set(sa.satype, (this.counts.get(sa.satype) ?? 0) + 1);
    }
  }

  /** The statement text[start, semi] read into this.sa by scan.ts (the quick check first, if `unchecked`): whether it is an SA it reads. */
  private scan(text: string, start: number, semi: number, unchecked: boolean): boolean {
    return scanStatement(unchecked ? this.quick : 'checked', text, start, semi, this.sa, this.p) === 'sa';
  }

  /** An SA's identity kept for the end's sort. */
  private identity(satype: number, dst: number, spi: number, order: number): void {
    if (this.n === this.ids.length) {
      const more = new Uint32Array(this.ids.length * 2);
      more.set(this.ids);
      this.ids = more;
    }
    if (this.firstOrder < 0) this.firstOrder = order;
    // (orders grow by one a statement: 2^32 of them past the first would be a file of ~600 GB)
    if (order - this.firstOrder >= 2 ** 32) throw new BulkConflict('orders beyond 2^32 in one load');
    // (another loader's SAs come after this one's)
    if (order < this.firstOrder) throw new BulkConflict('SAs of two loaders out of order');
    const ids = this.ids;
    ids[this.n] = satype;
    ids[this.n + 1] = dst;
    ids[this.n + 2] = spi;
    ids[this.n + 3] = order - this.firstOrder;
    this.n += 4;
  }

  /**
   * What this loader loaded, for another's end (the main thread's, of the
   * batches it took back): the blocks of its records, and each SA's
   * identity (SA type, destination, SPI, order), its SAs by SA type (pairs).
   */
  taken(ids: TakenIds): { readonly records: BlocksState; readonly counts: readonly number[] } {
    for (let i = 0; i < this.n; i += 4) ids.push(this.ids[i]!, this.ids[i + 1]!, this.ids[i + 2]!, this.firstOrder + this.ids[i + 3]!);
    return { records: this.records.w.blocksState(), counts: [...this.counts].flat() };
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
    // (only when idle: synced after each batch too, a load of 100k SAs and 100k policies waited 110-140 ms
    // for the commit's fsync instead of 30-50, each sync a commit of the file system's journal)
    this.syncs.begin();
  }

  /** this thread's syncs of the file ahead of the commit's */
  private readonly syncs: SyncsAhead;

  /** the order of the first sorted.length identities, sorted when idle */
  private sorted: Uint32Array | undefined;

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
    this.writeIdentities(this.sorted, w);
    // (the last block ended, and placed, first)
    const state = w.blocksState();
    this.ahead = { n, parts, bytes, state };
  }

  /** the identities' blocks made ahead (settled) for the first n SAs: in parts, from 0, `bytes` in all */
  private ahead: { readonly n: number; readonly parts: readonly { readonly b: Buffer; readonly at: number }[]; readonly bytes: number; readonly state: BlocksState } | undefined;

  /**
   * The identities of idx's order (sorted) written by `w`, each key in
   * place in its block (TableWriter.keyRoom: made in a scratch, compared and
   * copied, 100k were ~40 ms more of the end); one twice: BulkConflict, as
   * the transaction's sort finds it.
   */
  private writeIdentities(idx: Uint32Array, w: TableWriter): void {
    const ids = this.ids;
    const order = new Uint8Array(8);
    for (let j = 0; j < idx.length; j++) {
      const i = 4 * idx[j]!;
      if (j > 0) {
        const h = 4 * idx[j - 1]!;
        if (ids[h] === ids[i] && ids[h + 1] === ids[i + 1] && ids[h + 2] === ids[i + 2]) throw new BulkConflict(`${saKeyV4(ids[i]!, ids[i + 1]!, ids[i + 2]!)} put twice`);
      }
      // (the SA type in one digit: ESP and AH, the only ones a load takes; the keys' order is the numbers' only then)
      if (ids[i]! > 9) throw new BulkConflict(`SA type ${ids[i]} in a load`);
      putU64Number(order, 0, this.firstOrder + ids[i + 3]!);
      const at = w.keyRoom(SA_KEY_LENGTH, 8);
      w.addWritten(at, writeSaKeyV4(w.buffer, at, ids[i]!, ids[i + 1]!, ids[i + 2]!), order, 0, 8);
    }
  }

  /**
   * Everything loaded: the records' blocks ended, the identities sorted and
   * written (one twice: BulkConflict), with those of the SAs another loader
   * loaded after these (`more`: taken()'s ids; their records and counts are
   * that loader's to tell).
   */
  end(more?: Float64Array): Omit<SaOffloadResult, 'policies'> {
    const records = this.records.w.blocksState();
    const counts = [...this.counts].flat();
    if (more) {
      // (none loaded here: the orders count from the least of those)
      if (this.firstOrder < 0) for (let i = 3; i < more.length; i += 4) if (this.firstOrder < 0 || more[i]! < this.firstOrder) this.firstOrder = more[i]!;
      for (let i = 0; i < more.length; i += 4) this.identity(more[i]!, more[i + 1]!, more[i + 2]!, more[i + 3]!);
    }
    const n = this.n / 4;
    const ahead = this.ahead;
    if (ahead?.n === n && n > 0) {
      // the blocks made ahead, placed at once: each index entry where its block now lies
      const base = placeIn(this.file, ahead.bytes);
      for (const p of ahead.parts) writeAt(this.file, p.b, base + p.at);
      return { records, identities: { ...ahead.state, index: ahead.state.index.map((e) => ({ ...e, offset: base + e.offset })) }, counts };
    }
    this.writeIdentities(this.sorted?.length === n ? this.sorted : identityOrder(this.ids, n), this.identities.w);
    return { records, identities: this.identities.w.blocksState(), counts };
  }
}

/**
 * identityOrder run ahead on a few made-up identities, so that V8 has
 * compiled it by the end (a worker's first thing, while it waits for its
 * first batch). Run once, at the end, on 100k SAs, it took 60-90 ms, as V8
 * first ran it, then compiled it; compiled, ~10.
 */
export function warmUpSort(): void {
  const ids = new Uint32Array(4 * WARM_SAS);
  for (let i = 0; i < WARM_SAS; i++) {
    ids[4 * i] = 50 + (i & 1);
    ids[4 * i + 1] = (i * 2654435761) >>> 0;
    ids[4 * i + 2] = (i * 40503) >>> 0;
  }
  for (let k = 0; k < 3; k++) identityOrder(ids, WARM_SAS);
}

/** SAs warmUpSort makes up */
const WARM_SAS = 8192;

/** records.ts saKeyV4's key's length, `s/<satype>/4:<dst>/<spi>`, of a one-digit SA type */
const SA_KEY_LENGTH = 23;

/**
 * The order of `n` SA identities (SA type, destination, SPI: ids[4i..]) by
 * key: SA type, then destination, then SPI, as numbers (5 passes at most).
 * The same order as the keys' (writeSaKeyV4: the SA type in one decimal
 * digit, the rest in 8 hex digits each).
 */
function identityOrder(ids: Uint32Array, n: number): Uint32Array {
  return radixOrder(ids, 4, n, SA_DIGITS);
}

/** least significant first: SPI low and high, destination low and high, SA type */
const SA_DIGITS: readonly Digit[] = [
  [2, 0],
  [2, 16],
  [1, 0],
  [1, 16],
  [0, 0],
];
