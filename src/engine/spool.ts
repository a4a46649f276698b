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
import { crc32, hexDigits, TableWriter, writeHexDigits, writeLatin1 } from './store-format.js';

/** what a block is read back into at the commit (a block is ~64 KiB; a larger one gets its own) */
const COPY_BYTES = 1 << 17;

export class RecordSpool {
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
    this.w = new TableWriter(
      (b) => {
        try {
          for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off);
        } catch (e) {
          // (a full disk, most likely: said as the store's, as a commit's write is)
          throw ioError(`cannot write ${files.show(name)}`, e);
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
   * The next entry of a stream whose keys are its prefix and a number in
   * `digits` hex digits (records by order, the policy index by index): the
   * key written as bytes, never made a string (a key joined from its
   * pieces, then flattened to be compared and written, was ~0.45 us).
   * Its number must be above the last one's (a number twice, or one out of
   * order, is a conflict the load cannot take, as in sorted-layer.ts).
   */
  putNumbered(n: number, digits: number, value: Uint8Array | string, length = value.length): void {
    if (n <= this.lastNumber) throw new BulkConflict(n === this.lastNumber ? `${this.prefix}${hexDigits(n, digits)} put twice` : `stream ${this.prefix} is not in order`);
    this.lastNumber = n;
    const p = this.prefix.length;
    let k = this.key;
    if (k === undefined || k.length !== p + digits) {
      k = this.key = Buffer.alloc(p + digits);
      writeLatin1(k, 0, this.prefix);
    }
    writeHexDigits(k, p, n, digits);
    if (typeof value !== 'string') return this.w.addRaw(k, 0, k.length, value, 0, length);
    if (value.length > this.text.length) this.text = Buffer.allocUnsafe(value.length * 2);
    this.w.addRaw(k, 0, k.length, this.text, 0, writeLatin1(this.text, 0, value));
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
