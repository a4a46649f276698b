/**
 * Node's own OpenSSL called directly (through koffi, on the symbols the node
 * binary exports for addons): one cipher or HMAC context per SA, re-started
 * for each packet with its IV, instead of the Decipher or Hmac object
 * node:crypto builds per call. For 1400-byte ESP packets that object is most
 * of the cost: AES-128-GCM 4.3 against 1.9 us a packet, HMAC-SHA-256 3.1
 * against 1.2 us, measured here. The same library does the same
 * computation, so results are those of node:crypto; --decrypt's seal/open
 * tests run both ways.
 *
 * Optional: without koffi, or with SETKEY_NATIVE_CRYPTO=0, nothing is
 * loaded and src/esp uses node:crypto. Memory safety rests on the lengths
 * passed here: every output buffer is allocated for the input's length plus
 * a block, never less than OpenSSL may write.
 */
import { importKoffi, type KoffiFunction } from './koffi.js';

/** A decryption context of one cipher and key, padding off. */
export interface NativeDecryptor {
  /** AEAD (GCM, ChaCha20-Poly1305): restart with iv, take the AAD parts and the ciphertext; the plaintext, or null when the tag does not match */
  openAead(iv: Uint8Array, aad: readonly Uint8Array[], ct: Uint8Array, tag: Uint8Array): Uint8Array | null;
  /** a block mode as it runs on (no restart): whole blocks in, as many out; null if OpenSSL refused */
  update(data: Uint8Array): Uint8Array | null;
}

/** An HMAC context of one digest and key: the untruncated MAC of the parts, in order. */
export type NativeHmac = (parts: readonly Uint8Array[]) => Uint8Array | null;

export interface OpenSsl {
  /** undefined when this OpenSSL has no such cipher or refuses the key (`aes-128-gcm`, `aes-256-cbc`, `chacha20-poly1305`) */
  decryptor(cipher: string, key: Uint8Array): NativeDecryptor | undefined;
  /** undefined when this OpenSSL has no such digest (`sha256`, `ripemd160`) */
  hmac(digest: string, key: Uint8Array): NativeHmac | undefined;
}

/** EVP_CTRL_AEAD_SET_TAG (openssl/evp.h; EVP_CTRL_GCM_SET_TAG is the same number) */
const EVP_CTRL_AEAD_SET_TAG = 0x11;
/** the largest block of the ciphers used: an update may write up to a block more than its input */
const SLACK = 32;

type Ptr = object | null;

interface Bound {
  EVP_CIPHER_fetch: KoffiFunction;
  EVP_CIPHER_free: KoffiFunction;
  EVP_MD_free: KoffiFunction;
  EVP_CIPHER_get_key_length: KoffiFunction;
  EVP_CIPHER_get_iv_length: KoffiFunction;
  EVP_CIPHER_CTX_new: KoffiFunction;
  EVP_CIPHER_CTX_free: KoffiFunction;
  EVP_CipherInit_ex: KoffiFunction;
  EVP_CIPHER_CTX_set_padding: KoffiFunction;
  EVP_CIPHER_CTX_ctrl: KoffiFunction;
  EVP_CipherUpdate: KoffiFunction;
  EVP_CipherFinal_ex: KoffiFunction;
  EVP_MD_fetch: KoffiFunction;
  EVP_MD_get_size: KoffiFunction;
  HMAC_CTX_new: KoffiFunction;
  HMAC_CTX_free: KoffiFunction;
  HMAC_Init_ex: KoffiFunction;
  HMAC_Update: KoffiFunction;
  HMAC_Final: KoffiFunction;
}

/** the binding, made once per process (declaring the functions resolves the symbols) */
let loaded: Promise<OpenSsl | undefined> | undefined;

/** Bind the functions once per process; undefined (and node:crypto used) when koffi or a symbol is missing, or when turned off. */
export function loadOpenSsl(env: Readonly<Record<string, string | undefined>> = process.env): Promise<OpenSsl | undefined> {
  if (env['SETKEY_NATIVE_CRYPTO'] === '0') return Promise.resolve(undefined);
  loaded ??= (async () => {
    const koffi = await importKoffi();
    if ('noKoffi' in koffi) return undefined;
    try {
      const lib = koffi.load(null);
      const f = (p: string): KoffiFunction => lib.func(p);
      const b: Bound = {
        EVP_CIPHER_fetch: f('void *EVP_CIPHER_fetch(void *libctx, const char *name, const char *props)'),
        EVP_CIPHER_free: f('void EVP_CIPHER_free(void *cipher)'),
        EVP_MD_free: f('void EVP_MD_free(void *md)'),
        EVP_CIPHER_get_key_length: f('int EVP_CIPHER_get_key_length(void *cipher)'),
        EVP_CIPHER_get_iv_length: f('int EVP_CIPHER_get_iv_length(void *cipher)'),
        EVP_CIPHER_CTX_new: f('void *EVP_CIPHER_CTX_new()'),
        EVP_CIPHER_CTX_free: f('void EVP_CIPHER_CTX_free(void *ctx)'),
        EVP_CipherInit_ex: f('int EVP_CipherInit_ex(void *ctx, void *cipher, void *impl, void *key, void *iv, int enc)'),
        EVP_CIPHER_CTX_set_padding: f('int EVP_CIPHER_CTX_set_padding(void *ctx, int pad)'),
        EVP_CIPHER_CTX_ctrl: f('int EVP_CIPHER_CTX_ctrl(void *ctx, int type, int arg, void *ptr)'),
        EVP_CipherUpdate: f('int EVP_CipherUpdate(void *ctx, void *out, void *outl, void *in, int inl)'),
        EVP_CipherFinal_ex: f('int EVP_CipherFinal_ex(void *ctx, void *out, void *outl)'),
        EVP_MD_fetch: f('void *EVP_MD_fetch(void *libctx, const char *name, const char *props)'),
        EVP_MD_get_size: f('int EVP_MD_get_size(void *md)'),
        HMAC_CTX_new: f('void *HMAC_CTX_new()'),
        HMAC_CTX_free: f('void HMAC_CTX_free(void *ctx)'),
        HMAC_Init_ex: f('int HMAC_Init_ex(void *ctx, void *key, int len, void *md, void *impl)'),
        HMAC_Update: f('int HMAC_Update(void *ctx, void *data, size_t len)'),
        HMAC_Final: f('int HMAC_Final(void *ctx, void *md, void *len)'),
      };
      return bind(b);
    } catch {
      // a node built without exporting OpenSSL (a distribution's shared-library build may differ): node:crypto
      return undefined;
    }
  })();
  return loaded;
}

function bind(b: Bound): OpenSsl {
  // contexts are freed with the JS object that holds them
  const ciphers = new FinalizationRegistry<Ptr>((ctx) => b.EVP_CIPHER_CTX_free(ctx));
  const hmacs = new FinalizationRegistry<Ptr>((ctx) => b.HMAC_CTX_free(ctx));
  const outl = new Int32Array(1);
  const mdLen = new Uint32Array(1);
  return {
    decryptor(cipher, key) {
      const type = b.EVP_CIPHER_fetch(null, cipher, null) as Ptr;
      if (!type) return undefined;
      // OpenSSL reads as many key and IV bytes as the cipher takes, whatever the buffer holds: the lengths
      // are checked here, where nothing else would
      const ivLen = b.EVP_CIPHER_get_iv_length(type) as number;
      const ctx = key.length === b.EVP_CIPHER_get_key_length(type) ? (b.EVP_CIPHER_CTX_new() as Ptr) : null;
      const ok = ctx !== null && b.EVP_CipherInit_ex(ctx, type, null, key, null, 0) === 1 && b.EVP_CIPHER_CTX_set_padding(ctx, 0) === 1;
      // the context holds its own reference to a fetched cipher
      b.EVP_CIPHER_free(type);
      if (!ok) {
        if (ctx) b.EVP_CIPHER_CTX_free(ctx);
        return undefined;
      }
      const d: NativeDecryptor = {
        openAead(iv, aad, ct, tag) {
          if (iv.length !== ivLen || tag.length > 16) return null;
          if (b.EVP_CipherInit_ex(ctx, null, null, null, iv, 0) !== 1) return null;
          if (b.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, tag.length, tag) !== 1) return null;
          for (const a of aad) if (a.length > 0 && b.EVP_CipherUpdate(ctx, null, outl, a, a.length) !== 1) return null;
          const out = Buffer.allocUnsafe(ct.length + SLACK);
          let n = 0;
          if (ct.length > 0) {
            if (b.EVP_CipherUpdate(ctx, out, outl, ct, ct.length) !== 1) return null;
            n = outl[0]!;
          }
          if (b.EVP_CipherFinal_ex(ctx, out.subarray(n), outl) !== 1) return null;
          return out.subarray(0, n + outl[0]!);
        },
        update(data) {
          const out = Buffer.allocUnsafe(data.length + SLACK);
          if (b.EVP_CipherUpdate(ctx, out, outl, data, data.length) !== 1) return null;
          return out.subarray(0, outl[0]!);
        },
      };
      ciphers.register(d, ctx);
      return d;
    },
    hmac(digest, key) {
      const md = b.EVP_MD_fetch(null, digest, null) as Ptr;
      if (!md) return undefined;
      const size = b.EVP_MD_get_size(md) as number;
      const ctx = size > 0 ? (b.HMAC_CTX_new() as Ptr) : null;
      // a key of length 0 is allowed (RFC 2104); OpenSSL wants a pointer all the same
      const ok = ctx !== null && b.HMAC_Init_ex(ctx, key.length > 0 ? key : new Uint8Array(1), key.length, md, null) === 1;
      // the context's digest context holds its own reference to a fetched digest
      b.EVP_MD_free(md);
      if (!ok) {
        if (ctx) b.HMAC_CTX_free(ctx);
        return undefined;
      }
      const mac: NativeHmac = (parts) => {
        // a NULL key with the same digest: OpenSSL restarts from the key set above
        if (b.HMAC_Init_ex(ctx, null, 0, null, null) !== 1) return null;
        for (const p of parts) if (p.length > 0 && b.HMAC_Update(ctx, p, p.length) !== 1) return null;
        const out = Buffer.allocUnsafe(size);
        if (b.HMAC_Final(ctx, out, mdLen) !== 1 || mdLen[0] !== size) return null;
        return out;
      };
      hmacs.register(mac, ctx);
      return mac;
    },
  };
}
