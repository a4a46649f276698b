/**
 * Where the extensions of a plain dumped policy are, found by one walk over
 * its bytes: pfkey_align and pfkey_check (decode.ts) and spdump.ts's own
 * checks, narrowed to the shape nearly every policy has, for the printer
 * that writes it straight from its bytes (format/spdump-bytes.ts). Nothing
 * is built but the answer.
 *
 * Taken: a Linux SADB_X_SPDDUMP or SPDGET without errno, SA type 0, its
 * length exact; every extension one of source and destination addresses,
 * the three lifetimes and the policy, each at most once and of its exact
 * size; both addresses IPv4 with one upper protocol; a policy of a known
 * direction and action, not a socket's, whose requests (when it is ipsec)
 * are of a known protocol, mode and level, each without endpoints or with
 * two IPv4 ones, filling the extension exactly. Anything else is
 * undefined: spdump.ts says it.
 */
import { IpProto } from '../model/tables.js';
import { AF, MsgType, PF_KEY_V2, Size } from './constants.js';
import { takenExtensions, u16, walkExtensions } from './dumped-sa.js';

const IPV4_ADDRESS = Size.sadb_address + Size.sockaddr_in;
/** the extensions taken and their exact size (0: any) */
const TAKEN = [
  ['address_src', IPV4_ADDRESS],
  ['address_dst', IPV4_ADDRESS],
  ['lifetime_current', Size.sadb_lifetime],
  ['lifetime_hard', Size.sadb_lifetime],
  ['lifetime_soft', Size.sadb_lifetime],
  ['policy', 0],
] as const;
const { num: NUM, sizes: SIZES, found } = takenExtensions(TAKEN);

/** A Linux request with two sockaddr_in endpoints */
const REQUEST_WITH_ENDS = Size.sadb_x_ipsecrequest_linux + 2 * Size.sockaddr_in;

/** Byte offsets of the extensions in the message; -1: absent. */
export interface DumpedPolicy {
  readonly src: number;
  readonly dst: number;
  readonly cur: number;
  readonly hard: number;
  readonly policy: number;
}

export function dumpedPolicy(m: Uint8Array): DumpedPolicy | undefined {
  if (m.length < Size.sadb_msg || m[0] !== PF_KEY_V2 || (m[1] !== MsgType.X_SPDDUMP && m[1] !== MsgType.X_SPDGET) || m[2] !== 0 || m[3] !== 0) return undefined;
  if (!walkExtensions(m, SIZES, found)) return undefined;
  const src = found[NUM.address_src]!;
  const dst = found[NUM.address_dst]!;
  const policy = found[NUM.policy]!;
  if (src < 0 || dst < 0 || policy < 0) return undefined;
  // sockaddr_in (family in host order on Linux); pfkey_check: one upper protocol for both
  if (u16(m, src + 8) !== AF.INET || u16(m, dst + 8) !== AF.INET || m[src + 4] !== m[dst + 4]) return undefined;
  if (!plainPolicy(m, policy)) return undefined;
  return { src, dst, cur: found[NUM.lifetime_current]!, hard: found[NUM.lifetime_hard]!, policy };
}

/** A policy extension spdump.ts prints without complaint, not a socket's, its requests (if ipsec) plain. */
function plainPolicy(m: Uint8Array, at: number): boolean {
  const el = u16(m, at) * 8;
  if (el < Size.sadb_x_policy) return false;
  const ptype = u16(m, at + 4);
  const dir = m[at + 6]!;
  // directions any, in, out, fwd; actions discard .. bypass; a socket's policy (id's low bits 3 and up) is said otherwise
  if (dir > 3 || ptype > 4 || (m[at + 8]! & 7) >= 3) return false;
  if (ptype !== 2) return true;
  for (let p = at + Size.sadb_x_policy; p < at + el; ) {
    const rl = u16(m, p);
    if (rl !== Size.sadb_x_ipsecrequest_linux && rl !== REQUEST_WITH_ENDS) return false;
    if (p + rl > at + el) return false;
    const proto = u16(m, p + 2);
    if ((proto !== IpProto.ESP && proto !== IpProto.AH && proto !== IpProto.IPCOMP) || m[p + 4]! > 2 || m[p + 5]! > 3) return false;
    if (rl === REQUEST_WITH_ENDS && (u16(m, p + 16) !== AF.INET || u16(m, p + 16 + Size.sockaddr_in) !== AF.INET)) return false;
    p += rl;
  }
  return true;
}
