/**
 * The packet the receiver would have after IPsec processing, as a frame of
 * the capture's link type: what --decrypt writes in place of the captured
 * one. Transport mode keeps the outer IP header and puts the payload where
 * the IPsec header was (RFC 4303 section 3.1.1, RFC 4302 section 3.1.1);
 * tunnel mode keeps only the link header in front of the inner packet
 * (RFC 4301 section 5.1.2).
 */
import { checksumFieldOffset, ipv4HeaderChecksum, transportChecksum } from './checksum.js';
import type { IpsecFound } from './ip.js';
import { linkLayer, type IpVersion, type RewriteOptions } from './linktypes.js';

/**
 * The new frame as two pieces, `head` (link and IP headers, a copy) and
 * `body` (the payload as given), so that a writer can write them one after
 * the other without joining them; `frame` joins them when asked.
 */
export class Rebuilt {
  readonly ok = true as const;
  constructor(
    readonly head: Uint8Array,
    readonly body: Uint8Array,
  ) {}
  get length(): number {
    return this.head.length + this.body.length;
  }
  get frame(): Uint8Array {
    const out = new Uint8Array(this.length);
    out.set(this.head);
    out.set(this.body, this.head.length);
    return out;
  }
}

export interface RebuildProblem {
  readonly ok: false;
  readonly reason: 'link-cannot-carry' | 'inner-not-ip' | 'too-long';
  readonly detail: string;
}

const problem = (reason: RebuildProblem['reason'], detail: string): RebuildProblem => ({ ok: false, reason, detail });
const set16 = (b: Uint8Array, at: number, v: number): void => {
  b[at] = v >> 8;
  b[at + 1] = v & 0xff;
};

/**
 * Transport mode: the frame up to the IPsec header (or the UDP header that
 * encapsulated it), then `payload`; the protocol byte that pointed at the
 * IPsec header now says `nextHeader`, and the IP lengths (and the IPv4
 * header checksum) are those of the new packet. Trailing link bytes (padding,
 * FCS) are dropped with the old payload.
 */
export function rebuildTransport(frame: Uint8Array, found: IpsecFound, payload: Uint8Array, nextHeader: number): Rebuilt | RebuildProblem {
  const headEnd = found.udp ? found.udp.offset : found.offset;
  const head = frame.slice(0, headEnd);
  const length = headEnd + payload.length;
  head[found.nextHeaderOffset] = nextHeader;
  const ip = found.ipOffset;
  if (found.version === 4) {
    const total = length - ip;
    if (total > 0xffff) return problem('too-long', `IPv4 packet of ${total} bytes`);
    set16(head, ip + 2, total);
    set16(head, ip + 10, ipv4HeaderChecksum(head, ip));
  } else {
    const plen = length - ip - 40;
    if (plen > 0xffff) return problem('too-long', `IPv6 payload of ${plen} bytes`);
    set16(head, ip + 4, plen);
  }
  // RFC 3948 section 3.1.2: behind a NAT the TCP/UDP checksum was computed over
  // addresses the packet no longer carries; the receiver recomputes it (in the
  // payload, which is the caller's to change)
  if (found.udp) fixTransportChecksum(payload, found, nextHeader);
  return new Rebuilt(head, payload);
}

function fixTransportChecksum(seg: Uint8Array, found: IpsecFound, protocol: number): void {
  const field = checksumFieldOffset(protocol);
  if (field === undefined || seg.length < field + 2) return;
  // RFC 768: an IPv4 UDP checksum of 0 means none was sent; the receiver checks nothing
  if (protocol === 17 && found.version === 4 && seg[field] === 0 && seg[field + 1] === 0) return;
  set16(seg, field, transportChecksum(found.src, found.dst, protocol, seg, 0, seg.length));
}

/** AH in transport mode: the AH header removed, the next header taken from it (RFC 4302 section 2.1). */
export function stripAh(frame: Uint8Array, found: IpsecFound): Rebuilt | RebuildProblem {
  if (found.protocol !== 'ah' || found.ahLength === undefined || found.ahNextHeader === undefined) {
    throw new TypeError('stripAh needs an AH dissection');
  }
  return rebuildTransport(frame, found, frame.subarray(found.offset + found.ahLength, found.end), found.ahNextHeader);
}

/**
 * Tunnel mode: the frame's link header, its protocol field rewritten when
 * the inner packet is of the other IP version, then the inner packet.
 */
export function rebuildTunnel(frame: Uint8Array, found: IpsecFound, linkType: number, inner: Uint8Array, options: RewriteOptions = {}): Rebuilt | RebuildProblem {
  const v = inner.length > 0 ? inner[0]! >> 4 : 0;
  if (v !== 4 && v !== 6) return problem('inner-not-ip', `inner packet of IP version ${v}`);
  const version = v as IpVersion;
  const head = frame.slice(0, found.ipOffset);
  if (version !== found.version) {
    const layer = linkLayer(linkType);
    if (!layer || !layer.announce(head, version, options)) {
      return problem('link-cannot-carry', `link type ${linkType} cannot carry the inner IPv${version} packet`);
    }
  }
  return new Rebuilt(head, inner);
}
