/**
 * The store's numbers as values: a u64, 8 bytes little-endian (counters,
 * counts, an identity's pointer to its record). One codec for all of them.
 */

/** `v` as a stored value, from Node's pool: a fresh ArrayBuffer per counter and pointer cost an apply of 200k statements 0.17 s. */
export function u64(v: bigint): Uint8Array {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64LE(v);
  return b;
}

/**
 * Fields written byte by byte into a buffer: Buffer's writers check their
 * arguments in JavaScript at every call, which a table of 500k entries or a
 * bulk load's records pay millions of times.
 */
export function putU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

/** network byte order */
export function putU32BE(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

/** A u64 little-endian, modulo 2^64 (an order, a time: as Numbers, whose arithmetic is cheaper than a BigInt's). */
export function putU64(b: Uint8Array, at: number, v: bigint): void {
  if (v >= 0n && v < 0x20000000000000n) return putU64Number(b, at, Number(v));
  putU32(b, at, Number(v & 0xffffffffn));
  putU32(b, at + 4, Number((v >> 32n) & 0xffffffffn));
}

/** A u64 little-endian of a Number from 0 to 2^53 - 1. */
export function putU64Number(b: Uint8Array, at: number, n: number): void {
  const lo = n % 0x100000000;
  putU32(b, at, lo);
  putU32(b, at + 4, (n - lo) / 0x100000000);
}

/** `v` written into `b` (8 bytes), which is returned. */
export function u64Into(b: Uint8Array, v: bigint): Uint8Array {
  putU64(b, 0, v);
  return b;
}

export function readU64(b: Uint8Array): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true);
}
