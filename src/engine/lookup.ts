/**
 * Which policy a packet meets (xfrm_policy.c xfrm_policy_lookup_bytype over
 * the per-direction chain that xfrm_policy_insert_list keeps sorted): the
 * lowest priority value among the policies whose selector matches, and of
 * equal priorities the one inserted first. setkey has no command for it; the
 * library has, so that a configuration can be checked against traffic
 * without a kernel.
 */
import type { IpAddress } from '../model/address.js';
import { IpProto } from '../model/tables.js';
import { decodeMessage } from '../pfkey/decode.js';
import { addressOf } from '../pfkey/from-wire.js';
import { findExt, type ExtAddress, type SadbMsg } from '../pfkey/types.js';
import type { Ctx } from './context.js';
import { FLAG_RAW } from './records.js';
import { policiesNewestFirst } from './spd.js';

/** A packet's five-tuple (ports: ICMP type and code, as a selector carries them). */
export interface Flow {
  readonly src: IpAddress;
  readonly dst: IpAddress;
  /** upper-layer protocol; absent: none in particular */
  readonly proto?: number;
  readonly sport?: number;
  readonly dport?: number;
}

function inPrefix(a: IpAddress, sel: ExtAddress): boolean {
  const s = addressOf(sel.sa);
  if (s.family !== a.family) return false;
  let bits = sel.prefixlen;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a.bytes[i]! & mask) !== (s.bytes[i]! & mask)) return false;
  }
  return true;
}

function matches(m: SadbMsg, f: Flow): boolean {
  const src = findExt(m, 'address_src');
  const dst = findExt(m, 'address_dst');
  if (!src || !dst || !inPrefix(f.src, src) || !inPrefix(f.dst, dst)) return false;
  // the selector's protocol is DST's (255: any); a port of 0 in the selector matches any
  if (dst.proto !== IpProto.ANY && dst.proto !== 0 && dst.proto !== f.proto) return false;
  if (src.sa.port !== 0 && src.sa.port !== f.sport) return false;
  if (dst.sa.port !== 0 && dst.sa.port !== f.dport) return false;
  return true;
}

/** The policy of direction `dir` (1 in, 2 out, 3 fwd) that the flow meets, or undefined. */
export function lookupPolicy(c: Ctx, dir: number, f: Flow): SadbMsg | undefined {
  let best: { m: SadbMsg; prio: number; order: bigint } | undefined;
  for (const e of policiesNewestFirst(c)) {
    if (e.flags & FLAG_RAW) continue;
    const m = decodeMessage(e.msg);
    const p = findExt(m, 'policy');
    if (!p || p.dir !== dir || !matches(m, f)) continue;
    if (!best || p.priority < best.prio || (p.priority === best.prio && e.order < best.order)) best = { m, prio: p.priority, order: e.order };
  }
  return best?.m;
}
