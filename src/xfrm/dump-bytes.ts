/**
 * What the two dump shortcuts (state-dump-bytes.ts, policy-dump-bytes.ts)
 * share: writing PF_KEY's little-endian fields (the kernel's are read by
 * pfkey/dumped-sa.ts's readers),
 * byte by byte into a message cut from a fresh pool (zero wherever nothing
 * is written), the lifetimes as af_key reads them, and address extensions
 * with Linux sockaddrs.
 */
import { AF, Size, extNumber } from '../pfkey/constants.js';
import { u16 } from '../pfkey/dumped-sa.js';
import { pool } from '../pfkey/pool.js';

/** where the messages are cut from: fresh memory, so only what is not zero is written */
export const out = pool(32 << 10);

const EXT_LIFETIME = {
  cur: extNumber('linux', 'lifetime_current'),
  hard: extNumber('linux', 'lifetime_hard'),
  soft: extNumber('linux', 'lifetime_soft'),
};

export function put16(o: Uint8Array, at: number, v: number): void {
  o[at] = v & 0xff;
  o[at + 1] = (v >>> 8) & 0xff;
}

export function put32(o: Uint8Array, at: number, v: number): void {
  o[at] = v & 0xff;
  o[at + 1] = (v >>> 8) & 0xff;
  o[at + 2] = (v >>> 16) & 0xff;
  o[at + 3] = (v >>> 24) & 0xff;
}

export function copy(o: Uint8Array, at: number, b: Uint8Array, from: number, n: number): void {
  for (let i = 0; i < n; i++) o[at + i] = b[from + i]!;
}

/** whether the 8 bytes at `at` are XFRM_INF (no limit) */
export function infinite(b: Uint8Array, at: number): boolean {
  for (let i = 0; i < 8; i++) if (b[at + i] !== 0xff) return false;
  return true;
}

/** an extension's header: its length in 8-byte units and its type */
export function ext(o: Uint8Array, at: number, bytes: number, type: number): void {
  put16(o, at, bytes / 8);
  put16(o, at + 2, type);
}

/**
 * A lifetime (hard or soft) from xfrm_lifetime_cfg's fields at these
 * offsets: allocations and bytes read as _X2KEY does (no limit is 0),
 * allocations cut to 32 bits.
 */
function lifetimeCfg(o: Uint8Array, at: number, type: number, b: Uint8Array, packets: number, bytes: number, add: number, use: number): void {
  ext(o, at, Size.sadb_lifetime, type);
  if (!infinite(b, packets)) copy(o, at + 4, b, packets, 4);
  if (!infinite(b, bytes)) copy(o, at + 8, b, bytes, 8);
  copy(o, at + 16, b, add, 8);
  copy(o, at + 24, b, use, 8);
}

/**
 * The hard, soft and current lifetimes, in that order (as af_key writes
 * them), from struct xfrm_lifetime_cfg at `lft` (soft bytes, hard bytes,
 * soft packets, hard packets, soft add, hard add, soft use, hard use) and
 * xfrm_lifetime_cur at `cur` (bytes, packets, add time, use time; packets
 * cut to 32 bits). Where they end.
 */
export function lifetimes(o: Uint8Array, at: number, b: Uint8Array, lft: number, cur: number): number {
  lifetimeCfg(o, at, EXT_LIFETIME.hard, b, lft + 24, lft + 8, lft + 40, lft + 56);
  lifetimeCfg(o, at + Size.sadb_lifetime, EXT_LIFETIME.soft, b, lft + 16, lft, lft + 32, lft + 48);
  const c = at + 2 * Size.sadb_lifetime;
  ext(o, c, Size.sadb_lifetime, EXT_LIFETIME.cur);
  copy(o, c + 4, b, cur + 8, 4);
  copy(o, c + 8, b, cur, 8);
  copy(o, c + 16, b, cur + 16, 16);
  return c + Size.sadb_lifetime;
}

/** A Linux sockaddr_in / sockaddr_in6 of the address at `from` (4 or 16 bytes by family), its port the big-endian one at `port` (none: 0). */
export function sockaddr(o: Uint8Array, at: number, family: number, b: Uint8Array, from: number, port = -1): void {
  put16(o, at, family);
  if (port >= 0) copy(o, at + 2, b, port, 2);
  // sin_addr after family and port; sin6_addr after family, port and flowinfo
  if (family === AF.INET) copy(o, at + 4, b, from, 4);
  else copy(o, at + 8, b, from, 16);
}

/** An address extension: its upper protocol and prefix length, then sockaddr(). */
export function address(o: Uint8Array, at: number, type: number, size: number, proto: number, prefixlen: number, family: number, b: Uint8Array, from: number, port = -1): void {
  ext(o, at, size, type);
  o[at + 4] = proto;
  o[at + 5] = prefixlen;
  sockaddr(o, at + 8, family, b, from, port);
}

/** where the last walkAttrs() found the first attribute of each type (its value; -1: none), and its value's length */
export const attrAt = new Int32Array(64);
export const attrLen = new Int32Array(64);

/**
 * Walks the attributes after a payload's fixed struct of `fixedLen` bytes,
 * noting the first of each type in attrAt/attrLen (as netlink.ts attr()
 * finds it). False when one runs past the payload (parseAttrs throws
 * there) or one is of a type marked in `declined`.
 */
export function walkAttrs(p: Uint8Array, fixedLen: number, declined: Uint8Array): boolean {
  attrAt.fill(-1);
  let at = (fixedLen + 3) & ~3;
  while (at + 4 <= p.length) {
    const len = u16(p, at);
    if (len < 4 || at + len > p.length) return false;
    // the top bits of nla_type are NLA_F_NESTED / NLA_F_NET_BYTEORDER
    const t = u16(p, at + 2) & 0x3fff;
    if (t < 64) {
      if (declined[t]) return false;
      if (attrAt[t]! < 0) {
        attrAt[t] = at + 4;
        attrLen[t] = len - 4;
      }
    }
    at += (len + 3) & ~3;
  }
  return true;
}
