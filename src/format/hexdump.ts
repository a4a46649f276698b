/**
 * setkey's -H hexdump (setkey.c sendkeymsg): "%08x: " at each 16-byte row,
 * "%02x " per byte, a newline after each full row and after a partial last row.
 */
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0') + ' ');

export function hexdump(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; i++) {
    if (i % 16 === 0) out += i.toString(16).padStart(8, '0') + ': ';
    out += HEX[b[i]!];
    if (i % 16 === 15) out += '\n';
  }
  if (b.length % 16) out += '\n';
  return out;
}

/** hex digits as bytes, for printers that write bytes */
export const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** where ipsecHexdump writes a key of up to 1024 bytes (a longer one gets its own) */
const SCRATCH = Buffer.allocUnsafe(3 * 1024);

/**
 * libipsec's ipsec_hexdump(): a space before every 4-byte group, two hex
 * digits per byte, a bare newline before bytes 32, 64, ... (no trailing newline).
 * Written as bytes and read as one string: built a piece a byte, the text of
 * one SA's keys was ~100 strings, the most garbage of a dump of 100k SAs.
 */
export function ipsecHexdump(b: Uint8Array, start = 0, len = b.length - start): string {
  // 2 digits a byte, a space for every 4 and a newline for every 32: under 3 bytes a byte
  const out = len * 3 > SCRATCH.length ? Buffer.allocUnsafe(len * 3) : SCRATCH;
  return out.toString('latin1', 0, putIpsecHexdump(out, 0, b, start, len));
}

/** a byte's two hex digits as one u16 (first digit in the low byte) */
const PAIRS = new Uint16Array(256);
for (let i = 0; i < 256; i++) PAIRS[i] = HEX_DIGITS[i >>> 4]! | (HEX_DIGITS[i & 15]! << 8);

/**
 * ipsecHexdump's text written into `out` at `n` (room for 3 bytes a byte);
 * returns where it ends. Whole 4-byte groups a step (a space and 8 digits,
 * no test a byte): the keys' text was the dump's largest piece of work.
 */
export function putIpsecHexdump(out: Uint8Array, n: number, b: Uint8Array, start: number, len: number): number {
  const whole = len & ~3;
  let i = 0;
  for (; i < whole; i += 4) {
    if (i !== 0 && (i & 31) === 0) out[n++] = 10;
    out[n] = 32;
    let p = PAIRS[b[start + i]!]!;
    out[n + 1] = p;
    out[n + 2] = p >>> 8;
    p = PAIRS[b[start + i + 1]!]!;
    out[n + 3] = p;
    out[n + 4] = p >>> 8;
    p = PAIRS[b[start + i + 2]!]!;
    out[n + 5] = p;
    out[n + 6] = p >>> 8;
    p = PAIRS[b[start + i + 3]!]!;
    out[n + 7] = p;
    out[n + 8] = p >>> 8;
    n += 9;
  }
  for (; i < len; i++) {
    if (i !== 0 && (i & 31) === 0) out[n++] = 10;
    if ((i & 3) === 0) out[n++] = 32;
    const p = PAIRS[b[start + i]!]!;
    out[n++] = p;
    out[n++] = p >>> 8;
  }
  return n;
}
