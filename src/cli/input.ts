/**
 * Reading setkey's inputs in bounded chunks: the script of `-f` (which
 * script.ts parses as it arrives, so that reading stops early) and the
 * PF_KEY files of file mode. No input is read whole before it is looked at:
 * `-f /dev/zero`, a FIFO that never ends or a 1.5 GB file once grew memory
 * without bound. An input may have at most MAX_INPUT bytes (io.ts).
 */
import { INPUT_CHUNK, InputTooLarge, MAX_INPUT, type Io } from './io.js';

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
export async function* inputChunks(io: Io, path: string, dashIsStdin = true): AsyncGenerator<Uint8Array | string> {
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
  if (f.size !== undefined && f.size > MAX_INPUT) {
    f.close();
    throw new InputTooLarge();
  }
  for await (const c of f.chunks()) {
    count(c.length);
    yield c;
  }
}

/** Bytes as text, one char per byte: quoted keys are raw bytes, as in the reference. */
export function latin1(c: Uint8Array | string): string {
  return typeof c === 'string' ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength).toString('latin1');
}

/**
 * File mode: the PF_KEY messages of a file, read in chunks up to the first
 * message whose length cannot be right (an all-zero header cannot advance,
 * so /dev/zero stops after its first chunk). The framing itself is judged
 * by the decoder, on the bytes returned.
 */
export async function readMessages(io: Io, path: string): Promise<Uint8Array> {
  let buf = new Uint8Array(INPUT_CHUNK);
  let have = 0;
  let next = 0;
  // file mode names files only: '-' is a file called '-', as in the reference
  for await (const c of inputChunks(io, path, false)) {
    const b = typeof c === 'string' ? Buffer.from(c, 'latin1') : c;
    if (have + b.length > buf.length) {
      const grown = new Uint8Array(Math.max(buf.length * 2, have + b.length));
      grown.set(buf.subarray(0, have));
      buf = grown;
    }
    buf.set(b, have);
    have += b.length;
    // the headers now complete: sadb_msg_len (bytes 4-5, 8-byte units, host order) says where the next one is
    while (next + 16 <= have) {
      const units = buf[next + 4]! | (buf[next + 5]! << 8);
      // shorter than its own header: it cannot advance, and the decoder reports it at `next`
      if (units < 2) return buf.subarray(0, have);
      next += units * 8;
    }
  }
  return buf.subarray(0, have);
}
