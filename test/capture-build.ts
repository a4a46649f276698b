/**
 * Test builders for captures and packets, written from the format documents
 * rather than from src/capture (pcap-savefile(5), draft-ietf-opsawg-pcapng,
 * RFC 791, RFC 8200, RFC 768, RFC 4303, RFC 3948), so that the reader is
 * checked against an independent writer.
 */

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const bytes = (...v: number[]): Uint8Array => Uint8Array.from(v);
const fill = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
export { fill as filler };

function sum16(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
/** RFC 1071, straight from the definition */
export const cksum = (...parts: Uint8Array[]): number => ~sum16(concat(...parts.map((p) => (p.length % 2 ? concat(p, bytes(0)) : p)))) & 0xffff;

export const v4 = (s: string): Uint8Array => Uint8Array.from(s.split('.').map(Number));
export function v6(s: string): Uint8Array {
  const [l, r] = s.includes('::') ? s.split('::') : [s, undefined];
  const words = (x: string | undefined) => (x ? x.split(':').map((w) => parseInt(w, 16)) : []);
  const left = words(l);
  const right = words(r);
  const all = r === undefined ? left : [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

export interface V4Opts {
  src?: string;
  dst?: string;
  options?: Uint8Array;
  more?: boolean;
  fragOffset?: number;
  totalLength?: number;
  id?: number;
}

export function ipv4(protocol: number, payload: Uint8Array, o: V4Opts = {}): Uint8Array {
  const opts = o.options ?? new Uint8Array(0);
  const hl = 20 + opts.length;
  const h = new Uint8Array(hl);
  const dv = new DataView(h.buffer);
  h[0] = 0x40 | (hl / 4);
  dv.setUint16(2, o.totalLength ?? hl + payload.length);
  dv.setUint16(4, o.id ?? 0x1234);
  dv.setUint16(6, (o.more ? 0x2000 : 0) | ((o.fragOffset ?? 0) / 8) | 0x4000 * (o.more || o.fragOffset ? 0 : 1));
  h[8] = 64;
  h[9] = protocol;
  h.set(v4(o.src ?? '192.0.2.1'), 12);
  h.set(v4(o.dst ?? '198.51.100.2'), 16);
  h.set(opts, 20);
  dv.setUint16(10, cksum(h));
  return concat(h, payload);
}

/** An IPv6 extension header: `body` follows the next-header byte (and the length byte, unless a fragment). */
export interface Ext {
  type: number;
  raw: Uint8Array;
}
export const hopByHop = (units = 0): Ext => ({ type: 0, raw: concat(bytes(0, units), new Uint8Array(6 + 8 * units)) });
export const destOpts = (units = 0): Ext => ({ type: 60, raw: concat(bytes(0, units), new Uint8Array(6 + 8 * units)) });
export const routing = (): Ext => ({ type: 43, raw: concat(bytes(0, 2, 0, 0), new Uint8Array(4), v6('2001:db8::99')) });
export function fragment(offset: number, more: boolean): Ext {
  const r = new Uint8Array(8);
  const dv = new DataView(r.buffer);
  dv.setUint16(2, offset | (more ? 1 : 0));
  dv.setUint32(4, 0xabcdef);
  return { type: 44, raw: r };
}
/** AH (RFC 4302 section 2): 12 bytes and an ICV of icvLen (a multiple of 4) */
export function ahHeader(spi: number, seq: number, icvLen: number): Ext {
  const r = new Uint8Array(12 + icvLen);
  const dv = new DataView(r.buffer);
  r[1] = (12 + icvLen) / 4 - 2;
  dv.setUint32(4, spi);
  dv.setUint32(8, seq);
  r.set(fill(icvLen, 9), 12);
  return { type: 51, raw: r };
}

export interface V6Opts {
  src?: string;
  dst?: string;
  ext?: Ext[];
  payloadLength?: number;
}

export function ipv6(protocol: number, payload: Uint8Array, o: V6Opts = {}): Uint8Array {
  const ext = o.ext ?? [];
  const chain = ext.map((e, i) => {
    const r = e.raw.slice();
    r[0] = i + 1 < ext.length ? ext[i + 1]!.type : protocol;
    return r;
  });
  const h = new Uint8Array(40);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, 0x60000000);
  const rest = concat(...chain, payload);
  dv.setUint16(4, o.payloadLength ?? rest.length);
  h[6] = ext.length ? ext[0]!.type : protocol;
  h[7] = 64;
  h.set(v6(o.src ?? '2001:db8::1'), 8);
  h.set(v6(o.dst ?? '2001:db8:0:1::2'), 24);
  return concat(h, rest);
}

/** A UDP datagram; the checksum is computed when the addresses are given (v4 or v6 by their length). */
export function udp(sport: number, dport: number, payload: Uint8Array, addrs?: { src: Uint8Array; dst: Uint8Array }): Uint8Array {
  const h = new Uint8Array(8);
  const dv = new DataView(h.buffer);
  dv.setUint16(0, sport);
  dv.setUint16(2, dport);
  dv.setUint16(4, 8 + payload.length);
  const seg = concat(h, payload);
  if (addrs) {
    const c = cksum(pseudo(addrs.src, addrs.dst, 17, seg.length), seg);
    new DataView(seg.buffer).setUint16(6, c === 0 ? 0xffff : c);
  }
  return seg;
}

export function tcp(sport: number, dport: number, payload: Uint8Array, addrs?: { src: Uint8Array; dst: Uint8Array }): Uint8Array {
  const h = new Uint8Array(20);
  const dv = new DataView(h.buffer);
  dv.setUint16(0, sport);
  dv.setUint16(2, dport);
  dv.setUint32(4, 1000);
  h[12] = 5 << 4;
  h[13] = 0x18;
  dv.setUint16(14, 65535);
  const seg = concat(h, payload);
  if (addrs) new DataView(seg.buffer).setUint16(16, cksum(pseudo(addrs.src, addrs.dst, 6, seg.length), seg));
  return seg;
}

export function pseudo(src: Uint8Array, dst: Uint8Array, proto: number, len: number): Uint8Array {
  if (src.length === 4) return concat(src, dst, bytes(0, proto, len >> 8, len & 0xff));
  return concat(src, dst, bytes(len >>> 24, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff, 0, 0, 0, proto));
}

export function esp(spi: number, seq: number, body: Uint8Array = fill(32, 5)): Uint8Array {
  const h = new Uint8Array(8);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, spi);
  dv.setUint32(4, seq);
  return concat(h, body);
}

// ---- link layers ----

export function ether(type: number, payload: Uint8Array, vlans: number[] = []): Uint8Array {
  const macs = concat(bytes(2, 0, 0, 0, 0, 1), bytes(2, 0, 0, 0, 0, 2));
  const tags = vlans.map((tpid, i) => bytes(tpid >> 8, tpid & 0xff, 0, 10 + i));
  return concat(macs, ...tags, bytes(type >> 8, type & 0xff), payload);
}
export function sll(proto: number, payload: Uint8Array): Uint8Array {
  return concat(bytes(0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0), bytes(proto >> 8, proto & 0xff), payload);
}
export function sll2(proto: number, payload: Uint8Array): Uint8Array {
  return concat(bytes(proto >> 8, proto & 0xff, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6), bytes(2, 0, 0, 0, 0, 1, 0, 0), payload);
}
export function nullLink(family: number, littleEndian: boolean, payload: Uint8Array): Uint8Array {
  const h = new Uint8Array(4);
  new DataView(h.buffer).setUint32(0, family, littleEndian);
  return concat(h, payload);
}

// ---- capture files ----

export interface PcapRec {
  sec?: number;
  frac?: number;
  data: Uint8Array;
  orig?: number;
  caplen?: number;
}

export function pcapHeader(le: boolean, nano: boolean, linkTypeField: number, snaplen = 262144): Uint8Array {
  const h = new Uint8Array(24);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, nano ? 0xa1b23c4d : 0xa1b2c3d4, le);
  dv.setUint16(4, 2, le);
  dv.setUint16(6, 4, le);
  dv.setUint32(16, snaplen, le);
  dv.setUint32(20, linkTypeField, le);
  return h;
}

export function pcapRecord(le: boolean, r: PcapRec): Uint8Array {
  const h = new Uint8Array(16);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, r.sec ?? 1700000000, le);
  dv.setUint32(4, r.frac ?? 123456, le);
  dv.setUint32(8, r.caplen ?? r.data.length, le);
  dv.setUint32(12, r.orig ?? r.data.length, le);
  return concat(h, r.data);
}

export function pcapFile(le: boolean, nano: boolean, linkTypeField: number, recs: PcapRec[], snaplen = 262144): Uint8Array {
  return concat(pcapHeader(le, nano, linkTypeField, snaplen), ...recs.map((r) => pcapRecord(le, r)));
}

const pad4 = (n: number) => (n + 3) & ~3;

/** A pcapng block: type, total length, body padded to 4, total length */
export function block(le: boolean, type: number, body: Uint8Array): Uint8Array {
  const len = 12 + pad4(body.length);
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, type, le);
  dv.setUint32(4, len, le);
  b.set(body, 8);
  dv.setUint32(len - 4, len, le);
  return b;
}

export function option(le: boolean, code: number, value: Uint8Array): Uint8Array {
  const b = new Uint8Array(4 + pad4(value.length));
  const dv = new DataView(b.buffer);
  dv.setUint16(0, code, le);
  dv.setUint16(2, value.length, le);
  b.set(value, 4);
  return b;
}
export const endOfOptions = (): Uint8Array => new Uint8Array(4);
export const text = (s: string): Uint8Array => new TextEncoder().encode(s);

export function shb(le: boolean, options: Uint8Array[] = [], sectionLength = -1n): Uint8Array {
  const body = new Uint8Array(16);
  const dv = new DataView(body.buffer);
  dv.setUint32(0, 0x1a2b3c4d, le);
  dv.setUint16(4, 1, le);
  dv.setUint16(6, 0, le);
  dv.setBigInt64(8, sectionLength, le);
  return block(le, 0x0a0d0d0a, concat(body, ...options));
}

export function idb(le: boolean, linkType: number, snaplen = 0, options: Uint8Array[] = []): Uint8Array {
  const body = new Uint8Array(8);
  const dv = new DataView(body.buffer);
  dv.setUint16(0, linkType, le);
  dv.setUint32(4, snaplen, le);
  return block(le, 1, concat(body, ...options));
}

export function epb(le: boolean, ifid: number, ticks: bigint, data: Uint8Array, options: Uint8Array[] = [], orig = data.length): Uint8Array {
  const body = new Uint8Array(20);
  const dv = new DataView(body.buffer);
  dv.setUint32(0, ifid, le);
  dv.setUint32(4, Number(ticks >> 32n), le);
  dv.setUint32(8, Number(ticks & 0xffffffffn), le);
  dv.setUint32(12, data.length, le);
  dv.setUint32(16, orig, le);
  return block(le, 6, concat(body, data, new Uint8Array(pad4(data.length) - data.length), ...options));
}

export function pb(le: boolean, ifid: number, drops: number, ticks: bigint, data: Uint8Array, options: Uint8Array[] = []): Uint8Array {
  const body = new Uint8Array(20);
  const dv = new DataView(body.buffer);
  dv.setUint16(0, ifid, le);
  dv.setUint16(2, drops, le);
  dv.setUint32(4, Number(ticks >> 32n), le);
  dv.setUint32(8, Number(ticks & 0xffffffffn), le);
  dv.setUint32(12, data.length, le);
  dv.setUint32(16, data.length, le);
  return block(le, 2, concat(body, data, new Uint8Array(pad4(data.length) - data.length), ...options));
}

export function spb(le: boolean, data: Uint8Array, orig = data.length): Uint8Array {
  const body = new Uint8Array(4);
  new DataView(body.buffer).setUint32(0, orig, le);
  return block(le, 3, concat(body, data));
}

/** Independent reading of a pcap file's records (for checking what the writer wrote). */
export function parsePcap(file: Uint8Array): { le: boolean; nano: boolean; snaplen: number; linkTypeField: number; records: { sec: number; frac: number; caplen: number; orig: number; data: Uint8Array }[] } {
  const dv = new DataView(file.buffer, file.byteOffset, file.length);
  const magicLe = dv.getUint32(0, true);
  const le = magicLe === 0xa1b2c3d4 || magicLe === 0xa1b23c4d;
  const magic = dv.getUint32(0, le);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error('bad magic');
  const records = [];
  let at = 24;
  while (at < file.length) {
    const caplen = dv.getUint32(at + 8, le);
    if (at + 16 + caplen > file.length) throw new Error(`record at ${at} overruns the file`);
    records.push({ sec: dv.getUint32(at, le), frac: dv.getUint32(at + 4, le), caplen, orig: dv.getUint32(at + 12, le), data: file.slice(at + 16, at + 16 + caplen) });
    at += 16 + caplen;
  }
  return { le, nano: magic === 0xa1b23c4d, snaplen: dv.getUint32(16, le), linkTypeField: dv.getUint32(20, le), records };
}
