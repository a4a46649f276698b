/**
 * libipsec's ipsec_hexdump() as setkey prints keys (src/format/hexdump.ts),
 * held to a plain reading of its C: for every length and start, a space
 * before each 4-byte group, two lowercase digits a byte, a bare newline
 * before bytes 32, 64, ... and nothing after the last.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ipsecHexdump, putIpsecHexdump } from '../src/format/hexdump.js';

/** ipsec_hexdump(buf, len): for (i = 0; i < len; i++) { if (i != 0 && i % 32 == 0) printf("\n"); if (i % 4 == 0) printf(" "); printf("%02x", p[i]); } */
function plain(b: Uint8Array, start: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) {
    if (i !== 0 && i % 32 === 0) s += '\n';
    if (i % 4 === 0) s += ' ';
    s += b[start + i]!.toString(16).padStart(2, '0');
  }
  return s;
}

test('ipsec_hexdump of any bytes, from any start, of any length: as the C prints it', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (b, s, l) => {
      const start = b.length === 0 ? 0 : s % (b.length + 1);
      const len = l % (b.length - start + 1);
      assert.equal(ipsecHexdump(b, start, len), plain(b, start, len));
    }),
    { numRuns: 2000 },
  );
});

test('written into a buffer after other text: the text before is kept, the end returned', () => {
  const key = Uint8Array.from({ length: 37 }, (_, i) => (i * 29 + 3) & 255);
  const out = new Uint8Array(200).fill(0x2a);
  const end = putIpsecHexdump(out, 5, key, 2, 35);
  const want = plain(key, 2, 35);
  assert.equal(end, 5 + want.length);
  assert.equal(Buffer.from(out.subarray(0, end)).toString('latin1'), '*****' + want);
  assert.equal(out[end], 0x2a, 'nothing written past the end');
});
