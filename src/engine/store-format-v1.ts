/**
 * Reading version 1 stores (setkey 0.1), to migrate them: a writer that
 * opens one rewrites it as version 2 (store.ts) before its first change.
 *
 *   snapshot-G   "SKSNAP" 0x00 0x01 | u32 count | (u32 klen key u32 vlen value)* | u32 crc32
 *   journal-G    "SKJRNL" 0x00 0x01 | record*
 *   record       u32 'SKJ1' | u32 length | u32 crc32(payload) | payload
 *   payload      u32 nops | (u8 1 u32 klen key u32 vlen value | u8 2 u32 klen key)*
 *
 * Version 1 could not tell a torn last record from a damaged length field
 * (issue 9); it is read as it always was, and never written again.
 */
import { applyOps, crc32, FormatError, type OpSink } from './store-format.js';

const SNAP_MAGIC = Buffer.from('SKSNAP\x00\x01', 'latin1');
const JOURNAL_MAGIC = Buffer.from('SKJRNL\x00\x01', 'latin1');
const RECORD_MAGIC = 0x314a4b53; // "SKJ1"

/** Apply the journal's complete records to `entries`; a torn or failing last record is left out. */
export function replayJournalV1(buf: Buffer, entries: OpSink): void {
  if (buf.length < JOURNAL_MAGIC.length || !buf.subarray(0, JOURNAL_MAGIC.length).equals(JOURNAL_MAGIC)) {
    throw new FormatError('journal header is not a setkey store journal', 0);
  }
  let o = JOURNAL_MAGIC.length;
  while (o + 12 <= buf.length) {
    if (buf.readUInt32LE(o) !== RECORD_MAGIC) throw new FormatError('journal record has no record header', o);
    const len = buf.readUInt32LE(o + 4);
    if (o + 12 + len > buf.length) break;
    const payload = buf.subarray(o + 12, o + 12 + len);
    if (crc32(payload) !== buf.readUInt32LE(o + 8)) {
      if (o + 12 + len === buf.length) break;
      throw new FormatError('journal record checksum does not match its contents', o);
    }
    applyOps(payload, entries);
    o += 12 + len;
  }
}

export function decodeSnapshotV1(buf: Buffer): Map<string, Uint8Array> {
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
