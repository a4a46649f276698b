/**
 * pcapng (draft-ietf-opsawg-pcapng): a file is sections, each a Section
 * Header Block (its byte-order magic sets the section's byte order) followed
 * by blocks of type, total length, body, total length again. Interfaces are
 * numbered per section by their Interface Description Blocks; packets are
 * Enhanced (6), Simple (3) or obsolete (2) Packet Blocks. Every other block is
 * handed on as it is, so a read-and-copy reproduces the file byte for byte.
 */
import { CaptureError } from './errors.js';
import type { BlockRecord, PacketRecord, Timestamp } from './records.js';
import type { Window } from './window.js';

export const BlockType = {
  SHB: 0x0a0d0d0a,
  IDB: 1,
  PB: 2,
  SPB: 3,
  NRB: 4,
  ISB: 5,
  EPB: 6,
  DSB: 10,
  CUSTOM: 0xbad,
  CUSTOM_NOCOPY: 0x40000bad,
} as const;

export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** type, total length, trailing total length */
const FRAMING = 12;
/** type, length, interface id (4, or 2 + 2 drops in a PB), timestamp (8), captured, original */
const PACKET_FIXED = 28;
const SPB_FIXED = 12;
const SHB_MIN = 28;
const IDB_MIN = 20;

/** IDB options (pcapng section 4.2) that change how packets are read */
const OPT_ENDOFOPT = 0;
const IF_TSRESOL = 9;
const IF_FCSLEN = 13;
const IF_TSOFFSET = 14;

interface Iface {
  linkType: number;
  snaplen: number;
  unitsPerSecond: bigint;
  tsOffset: bigint;
  fcsLength: number;
}

/** What the reader knows of the current section. */
export interface Section {
  littleEndian: boolean;
  interfaces: Iface[];
}

export const pad4 = (n: number): number => (n + 3) & ~3;

/** The byte order of an SHB whose first 12 bytes are in `b`, or undefined when its magic is neither. */
export function shbByteOrder(b: Uint8Array): boolean | undefined {
  const dv = new DataView(b.buffer, b.byteOffset, 12);
  if (dv.getUint32(0, true) !== BlockType.SHB) return undefined;
  if (dv.getUint32(8, true) === BYTE_ORDER_MAGIC) return true;
  if (dv.getUint32(8, false) === BYTE_ORDER_MAGIC) return false;
  return undefined;
}

/**
 * The next block as a record, or null at a clean end. `section` is updated
 * by SHBs and IDBs; `number` is the number the next packet gets.
 */
export function readPcapngBlock(w: Window, section: Section | undefined, number: number, maxRecord: number, borrow = false): { record: PacketRecord | BlockRecord; section: Section } | null {
  const offset = w.position;
  const have = w.fill(FRAMING);
  if (have === 0) return null;
  const fail = (code: 'truncated' | 'bad-block' | 'too-large', why: string): never => {
    throw new CaptureError(code, number, offset, why);
  };
  if (have < FRAMING) fail('truncated', `truncated block: ${have} bytes at the end of the file`);
  const head = w.view();
  let le = section?.littleEndian ?? true;
  const isShb = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true) === BlockType.SHB;
  if (isShb) {
    const order = shbByteOrder(head);
    if (order === undefined) fail('bad-block', 'section header block with an unknown byte-order magic');
    le = order!;
  }
  const dv0 = new DataView(head.buffer, head.byteOffset, 8);
  const type = dv0.getUint32(0, le);
  const length = dv0.getUint32(4, le);
  if (length < FRAMING || length % 4 !== 0) fail('bad-block', `block length ${length} (type ${type}) is below 12 or not a multiple of 4`);
  if (length > maxRecord) fail('too-large', `block length ${length} (type ${type}) exceeds the limit of ${maxRecord} bytes`);
  const got = w.fill(length);
  if (got < length) fail('truncated', `truncated block (type ${type}): ${length} bytes long, ${got} in the file`);
  const packet = type === BlockType.EPB || type === BlockType.PB || type === BlockType.SPB;
  const raw = borrow && packet ? w.borrow(length) : w.take(length);
  const dv = new DataView(raw.buffer, raw.byteOffset, length);
  const trailer = dv.getUint32(length - 4, le);
  if (trailer !== length) fail('bad-block', `block length ${length} but trailing length ${trailer} (type ${type})`);
  const block: BlockRecord = { kind: 'block', offset, type, raw };
  if (isShb) return { record: block, section: startSection(dv, le, number, offset) };
  if (section === undefined) fail('bad-block', 'block before the first section header');
  const s = section!;
  if (type === BlockType.IDB) {
    if (length < IDB_MIN) fail('bad-block', `interface description block of ${length} bytes`);
    s.interfaces.push(readInterface(raw, dv, le));
    return { record: block, section: s };
  }
  if (type === BlockType.EPB || type === BlockType.PB || type === BlockType.SPB) {
    return { record: packetBlock(raw, dv, s, type, number, offset), section: s };
  }
  return { record: block, section: s };
}

function startSection(dv: DataView, le: boolean, number: number, offset: number): Section {
  if (dv.byteLength < SHB_MIN) throw new CaptureError('bad-block', number, offset, `section header block of ${dv.byteLength} bytes`);
  const major = dv.getUint16(12, le);
  if (major !== 1) {
    throw new CaptureError('unsupported-version', number, offset, `pcapng section of version ${major}.${dv.getUint16(14, le)} (only 1.x is known)`);
  }
  return { littleEndian: le, interfaces: [] };
}

function readInterface(raw: Uint8Array, dv: DataView, le: boolean): Iface {
  const iface: Iface = { linkType: dv.getUint16(8, le), snaplen: dv.getUint32(12, le), unitsPerSecond: 1_000_000n, tsOffset: 0n, fcsLength: 0 };
  forEachOption(raw, 16, raw.length - 4, le, (code, at, len) => {
    if (code === IF_TSRESOL && len >= 1) {
      const v = raw[at]!;
      // high bit set: 2^-n seconds, else 10^-n (pcapng section 4.2, if_tsresol)
      iface.unitsPerSecond = v & 0x80 ? 1n << BigInt(v & 0x7f) : 10n ** BigInt(v);
    } else if (code === IF_TSOFFSET && len >= 8) {
      iface.tsOffset = dv.getBigInt64(at, le);
    } else if (code === IF_FCSLEN && len >= 1) {
      // the draft says bits, some writers meant bytes (pcapng issue #60): 16/32 are bits, 2/4 bytes
      const v = raw[at]!;
      iface.fcsLength = v > 8 ? v >> 3 : v;
    }
  });
  return iface;
}

/** Walk options (code, length, value padded to 4) in [start, end); a malformed tail is ignored. */
export function forEachOption(raw: Uint8Array, start: number, end: number, le: boolean, visit: (code: number, at: number, len: number) => void): void {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
  let at = start;
  while (at + 4 <= end) {
    const code = dv.getUint16(at, le);
    const len = dv.getUint16(at + 2, le);
    if (code === OPT_ENDOFOPT || at + 4 + len > end) return;
    visit(code, at + 4, len);
    at += 4 + pad4(len);
  }
}

function packetBlock(raw: Uint8Array, dv: DataView, s: Section, type: number, number: number, offset: number): PacketRecord {
  const le = s.littleEndian;
  const bad = (code: 'bad-block' | 'bad-interface', why: string): never => {
    throw new CaptureError(code, number, offset, why);
  };
  const end = raw.length - 4;
  if (type === BlockType.SPB) {
    if (raw.length < SPB_FIXED + 4) bad('bad-block', `simple packet block of ${raw.length} bytes`);
    const iface = s.interfaces[0] ?? bad('bad-interface', 'simple packet block in a section without an interface');
    const originalLength = dv.getUint32(8, le);
    // pcapng section 4.4: the captured length is the original length cut to interface 0's snaplen
    let caplen = Math.min(originalLength, end - SPB_FIXED);
    if (iface.snaplen > 0) caplen = Math.min(caplen, iface.snaplen);
    const data = raw.subarray(SPB_FIXED, SPB_FIXED + caplen);
    return packet(raw, number, offset, iface, 0, undefined, data, originalLength, { kind: 'spb', littleEndian: le });
  }
  if (raw.length < PACKET_FIXED + 4) bad('bad-block', `packet block (type ${type}) of ${raw.length} bytes`);
  const interfaceId = type === BlockType.PB ? dv.getUint16(8, le) : dv.getUint32(8, le);
  const iface = s.interfaces[interfaceId] ?? bad('bad-interface', `packet on interface ${interfaceId}, but the section describes ${s.interfaces.length}`);
  const caplen = dv.getUint32(20, le);
  if (caplen > end - PACKET_FIXED) bad('bad-block', `captured length ${caplen} does not fit in a block of ${raw.length} bytes`);
  const ticks = (BigInt(dv.getUint32(12, le)) << 32n) | BigInt(dv.getUint32(16, le));
  const timestamp: Timestamp = {
    seconds: ticks / iface.unitsPerSecond + iface.tsOffset,
    fraction: ticks % iface.unitsPerSecond,
    unitsPerSecond: iface.unitsPerSecond,
  };
  const options = raw.subarray(Math.min(end, PACKET_FIXED + pad4(caplen)), end);
  const data = raw.subarray(PACKET_FIXED, PACKET_FIXED + caplen);
  const kind = type === BlockType.PB ? 'pb' : 'epb';
  return packet(raw, number, offset, iface, interfaceId, timestamp, data, dv.getUint32(24, le), { kind, littleEndian: le, options });
}

function packet(
  raw: Uint8Array,
  number: number,
  offset: number,
  iface: Iface,
  interfaceId: number,
  timestamp: Timestamp | undefined,
  data: Uint8Array,
  originalLength: number,
  layout: PacketRecord['layout'],
): PacketRecord {
  return { kind: 'packet', number, offset, linkType: iface.linkType, fcsLength: iface.fcsLength, snaplen: iface.snaplen, interfaceId, timestamp, data, originalLength, raw, layout };
}

/**
 * The block again with new packet bytes: captured and original length both
 * the new length, the data padded to 32 bits with zeros, the fixed fields and
 * options as they were, in the section's byte order.
 */
export function encodePacketBlock(r: PacketRecord, data: Uint8Array): Uint8Array {
  const layout = r.layout;
  if (layout.kind === 'pcap') throw new TypeError('a pcap record given to the pcapng writer');
  const le = layout.littleEndian;
  const fixed = layout.kind === 'spb' ? SPB_FIXED : PACKET_FIXED;
  const options = layout.kind === 'spb' ? new Uint8Array(0) : layout.options;
  const length = fixed + pad4(data.length) + options.length + 4;
  const out = new Uint8Array(length);
  const dv = new DataView(out.buffer);
  out.set(r.raw.subarray(0, fixed));
  dv.setUint32(4, length, le);
  if (layout.kind === 'spb') dv.setUint32(8, data.length, le);
  else {
    dv.setUint32(20, data.length, le);
    dv.setUint32(24, data.length, le);
  }
  out.set(data, fixed);
  out.set(options, fixed + pad4(data.length));
  dv.setUint32(length - 4, length, le);
  return out;
}
