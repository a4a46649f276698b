/**
 * A sliding window over a byte stream: the readers ask for "the next n bytes"
 * and get them without the file ever being held whole. The buffer starts at
 * one chunk and grows only to the largest record actually met, which the
 * readers bound before asking (a length field of 4 GiB is refused, never
 * allocated).
 */
import { readSync } from 'node:fs';
import { CaptureError } from './errors.js';

/** Where bytes come from: a file descriptor, or memory (tests, fuzzing). 0 = end of input. */
export interface ByteSource {
  read(into: Uint8Array, offset: number, length: number): number;
}

/** bytes read at a time: 4 MiB rather than 1 took --decrypt of 1M packets from 8.4 to 6.8 s (fewer reads while writes back up) */
export const CHUNK = 4 << 20;

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Sequential reads from the descriptor's current position, so pipes work as
 * well as files. A non-blocking pipe with nothing in it yet (a shell may hand
 * one over as stdin) is waited for, not taken for the end.
 */
export function fdSource(fd: number): ByteSource {
  return {
    read(into, offset, length) {
      for (;;) {
        try {
          return readSync(fd, into, offset, length, null);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code ?? 'error';
          if (code === 'EAGAIN') {
            Atomics.wait(pause, 0, 0, 5);
            continue;
          }
          throw new CaptureError('io', 0, 0, `cannot read the capture: ${code}: ${(e as Error).message}`);
        }
      }
    },
  };
}

export function bytesSource(bytes: Uint8Array): ByteSource {
  let at = 0;
  return {
    read(into, offset, length) {
      const n = Math.min(length, bytes.length - at);
      into.set(bytes.subarray(at, at + n), offset);
      at += n;
      return n;
    },
  };
}

export class Window {
  private buf: Uint8Array;
  private start = 0;
  private end = 0;
  private eof = false;
  /** file offset of buf[start] */
  position = 0;

  constructor(
    private readonly source: ByteSource,
    private readonly chunk = CHUNK,
  ) {
    this.buf = new Uint8Array(chunk);
  }

  /** Make up to n bytes available; returns how many are (fewer only at the end of input). */
  fill(n: number): number {
    while (this.end - this.start < n && !this.eof) {
      if (this.buf.length - this.start < n) this.makeRoom(n);
      const want = Math.max(this.chunk, n - (this.end - this.start));
      const got = this.source.read(this.buf, this.end, Math.min(want, this.buf.length - this.end));
      if (got === 0) this.eof = true;
      this.end += got;
    }
    return Math.min(n, this.end - this.start);
  }

  /** A view of the available bytes from the current position; valid until the next fill or take. */
  view(): Uint8Array {
    return this.buf.subarray(this.start, this.end);
  }

  /** The next n bytes (already filled) as a copy the caller may keep. */
  take(n: number): Uint8Array {
    const out = this.buf.slice(this.start, this.start + n);
    this.start += n;
    this.position += n;
    return out;
  }

  /** The next n bytes (already filled) as a view, valid only until the next fill: no copy. */
  borrow(n: number): Uint8Array {
    const out = this.buf.subarray(this.start, this.start + n);
    this.start += n;
    this.position += n;
    return out;
  }

  /** Compact to the front, growing the buffer when one record needs more than it holds. */
  private makeRoom(n: number): void {
    const have = this.end - this.start;
    const size = Math.max(this.chunk, n);
    // grow for a large record; give the memory back once records are small again
    const target = size > this.buf.length || this.buf.length > 4 * size ? new Uint8Array(size) : this.buf;
    if (target === this.buf) this.buf.copyWithin(0, this.start, this.end);
    else target.set(this.buf.subarray(this.start, this.end));
    this.buf = target;
    this.start = 0;
    this.end = have;
  }
}
