/**
 * Where the extensions of a plain dumped SA are, found by one walk over its
 * bytes: pfkey_align and pfkey_check (decode.ts) narrowed to the shape
 * nearly every SA has, for the printers that write such an SA straight from
 * its bytes (format/sadump-bytes.ts, format/sa-script-bytes.ts). Nothing is
 * built but the answer.
 *
 * Taken: a Linux SADB_DUMP entry without errno, of AH, ESP or IPComp, its
 * length exact; every extension one of SA, the three lifetimes, source,
 * destination and proxy addresses, the two keys and SA2, each at most once
 * and of its exact size; both addresses IPv4 with one upper protocol; each
 * key of some bits, all in its extension; SA, SA2 and both addresses
 * present. Anything else is undefined: the caller's printer proper says it.
 */
import { SaType } from '../model/tables.js';
import { AF, extNumber, MsgType, PF_KEY_V2, Size, type ExtKind } from './constants.js';

const IPV4_ADDRESS = Size.sadb_address + Size.sockaddr_in;
/**
 * The extensions taken and their exact size (0: any). Proxy is never
 * printed (the engine adds it to every SA whose source is not 0.0.0.0);
 * keys are checked against their bits below.
 */
const TAKEN = [
  ['sa', Size.sadb_sa],
  ['lifetime_current', Size.sadb_lifetime],
  ['lifetime_hard', Size.sadb_lifetime],
  ['lifetime_soft', Size.sadb_lifetime],
  ['address_src', IPV4_ADDRESS],
  ['address_dst', IPV4_ADDRESS],
  ['address_proxy', 0],
  ['key_auth', 0],
  ['key_encrypt', 0],
  ['sa2', Size.sadb_x_sa2],
] as const;
const { num: NUM, sizes: SIZES, found } = takenExtensions(TAKEN);

/** Byte offsets of the extensions in the message; -1: absent. */
export interface DumpedSa {
  readonly sa: number;
  readonly cur: number;
  readonly hard: number;
  readonly soft: number;
  readonly src: number;
  readonly dst: number;
  readonly akey: number;
  readonly ekey: number;
  readonly sa2: number;
}

export function dumpedSa(m: Uint8Array): DumpedSa | undefined {
  if (m.length < Size.sadb_msg || m[0] !== PF_KEY_V2 || m[1] !== MsgType.DUMP || m[2] !== 0) return undefined;
  const satype = m[3];
  if (satype !== SaType.AH && satype !== SaType.ESP && satype !== SaType.IPCOMP) return undefined;
  if (!walkExtensions(m, SIZES, found)) return undefined;
  const sa = found[NUM.sa]!;
  const sa2 = found[NUM.sa2]!;
  const src = found[NUM.address_src]!;
  const dst = found[NUM.address_dst]!;
  const akey = found[NUM.key_auth]!;
  const ekey = found[NUM.key_encrypt]!;
  if (sa < 0 || sa2 < 0 || src < 0 || dst < 0) return undefined;
  // sockaddr_in (family in host order on Linux); pfkey_check: one upper protocol for both
  if (u16(m, src + 8) !== AF.INET || u16(m, dst + 8) !== AF.INET || m[src + 4] !== m[dst + 4]) return undefined;
  if (!keyFits(m, akey) || !keyFits(m, ekey)) return undefined;
  return { sa, cur: found[NUM.lifetime_current]!, hard: found[NUM.lifetime_hard]!, soft: found[NUM.lifetime_soft]!, src, dst, akey, ekey, sa2 };
}

/**
 * The tables a walk over a message's extensions (walkExtensions) needs for
 * the extensions `taken` and their exact size (0: any): each one's wire
 * number, the size by number (-1: not taken), and where each was found.
 */
export function takenExtensions<K extends ExtKind>(taken: readonly (readonly [K, number])[]): { num: Record<K, number>; sizes: Int16Array; found: Int32Array } {
  const num = Object.fromEntries(taken.map(([kind]) => [kind, extNumber('linux', kind)])) as Record<K, number>;
  const sizes = new Int16Array(Math.max(...(Object.values(num) as number[])) + 1).fill(-1);
  for (const [kind, size] of taken) sizes[num[kind]] = size;
  return { num, sizes, found: new Int32Array(sizes.length) };
}

/**
 * One walk over a message's extensions, its length (in the header) the
 * message's: where each is, by wire number, in `found` (-1: absent). False
 * if one is not taken (`sizes` -1), not of its exact size (0: any), there
 * twice, or runs past the message.
 */
export function walkExtensions(m: Uint8Array, sizes: Int16Array, found: Int32Array): boolean {
  const len = u16(m, 4) * 8;
  if (len !== m.length) return false;
  found.fill(-1);
  for (let p = Size.sadb_msg; p < len; ) {
    const el = u16(m, p) * 8;
    if (el === 0 || p + el > len) return false;
    const type = u16(m, p + 2);
    const size = type < sizes.length ? sizes[type]! : -1;
    if (size < 0 || found[type]! >= 0 || (size !== 0 && el !== size)) return false;
    found[type] = p;
    p += el;
  }
  return true;
}

/** A key (at `ext`, or none: -1) of some bits, all of them in its extension. */
function keyFits(m: Uint8Array, ext: number): boolean {
  if (ext < 0) return true;
  const bits = u16(m, ext + 4);
  return bits !== 0 && Size.sadb_key + Math.ceil(bits / 8) <= u16(m, ext) * 8;
}

/** A key extension's bytes as printers take them: bits / 8 of them. */
export function keyBytes(m: Uint8Array, ext: number): number {
  return u16(m, ext + 4) >>> 3;
}

export function u16(m: Uint8Array, at: number): number {
  return m[at]! | (m[at + 1]! << 8);
}

export function le32(m: Uint8Array, at: number): number {
  return (m[at]! | (m[at + 1]! << 8) | (m[at + 2]! << 16) | (m[at + 3]! << 24)) >>> 0;
}

export function be32(m: Uint8Array, at: number): number {
  return ((m[at]! << 24) | (m[at + 1]! << 16) | (m[at + 2]! << 8) | m[at + 3]!) >>> 0;
}

/** A little-endian u64 as a Number when it is below 2^53, else undefined. */
export function u64Number(m: Uint8Array, at: number): number | undefined {
  const hi = le32(m, at + 4);
  return hi < 1 << 21 ? hi * 0x100000000 + le32(m, at) : undefined;
}

export function readU64(m: Uint8Array, at: number): bigint {
  return (BigInt(le32(m, at + 4)) << 32n) | BigInt(le32(m, at));
}
