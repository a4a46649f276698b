/** IP literals: strict parsing, and the text glibc's inet_ntop/getnameinfo produce. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIp, parseIpLiteral } from '../src/model/address.js';

const fmt = (s: string): string => formatIp(parseIpLiteral(s)!.addr);

test('IPv6 text as glibc writes it', () => {
  const cases: [string, string][] = [
    ['::', '::'],
    ['::1', '::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1'],
    ['1:0:0:1:1:0:0:1', '1::1:1:0:0:1'],
    ['1:0:1:1:1:1:1:1', '1:0:1:1:1:1:1:1'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['::1.2.3.4', '::1.2.3.4'],
    ['::0.0.1.0', '::100'],
    ['1::', '1::'],
    ['fe80::1%2', 'fe80::1%2'],
    ['2001:db8::1%3', '2001:db8::1%3'],
  ];
  for (const [input, want] of cases) assert.equal(fmt(input), want, input);
  assert.equal(formatIp(parseIpLiteral('fe80::1%1')!.addr, (i) => (i === 1 ? 'lo' : undefined)), 'fe80::1%lo');
});

test('literals the C library refuses are refused', () => {
  for (const bad of ['1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.256', '1::2::3', '12345::', ':::', ':1::', '1:2:3:4:5:6:7:8:9', 'g::1', '::1.2.3', '1.2.3.4::', 'fe80::1%', '']) {
    assert.equal(parseIpLiteral(bad), undefined, bad);
  }
});

test('any address survives format -> parse', () => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 })), (bytes) => {
      const addr = { family: bytes.length === 4 ? 4 : 6, bytes, scopeId: 0 } as const;
      const back = parseIpLiteral(formatIp(addr));
      assert.ok(back);
      assert.deepEqual([...back.addr.bytes], [...bytes]);
    }),
    { numRuns: 2000 },
  );
});
