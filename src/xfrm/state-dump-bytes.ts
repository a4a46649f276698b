/**
 * A dumped XFRM state's PF_KEY message (what af_key would send for it)
 * written straight from its XFRM_MSG_NEWSA payload, for the shape nearly
 * every state has: IPv4 or IPv6, algorithms among crypt, auth, auth-trunc
 * and comp, no ESN, NAT-T, security context, mark, interface id, TFC
 * padding, offload or direction. stateToPfkey (sa.ts) stays the
 * definition; this is its shortcut for a dump, where it built ~40 objects
 * and BigInts a state (its struct read into objects, its attributes into
 * an array, its extensions into objects, then serialize()), which was half
 * of `setkey -D`'s time over XFRM for 10k states (and most of it in the
 * emulated test VM). Anything else it declines (undefined) and the caller
 * translates it the long way; test/dump-bytes.test.ts holds it to
 * stateToPfkey + serialize: the same bytes and extras, or no answer.
 */
import { SaState } from '../model/tables.js';
import { AF, PF_KEY_V2, Size, extNumber } from '../pfkey/constants.js';
import { IPPROTO_AH, IPPROTO_COMP, IPPROTO_ESP, XSize, Xfrma, XfrmStateFlag } from './constants.js';
import { linuxId, pfkeyMode, satypeOfProto } from './sa.js';
import { readName } from './structs.js';
import { le32, u16 } from '../pfkey/dumped-sa.js';
import { address, attrAt, attrLen, copy, ext, lifetimes, out, put16, put32, walkAttrs } from './dump-bytes.js';

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

const EXT = {
  sa: extNumber('linux', 'sa'),
  src: extNumber('linux', 'address_src'),
  dst: extNumber('linux', 'address_dst'),
  proxy: extNumber('linux', 'address_proxy'),
  akey: extNumber('linux', 'key_auth'),
  ekey: extNumber('linux', 'key_encrypt'),
  sa2: extNumber('linux', 'sa2'),
};

// offsets in struct xfrm_usersa_info (structs.ts readUsersaInfo)
const SEL_SADDR = 16;
const SEL_PREFIXLEN_S = 43;
const SEL_PROTO = 44;
const ID_DADDR = 56;
const ID_SPI = 72;
const ID_PROTO = 76;
const SADDR = 80;
const LFT = 96;
const CURLFT = 160;
const REQID = 208;
const FAMILY = 212;
const MODE = 214;
const REPLAY_WINDOW = 215;
const FLAGS = 216;

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
    let n = 0;
    while (n < 64 && b[at + n] !== 0) n++;
    if (n === this.len && extra === this.extra) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (b[at + i] !== this.name[i]) {
          same = false;
          break;
        }
      }
      if (same) return this.id;
    }
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

/** a key extension: its bits, then the key padded to 8 bytes */
function key(o: Uint8Array, at: number, size: number, type: number, bits: number, b: Uint8Array, from: number, n: number): void {
  ext(o, at, size, type);
  put16(o, at + 4, bits);
  copy(o, at + 8, b, from, n);
}

export interface DumpedState {
  readonly msg: Uint8Array;
  /** the JSON extras stateToPfkey reports for it (the ICV of an auth-trunc state) */
  readonly authTruncBits: number | undefined;
}

/**
 * The state's PF_KEY message with this header's type, seq and pid, or
 * undefined for a state of another shape (or a damaged one: the definition
 * then says what is wrong with it).
 */
export function stateDumpBytes(p: Uint8Array, type: number, seq: number, pid: number): DumpedState | undefined {
  if (p.length < XSize.usersaInfo) return undefined;
  const family = u16(p, FAMILY);
  const flags = p[FLAGS]!;
  if ((family !== AF.INET && family !== AF.INET6_LINUX) || flags & XfrmStateFlag.ESN) return undefined;
  const proto = p[ID_PROTO]!;
  if (proto !== IPPROTO_ESP && proto !== IPPROTO_AH && proto !== IPPROTO_COMP) return undefined;
  // the attributes, the first of each type (as stateToPfkey takes them)
  if (!walkAttrs(p, XSize.usersaInfo, DECLINED)) return undefined;
  const crypt = attrAt[Xfrma.ALG_CRYPT]!;
  const comp = attrAt[Xfrma.ALG_COMP]!;
  const authT = attrAt[Xfrma.ALG_AUTH_TRUNC]!;
  const authPlain = attrAt[Xfrma.ALG_AUTH]!;
  // an algorithm's struct and key must be whole (else the definition throws)
  for (const [t, head] of ALGORITHM_ATTRS) {
    const v = attrAt[t]!;
    if (v >= 0 && (attrLen[t]! < head || attrLen[t]! < head + Math.ceil(le32(p, v + 64) / 8))) return undefined;
  }
  let encrypt = 0;
  let ekeyBits = 0;
  let ekeyAt = 0;
  if (crypt >= 0) {
    encrypt = cryptNames.idOf(p, crypt, -1);
    ekeyBits = le32(p, crypt + 64);
    ekeyAt = crypt + XSize.algo;
  } else if (comp >= 0) {
    encrypt = compNames.idOf(p, comp, -1);
  }
  let authId = 0;
  let akeyBits = 0;
  let akeyAt = 0;
  let authTruncBits: number | undefined;
  if (authT >= 0) {
    authTruncBits = le32(p, authT + 68);
    authId = truncNames.idOf(p, authT, authTruncBits);
    akeyBits = le32(p, authT + 64);
    akeyAt = authT + XSize.algoAuth;
  } else if (authPlain >= 0) {
    authId = authNames.idOf(p, authPlain, -1);
    akeyBits = le32(p, authPlain + 64);
    akeyAt = authPlain + XSize.algo;
  }
  // serialize() writes a key's bits as 16 bits: a key of more is left to it
  if (akeyBits > 0xffff || ekeyBits > 0xffff) return undefined;
  const larval = crypt < 0 && comp < 0 && authT < 0 && authPlain < 0;
  const v4 = family === AF.INET;
  const alen = v4 ? 4 : 16;
  const addrSize = Size.sadb_address + (v4 ? Size.sockaddr_in : Size.sockaddr_in6 + 4);
  let proxy = false;
  for (let i = 0; i < alen; i++) if (p[SEL_SADDR + i] !== p[SADDR + i]) proxy = true;
  const akeyLen = Math.ceil(akeyBits / 8);
  const ekeyLen = Math.ceil(ekeyBits / 8);
  const akeySize = akeyBits > 0 ? Size.sadb_key + ((akeyLen + 7) & ~7) : 0;
  const ekeySize = ekeyBits > 0 ? Size.sadb_key + ((ekeyLen + 7) & ~7) : 0;
  const size = Size.sadb_msg + Size.sadb_sa + 3 * Size.sadb_lifetime + (proxy ? 3 : 2) * addrSize + akeySize + ekeySize + Size.sadb_x_sa2;
  if (size / 8 > 0xffff) return undefined;
  // cut from a fresh pool: zero where nothing is written
  const o = out(size);
  o[0] = PF_KEY_V2;
  o[1] = type;
  o[3] = satypeOfProto(proto);
  put16(o, 4, size / 8);
  put32(o, 8, seq);
  put32(o, 12, pid);
  let w: number = Size.sadb_msg;
  ext(o, w, Size.sadb_sa, EXT.sa);
  copy(o, w + 4, p, ID_SPI, 4);
  o[w + 8] = p[REPLAY_WINDOW]!;
  o[w + 9] = larval ? SaState.LARVAL : SaState.MATURE;
  o[w + 10] = authId;
  o[w + 11] = encrypt;
  // XFRM_STATE_NOECN, DECAP_DSCP, NOPMTUDISC: af_key's SADB_SAFLAGS_* bits 31, 30, 29
  o[w + 15] = (flags & XfrmStateFlag.NOECN ? 0x80 : 0) | (flags & XfrmStateFlag.DECAP_DSCP ? 0x40 : 0) | (flags & XfrmStateFlag.NOPMTUDISC ? 0x20 : 0);
  w += Size.sadb_sa;
  w = lifetimes(o, w, p, LFT, CURLFT);
  const plen = v4 ? 32 : 128;
  address(o, w, EXT.src, addrSize, 0, plen, family, p, SADDR);
  w += addrSize;
  address(o, w, EXT.dst, addrSize, 0, plen, family, p, ID_DADDR);
  w += addrSize;
  if (proxy) {
    const sproto = p[SEL_PROTO]!;
    address(o, w, EXT.proxy, addrSize, sproto === 0 ? 255 : sproto, p[SEL_PREFIXLEN_S]!, family, p, SEL_SADDR);
    w += addrSize;
  }
  if (akeySize) {
    key(o, w, akeySize, EXT.akey, akeyBits, p, akeyAt, akeyLen);
    w += akeySize;
  }
  if (ekeySize) {
    key(o, w, ekeySize, EXT.ekey, ekeyBits, p, ekeyAt, ekeyLen);
    w += ekeySize;
  }
  ext(o, w, Size.sadb_x_sa2, EXT.sa2);
  o[w + 4] = pfkeyMode(p[MODE]!);
  copy(o, w + 12, p, REQID, 4);
  return { msg: o, authTruncBits };
}
