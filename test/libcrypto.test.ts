/**
 * The direct OpenSSL seam (src/sys/libcrypto.ts) against node:crypto, on
 * random keys, IVs, AAD and data of every length (0, odd, many blocks,
 * keys longer than a hash block): the same plaintexts and MACs, a tag that
 * does not match is null, and lengths OpenSSL would read past (a short key
 * or IV) are refused before any call. Skipped, with the reason, where koffi
 * is not installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { loadOpenSsl } from '../src/sys/libcrypto.js';

const native = await loadOpenSsl({});
const skip = native ? false : 'koffi is not installed, or this node does not export OpenSSL (node:crypto is used instead)';
const hex = (b: Uint8Array | null | undefined): string | null => (b ? Buffer.from(b).toString('hex') : null);

const AEADS: [string, number][] = [['aes-128-gcm', 16], ['aes-256-gcm', 32], ['chacha20-poly1305', 32]];
const CBCS: [string, number, number][] = [['aes-128-cbc', 16, 16], ['aes-256-cbc', 32, 16], ['des-ede3-cbc', 24, 8], ['camellia-128-cbc', 16, 16]];
const DIGESTS = ['md5', 'sha1', 'sha256', 'sha384', 'sha512', 'ripemd160'];

test('AEAD: what node:crypto seals, the direct calls open; a changed tag or ciphertext is null', { skip }, () => {
  for (const [name, keyLen] of AEADS) {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: keyLen, maxLength: keyLen }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 3 }),
        fc.uint8Array({ maxLength: 3000 }),
        fc.nat(),
        (key, iv, aad, pt, flip) => {
          const c = createCipheriv(name as 'aes-128-gcm', key, iv, { authTagLength: 16 });
          for (const a of aad) c.setAAD(a);
          const ct = c.update(pt);
          c.final();
          const tag = c.getAuthTag();
          const d = native!.decryptor(name, key)!;
          assert.equal(hex(d.openAead(iv, aad, ct, tag)), hex(pt), name);
          const badTag = Uint8Array.from(tag);
          badTag[flip % 16]! ^= 1 << (flip % 8);
          assert.equal(d.openAead(iv, aad, ct, badTag), null);
          if (ct.length > 0) {
            const badCt = Uint8Array.from(ct);
            badCt[flip % ct.length]! ^= 1;
            assert.equal(d.openAead(iv, aad, badCt, tag), null);
          }
          // the same context opens the next packet as if new
          assert.equal(hex(d.openAead(iv, aad, ct, tag)), hex(pt));
        },
      ),
      { numRuns: 60 },
    );
  }
});

test('AEAD: an IV of another length is refused without a call; a key of another length makes no context', { skip }, () => {
  const d = native!.decryptor('aes-128-gcm', new Uint8Array(16))!;
  for (const n of [0, 1, 8, 11, 13, 16]) assert.equal(d.openAead(new Uint8Array(n), [], new Uint8Array(10), new Uint8Array(16)), null, `${n}-byte IV`);
  for (const [name, keyLen] of AEADS) for (const n of [0, 1, keyLen - 1, keyLen + 1]) assert.equal(native!.decryptor(name, new Uint8Array(n)), undefined, `${name} with ${n}-byte key`);
});

test('CBC: IV then ciphertext through one running context equals a fresh node:crypto decipher per packet', { skip }, () => {
  for (const [name, keyLen, block] of CBCS) {
    const key = Uint8Array.from({ length: keyLen }, (_, i) => (i * 31 + 7) & 0xff);
    const d = native!.decryptor(name, key)!;
    fc.assert(
      fc.property(fc.uint8Array({ minLength: block, maxLength: block }), fc.integer({ min: 1, max: 100 }), fc.uint8Array({ minLength: 1600, maxLength: 1600 }), (iv, blocks, bytes) => {
        const ct = bytes.subarray(0, Math.min(blocks * block, bytes.length - (bytes.length % block)));
        const want = createDecipheriv(name, key, iv).setAutoPadding(false).update(ct);
        const got = d.update(Uint8Array.from([...iv, ...ct]));
        assert.equal(hex(got?.subarray(block)), hex(want), name);
      }),
      { numRuns: 40 },
    );
  }
});

test('HMAC: every digest, keys of every length (longer than a block too), data in parts, equals createHmac', { skip }, () => {
  for (const digest of DIGESTS) {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.uint8Array({ maxLength: 700 }), { maxLength: 3 }), (key, parts) => {
        const mac = native!.hmac(digest, key)!;
        const h = createHmac(digest, key);
        for (const p of parts) h.update(p);
        const want = h.digest();
        assert.equal(hex(mac(parts)), hex(want), digest);
        // the context restarts from its key for the next message
        assert.equal(hex(mac(parts)), hex(want));
      }),
      { numRuns: 40 },
    );
  }
  assert.equal(native!.hmac('no-such-digest', new Uint8Array(4)), undefined);
});
