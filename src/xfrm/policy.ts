/**
 * Policies between the model and XFRM netlink: a setkey policy becomes an
 * xfrm_userpolicy_info with XFRMA_TMPL (what af_key's pfkey_spdadd and
 * parse_ipsecrequests would have built), and a policy the kernel reports
 * becomes the PF_KEY message af_key's pfkey_xfrm_policy2msg would make, so
 * that the SPD prints the same whichever backend holds it.
 */
import type { PolicyCommand } from '../model/command.js';
import type { Selector as ModelSelector, PolicyRule } from '../model/policy.js';
import { Action, IpProto, Level, Mode } from '../model/tables.js';
import { MsgType } from '../pfkey/constants.js';
import type { IpsecRequestWire, SadbExt, SadbMsg } from '../pfkey/types.js';
import { Xfrma, XfrmAction } from './constants.js';
import { attr, type Attr } from './netlink.js';
import { addr16, afOf, pfkeyMode, sockaddr, x2key, XfrmTranslateError, xfrmMode } from './sa.js';
import { encodeSecCtx, encodeTmpls, infiniteLifetime, readSecCtx, readTmpls, readU32, readMark, zeroCur, type Selector, type UserpolicyInfo, type UserTmpl } from './structs.js';

const EINVAL = 22;
const ELOOP = 40;
const XFRM_MAX_DEPTH = 6;
const IPSEC_MANUAL_REQID_MAX = 0x3fff;

/** The selector of a setkey policy (pfkey_spdadd: 255 is any protocol, a port of 0 any port). */
export function selectorToXfrm(s: ModelSelector): Selector {
  const proto = s.proto === IpProto.ANY ? 0 : s.proto;
  return {
    daddr: addr16(s.dst),
    saddr: addr16(s.src),
    dport: s.dport,
    dportMask: s.dport ? 0xffff : 0,
    sport: s.sport,
    sportMask: s.sport ? 0xffff : 0,
    family: afOf(s.src),
    prefixlenD: s.dprefix,
    prefixlenS: s.sprefix,
    proto,
    ifindex: 0,
    user: 0,
  };
}

export interface PolicyRequest {
  readonly info: UserpolicyInfo;
  readonly attrs: Attr[];
}

/**
 * XFRM_MSG_NEWPOLICY / UPDPOLICY for a policy. `reqidFor` gives a `unique`
 * template without a usable reqid one that no policy uses (af_key's
 * gen_reqid, which the XFRM interface leaves to its user).
 */
export function policyToXfrm(c: PolicyCommand, reqidFor: () => number): PolicyRequest {
  if (!c.selector) throw new XfrmTranslateError(EINVAL, 'a tagged policy has no selector; Linux has no policy tags');
  const p = c.policy;
  if (p.action === Action.ENTRUST || p.action === Action.BYPASS) throw new XfrmTranslateError(EINVAL, `Linux has no ${p.action === Action.ENTRUST ? 'entrust' : 'bypass'} policies (discard, none and ipsec)`);
  if (p.dir < 1 || p.dir > 3) throw new XfrmTranslateError(EINVAL, `policy direction ${p.dir}`);
  const sel = selectorToXfrm(c.selector);
  const attrs: Attr[] = [];
  const tmpls = p.action === Action.IPSEC ? templates(p, sel.family, reqidFor) : undefined;
  if (tmpls) attrs.push({ type: Xfrma.TMPL, value: tmpls });
  if (c.ctx) attrs.push({ type: Xfrma.SEC_CTX, value: encodeSecCtx({ exttype: 24, alg: c.ctx.alg, doi: c.ctx.doi, ctx: new Uint8Array(Buffer.from(c.ctx.ctx + '\0', 'latin1')) }) });
  const info: UserpolicyInfo = {
    sel,
    lft: infiniteLifetime(),
    curlft: zeroCur(),
    priority: p.priority,
    index: 0,
    dir: p.dir - 1,
    action: p.action === Action.DISCARD ? XfrmAction.BLOCK : XfrmAction.ALLOW,
    flags: 0,
    share: 0,
  };
  return { info, attrs };
}

/**
 * The XFRMA_TMPL of a rule's templates (undefined: none), by the
 * selector's family, which a transport template takes. Encoded once for a
 * rule that policies one after the other share (the statements of one
 * policy text share one rule: syntax/policy.ts parsePolicyOnce); never kept
 * for a rule with a `unique` template whose reqid is chosen for each
 * policy. The bytes are shared, and only ever copied into a datagram. The
 * last few, as the parser keeps its texts (a map by rule made garbage of
 * every distinct rule).
 */
const RECENT = 8;
const recent: ({ rule: PolicyRule; family: number; bytes: Uint8Array } | undefined)[] = new Array(RECENT).fill(undefined);
let recentNext = 0;

function templates(p: PolicyRule, family: number, reqidFor: () => number): Uint8Array | undefined {
  const fixed = !p.requests.some((r) => r.level === Level.UNIQUE && !(r.reqid > 0 && r.reqid <= IPSEC_MANUAL_REQID_MAX));
  if (fixed) {
    for (const k of recent) if (k !== undefined && k.rule === p && k.family === family) return k.bytes;
  }
  const tmpls: UserTmpl[] = [];
  for (const r of p.requests) {
    // af_key answers a 7th template with ELOOP; XFRM would say EINVAL: the backends agree on af_key's
    if (tmpls.length >= XFRM_MAX_DEPTH) throw new XfrmTranslateError(ELOOP, `more than ${XFRM_MAX_DEPTH} templates`);
    if (r.mode === Mode.ANY) throw new XfrmTranslateError(EINVAL, 'a template in mode any');
    let reqid = 0;
    if (r.level === Level.UNIQUE) reqid = r.reqid > 0 && r.reqid <= IPSEC_MANUAL_REQID_MAX ? r.reqid : reqidFor();
    const tunnel = r.mode === Mode.TUNNEL && r.tunnel;
    tmpls.push({
      id: { daddr: tunnel ? addr16(r.tunnel!.dst.addr) : new Uint8Array(16), spi: 0, proto: r.proto },
      family: tunnel ? afOf(r.tunnel!.dst.addr) : family,
      saddr: tunnel ? addr16(r.tunnel!.src.addr) : new Uint8Array(16),
      reqid,
      mode: xfrmMode(r.mode),
      share: 0,
      optional: r.level === Level.USE ? 1 : 0,
      // af_key allows every algorithm (allalgs)
      aalgos: 0xffffffff,
      ealgos: 0xffffffff,
      calgos: 0xffffffff,
    });
  }
  if (tmpls.length === 0) return undefined;
  const b = encodeTmpls(tmpls);
  if (fixed) {
    recent[recentNext] = { rule: p, family, bytes: b };
    recentNext = (recentNext + 1) % RECENT;
  }
  return b;
}

/** XFRM-only facts about a policy, for JSON. */
export interface PolicyExtras {
  readonly mark?: { readonly value: number; readonly mask: number };
  readonly ifId?: number;
  readonly policyType?: number;
}


/** A kernel policy as af_key's pfkey_xfrm_policy2msg shows it (type SPDDUMP; the caller sets type, seq, pid). */
export function policyToPfkey(info: UserpolicyInfo, attrs: readonly Attr[]): { msg: SadbMsg; extras: PolicyExtras } {
  const s = info.sel;
  const proto = s.proto === 0 ? IpProto.ANY : s.proto;
  const tmplBytes = attr(attrs, Xfrma.TMPL);
  const tmpls = tmplBytes ? readTmpls(tmplBytes) : [];
  const requests: IpsecRequestWire[] = tmpls.map((t) => {
    const level = t.optional ? Level.USE : t.reqid ? Level.UNIQUE : Level.REQUIRE;
    const r: IpsecRequestWire = { proto: t.id.proto, mode: pfkeyMode(t.mode), level, reqid: t.reqid };
    if (pfkeyMode(t.mode) === Mode.TUNNEL) {
      r.src = sockaddr(t.family, t.saddr, 0);
      r.dst = sockaddr(t.family, t.id.daddr, 0);
    }
    return r;
  });
  const l = info.lft;
  const exts: SadbExt[] = [
    { kind: 'address_src', proto, prefixlen: s.prefixlenS, reserved: 0, sa: sockaddr(s.family, s.saddr, s.sport) },
    { kind: 'address_dst', proto, prefixlen: s.prefixlenD, reserved: 0, sa: sockaddr(s.family, s.daddr, s.dport) },
    { kind: 'lifetime_hard', allocations: Number(x2key(l.hardPacketLimit) & 0xffffffffn), bytes: x2key(l.hardByteLimit), addtime: l.hardAddExpires, usetime: l.hardUseExpires },
    { kind: 'lifetime_soft', allocations: Number(x2key(l.softPacketLimit) & 0xffffffffn), bytes: x2key(l.softByteLimit), addtime: l.softAddExpires, usetime: l.softUseExpires },
    { kind: 'lifetime_current', allocations: Number(info.curlft.packets & 0xffffffffn), bytes: info.curlft.bytes, addtime: info.curlft.addTime, usetime: info.curlft.useTime },
    {
      kind: 'policy',
      ptype: info.action === XfrmAction.BLOCK ? Action.DISCARD : tmpls.length ? Action.IPSEC : Action.NONE,
      dir: info.dir + 1,
      reserved: 0,
      id: info.index,
      priority: info.priority,
      requests,
    },
  ];
  const ctx = attr(attrs, Xfrma.SEC_CTX);
  if (ctx) {
    const c = readSecCtx(ctx);
    exts.push({ kind: 'sec_ctx', alg: c.alg, doi: c.doi, ctxLen: c.ctx.length, ctx: c.ctx });
  }
  const extras: { -readonly [K in keyof PolicyExtras]: PolicyExtras[K] } = {};
  const mark = attr(attrs, Xfrma.MARK);
  if (mark) {
    const m = readMark(mark);
    extras.mark = { value: m.v, mask: m.m };
  }
  const ifId = attr(attrs, Xfrma.IF_ID);
  if (ifId && ifId.length >= 4) extras.ifId = readU32(ifId);
  const ptype = attr(attrs, Xfrma.POLICY_TYPE);
  if (ptype && ptype.length >= 1 && ptype[0] !== 0) extras.policyType = ptype[0]!;
  // refcnt: what a settled policy shows on Linux (1; 2 with a lifetime timer armed)
  const timed = l.hardAddExpires || l.hardUseExpires || l.softAddExpires || l.softUseExpires;
  return { msg: { header: { version: 2, type: MsgType.X_SPDDUMP, errno: 0, satype: 0, reserved: timed ? 2 : 1, seq: 0, pid: 0 }, exts }, extras };
}
