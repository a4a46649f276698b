/**
 * Integrity algorithms of ESP and AH: each SA's key is turned into a Mac once
 * (KeyObjects, precomputed hash states), and a packet costs one MAC
 * computation and one constant-time compare.
 *
 * HMAC-* per RFC 2104 with the truncations of RFC 2403/2404 (96 bits),
 * RFC 4868 (128/192/256) and the 96-bit hmac-sha256 of the registry entry;
 * AES-XCBC-MAC-96 per RFC 3566 built from AES; KAME's keyed-md5/keyed-sha1
 * (RFC 1828/1852, as KAME's ah_core.c computes them).
 */
import { createHash, createHmac, createCipheriv, createSecretKey, timingSafeEqual, type Hash, type KeyObject } from 'node:crypto';
// crypto.hash through the namespace: a named import of it would fail to link on Node 20 before 20.12
import * as cryptoNs from 'node:crypto';
import { algorithmByName } from '../model/algorithms.js';
import type { NativeHmac, OpenSsl } from '../sys/libcrypto.js';
import { type Unsupported, unsupported } from './types.js';

export interface Mac {
  /** registry name */
  readonly name: string;
  /** bytes of ICV on the wire */
  readonly icvLen: number;
  /** the untruncated MAC of data followed by tail (tail: ESN high bits, RFC 4303 section 3.3.2.2.1) */
  compute(data: Uint8Array, tail?: Uint8Array): Uint8Array;
  /** compute and compare with icv (icvLen bytes) in constant time */
  verify(data: Uint8Array, tail: Uint8Array | undefined, icv: Uint8Array): boolean;
}

/** OpenSSL digest of each HMAC algorithm (registry name -> digest). */
const HMAC_DIGEST: ReadonlyMap<string, string> = new Map([
  ['hmac-md5', 'md5'],
  ['hmac-sha1', 'sha1'],
  ['hmac-sha256', 'sha256'],
  ['hmac-sha256-128', 'sha256'],
  ['hmac-sha384', 'sha384'],
  ['hmac-sha512', 'sha512'],
  ['hmac-ripemd160', 'ripemd160'],
]);

/** KAME's keyed hashes (RFC 1828 keyed MD5; keyed SHA-1 the same construction). */
const KEYED_DIGEST: ReadonlyMap<string, string> = new Map([
  ['keyed-md5', 'md5'],
  ['keyed-sha1', 'sha1'],
]);

/**
 * KAME truncates every algorithm to 16 bytes on an SA with SADB_X_EXT_OLD
 * (RFC 1826 AH) and to 12 otherwise (ah_core.c ah_sumsiz_1216); without the
 * flag the registry's icvBits says (12 bytes for all KAME knew, more for RFC 4868).
 */
const OLD_ICV_BYTES = 16;

function verifyWith(mac: Mac, data: Uint8Array, tail: Uint8Array | undefined, icv: Uint8Array): boolean {
  if (icv.length !== mac.icvLen) return false;
  if (mac.icvLen === 0) return true;
  const full = mac.compute(data, tail);
  return timingSafeEqual(full.subarray(0, mac.icvLen), icv);
}

/** Bytes in a block of each digest HMAC runs over (RFC 2104's B). */
const BLOCK_BYTES: ReadonlyMap<string, number> = new Map([
  ['md5', 64],
  ['sha1', 64],
  ['sha256', 64],
  ['ripemd160', 64],
  ['sha384', 128],
  ['sha512', 128],
]);

/** crypto.hash (Node 20.12 and 21.7 on): a digest in one call, without a Hash object. */
type OneShot = (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer;
const oneShot = (cryptoNs as unknown as { hash?: OneShot }).hash;

function hmacMac(name: string, digest: string, key: Uint8Array, icvLen: number, openssl: OpenSsl | undefined): Mac {
  const native = openssl?.hmac(digest, key);
  return native ? hmacNative(name, native, digest, key, icvLen) : hmacNode(name, digest, key, icvLen);
}

/** HMAC over node:crypto. */
function hmacNode(name: string, digest: string, key: Uint8Array, icvLen: number): Mac {
  const block = BLOCK_BYTES.get(digest)!;
  if (oneShot) return hmacOneShot(name, digest, block, oneShot, key, icvLen);
  // a zero-length key cannot be a KeyObject; HMAC itself allows it (RFC 2104 section 3)
  const k: KeyObject | Uint8Array = key.length > 0 ? createSecretKey(key) : new Uint8Array(0);
  const mac: Mac = {
    name,
    icvLen,
    compute(data, tail) {
      const h = createHmac(digest, k).update(data);
      if (tail) h.update(tail);
      return h.digest();
    },
    verify: (data, tail, icv) => verifyWith(mac, data, tail, icv),
  };
  return mac;
}

/** Node's OpenSSL's HMAC called directly (src/sys/libcrypto.ts): one context per SA, restarted per packet. */
function hmacNative(name: string, native: NativeHmac, digest: string, key: Uint8Array, icvLen: number): Mac {
  const one: Uint8Array[] = [new Uint8Array(0)];
  const two: Uint8Array[] = [new Uint8Array(0), new Uint8Array(0)];
  let fallback: Mac | undefined;
  const mac: Mac = {
    name,
    icvLen,
    compute(data, tail) {
      let parts = one;
      if (tail) {
        two[0] = data;
        two[1] = tail;
        parts = two;
      } else one[0] = data;
      // OpenSSL refusing a call it took for the SA's first packet does not happen; node:crypto answers if it does
      return native(parts) ?? (fallback ??= hmacNode(name, digest, key, icvLen)).compute(data, tail);
    },
    verify: (data, tail, icv) => verifyWith(mac, data, tail, icv),
  };
  return mac;
}

/**
 * RFC 2104 as two one-shot digests: H(K xor opad || H(K xor ipad || data)).
 * The padded keys sit at the front of two scratch buffers made once per SA;
 * a packet is copied in behind its pad. createHmac costs a Hmac object and
 * two key blocks hashed per packet: 2.9 against 2.2 us for 1400 bytes of
 * HMAC-SHA-256 here.
 */
function hmacOneShot(name: string, digest: string, block: number, hash: OneShot, key: Uint8Array, icvLen: number): Mac {
  // RFC 2104 section 2: a key longer than a block is hashed first
  const k = key.length > block ? hash(digest, key, 'buffer') : key;
  let inner = new Uint8Array(block + 2048);
  const outer = new Uint8Array(block + 64);
  for (let i = 0; i < block; i++) {
    inner[i] = (k[i] ?? 0) ^ 0x36;
    outer[i] = (k[i] ?? 0) ^ 0x5c;
  }
  const mac: Mac = {
    name,
    icvLen,
    compute(data, tail) {
      const n = block + data.length + (tail?.length ?? 0);
      if (inner.length < n) {
        const grown = new Uint8Array(n + 2048);
        grown.set(inner.subarray(0, block));
        inner = grown;
      }
      inner.set(data, block);
      if (tail) inner.set(tail, block + data.length);
      const h = hash(digest, inner.subarray(0, n), 'buffer');
      outer.set(h, block);
      return hash(digest, outer.subarray(0, block + h.length), 'buffer');
    },
    verify: (data, tail, icv) => verifyWith(mac, data, tail, icv),
  };
  return mac;
}

/**
 * Keyed MD5/SHA-1 as KAME's ah_keyed_md5_init/_result compute it:
 * H(key || 0x80 || zeros || 64-bit key bit length || data || key). The length
 * is little-endian in both (MD5's own order; for SHA-1 a KAME quirk that
 * interoperating peers share), and only its low 32 bits are filled.
 */
export function keyedPrefix(key: Uint8Array): Uint8Array {
  const padlen = key.length < 56 ? 64 - 8 - key.length : 64 + 64 - 8 - key.length;
  const out = new Uint8Array(key.length + padlen + 8);
  out.set(key, 0);
  out[key.length] = 0x80;
  const bits = key.length * 8;
  const at = key.length + padlen;
  out[at] = bits & 0xff;
  out[at + 1] = (bits >>> 8) & 0xff;
  out[at + 2] = (bits >>> 16) & 0xff;
  out[at + 3] = (bits >>> 24) & 0xff;
  return out;
}

function keyedMac(name: string, digest: string, key: Uint8Array, icvLen: number): Mac {
  const start: Hash = createHash(digest).update(keyedPrefix(key));
  const keyCopy = Uint8Array.from(key);
  const mac: Mac = {
    name,
    icvLen,
    compute(data, tail) {
      const h = start.copy().update(data);
      if (tail) h.update(tail);
      return h.update(keyCopy).digest();
    },
    verify: (data, tail, icv) => verifyWith(mac, data, tail, icv),
  };
  return mac;
}

const ZERO16 = new Uint8Array(16);

/** The three derived keys of RFC 3566 section 4: AES-K of 0x01.., 0x02.., 0x03... */
function xcbcKeys(key: Uint8Array): [KeyObject, Uint8Array, Uint8Array] {
  const ecb = createCipheriv('aes-128-ecb', createSecretKey(key), null).setAutoPadding(false);
  const k = ecb.update(new Uint8Array(48).map((_, i) => 1 + (i >> 4)));
  return [createSecretKey(k.subarray(0, 16)), k.subarray(16, 32), k.subarray(32, 48)];
}

/**
 * AES-XCBC-MAC (RFC 3566 section 4): a CBC-MAC under K1 whose last block is
 * XORed with K2 when it is whole, or padded with 0x80 0x00... and XORed with
 * K3 when it is not (an empty message is one padded block).
 */
export function xcbcMac(keys: [KeyObject, Uint8Array, Uint8Array], msg: Uint8Array): Uint8Array {
  const [k1, k2, k3] = keys;
  const lead = msg.length === 0 ? 0 : Math.floor((msg.length - 1) / 16) * 16;
  const lastLen = msg.length - lead;
  const last = new Uint8Array(16);
  last.set(msg.subarray(lead));
  const mask = lastLen === 16 ? k2 : k3;
  if (lastLen < 16) last[lastLen] = 0x80;
  for (let i = 0; i < 16; i++) last[i]! ^= mask[i]!;
  const cbc = createCipheriv('aes-128-cbc', k1, ZERO16).setAutoPadding(false);
  if (lead > 0) cbc.update(msg.subarray(0, lead));
  return cbc.update(last);
}

function concat(a: Uint8Array, b: Uint8Array | undefined): Uint8Array {
  if (!b || b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function xcbcIntegrity(name: string, key: Uint8Array, icvLen: number): Mac {
  const keys = xcbcKeys(key);
  const mac: Mac = {
    name,
    icvLen,
    compute: (data, tail) => xcbcMac(keys, concat(data, tail)),
    verify: (data, tail, icv) => verifyWith(mac, data, tail, icv),
  };
  return mac;
}

function nullMac(): Mac {
  return { name: 'null', icvLen: 0, compute: () => new Uint8Array(0), verify: (_d, _t, icv) => icv.length === 0 };
}

function digestAvailable(digest: string): boolean {
  try {
    createHash(digest);
    return true;
  } catch {
    return false;
  }
}

/**
 * The Mac of an SA's integrity algorithm, or why there is none. `old`
 * selects RFC 1826's 16-byte authentication data (KAME's SADB_X_EXT_OLD).
 */
export function makeMac(name: string, key: Uint8Array, old = false, openssl?: OpenSsl): Mac | Unsupported {
  const alg = algorithmByName('auth', name);
  if (!alg) return unsupported('unknown-algorithm', `cannot verify ${name}: not an authentication algorithm setkey knows`);
  const canonical = alg.name;
  if (canonical === 'null') return nullMac();
  const icvLen = old ? OLD_ICV_BYTES : (alg.icvBits ?? 96) / 8;
  const hmac = HMAC_DIGEST.get(canonical);
  const keyed = KEYED_DIGEST.get(canonical);
  const digest = hmac ?? keyed;
  if (digest !== undefined) {
    if (!digestAvailable(digest)) {
      return unsupported('no-implementation', `cannot verify ${canonical}: this node's OpenSSL has no ${digest} digest`);
    }
    return hmac ? hmacMac(canonical, digest, key, icvLen, openssl) : keyedMac(canonical, digest, key, icvLen);
  }
  if (canonical === 'aes-xcbc-mac') {
    if (key.length !== 16) {
      return unsupported('key-length', `cannot verify aes-xcbc-mac: a ${key.length * 8}-bit key (RFC 3566 takes 128 bits)`);
    }
    return xcbcIntegrity(canonical, key, icvLen);
  }
  return unsupported('combination', `cannot verify ${canonical}: it signs TCP segments (RFC 2385), not IPsec packets`);
}
