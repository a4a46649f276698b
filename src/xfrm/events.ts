/**
 * XFRM multicast events (what `ip xfrm monitor` reads) as the PF_KEY messages
 * a promiscuous PF_KEY socket would have shown for the same change
 * (af_key.c pfkey_send_notify / pfkey_send_policy_notify /
 * key_notify_sa_expire), so that `setkey -x` prints them in its own form.
 */
import { SaState } from '../model/tables.js';
import { MsgType } from '../pfkey/constants.js';
import { serialize } from '../pfkey/serialize.js';
import type { SadbMsg } from '../pfkey/types.js';
import { Xfrma, XfrmMsg, XSize } from './constants.js';
import { attr, parseAttrs, type NlMessage } from './netlink.js';
import { policyToPfkey } from './policy.js';
import { satypeOfProto, stateToPfkey } from './sa.js';
import { readUserpolicyInfo, readUsersaId, readUsersaInfo } from './structs.js';

function withState(m: SadbMsg, type: number, state: number | undefined, seq: number, pid: number): Uint8Array {
  const exts = state === undefined ? m.exts : m.exts.map((e) => (e.kind === 'sa' ? { ...e, state } : e));
  return serialize({ header: { ...m.header, type, seq, pid }, exts });
}

/** The PF_KEY form of one XFRM event, or undefined for events PF_KEY has no message for. */
export function eventToPfkey(m: NlMessage): Uint8Array | undefined {
  const { type, seq, pid } = m.header;
  const p = m.payload;
  switch (type) {
    case XfrmMsg.NEWSA:
    case XfrmMsg.UPDSA: {
      const s = stateToPfkey(readUsersaInfo(p), parseAttrs(p, XSize.usersaInfo)).msg;
      return withState(s, type === XfrmMsg.NEWSA ? MsgType.ADD : MsgType.UPDATE, undefined, seq, pid);
    }
    case XfrmMsg.DELSA: {
      // xfrm_notify_sa: the state's id, and the whole state in XFRMA_SA
      const attrs = parseAttrs(p, XSize.usersaId);
      const whole = attr(attrs, Xfrma.SA);
      if (whole) return withState(stateToPfkey(readUsersaInfo(whole), attrs).msg, MsgType.DELETE, SaState.DEAD, seq, pid);
      const id = readUsersaId(p);
      return serialize({ header: { version: 2, type: MsgType.DELETE, errno: 0, satype: satypeOfProto(id.proto), reserved: 0, seq, pid }, exts: [] });
    }
    case XfrmMsg.EXPIRE: {
      // xfrm_user_expire: the state, then `hard`
      const hard = p[XSize.usersaInfo] !== 0;
      const s = stateToPfkey(readUsersaInfo(p), parseAttrs(p, XSize.userExpire)).msg;
      const drop = new Set(['key_auth', 'key_encrypt', hard ? 'lifetime_soft' : 'lifetime_hard']);
      const exts = s.exts.filter((e) => !drop.has(e.kind)).map((e) => (e.kind === 'sa' ? { ...e, state: hard ? SaState.DEAD : SaState.DYING } : e));
      return serialize({ header: { ...s.header, type: MsgType.EXPIRE, seq: 0, pid: 0 }, exts });
    }
    case XfrmMsg.FLUSHSA:
      return serialize({ header: { version: 2, type: MsgType.FLUSH, errno: 0, satype: p.length ? satypeOfProto(p[0]!) : 0, reserved: 0, seq, pid }, exts: [] });
    case XfrmMsg.NEWPOLICY:
    case XfrmMsg.UPDPOLICY: {
      const pol = policyToPfkey(readUserpolicyInfo(p), parseAttrs(p, XSize.userpolicyInfo)).msg;
      return serialize({ header: { ...pol.header, type: type === XfrmMsg.NEWPOLICY ? MsgType.X_SPDADD : MsgType.X_SPDUPDATE, reserved: 3, seq, pid }, exts: pol.exts });
    }
    case XfrmMsg.DELPOLICY: {
      const attrs = parseAttrs(p, XSize.userpolicyId);
      const whole = attr(attrs, Xfrma.POLICY);
      if (!whole) return serialize({ header: { version: 2, type: MsgType.X_SPDDELETE, errno: 0, satype: 0, reserved: 0, seq, pid }, exts: [] });
      const pol = policyToPfkey(readUserpolicyInfo(whole), attrs).msg;
      return serialize({ header: { ...pol.header, type: MsgType.X_SPDDELETE, seq, pid }, exts: pol.exts });
    }
    case XfrmMsg.FLUSHPOLICY:
      return serialize({ header: { version: 2, type: MsgType.X_SPDFLUSH, errno: 0, satype: 0, reserved: 0, seq, pid }, exts: [] });
    case XfrmMsg.POLEXPIRE: {
      const pol = policyToPfkey(readUserpolicyInfo(p), parseAttrs(p, XSize.userPolexpire)).msg;
      return serialize({ header: { ...pol.header, type: MsgType.X_SPDEXPIRE, seq: 0, pid: 0 }, exts: pol.exts });
    }
  }
  return undefined;
}
