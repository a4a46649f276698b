/**
 * SAs between the model and XFRM netlink: a statement's SaParams become an
 * xfrm_usersa_info with its attributes (xfrm_user.c xfrm_add_sa), and a
 * state the kernel reports becomes the PF_KEY message Linux af_key would
 * have dumped for it (af_key.c __pfkey_xfrm_state2msg), so that every
 * printer serves this backend unchanged. What PF_KEY cannot say (AEAD
 * ciphers' ICV, ESN, replay windows above 255, marks...) is kept aside as
 * XfrmExtras.
 */
import { ALGORITHMS, algorithmByName, algorithmByXfrmName, type AlgKind, type Algorithm } from '../model/algorithms.js';
import type { IpAddress } from '../model/address.js';
import type { SaParams } from '../model/sa.js';
import { Mode, SaState, SaType } from '../model/tables.js';
import { AF, MsgType } from '../pfkey/constants.js';
import type { SadbExt, SadbMsg, SockAddr } from '../pfkey/types.js';
import { IPPROTO_AH, IPPROTO_COMP, IPPROTO_ESP, Xfrma, XfrmMode, XfrmStateFlag, XFRM_INF, XFRMA_REPLAY_ESN_MAX } from './constants.js';
import type { Attr } from './netlink.js';
import { encodeAlgo, encodeEncap, fresh, encodeReplayEsn, encodeSecCtx, emptySelector, infiniteLifetime, readAlgo, readEncap, readMark, readReplayEsn, readSecCtx, readU32, zeroCur, type LifetimeCfg, type UsersaInfo } from './structs.js';

export class XfrmTranslateError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

const EINVAL = 22;
const EPROTONOSUPPORT = 93;
const ENOSYS = 38;

/** PF_KEY SA type <-> IP protocol of an XFRM state. */
export function protoOfSatype(satype: number): number {
  switch (satype) {
    case SaType.ESP:
      return IPPROTO_ESP;
    case SaType.AH:
      return IPPROTO_AH;
    case SaType.IPCOMP:
      return IPPROTO_COMP;
    case 0:
      return 0;
  }
  throw new XfrmTranslateError(EPROTONOSUPPORT, satype === SaType.TCP ? 'TCP-MD5 signatures are not IPsec SAs on Linux (they are set per socket with TCP_MD5SIG)' : `SA type ${satype} has no XFRM protocol`);
}

export function satypeOfProto(proto: number): number {
  return proto === IPPROTO_ESP ? SaType.ESP : proto === IPPROTO_AH ? SaType.AH : proto === IPPROTO_COMP ? SaType.IPCOMP : 0;
}

/** PF_KEY IPSEC_MODE_* -> XFRM_MODE_* (any is transport, as af_key does) */
export function xfrmMode(mode: number): number {
  switch (mode) {
    case Mode.ANY:
    case Mode.TRANSPORT:
      return XfrmMode.TRANSPORT;
    case Mode.TUNNEL:
      return XfrmMode.TUNNEL;
    case Mode.BEET:
      return XfrmMode.BEET;
  }
  throw new XfrmTranslateError(EINVAL, `mode ${mode}`);
}

export function pfkeyMode(mode: number): number {
  return mode === XfrmMode.TUNNEL ? Mode.TUNNEL : mode === XfrmMode.BEET ? Mode.BEET : Mode.TRANSPORT;
}

export function afOf(a: IpAddress): number {
  return a.family === 4 ? AF.INET : AF.INET6_LINUX;
}

/** An address as XFRM's 16 bytes (IPv4 in the first four), cut from the encoders' shared buffers, copied byte by byte (set() is a call into the runtime: dear for 4 bytes) */
export function addr16(a: IpAddress): Uint8Array {
  const b = fresh(16);
  const s = a.bytes;
  for (let i = 0; i < s.length && i < 16; i++) b[i] = s[i]!;
  return b;
}

export function addrOf(family: number, b: Uint8Array): IpAddress {
  return family === AF.INET ? { family: 4, bytes: b.slice(0, 4), scopeId: 0 } : { family: 6, bytes: b.slice(0, 16), scopeId: 0 };
}

function lifetimeCfg(sa: SaParams): LifetimeCfg {
  const l = infiniteLifetime();
  // _KEY2X: 0 means no limit; Linux reads allocations as a packet count (as af_key does)
  const lim = (v: bigint): bigint => (v === 0n ? XFRM_INF : v);
  if (sa.hard) {
    l.hardByteLimit = lim(sa.hard.bytes);
    l.hardPacketLimit = lim(BigInt(sa.hard.allocations));
    l.hardAddExpires = sa.hard.addtime;
    l.hardUseExpires = sa.hard.usetime;
  }
  if (sa.soft) {
    l.softByteLimit = lim(sa.soft.bytes);
    l.softPacketLimit = lim(BigInt(sa.soft.allocations));
    l.softAddExpires = sa.soft.addtime;
    l.softUseExpires = sa.soft.usetime;
  }
  return l;
}

function registryAlg(kind: AlgKind, ref: string | number | undefined): Algorithm | undefined {
  if (ref === undefined) return undefined;
  const a = typeof ref === 'string' ? algorithmByName(kind, ref) : undefined;
  if (!a || !a.xfrm) throw new XfrmTranslateError(ENOSYS, `${typeof ref === 'number' ? `algorithm number ${ref}` : ref} has no Linux XFRM implementation`);
  return a;
}

export interface SaRequest {
  readonly info: UsersaInfo;
  readonly attrs: Attr[];
}

/** The XFRM_MSG_NEWSA / UPDSA payload for an SA (xfrm_user.c verify_newsa_info, xfrm_state_construct). */
export function saToXfrm(sa: SaParams): SaRequest {
  const proto = protoOfSatype(sa.satype);
  const family = afOf(sa.dst.addr);
  const attrs: Attr[] = [];
  const ipcomp = sa.satype === SaType.IPCOMP;
  const enc = registryAlg(ipcomp ? 'comp' : 'enc', sa.enc?.alg);
  const auth = registryAlg('auth', sa.auth?.alg);
  if (enc) {
    const key = sa.enc?.key ?? { bits: 0, data: new Uint8Array(0) };
    if (enc.aead) attrs.push({ type: Xfrma.ALG_AEAD, value: encodeAlgo({ name: enc.xfrm!, keyBits: key.bits, key: key.data, extraBits: enc.icvBits ?? 128 }, true) });
    else attrs.push({ type: ipcomp ? Xfrma.ALG_COMP : Xfrma.ALG_CRYPT, value: encodeAlgo({ name: enc.xfrm!, keyBits: ipcomp ? 0 : key.bits, key: ipcomp ? new Uint8Array(0) : key.data }, false) });
  }
  if (auth) {
    const key = sa.auth?.key ?? { bits: 0, data: new Uint8Array(0) };
    // the truncation is explicit: hmac-sha256 is 96 bits as the man page says, hmac-sha256-128 is RFC 4868's
    attrs.push({ type: Xfrma.ALG_AUTH_TRUNC, value: encodeAlgo({ name: auth.xfrm!, keyBits: key.bits, key: key.data, extraBits: auth.icvBits ?? 0 }, true) });
  }
  if (sa.natt) {
    attrs.push({ type: Xfrma.ENCAP, value: encodeEncap({ type: sa.natt.type, sport: sa.natt.sport, dport: sa.natt.dport, oa: sa.natt.oa ? addr16(sa.natt.oa) : new Uint8Array(16) }) });
  }
  if (sa.ctx) {
    attrs.push({ type: Xfrma.SEC_CTX, value: encodeSecCtx({ exttype: 24, alg: sa.ctx.alg, doi: sa.ctx.doi, ctx: new Uint8Array(Buffer.from(sa.ctx.ctx + '\0', 'latin1')) }) });
  }
  let replayWindow = sa.replay;
  let flags = 0;
  // the legacy byte is capped at 32 by the kernel (copy_from_user_state): a larger window needs the ESN form
  const espOrAh = proto === IPPROTO_ESP || proto === IPPROTO_AH;
  if (sa.esn && !espOrAh) throw new XfrmTranslateError(EINVAL, 'extended sequence numbers are for ESP and AH');
  // IPComp has no replay protection: its byte is kept as given (and capped by the kernel)
  if (!espOrAh) replayWindow = Math.min(sa.replay, 255);
  else if (sa.esn || sa.replay > 32) {
    if (sa.replay > XFRMA_REPLAY_ESN_MAX) throw new XfrmTranslateError(EINVAL, `a replay window of ${sa.replay} is above the kernel's ${XFRMA_REPLAY_ESN_MAX}`);
    // XFRMA_REPLAY_ESN_VAL carries the window; the legacy byte must then be 0 (verify_replay)
    attrs.push({ type: Xfrma.REPLAY_ESN_VAL, value: encodeReplayEsn({ oseq: 0, seq: 0, oseqHi: 0, seqHi: 0, replayWindow: sa.replay, bmp: new Uint32Array(Math.max(1, Math.ceil(sa.replay / 32))) }) });
    replayWindow = 0;
    if (sa.esn) flags |= XfrmStateFlag.ESN;
  }
  // of setkey's SA flags, Linux knows NOECN, DECAP_DSCP and NOPMTUDISC (the Linux SADB_SAFLAGS_* bits)
  if (sa.flags & 0x80000000) flags |= XfrmStateFlag.NOECN;
  if (sa.flags & 0x40000000) flags |= XfrmStateFlag.DECAP_DSCP;
  if (sa.flags & 0x20000000) flags |= XfrmStateFlag.NOPMTUDISC;
  const info: UsersaInfo = {
    // the selector is the family alone, as af_key leaves it: the SA is not bound to traffic
    sel: emptySelector(family),
    id: { daddr: addr16(sa.dst.addr), spi: sa.spi, proto },
    saddr: addr16(sa.src.addr),
    lft: lifetimeCfg(sa),
    curlft: zeroCur(),
    stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
    seq: 0,
    reqid: sa.reqid,
    family,
    mode: xfrmMode(sa.mode),
    replayWindow,
    flags,
  };
  return { info, attrs };
}

/** What XFRM says about a state that a PF_KEY message cannot carry (shown in JSON). */
export interface XfrmExtras {
  readonly replayWindow?: number;
  readonly esn?: boolean;
  readonly aead?: { readonly name: string; readonly icvBits: number };
  readonly authTruncBits?: number;
  readonly natOa?: string;
  readonly mark?: { readonly value: number; readonly mask: number };
  readonly ifId?: number;
  readonly outputMark?: number;
  readonly tfcPad?: number;
  readonly offload?: boolean;
  readonly saDir?: number;
  readonly extraFlags?: number;
}

/** _X2KEY: the kernel's "no limit" reads back as 0, as af_key shows it */
export const x2key = (v: bigint): bigint => (v === XFRM_INF ? 0n : v);

/**
 * The Linux PF_KEY number af_key would report for an XFRM algorithm: by name
 * (and ICV, which tells hmac-sha256 from hmac-sha256-128), else any registry
 * entry of that XFRM name that has one (af_key looks names up, truncation
 * aside); 0 when PF_KEY has none (ChaCha20-Poly1305).
 */
export function linuxId(kind: AlgKind, name: string, icv?: number): number {
  // a dump asks the same few questions for every state: the registry is walked once for each
  const k = `${kind}/${name}/${icv ?? ''}`;
  let id = LINUX_IDS.get(k);
  if (id === undefined) LINUX_IDS.set(k, (id = registryLinuxId(kind, name, icv)));
  return id;
}

const LINUX_IDS = new Map<string, number>();

function registryLinuxId(kind: AlgKind, name: string, icv?: number): number {
  const exact = algorithmByXfrmName(kind, name, icv)?.ids.linux;
  if (exact !== undefined) return exact;
  return ALGORITHMS.find((a) => a.kind === kind && a.xfrm === name && a.ids.linux !== undefined)?.ids.linux ?? 0;
}

/** A PF_KEY sockaddr of an XFRM address (16 bytes, IPv4 in the first four). */
export function sockaddr(family: number, b: Uint8Array, port = 0): SockAddr {
  return { family, port, addr: family === AF.INET ? b.slice(0, 4) : b.slice(0, 16), flowinfo: 0, scopeId: 0 };
}

/**
 * A state from the kernel as the PF_KEY message af_key would make of it
 * (header type DUMP; the caller sets type, seq and pid).
 */
export function stateToPfkey(info: UsersaInfo, attrs: readonly Attr[]): { msg: SadbMsg; extras: XfrmExtras } {
  const extras: { -readonly [K in keyof XfrmExtras]: XfrmExtras[K] } = {};
  // each attribute by its type, the first of a type as attr() finds it: one pass, not one per type asked
  const byType: (Uint8Array | undefined)[] = [];
  for (const a of attrs) byType[a.type] ??= a.value;
  const crypt = byType[Xfrma.ALG_CRYPT];
  const aeadA = byType[Xfrma.ALG_AEAD];
  const comp = byType[Xfrma.ALG_COMP];
  const authT = byType[Xfrma.ALG_AUTH_TRUNC];
  const authPlain = byType[Xfrma.ALG_AUTH];
  const esn = byType[Xfrma.REPLAY_ESN_VAL];
  const encap = byType[Xfrma.ENCAP];
  const ctx = byType[Xfrma.SEC_CTX];
  const family = info.family;
  const satype = satypeOfProto(info.id.proto);
  let encrypt = 0;
  let authId = 0;
  let ekey: { bits: number; data: Uint8Array } | undefined;
  let akey: { bits: number; data: Uint8Array } | undefined;
  if (crypt) {
    const a = readAlgo(crypt, false);
    encrypt = linuxId('enc', a.name);
    ekey = { bits: a.keyBits, data: a.key };
  } else if (aeadA) {
    const a = readAlgo(aeadA, true);
    encrypt = linuxId('enc', a.name, a.extraBits);
    // a cipher PF_KEY has no number for shows as af_key shows AEAD states: no algorithm, no key (JSON has both)
    if (encrypt !== 0) ekey = { bits: a.keyBits, data: a.key };
    extras.aead = { name: a.name, icvBits: a.extraBits ?? 0 };
  } else if (comp) {
    encrypt = linuxId('comp', readAlgo(comp, false).name);
  }
  if (authT) {
    const a = readAlgo(authT, true);
    authId = linuxId('auth', a.name, a.extraBits);
    akey = { bits: a.keyBits, data: a.key };
    extras.authTruncBits = a.extraBits ?? 0;
  } else if (authPlain) {
    const a = readAlgo(authPlain, false);
    authId = linuxId('auth', a.name);
    akey = { bits: a.keyBits, data: a.key };
  }
  let replay = info.replayWindow;
  if (esn) {
    const r = readReplayEsn(esn);
    replay = r.replayWindow;
    extras.replayWindow = r.replayWindow;
  }
  if (info.flags & XfrmStateFlag.ESN) extras.esn = true;
  const mark = byType[Xfrma.MARK];
  if (mark) {
    const m = readMark(mark);
    extras.mark = { value: m.v, mask: m.m };
  }
  const u32 = (t: number): number | undefined => {
    const v = byType[t];
    return v && v.length >= 4 ? readU32(v) : undefined;
  };
  const ifId = u32(Xfrma.IF_ID);
  if (ifId !== undefined) extras.ifId = ifId;
  const outMark = u32(Xfrma.SET_MARK);
  if (outMark !== undefined) extras.outputMark = outMark;
  const tfc = u32(Xfrma.TFCPAD);
  if (tfc !== undefined) extras.tfcPad = tfc;
  const xflags = u32(Xfrma.SA_EXTRA_FLAGS);
  if (xflags) extras.extraFlags = xflags;
  if (byType[Xfrma.OFFLOAD_DEV]) extras.offload = true;
  const dir = byType[Xfrma.SA_DIR];
  if (dir && dir.length >= 1) extras.saDir = dir[0]!;
  // no algorithms: a larval state (ALLOCSPI or an ACQUIRE), as af_key reports XFRM_STATE_ACQ
  const larval = !crypt && !aeadA && !comp && !authT && !authPlain;
  let flags = 0;
  if (info.flags & XfrmStateFlag.NOECN) flags |= 0x80000000;
  if (info.flags & XfrmStateFlag.DECAP_DSCP) flags |= 0x40000000;
  if (info.flags & XfrmStateFlag.NOPMTUDISC) flags |= 0x20000000;
  const plen = family === AF.INET ? 32 : 128;
  const lt = (kind: 'lifetime_hard' | 'lifetime_soft'): SadbExt => {
    const h = kind === 'lifetime_hard';
    const l = info.lft;
    return { kind, allocations: Number(x2key(h ? l.hardPacketLimit : l.softPacketLimit) & 0xffffffffn), bytes: x2key(h ? l.hardByteLimit : l.softByteLimit), addtime: h ? l.hardAddExpires : l.softAddExpires, usetime: h ? l.hardUseExpires : l.softUseExpires };
  };
  const exts: SadbExt[] = [
    { kind: 'sa', spi: info.id.spi, replay: Math.min(replay, 255), state: larval ? SaState.LARVAL : SaState.MATURE, auth: authId, encrypt, flags },
    lt('lifetime_hard'),
    lt('lifetime_soft'),
    { kind: 'lifetime_current', allocations: Number(info.curlft.packets & 0xffffffffn), bytes: info.curlft.bytes, addtime: info.curlft.addTime, usetime: info.curlft.useTime },
    { kind: 'address_src', proto: 0, prefixlen: plen, reserved: 0, sa: sockaddr(family, info.saddr) },
    { kind: 'address_dst', proto: 0, prefixlen: plen, reserved: 0, sa: sockaddr(family, info.id.daddr) },
  ];
  // af_key adds the selector's source when it differs from the SA's (always, for an SA added with a bare selector)
  const selSrc = info.sel.saddr.subarray(0, family === AF.INET ? 4 : 16);
  const saSrc = info.saddr.subarray(0, family === AF.INET ? 4 : 16);
  let sameSrc = true;
  for (let i = 0; i < selSrc.length; i++) if (selSrc[i] !== saSrc[i]) sameSrc = false;
  if (!sameSrc) {
    exts.push({ kind: 'address_proxy', proto: info.sel.proto === 0 ? 255 : info.sel.proto, prefixlen: info.sel.prefixlenS, reserved: 0, sa: sockaddr(family, info.sel.saddr) });
  }
  if (akey && akey.bits > 0) exts.push({ kind: 'key_auth', bits: akey.bits, reserved: 0, data: akey.data });
  if (ekey && ekey.bits > 0) exts.push({ kind: 'key_encrypt', bits: ekey.bits, reserved: 0, data: ekey.data });
  exts.push({ kind: 'sa2', mode: pfkeyMode(info.mode), reserved1: 0, reserved2: 0, sequence: 0, reqid: info.reqid });
  if (encap) {
    const e = readEncap(encap);
    if (e.type !== 0) exts.push({ kind: 'nat_t_type', natType: e.type }, { kind: 'nat_t_sport', port: e.sport }, { kind: 'nat_t_dport', port: e.dport });
    if (e.oa.some((b) => b !== 0)) extras.natOa = Buffer.from(e.oa.subarray(0, family === AF.INET ? 4 : 16)).toString('hex');
  }
  if (ctx) {
    const c = readSecCtx(ctx);
    exts.push({ kind: 'sec_ctx', alg: c.alg, doi: c.doi, ctxLen: c.ctx.length, ctx: c.ctx });
  }
  return { msg: { header: { version: 2, type: MsgType.DUMP, errno: 0, satype, reserved: 0, seq: 0, pid: 0 }, exts }, extras };
}

