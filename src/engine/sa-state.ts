/**
 * An SA as a Linux kernel keeps it, built from an ADD/UPDATE request
 * (af_key.c pfkey_msg2xfrm_state + xfrm_init_state), and the messages it is
 * dumped, notified and expired as (__pfkey_xfrm_state2msg), in
 * docs/linux-pfkey-semantics.md §1.2, §2 and §6.1.
 */
import { fullPrefix, type IpAddress } from '../model/address.js';
import { keyBitsAllowed } from '../model/algorithms.js';
import { Mode, SaState, SaType } from '../model/tables.js';
import { AF, af6, MsgType } from '../pfkey/constants.js';
import { sockaddrOf } from '../pfkey/to-wire.js';
import type { ExtLifetime, SadbExt, SadbHeader, SadbMsg } from '../pfkey/types.js';
import { afKeyAlgorithm, E, fail } from './context.js';
import { srcDst, validSatype, type Request } from './request.js';

/** The three SA flags Linux keeps (SADB_SAFLAGS_NOECN, DECAP_DSCP, NOPMTUDISC); setkey's KAME bits are dropped. */
export const KEPT_FLAGS = 0x80000000 | 0x40000000 | 0x20000000;
const UDP_ENCAP_ESPINUDP = 2;
const INF = 0xffffffffffffffffn;

/** _KEY2X then _X2KEY: 0 means "infinite" going in, and infinite dumps as 0. */
export function limitBack(v: bigint): bigint {
  return v === INF ? 0n : v;
}

function lifetimeOf(kind: ExtLifetime['kind'], l: ExtLifetime | undefined): ExtLifetime {
  return l ? { kind, allocations: l.allocations, bytes: limitBack(l.bytes), addtime: l.addtime, usetime: l.usetime } : { kind, allocations: 0, bytes: 0n, addtime: 0n, usetime: 0n };
}

function addressExt(kind: 'address_src' | 'address_dst', a: IpAddress): SadbExt {
  // the kernel answers with proto 0, a host prefix and port 0; IPv6 scope and flow are not kept
  return { kind, proto: 0, prefixlen: fullPrefix(a.family), reserved: 0, sa: { family: a.family === 4 ? AF.INET : af6('linux'), port: 0, addr: a.bytes, flowinfo: 0, scopeId: 0 } };
}

/** The PROXY extension Linux adds when the SA's selector source (never set by PF_KEY) differs from its source. */
function proxyExt(a: IpAddress): SadbExt {
  const zero: IpAddress = { family: a.family, bytes: new Uint8Array(a.bytes.length), scopeId: 0 };
  return { kind: 'address_proxy', proto: 255, prefixlen: 0, reserved: 0, sa: sockaddrOf(zero, 0, 'linux') };
}

export interface Built {
  readonly msg: SadbMsg;
  readonly src: IpAddress;
  readonly dst: IpAddress;
  readonly spi: number;
  readonly hard: ExtLifetime;
  readonly soft: ExtLifetime;
  /** NAT-T encapsulation type, 0 without */
  readonly encap: number;
}

/** Validate an ADD/UPDATE request as Linux does and build the SA it creates (state mature). */
export function buildSa(r: Request, now: bigint): Built {
  const h = r.header;
  const sa = r.ext('sa');
  if (!sa) fail(E.EINVAL, 'an SA extension is required');
  const { s, d } = srcDst(r);
  if (h.satype === SaType.ESP && !r.has('key_encrypt')) fail(E.EINVAL, 'ESP needs a KEY_ENCRYPT extension');
  if (h.satype === SaType.AH && !r.has('key_auth')) fail(E.EINVAL, 'AH needs a KEY_AUTH extension (also for null authentication)');
  if (r.has('lifetime_hard') !== r.has('lifetime_soft')) fail(E.EINVAL, 'hard and soft lifetimes must be given together');
  if (!validSatype(h.satype)) fail(E.EINVAL, `SA type ${h.satype}`);
  const ipcomp = h.satype === SaType.IPCOMP;
  if (sa.auth > 251 || (ipcomp && sa.encrypt > 4) || sa.encrypt > 253) fail(E.EINVAL, 'algorithm number out of range');
  const akey = r.ext('key_auth');
  const ekey = r.ext('key_encrypt');
  if (akey && sa.auth !== 251 && akey.bits === 0) fail(E.EINVAL, 'an empty authentication key');
  if (ekey && sa.encrypt !== 11 && ekey.bits === 0) fail(E.EINVAL, 'an empty encryption key');
  const aalg = sa.auth ? afKeyAlgorithm('auth', sa.auth) : undefined;
  if (sa.auth && !aalg) fail(E.ENOSYS, `authentication algorithm ${sa.auth} is not available through PF_KEY`);
  const ealg = sa.encrypt ? afKeyAlgorithm(ipcomp ? 'comp' : 'enc', sa.encrypt) : undefined;
  if (sa.encrypt && !ealg) fail(E.ENOSYS, `${ipcomp ? 'compression' : 'encryption'} algorithm ${sa.encrypt} is not available through PF_KEY (AEAD ciphers need the xfrm backend)`);
  const sa2 = r.ext('sa2');
  const mode = sa2 ? sa2.mode : Mode.TRANSPORT;
  if (mode > Mode.BEET) fail(E.EINVAL, `mode ${mode}`);
  const natType = r.ext('nat_t_type');
  // xfrm_init_state(): the transform's own checks
  if (h.satype === 0) fail(E.EPROTONOSUPPORT, 'SA type 0 names no protocol');
  if (h.satype === SaType.ESP && !sa.encrypt) fail(E.EINVAL, 'ESP needs an encryption algorithm');
  if (h.satype === SaType.ESP && natType && natType.natType !== UDP_ENCAP_ESPINUDP) fail(E.EINVAL, `NAT-T type ${natType.natType}`);
  if (h.satype === SaType.AH && (!sa.auth || natType)) fail(E.EINVAL, natType ? 'AH cannot be UDP-encapsulated' : 'AH needs an authentication algorithm');
  if (ipcomp && (!sa.encrypt || natType || mode === Mode.BEET)) fail(E.EINVAL, 'IPComp needs a compression algorithm, no encapsulation, transport or tunnel mode');
  // the crypto layer refuses keys of the wrong size when the transform is set up
  if (aalg && akey && !keyBitsAllowed(aalg.keyBits, akey.bits)) fail(E.EINVAL, `a ${akey.bits}-bit key for ${aalg.name}`);
  if (ealg && !ipcomp && ekey && !keyBitsAllowed(ealg.keyBits, ekey.bits)) fail(E.EINVAL, `a ${ekey.bits}-bit key for ${ealg.name}`);

  const hard = lifetimeOf('lifetime_hard', r.ext('lifetime_hard'));
  const soft = lifetimeOf('lifetime_soft', r.ext('lifetime_soft'));
  const exts: SadbExt[] = [
    { kind: 'sa', spi: sa.spi, replay: Math.min(sa.replay, 32), state: SaState.MATURE, auth: sa.auth, encrypt: sa.encrypt, flags: sa.flags & KEPT_FLAGS },
    hard,
    soft,
    { kind: 'lifetime_current', allocations: 0, bytes: 0n, addtime: now, usetime: 0n },
    addressExt('address_src', s),
    addressExt('address_dst', d),
  ];
  if (!s.bytes.every((b) => b === 0)) exts.push(proxyExt(s));
  if (sa.auth && akey && akey.bits > 0) exts.push({ kind: 'key_auth', bits: akey.bits, reserved: 0, data: akey.data });
  if (sa.encrypt && !ipcomp && ekey && ekey.bits > 0) exts.push({ kind: 'key_encrypt', bits: ekey.bits, reserved: 0, data: ekey.data });
  // mode any is installed as transport
  exts.push({ kind: 'sa2', mode: mode === Mode.ANY ? Mode.TRANSPORT : mode, reserved1: 0, reserved2: 0, sequence: 0, reqid: sa2?.reqid ?? 0 });
  const encap = natType?.natType ?? 0;
  if (natType && encap !== 0) {
    exts.push({ kind: 'nat_t_type', natType: encap }, { kind: 'nat_t_sport', port: r.ext('nat_t_sport')?.port ?? 0 }, { kind: 'nat_t_dport', port: r.ext('nat_t_dport')?.port ?? 0 });
  }
  const ctx = r.ext('sec_ctx');
  if (ctx) exts.push(ctx);
  const header: SadbHeader = { version: 2, type: MsgType.DUMP, errno: 0, satype: h.satype, reserved: 0, seq: 0, pid: 0 };
  return { msg: { header, exts }, src: s, dst: d, spi: sa.spi, hard, soft, encap };
}

/** A larval SA as GETSPI makes it (§3): state larval, no algorithms, a 30 s hard lifetime. */
export function larvalSa(satype: number, src: IpAddress, dst: IpAddress, mode: number, reqid: number, spi: number, now: bigint): SadbMsg {
  const header: SadbHeader = { version: 2, type: MsgType.DUMP, errno: 0, satype, reserved: 0, seq: 0, pid: 0 };
  return {
    header,
    exts: [
      { kind: 'sa', spi, replay: 0, state: SaState.LARVAL, auth: 0, encrypt: 0, flags: 0 },
      { kind: 'lifetime_hard', allocations: 0, bytes: 0n, addtime: ACQ_EXPIRES, usetime: 0n },
      { kind: 'lifetime_soft', allocations: 0, bytes: 0n, addtime: 0n, usetime: 0n },
      { kind: 'lifetime_current', allocations: 0, bytes: 0n, addtime: now, usetime: 0n },
      addressExt('address_src', src),
      addressExt('address_dst', dst),
      { kind: 'sa2', mode: mode === Mode.ANY ? Mode.TRANSPORT : mode, reserved1: 0, reserved2: 0, sequence: 0, reqid },
    ],
  };
}

/** net.xfrm.acq_expires: a larval SA lives 30 seconds. */
export const ACQ_EXPIRES = 30n;

export function setState(m: SadbMsg, state: number): SadbMsg {
  return { header: m.header, exts: m.exts.map((e) => (e.kind === 'sa' ? { ...e, state } : e)) };
}

/** The EXPIRE message (key_notify_sa_expire): no keys, only the lifetime that fired. */
export function expireMessage(m: SadbMsg, hard: boolean): SadbMsg {
  const drop = new Set<string>(['key_auth', 'key_encrypt', hard ? 'lifetime_soft' : 'lifetime_hard']);
  const exts = m.exts.filter((e) => !drop.has(e.kind)).map((e) => (e.kind === 'sa' ? { ...e, state: hard ? SaState.DEAD : SaState.DYING } : e));
  return { header: { ...m.header, type: MsgType.EXPIRE, seq: 0, pid: 0, reserved: 0, errno: 0 }, exts };
}
