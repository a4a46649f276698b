/**
 * Lifetimes that run out (xfrm_state.c xfrm_timer_handler, xfrm_policy.c
 * xfrm_policy_timer; docs/linux-pfkey-semantics.md §6). The engine has no
 * timer of its own between runs: every transaction first does what the
 * kernel's timers would have done by now, in deadline order, so the store
 * is right whenever it is looked at. A running monitor schedules a run at
 * the next deadline, so it sees the EXPIRE when it happens.
 *
 * Add-time lifetimes only: use-time ones never fire without traffic, and
 * byte and packet limits are counted only on traffic, which an engine
 * without a data path never has.
 */
import { SaState } from '../model/tables.js';
import { decodeMessage } from '../pfkey/decode.js';
import { serialize } from '../pfkey/serialize.js';
import type { Ctx } from './context.js';
import { NO_DEADLINE, nextDeadline, setNextDeadline } from './deadlines.js';
import { decodeStored, encodeStored, FLAG_DYING, FLAG_RAW, parseDeadlineKey } from './records.js';
import { getSa, removeSa } from './sad.js';
import { putEntry } from './entries.js';
import { expireMessage, setState } from './sa-state.js';
import { removePolicy } from './spd.js';

/** Run every deadline that is due at c.now; returns the next one still pending (or NO_DEADLINE). */
export function runExpiry(c: Ctx): bigint {
  if (nextDeadline(c) > c.now) return nextDeadline(c);
  // in deadline order: the keys sort by time
  let next = NO_DEADLINE;
  for (const k of c.tx.keys('e/')) {
    if (!c.tx.has(k)) continue; // an earlier expiry removed it (hard before soft)
    const d = parseDeadlineKey(k);
    if (d.when > c.now) {
      next = d.when;
      break;
    }
    c.tx.delete(k);
    if (d.kind === 'policy') {
      // a hard-expired policy disappears silently: af_key sends nothing (§6.2)
      removePolicy(c, d.sa);
      continue;
    }
    const v = getSa(c, d.sa);
    if (!v) continue;
    const st = decodeStored(v);
    if (st.flags & FLAG_RAW) continue;
    const m = decodeMessage(st.msg);
    if (d.kind === 'soft') {
      // dying: it stays, dumps as state 2, and gets one soft EXPIRE
      const dying = setState(m, SaState.DYING);
      putEntry(c.tx, 'S', d.sa, encodeStored(st.flags | FLAG_DYING, st.order, serialize(dying)));
      c.out.registered(() => serialize(expireMessage(dying, false)));
    } else {
      // hard (and larval after acq_expires): deleted, then a hard EXPIRE; no DELETE message
      removeSa(c, d.sa);
      c.out.registered(() => serialize(expireMessage(m, true)));
    }
  }
  setNextDeadline(c, next);
  return next;
}
