/**
 * setkey's -H hexdump (setkey.c sendkeymsg): "%08x: " at each 16-byte row,
 * "%02x " per byte, a newline after each full row and after a partial last row.
 */
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0') + ' ');
/** the same without the space (a key of 48 bytes was 48 slices of the table above) */
const HEX2: string[] = HEX.map((h) => h.slice(0, 2));

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

/** hex digits as bytes (ipsecHexdump writes into a scratch buffer) */
const DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** what one call of ipsecHexdump writes at most: a key of 1024 bytes (the longest a key extension holds at 8-byte units) */
const SCRATCH = Buffer.allocUnsafe(3 * 1024 + 1024 / 32 + 8);

/**
 * libipsec's ipsec_hexdump(): a space before every 4-byte group, two hex
 * digits per byte, a bare newline before bytes 32, 64, ... (no trailing newline).
 * Written as bytes and read as one string: built a piece a byte, the text of
 * one SA's keys was ~100 strings, the most garbage of a dump of 100k SAs.
 */
export function ipsecHexdump(b: Uint8Array, start = 0, len = b.length - start): string {
  // at most 2 digits, a space for every 4 bytes and a newline for every 32: 2.5 + 1/32 bytes a byte
  if (len * 3 > SCRATCH.length - 8) return ipsecHexdumpLong(b, start, len);
  const out = SCRATCH;
  let n = 0;
  for (let i = 0; i < len; i++) {
    if (i !== 0 && (i & 31) === 0) out[n++] = 10;
    if ((i & 3) === 0) out[n++] = 32;
    const x = b[start + i]!;
    out[n++] = DIGITS[x >>> 4]!;
    out[n++] = DIGITS[x & 15]!;
  }
  return out.toString('latin1', 0, n);
}

/** The same, a piece at a time (keys longer than any real one). */
function ipsecHexdumpLong(b: Uint8Array, start: number, len: number): string {
  let out = '';
  for (let i = 0; i < len; i++) {
    if (i !== 0 && i % 32 === 0) out += '\n';
    if (i % 4 === 0) out += ' ';
    out += HEX2[b[start + i]!];
  }
  return out;
}
