/**
 * src/esp seal/open round trips for every supported ESP transform, the
 * checks an opener must make (ICV before decryption, padding, ESN), the
 * explicit refusals, old ESP, and random bytes that must never make open()
 * throw. Blowfish and CAST-128 run in a child node with OpenSSL's legacy
 * provider loaded, since this process may not have it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { espOpener, espSealer, espSeq, espSpi, type EspOpener, type EspSealer } from '../src/esp/esp.js';
import { makeCipher, type PlainCipher } from '../src/esp/ciphers.js';
import { makeMac } from '../src/esp/integrity.js';
import { type EspSa, espSaOf, isUnsupported, putBe32 } from '../src/esp/types.js';
import { SaFlag, SaType } from '../src/model/tables.js';
import { ipv4 } from '../src/model/address.js';
import type { SaParams } from '../src/model/sa.js';
import { openssl } from './crypto-provider.js';

/** Payloads compare as bytes: the opener may hand back a Buffer (a Uint8Array subclass). */
const bytesOf = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
const key = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 37 + seed * 11) & 0xff);

/** [name, key bytes (salt included)] of every cipher this process can run. */
const PLAIN_CIPHERS: [string, number][] = [
  ['des-cbc', 8], ['3des-cbc', 24], ['aes-cbc', 16], ['aes-cbc', 24], ['aes-cbc', 32],
  ['camellia-cbc', 16], ['camellia-cbc', 32], ['aes-ctr', 20], ['aes-ctr', 28], ['aes-ctr', 36], ['null', 0],
];
const AEAD_CIPHERS: [string, number][] = [
  ['aes-gcm-16', 20], ['aes-gcm-16', 28], ['aes-gcm-16', 36], ['aes-gmac', 20], ['aes-gmac', 36], ['chacha20-poly1305', 36],
];
const INTEGRITY: [string, number][] = [
  ['hmac-md5', 16], ['hmac-sha1', 20], ['hmac-sha256', 32], ['hmac-sha256-128', 32], ['hmac-sha384', 48],
  ['hmac-sha512', 64], ['hmac-ripemd160', 20], ['aes-xcbc-mac', 16], ['keyed-md5', 16], ['keyed-sha1', 20], ['null', 0],
];

interface Pair {
  readonly label: string;
  readonly sa: (esn: boolean) => EspSa;
  readonly authenticated: boolean;
}

const PAIRS: Pair[] = [
  ...PLAIN_CIPHERS.flatMap(([enc, kl]) => [
    { label: `${enc}/${kl * 8} no auth`, authenticated: false, sa: (esn: boolean): EspSa => ({ spi: 0x1000, flags: 0, esn, enc: { name: enc, key: key(kl) } }) },
    ...INTEGRITY.map(([auth, al]) => ({
      label: `${enc}/${kl * 8} + ${auth}`,
      authenticated: auth !== 'null',
      sa: (esn: boolean): EspSa => ({ spi: 0xc0ffee, flags: 0, esn, enc: { name: enc, key: key(kl) }, auth: { name: auth, key: key(al, 2) } }),
    })),
  ]),
  ...AEAD_CIPHERS.map(([enc, kl]) => ({
    label: `${enc}/${kl * 8}`,
    authenticated: true,
    sa: (esn: boolean): EspSa => ({ spi: 0xfeedface, flags: 0, esn, enc: { name: enc, key: key(kl, 3) } }),
  })),
];

function build(sa: EspSa): [EspOpener, EspSealer] {
  const o = espOpener(sa, openssl);
  const s = espSealer(sa);
  assert.ok(!isUnsupported(o), isUnsupported(o) ? o.unsupported : '');
  assert.ok(!isUnsupported(s), isUnsupported(s) ? s.unsupported : '');
  return [o, s];
}

test('every supported transform: seal then open gives the payload, next header and sequence number back (property)', () => {
  for (const pair of PAIRS) {
    const [o, s] = build(pair.sa(false));
    const [oe, se] = build(pair.sa(true));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 0xffffffff }), fc.nat(0xffffffff), (payload, nh, seq, hi) => {
        for (const [op, se2, high] of [[o, s, 0], [oe, se, hi]] as const) {
          const packet = se2.seal(nh, payload, seq, high);
          const r = op.open(packet, high);
          assert.ok(r.ok, `${pair.label}: ${r.ok ? '' : r.reason}`);
          assert.deepEqual([r.nextHeader, r.seq, r.padOk], [nh, seq, true]);
          assert.equal(bytesOf(r.payload), bytesOf(payload));
          assert.equal(espSeq(packet), seq);
          assert.equal(espSpi(packet), pair.sa(false).spi);
        }
      }),
      { numRuns: 12 },
    );
  }
});

test('RFC 4303 section 2.4: the encrypted part is whole cipher blocks and ends 4-byte aligned', () => {
  for (const pair of PAIRS) {
    const sa = pair.sa(false);
    const [o, s] = build(sa);
    const cipher = makeCipher(sa.enc!.name, sa.enc!.key, openssl);
    assert.ok(!isUnsupported(cipher));
    for (let n = 0; n < 40; n++) {
      const packet = s.seal(4, new Uint8Array(n), 1);
      const body: number = packet.length - 8 - cipher.ivLen - o.icvLen;
      assert.equal(body % 4, 0, pair.label);
      if (cipher.blockLen > 1) assert.equal(body % cipher.blockLen, 0, pair.label);
    }
  }
});

test('a flipped bit anywhere in an authenticated packet fails the ICV; so does the wrong ESN high half', () => {
  for (const pair of PAIRS.filter((p) => p.authenticated)) {
    const [o, s] = build(pair.sa(true));
    const packet = s.seal(6, Uint8Array.from({ length: 45 }, (_, i) => i), 77, 3);
    assert.ok(o.open(packet, 3).ok, pair.label);
    assert.deepEqual(o.open(packet, 4), { ok: false, reason: 'icv' }, pair.label);
    for (let i = 0; i < packet.length; i++) {
      const bad = Uint8Array.from(packet);
      bad[i]! ^= 1 << (i % 8);
      assert.deepEqual(o.open(bad, 3), { ok: false, reason: 'icv' }, `${pair.label} byte ${i}`);
    }
  }
});

test('without ESN the high half is neither sent nor MACed: any seqHigh opens', () => {
  const [o, s] = build({ spi: 9, flags: 0, esn: false, enc: { name: 'aes-cbc', key: key(16) }, auth: { name: 'hmac-sha1', key: key(20) } });
  const packet = s.seal(4, key(30), 5, 123);
  assert.ok(o.open(packet, 0).ok && o.open(packet, 999).ok);
});

test('the ICV is verified before decrypting: a damaged length is an ICV failure, not a cipher one', () => {
  const sa: EspSa = { spi: 9, flags: 0, esn: false, enc: { name: 'aes-cbc', key: key(16) }, auth: { name: 'hmac-sha256', key: key(32) } };
  const [o, s] = build(sa);
  const packet = s.seal(4, key(33), 5);
  const cut = Uint8Array.from([...packet.subarray(0, 30), ...packet.subarray(31)]);
  assert.deepEqual(o.open(cut), { ok: false, reason: 'icv' });
  const [bare] = build({ ...sa, auth: undefined });
  const plainPacket = espSealer({ ...sa, auth: undefined });
  assert.ok(!isUnsupported(plainPacket));
  const p2 = plainPacket.seal(4, key(33), 5);
  assert.deepEqual(bare.open(Uint8Array.from([...p2.subarray(0, 30), ...p2.subarray(31)])), { ok: false, reason: 'cipher' });
  assert.deepEqual(o.open(packet.subarray(0, 20)), { ok: false, reason: 'short' });
});

/** An ESP packet around an arbitrary plaintext (trailer and all), encrypted and MACed as `sa` would. */
function craft(sa: EspSa, pt: Uint8Array, seq: number): Uint8Array {
  const cipher = makeCipher(sa.enc!.name, sa.enc!.key, openssl) as PlainCipher;
  const iv = key(cipher.ivLen, 5);
  const ct = cipher.encrypt(iv, pt);
  const mac = sa.auth ? makeMac(sa.auth.name, sa.auth.key, false, openssl) : undefined;
  assert.ok(!mac || !isUnsupported(mac));
  const icvLen = mac?.icvLen ?? 0;
  const out = new Uint8Array(8 + iv.length + ct.length + icvLen);
  putBe32(out, 0, sa.spi);
  putBe32(out, 4, seq);
  out.set(iv, 8);
  out.set(ct, 8 + iv.length);
  if (mac) out.set(mac.compute(out.subarray(0, out.length - icvLen)).subarray(0, icvLen), out.length - icvLen);
  return out;
}

test('RFC 4303 section 2.4 padding: wrong pad bytes are reported (padOk false), an impossible pad length fails', () => {
  const sa: EspSa = { spi: 0x2a, flags: 0, esn: false, enc: { name: 'aes-cbc', key: key(16) }, auth: { name: 'hmac-sha1', key: key(20) } };
  const [o] = build(sa);
  const good = Uint8Array.from([0xde, 0xad, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 12, 4]);
  const r1 = o.open(craft(sa, good, 1));
  assert.ok(r1.ok && r1.padOk);
  assert.deepEqual([...(r1.ok ? r1.payload : [])], [0xde, 0xad]);
  const wrong = Uint8Array.from(good);
  wrong[7] = 0x55;
  const r2 = o.open(craft(sa, wrong, 2));
  assert.ok(r2.ok && !r2.padOk);
  const tooLong = Uint8Array.from(good);
  tooLong[14] = 200;
  assert.deepEqual(o.open(craft(sa, tooLong, 3)), { ok: false, reason: 'padding' });
  // with NULL encryption (RFC 2410) nothing hides a pad length that points before the packet
  const nul: EspSa = { spi: 0x2b, flags: 0, esn: false, enc: { name: 'null', key: new Uint8Array(0) } };
  const [on] = build(nul);
  assert.deepEqual(on.open(Uint8Array.from([0, 0, 0, 0x2b, 0, 0, 0, 1, 9, 9, 250, 4])), { ok: false, reason: 'padding' });
});

test('-f zero-pad and -f random-pad SAs: the opener expects what the SA writes', () => {
  const base: EspSa = { spi: 3, flags: SaFlag.PZERO, esn: false, enc: { name: '3des-cbc', key: key(24) } };
  const [oz, sz] = build(base);
  const packet = sz.seal(4, key(3), 1); // 3 + 2 -> 8: five zero pad bytes
  const rz = oz.open(packet);
  assert.ok(rz.ok && rz.padOk);
  const [odefault] = build({ ...base, flags: 0 });
  const rd = odefault.open(packet);
  assert.ok(rd.ok && !rd.padOk);
  const [or, sr] = build({ ...base, flags: SaFlag.PRAND });
  const rr = or.open(sr.seal(4, key(3), 1));
  assert.ok(rr.ok && rr.padOk);
});

test('old ESP (RFC 1827/1829): SPI then IV, no sequence number; 32-bit IVs with IV4B; des-deriv takes the IV from the sequence number', () => {
  const cases: [string, number, number, number][] = [
    // [cipher, key bytes, flags, bytes before the ciphertext]
    ['des-cbc', 8, SaFlag.OLD, 4 + 8],
    ['des-cbc', 8, SaFlag.OLD | SaFlag.IV4B, 4 + 4],
    ['3des-cbc', 24, SaFlag.OLD, 4 + 8],
    ['aes-cbc', 16, SaFlag.OLD, 4 + 16],
    ['null', 0, SaFlag.OLD, 4],
    ['des-cbc', 8, SaFlag.DERIV, 8],
  ];
  for (const [enc, kl, flags, head] of cases) {
    const sa: EspSa = { spi: 0x777, flags, esn: false, enc: { name: enc, key: key(kl) } };
    const [o, s] = build(sa);
    const payload = key(21, 9);
    const packet = s.seal(4, payload, 42);
    const block = enc === 'aes-cbc' ? 16 : enc === 'null' ? 4 : 8;
    assert.equal((packet.length - head) % block, 0, `${enc} ${flags}`);
    const r = o.open(packet);
    assert.ok(r.ok, `${enc} ${flags}`);
    assert.deepEqual([r.nextHeader, r.seq, r.padOk], [4, flags & SaFlag.OLD ? 0 : 42, true]);
    assert.equal(bytesOf(r.payload), bytesOf(payload));
  }
  // the derived IV is seq || ~seq (KAME esp_cbc_decrypt)
  const deriv: EspSa = { spi: 0x778, flags: SaFlag.DERIV, esn: false, enc: { name: 'des-cbc', key: key(8) } };
  const packet = (espSealer(deriv) as EspSealer).seal(4, key(6), 0x01020304);
  const cipher = makeCipher('des-cbc', key(8), openssl) as PlainCipher;
  const pt = cipher.decrypt(Uint8Array.of(1, 2, 3, 4, 0xfe, 0xfd, 0xfc, 0xfb), packet.subarray(8));
  assert.equal(bytesOf(pt!.subarray(0, 6)), bytesOf(key(6)));
});

const legacyLoaded = (() => {
  const c = makeCipher('blowfish-cbc', key(16), openssl);
  return !isUnsupported(c);
})();

test('unsupported transforms name the algorithm and why, as a value with a stable code', () => {
  const refuse = (sa: EspSa, code: string, pattern: RegExp): void => {
    for (const r of [espOpener(sa, openssl), espSealer(sa)]) {
      assert.ok(isUnsupported(r), pattern.source);
      assert.equal(r.code, code);
      assert.match(r.unsupported, pattern);
    }
  };
  const esp = (enc: string, kl: number, extra: Partial<EspSa> = {}): EspSa => ({ spi: 1, flags: 0, esn: false, enc: { name: enc, key: key(kl) }, ...extra });
  refuse(esp('twofish-cbc', 16), 'no-implementation', /^cannot decrypt twofish-cbc: .*no Twofish/);
  refuse(esp('serpent-cbc', 32), 'no-implementation', /^cannot decrypt serpent-cbc: .*no Serpent/);
  if (!legacyLoaded) {
    refuse(esp('blowfish-cbc', 16), 'legacy-provider', /^cannot decrypt blowfish-cbc: .*legacy provider.*--openssl-legacy-provider/);
    refuse(esp('cast128-cbc', 16), 'legacy-provider', /^cannot decrypt cast128-cbc: .*legacy provider/);
  }
  refuse(esp('rot13-cbc', 16), 'unknown-algorithm', /^cannot decrypt rot13-cbc: not an encryption algorithm/);
  refuse(esp('aes-cbc', 20), 'key-length', /^cannot decrypt aes-cbc: a 160-bit key \(aes-cbc takes 128, 192 or 256 bits\)/);
  refuse(esp('aes-gcm-16', 16), 'key-length', /^cannot decrypt aes-gcm-16: a 128-bit key/);
  refuse(esp('aes-gcm-16', 20, { auth: { name: 'hmac-sha1', key: key(20) } }), 'combination', /combined-mode cipher/);
  refuse(esp('des-cbc', 8, { flags: SaFlag.OLD, auth: { name: 'hmac-md5', key: key(16) } }), 'combination', /esp-old/);
  refuse(esp('aes-gcm-16', 20, { old: true }), 'combination', /esp-old/);
  refuse(esp('aes-ctr', 20, { old: true }), 'combination', /esp-old/);
  refuse(esp('aes-cbc', 16, { flags: SaFlag.DERIV }), 'combination', /derived IV/);
  refuse(esp('aes-cbc', 16, { auth: { name: 'tcp-md5', key: key(10) } }), 'combination', /^cannot verify tcp-md5: .*RFC 2385/);
  refuse(esp('aes-cbc', 16, { auth: { name: 'aes-xcbc-mac', key: key(20) } }), 'key-length', /^cannot verify aes-xcbc-mac: a 160-bit key/);
  refuse(esp('aes-cbc', 16, { auth: { name: 'hmac-whirlpool', key: key(20) } }), 'unknown-algorithm', /^cannot verify hmac-whirlpool/);
});

test('aliases of the registry work (rijndael-cbc, hmac-sha2-256)', () => {
  const [o, s] = build({ spi: 5, flags: 0, esn: false, enc: { name: 'rijndael-cbc', key: key(16) }, auth: { name: 'hmac-sha2-256', key: key(32) } });
  const r = o.open(s.seal(17, key(10), 1));
  assert.ok(r.ok);
  assert.equal(o.cipher, 'aes-cbc');
  assert.equal(o.integrity, 'hmac-sha256');
  assert.equal(o.icvLen, 12);
});

test("espSaOf: the model's SA as the transforms take it; numeric algorithms are refused", () => {
  const sa: SaParams = {
    satype: SaType.ESP, src: { addr: ipv4(192, 0, 2, 1), port: 0 }, dst: { addr: ipv4(192, 0, 2, 2), port: 0 },
    spi: 0x1234, mode: 0, reqid: 0, replay: 32, flags: SaFlag.OLD, esn: false,
    enc: { alg: 'des-cbc', key: { bits: 64, data: key(8) } },
  };
  const e = espSaOf(sa);
  assert.ok(!isUnsupported(e));
  assert.deepEqual([e.spi, e.old, e.enc?.name, e.auth], [0x1234, true, 'des-cbc', undefined]);
  const n = espSaOf({ ...sa, auth: { alg: 250, key: { bits: 160, data: key(20) } } });
  assert.ok(isUnsupported(n) && n.code === 'unknown-algorithm' && /algorithm number 250/.test(n.unsupported));
});

test('fuzz: open() of random bytes never throws and returns a result (property)', () => {
  const openers = [
    ...PAIRS.filter((_, i) => i % 5 === 0).flatMap((p) => [build(p.sa(false))[0], build(p.sa(true))[0]]),
    build({ spi: 1, flags: SaFlag.OLD | SaFlag.IV4B, esn: false, enc: { name: 'des-cbc', key: key(8) } })[0],
    build({ spi: 1, flags: SaFlag.DERIV, esn: false, enc: { name: 'des-cbc', key: key(8) }, auth: { name: 'keyed-md5', key: key(16) } })[0],
  ];
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(0xffffffff), (bytes, hi) => {
      for (const o of openers) {
        const r = o.open(bytes, hi);
        assert.equal(typeof r.ok, 'boolean');
        if (r.ok) assert.ok(r.payload.length <= bytes.length);
      }
    }),
    { numRuns: 300 },
  );
});

test('Blowfish and CAST-128 under --openssl-legacy-provider: RFC 2144 and variable-key Blowfish vectors, ESP round trips', () => {
  const lib = new URL('../src/esp/index.js', import.meta.url).href;
  const script = `
    import { makeCipher, espOpener, espSealer } from ${JSON.stringify(lib)};
    const hex = (s) => Uint8Array.from(Buffer.from(s.replace(/\\s+/g, ''), 'hex'));
    const out = [];
    // RFC 2144 Appendix B.1 (40/80/128-bit keys) and Blowfish with a 26-byte key (nettle's test)
    const vectors = [
      ['cast128-cbc', '01 23 45 67 12 34 56 78 23 45 67 89 34 56 78 9A', '01 23 45 67 89 AB CD EF', '23 8B 4F E5 84 7E 44 B2'],
      ['cast128-cbc', '01 23 45 67 12 34 56 78 23 45', '01 23 45 67 89 AB CD EF', 'EB 6A 71 1A 2C 02 27 1B'],
      ['cast128-cbc', '01 23 45 67 12', '01 23 45 67 89 AB CD EF', '7A C8 16 D1 6E 9B 30 2E'],
      ['blowfish-cbc', Buffer.from('abcdefghijklmnopqrstuvwxyz').toString('hex'), Buffer.from('BLOWFISH').toString('hex'), '32 4E D0 FE F4 13 A2 03'],
    ];
    for (const [name, k, pt, ct] of vectors) {
      const c = makeCipher(name, hex(k));
      if (c.unsupported) { out.push(c.unsupported); continue; }
      const got = Buffer.from(c.encrypt(new Uint8Array(8), hex(pt))).toString('hex');
      const back = Buffer.from(c.decrypt(new Uint8Array(8), hex(ct))).toString('hex');
      out.push(got === Buffer.from(hex(ct)).toString('hex') && back === Buffer.from(hex(pt)).toString('hex'));
    }
    for (const [name, kl] of [['blowfish-cbc', 56], ['blowfish-cbc', 5], ['cast128-cbc', 16], ['cast128-cbc', 10]]) {
      const sa = { spi: 7, flags: 0, esn: true, enc: { name, key: new Uint8Array(kl).fill(9) }, auth: { name: 'hmac-sha1', key: new Uint8Array(20).fill(1) } };
      const p = espSealer(sa).seal(4, Uint8Array.of(1, 2, 3), 10, 2);
      const r = espOpener(sa).open(p, 2);
      out.push(r.ok && r.payload.length === 3 && r.padOk);
    }
    console.log(JSON.stringify(out));
  `;
  const child = spawnSync(process.execPath, ['--openssl-legacy-provider', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  assert.deepEqual(JSON.parse(child.stdout), [true, true, true, true, true, true, true, true]);
});
