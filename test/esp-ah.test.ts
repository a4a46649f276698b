/**
 * AH (src/esp/ah.ts): ICVs over IPv4 with options and IPv6 with extension
 * headers, with the mutable fields of RFC 4302 section 3.3.3.1 zeroed. The
 * ICV input is also rebuilt here by hand, offset by offset, so the zeroing
 * rule is pinned independently of the code that applies it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { ahSealer, ahVerifier, type AhSealer, type AhVerifier } from '../src/esp/ah.js';
import { type EspSa, isUnsupported } from '../src/esp/types.js';
import { SaFlag } from '../src/model/tables.js';
import { openssl } from './crypto-provider.js';

const key = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 29 + seed * 7) & 0xff);

function pair(sa: EspSa): [AhVerifier, AhSealer] {
  const v = ahVerifier(sa, openssl);
  const s = ahSealer(sa);
  assert.ok(!isUnsupported(v), isUnsupported(v) ? v.unsupported : '');
  assert.ok(!isUnsupported(s));
  return [v, s];
}

const SA: EspSa = { spi: 0x5151, flags: 0, esn: false, auth: { name: 'hmac-sha1', key: key(20) } };

/**
 * IPv4, UDP, with options: Router Alert (0x94, immutable), NOP, Record Route
 * (0x07, mutable: routers write into it) holding two addresses. IHL 9.
 */
function ipv4Packet(payload: Uint8Array): Uint8Array {
  const options = [0x94, 4, 0, 0, 0x01, 0x07, 11, 4, 10, 0, 0, 1, 10, 0, 0, 2];
  const hdr = [0x49, 0x28, 0, 0, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7, ...options];
  const p = Uint8Array.from([...hdr, ...payload]);
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  return p;
}

/**
 * IPv6: Hop-by-Hop (Router Alert 0x05, immutable; option 0x3e with the
 * may-change bit 0x20, 6 bytes of data; two Pad1), then Destination Options
 * (option 0x3e, 4 bytes), then UDP.
 */
function ipv6Packet(payload: Uint8Array): Uint8Array {
  const base = [0x6a, 0xbc, 0xde, 0xf1, 0, 0, 0, 64];
  const src = [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1];
  const dst = [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 2];
  const hbh = [60, 1, 0x05, 2, 0, 0, 0x3e, 6, 1, 2, 3, 4, 5, 6, 0, 0];
  const dstopts = [17, 0, 0x3e, 4, 9, 9, 9, 9];
  const p = Uint8Array.from([...base, ...src, ...dst, ...hbh, ...dstopts, ...payload]);
  const plen = p.length - 40;
  p[4] = plen >> 8;
  p[5] = plen & 0xff;
  return p;
}

const UDP = Uint8Array.from([0x13, 0x88, 0x13, 0x89, 0, 12, 0, 0, 0xca, 0xfe, 0xba, 0xbe]);

test('IPv4 with options: sealed AH verifies; the ICV is HMAC over the packet with TOS, flags, TTL, checksum and Record Route zeroed', () => {
  const [v, s] = pair(SA);
  const out = s.seal(ipv4Packet(UDP), 4, 36, 7);
  assert.equal(out[9], 51);
  assert.deepEqual(v.verify(out, 4, 36), { ok: true, nextHeader: 17, ahLength: 24, seq: 7 });
  const z = Uint8Array.from(out);
  for (const i of [1, 6, 7, 8, 10, 11]) z[i] = 0;
  z.fill(0, 25, 36); // Record Route: type, length, pointer and data (RFC 4302 3.3.3.1.1.2: the whole option)
  z.fill(0, 48, 60); // the AH ICV
  const icv = createHmac('sha1', key(20)).update(z).digest().subarray(0, 12);
  assert.deepEqual([...out.subarray(48, 60)], [...icv]);
});

test('IPv4: what routers change leaves the ICV valid, anything else breaks it', () => {
  const [v, s] = pair(SA);
  const out = s.seal(ipv4Packet(UDP), 4, 36, 7);
  const mutate = (f: (p: Uint8Array) => void): ReturnType<AhVerifier['verify']> => {
    const p = Uint8Array.from(out);
    f(p);
    return v.verify(p, 4, 36);
  };
  for (const change of [
    (p: Uint8Array) => (p[8] = 3), // TTL
    (p: Uint8Array) => (p[1] = 0xb8), // DSCP/ECN
    (p: Uint8Array) => (p[6] = 0x20), // flags
    (p: Uint8Array) => ((p[10] = 0xde), (p[11] = 0xad)), // checksum
    (p: Uint8Array) => p.set([10, 9, 9, 9], 28), // Record Route data
  ]) {
    assert.ok(mutate(change).ok);
  }
  for (const change of [
    (p: Uint8Array) => (p[23] = 1), // Router Alert value (immutable)
    (p: Uint8Array) => (p[15] = 2), // source address
    (p: Uint8Array) => (p[p.length - 1]! ^= 1), // payload
    (p: Uint8Array) => (p[40]! ^= 0x40), // SPI
    (p: Uint8Array) => (p[50]! ^= 1), // ICV
  ]) {
    assert.deepEqual(mutate(change), { ok: false, reason: 'icv' });
  }
  // Ethernet padding past the IP total length is not part of the packet
  assert.ok(v.verify(Uint8Array.from([...out, 0, 0, 0, 0]), 4, 36).ok);
});

test('IPv6 with extension headers: AH after Hop-by-Hop; class, flow label, hop limit and may-change option data are zeroed', () => {
  const [v, s] = pair(SA);
  const out = s.seal(ipv6Packet(UDP), 6, 56, 9);
  assert.equal(out[40], 51); // the Hop-by-Hop header now names AH
  assert.deepEqual(v.verify(out, 6, 56), { ok: true, nextHeader: 60, ahLength: 24, seq: 9 });
  const z = Uint8Array.from(out);
  z[0] = 0x60;
  z.fill(0, 1, 4);
  z[7] = 0;
  z.fill(0, 48, 54); // Hop-by-Hop option 0x3e data
  z.fill(0, 84, 88); // Destination Options option 0x3e data
  z.fill(0, 68, 80); // ICV
  const icv = createHmac('sha1', key(20)).update(z).digest().subarray(0, 12);
  assert.deepEqual([...out.subarray(68, 80)], [...icv]);
  const mutate = (f: (p: Uint8Array) => void): boolean => {
    const p = Uint8Array.from(out);
    f(p);
    return v.verify(p, 6, 56).ok;
  };
  assert.ok(mutate((p) => (p[7] = 1))); // hop limit
  assert.ok(mutate((p) => p.set([0x60, 0, 0, 0], 0))); // traffic class, flow label
  assert.ok(mutate((p) => p.set([7, 7, 7], 49))); // mutable HBH option data
  assert.ok(mutate((p) => (p[87] = 0))); // mutable DSTOPTS option data, after AH
  assert.equal(mutate((p) => (p[0] = 0x70)), false); // version
  assert.equal(mutate((p) => (p[45] = 1)), false); // Router Alert value
  assert.equal(mutate((p) => (p[46] = 0x1e)), false); // an option's type is covered
  assert.equal(mutate((p) => (p[23]! ^= 1)), false); // source address
  assert.equal(mutate((p) => (p[p.length - 1]! ^= 1)), false); // payload
});

test('ICV padding (RFC 4302 3.3.3.2.1): IPv6 AH is a multiple of 8 bytes, IPv4 of 4', () => {
  for (const [auth, kl, v4, v6] of [['hmac-sha256-128', 32, 28, 32], ['hmac-sha384', 48, 36, 40], ['hmac-sha512', 64, 44, 48], ['aes-xcbc-mac', 16, 24, 24]] as const) {
    const [v, s] = pair({ ...SA, auth: { name: auth, key: key(kl) } });
    const o4 = s.seal(ipv4Packet(UDP), 4, 36, 1);
    const o6 = s.seal(ipv6Packet(UDP), 6, 56, 1);
    assert.deepEqual([v.verify(o4, 4, 36), v.verify(o6, 6, 56)].map((r) => r.ok && r.ahLength), [v4, v6], auth);
  }
});

test('old AH (RFC 1826, SADB_X_EXT_OLD): no sequence number, 16 bytes of keyed-md5 / keyed-sha1 after the SPI', () => {
  for (const [auth, kl] of [['keyed-md5', 16], ['keyed-sha1', 20], ['hmac-md5', 16]] as const) {
    const [v, s] = pair({ spi: 0x99, flags: SaFlag.OLD, esn: false, auth: { name: auth, key: key(kl) } });
    const out = s.seal(ipv4Packet(UDP), 4, 36, 5);
    assert.equal(out[37], 4); // RFC 1826 Length: 32-bit words of authentication data
    assert.deepEqual(v.verify(out, 4, 36), { ok: true, nextHeader: 17, ahLength: 24, seq: 0 });
    const ttl = Uint8Array.from(out);
    ttl[8] = 1;
    assert.ok(v.verify(ttl, 4, 36).ok);
    const bad = Uint8Array.from(out);
    bad[50]! ^= 1;
    assert.deepEqual(v.verify(bad, 4, 36), { ok: false, reason: 'icv' });
  }
});

test('ESN (RFC 4302 2.5.1): the high half is MACed after the packet but not sent', () => {
  const [v, s] = pair({ ...SA, esn: true });
  const out = s.seal(ipv6Packet(UDP), 6, 56, 0xfffffff0, 3);
  assert.ok(v.verify(out, 6, 56, 3).ok);
  assert.deepEqual(v.verify(out, 6, 56, 2), { ok: false, reason: 'icv' });
  assert.equal(out.length, ipv6Packet(UDP).length + 24);
});

test('every integrity algorithm: seal/verify round trips on IPv4 and IPv6 (property)', () => {
  const algs = [['hmac-md5', 16], ['hmac-sha1', 20], ['hmac-sha256', 32], ['hmac-sha256-128', 32], ['hmac-sha384', 48], ['hmac-sha512', 64], ['hmac-ripemd160', 20], ['aes-xcbc-mac', 16], ['keyed-md5', 16], ['keyed-sha1', 20]] as const;
  for (const [auth, kl] of algs) {
    const [v, s] = pair({ spi: 1, flags: 0, esn: true, auth: { name: auth, key: key(kl, 4) } });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 0xffffffff }), fc.nat(0xffffffff), (payload, seq, hi) => {
        const o4 = s.seal(ipv4Packet(payload), 4, 36, seq, hi);
        const o6 = s.seal(ipv6Packet(payload), 6, 56, seq, hi);
        const r4 = v.verify(o4, 4, 36, hi);
        const r6 = v.verify(o6, 6, 56, hi);
        assert.ok(r4.ok && r6.ok && r4.seq === seq && r6.seq === seq, auth);
      }),
      { numRuns: 10 },
    );
  }
});

test('headers that cannot be walked or packets cut short are values, not exceptions', () => {
  const [v, s] = pair(SA);
  const out = s.seal(ipv4Packet(UDP), 4, 36, 7);
  const badOpt = Uint8Array.from(out);
  badOpt[26] = 40; // Record Route length running past the header
  assert.deepEqual(v.verify(badOpt, 4, 36), { ok: false, reason: 'header' });
  assert.deepEqual(v.verify(out.subarray(0, 50), 4, 36), { ok: false, reason: 'short' });
  assert.deepEqual(v.verify(out, 4, 200), { ok: false, reason: 'short' });
  assert.deepEqual(v.verify(out, 5, 36), { ok: false, reason: 'header' });
  const o6 = s.seal(ipv6Packet(UDP), 6, 56, 1);
  assert.deepEqual(v.verify(o6, 6, 60), { ok: false, reason: 'header' }); // not where a header starts
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), fc.constantFrom(4, 6), fc.nat(130), fc.nat(0xffffffff), (bytes, ver, off, hi) => {
      const r = v.verify(bytes, ver, off, hi);
      assert.equal(typeof r.ok, 'boolean');
    }),
    { numRuns: 500 },
  );
});

test('AH SAs that cannot be verified say why', () => {
  for (const [sa, pattern] of [
    [{ spi: 1, flags: 0, esn: false }, /no authentication algorithm/],
    [{ spi: 1, flags: 0, esn: false, auth: { name: 'null', key: new Uint8Array(0) } }, /^cannot verify null/],
    [{ spi: 1, flags: 0, esn: false, auth: { name: 'tcp-md5', key: key(8) } }, /^cannot verify tcp-md5/],
  ] as const) {
    const r = ahVerifier(sa, openssl);
    assert.ok(isUnsupported(r));
    assert.match(r.unsupported, pattern);
  }
});
