/**
 * The SAD requests of a Linux PF_KEY socket: ADD, UPDATE, GET, DELETE,
 * GETSPI, FLUSH, DUMP (docs/linux-pfkey-semantics.md §1-4).
 */
import { Mode, SaState, SaType } from '../model/tables.js';
import { MsgType } from '../pfkey/constants.js';
import { decodeMessage } from '../pfkey/decode.js';
import { addressOf } from '../pfkey/from-wire.js';
import { serialize } from '../pfkey/serialize.js';
import { findExt, type SadbMsg } from '../pfkey/types.js';
import { E, fail, KernelError, type Ctx } from './context.js';
import { dumpSeq, patchHeader, withHeader } from '../pfkey/reply.js';
import { addDeadline, removeDeadline } from './deadlines.js';
import { decodeStored, storedOf, FLAG_DYING, FLAG_LARVAL, FLAG_RAW, saKey, spiZeroKey, type DeadlineKind } from './records.js';
import { countEntries, deleteAll, deleteEntry, getEntry, newestFirst, putEntry } from './entries.js';
import { srcDst, validSatype, type Request } from './request.js';
import { ACQ_EXPIRES, buildSa, larvalSa, setState, type Built } from './sa-state.js';

export function nextOrder(c: Ctx): bigint {
  return c.counters.next('order', 1n);
}

/** The key an SA is stored under; SPI 0 SAs are never found by SPI, so they get one of their own. */
function keyOf(satype: number, b: { dst: ReturnType<typeof addressOf>; spi: number }, order: bigint): string {
  return b.spi === 0 ? spiZeroKey(order) : saKey(satype, b.dst, b.spi);
}

export function lifetimeDeadlines(m: SadbMsg, flags: number): [bigint, DeadlineKind][] {
  const cur = findExt(m, 'lifetime_current')?.addtime ?? 0n;
  const out: [bigint, DeadlineKind][] = [];
  if (flags & FLAG_LARVAL) return [[cur + ACQ_EXPIRES, 'larval']];
  const hard = findExt(m, 'lifetime_hard')?.addtime ?? 0n;
  const soft = findExt(m, 'lifetime_soft')?.addtime ?? 0n;
  if (hard) out.push([cur + hard, 'hard']);
  if (soft && !(flags & FLAG_DYING)) out.push([cur + soft, 'soft']);
  return out;
}

/** Store an SA record and its lifetime deadlines; returns the stored message's bytes. */
export function putSa(c: Ctx, key: string, m: SadbMsg, flags: number, order: bigint): Uint8Array {
  const rec = storedOf(flags, order, m);
  putEntry(c.tx, 'S', key, rec);
  for (const [when, kind] of lifetimeDeadlines(m, flags)) addDeadline(c, when, kind, key);
  return rec.subarray(16);
}

/** Remove an SA record and its deadlines. */
export function removeSa(c: Ctx, key: string): void {
  const v = getEntry(c.tx, 'S', key);
  if (!v) return;
  const st = decodeStored(v);
  if (!(st.flags & FLAG_RAW)) {
    const m = decodeMessage(st.msg);
    for (const [when, kind] of lifetimeDeadlines(m, st.flags)) removeDeadline(c, when, kind, key);
  }
  deleteEntry(c.tx, 'S', key);
}

/** The stored record of an SA, by its key. */
export function getSa(c: Ctx, key: string): Uint8Array | undefined {
  return getEntry(c.tx, 'S', key);
}

function notifySa(c: Ctx, m: SadbMsg, type: number, req: Request): void {
  c.out.all(() => withHeader(m, { type, seq: req.header.seq, pid: req.header.pid, errno: 0, reserved: 0 }));
}

export function add(c: Ctx, req: Request): void {
  const b = buildSa(req, c.now);
  const order = nextOrder(c);
  const key = keyOf(req.header.satype, b, order);
  // any SA with this (daddr, spi, proto), a larval one from GETSPI included: that one needs UPDATE
  if (b.spi !== 0 && c.tx.has(key)) fail(E.EEXIST, 'an SA with this destination, protocol and SPI exists');
  const bytes = putSa(c, key, b.msg, 0, order);
  // the notification is the stored SA under the request's header fields (a copy, not a second encoding)
  c.out.all(() => patchHeader(bytes, { type: MsgType.ADD, seq: req.header.seq, pid: req.header.pid }));
}

export function update(c: Ctx, req: Request): void {
  const b: Built = buildSa(req, c.now);
  const key = saKey(req.header.satype, b.dst, b.spi);
  const v = b.spi === 0 ? undefined : getSa(c, key);
  if (!v) fail(E.ESRCH, 'no such SA to update');
  const st = decodeStored(v);
  if (st.flags & FLAG_RAW) fail(E.EINVAL, 'a loaded SA cannot be updated');
  if (st.flags & FLAG_LARVAL) {
    // a larval SA is replaced by the new one, which goes to the front of the list
    removeSa(c, key);
    putSa(c, key, b.msg, 0, nextOrder(c));
    notifySa(c, b.msg, MsgType.UPDATE, req);
    return;
  }
  // a valid SA keeps everything but its lifetimes (and a same-type encapsulation)
  const old = decodeMessage(st.msg);
  const oldEncap = findExt(old, 'nat_t_type')?.natType ?? 0;
  if ((oldEncap !== 0) !== (b.encap !== 0) || oldEncap !== b.encap) {
    if (oldEncap !== 0 || b.encap !== 0) fail(E.EINVAL, 'UPDATE cannot add, remove or change UDP encapsulation');
  }
  const exts = old.exts.map((e) => {
    if (e.kind === 'lifetime_hard') return b.hard;
    if (e.kind === 'lifetime_soft') return b.soft;
    if (e.kind === 'sa') return { ...e, state: SaState.MATURE };
    if (e.kind === 'nat_t_sport' || e.kind === 'nat_t_dport') return findExt(b.msg, e.kind) ?? e;
    return e;
  });
  removeSa(c, key);
  putSa(c, key, { header: old.header, exts }, 0, st.order);
  // the notification is built from the request's content, marked dead (the temporary state)
  notifySa(c, setState(b.msg, SaState.DEAD), MsgType.UPDATE, req);
}

function lookup(c: Ctx, req: Request): { key: string; msg: Uint8Array; raw: boolean } {
  const sa = req.ext('sa');
  if (!sa) fail(E.EINVAL, 'an SA extension is required');
  const { d } = srcDst(req);
  if (!validSatype(req.header.satype) || req.header.satype === 0 || sa.spi === 0) fail(E.ESRCH, 'no such SA');
  const key = saKey(req.header.satype, d, sa.spi);
  const v = getSa(c, key);
  if (!v) fail(E.ESRCH, 'no such SA');
  const st = decodeStored(v);
  return { key, msg: st.msg, raw: (st.flags & FLAG_RAW) !== 0 };
}

export function get(c: Ctx, req: Request): void {
  const found = lookup(c, req);
  const m = decodeMessage(found.msg);
  c.out.one(withHeader(m, { type: MsgType.GET, seq: req.header.seq, pid: req.header.pid }));
}

export function del(c: Ctx, req: Request): void {
  const found = lookup(c, req);
  removeSa(c, found.key);
  const m = decodeMessage(found.msg);
  notifySa(c, setState(m, SaState.DEAD), MsgType.DELETE, req);
}

function randomIn(c: Ctx, min: number, max: number): number {
  return min + Math.floor(c.random() * (max - min + 1));
}

export function getspi(c: Ctx, req: Request): void {
  const { s, d } = srcDst(req);
  const satype = req.header.satype;
  if (!validSatype(satype)) fail(E.EINVAL, `SA type ${satype}`);
  const sa2 = req.ext('sa2');
  const mode = sa2 ? sa2.mode : Mode.TRANSPORT;
  if (mode > Mode.BEET) fail(E.EINVAL, `mode ${mode}`);
  const reqid = sa2?.reqid ?? 0;
  const range = req.ext('spirange');
  const min = range ? range.min : 0x100;
  const max = range ? range.max : 0x0fffffff;
  // the larval state exists before the range is checked (xfrm_find_acq, then verify_spi_info)
  const order = nextOrder(c);
  const fresh = larvalSa(satype, s, d, mode, reqid, 0, c.now);
  const check = (): string | undefined => {
    if (satype !== SaType.AH && satype !== SaType.ESP && satype !== SaType.IPCOMP) return 'SA type';
    if (satype === SaType.IPCOMP && max >= 0x10000) return 'an IPComp CPI range must end below 0x10000';
    if (min > max) return 'an SPI range whose minimum is above its maximum';
    return undefined;
  };
  const bad = check();
  if (bad) {
    // a failed GETSPI leaves its larval state behind with SPI 0, until it expires
    putSa(c, spiZeroKey(order), fresh, FLAG_LARVAL, order);
    throw new KernelError(E.EINVAL, bad, true);
  }
  const tries = max - min + 1;
  let spi = -1;
  for (let t = 0; t < Math.min(tries, 1 << 20); t++) {
    const cand = min === max ? min : randomIn(c, min, max);
    if (cand !== 0 && !c.tx.has(saKey(satype, d, cand))) {
      spi = cand;
      break;
    }
  }
  if (spi < 0) {
    putSa(c, spiZeroKey(order), fresh, FLAG_LARVAL, order);
    throw new KernelError(E.ENOENT, 'no free SPI in the range', true);
  }
  const m = larvalSa(satype, s, d, mode, reqid, spi, c.now);
  putSa(c, saKey(satype, d, spi), m, FLAG_LARVAL, order);
  c.out.one(withHeader(m, { type: MsgType.GETSPI, seq: req.header.seq, pid: req.header.pid }));
}

/** Every stored SA, newest first, optionally of one SA type (read in one pass, one at a time). */
export function* sasNewestFirst(c: Ctx, satype: number): Generator<{ flags: number; order: bigint; msg: Uint8Array }> {
  for (const rec of newestFirst(c.tx, 'S')) {
    const st = decodeStored(rec);
    const t = st.msg.length > 3 ? st.msg[3]! : 0;
    if (satype !== 0 && t !== satype) continue;
    yield st;
  }
}

/** The key an SA record is stored under (as keyOf chose it when it was stored). */
function keyOfRecord(e: { flags: number; order: bigint; msg: Uint8Array }): string {
  if (e.flags & FLAG_RAW) return spiZeroKey(e.order);
  const m = decodeMessage(e.msg);
  const sa = findExt(m, 'sa');
  const dst = findExt(m, 'address_dst');
  if (!sa || !dst || sa.spi === 0) return spiZeroKey(e.order);
  return saKey(m.header.satype, addressOf(dst.sa), sa.spi);
}

export function flush(c: Ctx, req: Request): void {
  const satype = req.header.satype;
  if (!validSatype(satype)) fail(E.EINVAL, `SA type ${satype}`);
  const had = countEntries(c.tx, 'S', satype === 0 ? 'all' : satype);
  if (satype === 0) {
    // everything at once; their deadlines go when they come due (an expiry of nothing does nothing)
    if (had > 0) deleteAll(c.tx, 'S', ['s/', 'z/']);
  } else {
    for (const v of [...sasNewestFirst(c, satype)]) removeSa(c, keyOfRecord(v));
  }
  // the requester always gets its header back; a non-empty flush is also announced to all
  c.out.one(serialize({ header: { ...req.header, errno: 0 }, exts: [] }));
  if (had > 0) c.out.all(() => serialize({ header: { ...req.header, errno: 0, reserved: 0 }, exts: [] }));
}

export function dump(c: Ctx, req: Request): void {
  const satype = req.header.satype;
  if (!validSatype(satype)) fail(E.EINVAL, `SA type ${satype}`);
  // the numbering counts down to 0 at the last: the count first, then one entry at a time
  const total = countEntries(c.tx, 'S', satype === 0 ? 'all' : satype);
  if (total === 0) fail(E.ENOENT, 'no SAs');
  let i = 0;
  for (const e of sasNewestFirst(c, satype)) {
    const seq = dumpSeq(i++, total);
    // loaded messages are served as they are but for the numbering, as the reference's test kernel did
    c.out.one(e.flags & FLAG_RAW ? patchHeader(e.msg, { seq }) : patchHeader(e.msg, { type: MsgType.DUMP, seq, pid: req.header.pid }));
  }
}
