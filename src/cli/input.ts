/**
 * Reading setkey's inputs in bounded chunks: the script of `-f` (which
 * script.ts parses as it arrives, so that reading stops early) and the
 * PF_KEY files of file mode. No input is read whole before it is looked at:
 * `-f /dev/zero`, a FIFO that never ends or a 1.5 GB file once grew memory
 * without bound. An input may have at most MAX_INPUT bytes (io.ts).
 */
import { DecodeError, splitMessages } from '../pfkey/decode.js';
import { INPUT_CHUNK, InputTooLarge, MAX_INPUT, type InputFile, type Io } from './io.js';

export function errnoText(e: unknown): string {
  if (e instanceof InputTooLarge) return e.message;
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'No such file or directory';
    case 'EACCES':
      return 'Permission denied';
    case 'EISDIR':
      return 'Is a directory';
    default:
      return (e as Error).message;
  }
}

/** The bytes of a file ('-': stdin, unless told otherwise), a chunk at a time, refusing more than MAX_INPUT (a regular file before it is read). */
export async function* inputChunks(io: Io, path: string, dashIsStdin = true, reuse = false, opened?: (f: InputFile) => void): AsyncGenerator<Uint8Array | string> {
  let total = 0;
  const count = (n: number): void => {
    if ((total += n) > MAX_INPUT) throw new InputTooLarge();
  };
  if (path === '-' && dashIsStdin) {
    for await (const c of io.stdin()) {
      count(c.length);
      yield c;
    }
    return;
  }
  if (!io.open) {
    // an Io without files of its own (tests): the whole file, handed on in chunks all the same
    const b = await io.readFile(path);
    for (let i = 0; i < b.length; i += INPUT_CHUNK) {
      count(Math.min(INPUT_CHUNK, b.length - i));
      yield b.subarray(i, i + INPUT_CHUNK);
    }
    return;
  }
  const f = io.open(path);
  opened?.(f);
  if (f.size !== undefined && f.size > MAX_INPUT) {
    f.close();
    throw new InputTooLarge();
  }
  for await (const c of f.chunks(reuse)) {
    count(c.length);
    yield c;
  }
}

/** Bytes as text, one char per byte: quoted keys are raw bytes, as in the reference. */
export function latin1(c: Uint8Array | string): string {
  return typeof c === 'string' ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength).toString('latin1');
}

/**
 * File mode: the PF_KEY messages of a file, one at a time as they are read
 * (memory stays that of one chunk and one message, whatever the file's size),
 * up to the first one whose length cannot be right: an all-zero header
 * cannot advance, so /dev/zero stops after its first chunk. What ends the
 * file early is a DecodeError with its file offset, yielded last.
 */
export async function* messageStream(io: Io, path: string): AsyncGenerator<Uint8Array | DecodeError> {
  let pending = new Uint8Array(0);
  let base = 0;
  // file mode names files only: '-' is a file called '-', as in the reference
  // one read buffer: every message is used before the next chunk is read, and a partial one is copied (below)
  for await (const c of inputChunks(io, path, false, true)) {
    const b = typeof c === 'string' ? Buffer.from(c, 'latin1') : c;
    const buf = pending.length ? concat(pending, b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    let off = 0;
    while (buf.length - off >= 16) {
      const len = (buf[off + 4]! | (buf[off + 5]! << 8)) * 8;
      // shorter than its own header: it cannot advance (the decoder says so below)
      if (len < 16) {
        yield* problems(buf.subarray(off), base + off);
        return;
      }
      if (off + len > buf.length) break;
      yield buf.subarray(off, off + len);
      off += len;
    }
    // what is left is the start of the next message: kept (a copy: the chunk's buffer may be reused)
    pending = buf.slice(off);
    base += off;
  }
  if (pending.length) yield* problems(pending, base);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const c = new Uint8Array(a.length + b.length);
  c.set(a);
  c.set(b, a.length);
  return c;
}

/** The decoder's word on bytes that do not frame as messages, at their file offset. */
function* problems(b: Uint8Array, base: number): Generator<DecodeError> {
  for (const m of splitMessages(b)) {
    if (m instanceof DecodeError) {
      yield new DecodeError(m.code, m.message, m.offset + base);
      return;
    }
  }
}
