/**
 * The bytes an AH ICV covers (RFC 4302 section 3.3.3.1): a copy of the IP
 * packet with the fields routers may change zeroed, and the AH ICV itself
 * zeroed. Walking IPv4 options and IPv6 extension headers is done here so
 * that the verifier and the sealer share one reading of the rules.
 */

/** IPv4 options that are immutable in transit (RFC 4302 Appendix A.1); every other option is zeroed whole. */
const IMMUTABLE_V4_OPTIONS: ReadonlyMap<number, string> = new Map([
  [0x00, 'End of Options List'],
  [0x01, 'No Operation'],
  [0x82, 'Security (RFC 1108)'],
  [0x85, 'Extended Security (RFC 1108)'],
  [0x86, 'Commercial Security'],
  [0x94, 'Router Alert (RFC 2113)'],
  [0x95, 'Sender Directed Multi-Destination Delivery (RFC 1770)'],
]);

/** IPv6 extension headers walked through (RFC 8200 section 4); anything else ends the chain. */
export const V6 = { HOPOPTS: 0, ROUTING: 43, FRAGMENT: 44, AH: 51, DSTOPTS: 60 } as const;

/** RFC 8200 section 4.2: the third-highest bit of an option type says its data may change en route. */
const V6_OPT_MUTABLE = 0x20;

export type IcvInput =
  | { readonly ok: true; readonly bytes: Uint8Array; readonly ahLen: number }
  | { readonly ok: false; readonly reason: 'short' | 'header' };

const SHORT = { ok: false, reason: 'short' } as const;
const HEADER = { ok: false, reason: 'header' } as const;

function be16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}

/**
 * RFC 4302 section 3.3.3.1.1.2: "if an option is classified as mutable, the
 * entire option is zeroed". Returns false for options that overrun the header.
 */
function zeroV4Options(p: Uint8Array, end: number): boolean {
  let i = 20;
  while (i < end) {
    const type = p[i]!;
    if (type === 0x00) return true; // End of Options List: the rest is padding, kept as sent
    if (type === 0x01) {
      i += 1;
      continue;
    }
    if (i + 1 >= end) return false;
    const len = p[i + 1]!;
    if (len < 2 || i + len > end) return false;
    if (!IMMUTABLE_V4_OPTIONS.has(type)) p.fill(0, i, i + len);
    i += len;
  }
  return true;
}

/**
 * RFC 4302 section 3.3.3.1.1.1: TOS, flags, fragment offset, TTL and header
 * checksum are zeroed. The destination address is left as captured: with
 * source routing it is "mutable but predictable" and is the final
 * destination only when the capture was taken there (as Linux's ah4_input
 * also leaves it on receipt).
 */
function zeroV4(p: Uint8Array, ihl: number): boolean {
  p[1] = 0;
  p[6] = 0;
  p[7] = 0;
  p[8] = 0;
  p[10] = 0;
  p[11] = 0;
  return zeroV4Options(p, ihl);
}

/** Zero the data of options marked "may change en route" in a Hop-by-Hop or Destination Options header. */
function zeroV6Options(p: Uint8Array, start: number, end: number): boolean {
  let i = start + 2;
  while (i < end) {
    if (p[i] === 0) {
      i += 1; // Pad1
      continue;
    }
    if (i + 1 >= end) return false;
    const len = 2 + p[i + 1]!;
    if (i + len > end) return false;
    if (p[i]! & V6_OPT_MUTABLE) p.fill(0, i + 2, i + len);
    i += len;
  }
  return true;
}

/**
 * RFC 4302 section 3.3.3.1.2: Version is kept, Traffic Class and Flow Label
 * and Hop Limit are zeroed; options flagged mutable have their data zeroed
 * in every Hop-by-Hop and Destination Options header, before or after AH.
 * A Routing header is "mutable but predictable": it is taken as captured,
 * which is how it will be at the final destination (as KAME's ah6_calccksum
 * does on input); so is the destination address.
 */
function zeroV6(p: Uint8Array, total: number, ahOffset: number): boolean {
  p[0]! &= 0xf0;
  p[1] = 0;
  p[2] = 0;
  p[3] = 0;
  p[7] = 0;
  let nh = p[6]!;
  let off = 40;
  let sawAh = false;
  while (off < total) {
    const ext = nh === V6.HOPOPTS || nh === V6.DSTOPTS || nh === V6.ROUTING || nh === V6.FRAGMENT || nh === V6.AH;
    if (!ext) break; // the upper-layer header: covered as it is
    if (off + 2 > total) return false;
    let len: number;
    if (nh === V6.HOPOPTS || nh === V6.DSTOPTS) {
      len = (p[off + 1]! + 1) * 8;
      if (off + len > total || !zeroV6Options(p, off, off + len)) return false;
    } else if (nh === V6.ROUTING) {
      len = (p[off + 1]! + 1) * 8;
    } else if (nh === V6.FRAGMENT) {
      len = 8;
    } else {
      len = (p[off + 1]! + 2) * 4; // AH
      if (off === ahOffset) sawAh = true;
    }
    if (off < ahOffset && off + len > ahOffset) return false;
    nh = p[off]!;
    off += len;
  }
  return sawAh;
}

/**
 * A copy of `packet` (bounded by its IP length) with the mutable fields and
 * the AH ICV at ahOffset zeroed, ready to be MACed. icvOff: 12 for RFC 4302
 * AH, 8 for RFC 1826 AH; icvLen: the ICV bytes to zero (padding stays).
 */
export function icvInput(
  packet: Uint8Array,
  ipVersion: number,
  ahOffset: number,
  icvOff: number,
  icvLen: number,
  scratch: Uint8Array,
): IcvInput {
  let total: number;
  if (ipVersion === 4) {
    if (packet.length < 20) return SHORT;
    const ihl = (packet[0]! & 0x0f) * 4;
    total = be16(packet, 2);
    if (ihl < 20 || total < ihl || ahOffset < ihl) return HEADER;
  } else if (ipVersion === 6) {
    if (packet.length < 40) return SHORT;
    total = 40 + be16(packet, 4);
    if (total === 40 || ahOffset < 40) return HEADER; // jumbograms (payload length 0) are not walked
  } else {
    return HEADER;
  }
  if (total > packet.length || ahOffset + 8 > total) return SHORT;
  const ahLen = (packet[ahOffset + 1]! + 2) * 4;
  if (ahOffset + ahLen > total) return SHORT;
  if (icvOff + icvLen > ahLen) return HEADER;
  const p = scratch.length >= total ? scratch.subarray(0, total) : new Uint8Array(total);
  p.set(packet.subarray(0, total));
  const walked = ipVersion === 4 ? zeroV4(p, (p[0]! & 0x0f) * 4) : zeroV6(p, total, ahOffset);
  if (!walked) return HEADER;
  p.fill(0, ahOffset + icvOff, ahOffset + icvOff + icvLen);
  return { ok: true, bytes: p, ahLen };
}
