/**
 * The Internet checksum (RFC 1071) and the TCP/UDP pseudo-header sums of
 * RFC 793 / RFC 768 (IPv4) and RFC 8200 section 8.1 (IPv6).
 */

/** One's-complement sum of 16-bit big-endian words of b[start, end), added to `acc`, not folded (an odd tail is padded with zero). */
export function onesSum(b: Uint8Array, start = 0, end = b.length, acc = 0): number {
  let sum = acc;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < end) sum += b[i]! << 8;
  // fold now and then so the sum stays an exact integer on any length
  return sum > 0x7fffffff ? fold(sum) : sum;
}

/** Fold carries back into 16 bits (RFC 1071 section 4.1). */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum field value: complement of the folded sum. */
export function internetChecksum(b: Uint8Array, start = 0, end = b.length, acc = 0): number {
  return ~fold(onesSum(b, start, end, acc)) & 0xffff;
}

/** Sum of the pseudo-header: addresses, protocol, upper-layer length (v4: 16-bit length; v6: 32-bit length). */
export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  let sum = onesSum(src) + onesSum(dst) + protocol;
  sum += Math.floor(length / 0x10000) + (length & 0xffff);
  return sum;
}

/** The IPv4 header checksum of the header at b[at, at + ihl*4), computed with its checksum field taken as zero. */
export function ipv4HeaderChecksum(b: Uint8Array, at: number): number {
  const len = (b[at]! & 0x0f) * 4;
  const sum = onesSum(b, at, at + 10) + onesSum(b, at + 12, at + len);
  return ~fold(sum) & 0xffff;
}

/** Offset of the checksum field within a TCP (6) or UDP (17) header, or undefined. */
export function checksumFieldOffset(protocol: number): number | undefined {
  if (protocol === 6) return 16;
  if (protocol === 17) return 6;
  return undefined;
}

/**
 * The TCP or UDP checksum of the segment b[at, end) with its checksum field
 * taken as zero. For UDP a result of 0 is sent as 0xffff (RFC 768: zero
 * means "no checksum").
 */
export function transportChecksum(src: Uint8Array, dst: Uint8Array, protocol: number, b: Uint8Array, at: number, end: number): number {
  const field = at + checksumFieldOffset(protocol)!;
  const sum = pseudoHeaderSum(src, dst, protocol, end - at) + onesSum(b, at, field) + onesSum(b, field + 2, end);
  const c = ~fold(sum) & 0xffff;
  return protocol === 17 && c === 0 ? 0xffff : c;
}

/** True when the segment's stored checksum is right (a UDP checksum of 0 over IPv4 means none was computed). */
export function transportChecksumOk(src: Uint8Array, dst: Uint8Array, protocol: number, b: Uint8Array, at: number, end: number): boolean {
  const field = at + checksumFieldOffset(protocol)!;
  const stored = (b[field]! << 8) | b[field + 1]!;
  if (protocol === 17 && stored === 0 && src.length === 4) return true;
  return stored === transportChecksum(src, dst, protocol, b, at, end);
}
