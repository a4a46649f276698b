/**
 * ESP encryption algorithms over node:crypto (OpenSSL). One table says how
 * each registry algorithm is carried out; makeCipher turns an SA's key into
 * ready objects once (KeyObjects, long-lived CBC and ECB contexts), so a
 * packet costs as little setup as Node allows.
 *
 * Wire sizes: RFC 4303 section 2.3 (IV), 2.4 (padding alignment); CBC
 * ciphers RFC 2405/2451/3602/4312; AES-CTR RFC 3686; AES-GCM RFC 4106;
 * AES-GMAC RFC 4543; ChaCha20-Poly1305 RFC 7634; NULL RFC 2410.
 */
import { type CipherGCMTypes, createCipheriv, createDecipheriv, createSecretKey, type Decipher, type KeyObject } from 'node:crypto';
import { algorithmByName, describeKeyBits, keyBitsAllowed } from '../model/algorithms.js';
import type { NativeDecryptor, OpenSsl } from '../sys/libcrypto.js';
import { type Unsupported, unsupported } from './types.js';

/** CBC, CTR and NULL: encryption with no integrity of its own. */
export interface PlainCipher {
  readonly kind: 'plain';
  readonly name: string;
  /** IV bytes on the wire */
  readonly ivLen: number;
  /** the ciphertext must be a multiple of this (1: any length) */
  readonly blockLen: number;
  /** the payload + padding + trailer is padded to a multiple of this (RFC 4303 section 2.4) */
  readonly padTo: number;
  /** decrypt; null if the length is not whole blocks or the cipher refuses */
  decrypt(iv: Uint8Array, ct: Uint8Array): Uint8Array | null;
  encrypt(iv: Uint8Array, pt: Uint8Array): Uint8Array;
}

/** GCM, GMAC and ChaCha20-Poly1305: the tag is the ICV. */
export interface AeadCipher {
  readonly kind: 'aead';
  readonly name: string;
  readonly ivLen: number;
  readonly blockLen: 1;
  readonly padTo: number;
  readonly tagLen: number;
  /** GMAC (RFC 4543): authenticates the whole packet, encrypts nothing */
  readonly authOnly: boolean;
  /** the plaintext if the tag matches the AAD parts and ciphertext, else null */
  open(iv: Uint8Array, aad: readonly Uint8Array[], ct: Uint8Array, tag: Uint8Array): Uint8Array | null;
  seal(iv: Uint8Array, aad: readonly Uint8Array[], pt: Uint8Array): { ct: Uint8Array; tag: Uint8Array };
}

export type Cipher = PlainCipher | AeadCipher;

type Mode = 'cbc' | 'ctr' | 'gcm' | 'gmac' | 'chacha' | 'null' | 'absent';

interface CipherSpec {
  readonly mode: Mode;
  /** OpenSSL name stem (CBC: `${stem}-ecb` / `${stem}-cbc`); may depend on the key length */
  readonly stem?: (keyBytes: number) => string;
  readonly blockLen?: number;
  /** why there is no implementation (mode 'absent') */
  readonly why?: string;
  /** the cipher lives in OpenSSL 3's legacy provider */
  readonly legacy?: string;
}

/** How each registry encryption algorithm is done. Names are the registry's; nothing here holds a number. */
const SPECS: ReadonlyMap<string, CipherSpec> = new Map<string, CipherSpec>([
  // Node's OpenSSL 3 has no single DES outside the legacy provider; 3DES EDE
  // with K1 = K2 = K3 is E(K) D(K) E(K) = E(K), single DES (see makePlain).
  ['des-cbc', { mode: 'cbc', stem: () => 'des-ede3', blockLen: 8 }],
  ['3des-cbc', { mode: 'cbc', stem: () => 'des-ede3', blockLen: 8 }],
  ['aes-cbc', { mode: 'cbc', stem: (n) => `aes-${n * 8}`, blockLen: 16 }],
  ['camellia-cbc', { mode: 'cbc', stem: (n) => `camellia-${n * 8}`, blockLen: 16 }],
  ['blowfish-cbc', { mode: 'cbc', stem: () => 'bf', blockLen: 8, legacy: 'Blowfish' }],
  ['cast128-cbc', { mode: 'cbc', stem: () => 'cast5', blockLen: 8, legacy: 'CAST-128' }],
  ['aes-ctr', { mode: 'ctr', stem: (n) => `aes-${n * 8}-ctr` }],
  ['aes-gcm-16', { mode: 'gcm', stem: (n) => `aes-${n * 8}-gcm` }],
  ['aes-gmac', { mode: 'gmac', stem: (n) => `aes-${n * 8}-gcm` }],
  ['chacha20-poly1305', { mode: 'chacha', stem: () => 'chacha20-poly1305' }],
  ['null', { mode: 'null' }],
  ['twofish-cbc', { mode: 'absent', why: "Node's crypto (OpenSSL) has no Twofish cipher" }],
  ['serpent-cbc', { mode: 'absent', why: "Node's crypto (OpenSSL) has no Serpent cipher" }],
]);

const TAG_OPTIONS = { authTagLength: 16 } as const;
const EMPTY = new Uint8Array(0);

/** XOR `src` into `dst` word by word where both are 4-aligned, else byte by byte. */
function xorInto(dst: Uint8Array, src: Uint8Array): void {
  const n = dst.length;
  if ((dst.byteOffset & 3) === 0 && (src.byteOffset & 3) === 0 && (n & 3) === 0) {
    const d = new Int32Array(dst.buffer, dst.byteOffset, n >> 2);
    const s = new Int32Array(src.buffer, src.byteOffset, n >> 2);
    for (let i = 0; i < d.length; i++) d[i]! ^= s[i]!;
    return;
  }
  for (let i = 0; i < n; i++) dst[i]! ^= src[i]!;
}

/**
 * CBC decryption with one context per SA: a context per packet is what Node
 * makes expensive. The SA's CBC context is fed the IV block and then the
 * ciphertext in one call: the first output block is discarded, and each
 * next one is D(C_i) xor C_(i-1) with C_0 the IV, exactly the packet's
 * plaintext, whatever the context kept from the packet before (P_i depends
 * on C_i and C_(i-1) only). Every call is whole blocks with padding off, so
 * nothing is held back between calls. In ESP the IV is right before the
 * ciphertext (RFC 4303 section 2.3), so this costs no copy; an IV elsewhere
 * (KAME's derived IV) takes an ECB context and the chaining XOR here.
 */
function cbcDecryptor(cbc: Decipher | NativeDecryptor, ecb: Decipher, blockLen: number): (iv: Uint8Array, ct: Uint8Array) => Uint8Array | null {
  let scratch = new Uint8Array(0);
  return (iv, ct) => {
    if (ct.length === 0 || ct.length % blockLen !== 0 || iv.length !== blockLen) return null;
    if (iv.buffer === ct.buffer && iv.byteOffset + blockLen === ct.byteOffset) {
      const out = cbc.update(new Uint8Array(ct.buffer, iv.byteOffset, blockLen + ct.length));
      return out && out.length === blockLen + ct.length ? out.subarray(blockLen) : null;
    }
    const out = ecb.update(ct);
    if (out.length !== ct.length) return null;
    for (let i = 0; i < blockLen; i++) out[i]! ^= iv[i]!;
    if (ct.length > blockLen) {
      let prev = ct.subarray(0, ct.length - blockLen);
      if (prev.byteOffset & 3) {
        if (scratch.length < prev.length) scratch = new Uint8Array(Math.max(prev.length, 2048));
        scratch.set(prev);
        prev = scratch.subarray(0, prev.length);
      }
      xorInto(out.subarray(blockLen), prev);
    }
    return out;
  };
}

function makePlain(name: string, spec: CipherSpec, key: Uint8Array, salt: Uint8Array, openssl: OpenSsl | undefined): PlainCipher {
  if (spec.mode === 'null') {
    // RFC 2410: no IV, block size 1; RFC 4303 section 2.4 still aligns the trailer to 4 bytes
    return { kind: 'plain', name, ivLen: 0, blockLen: 1, padTo: 4, decrypt: (_iv, ct) => ct, encrypt: (_iv, pt) => pt };
  }
  const stem = spec.stem!(key.length);
  if (spec.mode === 'ctr') return makeCtr(name, stem, createSecretKey(key), salt);
  const raw = name === 'des-cbc' ? Uint8Array.from([...key, ...key, ...key]) : key;
  const k = createSecretKey(raw);
  const blockLen = spec.blockLen!;
  const ecb = createDecipheriv(`${stem}-ecb`, k, null).setAutoPadding(false);
  const cbcName = `${stem}-cbc`;
  // Node's OpenSSL called directly when it can be (src/sys/libcrypto.ts), else a node:crypto Decipher
  const cbc = openssl?.decryptor(cbcName, raw) ?? createDecipheriv(cbcName, k, new Uint8Array(blockLen)).setAutoPadding(false);
  return {
    kind: 'plain',
    name,
    ivLen: blockLen,
    blockLen,
    padTo: blockLen,
    decrypt: cbcDecryptor(cbc, ecb, blockLen),
    encrypt(iv, pt) {
      const c = createCipheriv(cbcName, k, iv).setAutoPadding(false);
      return c.update(pt);
    },
  };
}

/** RFC 3686 section 4: counter block = nonce (the key's last 4 bytes) || IV || 0x00000001. */
function makeCtr(name: string, stem: string, k: KeyObject, nonce: Uint8Array): PlainCipher {
  const block = new Uint8Array(16);
  block.set(nonce, 0);
  block[15] = 1;
  const run = (iv: Uint8Array, data: Uint8Array): Uint8Array => {
    block.set(iv, 4);
    return createCipheriv(stem, k, block).update(data);
  };
  createCipheriv(stem, k, block);
  return { kind: 'plain', name, ivLen: 8, blockLen: 1, padTo: 4, decrypt: run, encrypt: run };
}

/** RFC 4106 section 4 / RFC 4543 section 3.1 / RFC 7634 section 2: nonce = salt || IV. */
function makeAead(name: string, spec: CipherSpec, key: Uint8Array, salt: Uint8Array, openssl: OpenSsl | undefined): AeadCipher {
  // ChaCha20-Poly1305 has the same AAD/tag calls as GCM; one static type serves both
  const stem = spec.stem!(key.length) as CipherGCMTypes;
  const k = createSecretKey(key);
  const nonce = new Uint8Array(12);
  nonce.set(salt, 0);
  createCipheriv(stem, k, nonce, TAG_OPTIONS);
  // Node's OpenSSL called directly when it can be (src/sys/libcrypto.ts): no Decipher object per packet
  const native = openssl?.decryptor(stem, key);
  return {
    kind: 'aead',
    name,
    ivLen: 8,
    blockLen: 1,
    padTo: 4,
    tagLen: 16,
    authOnly: spec.mode === 'gmac',
    open(iv, aad, ct, tag) {
      nonce.set(iv, 4);
      if (native) return native.openAead(nonce, aad, ct, tag);
      try {
        const d = createDecipheriv(stem, k, nonce, TAG_OPTIONS);
        d.setAuthTag(tag);
        for (const a of aad) d.setAAD(a);
        const pt = ct.length > 0 ? d.update(ct) : EMPTY;
        d.final();
        return pt;
      } catch {
        return null;
      }
    },
    seal(iv, aad, pt) {
      nonce.set(iv, 4);
      const c = createCipheriv(stem, k, nonce, TAG_OPTIONS);
      for (const a of aad) c.setAAD(a);
      const ct = pt.length > 0 ? c.update(pt) : EMPTY;
      c.final();
      return { ct, tag: c.getAuthTag() };
    },
  };
}

function refusal(name: string, spec: CipherSpec, err: unknown): Unsupported {
  if (spec.legacy) {
    return unsupported(
      'legacy-provider',
      `cannot decrypt ${name}: Node's OpenSSL 3 keeps ${spec.legacy} in its legacy provider, which this process did not load (run node with --openssl-legacy-provider)`,
    );
  }
  const why = err instanceof Error ? err.message : String(err);
  return unsupported('no-implementation', `cannot decrypt ${name}: this node's OpenSSL refused it (${why})`);
}

/**
 * The cipher of an SA's encryption algorithm and key (salt included, as the
 * SA holds it), or why there is none. Built once per SA; with `openssl`
 * (src/sys/libcrypto.ts) it decrypts through Node's OpenSSL directly.
 */
export function makeCipher(name: string, keyWithSalt: Uint8Array, openssl?: OpenSsl): Cipher | Unsupported {
  const alg = algorithmByName('enc', name);
  if (!alg) return unsupported('unknown-algorithm', `cannot decrypt ${name}: not an encryption algorithm setkey knows`);
  const canonical = alg.name;
  const spec = SPECS.get(canonical);
  if (!spec) return unsupported('no-implementation', `cannot decrypt ${canonical}: no transform is written for it`);
  if (spec.mode === 'absent') return unsupported('no-implementation', `cannot decrypt ${canonical}: ${spec.why}`);
  const bits = keyWithSalt.length * 8;
  if (!alg.noKey && !keyBitsAllowed(alg.keyBits, bits)) {
    return unsupported('key-length', `cannot decrypt ${canonical}: a ${bits}-bit key (${canonical} takes ${describeKeyBits(alg.keyBits)})`);
  }
  const saltLen = (alg.saltBits ?? 0) / 8;
  const key = keyWithSalt.subarray(0, keyWithSalt.length - saltLen);
  const salt = Uint8Array.from(keyWithSalt.subarray(keyWithSalt.length - saltLen));
  try {
    if (spec.mode === 'gcm' || spec.mode === 'gmac' || spec.mode === 'chacha') return makeAead(canonical, spec, key, salt, openssl);
    return makePlain(canonical, spec, key, salt, openssl);
  } catch (err) {
    return refusal(canonical, spec, err);
  }
}
