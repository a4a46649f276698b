/**
 * How the engine keeps SAs and policies in the store: each one is the
 * PF_KEY message a Linux kernel would dump for it (docs/linux-pfkey-semantics.md
 * §2.9, §5.5), behind a small header with what only the engine needs.
 *
 *   value  = u8 version(1) | u8 flags | u16 0 | u32 0 | u64 order | message
 *   flags    1: raw (loaded verbatim, served as is)  2: larval  4: dying  8: timed policy
 *
 * Keys:
 *   s/<satype>/<dst>/<spi>     an SA (dst as family + hex; spi 8 hex digits)
 *   z/<order>                  an SA with SPI 0 (Linux never finds those by SPI)
 *   p/<dir>/<selector>/<ctx>   a policy, by its identity (selector, direction, context)
 *   e/<deadline>/<kind>/<sa>   an SA lifetime deadline (seconds, 16 digits), kind soft|hard|larval
 *   m/<name>                   counters: order, spidx, reqid
 */
import type { IpAddress } from '../model/address.js';
import { pool } from '../pfkey/pool.js';
import { serialize } from '../pfkey/serialize.js';
import type { SadbMsg } from '../pfkey/types.js';
import { writeHexDigits } from './store-format.js';

export const FLAG_RAW = 1;
export const FLAG_LARVAL = 2;
export const FLAG_DYING = 4;
/** a policy with lifetime seconds: its kernel timer stays armed (refcnt 2 in dumps) */
export const FLAG_TIMED = 8;
const HEADER = 16;

export interface Stored {
  readonly flags: number;
  readonly order: bigint;
  readonly msg: Uint8Array;
}

export function encodeStored(flags: number, order: bigint, msg: Uint8Array): Uint8Array {
  const b = new Uint8Array(HEADER + msg.length);
  const v = new DataView(b.buffer);
  b[0] = 1;
  b[1] = flags;
  v.setBigUint64(8, order, true);
  b.set(msg, HEADER);
  return b;
}

/**
 * Stored records are cut from 1 MiB buffers (pfkey/pool.ts): a large apply
 * makes hundreds of thousands of them. (A buffer lives while any record in
 * it does; records live as long as the store's map holds them anyway.)
 */
const fromSlab = pool(1 << 20);

/** A record for a message, serialized in place behind its header (one copy, not two). */
export function storedOf(flags: number, order: bigint, m: SadbMsg): Uint8Array {
  const b = serialize(m, 'linux', HEADER, fromSlab);
  b[0] = 1;
  b[1] = flags;
  new DataView(b.buffer, b.byteOffset, b.byteLength).setBigUint64(8, order, true);
  return b;
}

export function decodeStored(b: Uint8Array): Stored {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { flags: b[1]!, order: v.getBigUint64(8, true), msg: b.subarray(HEADER) };
}

/** Two hex digits a byte value: a short key part made without a Buffer (a bulk load makes hundreds of thousands). */
const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex(b: Uint8Array): string {
  if (b.length > 16) return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX2[b[i]!]!;
  return s;
}

/** A u32's 8 hex digits (an SPI; an IPv4 address as a number, which hex() of its bytes spells the same). */
export function hex8(v: number): string {
  return HEX2[v >>> 24]! + HEX2[(v >>> 16) & 0xff]! + HEX2[(v >>> 8) & 0xff]! + HEX2[v & 0xff]!;
}

export function addrKey(a: IpAddress): string {
  return `${a.family}:${hex(a.bytes)}`;
}

export function saKey(satype: number, dst: IpAddress, spi: number): string {
  return `s/${satype}/${addrKey(dst)}/${hex8(spi >>> 0)}`;
}

/**
 * A bulk load's keys, written byte by byte into one scratch
 * (writeSaKeyV4, writePolicyKeyV4) and made one flat string: joined from
 * their pieces, each key was a tree of a dozen strings (a policy's ~670
 * bytes, 94 MB of allocation for 100k SAs + 100k policies), flattened again
 * to be sorted (100k keys: 84-135 ms made, 27-33 ms sorted, against 11-13
 * and 2 this way).
 */
class KeyText {
  readonly b = Buffer.allocUnsafe(128);

  /** b[0, n) as a string. */
  text(n: number): string {
    // (Buffer's own latin1Slice, which toString() calls after checking its arguments: ~0.25 us a key less, 200k keys a load)
    return LATIN1_SLICE ? LATIN1_SLICE.call(this.b, 0, n) : this.b.toString('latin1', 0, n);
  }
}

/** Buffer.prototype.latin1Slice, undeclared but Node's own since its first versions; toString() where it is not there. */
const LATIN1_SLICE = (Buffer.prototype as unknown as { latin1Slice?: (start: number, end: number) => string }).latin1Slice;

const SLASH = 47;
const key = new KeyText();

/** saKey of an IPv4 destination given as a u32 (a bulk load's numbers): `s/<satype>/4:<dst>/<spi>`. */
export function saKeyV4(satype: number, dst: number, spi: number): string {
  return key.text(writeSaKeyV4(key.b, 0, satype, dst, spi));
}

/** saKeyV4's key written into b at `at` (room for 32 bytes: an SA type below 2^31): its length. */
export function writeSaKeyV4(b: Uint8Array, at: number, satype: number, dst: number, spi: number): number {
  const o = writeV4Head(b, at, 115, satype, dst);
  writeHexDigits(b, o, spi >>> 0, 8);
  return o + 8 - at;
}

/** `<kind>/<n>/4:<addr>/` (an IPv4 identity key's head: s/ of an SA, p/ of a policy) written at `at`: where it ends. */
function writeV4Head(b: Uint8Array, at: number, kind: number, n: number, addr: number): number {
  b[at] = kind;
  b[at + 1] = SLASH;
  const o = writeDec(b, at + 2, n);
  b[o] = SLASH;
  b[o + 1] = 52;
  b[o + 2] = 58;
  writeHexDigits(b, o + 3, addr >>> 0, 8);
  b[o + 11] = SLASH;
  return o + 12;
}

export function spiZeroKey(order: bigint): string {
  return `z/${order.toString().padStart(20, '0')}`;
}

export interface SelectorKey {
  readonly family: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly sprefix: number;
  readonly dprefix: number;
  readonly proto: number;
  readonly sport: number;
  readonly dport: number;
}

/** A policy's identity: direction, the whole selector as stored, and the context (§5.1). */
export function policyKey(dir: number, s: SelectorKey, ctx: Uint8Array | undefined): string {
  return selectorKey(dir, s.family, hex(s.src), s.sprefix, hex(s.dst), s.dprefix, s.proto, s.sport, s.dport, ctx ? hex(ctx) : '-');
}

/** policyKey of an IPv4 selector given as numbers (addresses as u32), without a context (a bulk load's): selectorKey's text. */
export function policyKeyV4(dir: number, src: number, sprefix: number, dst: number, dprefix: number, proto: number, sport: number, dport: number): string {
  return key.text(writePolicyKeyV4(key.b, 0, dir, src, sprefix, dst, dprefix, proto, sport, dport));
}

/**
 * policyKeyV4's key as bytes, in keyBytes() (a scratch, written over by the
 * next key): its length. No string is made (a bulk load's policy index
 * takes the bytes; its worker writes the identities from them).
 */
export function policyKeyV4Bytes(dir: number, src: number, sprefix: number, dst: number, dprefix: number, proto: number, sport: number, dport: number): number {
  return writePolicyKeyV4(key.b, 0, dir, src, sprefix, dst, dprefix, proto, sport, dport);
}

/** The longest policyKeyV4 (`p/9/4:` 8 hex digits, 2 decimal, 8 hex, 2, 3, 5, 5 and their slashes, `/-`). */
export const POLICY_KEY_V4_MAX = 48;

/**
 * policyKeyV4's key written into b at `at` (room for POLICY_KEY_V4_MAX
 * bytes): its length. Byte by byte, no builder (the writer of a load's
 * 100k policy identities, where KeyText's calls were ~0.3 us a key).
 */
export function writePolicyKeyV4(b: Uint8Array, at: number, dir: number, src: number, sprefix: number, dst: number, dprefix: number, proto: number, sport: number, dport: number): number {
  let o = writeDec(b, writeV4Head(b, at, 112, dir, src), sprefix);
  b[o] = SLASH;
  writeHexDigits(b, o + 1, dst >>> 0, 8);
  b[o + 9] = SLASH;
  o = writeDec(b, o + 10, dprefix);
  b[o] = SLASH;
  o = writeDec(b, o + 1, proto);
  b[o] = SLASH;
  o = writeDec(b, o + 1, sport);
  b[o] = SLASH;
  o = writeDec(b, o + 1, dport);
  b[o] = SLASH;
  b[o + 1] = 45;
  return o + 2 - at;
}

/** A non-negative integer below 2^31's decimal digits at `at`: where they end. */
function writeDec(b: Uint8Array, at: number, v: number): number {
  if (v < 10) {
    b[at] = 48 + v;
    return at + 1;
  }
  let len = 2;
  for (let x = v; x >= 100; x = (x / 10) | 0) len++;
  for (let k = len - 1; k >= 0; k--) {
    const q = (v / 10) | 0;
    b[at + k] = 48 + v - 10 * q;
    v = q;
  }
  return at + len;
}

/** The scratch policyKeyV4Bytes writes its key into. */
export function keyBytes(): Uint8Array {
  return key.b;
}

function selectorKey(dir: number, family: number, src: string, sprefix: number, dst: string, dprefix: number, proto: number, sport: number, dport: number, ctx: string): string {
  return `p/${dir}/${family}:${src}/${sprefix}/${dst}/${dprefix}/${proto}/${sport}/${dport}/${ctx}`;
}

export function rawPolicyKey(order: bigint): string {
  return `q/${order.toString().padStart(20, '0')}`;
}

export type DeadlineKind = 'soft' | 'hard' | 'larval' | 'policy';

export function deadlineKey(when: bigint, kind: DeadlineKind, sa: string): string {
  return `e/${when.toString().padStart(16, '0')}/${kind}/${sa}`;
}

export function parseDeadlineKey(k: string): { when: bigint; kind: DeadlineKind; sa: string } {
  const [, when, kind, ...rest] = k.split('/');
  return { when: BigInt(when!), kind: kind as DeadlineKind, sa: rest.join('/') };
}

/** Byte offset of the first extension of wire type `exttype` in a message, or -1 (a cheap walk for hot paths). */
export function extOffset(msg: Uint8Array, exttype: number): number {
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  for (let off = 16; off + 4 <= msg.length; ) {
    const len = v.getUint16(off, true) * 8;
    if (len === 0) return -1;
    if (v.getUint16(off + 2, true) === exttype) return off;
    off += len;
  }
  return -1;
}

/** sadb_lifetime_addtime of the message's LIFETIME_CURRENT (ext type 2), 0 without. */
export function currentAddtime(msg: Uint8Array): bigint {
  const off = extOffset(msg, 2);
  return off < 0 ? 0n : new DataView(msg.buffer, msg.byteOffset, msg.byteLength).getBigUint64(off + 16, true);
}
