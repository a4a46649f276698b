/**
 * Commands -> typed PF_KEY messages, exactly as ipsec-tools setkey builds them
 * (src/setkey/parse.y setkeymsg_add / setkeymsg_addr / setkeymsg_spdaddr):
 * same extensions, same order, same values. Platform numbering comes from the
 * registry and src/pfkey/constants.ts.
 */
import { ALGORITHMS, algorithmByName, type AlgKind, type Platform } from '../model/algorithms.js';
import { fullPrefix, type Endpoint, type IpAddress } from '../model/address.js';
import type { Command, PolicyCommand, SaRefCommand } from '../model/command.js';
import type { PolicyRule } from '../model/policy.js';
import type { AlgRef, SaParams, SecCtx } from '../model/sa.js';
import { IpProto, SaType } from '../model/tables.js';
import { AF, MsgType, af6, extNumbers, type ExtKind } from './constants.js';
import { header, type ExtPolicy, type SadbExt, type SadbMsg, type SockAddr } from './types.js';

export interface WireOptions {
  readonly platform?: Platform;
  /** sadb_msg_pid (getpid() of the sender) */
  readonly pid?: number;
}

/** A statement that cannot be expressed as PF_KEY messages on the platform. */
export class EncodeError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface WireResult {
  readonly messages: SadbMsg[];
  /** set when the messages alone do not do the whole job (Linux deleteall) */
  readonly note?: string;
}

/** FreeBSD's SADB_X_SAFLAGS_ESN; Linux PF_KEY has no ESN (XFRM-only, af_key feature freeze). */
const FREEBSD_SAFLAGS_ESN = 0x400;

export function sockaddrOf(addr: IpAddress, port: number, platform: Platform): SockAddr {
  return {
    family: addr.family === 4 ? AF.INET : af6(platform),
    port,
    addr: addr.bytes,
    flowinfo: addr.flowInfo ?? 0,
    scopeId: addr.scopeId,
  };
}

function satypeOn(satype: number, platform: Platform): number {
  if (satype === SaType.TCP && platform !== 'freebsd') {
    throw new EncodeError('no-satype', `TCP-MD5 SAs have no PF_KEY SA type on ${platform} (FreeBSD's SADB_X_SATYPE_TCPSIGNATURE)`);
  }
  return satype;
}

function algId(ref: AlgRef | undefined, kinds: readonly AlgKind[], platform: Platform): number {
  if (ref === undefined) return 0;
  if (typeof ref === 'number') return ref;
  for (const kind of kinds) {
    const a = algorithmByName(kind, ref);
    if (!a) continue;
    const id = a.ids[platform];
    if (id === undefined) {
      const where = ALGORITHMS.some((x) => x.name === ref && x.xfrm) && platform === 'linux' ? '; the xfrm backend can install it' : '';
      throw new EncodeError('no-alg-id', `${ref} has no PF_KEY number on ${platform}${where}`);
    }
    return id;
  }
  throw new EncodeError('unknown-alg', `unknown algorithm ${ref}`);
}

function addressExt(kind: 'address_src' | 'address_dst', ep: Endpoint, proto: number, prefixlen: number, platform: Platform): SadbExt {
  return { kind, proto, prefixlen, reserved: 0, sa: sockaddrOf(ep.addr, ep.port, platform) };
}

/** Fail clearly when the platform's PF_KEY has no extension for something the statement says. */
function requireExt(platform: Platform, kind: ExtKind, what: string): void {
  if (!extNumbers(platform).byKind.has(kind)) throw new EncodeError('no-ext', `PF_KEY on ${platform} has no extension for ${what}`);
}

function ctxExt(c: SecCtx, platform: Platform): SadbExt {
  requireExt(platform, 'sec_ctx', 'security contexts');
  // setkey sends the string with its NUL: sadb_x_ctx_len = strlen + 1
  const bytes = new Uint8Array(Buffer.from(c.ctx + '\0', 'latin1'));
  return { kind: 'sec_ctx', alg: c.alg, doi: c.doi, ctxLen: bytes.length, ctx: bytes };
}

function saExts(sa: SaParams, platform: Platform, withAlgs: boolean): SadbExt[] {
  if (sa.replay > 255) {
    throw new EncodeError('replay-range', `a replay window of ${sa.replay} does not fit PF_KEY's 8-bit field; the xfrm backend carries up to 4096`);
  }
  let flags = sa.flags;
  if (sa.esn) {
    if (platform !== 'freebsd') throw new EncodeError('no-esn', `extended sequence numbers cannot be expressed in PF_KEY on ${platform}; the xfrm backend can`);
    flags |= FREEBSD_SAFLAGS_ESN;
  }
  const encKinds: readonly AlgKind[] = sa.satype === SaType.IPCOMP ? ['comp'] : ['enc', 'comp'];
  return [
    {
      kind: 'sa',
      spi: sa.spi,
      replay: sa.replay,
      state: 0,
      auth: withAlgs ? algId(sa.auth?.alg, ['auth'], platform) : 0,
      encrypt: withAlgs ? algId(sa.enc?.alg, encKinds, platform) : 0,
      flags,
    },
    { kind: 'sa2', mode: sa.mode, reserved1: 0, reserved2: 0, sequence: 0, reqid: sa.reqid },
  ];
}

function addressPair(sa: SaParams, platform: Platform): SadbExt[] {
  const plen = fullPrefix(sa.src.addr.family);
  return [addressExt('address_src', sa.src, IpProto.ANY, plen, platform), addressExt('address_dst', sa.dst, IpProto.ANY, plen, platform)];
}

/** ADD, UPDATE, GETSPI: parse.y setkeymsg_add. */
function addMessage(type: number, sa: SaParams, o: Required<WireOptions>, range?: { min: number; max: number }): SadbMsg {
  const p = o.platform;
  const exts: SadbExt[] = [];
  if (sa.satype !== SaType.IPCOMP && sa.enc?.key) {
    exts.push({ kind: 'key_encrypt', bits: sa.enc.key.bits, reserved: 0, data: sa.enc.key.data });
  }
  if (sa.auth?.key) exts.push({ kind: 'key_auth', bits: sa.auth.key.bits, reserved: 0, data: sa.auth.key.data });
  if (sa.hard) exts.push({ kind: 'lifetime_hard', ...sa.hard });
  if (sa.soft) exts.push({ kind: 'lifetime_soft', ...sa.soft });
  if (sa.ctx) exts.push(ctxExt(sa.ctx, p));
  if (range) exts.push({ kind: 'spirange', min: range.min, max: range.max, reserved: 0 });
  exts.push(...saExts(sa, p, true));
  if (sa.natt) {
    requireExt(p, 'nat_t_type', 'NAT traversal (esp-udp)');
    exts.push({ kind: 'nat_t_type', natType: sa.natt.type });
    if (sa.natt.oa) {
      exts.push({ kind: 'nat_t_oa', proto: IpProto.ANY, prefixlen: fullPrefix(sa.natt.oa.family), reserved: 0, sa: sockaddrOf(sa.natt.oa, 0, p) });
    }
  }
  exts.push(...addressPair(sa, p));
  if (sa.natt) exts.push({ kind: 'nat_t_sport', port: sa.natt.sport }, { kind: 'nat_t_dport', port: sa.natt.dport });
  return { header: header(type, satypeOn(sa.satype, p), o.pid), exts };
}

/** GET, DELETE: parse.y setkeymsg_addr. */
function refMessage(c: SaRefCommand, o: Required<WireOptions>): SadbMsg {
  const type = c.kind === 'get' ? MsgType.GET : MsgType.DELETE;
  return { header: header(type, satypeOn(c.sa.satype, o.platform), o.pid), exts: [...saExts(c.sa, o.platform, false), ...addressPair(c.sa, o.platform)] };
}

export function policyExt(rule: PolicyRule, platform: Platform): ExtPolicy {
  return {
    kind: 'policy',
    ptype: rule.action,
    dir: rule.dir,
    reserved: 0,
    id: 0,
    priority: rule.priority,
    requests: rule.requests.map((r) =>
      r.tunnel
        ? { proto: r.proto, mode: r.mode, level: r.level, reqid: r.reqid, src: sockaddrOf(r.tunnel.src.addr, r.tunnel.src.port, platform), dst: sockaddrOf(r.tunnel.dst.addr, r.tunnel.dst.port, platform) }
        : { proto: r.proto, mode: r.mode, level: r.level, reqid: r.reqid },
    ),
  };
}

/** SPDADD, SPDUPDATE, SPDDELETE: parse.y setkeymsg_spdaddr / setkeymsg_spdaddr_tag. */
function policyMessage(c: PolicyCommand, o: Required<WireOptions>): SadbMsg {
  const type = c.kind === 'spdadd' ? MsgType.X_SPDADD : c.kind === 'spdupdate' ? MsgType.X_SPDUPDATE : MsgType.X_SPDDELETE;
  const exts: SadbExt[] = [policyExt(c.policy, o.platform)];
  const s = c.selector;
  if (s) {
    exts.push(
      { kind: 'address_src', proto: s.proto, prefixlen: s.sprefix, reserved: 0, sa: sockaddrOf(s.src, s.sport, o.platform) },
      { kind: 'address_dst', proto: s.proto, prefixlen: s.dprefix, reserved: 0, sa: sockaddrOf(s.dst, s.dport, o.platform) },
    );
    if (c.ctx) exts.push(ctxExt(c.ctx, o.platform));
  }
  return { header: header(type, 0, o.pid), exts };
}

/** The PF_KEY messages a command sends, in order. */
export function commandToWire(c: Command, opts: WireOptions = {}): WireResult {
  const o: Required<WireOptions> = { platform: opts.platform ?? 'linux', pid: opts.pid ?? 0 };
  switch (c.kind) {
    case 'add':
      return { messages: [addMessage(MsgType.ADD, c.sa, o)] };
    case 'update':
      return { messages: [addMessage(MsgType.UPDATE, c.sa, o)] };
    case 'getspi':
      return { messages: [addMessage(MsgType.GETSPI, c.sa, o, c.spiRange)] };
    case 'get':
    case 'delete':
      return { messages: [refMessage(c, o)] };
    case 'deleteall': {
      const satype = satypeOn(c.satype, o.platform);
      if (o.platform === 'linux') {
        // Linux refuses DELETE without an SPI (RFC 2367 strictly), so setkey dumps first and deletes one by one
        return {
          messages: [{ header: header(MsgType.DUMP, satype, o.pid), exts: [] }],
          note: 'deleteall: the DELETE messages that follow the DUMP depend on the SAs the kernel holds',
        };
      }
      const plen = fullPrefix(c.src.family);
      return {
        messages: [
          {
            header: header(MsgType.DELETE, satype, o.pid),
            exts: [addressExt('address_src', { addr: c.src, port: 0 }, IpProto.ANY, plen, o.platform), addressExt('address_dst', { addr: c.dst, port: 0 }, IpProto.ANY, plen, o.platform)],
          },
        ],
      };
    }
    case 'flush':
      return { messages: [{ header: header(MsgType.FLUSH, satypeOn(c.satype, o.platform), o.pid), exts: [] }] };
    case 'dump':
      return { messages: [{ header: header(MsgType.DUMP, satypeOn(c.satype, o.platform), o.pid), exts: [] }] };
    case 'spdadd':
    case 'spdupdate':
    case 'spddelete':
      return { messages: [policyMessage(c, o)] };
    case 'spdflush':
      return { messages: [{ header: header(MsgType.X_SPDFLUSH, 0, o.pid), exts: [] }] };
    case 'spddump':
      return { messages: [{ header: header(MsgType.X_SPDDUMP, 0, o.pid), exts: [] }] };
    case 'exit':
      return { messages: [] };
  }
}
