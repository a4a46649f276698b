/**
 * A dumped SA's printed fields, in PF_KEY's terms, read from wherever the
 * SA is: from its SADB_DUMP message (saFieldsOf, below) or, with no
 * message made, from the backend's own form of it (xfrm/state-fields.ts
 * reads an XFRM_MSG_NEWSA payload). One text writer prints them
 * (format/sadump-bytes.ts), so a backend that can fill them skips writing
 * a PF_KEY message only to have it walked again: over XFRM that was a
 * quarter of `setkey -D`'s time in the emulated VM (translation 3.4 s and
 * the walk 0.6 s of 14.5 s profiled, 100k states).
 *
 * Only the common shape is read (dumped-sa.ts says which): both addresses
 * IPv4. Anything else is declined and printed the long way, from its
 * message.
 */
import { SaState } from '../model/tables.js';
import { be32, dumpedSa, keyBytes, le32, readU64, u16, u64Number } from './dumped-sa.js';

/** where a lifetime's figures are in SaFields.lifetimes: current, hard, soft (LIFETIME_FIGURES each) */
export const enum Lifetime {
  CURRENT = 0,
  HARD = 5,
  SOFT = 10,
}
/** a lifetime's figures after its base: present (1) or not (0, the rest 0), allocations, bytes, add time, use time */
export const enum Figure {
  PRESENT = 0,
  ALLOCATIONS = 1,
  BYTES = 2,
  ADD = 3,
  USE = 4,
}
export const LIFETIME_FIGURES = 15;

export class SaFields {
  satype = 0;
  /** sadb_x_sa2_mode */
  mode = 0;
  spi = 0;
  reqid = 0;
  /** sadb_sa_auth and sadb_sa_encrypt (PF_KEY's numbers) */
  auth = 0;
  encrypt = 0;
  replay = 0;
  /** sadb_sa_flags */
  flags = 0;
  state = 0;
  /** sadb_x_sa2_sequence */
  sequence = 0;
  /** sadb_msg_seq, sadb_msg_pid, sadb_msg_reserved (printed as refcnt) */
  seq = 0;
  pid = 0;
  reserved = 0;
  /** what the addresses and keys are read from, and where: 4 bytes of each address; keys at an offset (-1: none) of so many bytes */
  bytes: Uint8Array = new Uint8Array(0);
  src = 0;
  dst = 0;
  akey = -1;
  akeyLen = 0;
  ekey = -1;
  ekeyLen = 0;
  /** the current, hard and soft lifetimes' figures (Lifetime, Figure); BIG: the figure is 2^53 or more, in `big` */
  readonly lifetimes = new Float64Array(LIFETIME_FIGURES);
  readonly big = new BigUint64Array(LIFETIME_FIGURES);
}

/** a figure too large for a Number (no figure is negative) */
export const BIG = -1;

/** The little-endian u64 at `at` as figure `i` of f's lifetimes. */
export function figure(f: SaFields, i: number, m: Uint8Array, at: number): void {
  const v = u64Number(m, at);
  if (v !== undefined) f.lifetimes[i] = v;
  else {
    f.lifetimes[i] = BIG;
    f.big[i] = readU64(m, at);
  }
}

/** Lifetime `ext` of message `m` (-1: absent) into `f` at `base`. */
function lifetimeOf(m: Uint8Array, ext: number, f: SaFields, base: number): void {
  const l = f.lifetimes;
  if (ext < 0) {
    l.fill(0, base, base + 5);
    return;
  }
  l[base + Figure.PRESENT] = 1;
  l[base + Figure.ALLOCATIONS] = le32(m, ext + 4);
  figure(f, base + Figure.BYTES, m, ext + 8);
  figure(f, base + Figure.ADD, m, ext + 16);
  figure(f, base + Figure.USE, m, ext + 24);
}

/**
 * The printed fields of SADB_DUMP message `m` into `f`, if it is of the
 * common shape with its current lifetime (the text prints it) and not dead
 * (hidden without -a: its caller decides); false otherwise.
 */
export function saFieldsOf(m: Uint8Array, f: SaFields): boolean {
  const x = dumpedSa(m);
  if (!x || x.cur < 0 || m[x.sa + 9] === SaState.DEAD) return false;
  const { sa, cur, hard, soft, src, dst, akey, ekey, sa2 } = x;
  lifetimeOf(m, cur, f, Lifetime.CURRENT);
  lifetimeOf(m, hard, f, Lifetime.HARD);
  lifetimeOf(m, soft, f, Lifetime.SOFT);
  f.satype = m[3]!;
  f.mode = m[sa2 + 4]!;
  f.spi = be32(m, sa + 4);
  f.reqid = le32(m, sa2 + 12);
  f.auth = m[sa + 10]!;
  f.encrypt = m[sa + 11]!;
  f.replay = m[sa + 8]!;
  f.flags = le32(m, sa + 12);
  f.state = m[sa + 9]!;
  f.sequence = le32(m, sa2 + 8);
  f.seq = le32(m, 8);
  f.pid = le32(m, 12);
  f.reserved = u16(m, 6);
  f.bytes = m;
  f.src = src + 12;
  f.dst = dst + 12;
  f.akey = akey < 0 ? -1 : akey + 8;
  f.akeyLen = akey < 0 ? 0 : keyBytes(m, akey);
  f.ekey = ekey < 0 ? -1 : ekey + 8;
  f.ekeyLen = ekey < 0 ? 0 : keyBytes(m, ekey);
  return true;
}
