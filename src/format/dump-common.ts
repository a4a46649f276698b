/**
 * What setkey's dump printers share: options (clock, zone, name lookups),
 * address and port text as getnameinfo gives it, and the reference's
 * number-or-word tables (pfkey_dump.c GETMSGSTR / GETMSGV2S).
 */
import { formatIp, type IpAddress } from '../model/address.js';
import { ALGORITHMS, type AlgKind, type Platform } from '../model/algorithms.js';
import { AF, af6 } from '../pfkey/constants.js';
import type { SockAddr } from '../pfkey/types.js';
import { strTime, type TzOffset } from './ctime.js';

export interface DumpOptions {
  /** -p: addresses with [port] */
  readonly withPorts: boolean;
  /** -a: dead SAs too */
  readonly all: boolean;
  /** time(NULL) in seconds */
  readonly now: number;
  /** the local time zone */
  readonly tz: TzOffset;
  /** str_time() for this zone, when the caller keeps a cached one (see cachedStrTime) */
  readonly time?: (t: bigint) => string;
  /** if_indextoname(), for scoped IPv6 addresses */
  readonly ifName: (index: number) => string | undefined;
  /** getprotobynumber(): the protocols database */
  readonly protoName: (n: number) => string | undefined;
  readonly platform: Platform;
}

/** The address of a sockaddr, if it is inet or inet6. */
export function sockAddress(sa: SockAddr | undefined, platform: Platform): IpAddress | undefined {
  if (!sa) return undefined;
  if (sa.family === AF.INET && sa.addr.length === 4) return { family: 4, bytes: sa.addr, scopeId: 0 };
  if (sa.family === af6(platform) && sa.addr.length === 16) return { family: 6, bytes: sa.addr, scopeId: sa.scopeId };
  return undefined;
}

/** str_ipaddr(): getnameinfo(NI_NUMERICHOST); glibc prints a NULL %s as "(null)". */
export function ipText(sa: SockAddr | undefined, o: DumpOptions): string {
  const a = sockAddress(sa, o.platform);
  return a ? formatIp(a, o.ifName) : '(null)';
}

/** str_ipport(): getnameinfo(NI_NUMERICSERV). */
export function portText(sa: SockAddr | undefined, o: DumpOptions): string {
  return sockAddress(sa, o.platform) ? String(sa!.port) : '(null)';
}

/** GETMSGSTR: the table's word and a space, or the number and a space. */
export function word(table: readonly string[], n: number): string {
  const w = table[n];
  return w ? `${w} ` : `${n >>> 0} `;
}

const WORDS = new Map<string, Map<number, string>>();

/** GETMSGV2S over the reference's algorithm tables, which the registry carries as dumpWord. */
export function algWord(kind: AlgKind, id: number, platform: Platform): string {
  const key = `${kind}/${platform}`;
  let t = WORDS.get(key);
  if (!t) {
    t = new Map([[0, 'none']]);
    for (const a of ALGORITHMS) {
      const n = a.ids[platform];
      if (a.kind === kind && a.dumpWord && n !== undefined && !t.has(n)) t.set(n, a.dumpWord);
    }
    WORDS.set(key, t);
  }
  const w = t.get(id);
  return w ? `${w} ` : `${id} `;
}

/** %lu of an unsigned 64-bit value. */
export function u64(v: bigint): string {
  return v === 0n ? '0' : BigInt.asUintN(64, v).toString();
}

/** %.0f of a u64 converted to double (str_lifetime_byte). */
export function bytesText(v: bigint): string {
  return v === 0n ? '0' : Number(BigInt.asUintN(64, v)).toFixed(0);
}

/** ctime-style text of a time under the options' zone. */
export function timeText(t: bigint, o: DumpOptions): string {
  return o.time ? o.time(t) : strTime(t, o.tz);
}
