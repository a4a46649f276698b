/**
 * THE algorithm registry: every name setkey accepts, its aliases, its PF_KEY
 * number on each platform, its XFRM name, its key sizes, ICV, salt and AEAD
 * nature. Nothing else in the code base may hold an algorithm number or name.
 *
 * Sources: Linux include/uapi/linux/pfkeyv2.h and net/xfrm/xfrm_algo.c, FreeBSD
 * sys/net/pfkeyv2.h, xnu bsd/net/pfkeyv2.h, ipsec-tools src/setkey/token.l,
 * RFC 4868 (HMAC-SHA-2), RFC 4106/4543 (GCM/GMAC), RFC 3686 (CTR), RFC 7634 (ChaCha20).
 */

export type AlgKind = 'enc' | 'auth' | 'comp';
export type Platform = 'linux' | 'freebsd' | 'xnu';

/** Allowed key lengths in bits: an explicit list, or a range in steps. */
export type KeyBits = readonly number[] | { readonly min: number; readonly max: number; readonly step: number };

export interface Algorithm {
  /** canonical name (what dumps, scripts and JSON use) */
  readonly name: string;
  readonly kind: AlgKind;
  /** other spellings the parser accepts */
  readonly aliases: readonly string[];
  /** PF_KEY sadb_sa_auth / sadb_sa_encrypt number per platform; absent = not expressible there */
  readonly ids: Readonly<Partial<Record<Platform, number>>>;
  /** Linux XFRM algorithm name (absent: the Linux kernel has none) */
  readonly xfrm?: string;
  /** allowed key sizes; [0] for keyless algorithms */
  readonly keyBits: KeyBits;
  /** ICV length in bits (auth and AEAD) */
  readonly icvBits?: number;
  /** trailing salt/nonce bits included in the key (RFC 3686/4106/4543/7634) */
  readonly saltBits?: number;
  /** combined-mode cipher: no separate -A allowed */
  readonly aead?: boolean;
  /** the statement takes no key after the name */
  readonly noKey?: boolean;
  /** the word the reference's dump prints for this algorithm (Linux numbering) */
  readonly dumpWord?: string;
  /** named as an example where a message cannot list every algorithm */
  readonly common?: boolean;
}

/** A spelling that selects an algorithm with extra meaning (KAME's DES variants, `simple`). */
export interface Variant {
  readonly spelling: string;
  readonly kind: AlgKind;
  readonly algorithm: string;
  /** sadb_sa_flags bits the spelling adds */
  readonly flags?: number;
  /** 'old': only with esp-old/ah-old; 'new': only without */
  readonly requires?: 'old' | 'new';
  readonly obsolete?: boolean;
}

const AES_KEYS: KeyBits = [128, 192, 256];
const AES_SALTED: KeyBits = [160, 224, 288];

export const ALGORITHMS: readonly Algorithm[] = [
  // encryption (sadb_sa_encrypt)
  { name: 'des-cbc', kind: 'enc', aliases: [], ids: { linux: 2, freebsd: 2, xnu: 1 }, xfrm: 'cbc(des)', keyBits: [64], dumpWord: 'des-cbc' },
  { name: '3des-cbc', kind: 'enc', aliases: [], ids: { linux: 3, freebsd: 3, xnu: 2 }, xfrm: 'cbc(des3_ede)', keyBits: [192], dumpWord: '3des-cbc' },
  { name: 'null', kind: 'enc', aliases: [], ids: { linux: 11, freebsd: 11, xnu: 3 }, xfrm: 'ecb(cipher_null)', keyBits: [0], noKey: true, dumpWord: 'null' },
  { name: 'cast128-cbc', kind: 'enc', aliases: [], ids: { linux: 6, freebsd: 6, xnu: 5 }, xfrm: 'cbc(cast5)', keyBits: { min: 40, max: 128, step: 8 }, dumpWord: 'cast128-cbc' },
  { name: 'blowfish-cbc', kind: 'enc', aliases: [], ids: { linux: 7, freebsd: 7, xnu: 4 }, xfrm: 'cbc(blowfish)', keyBits: { min: 40, max: 448, step: 8 }, dumpWord: 'blowfish-cbc' },
  { name: 'aes-cbc', kind: 'enc', aliases: ['rijndael-cbc'], ids: { linux: 12, freebsd: 12, xnu: 12 }, xfrm: 'cbc(aes)', keyBits: AES_KEYS, dumpWord: 'aes-cbc', common: true },
  { name: 'aes-ctr', kind: 'enc', aliases: [], ids: { linux: 13, freebsd: 13 }, xfrm: 'rfc3686(ctr(aes))', keyBits: AES_SALTED, saltBits: 32, dumpWord: 'aes-ctr' },
  { name: 'twofish-cbc', kind: 'enc', aliases: [], ids: { linux: 253 }, xfrm: 'cbc(twofish)', keyBits: AES_KEYS, dumpWord: 'twofish-cbc' },
  { name: 'camellia-cbc', kind: 'enc', aliases: [], ids: { linux: 22, freebsd: 22 }, xfrm: 'cbc(camellia)', keyBits: AES_KEYS, dumpWord: 'camellia-cbc' },
  { name: 'serpent-cbc', kind: 'enc', aliases: [], ids: { linux: 252 }, xfrm: 'cbc(serpent)', keyBits: AES_KEYS },
  // AEAD: Linux af_key cannot install them (aead_list is reachable by name over netlink only)
  { name: 'aes-gcm-16', kind: 'enc', aliases: [], ids: { linux: 20, freebsd: 20, xnu: 13 }, xfrm: 'rfc4106(gcm(aes))', keyBits: AES_SALTED, saltBits: 32, icvBits: 128, aead: true, common: true },
  { name: 'aes-gmac', kind: 'enc', aliases: [], ids: { linux: 23, freebsd: 23 }, xfrm: 'rfc4543(gcm(aes))', keyBits: AES_SALTED, saltBits: 32, icvBits: 128, aead: true },
  { name: 'chacha20-poly1305', kind: 'enc', aliases: [], ids: { freebsd: 15, xnu: 14 }, xfrm: 'rfc7539esp(chacha20,poly1305)', keyBits: [288], saltBits: 32, icvBits: 128, aead: true },

  // authentication (sadb_sa_auth)
  { name: 'hmac-md5', kind: 'auth', aliases: [], ids: { linux: 2, freebsd: 2, xnu: 1 }, xfrm: 'hmac(md5)', keyBits: [128], icvBits: 96, dumpWord: 'hmac-md5' },
  { name: 'hmac-sha1', kind: 'auth', aliases: [], ids: { linux: 3, freebsd: 3, xnu: 2 }, xfrm: 'hmac(sha1)', keyBits: [160], icvBits: 96, dumpWord: 'hmac-sha1', common: true },
  { name: 'keyed-md5', kind: 'auth', aliases: [], ids: { linux: 249, freebsd: 249, xnu: 3 }, keyBits: [128], icvBits: 96, dumpWord: 'md5' },
  { name: 'keyed-sha1', kind: 'auth', aliases: [], ids: { linux: 250, freebsd: 250, xnu: 4 }, keyBits: [160], icvBits: 96, dumpWord: 'sha' },
  // The setkey man page documents a 96-bit ICV for hmac-sha256 (draft-ietf-ipsec-ciph-sha-256-00),
  // which is also what Linux af_key installs; RFC 4868's 128 bits has its own spelling below.
  // FreeBSD's SADB_X_AALG_SHA2_256 (5) truncates to 128 bits (RFC 4868), so there 5 is the -128 entry.
  { name: 'hmac-sha256', kind: 'auth', aliases: ['hmac-sha2-256'], ids: { linux: 5, xnu: 6 }, xfrm: 'hmac(sha256)', keyBits: [256], icvBits: 96, dumpWord: 'hmac-sha256', common: true },
  { name: 'hmac-sha256-128', kind: 'auth', aliases: ['hmac-sha2-256-128'], ids: { freebsd: 5 }, xfrm: 'hmac(sha256)', keyBits: [256], icvBits: 128 },
  { name: 'hmac-sha384', kind: 'auth', aliases: ['hmac-sha2-384'], ids: { linux: 6, freebsd: 6, xnu: 7 }, xfrm: 'hmac(sha384)', keyBits: [384], icvBits: 192, dumpWord: 'hmac-sha384' },
  { name: 'hmac-sha512', kind: 'auth', aliases: ['hmac-sha2-512'], ids: { linux: 7, freebsd: 7, xnu: 8 }, xfrm: 'hmac(sha512)', keyBits: [512], icvBits: 256, dumpWord: 'hmac-sha512' },
  { name: 'hmac-ripemd160', kind: 'auth', aliases: [], ids: { linux: 8, freebsd: 8 }, xfrm: 'hmac(rmd160)', keyBits: [160], icvBits: 96, dumpWord: 'hmac-ripemd160' },
  { name: 'aes-xcbc-mac', kind: 'auth', aliases: [], ids: { linux: 9, freebsd: 9 }, xfrm: 'xcbc(aes)', keyBits: [128], icvBits: 96, dumpWord: 'aes-xcbc-mac' },
  { name: 'null', kind: 'auth', aliases: [], ids: { linux: 251, freebsd: 251, xnu: 5 }, xfrm: 'digest_null', keyBits: [0], icvBits: 0, noKey: true, dumpWord: 'null' },
  // RFC 2385 TCP-MD5: FreeBSD only; the key is a 1..80 byte password
  { name: 'tcp-md5', kind: 'auth', aliases: [], ids: { freebsd: 252 }, keyBits: { min: 8, max: 640, step: 8 } },

  // compression (sadb_sa_encrypt of an IPComp SA)
  { name: 'oui', kind: 'comp', aliases: [], ids: { linux: 1, freebsd: 1, xnu: 1 }, keyBits: [0], noKey: true, dumpWord: 'oui' },
  { name: 'deflate', kind: 'comp', aliases: [], ids: { linux: 2, freebsd: 2, xnu: 2 }, xfrm: 'deflate', keyBits: [0], noKey: true, dumpWord: 'deflate' },
  { name: 'lzs', kind: 'comp', aliases: [], ids: { linux: 3, freebsd: 3, xnu: 3 }, xfrm: 'lzs', keyBits: [0], noKey: true, dumpWord: 'lzs' },
  { name: 'lzjh', kind: 'comp', aliases: [], ids: { linux: 4 }, xfrm: 'lzjh', keyBits: [0], noKey: true },
];

export const VARIANTS: readonly Variant[] = [
  { spelling: 'des-deriv', kind: 'enc', algorithm: 'des-cbc', flags: 0x0020, requires: 'new' },
  { spelling: 'des-32iv', kind: 'enc', algorithm: 'des-cbc', flags: 0x0010, requires: 'old' },
  { spelling: 'simple', kind: 'enc', algorithm: 'null', obsolete: true },
];

// one map per kind: lookups on the parser's hot path avoid building "kind:name" keys
const BY_NAME: Record<AlgKind, Map<string, Algorithm>> = { enc: new Map(), auth: new Map(), comp: new Map() };
for (const a of ALGORITHMS) {
  BY_NAME[a.kind].set(a.name, a);
  for (const alias of a.aliases) BY_NAME[a.kind].set(alias, a);
}
const VARIANT_BY_SPELLING: Record<AlgKind, Map<string, Variant>> = { enc: new Map(), auth: new Map(), comp: new Map() };
for (const v of VARIANTS) VARIANT_BY_SPELLING[v.kind].set(v.spelling, v);

/** Look an algorithm up by any accepted spelling. */
export function algorithmByName(kind: AlgKind, name: string): Algorithm | undefined {
  return BY_NAME[kind].get(name);
}

export function variantBySpelling(kind: AlgKind, spelling: string): Variant | undefined {
  return VARIANT_BY_SPELLING[kind].get(spelling);
}

/** The algorithm a platform's PF_KEY number stands for (first registry entry wins). */
export function algorithmById(kind: AlgKind, platform: Platform, id: number): Algorithm | undefined {
  for (const a of ALGORITHMS) if (a.kind === kind && a.ids[platform] === id) return a;
  return undefined;
}

export function algorithmByXfrmName(kind: AlgKind, xfrm: string, icvBits?: number): Algorithm | undefined {
  let fallback: Algorithm | undefined;
  for (const a of ALGORITHMS) {
    if (a.kind !== kind || a.xfrm !== xfrm) continue;
    if (icvBits === undefined || a.icvBits === icvBits) return a;
    fallback ??= a;
  }
  return fallback;
}

/** Every spelling accepted for a kind, for "expected one of" messages and the man page. */
export function spellings(kind: AlgKind): string[] {
  const out: string[] = [];
  for (const a of ALGORITHMS) if (a.kind === kind) out.push(a.name, ...a.aliases);
  for (const v of VARIANTS) if (v.kind === kind) out.push(v.spelling);
  return out;
}

export function keyBitsAllowed(kb: KeyBits, bits: number): boolean {
  if (Array.isArray(kb)) return (kb as readonly number[]).includes(bits);
  const r = kb as { min: number; max: number; step: number };
  return bits >= r.min && bits <= r.max && (bits - r.min) % r.step === 0;
}

/** Human text for the allowed sizes: "64 bits", "128, 192 or 256 bits", "40 to 448 bits in steps of 8". */
export function describeKeyBits(kb: KeyBits): string {
  if (Array.isArray(kb)) {
    const l = kb as readonly number[];
    if (l.length === 1) return `${l[0]} bits`;
    return `${l.slice(0, -1).join(', ')} or ${l[l.length - 1]} bits`;
  }
  const r = kb as { min: number; max: number; step: number };
  return `${r.min} to ${r.max} bits in steps of ${r.step}`;
}
