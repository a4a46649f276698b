/**
 * IPComp (src/esp/ipcomp.ts): RFC 3173 header, RFC 2394 raw DEFLATE, and the
 * output bound that keeps a hostile stream from growing past one datagram.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync, deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { IPCOMP_MAX_OUTPUT, deflateIpcomp, inflateIpcomp, ipcompHeader } from '../src/esp/ipcomp.js';

test('RFC 3173 section 2.2 header: next header, flags, 16-bit CPI', () => {
  const p = deflateIpcomp(4, 0x4242, Uint8Array.from([1, 2, 3]));
  assert.deepEqual(ipcompHeader(p), { nextHeader: 4, flags: 0, cpi: 0x4242 });
  assert.equal(ipcompHeader(p.subarray(0, 3)), undefined);
});

test('deflate then inflate gives the datagram back (property)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), (data) => {
      const p = deflateIpcomp(41, 1, data);
      const r = inflateIpcomp(p.subarray(4));
      assert.ok(r.ok);
      assert.equal(Buffer.compare(Buffer.from(r.data), Buffer.from(data)), 0);
    }),
    { numRuns: 100 },
  );
});

test('the output is bounded at 65535 bytes: a larger stream is too-large, not allocated', () => {
  const exact = inflateIpcomp(deflateRawSync(new Uint8Array(IPCOMP_MAX_OUTPUT)));
  assert.ok(exact.ok && exact.data.length === IPCOMP_MAX_OUTPUT);
  assert.deepEqual(inflateIpcomp(deflateRawSync(new Uint8Array(IPCOMP_MAX_OUTPUT + 1))), { ok: false, reason: 'too-large' });
  // a "zip bomb": 10 MB of zeros deflate to about 10 KB
  const bomb = deflateRawSync(new Uint8Array(10 * 1024 * 1024));
  assert.ok(bomb.length < 20_000);
  assert.deepEqual(inflateIpcomp(bomb), { ok: false, reason: 'too-large' });
});

test('streams zlib refuses are corrupt: truncated, empty, with a zlib header (RFC 2394 wants raw DEFLATE)', () => {
  const good = deflateRawSync(Buffer.from('a datagram '.repeat(20)));
  assert.deepEqual(inflateIpcomp(good.subarray(0, good.length - 3)), { ok: false, reason: 'corrupt' });
  assert.deepEqual(inflateIpcomp(new Uint8Array(0)), { ok: false, reason: 'corrupt' });
  assert.deepEqual(inflateIpcomp(deflateSync(Buffer.from('a datagram'))), { ok: false, reason: 'corrupt' });
});

test('fuzz: random bytes never throw and never inflate past the bound (property)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const r = inflateIpcomp(bytes);
      if (r.ok) assert.ok(r.data.length <= IPCOMP_MAX_OUTPUT);
      else assert.ok(r.reason === 'corrupt' || r.reason === 'too-large');
    }),
    { numRuns: 500 },
  );
});
