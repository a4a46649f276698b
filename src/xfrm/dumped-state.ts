/**
 * What both readers of a dumped XFRM state (state-dump-bytes.ts writes its
 * PF_KEY message, state-fields.ts its printed fields) take of it: the
 * shape nearly every state has (IPv4 or IPv6; algorithms among crypt,
 * auth, auth-trunc and comp; no ESN, NAT-T, security context, mark,
 * interface id, TFC padding, offload or direction) read in one walk, with
 * nothing built. stateToPfkey (sa.ts) stays the definition: whatever this
 * declines, its callers leave to it.
 */
import { AF } from '../pfkey/constants.js';
import { le32, u16 } from '../pfkey/dumped-sa.js';
import { IPPROTO_AH, IPPROTO_COMP, IPPROTO_ESP, XSize, Xfrma, XfrmStateFlag } from './constants.js';
import { attrAt, attrLen, walkAttrs } from './dump-bytes.js';
import { linuxId } from './sa.js';
import { readName } from './structs.js';

/** attributes that stateToPfkey reads into something this does not write: such a state is declined */
const DECLINED = new Uint8Array(64);
for (const t of [Xfrma.ALG_AEAD, Xfrma.REPLAY_ESN_VAL, Xfrma.ENCAP, Xfrma.SEC_CTX, Xfrma.MARK, Xfrma.IF_ID, Xfrma.SET_MARK, Xfrma.TFCPAD, Xfrma.SA_EXTRA_FLAGS, Xfrma.OFFLOAD_DEV, Xfrma.SA_DIR]) DECLINED[t] = 1;

/** the algorithm attributes read, and the size of each one's struct before its key */
const ALGORITHM_ATTRS: readonly (readonly [number, number])[] = [
  [Xfrma.ALG_CRYPT, XSize.algo],
  [Xfrma.ALG_COMP, XSize.algo],
  [Xfrma.ALG_AUTH_TRUNC, XSize.algoAuth],
  [Xfrma.ALG_AUTH, XSize.algo],
];


// offsets in struct xfrm_usersa_info (structs.ts readUsersaInfo)
export const SEL_SADDR = 16;
export const SEL_PREFIXLEN_S = 43;
export const SEL_PROTO = 44;
export const ID_DADDR = 56;
export const ID_SPI = 72;
export const ID_PROTO = 76;
export const SADDR = 80;
export const LFT = 96;
export const CURLFT = 160;
export const REQID = 208;
export const FAMILY = 212;
export const MODE = 214;
export const REPLAY_WINDOW = 215;
export const FLAGS = 216;

/**
 * The PF_KEY number of an algorithm attribute's name: the last name asked is
 * kept with its answer (a dump's states nearly all use the same few), so a
 * name is read as text only when it changes.
 */
class NameMemo {
  private readonly name = new Uint8Array(64);
  private len = -1;
  private extra = -1;
  private id = 0;
  constructor(private readonly kind: 'enc' | 'auth' | 'comp') {}

  idOf(b: Uint8Array, at: number, extra: number): number {
    // the last name again (one pass: its bytes, then its end)
    const len = this.len;
    if (len >= 0 && extra === this.extra && (len === 64 || b[at + len] === 0)) {
      let i = 0;
      while (i < len && b[at + i] === this.name[i]) i++;
      if (i === len) return this.id;
    }
    let n = 0;
    while (n < 64 && b[at + n] !== 0) n++;
    this.name.set(b.subarray(at, at + n));
    this.len = n;
    this.extra = extra;
    this.id = linuxId(this.kind, readName(b, at), extra < 0 ? undefined : extra);
    return this.id;
  }
}

const cryptNames = new NameMemo('enc');
const compNames = new NameMemo('comp');
const authNames = new NameMemo('auth');
const truncNames = new NameMemo('auth');

/** the last state read (readState): one at a time, nothing allocated */
export const state = {
  family: 0,
  /** xfrm_usersa_info.flags */
  flags: 0,
  /** the IPPROTO_ of id.proto */
  proto: 0,
  /** PF_KEY's encrypt (or compression) and auth numbers */
  encrypt: 0,
  auth: 0,
  /** the keys' bits (0: none) and where each key starts in the payload */
  ekeyBits: 0,
  ekeyAt: 0,
  akeyBits: 0,
  akeyAt: 0,
  /** an auth-trunc state's ICV bits; -1: none */
  truncBits: -1,
  /** no algorithm at all (af_key shows such a state LARVAL) */
  larval: false,
};

/** Payload `p` read into `state` if it is of the common shape; false if not (or damaged: the definition then says how). */
export function readState(p: Uint8Array): boolean {
  if (p.length < XSize.usersaInfo) return false;
  const family = u16(p, FAMILY);
  const flags = p[FLAGS]!;
  if ((family !== AF.INET && family !== AF.INET6_LINUX) || flags & XfrmStateFlag.ESN) return false;
  const proto = p[ID_PROTO]!;
  if (proto !== IPPROTO_ESP && proto !== IPPROTO_AH && proto !== IPPROTO_COMP) return false;
  // the attributes, the first of each type (as stateToPfkey takes them)
  if (!walkAttrs(p, XSize.usersaInfo, DECLINED)) return false;
  const crypt = attrAt[Xfrma.ALG_CRYPT]!;
  const comp = attrAt[Xfrma.ALG_COMP]!;
  const authT = attrAt[Xfrma.ALG_AUTH_TRUNC]!;
  const authPlain = attrAt[Xfrma.ALG_AUTH]!;
  // an algorithm's struct and key must be whole (else the definition throws)
  for (const [t, head] of ALGORITHM_ATTRS) {
    const v = attrAt[t]!;
    if (v >= 0 && (attrLen[t]! < head || attrLen[t]! < head + Math.ceil(le32(p, v + 64) / 8))) return false;
  }
  const s = state;
  s.encrypt = 0;
  s.ekeyBits = 0;
  s.ekeyAt = 0;
  if (crypt >= 0) {
    s.encrypt = cryptNames.idOf(p, crypt, -1);
    s.ekeyBits = le32(p, crypt + 64);
    s.ekeyAt = crypt + XSize.algo;
  } else if (comp >= 0) {
    s.encrypt = compNames.idOf(p, comp, -1);
  }
  s.auth = 0;
  s.akeyBits = 0;
  s.akeyAt = 0;
  s.truncBits = -1;
  if (authT >= 0) {
    s.truncBits = le32(p, authT + 68);
    s.auth = truncNames.idOf(p, authT, s.truncBits);
    s.akeyBits = le32(p, authT + 64);
    s.akeyAt = authT + XSize.algoAuth;
  } else if (authPlain >= 0) {
    s.auth = authNames.idOf(p, authPlain, -1);
    s.akeyBits = le32(p, authPlain + 64);
    s.akeyAt = authPlain + XSize.algo;
  }
  // serialize() writes a key's bits as 16 bits: a key of more is left to it
  if (s.akeyBits > 0xffff || s.ekeyBits > 0xffff) return false;
  s.family = family;
  s.flags = flags;
  s.proto = proto;
  s.larval = crypt < 0 && comp < 0 && authT < 0 && authPlain < 0;
  return true;
}
