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

/**
 * libipsec's ipsec_hexdump(): a space before every 4-byte group, two hex
 * digits per byte, a bare newline before bytes 32, 64, ... (no trailing newline).
 */
export function ipsecHexdump(b: Uint8Array, start = 0, len = b.length - start): string {
  let out = '';
  for (let i = 0; i < len; i++) {
    if (i !== 0 && i % 32 === 0) out += '\n';
    if (i % 4 === 0) out += ' ';
    out += HEX2[b[start + i]!];
  }
  return out;
}
