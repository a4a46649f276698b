/**
 * A dumped XFRM state's printed fields (pfkey/sa-fields.ts) read straight
 * from its XFRM_MSG_NEWSA payload, with no PF_KEY message made: what
 * state-dump-bytes.ts would write and saFieldsOf read back, for the states
 * the text writer prints (of the common shape, dumped-state.ts; IPv4).
 * The rest it declines, and the caller translates them as ever.
 * test/state-fields.test.ts holds it to that round trip: the same text, or
 * no answer.
 */
import { SaState } from '../model/tables.js';
import { AF } from '../pfkey/constants.js';
import { be32, le32 } from '../pfkey/dumped-sa.js';
import { figure, Figure, Lifetime, type SaFields } from '../pfkey/sa-fields.js';
import { XfrmStateFlag } from './constants.js';
import { infinite } from './dump-bytes.js';
import { CURLFT, ID_DADDR, ID_SPI, LFT, MODE, readState, REPLAY_WINDOW, REQID, SADDR, state } from './dumped-state.js';
import { pfkeyMode, satypeOfProto } from './sa.js';

/**
 * A hard or soft lifetime from xfrm_lifetime_cfg's fields at these offsets,
 * as af_key reads them (_X2KEY: no limit is 0; allocations cut to 32 bits).
 */
function limits(p: Uint8Array, f: SaFields, base: number, packets: number, bytes: number, add: number, use: number): void {
  const l = f.lifetimes;
  l[base + Figure.PRESENT] = 1;
  l[base + Figure.ALLOCATIONS] = infinite(p, packets) ? 0 : le32(p, packets);
  if (infinite(p, bytes)) l[base + Figure.BYTES] = 0;
  else figure(f, base + Figure.BYTES, p, bytes);
  figure(f, base + Figure.ADD, p, add);
  figure(f, base + Figure.USE, p, use);
}

/**
 * The printed fields of state payload `p`, dumped as this seq and pid, into
 * `f`; false if the text writer would not print it from its message (or it
 * is not of the common shape).
 */
export function stateFields(p: Uint8Array, seq: number, pid: number, f: SaFields): boolean {
  if (!readState(p) || state.family !== AF.INET) return false;
  // xfrm_lifetime_cfg: soft bytes, hard bytes, soft packets, hard packets, soft add, hard add, soft use, hard use
  limits(p, f, Lifetime.HARD, LFT + 24, LFT + 8, LFT + 40, LFT + 56);
  limits(p, f, Lifetime.SOFT, LFT + 16, LFT, LFT + 32, LFT + 48);
  // xfrm_lifetime_cur: bytes, packets (cut to 32 bits), add time, use time
  const l = f.lifetimes;
  l[Lifetime.CURRENT + Figure.PRESENT] = 1;
  l[Lifetime.CURRENT + Figure.ALLOCATIONS] = le32(p, CURLFT + 8);
  figure(f, Lifetime.CURRENT + Figure.BYTES, p, CURLFT);
  figure(f, Lifetime.CURRENT + Figure.ADD, p, CURLFT + 16);
  figure(f, Lifetime.CURRENT + Figure.USE, p, CURLFT + 24);
  const s = state;
  f.satype = satypeOfProto(s.proto);
  f.mode = pfkeyMode(p[MODE]!);
  f.spi = be32(p, ID_SPI);
  f.reqid = le32(p, REQID);
  f.auth = s.auth;
  f.encrypt = s.encrypt;
  f.replay = p[REPLAY_WINDOW]!;
  // XFRM_STATE_NOECN, DECAP_DSCP, NOPMTUDISC: af_key's SADB_SAFLAGS_* bits 31, 30, 29
  f.flags = ((s.flags & XfrmStateFlag.NOECN ? 0x80 : 0) | (s.flags & XfrmStateFlag.DECAP_DSCP ? 0x40 : 0) | (s.flags & XfrmStateFlag.NOPMTUDISC ? 0x20 : 0)) * 0x1000000;
  f.state = s.larval ? SaState.LARVAL : SaState.MATURE;
  // af_key's sadb_x_sa2_sequence of a dumped state, and sadb_msg_reserved: 0
  f.sequence = 0;
  f.seq = seq >>> 0;
  f.pid = pid >>> 0;
  f.reserved = 0;
  f.bytes = p;
  f.src = SADDR;
  f.dst = ID_DADDR;
  // the text shows bits / 8 bytes of a key
  f.akey = s.akeyBits > 0 ? s.akeyAt : -1;
  f.akeyLen = s.akeyBits >>> 3;
  f.ekey = s.ekeyBits > 0 ? s.ekeyAt : -1;
  f.ekeyLen = s.ekeyBits >>> 3;
  return true;
}
