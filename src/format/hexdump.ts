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
