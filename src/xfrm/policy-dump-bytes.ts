/**
 * A dumped XFRM policy's PF_KEY message (af_key's pfkey_xfrm_policy2msg)
 * written straight from its XFRM_MSG_NEWPOLICY payload, for the shape
 * nearly every policy has: selector and templates of IPv4 or IPv6, no
 * security context, mark or interface id, the main policy type.
 * policyToPfkey (policy.ts) stays the definition; this is its shortcut for
 * a dump, where it built ~25 objects and BigInts a policy before
 * serialize() (a third of `setkey -DP`'s time for 60k policies). Anything
 * else it declines (undefined) and the caller translates it the long way;
 * test/dump-bytes.test.ts holds it to policyToPfkey + serialize: the same
 * bytes, or no answer.
 */
import { Action, IpProto, Level, Mode } from '../model/tables.js';
import { AF, PF_KEY_V2, Size, extNumber } from '../pfkey/constants.js';
import { XSize, Xfrma, XfrmAction } from './constants.js';
import { pfkeyMode } from './sa.js';
import { le32, u16 } from '../pfkey/dumped-sa.js';
import { address, attrAt, attrLen, ext, lifetimes, out, put16, put32, sockaddr, walkAttrs } from './dump-bytes.js';

/** attributes that policyToPfkey reads into something this does not write: such a policy is declined */
const DECLINED = new Uint8Array(64);
for (const t of [Xfrma.SEC_CTX, Xfrma.MARK, Xfrma.IF_ID]) DECLINED[t] = 1;

const EXT_SRC = extNumber('linux', 'address_src');
const EXT_DST = extNumber('linux', 'address_dst');
const EXT_POLICY = extNumber('linux', 'policy');

// offsets in struct xfrm_userpolicy_info (structs.ts readUserpolicyInfo) and xfrm_user_tmpl (readUserTmpl)
const SEL_SADDR = 16;
const SEL_DPORT = 32;
const SEL_SPORT = 36;
const SEL_FAMILY = 40;
const SEL_PREFIXLEN_D = 42;
const SEL_PREFIXLEN_S = 43;
const SEL_PROTO = 44;
const LFT = 56;
const CURLFT = 120;
const PRIORITY = 152;
const INDEX = 156;
const DIR = 160;
const ACTION = 161;
const T_PROTO = 20;
const T_FAMILY = 24;
const T_SADDR = 28;
const T_REQID = 44;
const T_MODE = 48;
const T_OPTIONAL = 50;

const sockaddrSize = (family: number): number => (family === AF.INET ? Size.sockaddr_in : Size.sockaddr_in6);

/** The policy's PF_KEY message with this type, seq and pid, or undefined for a policy of another shape (or a damaged one). */
export function policyDumpBytes(p: Uint8Array, type: number, seq: number, pid: number): Uint8Array | undefined {
  if (p.length < XSize.userpolicyInfo) return undefined;
  const family = u16(p, SEL_FAMILY);
  if (family !== AF.INET && family !== AF.INET6_LINUX) return undefined;
  // the attributes: the first TMPL (as policyToPfkey takes it); a policy type other than main is declined
  if (!walkAttrs(p, XSize.userpolicyInfo, DECLINED)) return undefined;
  const tmpl = attrAt[Xfrma.TMPL]!;
  const tmplLen = attrLen[Xfrma.TMPL]!;
  const ptype = attrAt[Xfrma.POLICY_TYPE]!;
  if (ptype >= 0 && attrLen[Xfrma.POLICY_TYPE]! >= 1 && p[ptype] !== 0) return undefined;
  const n = tmpl < 0 ? 0 : Math.floor(tmplLen / XSize.userTmpl);
  // the requests' size: each template's, with its two tunnel endpoints
  let requests = 0;
  for (let i = 0; i < n; i++) {
    const t = tmpl + i * XSize.userTmpl;
    const tf = u16(p, t + T_FAMILY);
    requests += Size.sadb_x_ipsecrequest_linux;
    if (pfkeyMode(p[t + T_MODE]!) === Mode.TUNNEL) {
      if (tf !== AF.INET && tf !== AF.INET6_LINUX) return undefined;
      requests += 2 * sockaddrSize(tf);
    }
  }
  const addrSize = Size.sadb_address + ((sockaddrSize(family) + 7) & ~7);
  const policySize = (Size.sadb_x_policy + requests + 7) & ~7;
  const size = Size.sadb_msg + 2 * addrSize + 3 * Size.sadb_lifetime + policySize;
  if (size / 8 > 0xffff) return undefined;
  const o = out(size);
  o[0] = PF_KEY_V2;
  o[1] = type;
  put16(o, 4, size / 8);
  // refcnt: what a settled policy shows on Linux (1; 2 with a lifetime timer armed)
  let timed = false;
  for (let i = LFT + 32; i < LFT + 64; i++) if (p[i] !== 0) timed = true;
  put16(o, 6, timed ? 2 : 1);
  put32(o, 8, seq);
  put32(o, 12, pid);
  let w: number = Size.sadb_msg;
  const sproto = p[SEL_PROTO]!;
  const proto = sproto === 0 ? IpProto.ANY : sproto;
  address(o, w, EXT_SRC, addrSize, proto, p[SEL_PREFIXLEN_S]!, family, p, SEL_SADDR, SEL_SPORT);
  w += addrSize;
  address(o, w, EXT_DST, addrSize, proto, p[SEL_PREFIXLEN_D]!, family, p, 0, SEL_DPORT);
  w += addrSize;
  w = lifetimes(o, w, p, LFT, CURLFT);
  ext(o, w, policySize, EXT_POLICY);
  put16(o, w + 4, p[ACTION] === XfrmAction.BLOCK ? Action.DISCARD : n ? Action.IPSEC : Action.NONE);
  o[w + 6] = p[DIR]! + 1;
  put32(o, w + 8, le32(p, INDEX));
  put32(o, w + 12, le32(p, PRIORITY));
  w += Size.sadb_x_policy;
  for (let i = 0; i < n; i++) {
    const t = tmpl + i * XSize.userTmpl;
    const mode = pfkeyMode(p[t + T_MODE]!);
    const tunnel = mode === Mode.TUNNEL;
    const tf = u16(p, t + T_FAMILY);
    const reqid = le32(p, t + T_REQID);
    // Linux sadb_x_ipsecrequest: len proto mode level reserved1 reqid reserved2, then the endpoints
    const rlen = Size.sadb_x_ipsecrequest_linux + (tunnel ? 2 * sockaddrSize(tf) : 0);
    put16(o, w, rlen);
    o[w + 2] = p[t + T_PROTO]!;
    o[w + 4] = mode;
    o[w + 5] = p[t + T_OPTIONAL] ? Level.USE : reqid ? Level.UNIQUE : Level.REQUIRE;
    put32(o, w + 8, reqid);
    if (tunnel) {
      const ss = sockaddrSize(tf);
      sockaddr(o, w + 16, tf, p, t + T_SADDR);
      sockaddr(o, w + 16 + ss, tf, p, t);
    }
    w += rlen;
  }
  return o;
}
