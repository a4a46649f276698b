/**
 * The SPD requests of a Linux PF_KEY socket: SPDADD, SPDUPDATE, SPDSETIDX,
 * SPDDELETE, SPDGET, SPDDELETE2, SPDFLUSH, SPDDUMP
 * (af_key.c pfkey_spdadd() and friends over xfrm_policy.c;
 * docs/linux-pfkey-semantics.md §5).
 *
 * A policy is stored as the SPDDUMP message Linux would produce for it, under
 * its identity (direction, selector, context). Two small indexes keep the
 * kernel's counters cheap: `i/<id>` (policy index -> key, for SPDGET and
 * xfrm_gen_index) and `r/<reqid>` (how many templates use a reqid, for
 * gen_reqid's check_reqid walk).
 */
import { type IpAddress } from '../model/address.js';
import { IpProto, Level, Mode } from '../model/tables.js';
import { AF, af6, MsgType } from '../pfkey/constants.js';
import { decodeMessage } from '../pfkey/decode.js';
import { addressOf } from '../pfkey/from-wire.js';
import { serialize } from '../pfkey/serialize.js';
import { findExt, type ExtAddress, type ExtLifetime, type ExtPolicy, type IpsecRequestWire, type SadbExt, type SadbMsg, type SockAddr } from '../pfkey/types.js';
import { E, fail, type Ctx } from './context.js';
import { addDeadline, removeDeadline } from './deadlines.js';
import { currentAddtime, decodeStored, storedOf, FLAG_RAW, FLAG_TIMED, policyKey, type SelectorKey } from './records.js';
import type { Request } from './request.js';
import { nextOrder } from './sad.js';
import { limitBack } from './sa-state.js';
import { dumpSeq, patchHeader } from '../pfkey/reply.js';
import { countEntries, deleteAll, deleteEntry, getEntry, newestFirst, putEntry } from './entries.js';

export const XFRM_MAX_DEPTH = 6;
const IPSEC_MANUAL_REQID_MAX = 0x3fff;

/** An index points at its policy's key (UTF-8 in the store, as it always was). */
export const UTF8 = new TextEncoder();
const FROM_UTF8 = new TextDecoder();

/** xfrm_id_proto_valid(): AH, ESP, IPComp and, with IPv6, routing and destination options headers */
const TEMPLATE_PROTOS = new Set([IpProto.AH, IpProto.ESP, IpProto.IPCOMP, 43, 60]);

/** A template as Linux keeps it: the wire request's fields, level and reqid as stored (§5.4). */
type Template = IpsecRequestWire;

function selectorOfRequest(r: Request): { sel: SelectorKey; src: ExtAddress; dst: ExtAddress } {
  const src = r.ext('address_src');
  const dst = r.ext('address_dst');
  if (!src || !dst) fail(E.EINVAL, 'source and destination selectors are required');
  if (src.sa.family !== dst.sa.family) fail(E.EINVAL, 'the selector mixes address families');
  // pfkey_proto_to_xfrm(): 255 means any (0); set from SRC, then overwritten from DST ("Amusing, we set this twice")
  const proto = dst.proto === IpProto.ANY ? 0 : dst.proto;
  const s = addressOf(src.sa);
  const d = addressOf(dst.sa);
  return {
    src,
    dst,
    sel: { family: s.family, src: s.bytes, dst: d.bytes, sprefix: src.prefixlen, dprefix: dst.prefixlen, proto, sport: src.sa.port, dport: dst.sa.port },
  };
}

function policyOf(r: Request): ExtPolicy {
  const p = r.ext('policy');
  if (!p) fail(E.EINVAL, 'an X_POLICY extension is required');
  return p;
}

function checkDir(dir: number): void {
  if (dir === 0 || dir >= 4) fail(E.EINVAL, `policy direction ${dir}`);
}

/** PF_KEY direction (1 in, 2 out, 3 fwd) -> XFRM direction (0, 1, 2). */
function xfrmDir(dir: number): number {
  return dir - 1;
}

function reqidKey(reqid: number): string {
  return `r/${(reqid >>> 0).toString(16).padStart(8, '0')}`;
}

/** Policy index keys: the prefix and the index's hex digits. */
export const INDEX_PREFIX = 'i/';
export const INDEX_DIGITS = 8;

export function indexKey(id: number): string {
  return `${INDEX_PREFIX}${(id >>> 0).toString(16).padStart(INDEX_DIGITS, '0')}`;
}

export function countReqid(c: Ctx, reqid: number, delta: number): void {
  if (reqid === 0) return;
  const k = reqidKey(reqid);
  const cur = c.tx.get(k);
  const n = (cur ? new DataView(cur.buffer, cur.byteOffset).getUint32(0, true) : 0) + delta;
  if (n <= 0) c.tx.delete(k);
  else {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n, true);
    c.tx.put(k, b);
  }
}

/** gen_reqid(): a global counter from 0x3fff, skipping reqids a policy template uses; 0 when all are taken. */
export function genReqid(c: Ctx): number {
  let reqid = Number(c.counters.peek('reqid', BigInt(IPSEC_MANUAL_REQID_MAX)));
  const start = reqid;
  do {
    reqid = (reqid + 1) >>> 0;
    if (reqid === 0) reqid = IPSEC_MANUAL_REQID_MAX + 1;
    if (!c.tx.has(reqidKey(reqid))) {
      c.counters.set('reqid', BigInt(reqid));
      return reqid;
    }
  } while (reqid !== start);
  return 0;
}

/** xfrm_gen_index(): generator | dir, stepping by 8, skipping indexes in use. */
export function genIndex(c: Ctx, xdir: number): number {
  return genIndexWith((idx) => c.tx.has(indexKey(idx)), xdir, {
    get: () => Number(c.counters.peek('polidx', 0n) & 0xffffffffn),
    set: (v) => c.counters.set('polidx', BigInt(v)),
  });
}

/** The generator of policy indexes as a u32 Number, where it is kept (the transaction's counter; a bulk load's own). */
export interface IndexGenerator {
  get(): number;
  set(v: number): void;
}

/**
 * genIndex with the generator kept by the caller (bulk-load.ts keeps it as
 * a Number for a whole load), and `taken` saying whether a policy has an
 * index (a load into a table with none asks nothing: the key of each was
 * made for nothing, 30 ms of 100k policies).
 */
export function genIndexWith(taken: (idx: number) => boolean, xdir: number, gen: IndexGenerator): number {
  for (;;) {
    const g = gen.get();
    gen.set((g + 8) % 0x100000000);
    let idx = (g | xdir) >>> 0;
    if (idx === 0) idx = 8;
    if (!taken(idx)) return idx;
  }
}

function sameFamilyPair(t: IpsecRequestWire): boolean {
  return t.src !== undefined && t.dst !== undefined && t.src.family === t.dst.family && (t.src.family === AF.INET || t.src.family === AF.INET6_LINUX);
}

/**
 * parse_ipsecrequest() for one template of a policy of direction `dir`:
 * its checks, and the level and reqid Linux keeps (§5.4). A unique level
 * without a reqid of its own (0, or above IPSEC_MANUAL_REQID_MAX) gets one.
 */
export function keptTemplate(c: Ctx, dir: number, t: { readonly proto: number; readonly mode: number; readonly level: number; readonly reqid: number }): { level: number; reqid: number } {
  if (t.mode === Mode.ANY) fail(E.EINVAL, 'a template in mode any');
  if (!TEMPLATE_PROTOS.has(t.proto as never)) fail(E.EINVAL, `template protocol ${t.proto}`);
  if (t.mode > Mode.BEET) fail(E.EINVAL, `template mode ${t.mode}`);
  if (t.level === Level.USE) {
    // 2023: an optional tunnel or BEET template cannot protect outbound traffic
    if (dir === 2 && (t.mode === Mode.TUNNEL || t.mode === Mode.BEET)) fail(E.EINVAL, 'level use with a tunnel or BEET template in an outbound policy');
    return { level: Level.USE, reqid: 0 };
  }
  if (t.level !== Level.UNIQUE) return { level: Level.REQUIRE, reqid: 0 };
  let reqid = t.reqid;
  if (reqid === 0 || reqid > IPSEC_MANUAL_REQID_MAX) {
    reqid = genReqid(c);
    if (reqid === 0) fail(E.ENOBUFS, 'no reqid left');
  }
  return { level: Level.UNIQUE, reqid };
}

/** parse_ipsecrequests(): the templates Linux keeps, in order (§5.4). */
function templatesOf(c: Ctx, p: ExtPolicy): Template[] {
  const out: Template[] = [];
  for (const t of p.requests) {
    if (out.length >= XFRM_MAX_DEPTH) fail(E.ELOOP, `more than ${XFRM_MAX_DEPTH} templates`);
    const { level, reqid } = keptTemplate(c, p.dir, t);
    const tpl: Template = { proto: t.proto, mode: t.mode, level, reqid };
    if (t.mode === Mode.TUNNEL) {
      if (!sameFamilyPair(t)) fail(E.EINVAL, 'a tunnel template needs two endpoints of one family');
      // only the addresses are kept: the ports are dropped
      tpl.src = { ...t.src!, port: 0, flowinfo: 0, scopeId: 0 };
      tpl.dst = { ...t.dst!, port: 0, flowinfo: 0, scopeId: 0 };
    }
    out.push(tpl);
  }
  return out;
}

function sockaddrFor(family: number, bytes: Uint8Array, port: number): SockAddr {
  return { family: family === 4 ? AF.INET : af6('linux'), port, addr: bytes, flowinfo: 0, scopeId: 0 };
}

function lifetimeIn(kind: 'lifetime_hard' | 'lifetime_soft', l: ExtLifetime | undefined): ExtLifetime {
  return l ? { kind, allocations: l.allocations === 0xffffffff ? 0 : l.allocations, bytes: limitBack(l.bytes), addtime: l.addtime, usetime: l.usetime } : { kind, allocations: 0, bytes: 0n, addtime: 0n, usetime: 0n };
}

/** The message Linux dumps for a policy (pfkey_xfrm_policy2msg, §5.5); refcnt goes in by the caller. */
function policyMessage(sel: SelectorKey, dir: number, id: number, priority: number, action: number, tpls: Template[], hard: ExtLifetime, soft: ExtLifetime, now: bigint, ctx: SadbExt | undefined): SadbMsg {
  const proto = sel.proto === 0 ? IpProto.ANY : sel.proto;
  const exts: SadbExt[] = [
    { kind: 'address_src', proto, prefixlen: sel.sprefix, reserved: 0, sa: sockaddrFor(sel.family, sel.src, sel.sport) },
    { kind: 'address_dst', proto, prefixlen: sel.dprefix, reserved: 0, sa: sockaddrFor(sel.family, sel.dst, sel.dport) },
    hard,
    soft,
    { kind: 'lifetime_current', allocations: 0, bytes: 0n, addtime: now, usetime: 0n },
    {
      kind: 'policy',
      // BLOCK dumps as discard; ALLOW as ipsec when it has templates, else none
      ptype: action === 0 ? 0 : tpls.length > 0 ? 2 : 1,
      dir,
      reserved: 0,
      id,
      priority,
      requests: tpls.map((t) => ({ proto: t.proto, mode: t.mode, level: t.level === Level.USE ? Level.USE : t.reqid !== 0 ? Level.UNIQUE : Level.REQUIRE, reqid: t.reqid, ...(t.src ? { src: t.src, dst: t.dst } : {}) })),
    },
  ];
  if (ctx) exts.push(ctx);
  return { header: { version: 2, type: MsgType.X_SPDDUMP, errno: 0, satype: 0, reserved: 0, seq: 0, pid: 0 }, exts };
}

/** The refcount Linux reports (§5.5): 3 in the ADD notification; settled, 1 (2 with a lifetime timer armed). */
export function refcnt(m: SadbMsg, now: bigint): number {
  const cur = findExt(m, 'lifetime_current')?.addtime ?? 0n;
  if (now - cur < 1n) return 2;
  const hard = findExt(m, 'lifetime_hard');
  const soft = findExt(m, 'lifetime_soft');
  const timed = !!(hard?.addtime || hard?.usetime || soft?.addtime || soft?.usetime);
  return timed ? 2 : 1;
}

/** When a policy hard-expires: add time + hard add, or (unused) add time + hard use (§6.2): the earlier of those set. */
function policyDeadline(m: SadbMsg): bigint | undefined {
  const hard = findExt(m, 'lifetime_hard');
  if (!hard || (!hard.addtime && !hard.usetime)) return undefined;
  const cur = findExt(m, 'lifetime_current')?.addtime ?? 0n;
  if (!hard.addtime) return cur + hard.usetime;
  if (!hard.usetime) return cur + hard.addtime;
  return cur + (hard.usetime < hard.addtime ? hard.usetime : hard.addtime);
}

function putPolicy(c: Ctx, key: string, m: SadbMsg, order: bigint): Uint8Array {
  const rec = storedOf(refcnt(m, 1n << 62n) === 2 ? FLAG_TIMED : 0, order, m);
  putEntry(c.tx, 'P', key, rec);
  const p = findExt(m, 'policy')!;
  c.tx.put(indexKey(p.id), UTF8.encode(key));
  for (const t of p.requests) countReqid(c, t.reqid, 1);
  const when = policyDeadline(m);
  if (when !== undefined) addDeadline(c, when, 'policy', key);
  return rec.subarray(16);
}

export function removePolicy(c: Ctx, key: string): SadbMsg | undefined {
  const v = getEntry(c.tx, 'P', key);
  if (!v) return undefined;
  const st = decodeStored(v);
  deleteEntry(c.tx, 'P', key);
  if (st.flags & FLAG_RAW) return undefined;
  const m = decodeMessage(st.msg);
  const p = findExt(m, 'policy')!;
  c.tx.delete(indexKey(p.id));
  for (const t of p.requests) countReqid(c, t.reqid, -1);
  const when = policyDeadline(m);
  if (when !== undefined) removeDeadline(c, when, 'policy', key);
  return m;
}

function notify(c: Ctx, m: SadbMsg, type: number, req: Request, reserved: number): void {
  c.out.all(() => serialize({ header: { version: 2, type, errno: 0, satype: 0, reserved, seq: req.header.seq, pid: req.header.pid }, exts: m.exts }));
}

/** SPDADD, SPDUPDATE, SPDSETIDX (§5.2). */
export function spdadd(c: Ctx, req: Request): void {
  const { sel } = selectorOfRequest(req);
  const p = policyOf(req);
  if (p.ptype > 2) fail(E.EINVAL, `policy type ${p.ptype === 3 ? 'entrust' : p.ptype === 4 ? 'bypass' : p.ptype} (Linux knows discard, none and ipsec)`);
  checkDir(p.dir);
  const ctx = req.ext('sec_ctx');
  // templates are read only for ipsec; with none or discard they are ignored
  const tpls = p.ptype === 2 ? templatesOf(c, p) : [];
  const key = policyKey(p.dir, sel, ctx?.ctx);
  const update = req.header.type === MsgType.X_SPDUPDATE;
  const old = getEntry(c.tx, 'P', key);
  if (old && !update) fail(E.EEXIST, 'a policy with this selector and direction exists');
  let id: number;
  if (old) {
    // the replacement takes over the old policy's index, and goes to the front of the list
    const st = decodeStored(old);
    const prev = st.flags & FLAG_RAW ? undefined : findExt(decodeMessage(st.msg), 'policy');
    removePolicy(c, key);
    id = prev ? prev.id : genIndex(c, xfrmDir(p.dir));
  } else id = genIndex(c, xfrmDir(p.dir));
  const action = p.ptype === 0 ? 0 : 1;
  const m = policyMessage(sel, p.dir, id, p.priority, action, tpls, lifetimeIn('lifetime_hard', req.ext('lifetime_hard')), lifetimeIn('lifetime_soft', req.ext('lifetime_soft')), c.now, ctx);
  const bytes = putPolicy(c, key, m, nextOrder(c));
  // the notification: the stored policy under the request's seq and pid, refcnt 3 (§5.5)
  c.out.all(() => {
    const n = patchHeader(bytes, { type: update ? MsgType.X_SPDUPDATE : MsgType.X_SPDADD, seq: req.header.seq, pid: req.header.pid });
    new DataView(n.buffer, n.byteOffset).setUint16(6, 3, true);
    return n;
  });
}

/** SPDDELETE: by selector and direction (§5.7). */
export function spddelete(c: Ctx, req: Request): void {
  const { sel } = selectorOfRequest(req);
  const p = policyOf(req);
  checkDir(p.dir);
  const ctx = req.ext('sec_ctx');
  const key = policyKey(p.dir, sel, ctx?.ctx);
  const m = removePolicy(c, key);
  if (!m) fail(E.ENOENT, 'no such policy');
  notify(c, m, MsgType.X_SPDDELETE, req, refcnt(m, c.now));
}

function byId(c: Ctx, req: Request): { key: string; m: SadbMsg } {
  const p = policyOf(req);
  if ((p.id & 7) >= 3) fail(E.EINVAL, `policy id ${p.id} names a per-socket policy`);
  const k = c.tx.get(indexKey(p.id));
  if (!k) fail(E.ENOENT, 'no policy with this id');
  const key = FROM_UTF8.decode(k);
  return { key, m: decodeMessage(decodeStored(getEntry(c.tx, 'P', key)!).msg) };
}

/** SPDGET: by id, to the requester only. */
export function spdget(c: Ctx, req: Request): void {
  const { m } = byId(c, req);
  c.out.one(serialize({ header: { version: 2, type: req.header.type, errno: 0, satype: 0, reserved: refcnt(m, c.now) + 1, seq: req.header.seq, pid: req.header.pid }, exts: m.exts }));
}

/** SPDDELETE2: by id, announced to all. */
export function spddelete2(c: Ctx, req: Request): void {
  const { key, m } = byId(c, req);
  removePolicy(c, key);
  notify(c, m, MsgType.X_SPDDELETE2, req, refcnt(m, c.now));
}

/** Every stored policy, newest first (read in one pass, one at a time). */
export function* policiesNewestFirst(c: Ctx): Generator<{ flags: number; order: bigint; msg: Uint8Array }> {
  for (const rec of newestFirst(c.tx, 'P')) yield decodeStored(rec);
}

export function spdflush(c: Ctx, req: Request): void {
  const had = countEntries(c.tx, 'P');
  // everything at once: records, identities, the id index and the reqid counts; deadlines go when due
  if (had > 0) deleteAll(c.tx, 'P', ['p/', 'q/', 'i/', 'r/']);
  c.out.one(serialize({ header: { ...req.header, errno: 0 }, exts: [] }));
  if (had > 0) c.out.all(() => serialize({ header: { ...req.header, errno: 0, satype: 0, reserved: 0 }, exts: [] }));
}

export function spddump(c: Ctx, req: Request): void {
  const total = countEntries(c.tx, 'P');
  if (total === 0) fail(E.ENOENT, 'no policies');
  let i = 0;
  for (const e of policiesNewestFirst(c)) {
    const seq = dumpSeq(i++, total);
    if (e.flags & FLAG_RAW) {
      c.out.one(patchHeader(e.msg, { seq }));
      continue;
    }
    const m = patchHeader(e.msg, { type: MsgType.X_SPDDUMP, seq, pid: req.header.pid });
    // sadb_msg_reserved carries the refcount (bytes 6-7)
    const r = c.now - currentAddtime(e.msg) < 1n || e.flags & FLAG_TIMED ? 2 : 1;
    new DataView(m.buffer, m.byteOffset).setUint16(6, r, true);
    c.out.one(m);
  }
}

export type { IpAddress };
