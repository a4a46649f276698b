/**
 * Shared shapes of the packet transforms: what an SA must say for its packets
 * to be opened (EspSa, and espSaOf from the model's SA), and the results of
 * opening, verifying and failing.
 * Errors are values with a stable code (design.md section 3): nothing in
 * src/esp throws for packet bytes, whatever they are.
 */
import type { AlgRef, SaParams } from '../model/sa.js';
import { SaFlag } from '../model/tables.js';

/** An algorithm and its key as the SA holds them (key includes any RFC 3686/4106 salt). */
export interface AlgKey {
  /** a registry spelling (src/model/algorithms.ts): canonical name or alias */
  readonly name: string;
  readonly key: Uint8Array;
}

/** What an ESP or AH transform needs to know of its SA. */
export interface EspSa {
  /** host order; the wire carries it big-endian */
  readonly spi: number;
  /** sadb_sa_flags (SaFlag in src/model/tables.ts): OLD, IV4B, DERIV, PRAND, PZERO matter here */
  readonly flags: number;
  /** RFC 4303 section 2.2.1 extended sequence numbers */
  readonly esn: boolean;
  readonly enc?: AlgKey;
  readonly auth?: AlgKey;
  /** RFC 1826/1827 transforms; defaults to (flags & SaFlag.OLD) */
  readonly old?: boolean;
}

/** Why a transform cannot be built; stable, for scripts and the CLI. */
export type UnsupportedCode =
  /** the registry has no algorithm of that name */
  | 'unknown-algorithm'
  /** the algorithm exists but OpenSSL (Node's crypto) does not implement it */
  | 'no-implementation'
  /** OpenSSL 3 has it only in its legacy provider, which this process did not load */
  | 'legacy-provider'
  /** the key is not a length the algorithm takes */
  | 'key-length'
  /** the algorithms cannot be used together, or not with this kind of SA */
  | 'combination';

export interface Unsupported {
  /** one line naming the algorithm and why: `cannot decrypt twofish-cbc: ...` */
  readonly unsupported: string;
  readonly code: UnsupportedCode;
}

export function unsupported(code: UnsupportedCode, message: string): Unsupported {
  return { unsupported: message, code };
}

export function isUnsupported(x: object): x is Unsupported {
  return 'unsupported' in x;
}

/** Why a packet did not open. */
export type OpenFailure =
  /** the ICV (or AEAD tag) does not match: wrong key, wrong ESN guess, or damage */
  | 'icv'
  /** the trailer's pad length points outside the decrypted data */
  | 'padding'
  /** too short for the SA's header, IV, trailer and ICV */
  | 'short'
  /** the ciphertext is not a whole number of cipher blocks, or the cipher refused it */
  | 'cipher';

export interface Opened {
  readonly ok: true;
  /** the trailer's Next Header (RFC 4303 section 2.6) */
  readonly nextHeader: number;
  /** the inner data without padding, pad length and next header */
  readonly payload: Uint8Array;
  /** the low 32 bits of the sequence number as sent (0: old ESP carries none) */
  readonly seq: number;
  /** the padding bytes are what the SA's padding rule produces (RFC 4303 section 2.4: 1, 2, 3, ...) */
  readonly padOk: boolean;
}

export interface NotOpened {
  readonly ok: false;
  readonly reason: OpenFailure;
}

export type OpenResult = Opened | NotOpened;

/** Why an AH packet did not verify. */
export type AhFailure =
  | 'icv'
  | 'short'
  /** the IP header, its options or extension headers cannot be walked */
  | 'header';

export interface AhVerified {
  readonly ok: true;
  /** the AH header's Next Header */
  readonly nextHeader: number;
  /** bytes of the AH header including ICV and padding */
  readonly ahLength: number;
  /** low 32 bits of the sequence number (0: old AH carries none) */
  readonly seq: number;
}

export interface AhNotVerified {
  readonly ok: false;
  readonly reason: AhFailure;
}

export type AhResult = AhVerified | AhNotVerified;

/** Read a big-endian 32-bit word (no DataView: the bytes may be any view). */
export function be32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

export function putBe32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

const EMPTY = new Uint8Array(0);

function algKey(verb: string, ref: { readonly alg: AlgRef; readonly key?: { readonly data: Uint8Array } } | undefined): AlgKey | Unsupported | undefined {
  if (!ref) return undefined;
  if (typeof ref.alg === 'number') {
    return unsupported('unknown-algorithm', `cannot ${verb} algorithm number ${ref.alg}: no registry entry names it`);
  }
  return { name: ref.alg, key: ref.key?.data ?? EMPTY };
}

/**
 * The model's SA (src/model/sa.ts) as the packet transforms take it; for AH
 * and IPComp SAs too (AH uses auth; IPComp needs neither). An algorithm the
 * SAD holds only as a number (no registry entry on this platform) cannot be
 * run, and says so.
 */
export function espSaOf(sa: SaParams): EspSa | Unsupported {
  const enc = algKey('decrypt', sa.enc);
  if (enc && 'unsupported' in enc) return enc;
  const auth = algKey('verify', sa.auth);
  if (auth && 'unsupported' in auth) return auth;
  return {
    spi: sa.spi,
    flags: sa.flags,
    esn: sa.esn,
    old: (sa.flags & SaFlag.OLD) !== 0,
    ...(enc ? { enc } : {}),
    ...(auth ? { auth } : {}),
  };
}
