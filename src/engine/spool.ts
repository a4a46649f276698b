/**
 * A bulk load's records, written into table blocks as they come, instead of
 * held until the commit. Records are most of a load's bytes (SAs and
 * policies as messages: 60 of the 74 MB the table of 100k SAs + 100k
 * policies takes), and each stream of them comes in key order
 * (R/S/<order>, R/P/<order>: orders only grow; the policy index,
 * i/<index>, too). Where the store held nothing under the stream's prefix
 * when the load began, its blocks are already the next table's for that
 * range. Held in memory they were copied three times (a slab, a block, the
 * file), every slab fresh memory faulted in page by page.
 *
 * Every spool of a load writes its blocks into one file, the LoadFile, each
 * where it is placed (the file's end, taken atomically: a worker thread
 * writes spools too), so that the blocks of the streams lie interleaved.
 * That file becomes the next table (store-format.ts: a table whose blocks
 * are placed in any order): the commit adds the other entries' blocks, the
 * index and the footer after them, and renames it. Copied into a new file
 * block by block and read back, the spools were ~80 ms of a load of 100k +
 * 100k.
 *
 * The file is a temporary one of the store's (swept by the next writer if
 * this one dies); it is removed when the load is given up.
 */
import { closeSync, fdatasync, writeSync } from 'node:fs';
import { BulkConflict } from './sorted-layer.js';
import { ioError, type StoreDir } from './store-dir.js';
import { hexDigits, TableWriter, TABLE_MAGIC_PLACED, writeLatin1, type BlocksState } from './store-format.js';

/**
 * A file blocks are placed in, by any thread that has it: its descriptor,
 * open for writing, its name as errors say it, and its end (bytes placed
 * so far, shared: Atomics).
 */
export interface PlacedFile {
  readonly fd: number;
  readonly shown: string;
  readonly end: BigInt64Array;
  /**
   * A second descriptor of the file (read only), for syncs ahead of the
   * commit's: Linux (4.13 on) tells a writeback error to each open file
   * description on its next sync, so one such sync, whenever it ends and
   * whatever it saw, leaves the commit's fsync on `fd` to find the error.
   */
  readonly syncFd?: number;
}

/** Room for `length` bytes at the end of `file`: where they go. */
export function placeIn(file: PlacedFile, length: number): number {
  return Number(Atomics.add(file.end, 0, BigInt(length)));
}

/** b written whole at `at` of the file (a full disk, most likely, said as the store's, as a commit's write is). */
export function writeAt(file: PlacedFile, b: Uint8Array, at: number): void {
  try {
    for (let off = 0; off < b.length; ) off += writeSync(file.fd, b, off, b.length - off, at + off);
  } catch (e) {
    throw ioError(`cannot write ${file.shown}`, e);
  }
}

/** A table writer whose blocks (or, not `blocksOnly`, index and footer too) are placed in `file`, written straight there. */
export function placedWriter(file: PlacedFile, blocksOnly: boolean): TableWriter {
  return new TableWriter((b, at) => writeAt(file, b, at), { keeps: false, blocksOnly, place: (length) => placeIn(file, length) });
}

/** bytes placed between the syncs begun ahead of the commit's (SyncsAhead) */
const SYNC_AHEAD_BYTES = 16 << 20;

/**
 * Syncs of a placed file ahead of the commit's, begun by one thread (each
 * thread that writes the load's file has its own): what is placed so far
 * synced on libuv's threads, on the second descriptor (PlacedFile.syncFd),
 * once it is `min` bytes more than at the last one, one at a time. The
 * commit's fsync, which the commit waits for, has that much less to write
 * (a load of 100k policies: ~80 ms of it). Never waited for; what one
 * finds is the commit's fsync's to find again.
 */
export class SyncsAhead {
  /** bytes placed when the last sync began, and whether one is under way */
  private synced = 0;
  private syncing = false;

  constructor(private readonly file: PlacedFile) {}

  begin(min = SYNC_AHEAD_BYTES): void {
    const placed = Number(Atomics.load(this.file.end, 0));
    const fd = this.file.syncFd;
    if (fd === undefined || this.syncing || placed - this.synced < min) return;
    this.syncing = true;
    this.synced = placed;
    fdatasync(fd, () => (this.syncing = false));
  }
}

/**
 * The next table's file, as a bulk load writes it: its spools' blocks
 * placed in it (SpoolBlocks), then the commit's (Store.writeGeneration).
 * Made with the magic of a table whose blocks are placed in any order.
 */
export class LoadFile implements PlacedFile {
  readonly fd: number;
  readonly syncFd: number | undefined;
  readonly end = new BigInt64Array(new SharedArrayBuffer(8));
  private open = true;

  constructor(
    private readonly files: StoreDir,
    readonly name: string,
  ) {
    this.fd = files.openWrite(name, 'create-new');
    try {
      this.syncFd = files.openRead(name);
      this.end[0] = BigInt(TABLE_MAGIC_PLACED.length);
      writeAt(this, TABLE_MAGIC_PLACED, 0);
    } catch (e) {
      this.discard();
      throw e;
    }
  }

  get shown(): string {
    return this.files.show(this.name);
  }

  private readonly syncs = new SyncsAhead(this);

  /** The main thread's syncs ahead (SyncsAhead: `min` bytes more placed than at the last); none once closed. */
  syncAhead(min?: number): void {
    if (this.open) this.syncs.begin(min);
  }

  /** What another thread is given to place blocks in it (plain data: a worker's copy of it). */
  shared(): PlacedFile {
    return { fd: this.fd, shown: this.shown, end: this.end, ...(this.syncFd === undefined ? {} : { syncFd: this.syncFd }) };
  }

  /** Closed and named `name` (the table it now is: written whole and synced by the caller). */
  commitAs(name: string): void {
    this.closeFd();
    this.files.rename(this.name, name);
  }

  /** Closed and removed (a load given up, a commit that failed); again: nothing. */
  discard(): void {
    if (!this.open) return;
    this.closeFd();
    this.files.remove(this.name);
  }

  private closeFd(): void {
    if (!this.open) return;
    this.open = false;
    closeSync(this.fd);
    // (a worker's sync of it may be under way still: one not begun finds it closed, or a file of the store's opened since, and syncs that: nothing else)
    if (this.syncFd !== undefined) closeSync(this.syncFd);
  }
}

/**
 * Entries of a stream, in key order, written as table blocks placed in a
 * file as they come: a spool's writing half, which a worker thread runs
 * too (the file is the load's; a bulk load's SAs: src/ingest/sa-loader.ts).
 */
export class SpoolBlocks {
  readonly w: TableWriter;

  constructor(
    file: PlacedFile,
    /** the prefix every key has (the stream's) */
    readonly prefix: string,
  ) {
    this.w = placedWriter(file, true);
  }

  /** a text value's bytes (one scratch: the writer copies what it is given) */
  private text = Buffer.allocUnsafe(256);

  /** the last numbered key's number (putNumbered) */
  private lastNumber = -1;
  /** the prefix's bytes (putNumbered) */
  private prefixBytes: Uint8Array | undefined;

  /**
   * The next entry, its key the prefix and `n` in `digits` hex digits
   * (records by order, the policy index by index): the key written as
   * bytes, in place in the block (TableWriter.addNumbered), never made a
   * string (a key joined from its pieces, then flattened to be compared and
   * written, was ~0.45 us). Its number must be above the last one's (a
   * number twice, or one out of order, is a conflict the load cannot take,
   * as in sorted-layer.ts).
   */
  putNumbered(n: number, digits: number, value: Uint8Array | string, length = value.length, offset = 0): void {
    if (n <= this.lastNumber) throw new BulkConflict(n === this.lastNumber ? `${this.prefix}${hexDigits(n, digits)} put twice` : `stream ${this.prefix} is not in order`);
    this.lastNumber = n;
    const prefix = (this.prefixBytes ??= Buffer.from(this.prefix, 'latin1'));
    // (a value at `offset` of a byte array: entries sent in batches, one after the other)
    if (typeof value !== 'string') return this.w.addNumbered(prefix, n, digits, value, offset, length);
    if (value.length > this.text.length) this.text = Buffer.allocUnsafe(value.length * 2);
    this.w.addNumbered(prefix, n, digits, this.text, 0, writeLatin1(this.text, 0, value));
  }

  /** The next entry, its key kb[0, kl) (above the last one's: TableWriter refuses one that is not). */
  putKeyed(kb: Uint8Array, kl: number, value: Uint8Array): void {
    this.w.addRaw(kb, 0, kl, value, 0, value.length);
  }
}

export class RecordSpool {
  private readonly blocks: SpoolBlocks;
  private readonly w: TableWriter;
  private closed = false;

  constructor(
    /** the load's file, shared by its spools */
    readonly file: LoadFile,
    /** the prefix every key has (the stream's) */
    readonly prefix: string,
  ) {
    this.blocks = new SpoolBlocks(file, prefix);
    this.w = this.blocks.w;
  }

  /** The entries another writer put into this spool (SpoolBlocks on its file, blocks ended), taken as if put here; none put here. */
  adopt(state: BlocksState): void {
    this.w.adoptBlocks(state);
  }

  /** RecordSpool's entries (SpoolBlocks.putNumbered). */
  putNumbered(n: number, digits: number, value: Uint8Array | string, length = value.length): void {
    this.blocks.putNumbered(n, digits, value, length);
  }

  /** No more entries: the last block written. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.w.endBlocks();
  }

  /** Its blocks linked into the table `into` is writing in the load's file (after close). */
  linkTo(into: TableWriter): void {
    if (!this.closed) throw new Error('a spool is linked once closed');
    into.linkBlocks(this.w);
  }

  /** Given up: the load's file removed (with every spool's blocks). */
  discard(): void {
    this.closed = true;
    this.file.discard();
  }
}
