/**
 * One policy in setkey's dump format (libipsec pfkey_dump.c pfkey_spdump1
 * and ipsec_dump_policy.c), byte for byte. The policy extension is read raw,
 * with the reference's own checks, so that a broken one prints the
 * reference's "Policy:[...]" text; what the reference would crash or loop on
 * (no policy extension, a request of length 0) gets a clear line instead.
 */
import { AF, af6, Size } from '../pfkey/constants.js';
import { DecodeError, readSockaddr, type ExtSpan } from '../pfkey/decode.js';
import type { DumpView } from '../pfkey/dump-view.js';
import { IpProto, IPSEC_MANUAL_REQID_MAX, PRIORITY_DEFAULT, PRIORITY_HIGH, PRIORITY_LOW } from '../model/tables.js';
import { ipText, portText, timeText, type DumpOptions } from './dump-common.js';
import { decodeErrorText } from './errors.js';
import { secCtxLines } from './sadump.js';

// ipsec_dump_policy.c (Linux build: HAVE_POLICY_FWD, per-socket directions)
export const DIRS = ['any', 'in', 'out', 'fwd', 'in(socket)', 'out(socket)'];
export const ACTIONS = ['discard', 'none', 'ipsec', 'entrust', 'bypass'];
export const PROTOS: Record<number, string> = { [IpProto.ESP]: 'esp', [IpProto.AH]: 'ah', [IpProto.IPCOMP]: 'ipcomp' };
export const MODES = ['any', 'transport', 'tunnel'];
export const LEVELS = ['default', 'use', 'require', 'unique'];

/** Upper protocols whose selectors carry no ports (icmp, icmp6 and mh say type and code there, gre a key). */
export function portless(ulp: number): boolean {
  return ulp === IpProto.ICMP || ulp === IpProto.ICMPV6 || ulp === IpProto.MH || ulp === IpProto.GRE;
}

class PolicyError extends Error {}

/** "prio def + 10": the base the priority is closest to, and the offset as it would be typed. */
export function priorityText(p: number): string {
  if (p === 0) return '';
  const third = (PRIORITY_DEFAULT / 4) * 3;
  const fifth = (PRIORITY_DEFAULT / 4) * 5;
  const [name, base] = p < third ? ['high', PRIORITY_HIGH] : p < fifth ? ['def', PRIORITY_DEFAULT] : ['low', PRIORITY_LOW];
  // int32 arithmetic as in the C code, then the sign flipped to match the input syntax
  const offset = -((p - base) | 0);
  if (offset === 0) return `prio ${name} `;
  return `prio ${name} ${offset < 0 ? '-' : '+'} ${Math.abs(offset) >>> 0} `;
}

/** sysdep_sa_len() on Linux: sockaddr_in for anything but inet6. */
function saLen(ix: DumpView['ix'], at: number): number {
  if (ix.platform !== 'linux') return ix.bytes[at] ?? 0;
  const fam = ix.bytes[at]! | (ix.bytes[at + 1]! << 8);
  return fam === AF.INET6_LINUX ? Size.sockaddr_in6 : Size.sockaddr_in;
}

function requestText(v: DumpView, at: number, len: number, bound: number, o: DumpOptions): string {
  const ix = v.ix;
  const dv = ix.view;
  if (len > bound) throw new PolicyError('Invalid ipsec protocol');
  const proto = PROTOS[dv.getUint16(at + 2, true)];
  if (!proto) throw new PolicyError('Invalid ipsec protocol');
  const mode = MODES[dv.getUint8(at + 4)];
  if (!mode) throw new PolicyError('Invalid ipsec mode');
  const linux = ix.platform === 'linux';
  const hdr = linux ? Size.sadb_x_ipsecrequest_linux : Size.sadb_x_ipsecrequest_bsd;
  let addrs = '';
  if (len > hdr) {
    const l1 = saLen(ix, at + hdr);
    const l2 = at + hdr + l1 + 2 <= ix.bytes.length ? saLen(ix, at + hdr + l1) : 0;
    if (hdr + l1 + l2 !== len) throw new PolicyError('Invalid address specification');
    const one = (p: number, room: number): string => {
      let sa;
      try {
        ({ sa } = readSockaddr(ix, p, room));
      } catch (e) {
        // a sockaddr cut short by the end of the message (the reference read past it)
        if (e instanceof DecodeError) throw new PolicyError('Invalid address specification');
        throw e;
      }
      const ip = ipText(sa, o);
      if (ip === '(null)') throw new PolicyError('Invalid address specification');
      return o.withPorts ? `${ip}[${portText(sa, o)}]` : ip;
    };
    addrs = `${one(at + hdr, l1)}-${one(at + hdr + l1, l2)}`;
  }
  const level = LEVELS[dv.getUint8(at + 5)];
  if (!level) throw new PolicyError('Invalid ipsec level');
  const reqid = linux ? dv.getUint32(at + 8, true) : dv.getUint16(at + 6, true);
  const tail = reqid === 0 ? '' : `${reqid > IPSEC_MANUAL_REQID_MAX ? '#' : ':'}${reqid}`;
  return `${proto}/${mode}/${addrs}/${level}${tail}`;
}

/** ipsec_dump_policy(xpl, "\n\t"). */
export function policyDump(v: DumpView, s: ExtSpan, o: DumpOptions): string {
  const dv = v.ix.view;
  const o0 = s.offset;
  if (s.length < Size.sadb_x_policy) throw new PolicyError('Invalid sadb message');
  const ptype = dv.getUint16(o0 + 4, true);
  const dir = DIRS[dv.getUint8(o0 + 6)];
  if (!dir) throw new PolicyError('Invalid direction');
  const action = ACTIONS[ptype];
  if (!action) throw new PolicyError('Invalid security policy');
  let out = `${dir} ${priorityText(dv.getUint32(o0 + 12, true))}${action}`;
  if (ptype !== 2) return out;
  const hdr = v.ix.platform === 'linux' ? Size.sadb_x_ipsecrequest_linux : Size.sadb_x_ipsecrequest_bsd;
  // first pass: the request lengths must add up to the extension (a 0 length loops the reference forever)
  let off = Size.sadb_x_policy;
  while (off < s.length) {
    const len = off + 2 <= s.length ? dv.getUint16(o0 + off, true) : 0;
    if (len === 0) throw new PolicyError('Invalid sadb message');
    off += len;
  }
  if (off !== s.length) throw new PolicyError('Invalid sadb message');
  for (off = Size.sadb_x_policy; off < s.length; ) {
    const len = dv.getUint16(o0 + off, true);
    if (s.length - off < hdr) throw new PolicyError('Invalid ipsec protocol');
    out += '\n\t' + requestText(v, o0 + off, len, s.length - off, o);
    off += len;
  }
  return out;
}

/** "/plen" when not a host prefix, then "[port]"/"[any]" except for icmp, icmp6, mh and gre. */
function prefPort(family: number, plen: number, port: number, ulp: number, o: DumpOptions): string {
  const full = family === AF.INET ? 32 : family === af6(o.platform) ? 128 : -1;
  if (full < 0) return '?';
  const pref = plen === full ? '' : `/${plen}`;
  if (portless(ulp)) return pref;
  return pref + (port === 0 ? '[any]' : `[${port}]`);
}

function upperSpec(ulp: number, p1: number, p2: number, o: DumpOptions): string {
  const name = o.protoName(ulp) ?? String(ulp);
  if (p1 === 0 && p2 === 0) return name;
  if (ulp === IpProto.ICMP || ulp === IpProto.ICMPV6 || ulp === IpProto.MH) return `${name} ${p1},${p2}`;
  if (ulp === IpProto.GRE) return `${name} ${(p1 * 65536 + p2) >>> 0}`;
  return name;
}

function selector(v: DumpView, o: DumpOptions): string {
  const src = v.ext('address_src');
  const dst = v.ext('address_dst');
  if (!src || !dst) return '(no selector, probably per-socket policy) ';
  let out = '';
  let sport = 0;
  let dport = 0;
  for (const [a, isSrc] of [
    [src, true],
    [dst, false],
  ] as const) {
    const fam = a.sa.family;
    if (fam !== AF.INET && fam !== af6(o.platform)) {
      out += 'unknown-af ';
      continue;
    }
    if (isSrc) sport = a.sa.port;
    else dport = a.sa.port;
    // the reference uses the source's upper protocol for both sides
    out += `${ipText(a.sa, o)}${prefPort(fam, a.prefixlen, a.sa.port, src.proto, o)} `;
  }
  if (src.proto !== dst.proto) return out + 'upper layer protocol mismatched.\n';
  return out + upperSpec(src.proto, sport, dport, o);
}

export function spDump(v: DumpView, o: DumpOptions): string {
  const err = v.alignError ?? v.checkError;
  if (err) return decodeErrorText(err) + '\n';
  const ps = v.span('policy');
  if (!ps || ps.length < Size.sadb_x_policy) {
    // the reference dereferences the missing extension and crashes here
    return 'no X_POLICY extension.\n';
  }
  const h = v.header;
  const id = v.ix.view.getUint32(ps.offset + 8, true);
  let out: string;
  if (v.ix.platform === 'linux' && id % 8 >= 3) {
    // Linux includes selectors even for socket policies; setkey tells them by the id's direction bits
    out = '(per-socket policy) ';
  } else {
    out = selector(v, o);
    if (out.endsWith('\n')) return out;
  }
  try {
    out += `\n\t${policyDump(v, ps, o)}\n`;
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    out += `\n\tPolicy:[${e.message}]\n`;
  }
  const cur = v.ext('lifetime_current');
  if (cur) out += `\tcreated: ${timeText(cur.addtime, o)}  lastused: ${timeText(cur.usetime, o)}\n`;
  const hard = v.ext('lifetime_hard');
  if (hard) out += `\tlifetime: ${BigInt.asUintN(64, hard.addtime)}(s) validtime: ${BigInt.asUintN(64, hard.usetime)}(s)\n`;
  out += secCtxLines(v);
  out += `\tspid=${id} seq=${h.seq} pid=${h.pid}\n\trefcnt=${h.reserved}\n`;
  return out;
}
