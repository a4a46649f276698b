/**
 * A bulk load's records, written into table blocks in a file of their own
 * as they come, instead of held until the commit. Records are most of a
 * load's bytes (SAs and policies as messages: 60 of the 74 MB the table of
 * 100k SAs + 100k policies takes), and each stream of them comes in key
 * order (R/S/<order>, R/P/<order>: orders only grow; the policy index,
 * i/<index>, too). Where the store held
 * nothing under the stream's prefix when the load began, the blocks are
 * already the next table's for that range: the commit copies them in whole
 * (TableWriter.appendBlocks) and merges only the rest. Held in memory they
 * were copied three times (a slab, a block, the file), every slab fresh
 * memory faulted in page by page.
 *
 * The file is a temporary one of the store's (swept by the next writer if
 * this one dies); it is removed at the commit or when the load is given up.
 * It is read back block by block, each checked against its checksum, before
 * it goes into the table: what is committed is what was written.
 */
import { closeSync, readSync, writeSync } from 'node:fs';
import { BulkConflict } from './sorted-layer.js';
import { ioError, StoreError, type StoreDir } from './store-dir.js';
import { crc32, hexDigits, TableWriter, writeHexDigits, writeLatin1, type BlocksState } from './store-format.js';

/** what a block is read back into at the commit (a block is ~64 KiB; a larger one gets its own) */
const COPY_BYTES = 1 << 17;

/**
 * Entries of a stream, in key order, written as table blocks to a file
 * descriptor as they come: a spool's writing half, which a worker thread
 * runs too (the file is the spool's; a bulk load's SAs:
 * src/ingest/sa-worker.ts).
 */
export class SpoolBlocks {
  readonly w: TableWriter;

  constructor(
    fd: number,
    /** the file, as error messages name it */
    show: string,
    /** the prefix every key has (the stream's) */
    readonly prefix: string,
  ) {
    this.w = new TableWriter(
      (b) => {
        try {
          for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off);
        } catch (e) {
          // (a full disk, most likely: said as the store's, as a commit's write is)
          throw ioError(`cannot write ${show}`, e);
        }
      },
      { keeps: false, blocksOnly: true },
    );
  }

  /** a text value's bytes (one scratch: the writer copies what it is given) */
  private text = Buffer.allocUnsafe(256);

  /** the last numbered key's number (putNumbered) */
  private lastNumber = -1;
  /** the numbered key being written: the prefix, then the digits */
  private key: Buffer | undefined;

  /**
   * The next entry, its key the prefix and `n` in `digits` hex digits
   * (records by order, the policy index by index): the key written as
   * bytes, never made a string (a key joined from its pieces, then
   * flattened to be compared and written, was ~0.45 us). Its number must
   * be above the last one's (a number twice, or one out of order, is a
   * conflict the load cannot take, as in sorted-layer.ts).
   */
  putNumbered(n: number, digits: number, value: Uint8Array | string, length = value.length, offset = 0): void {
    if (n <= this.lastNumber) throw new BulkConflict(n === this.lastNumber ? `${this.prefix}${hexDigits(n, digits)} put twice` : `stream ${this.prefix} is not in order`);
    this.lastNumber = n;
    const p = this.prefix.length;
    let k = this.key;
    if (k === undefined || k.length !== p + digits) {
      k = this.key = Buffer.alloc(p + digits);
      writeLatin1(k, 0, this.prefix);
    }
    writeHexDigits(k, p, n, digits);
    // (a value at `offset` of a byte array: entries sent in batches, one after the other)
    if (typeof value !== 'string') return this.w.addRaw(k, 0, k.length, value, offset, length);
    if (value.length > this.text.length) this.text = Buffer.allocUnsafe(value.length * 2);
    this.w.addRaw(k, 0, k.length, this.text, 0, writeLatin1(this.text, 0, value));
  }

  /** The next entry, its key kb[0, kl) (above the last one's: TableWriter refuses one that is not). */
  putKeyed(kb: Uint8Array, kl: number, value: Uint8Array): void {
    this.w.addRaw(kb, 0, kl, value, 0, value.length);
  }
}

export class RecordSpool {
  private readonly blocks: SpoolBlocks;
  private readonly w: TableWriter;
  private fd: number | undefined;
  private closed = false;

  constructor(
    private readonly files: StoreDir,
    private readonly name: string,
    /** the prefix every key has (the stream's) */
    readonly prefix: string,
  ) {
    const fd = files.openWrite(name, 'create-new');
    this.fd = fd;
    this.blocks = new SpoolBlocks(fd, files.show(name), prefix);
    this.w = this.blocks.w;
  }

  /** The file's descriptor, open for writing until close(): where another thread may write its blocks (adopt). */
  get descriptor(): number {
    if (this.fd === undefined) throw new Error('a spool closed');
    return this.fd;
  }

  /** The file as error messages name it. */
  get shown(): string {
    return this.files.show(this.name);
  }

  /** The entries another writer put into this spool's file (SpoolBlocks on its descriptor, blocks ended), taken as if put here; none put here. */
  adopt(state: BlocksState): void {
    this.w.adoptBlocks(state);
  }

  /** RecordSpool's entries (SpoolBlocks.putNumbered). */
  putNumbered(n: number, digits: number, value: Uint8Array | string, length = value.length): void {
    this.blocks.putNumbered(n, digits, value, length);
  }

  /** No more entries: the last block written, the file closed for writing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.w.endBlocks();
    closeSync(this.fd!);
    this.fd = undefined;
  }

  /** The blocks appended to the table `into` is writing (after close). */
  appendTo(into: TableWriter): void {
    if (!this.closed) throw new Error('a spool is appended once closed');
    into.appendBlocks(this.w, (sink) => {
      const fd = this.files.openRead(this.name);
      const damaged = (why: string): never => {
        throw new StoreError('corrupt', `${this.files.show(this.name)} ${why}: the load's records did not read back as written; nothing applied`);
      };
      if (fd === undefined) damaged('is gone');
      try {
        // block by block, each checked against its checksum before it goes into the table (what is committed is what was written)
        let b = Buffer.allocUnsafe(COPY_BYTES);
        for (const { offset, length } of this.w.blockSpans) {
          if (length > b.length) b = Buffer.allocUnsafe(length);
          let n = 0;
          while (n < length) {
            const k = readSync(fd!, b, n, length - n, offset + n);
            if (k === 0) damaged('ends early');
            n += k;
          }
          if (crc32(b.subarray(0, length - 4)) !== b.readUInt32LE(length - 4)) damaged(`has a block whose checksum does not match at byte ${offset}`);
          sink(b.subarray(0, length));
        }
      } finally {
        closeSync(fd!);
      }
    });
  }

  /** The file removed. */
  discard(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.closed = true;
    this.files.remove(this.name);
  }
}
