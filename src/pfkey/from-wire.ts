/**
 * Typed PF_KEY messages -> the model: the inverse of to-wire.ts for the
 * messages setkey sends (ADD/UPDATE/GETSPI/GET/DELETE/FLUSH/DUMP and the SPD
 * ones), and the SA/policy records a kernel dumps.
 */
import { algorithmById, type AlgKind, type Platform } from '../model/algorithms.js';
import type { Endpoint, IpAddress } from '../model/address.js';
import type { Command, SourcePos } from '../model/command.js';
import type { IpsecRequest, PolicyRule, Selector } from '../model/policy.js';
import type { AlgRef, Lifetime, NatT, SaParams, SecCtx } from '../model/sa.js';
import { SaType } from '../model/tables.js';
import { AF, MsgType } from './constants.js';
import { findExt, type ExtAddress, type ExtLifetime, type ExtPolicy, type ExtSecCtx, type SadbMsg, type SockAddr } from './types.js';

const FREEBSD_SAFLAGS_ESN = 0x400;

export class WireModelError extends Error {}

export function addressOf(sa: SockAddr): IpAddress {
  if (sa.family === AF.INET && sa.addr.length === 4) return { family: 4, bytes: sa.addr, scopeId: 0 };
  if (sa.addr.length === 16) {
    return sa.flowinfo ? { family: 6, bytes: sa.addr, scopeId: sa.scopeId, flowInfo: sa.flowinfo } : { family: 6, bytes: sa.addr, scopeId: sa.scopeId };
  }
  throw new WireModelError(`address family ${sa.family} is neither inet nor inet6`);
}

function endpointOf(a: ExtAddress): Endpoint {
  return { addr: addressOf(a.sa), port: a.sa.port };
}

export function algRef(kind: AlgKind, platform: Platform, id: number): AlgRef | undefined {
  if (id === 0) return undefined;
  return algorithmById(kind, platform, id)?.name ?? id;
}

function lifetimeOf(l: ExtLifetime | undefined): Lifetime | undefined {
  return l ? { allocations: l.allocations, bytes: l.bytes, addtime: l.addtime, usetime: l.usetime } : undefined;
}

export function secCtxOf(e: ExtSecCtx | undefined): SecCtx | undefined {
  if (!e) return undefined;
  let bytes = e.ctx;
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0) bytes = bytes.subarray(0, bytes.length - 1);
  return { doi: e.doi, alg: e.alg, ctx: Buffer.from(bytes).toString('latin1') };
}

/** The SA a message describes (ADD/UPDATE/GET replies, DUMP entries, EXPIRE...). */
export function saOf(m: SadbMsg, platform: Platform = 'linux'): SaParams {
  const sa = findExt(m, 'sa');
  const sa2 = findExt(m, 'sa2');
  const src = findExt(m, 'address_src');
  const dst = findExt(m, 'address_dst');
  if (!sa || !src || !dst) throw new WireModelError('an SA message needs SA, source and destination extensions');
  const satype = m.header.satype;
  const ekey = findExt(m, 'key_encrypt');
  const akey = findExt(m, 'key_auth');
  const encName = algRef(satype === SaType.IPCOMP ? 'comp' : 'enc', platform, sa.encrypt);
  const authName = algRef('auth', platform, sa.auth);
  const esn = platform === 'freebsd' && (sa.flags & FREEBSD_SAFLAGS_ESN) !== 0;
  const natType = findExt(m, 'nat_t_type');
  let natt: NatT | undefined;
  // a NAT-T type of 0 means no UDP encapsulation (setkey prints such an SA as plain esp)
  if (natType && natType.natType !== 0) {
    const oa = findExt(m, 'nat_t_oa');
    const sport = findExt(m, 'nat_t_sport')?.port ?? 0;
    const dport = findExt(m, 'nat_t_dport')?.port ?? 0;
    natt = oa ? { type: natType.natType, sport, dport, oa: addressOf(oa.sa) } : { type: natType.natType, sport, dport };
  }
  const hard = lifetimeOf(findExt(m, 'lifetime_hard'));
  const soft = lifetimeOf(findExt(m, 'lifetime_soft'));
  const ctx = secCtxOf(findExt(m, 'sec_ctx'));
  const enc = encName !== undefined || ekey ? { alg: encName ?? 0, ...(ekey ? { key: { bits: ekey.bits, data: ekey.data } } : {}) } : undefined;
  const auth = authName !== undefined || akey ? { alg: authName ?? 0, ...(akey ? { key: { bits: akey.bits, data: akey.data } } : {}) } : undefined;
  return {
    satype,
    src: endpointOf(src),
    dst: endpointOf(dst),
    spi: sa.spi,
    mode: sa2?.mode ?? 0,
    reqid: sa2?.reqid ?? 0,
    replay: sa.replay,
    flags: esn ? sa.flags & ~FREEBSD_SAFLAGS_ESN : sa.flags,
    esn,
    ...(enc ? { enc } : {}),
    ...(auth ? { auth } : {}),
    ...(hard ? { hard } : {}),
    ...(soft ? { soft } : {}),
    ...(ctx ? { ctx } : {}),
    ...(natt ? { natt } : {}),
  };
}

export function ruleOf(p: ExtPolicy): PolicyRule {
  const requests: IpsecRequest[] = p.requests.map((r) =>
    r.src && r.dst
      ? { proto: r.proto, mode: r.mode, level: r.level, reqid: r.reqid, tunnel: { src: { addr: addressOf(r.src), port: r.src.port }, dst: { addr: addressOf(r.dst), port: r.dst.port } } }
      : { proto: r.proto, mode: r.mode, level: r.level, reqid: r.reqid },
  );
  return { dir: p.dir, action: p.ptype, priority: p.priority, requests };
}

export function selectorOf(m: SadbMsg): Selector | undefined {
  const src = findExt(m, 'address_src');
  const dst = findExt(m, 'address_dst');
  if (!src || !dst) return undefined;
  return { src: addressOf(src.sa), dst: addressOf(dst.sa), sprefix: src.prefixlen, dprefix: dst.prefixlen, sport: src.sa.port, dport: dst.sa.port, proto: src.proto };
}

const NO_POS: SourcePos = { file: '<wire>', line: 0, col: 0, endLine: 0 };

/** The command a message setkey sends stands for (inverse of commandToWire). */
export function wireToCommand(m: SadbMsg, platform: Platform = 'linux', pos: SourcePos = NO_POS): Command {
  const h = m.header;
  switch (h.type) {
    case MsgType.ADD:
    case MsgType.UPDATE:
      return { kind: h.type === MsgType.ADD ? 'add' : 'update', pos, sa: saOf(m, platform) };
    case MsgType.GETSPI: {
      const r = findExt(m, 'spirange');
      const sa = saOf(m, platform);
      return r ? { kind: 'getspi', pos, sa, spiRange: { min: r.min, max: r.max } } : { kind: 'getspi', pos, sa };
    }
    case MsgType.GET:
    case MsgType.DELETE:
      return { kind: h.type === MsgType.GET ? 'get' : 'delete', pos, sa: saOf(m, platform) };
    case MsgType.FLUSH:
    case MsgType.DUMP:
      return { kind: h.type === MsgType.FLUSH ? 'flush' : 'dump', pos, satype: h.satype };
    case MsgType.X_SPDADD:
    case MsgType.X_SPDUPDATE:
    case MsgType.X_SPDDELETE: {
      const p = findExt(m, 'policy');
      if (!p) throw new WireModelError('an SPD message needs a policy extension');
      const kind = h.type === MsgType.X_SPDADD ? 'spdadd' : h.type === MsgType.X_SPDUPDATE ? 'spdupdate' : 'spddelete';
      const selector = selectorOf(m);
      const ctx = secCtxOf(findExt(m, 'sec_ctx'));
      return { kind, pos, ...(selector ? { selector } : {}), policy: ruleOf(p), ...(ctx ? { ctx } : {}) };
    }
    case MsgType.X_SPDFLUSH:
      return { kind: 'spdflush', pos };
    case MsgType.X_SPDDUMP:
      return { kind: 'spddump', pos };
  }
  throw new WireModelError(`message type ${h.type} is not a setkey command`);
}
