/**
 * Finding the IPsec header in a captured frame: link header, IPv4 (RFC 791)
 * or IPv6 with its extension headers (RFC 8200 section 4), then ESP (50,
 * RFC 4303), AH (51, RFC 4302), IPComp (108, RFC 3173), or ESP in UDP
 * (RFC 3948). Pure and total: any bytes give a result or a reason, never an
 * exception.
 */
import { formatIpv6 } from '../model/address.js';
import { locateIp, type IpVersion } from './linktypes.js';


export type IpsecProtocol = 'esp' | 'ah' | 'ipcomp';

export const IPPROTO = { HOPOPTS: 0, TCP: 6, UDP: 17, ROUTING: 43, FRAGMENT: 44, ESP: 50, AH: 51, NONE: 59, DSTOPTS: 60, IPCOMP: 108 } as const;
const PROTOCOL_OF: ReadonlyMap<number, IpsecProtocol> = new Map([
  [IPPROTO.ESP, 'esp'],
  [IPPROTO.AH, 'ah'],
  [IPPROTO.IPCOMP, 'ipcomp'],
]);
/** RFC 3948 section 2: the IKE/ESP port */
export const NAT_T_PORT = 4500;

export interface UdpEncap {
  readonly offset: number;
  readonly srcPort: number;
  readonly dstPort: number;
}

export interface IpsecFound {
  readonly ok: true;
  readonly version: IpVersion;
  /** offset of the (outer) IP header in the frame; the link header is frame[0, ipOffset) */
  readonly ipOffset: number;
  /** end of the IP packet by its own length (link padding, FCS and trailers lie beyond) */
  readonly ipEnd: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly srcText: string;
  readonly dstText: string;
  readonly protocol: IpsecProtocol;
  /** offset of the ESP / AH / IPComp header */
  readonly offset: number;
  /** end of the IPsec header and payload (= ipEnd, or the UDP length's end when that is shorter) */
  readonly end: number;
  /** the byte holding the protocol number that leads to the IPsec header (or to UDP when encapsulated): IPv4 protocol or the previous IPv6 next header */
  readonly nextHeaderOffset: number;
  /** ESP and AH: the SPI; IPComp: the CPI */
  readonly spi: number;
  readonly udp?: UdpEncap;
  /** AH only: the header's own next header, and its length in bytes (ICV included) */
  readonly ahNextHeader?: number;
  readonly ahLength?: number;
}

export type NotFoundReason = 'not-ip' | 'fragment' | 'truncated' | 'not-ipsec';

export interface IpsecNotFound {
  readonly ok: false;
  readonly reason: NotFoundReason;
  /** a short phrase for diagnostics ("protocol 6", "IKE (non-ESP marker)", ...) */
  readonly detail: string;
}

export interface DissectOptions {
  /** UDP ports besides 4500 that carry ESP (the NAT-T ports of the SAs) */
  readonly natTPorts?: ReadonlySet<number> | readonly number[];
}

const u16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
const u32 = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
const notFound = (reason: NotFoundReason, detail: string): IpsecNotFound => ({ ok: false, reason, detail });

/** Dissect a frame of the given link type. */
export function dissect(frame: Uint8Array, linkType: number, options: DissectOptions = {}): IpsecFound | IpsecNotFound {
  const link = locateIp(linkType, frame);
  if ('reason' in link) return notFound(link.reason, link.detail);
  return dissectIp(frame, link.ipOffset, link.claimed, options);
}

/** Dissect the IP packet at frame[ipOffset]; `claimed` is the version the link header announced, if any. */
export function dissectIp(frame: Uint8Array, ipOffset: number, claimed?: IpVersion, options: DissectOptions = {}): IpsecFound | IpsecNotFound {
  if (ipOffset >= frame.length) return notFound('truncated', 'no IP header in the frame');
  const version = frame[ipOffset]! >> 4;
  if (version !== 4 && version !== 6) return notFound('not-ip', `IP version ${version}`);
  if (claimed !== undefined && claimed !== version) return notFound('not-ip', `link header says IPv${claimed}, packet is IPv${version}`);
  const head = version === 4 ? ipv4Header(frame, ipOffset) : ipv6Headers(frame, ipOffset);
  if (!head.ok) return head;
  return classify(frame, version, ipOffset, head, options);
}

/** The IP header(s) walked: where the upper-layer header starts and which byte names it. */
interface Walked {
  readonly ok: true;
  readonly ipEnd: number;
  readonly next: number;
  readonly at: number;
  readonly nextHeaderOffset: number;
}

function ipv4Header(b: Uint8Array, ip: number): Walked | IpsecNotFound {
  if (b.length - ip < 20) return notFound('truncated', `IPv4 header cut at ${b.length - ip} bytes`);
  const ihl = (b[ip]! & 0x0f) * 4;
  if (ihl < 20) return notFound('not-ip', `IPv4 header length ${ihl}`);
  if (b.length - ip < ihl) return notFound('truncated', `IPv4 header of ${ihl} bytes cut at ${b.length - ip}`);
  const total = u16(b, ip + 2);
  // 0 is what segmentation offload leaves in captured outgoing packets: the frame's end is the packet's
  if (total !== 0 && total < ihl) return notFound('not-ip', `IPv4 total length ${total} below the header length ${ihl}`);
  const frag = u16(b, ip + 6);
  // RFC 791: more fragments (0x2000) or a fragment offset: only reassembly would give the ESP packet
  if (frag & 0x3fff) return notFound('fragment', `IPv4 fragment (offset ${(frag & 0x1fff) * 8}${frag & 0x2000 ? ', more fragments' : ''})`);
  return { ok: true, ipEnd: total === 0 ? b.length : ip + total, next: b[ip + 9]!, at: ip + ihl, nextHeaderOffset: ip + 9 };
}

function ipv6Headers(b: Uint8Array, ip: number): Walked | IpsecNotFound {
  if (b.length - ip < 40) return notFound('truncated', `IPv6 header cut at ${b.length - ip} bytes`);
  const plen = u16(b, ip + 4);
  // 0: a jumbogram (RFC 2675) or an offloaded segment: the frame's end is the packet's
  const ipEnd = plen === 0 ? b.length : ip + 40 + plen;
  const avail = Math.min(ipEnd, b.length);
  let next = b[ip + 6]!;
  let nh = ip + 6;
  let at = ip + 40;
  // every extension header is at least 8 bytes, so this walk ends within the packet
  while (next === IPPROTO.HOPOPTS || next === IPPROTO.ROUTING || next === IPPROTO.DSTOPTS || next === IPPROTO.FRAGMENT) {
    if (avail - at < 8) return notFound('truncated', `IPv6 extension header ${next} cut short`);
    let len = (b[at + 1]! + 1) * 8;
    if (next === IPPROTO.FRAGMENT) {
      const off = u16(b, at + 2);
      // RFC 6946: offset 0 and M clear is an atomic fragment, a whole packet
      if (off & 0xfff9) return notFound('fragment', `IPv6 fragment (offset ${off & 0xfff8}${off & 1 ? ', more fragments' : ''})`);
      len = 8;
    }
    nh = at;
    next = b[at]!;
    at += len;
  }
  return { ok: true, ipEnd, next, at, nextHeaderOffset: nh };
}

/**
 * A dissection: the addresses are views of the frame (the caller keeps the
 * frame), their text made only when asked (most packets are matched by bytes
 * and never named); one class, so the texts' getters cost no closure a packet.
 */
class Found implements IpsecFound {
  readonly ok = true as const;
  spi = 0;
  udp?: UdpEncap;
  ahNextHeader?: number;
  ahLength?: number;
  constructor(
    readonly version: IpVersion,
    readonly ipOffset: number,
    readonly ipEnd: number,
    readonly src: Uint8Array,
    readonly dst: Uint8Array,
    readonly protocol: IpsecProtocol,
    readonly offset: number,
    readonly end: number,
    readonly nextHeaderOffset: number,
  ) {}
  get srcText(): string {
    return addressText(this.src);
  }
  get dstText(): string {
    return addressText(this.dst);
  }
}

const addressText = (a: Uint8Array): string => (a.length === 4 ? a.join('.') : formatIpv6(a));

function classify(b: Uint8Array, version: IpVersion, ip: number, w: Walked, options: DissectOptions): IpsecFound | IpsecNotFound {
  const cut = w.ipEnd > b.length;
  const avail = Math.min(w.ipEnd, b.length);
  const short = (what: string, need: number): IpsecNotFound =>
    notFound('truncated', cut ? `${what} captured ${b.length - ip} of ${w.ipEnd - ip} bytes` : `${what} needs ${need} bytes, the IP packet leaves ${Math.max(0, avail - w.at)}`);
  let at = w.at;
  let end = avail;
  let udp: UdpEncap | undefined;
  let protocol = PROTOCOL_OF.get(w.next);
  if (w.next === IPPROTO.UDP) {
    if (avail - at < 8) return cut ? short('UDP', 8) : notFound('not-ipsec', 'UDP header cut short');
    const encap = udpEncap(b, at, avail, options);
    if (!encap.ok) return encap;
    udp = encap.udp;
    at += 8;
    end = encap.end;
    protocol = 'esp';
  }
  if (protocol === undefined) return notFound('not-ipsec', `protocol ${w.next}`);
  const min = protocol === 'esp' ? 8 : protocol === 'ah' ? 12 : 4;
  if (end - at < min || cut) return short(protocol.toUpperCase(), min);
  const srcAt = version === 4 ? ip + 12 : ip + 8;
  const dstAt = version === 4 ? ip + 16 : ip + 24;
  const len = version === 4 ? 4 : 16;
  const found = new Found(version, ip, w.ipEnd, b.subarray(srcAt, srcAt + len), b.subarray(dstAt, dstAt + len), protocol, at, end, w.nextHeaderOffset);
  if (protocol === 'ipcomp') {
    found.spi = u16(b, at + 2);
    return found;
  }
  if (protocol === 'esp') {
    found.spi = u32(b, at);
    if (udp) found.udp = udp;
    return found;
  }
  // RFC 4302 section 2.2: payload length in 32-bit words, minus 2
  const ahLength = (b[at + 1]! + 2) * 4;
  if (end - at < ahLength) return short('AH', ahLength);
  found.spi = u32(b, at + 4);
  found.ahNextHeader = b[at]!;
  found.ahLength = ahLength;
  return found;
}

/** RFC 3948 section 2: on the NAT-T ports, a UDP payload is ESP unless it is IKE (non-ESP marker) or a keepalive. */
function udpEncap(b: Uint8Array, at: number, avail: number, options: DissectOptions): { ok: true; udp: UdpEncap; end: number } | IpsecNotFound {
  const srcPort = u16(b, at);
  const dstPort = u16(b, at + 2);
  if (!isNatTPort(srcPort, options) && !isNatTPort(dstPort, options)) return notFound('not-ipsec', `UDP ${srcPort} -> ${dstPort}`);
  const udpLen = u16(b, at + 4);
  // the UDP length bounds the payload when it is sane; otherwise the IP length does
  const end = udpLen >= 8 && udpLen <= avail - at ? at + udpLen : avail;
  const payload = end - at - 8;
  if (payload === 1 && b[at + 8] === 0xff) return notFound('not-ipsec', 'NAT-keepalive');
  if (payload >= 4 && u32(b, at + 8) === 0) return notFound('not-ipsec', 'IKE (non-ESP marker)');
  if (payload < 8) return notFound('not-ipsec', `UDP payload of ${payload} bytes on a NAT-T port: not ESP`);
  return { ok: true, udp: { offset: at, srcPort, dstPort }, end };
}

function isNatTPort(port: number, options: DissectOptions): boolean {
  if (port === NAT_T_PORT) return true;
  const extra = options.natTPorts;
  if (extra === undefined) return false;
  return Array.isArray(extra) ? extra.includes(port) : (extra as ReadonlySet<number>).has(port);
}
