/**
 * A dumped XFRM state's PF_KEY message (what af_key would send for it)
 * written straight from its XFRM_MSG_NEWSA payload, for the shape nearly
 * every state has (dumped-state.ts reads it). stateToPfkey (sa.ts) stays the
 * definition; this is its shortcut for a dump, where it built ~40 objects
 * and BigInts a state (its struct read into objects, its attributes into
 * an array, its extensions into objects, then serialize()), which was half
 * of `setkey -D`'s time over XFRM for 10k states (and most of it in the
 * emulated test VM). Anything else it declines (undefined) and the caller
 * translates it the long way; test/dump-bytes.test.ts holds it to
 * stateToPfkey + serialize: the same bytes and extras, or no answer.
 */
import { SaState } from '../model/tables.js';
import { PF_KEY_V2, Size, extNumber, AF } from '../pfkey/constants.js';
import { pfkeyMode, satypeOfProto } from './sa.js';
import { address, copy, ext, lifetimes, out, put16, put32 } from './dump-bytes.js';
import { CURLFT, ID_DADDR, ID_SPI, LFT, MODE, readState, REPLAY_WINDOW, REQID, SADDR, SEL_PREFIXLEN_S, SEL_PROTO, SEL_SADDR, state } from './dumped-state.js';
import { XfrmStateFlag } from './constants.js';

const EXT = {
  sa: extNumber('linux', 'sa'),
  src: extNumber('linux', 'address_src'),
  dst: extNumber('linux', 'address_dst'),
  proxy: extNumber('linux', 'address_proxy'),
  akey: extNumber('linux', 'key_auth'),
  ekey: extNumber('linux', 'key_encrypt'),
  sa2: extNumber('linux', 'sa2'),
};

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
  if (!readState(p)) return undefined;
  const { family, flags, proto, encrypt, ekeyBits, ekeyAt, auth: authId, akeyBits, akeyAt, larval } = state;
  const authTruncBits = state.truncBits < 0 ? undefined : state.truncBits;
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
