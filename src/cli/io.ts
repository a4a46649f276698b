/**
 * The outside world of the CLI, injected so that tests run main() in-process
 * with captured output, a fixed pid and a fixed clock.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync, type BigIntStats } from 'node:fs';
import { collectPrinted, containPrinting, lazyTty } from '../sys/builtin.js';
import type { TzOffset } from '../format/ctime.js';
import type { SystemDb } from '../syntax/sysdb.js';
import type { Lookup } from '../syntax/resolve.js';
import type { ProgressTerminal } from './progress.js';
import { dnsLookup, systemDb } from './system.js';

/** A file opened for reading in chunks. */
export interface InputFile {
  /** its length, if it is a regular file (known before reading: a file too large is refused unread) */
  readonly size: number | undefined;
  /**
   * a regular file's identity when it was opened (device, inode, size, times
   * of change): a file read twice is known to be the one read the first time
   */
  readonly identity?: string;
  /** whether it was written to while it was open (its identity when closed is another) */
  changedWhileOpen?(): boolean;
  /**
   * its bytes, a chunk at a time; the file is closed when they end or the loop
   * is left. `reuse`: every chunk is read into the same buffer, valid only
   * until the next is asked for (a reader that copies what it keeps)
   */
  chunks(reuse?: boolean): AsyncGenerator<Uint8Array>;
  /** close it without reading */
  close(): void;
}

/** The size of one read: memory stays bounded whatever the input (a FIFO, /dev/zero, a 1.5 GB file). */
export const INPUT_CHUNK = 1 << 18;

/**
 * The most setkey reads from one input: 500 MiB (524,288,000 bytes). A
 * script is held as one string for its second pass, and V8's longest string
 * is 2^29 - 24 characters (536,870,888); a million SAs and a million
 * policies take about 300 MB.
 */
export const MAX_INPUT = 500 * (1 << 20);

/** Thrown by a read that would pass MAX_INPUT. */
export class InputTooLarge extends Error {
  constructor() {
    super(`larger than 500 MiB (${MAX_INPUT} bytes), the most setkey reads from one input`);
  }
}

export interface Io {
  stdout(s: string): void;
  /**
   * bytes for stdout, in order with stdout(): written (or copied) before it
   * returns, so the caller may reuse them. Without it, printers that make
   * bytes hand them to stdout() as latin1 text.
   */
  stdoutBytes?(b: Uint8Array): void;
  stderr(s: string): void;
  /** a whole file (tests' in-memory files); setkey itself reads through `open` when there is one */
  readFile(path: string): Promise<Uint8Array>;
  /** open a file to read in chunks */
  open?(path: string): InputFile;
  /** standard input as a stream of chunks */
  stdin(): AsyncIterable<Uint8Array | string>;
  env: Readonly<Record<string, string | undefined>>;
  pid: number;
  /** seconds since the epoch */
  now(): number;
  /** the local time zone (default: the process's TZ) */
  tz?: TzOffset;
  sys: SystemDb;
  lookup: Lookup;
  /** aborts on SIGINT/SIGTERM: ends -x and -l loops */
  signal?: AbortSignal;
  /** the embedded engine's clock, microseconds since the epoch (default: the system's) */
  clock?: () => bigint;
  /** waits between -l rounds (tests make it instant) */
  sleep?: (ms: number) => Promise<void>;
  /** whether the kernel's key tables are reachable (backend auto-selection; tests pin it) */
  kernelReach?: () => { reachable: boolean; why: string };
  /** write out buffered output now (a monitor shows each message as it comes) */
  flush?(): void;
  /** stderr, if it is a terminal that can show a progress line */
  progress?: ProgressTerminal;
}

/** Output past this much is a long dump: see containPrinting. */
const LARGE_OUTPUT = 1 << 20;

/**
 * Buffered output: many small writes become few large ones (a 100k-entry dump).
 * Text is latin1 throughout (input files are read as latin1), so it goes out
 * byte for byte as it came in, as the C tool's printf would write it.
 */
class OutBuffer {
  // encoded as written, into one reused buffer: a string dies as soon as it is printed, so a long dump
  // leaves the young generation nothing to keep (kept strings, joined at each flush, were promoted and
  // piled up: a 1M-entry dump peaked at 126 MB against 74 MB for 10k); made on the first write, not at
  // start-up (most runs print a few lines)
  private out: Buffer = Buffer.alloc(0);
  private used = 0;
  constructor(
    private readonly fd: number,
    private readonly before?: () => void,
  ) {}
  /** bytes written so far: past LARGE_OUTPUT, a long dump (src/sys/builtin.ts containPrinting) */
  private total = 0;
  write(s: string): void {
    if (this.used + s.length > this.out.length) {
      this.flush();
      if (s.length > this.out.length) this.out = Buffer.allocUnsafe(Math.max(s.length, 1 << 16));
    }
    this.used += this.out.write(s, this.used, 'latin1');
  }
  /** Bytes made by a printer (JSON) go out as they are, after the text before them: no encoding. */
  writeBytes(b: Uint8Array): void {
    this.flush();
    this.before?.();
    this.sent(b.length);
    writeAllSync(this.fd, b);
  }
  flush(): void {
    if (this.used === 0) return;
    this.before?.();
    const n = this.used;
    this.used = 0;
    this.sent(n);
    writeAllSync(this.fd, this.out.subarray(0, n));
  }
  private sent(n: number): void {
    // a long dump's heap looked at every LARGE_OUTPUT bytes, not at every write: reading V8's heap statistics
    // made an array of objects each time (in the emulated test VM, 60 ms of -D of 100k SAs over XFRM)
    if ((this.total += n) > LARGE_OUTPUT && this.total >= this.nextLook) {
      this.nextLook = this.total + LARGE_OUTPUT;
      containPrinting();
      collectPrinted();
    }
  }
  private nextLook = 0;
}

/** A terminal is a character device: the cheap test first, tty (2 ms to load) only for one (src/sys/builtin.ts). */
export function isatty(fd: number): boolean {
  try {
    if (!fstatSync(fd).isCharacterDevice()) return false;
  } catch {
    return false;
  }
  return lazyTty().isatty(fd);
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Where a printer's bytes go: the Io's own way for bytes where it has one
 * (stdout as it is), else its text as latin1 (an Io of tests). The bytes are
 * not kept: a printer may write over them once this returns.
 */
export function bytesSink(out: (s: string) => void, outBytes?: (b: Uint8Array) => void): (b: Uint8Array) => void {
  return outBytes ?? ((b) => out(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1')));
}

/**
 * Written before going on: a reader slower than setkey (a pipe to a pager)
 * holds it back instead of letting a dump pile up in memory, as Node's own
 * stream does with a pipe. A reader that went away ends setkey quietly (141,
 * as SIGPIPE would).
 */
export function writeAllSync(fd: number, b: Uint8Array): void {
  for (let off = 0; off < b.length; ) {
    try {
      off += writeSync(fd, b, off, b.length - off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        // a non-blocking pipe that is full: wait for the reader
        Atomics.wait(pause, 0, 0, 2);
        continue;
      }
      if (code === 'EPIPE') process.exit(141);
      throw e;
    }
  }
}

export function processIo(): Io & { flush(): void } {
  const progress = progressTerminal();
  const erase = (): void => progress?.active?.erase();
  const out = new OutBuffer(1, progress?.stdoutIsTerminal ? erase : undefined);
  const err = new OutBuffer(2, erase);
  let stop: AbortController | undefined;
  return {
    // -x and -l run until interrupted: they ask for this, and end cleanly with their output written;
    // other modes keep the default (an interrupted apply leaves the store as it was)
    get signal(): AbortSignal {
      if (!stop) {
        const c = new AbortController();
        for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => c.abort());
        stop = c;
      }
      return stop.signal;
    },
    stdout: (s) => out.write(s),
    stdoutBytes: (b) => out.writeBytes(b),
    stderr: (s) => {
      out.flush();
      err.write(s);
      err.flush();
    },
    open: openInput,
    readFile: async (p) => {
      const f = openInput(p);
      if (f.size !== undefined && f.size > MAX_INPUT) {
        f.close();
        throw new InputTooLarge();
      }
      const parts: Uint8Array[] = [];
      let total = 0;
      for await (const c of f.chunks()) {
        if ((total += c.length) > MAX_INPUT) throw new InputTooLarge();
        parts.push(c);
      }
      return Buffer.concat(parts);
    },
    stdin: () => process.stdin,
    env: process.env,
    pid: process.pid,
    now: () => Math.floor(Date.now() / 1000),
    sys: systemDb(),
    lookup: dnsLookup,
    flush: () => {
      out.flush();
      err.flush();
    },
    ...(progress ? { progress } : {}),
  };
}

/** stderr as a terminal for progress lines; none when it is not one (a script, a log, a pipe) or TERM=dumb. */
function progressTerminal(): ProgressTerminal | undefined {
  if (!isatty(2) || process.env['TERM'] === 'dumb') return undefined;
  return {
    columns: () => process.stderr.columns || 80,
    write: (s) => writeAllSync(2, Buffer.from(s, 'latin1')),
    now: () => performance.now(),
    stdoutIsTerminal: isatty(1),
  };
}

/**
 * Open a file for reading in INPUT_CHUNK pieces. Synchronous reads: a CLI
 * waits for its one input anyway, and they skip a thread-pool round trip.
 */
export function openInput(path: string): InputFile {
  const fd = openSync(path, 'r');
  let size: number | undefined;
  let identity: string | undefined;
  const identityOf = (st: BigIntStats): string | undefined => (st.isFile() ? `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}` : undefined);
  const identityNow = (): string | undefined => identityOf(fstatSync(fd, { bigint: true }));
  try {
    const st = fstatSync(fd, { bigint: true });
    size = st.isFile() ? Number(st.size) : undefined;
    identity = identityOf(st);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  let closed = false;
  let atClose: string | undefined;
  const close = (): void => {
    if (!closed) {
      try {
        atClose = identityNow();
      } catch {
        atClose = undefined;
      }
      closeSync(fd);
    }
    closed = true;
  };
  return { size, identity, changedWhileOpen: () => closed && atClose !== identity, chunks: (reuse = false) => fdChunks(fd, close, reuse), close };
}

async function* fdChunks(fd: number, close: () => void, reuse: boolean): AsyncGenerator<Uint8Array> {
  // a fresh buffer per read survives enough minor collections to be promoted and wait for a full one
  // (a 1M-entry dump held ~40 MiB of them): a reader that copies what it keeps reads into one buffer
  const one = reuse ? Buffer.allocUnsafe(INPUT_CHUNK) : undefined;
  try {
    for (;;) {
      const buf = one ?? Buffer.allocUnsafe(INPUT_CHUNK);
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) return;
      yield n === buf.length ? buf : buf.subarray(0, n);
    }
  } finally {
    close();
  }
}
