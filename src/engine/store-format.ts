/**
 * On-disk format of the embedded engine's store (version 1), pure encoders
 * and decoders:
 *
 *   snapshot-G   "SKSNAP" 0x00 0x01 | u32 count | (u32 klen key u32 vlen value)* | u32 crc32
 *   journal-G    "SKJRNL" 0x00 0x01 | record*
 *   record       u32 'SKJ1' | u32 length | u32 crc32(payload) | payload
 *   payload      u32 nops | (u8 1 u32 klen key u32 vlen value | u8 2 u32 klen key)*
 *
 * All integers little-endian; keys latin1. One record is one transaction:
 * a record that is cut short or fails its checksum is not part of the store.
 */
import { crc32 as zlibCrc32 } from 'node:zlib';

export const SNAP_MAGIC = Buffer.from('SKSNAP\x00\x01', 'latin1');
export const JOURNAL_MAGIC = Buffer.from('SKJRNL\x00\x01', 'latin1');
const RECORD_MAGIC = 0x314a4b53; // "SKJ1"
const PUT = 1;
const DEL = 2;

export class FormatError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (zlib's), in C where Node has it (>= 20.15). */
export function crc32(b: Uint8Array): number {
  if (typeof zlibCrc32 === 'function') return zlibCrc32(b) >>> 0;
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A transaction's changes: key -> new value, or null for a deletion. */
export type Ops = ReadonlyMap<string, Uint8Array | null>;

function opsSize(ops: Ops): number {
  let n = 4;
  for (const [k, v] of ops) n += v ? 9 + k.length + v.length : 5 + k.length;
  return n;
}

/** One journal record holding a transaction's operations. */
export function encodeRecord(ops: Ops): Buffer {
  const payloadLen = opsSize(ops);
  const b = Buffer.allocUnsafe(12 + payloadLen);
  let o = 12;
  b.writeUInt32LE(ops.size, o);
  o += 4;
  for (const [k, v] of ops) {
    if (v) {
      b[o++] = PUT;
      b.writeUInt32LE(k.length, o);
      o += 4 + b.write(k, o + 4, 'latin1');
      b.writeUInt32LE(v.length, o);
      b.set(v, o + 4);
      o += 4 + v.length;
    } else {
      b[o++] = DEL;
      b.writeUInt32LE(k.length, o);
      o += 4 + b.write(k, o + 4, 'latin1');
    }
  }
  b.writeUInt32LE(RECORD_MAGIC, 0);
  b.writeUInt32LE(payloadLen, 4);
  b.writeUInt32LE(crc32(b.subarray(12)), 8);
  return b;
}

/**
 * Apply the journal's complete records to `entries`, from byte `start`.
 * Returns where the valid records end, and whether anything (a torn or
 * corrupt tail) follows.
 */
export function replayJournal(buf: Buffer, start: number, entries: Map<string, Uint8Array>): { end: number; torn: boolean } {
  let o = start;
  if (o === 0) {
    if (buf.length < JOURNAL_MAGIC.length || !buf.subarray(0, JOURNAL_MAGIC.length).equals(JOURNAL_MAGIC)) {
      throw new FormatError('journal header is not a setkey store journal', 0);
    }
    o = JOURNAL_MAGIC.length;
  }
  while (o + 12 <= buf.length) {
    // a record's header is written first, in the same write(): a wrong magic is damage, not a tear
    if (buf.readUInt32LE(o) !== RECORD_MAGIC) throw new FormatError('journal record has no record header', o);
    const len = buf.readUInt32LE(o + 4);
    // cut short: the last write() of a writer that died (or one still being written); not committed
    if (o + 12 + len > buf.length) break;
    const payload = buf.subarray(o + 12, o + 12 + len);
    if (crc32(payload) !== buf.readUInt32LE(o + 8)) {
      // at the very end this is a record that was never acknowledged (lost before its fsync);
      // anywhere else it is damage to committed data, which must not be cut away
      if (o + 12 + len === buf.length) break;
      throw new FormatError('journal record checksum does not match its contents', o);
    }
    applyPayload(payload, entries);
    o += 12 + len;
  }
  return { end: o, torn: o < buf.length };
}

function applyPayload(p: Buffer, entries: Map<string, Uint8Array>): void {
  const n = p.readUInt32LE(0);
  let o = 4;
  for (let i = 0; i < n; i++) {
    const kind = p[o++];
    const klen = p.readUInt32LE(o);
    const key = p.toString('latin1', o + 4, o + 4 + klen);
    o += 4 + klen;
    if (kind === PUT) {
      const vlen = p.readUInt32LE(o);
      // a plain view, not a Buffer: cheaper to make by the hundred thousand
      entries.set(key, new Uint8Array(p.buffer, p.byteOffset + o + 4, vlen));
      o += 4 + vlen;
    } else {
      entries.delete(key);
    }
  }
}

export function encodeSnapshot(entries: ReadonlyMap<string, Uint8Array>): Buffer {
  let size = SNAP_MAGIC.length + 4 + 4;
  for (const [k, v] of entries) size += 8 + k.length + v.length;
  const b = Buffer.allocUnsafe(size);
  SNAP_MAGIC.copy(b, 0);
  let o = SNAP_MAGIC.length;
  b.writeUInt32LE(entries.size, o);
  o += 4;
  for (const [k, v] of entries) {
    b.writeUInt32LE(k.length, o);
    o += 4 + b.write(k, o + 4, 'latin1');
    b.writeUInt32LE(v.length, o);
    b.set(v, o + 4);
    o += 4 + v.length;
  }
  b.writeUInt32LE(crc32(b.subarray(0, o)), o);
  return b;
}

export function decodeSnapshot(buf: Buffer): Map<string, Uint8Array> {
  if (buf.length < SNAP_MAGIC.length + 8 || !buf.subarray(0, SNAP_MAGIC.length).equals(SNAP_MAGIC)) {
    throw new FormatError('snapshot header is not a setkey store snapshot', 0);
  }
  const end = buf.length - 4;
  if (crc32(buf.subarray(0, end)) !== buf.readUInt32LE(end)) throw new FormatError('snapshot checksum does not match its contents', end);
  const count = buf.readUInt32LE(SNAP_MAGIC.length);
  const entries = new Map<string, Uint8Array>();
  let o = SNAP_MAGIC.length + 4;
  for (let i = 0; i < count; i++) {
    if (o + 4 > end) throw new FormatError('snapshot ends inside a record', o);
    const klen = buf.readUInt32LE(o);
    const key = buf.toString('latin1', o + 4, o + 4 + klen);
    o += 4 + klen;
    const vlen = buf.readUInt32LE(o);
    if (o + 4 + vlen > end) throw new FormatError('snapshot ends inside a record', o);
    entries.set(key, new Uint8Array(buf.buffer, buf.byteOffset + o + 4, vlen));
    o += 4 + vlen;
  }
  if (o !== end) throw new FormatError('snapshot has bytes after its last record', o);
  return entries;
}
