/**
 * AH (RFC 4302, and RFC 1826 for KAME's ah-old SAs): verify a packet's ICV,
 * and seal packets for tests and benchmark captures.
 *
 * RFC 4302 section 2: Next Header (1) | Payload Len (1, 32-bit words - 2) |
 * Reserved (2) | SPI (4) | Sequence Number (4) | ICV (+ padding to 32 bits
 * for IPv4, 64 for IPv6). RFC 1826: Next Header | Length (words of
 * authentication data) | Reserved | SPI | authentication data; the same
 * total, (length + 2) * 4, and no sequence number (KAME's ah4_calccksum).
 */
import { SaFlag } from '../model/tables.js';
import { icvInput, V6 } from './ah-mutable.js';
import { type Mac, makeMac } from './integrity.js';
import { type AhNotVerified, type AhResult, type EspSa, type Unsupported, be32, isUnsupported, putBe32, unsupported } from './types.js';
import type { OpenSsl } from '../sys/libcrypto.js';

/** Largest IP packet (IPv6 header + 65535-byte payload): one scratch buffer per SA, never reallocated. */
const MAX_PACKET = 40 + 65535;

export interface AhVerifier {
  readonly integrity: string;
  readonly icvLen: number;
  /** verify the AH at ahOffset of an IP packet (from its IP header); seqHigh: ESN high half */
  verify(ipPacket: Uint8Array, ipVersion: number, ahOffset: number, seqHigh?: number): AhResult;
}

interface AhTransform {
  readonly mac: Mac;
  readonly old: boolean;
  readonly icvOff: number;
  readonly esn: boolean;
}

function buildAh(sa: EspSa, openssl?: OpenSsl): AhTransform | Unsupported {
  const old = sa.old ?? (sa.flags & SaFlag.OLD) !== 0;
  if (!sa.auth) return unsupported('combination', 'cannot verify AH: the SA has no authentication algorithm');
  const mac = makeMac(sa.auth.name, sa.auth.key, old, openssl);
  if (isUnsupported(mac)) return mac;
  if (mac.icvLen === 0) return unsupported('combination', 'cannot verify null: AH with the null algorithm has no ICV to check');
  return { mac, old, icvOff: old ? 8 : 12, esn: sa.esn && !old };
}

const fail = (reason: AhNotVerified['reason']): AhNotVerified => ({ ok: false, reason });

/** An AH verifier for an SA, or why it cannot verify (`cannot verify ...`). */
export function ahVerifier(sa: EspSa, openssl?: OpenSsl): AhVerifier | Unsupported {
  const t = buildAh(sa, openssl);
  if (isUnsupported(t)) return t;
  const scratch = new Uint8Array(MAX_PACKET);
  const hi = new Uint8Array(4);
  const verify = (pkt: Uint8Array, ipVersion: number, ahOffset: number, seqHigh = 0): AhResult => {
    if (ahOffset < 0 || ahOffset + t.icvOff + t.mac.icvLen > pkt.length) return fail('short');
    const input = icvInput(pkt, ipVersion, ahOffset, t.icvOff, t.mac.icvLen, scratch);
    if (!input.ok) return fail(input.reason);
    const icvAt = ahOffset + t.icvOff;
    let tail: Uint8Array | undefined;
    if (t.esn) {
      // RFC 4302 section 3.3.3.2.2 / 2.5.1: the ESN's high half is appended to the packet for the ICV only
      putBe32(hi, 0, seqHigh >>> 0);
      tail = hi;
    }
    if (!t.mac.verify(input.bytes, tail, pkt.subarray(icvAt, icvAt + t.mac.icvLen))) return fail('icv');
    return { ok: true, nextHeader: pkt[ahOffset]!, ahLength: input.ahLen, seq: t.old ? 0 : be32(pkt, ahOffset + 8) };
  };
  return {
    integrity: t.mac.name,
    icvLen: t.mac.icvLen,
    verify: (pkt, v, off, hi2) => {
      try {
        return verify(pkt, v, off, hi2);
      } catch {
        return fail('header');
      }
    },
  };
}

export interface AhSealer {
  /**
   * A copy of ipPacket with an AH inserted at insertAt (after the IPv4
   * header, or after the IPv6 header and the extension headers before it);
   * lengths, next-header fields and the IPv4 checksum are updated.
   */
  seal(ipPacket: Uint8Array, ipVersion: 4 | 6, insertAt: number, seq: number, seqHigh?: number): Uint8Array;
}

/** The offset of the next-header field that names the header at `at` (throws: a sealer's caller error). */
function nextHeaderField(p: Uint8Array, ipVersion: 4 | 6, at: number): number {
  if (ipVersion === 4) {
    if (at !== (p[0]! & 0x0f) * 4) throw new Error('AH goes right after the IPv4 header');
    return 9;
  }
  let field = 6;
  let off = 40;
  while (off < at) {
    const nh = p[field]!;
    if (nh !== V6.HOPOPTS && nh !== V6.DSTOPTS && nh !== V6.ROUTING && nh !== V6.FRAGMENT && nh !== V6.AH) break;
    field = off;
    off += nh === V6.FRAGMENT ? 8 : nh === V6.AH ? (p[off + 1]! + 2) * 4 : (p[off + 1]! + 1) * 8;
  }
  if (off !== at) throw new Error(`no IPv6 header ends at offset ${at}`);
  return field;
}

/** RFC 791 header checksum over an IPv4 header. */
function ipv4Checksum(p: Uint8Array, ihl: number): number {
  let sum = 0;
  for (let i = 0; i < ihl; i += 2) sum += (p[i]! << 8) | p[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function fixLengths(out: Uint8Array, ipVersion: 4 | 6, ahLen: number): void {
  const lenOff = ipVersion === 4 ? 2 : 4;
  const len = ((out[lenOff]! << 8) | out[lenOff + 1]!) + ahLen;
  out[lenOff] = len >>> 8;
  out[lenOff + 1] = len & 0xff;
  if (ipVersion === 4) {
    const ihl = (out[0]! & 0x0f) * 4;
    out[10] = 0;
    out[11] = 0;
    const sum = ipv4Checksum(out, ihl);
    out[10] = sum >>> 8;
    out[11] = sum & 0xff;
  }
}

/** An AH sealer for an SA: the sending side, for tests and benchmark captures. */
export function ahSealer(sa: EspSa): AhSealer | Unsupported {
  const t = buildAh(sa);
  if (isUnsupported(t)) return t;
  return {
    seal(ip, ipVersion, insertAt, seq, seqHigh = 0) {
      const total = ipVersion === 4 ? (ip[2]! << 8) | ip[3]! : 40 + ((ip[4]! << 8) | ip[5]!);
      const field = nextHeaderField(ip, ipVersion, insertAt);
      // RFC 4302 section 3.3.3.2.1: pad the ICV field to 32 bits (IPv4) or 64 bits (IPv6)
      const align = ipVersion === 6 && !t.old ? 8 : 4;
      const raw = t.icvOff + t.mac.icvLen;
      const ahLen = Math.ceil(raw / align) * align;
      const out = new Uint8Array(total + ahLen);
      out.set(ip.subarray(0, insertAt), 0);
      out.set(ip.subarray(insertAt, total), insertAt + ahLen);
      out[insertAt] = ip[field]!;
      out[insertAt + 1] = ahLen / 4 - 2;
      putBe32(out, insertAt + 4, sa.spi >>> 0);
      if (!t.old) putBe32(out, insertAt + 8, seq >>> 0);
      out[field] = V6.AH;
      fixLengths(out, ipVersion, ahLen);
      const input = icvInput(out, ipVersion, insertAt, t.icvOff, t.mac.icvLen, new Uint8Array(out.length));
      if (!input.ok) throw new Error(`cannot seal: the packet's headers do not walk (${input.reason})`);
      let tail: Uint8Array | undefined;
      if (t.esn) {
        tail = new Uint8Array(4);
        putBe32(tail, 0, seqHigh >>> 0);
      }
      out.set(t.mac.compute(input.bytes, tail).subarray(0, t.mac.icvLen), insertAt + t.icvOff);
      return out;
    },
  };
}
