/**
 * The classic libpcap savefile (pcap-savefile(5), draft-ietf-opsawg-pcap):
 * a 24-byte file header, then records of a 16-byte header and the captured
 * bytes. Both byte orders (the writer's host order, told by the magic) and
 * both resolutions (0xa1b2c3d4 microseconds, 0xa1b23c4d nanoseconds).
 */
import { CaptureError } from './errors.js';
import type { PacketRecord, PcapFormat } from './records.js';
import type { Window } from './window.js';

export const PCAP_HEADER_SIZE = 24;
export const PCAP_RECORD_HEADER_SIZE = 16;
export const PCAP_MAGIC_MICRO = 0xa1b2c3d4;
export const PCAP_MAGIC_NANO = 0xa1b23c4d;

/** draft-ietf-opsawg-pcap section 4: P bit (FCS length present) and FCS length in 16-bit words in the top 4 bits */
const FCS_PRESENT = 0x04000000;

/** The magic's byte order and resolution, or undefined when the 4 bytes are not a pcap magic. */
export function pcapMagic(b: Uint8Array): { littleEndian: boolean; nanosecond: boolean } | undefined {
  if (b.length < 4) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, 4);
  for (const littleEndian of [true, false]) {
    const m = dv.getUint32(0, littleEndian);
    if (m === PCAP_MAGIC_MICRO) return { littleEndian, nanosecond: false };
    if (m === PCAP_MAGIC_NANO) return { littleEndian, nanosecond: true };
  }
  return undefined;
}

/** The file header's fields; `b` holds at least PCAP_HEADER_SIZE bytes starting with a pcap magic. */
export function decodePcapHeader(b: Uint8Array): PcapFormat {
  const magic = pcapMagic(b)!;
  const dv = new DataView(b.buffer, b.byteOffset, PCAP_HEADER_SIZE);
  const le = magic.littleEndian;
  const linkTypeField = dv.getUint32(20, le);
  return {
    kind: 'pcap',
    littleEndian: le,
    nanosecond: magic.nanosecond,
    versionMajor: dv.getUint16(4, le),
    versionMinor: dv.getUint16(6, le),
    thiszone: dv.getInt32(8, le),
    sigfigs: dv.getUint32(12, le),
    snaplen: dv.getUint32(16, le),
    linkTypeField,
    linkType: linkTypeField & 0xffff,
    fcsLength: linkTypeField & FCS_PRESENT ? (linkTypeField >>> 28) * 2 : 0,
  };
}

export function encodePcapHeader(f: PcapFormat): Uint8Array {
  const b = new Uint8Array(PCAP_HEADER_SIZE);
  const dv = new DataView(b.buffer);
  const le = f.littleEndian;
  dv.setUint32(0, f.nanosecond ? PCAP_MAGIC_NANO : PCAP_MAGIC_MICRO, le);
  dv.setUint16(4, f.versionMajor, le);
  dv.setUint16(6, f.versionMinor, le);
  dv.setInt32(8, f.thiszone, le);
  dv.setUint32(12, f.sigfigs, le);
  dv.setUint32(16, f.snaplen, le);
  dv.setUint32(20, f.linkTypeField, le);
  return b;
}

/**
 * The next record, or null at a clean end. A captured length beyond
 * maxRecord is refused before anything is allocated. A captured length
 * above the snapshot length is accepted (some writers do that; libpcap only
 * refuses lengths beyond its per-link maximum).
 */
export function readPcapRecord(w: Window, f: PcapFormat, number: number, maxRecord: number, borrow = false): PacketRecord | null {
  const offset = w.position;
  const have = w.fill(PCAP_RECORD_HEADER_SIZE);
  if (have === 0) return null;
  if (have < PCAP_RECORD_HEADER_SIZE) {
    throw new CaptureError('truncated', number, offset, `truncated record header: ${have} of ${PCAP_RECORD_HEADER_SIZE} bytes at the end of the file`);
  }
  const v = w.view();
  const dv = new DataView(v.buffer, v.byteOffset, PCAP_RECORD_HEADER_SIZE);
  const le = f.littleEndian;
  const caplen = dv.getUint32(8, le);
  if (caplen > maxRecord - PCAP_RECORD_HEADER_SIZE) {
    throw new CaptureError('too-large', number, offset, `captured length ${caplen} exceeds the limit of ${maxRecord - PCAP_RECORD_HEADER_SIZE} bytes`);
  }
  const size = PCAP_RECORD_HEADER_SIZE + caplen;
  const got = w.fill(size);
  if (got < size) {
    throw new CaptureError('truncated', number, offset, `truncated record: ${caplen} bytes captured, ${got - PCAP_RECORD_HEADER_SIZE} in the file`);
  }
  const raw = borrow ? w.borrow(size) : w.take(size);
  const rdv = new DataView(raw.buffer, raw.byteOffset, PCAP_RECORD_HEADER_SIZE);
  return {
    kind: 'packet',
    number,
    offset,
    linkType: f.linkType,
    fcsLength: f.fcsLength,
    snaplen: f.snaplen,
    interfaceId: 0,
    timestamp: {
      seconds: BigInt(rdv.getUint32(0, le)),
      fraction: BigInt(rdv.getUint32(4, le)),
      unitsPerSecond: f.nanosecond ? 1_000_000_000n : 1_000_000n,
    },
    data: raw.subarray(PCAP_RECORD_HEADER_SIZE),
    originalLength: rdv.getUint32(12, le),
    raw,
    layout: { kind: 'pcap', littleEndian: le },
  };
}

/** The record with its timestamp kept and new bytes: captured and original length both the new length. */
export function encodePcapRecord(r: PacketRecord, littleEndian: boolean, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(PCAP_RECORD_HEADER_SIZE + data.length);
  out.set(pcapRecordHeader(r, littleEndian, data.length));
  out.set(data, PCAP_RECORD_HEADER_SIZE);
  return out;
}

/** The 16-byte record header alone (a writer then writes the data after it, without joining the two), in `into` if given. */
export function pcapRecordHeader(r: PacketRecord, littleEndian: boolean, length: number, into = new Uint8Array(PCAP_RECORD_HEADER_SIZE)): Uint8Array {
  into.set(r.raw.subarray(0, 8));
  put32(into, 8, length, littleEndian);
  put32(into, 12, length, littleEndian);
  return into;
}

function put32(b: Uint8Array, at: number, v: number, littleEndian: boolean): void {
  for (let i = 0; i < 4; i++) b[at + (littleEndian ? i : 3 - i)] = (v >>> (8 * i)) & 0xff;
}
