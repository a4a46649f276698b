/**
 * Output written behind the work that makes it: bytes are gathered into
 * 4 MiB buffers, and each full buffer is written by libuv's thread pool
 * while the main thread goes on filling the next. For --decrypt to a file
 * the write(2) calls were a third of the run (582 of 1748 ms for 200k
 * packets of 1400 B: the page cache copy), time another core can spend.
 *
 * Writes are chained, one after the other, so a pipe or a device gets the
 * bytes in order (no positions needed). At most MAX_QUEUED buffers wait; the
 * producer is told to wait (ready()) beyond that, so memory stays bounded
 * however slow the reader. A write error is kept and thrown at the next
 * ready() or at finish(); a reader gone away ends setkey as SIGPIPE would
 * (141), as writeAllSync does.
 */
import { write as fsWrite } from 'node:fs';

const BUFFER_BYTES = 4 << 20;
const MAX_QUEUED = 2;

function writeOnce(fd: number, b: Uint8Array, off: number): Promise<number> {
  return new Promise((resolve, reject) => fsWrite(fd, b, off, b.length - off, null, (e, n) => (e ? reject(e) : resolve(n))));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function writeAll(fd: number, b: Uint8Array): Promise<void> {
  for (let off = 0; off < b.length; ) {
    try {
      off += await writeOnce(fd, b, off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // a non-blocking pipe that is full: wait for its reader
      if (code === 'EAGAIN') await sleep(2);
      else if (code === 'EPIPE') process.exit(141);
      else throw e;
    }
  }
}

export class WriteBehind {
  private cur: Buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  private used = 0;
  private readonly spare: Buffer[] = [];
  /** the writes not yet done, oldest first */
  private readonly queued: Promise<void>[] = [];
  private tail: Promise<void> = Promise.resolve();
  private error: unknown;

  constructor(private readonly fd: number) {}

  /** Copy b in (the caller may reuse its memory at once). */
  write(b: Uint8Array): void {
    if (this.used + b.length > this.cur.length) this.submit();
    if (b.length > this.cur.length) {
      // larger than a buffer (a pcapng block of many MiB): a copy of its own
      this.enqueue(Buffer.from(b), false);
      return;
    }
    this.cur.set(b, this.used);
    this.used += b.length;
  }

  /** A promise to wait for before writing more, or undefined. Throws a write error seen so far. */
  ready(): Promise<void> | undefined {
    if (this.error !== undefined) throw this.error;
    return this.queued.length > MAX_QUEUED ? this.queued[0] : undefined;
  }

  /** Write what is left and wait for every write; throws the first write error. */
  async finish(): Promise<void> {
    this.submit();
    await this.settle();
    if (this.error !== undefined) throw this.error;
  }

  /** Wait for the writes under way, their errors aside (before closing the file after another failure). */
  async settle(): Promise<void> {
    await this.tail;
  }

  private submit(): void {
    if (this.used === 0) return;
    const full = this.cur;
    this.enqueue(full.subarray(0, this.used), true);
    this.cur = this.spare.pop() ?? Buffer.allocUnsafe(BUFFER_BYTES);
    this.used = 0;
  }

  private enqueue(bytes: Buffer, reuse: boolean): void {
    const p = this.tail.then(async () => {
      // after an error nothing more is written: the output is abandoned
      if (this.error === undefined) await writeAll(this.fd, bytes);
    });
    const done = p.then(
      () => {
        this.queued.shift();
        if (reuse) this.spare.push(Buffer.from(bytes.buffer, bytes.byteOffset, BUFFER_BYTES));
      },
      (e: unknown) => {
        this.queued.shift();
        this.error ??= e;
      },
    );
    this.queued.push(done);
    this.tail = done;
  }
}
