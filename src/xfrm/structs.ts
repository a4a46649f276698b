/**
 * The fixed XFRM structs (include/uapi/linux/xfrm.h), one reader and one
 * writer each, at the offsets of the 64-bit ABI. Host-order fields are
 * little-endian (x86-64, arm64); `__be16`/`__be32` fields (ports, SPI) are
 * big-endian and say so. Addresses are 16 bytes, IPv4 in the first four.
 */
import { XSize } from './constants.js';
import { pool } from '../pfkey/pool.js';

export interface Selector {
  daddr: Uint8Array;
  saddr: Uint8Array;
  /** network order on the wire; a number here */
  dport: number;
  dportMask: number;
  sport: number;
  sportMask: number;
  /** AF_INET 2 / AF_INET6 10 */
  family: number;
  prefixlenD: number;
  prefixlenS: number;
  proto: number;
  ifindex: number;
  user: number;
}

export interface XfrmIdent {
  daddr: Uint8Array;
  spi: number;
  proto: number;
}

export interface LifetimeCfg {
  softByteLimit: bigint;
  hardByteLimit: bigint;
  softPacketLimit: bigint;
  hardPacketLimit: bigint;
  softAddExpires: bigint;
  hardAddExpires: bigint;
  softUseExpires: bigint;
  hardUseExpires: bigint;
}

export interface LifetimeCur {
  bytes: bigint;
  packets: bigint;
  addTime: bigint;
  useTime: bigint;
}

export interface Stats {
  replayWindow: number;
  replay: number;
  integrityFailed: number;
}

export interface UsersaInfo {
  sel: Selector;
  id: XfrmIdent;
  saddr: Uint8Array;
  lft: LifetimeCfg;
  curlft: LifetimeCur;
  stats: Stats;
  seq: number;
  reqid: number;
  family: number;
  mode: number;
  replayWindow: number;
  flags: number;
}

export interface UsersaId {
  daddr: Uint8Array;
  spi: number;
  family: number;
  proto: number;
}

export interface UserpolicyInfo {
  sel: Selector;
  lft: LifetimeCfg;
  curlft: LifetimeCur;
  priority: number;
  index: number;
  dir: number;
  action: number;
  flags: number;
  share: number;
}

export interface UserpolicyId {
  sel: Selector;
  index: number;
  dir: number;
}

export interface UserTmpl {
  id: XfrmIdent;
  family: number;
  saddr: Uint8Array;
  reqid: number;
  mode: number;
  share: number;
  optional: number;
  aalgos: number;
  ealgos: number;
  calgos: number;
}

/** xfrm_algo, xfrm_algo_auth (trunc) and xfrm_algo_aead (icv): name, key length in bits, the key */
export interface Algo {
  name: string;
  keyBits: number;
  key: Uint8Array;
  /** alg_trunc_len (auth) or alg_icv_len (aead), in bits */
  extraBits?: number;
}

export interface EncapTmpl {
  type: number;
  sport: number;
  dport: number;
  oa: Uint8Array;
}

export interface ReplayEsn {
  oseq: number;
  seq: number;
  oseqHi: number;
  seqHi: number;
  replayWindow: number;
  /** bmp_len u32 words of bitmap */
  bmp: Uint32Array;
}

export interface Mark {
  v: number;
  m: number;
}

export interface UserSecCtx {
  exttype: number;
  alg: number;
  doi: number;
  ctx: Uint8Array;
}

// ---------- primitives

/**
 * A DataView of `b`; the one made last is kept, because a struct's readers
 * and writers ask for the view of the same buffer one field group after the
 * other (a bulk install encodes tens of thousands of structs).
 */
let lastBytes: Uint8Array | undefined;
let lastView: DataView | undefined;
function view(b: Uint8Array): DataView {
  if (b !== lastBytes) {
    lastBytes = b;
    lastView = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  return lastView!;
}

/**
 * Encoded structs (and the addresses put in them, sa.ts addr16) are cut from
 * shared buffers (pfkey/pool.ts): a request is copied into its datagram at
 * once, and an ArrayBuffer of its own for each struct and algorithm was
 * most of what encoding an SA cost (a bulk install encodes tens of thousands).
 */
export const fresh = pool(64 << 10);

export class StructError extends Error {
  constructor(
    readonly struct: string,
    readonly need: number,
    readonly have: number,
  ) {
    super(`${struct}: ${have} bytes, ${need} needed`);
  }
}

function need(b: Uint8Array, n: number, what: string): void {
  if (b.length < n) throw new StructError(what, n, b.length);
}

function addr(b: Uint8Array, at: number): Uint8Array {
  return b.slice(at, at + 16);
}

/** 16 address bytes at `at` (zero beyond a shorter address); the buffer is fresh, so only the bytes are written */
function putAddr(b: Uint8Array, at: number, a: Uint8Array): void {
  const n = a.length < 16 ? a.length : 16;
  for (let i = 0; i < n; i++) b[at + i] = a[i]!;
  for (let i = n; i < 16; i++) b[at + i] = 0;
}

// ---------- selector (56)

export function readSelector(b: Uint8Array, at = 0): Selector {
  need(b, at + XSize.selector, 'xfrm_selector');
  const v = view(b);
  return {
    daddr: addr(b, at),
    saddr: addr(b, at + 16),
    dport: v.getUint16(at + 32, false),
    dportMask: v.getUint16(at + 34, false),
    sport: v.getUint16(at + 36, false),
    sportMask: v.getUint16(at + 38, false),
    family: v.getUint16(at + 40, true),
    prefixlenD: b[at + 42]!,
    prefixlenS: b[at + 43]!,
    proto: b[at + 44]!,
    ifindex: v.getInt32(at + 48, true),
    user: v.getUint32(at + 52, true),
  };
}

export function writeSelector(b: Uint8Array, at: number, s: Selector): void {
  const v = view(b);
  putAddr(b, at, s.daddr);
  putAddr(b, at + 16, s.saddr);
  v.setUint16(at + 32, s.dport, false);
  v.setUint16(at + 34, s.dportMask, false);
  v.setUint16(at + 36, s.sport, false);
  v.setUint16(at + 38, s.sportMask, false);
  v.setUint16(at + 40, s.family, true);
  b[at + 42] = s.prefixlenD;
  b[at + 43] = s.prefixlenS;
  b[at + 44] = s.proto;
  v.setInt32(at + 48, s.ifindex, true);
  v.setUint32(at + 52, s.user, true);
}

// ---------- xfrm_id (24)

function readId(b: Uint8Array, at: number): XfrmIdent {
  return { daddr: addr(b, at), spi: view(b).getUint32(at + 16, false), proto: b[at + 20]! };
}

function writeId(b: Uint8Array, at: number, id: XfrmIdent): void {
  putAddr(b, at, id.daddr);
  view(b).setUint32(at + 16, id.spi >>> 0, false);
  b[at + 20] = id.proto;
}

// ---------- lifetimes (64, 32)

// the fields in their order in struct xfrm_lifetime_cfg (64) and xfrm_lifetime_cur (32), written out
// (not a loop over their names: one closure call per field of every state dumped)

function readCfg(b: Uint8Array, at: number): LifetimeCfg {
  const v = view(b);
  return {
    softByteLimit: v.getBigUint64(at, true),
    hardByteLimit: v.getBigUint64(at + 8, true),
    softPacketLimit: v.getBigUint64(at + 16, true),
    hardPacketLimit: v.getBigUint64(at + 24, true),
    softAddExpires: v.getBigUint64(at + 32, true),
    hardAddExpires: v.getBigUint64(at + 40, true),
    softUseExpires: v.getBigUint64(at + 48, true),
    hardUseExpires: v.getBigUint64(at + 56, true),
  };
}

function writeCfg(b: Uint8Array, at: number, l: LifetimeCfg): void {
  const v = view(b);
  v.setBigUint64(at, l.softByteLimit, true);
  v.setBigUint64(at + 8, l.hardByteLimit, true);
  v.setBigUint64(at + 16, l.softPacketLimit, true);
  v.setBigUint64(at + 24, l.hardPacketLimit, true);
  v.setBigUint64(at + 32, l.softAddExpires, true);
  v.setBigUint64(at + 40, l.hardAddExpires, true);
  v.setBigUint64(at + 48, l.softUseExpires, true);
  v.setBigUint64(at + 56, l.hardUseExpires, true);
}

function readCur(b: Uint8Array, at: number): LifetimeCur {
  const v = view(b);
  return { bytes: v.getBigUint64(at, true), packets: v.getBigUint64(at + 8, true), addTime: v.getBigUint64(at + 16, true), useTime: v.getBigUint64(at + 24, true) };
}

function writeCur(b: Uint8Array, at: number, l: LifetimeCur): void {
  const v = view(b);
  v.setBigUint64(at, l.bytes, true);
  v.setBigUint64(at + 8, l.packets, true);
  v.setBigUint64(at + 16, l.addTime, true);
  v.setBigUint64(at + 24, l.useTime, true);
}

// ---------- xfrm_usersa_info (224)

export function readUsersaInfo(b: Uint8Array, at = 0): UsersaInfo {
  need(b, at + XSize.usersaInfo, 'xfrm_usersa_info');
  const v = view(b);
  return {
    sel: readSelector(b, at),
    id: readId(b, at + 56),
    saddr: addr(b, at + 80),
    lft: readCfg(b, at + 96),
    curlft: readCur(b, at + 160),
    stats: { replayWindow: v.getUint32(at + 192, true), replay: v.getUint32(at + 196, true), integrityFailed: v.getUint32(at + 200, true) },
    seq: v.getUint32(at + 204, true),
    reqid: v.getUint32(at + 208, true),
    family: v.getUint16(at + 212, true),
    mode: b[at + 214]!,
    replayWindow: b[at + 215]!,
    flags: b[at + 216]!,
  };
}

export function writeUsersaInfo(b: Uint8Array, at: number, s: UsersaInfo): void {
  const v = view(b);
  writeSelector(b, at, s.sel);
  writeId(b, at + 56, s.id);
  putAddr(b, at + 80, s.saddr);
  writeCfg(b, at + 96, s.lft);
  writeCur(b, at + 160, s.curlft);
  v.setUint32(at + 192, s.stats.replayWindow, true);
  v.setUint32(at + 196, s.stats.replay, true);
  v.setUint32(at + 200, s.stats.integrityFailed, true);
  v.setUint32(at + 204, s.seq >>> 0, true);
  v.setUint32(at + 208, s.reqid >>> 0, true);
  v.setUint16(at + 212, s.family, true);
  b[at + 214] = s.mode;
  b[at + 215] = s.replayWindow;
  b[at + 216] = s.flags;
}

// ---------- xfrm_usersa_id (24)

export function readUsersaId(b: Uint8Array, at = 0): UsersaId {
  need(b, at + XSize.usersaId, 'xfrm_usersa_id');
  const v = view(b);
  return { daddr: addr(b, at), spi: v.getUint32(at + 16, false), family: v.getUint16(at + 20, true), proto: b[at + 22]! };
}

export function writeUsersaId(b: Uint8Array, at: number, s: UsersaId): void {
  const v = view(b);
  putAddr(b, at, s.daddr);
  v.setUint32(at + 16, s.spi >>> 0, false);
  v.setUint16(at + 20, s.family, true);
  b[at + 22] = s.proto;
}

// ---------- xfrm_userpolicy_info (168), xfrm_userpolicy_id (64)

export function readUserpolicyInfo(b: Uint8Array, at = 0): UserpolicyInfo {
  need(b, at + XSize.userpolicyInfo, 'xfrm_userpolicy_info');
  const v = view(b);
  return {
    sel: readSelector(b, at),
    lft: readCfg(b, at + 56),
    curlft: readCur(b, at + 120),
    priority: v.getUint32(at + 152, true),
    index: v.getUint32(at + 156, true),
    dir: b[at + 160]!,
    action: b[at + 161]!,
    flags: b[at + 162]!,
    share: b[at + 163]!,
  };
}

export function writeUserpolicyInfo(b: Uint8Array, at: number, p: UserpolicyInfo): void {
  const v = view(b);
  writeSelector(b, at, p.sel);
  writeCfg(b, at + 56, p.lft);
  writeCur(b, at + 120, p.curlft);
  v.setUint32(at + 152, p.priority >>> 0, true);
  v.setUint32(at + 156, p.index >>> 0, true);
  b[at + 160] = p.dir;
  b[at + 161] = p.action;
  b[at + 162] = p.flags;
  b[at + 163] = p.share;
}

export function readUserpolicyId(b: Uint8Array, at = 0): UserpolicyId {
  need(b, at + XSize.userpolicyId, 'xfrm_userpolicy_id');
  return { sel: readSelector(b, at), index: view(b).getUint32(at + 56, true), dir: b[at + 60]! };
}

export function writeUserpolicyId(b: Uint8Array, at: number, p: UserpolicyId): void {
  writeSelector(b, at, p.sel);
  view(b).setUint32(at + 56, p.index >>> 0, true);
  b[at + 60] = p.dir;
}

// ---------- xfrm_user_tmpl (64)

export function readUserTmpl(b: Uint8Array, at = 0): UserTmpl {
  need(b, at + XSize.userTmpl, 'xfrm_user_tmpl');
  const v = view(b);
  return {
    id: readId(b, at),
    family: v.getUint16(at + 24, true),
    saddr: addr(b, at + 28),
    reqid: v.getUint32(at + 44, true),
    mode: b[at + 48]!,
    share: b[at + 49]!,
    optional: b[at + 50]!,
    aalgos: v.getUint32(at + 52, true),
    ealgos: v.getUint32(at + 56, true),
    calgos: v.getUint32(at + 60, true),
  };
}

export function writeUserTmpl(b: Uint8Array, at: number, t: UserTmpl): void {
  const v = view(b);
  writeId(b, at, t.id);
  v.setUint16(at + 24, t.family, true);
  putAddr(b, at + 28, t.saddr);
  v.setUint32(at + 44, t.reqid >>> 0, true);
  b[at + 48] = t.mode;
  b[at + 49] = t.share;
  b[at + 50] = t.optional;
  v.setUint32(at + 52, t.aalgos >>> 0, true);
  v.setUint32(at + 56, t.ealgos >>> 0, true);
  v.setUint32(at + 60, t.calgos >>> 0, true);
}

// ---------- algorithms: xfrm_algo (68+key), xfrm_algo_auth / xfrm_algo_aead (72+key)

export function readName(b: Uint8Array, at: number): string {
  let e = at;
  while (e < at + 64 && b[e] !== 0) e++;
  // one call over the bytes (a Buffer made and decoded for each algorithm of each dumped state cost more)
  return String.fromCharCode.apply(null, b.subarray(at, e) as unknown as number[]);
}

/** `withExtra`: the auth-trunc / AEAD form, with a u32 (trunc or ICV bits) before the key. */
export function readAlgo(b: Uint8Array, withExtra: boolean): Algo {
  const head = withExtra ? XSize.algoAuth : XSize.algo;
  need(b, head, withExtra ? 'xfrm_algo_auth' : 'xfrm_algo');
  const v = view(b);
  const keyBits = v.getUint32(64, true);
  const keyLen = Math.ceil(keyBits / 8);
  need(b, head + keyLen, 'algorithm key');
  const a: Algo = { name: readName(b, 0), keyBits, key: b.slice(head, head + keyLen) };
  if (withExtra) a.extraBits = v.getUint32(68, true);
  return a;
}

/** the few algorithm names there are, as bytes once each */
const NAME_BYTES = new Map<string, Uint8Array>();

export function encodeAlgo(a: Algo, withExtra: boolean): Uint8Array {
  const head = withExtra ? XSize.algoAuth : XSize.algo;
  const b = fresh(head + a.key.length);
  let name = NAME_BYTES.get(a.name);
  if (!name) {
    name = Uint8Array.from(Buffer.from(a.name, 'latin1'));
    if (name.length > 63) throw new Error(`algorithm name '${a.name}' is longer than 63 bytes`);
    NAME_BYTES.set(a.name, name);
  }
  b.set(name, 0);
  const v = view(b);
  v.setUint32(64, a.keyBits, true);
  if (withExtra) v.setUint32(68, a.extraBits ?? 0, true);
  b.set(a.key, head);
  return b;
}

// ---------- xfrm_encap_tmpl (24)

export function readEncap(b: Uint8Array): EncapTmpl {
  need(b, XSize.encapTmpl, 'xfrm_encap_tmpl');
  const v = view(b);
  return { type: v.getUint16(0, true), sport: v.getUint16(2, false), dport: v.getUint16(4, false), oa: addr(b, 8) };
}

export function encodeEncap(e: EncapTmpl): Uint8Array {
  const b = fresh(XSize.encapTmpl);
  const v = view(b);
  v.setUint16(0, e.type, true);
  v.setUint16(2, e.sport, false);
  v.setUint16(4, e.dport, false);
  putAddr(b, 8, e.oa);
  return b;
}

// ---------- xfrm_replay_state_esn (24 + 4*bmp_len)

export function readReplayEsn(b: Uint8Array): ReplayEsn {
  need(b, XSize.replayStateEsn, 'xfrm_replay_state_esn');
  const v = view(b);
  const words = v.getUint32(0, true);
  need(b, XSize.replayStateEsn + 4 * words, 'xfrm_replay_state_esn bitmap');
  const bmp = new Uint32Array(words);
  for (let i = 0; i < words; i++) bmp[i] = v.getUint32(24 + 4 * i, true);
  return { oseq: v.getUint32(4, true), seq: v.getUint32(8, true), oseqHi: v.getUint32(12, true), seqHi: v.getUint32(16, true), replayWindow: v.getUint32(20, true), bmp };
}

export function encodeReplayEsn(r: ReplayEsn): Uint8Array {
  const b = fresh(XSize.replayStateEsn + 4 * r.bmp.length);
  const v = view(b);
  v.setUint32(0, r.bmp.length, true);
  v.setUint32(4, r.oseq, true);
  v.setUint32(8, r.seq, true);
  v.setUint32(12, r.oseqHi, true);
  v.setUint32(16, r.seqHi, true);
  v.setUint32(20, r.replayWindow, true);
  r.bmp.forEach((w, i) => v.setUint32(24 + 4 * i, w, true));
  return b;
}

// ---------- xfrm_mark (8), u32 attributes

export function readMark(b: Uint8Array): Mark {
  need(b, XSize.mark, 'xfrm_mark');
  const v = view(b);
  return { v: v.getUint32(0, true), m: v.getUint32(4, true) };
}

export function encodeMark(m: Mark): Uint8Array {
  const b = fresh(XSize.mark);
  const v = view(b);
  v.setUint32(0, m.v >>> 0, true);
  v.setUint32(4, m.m >>> 0, true);
  return b;
}

export function readU32(b: Uint8Array): number {
  need(b, 4, 'u32');
  return view(b).getUint32(0, true);
}

export function encodeU32(n: number): Uint8Array {
  const b = fresh(4);
  view(b).setUint32(0, n >>> 0, true);
  return b;
}

// ---------- xfrm_user_sec_ctx (8 + ctx): the same layout as sadb_x_sec_ctx

export function readSecCtx(b: Uint8Array): UserSecCtx {
  need(b, XSize.userSecCtx, 'xfrm_user_sec_ctx');
  const v = view(b);
  const len = v.getUint16(6, true);
  need(b, XSize.userSecCtx + len, 'security context');
  return { exttype: v.getUint16(2, true), alg: b[4]!, doi: b[5]!, ctx: b.slice(8, 8 + len) };
}

export function encodeSecCtx(c: UserSecCtx): Uint8Array {
  const b = fresh(XSize.userSecCtx + c.ctx.length);
  const v = view(b);
  v.setUint16(0, b.length, true);
  v.setUint16(2, c.exttype, true);
  b[4] = c.alg;
  b[5] = c.doi;
  v.setUint16(6, c.ctx.length, true);
  b.set(c.ctx, 8);
  return b;
}

// ---------- whole structs as payloads

export function encodeUsersaInfo(s: UsersaInfo): Uint8Array {
  const b = fresh(XSize.usersaInfo);
  writeUsersaInfo(b, 0, s);
  return b;
}

export function encodeUserspiInfo(s: UsersaInfo, min: number, max: number): Uint8Array {
  const b = fresh(XSize.userspiInfo);
  writeUsersaInfo(b, 0, s);
  const v = view(b);
  v.setUint32(224, min >>> 0, true);
  v.setUint32(228, max >>> 0, true);
  return b;
}

export function encodeUsersaId(s: UsersaId): Uint8Array {
  const b = fresh(XSize.usersaId);
  writeUsersaId(b, 0, s);
  return b;
}

export function encodeUserpolicyInfo(p: UserpolicyInfo): Uint8Array {
  const b = fresh(XSize.userpolicyInfo);
  writeUserpolicyInfo(b, 0, p);
  return b;
}

export function encodeUserpolicyId(p: UserpolicyId): Uint8Array {
  const b = fresh(XSize.userpolicyId);
  writeUserpolicyId(b, 0, p);
  return b;
}

export function encodeTmpls(ts: readonly UserTmpl[]): Uint8Array {
  const b = fresh(XSize.userTmpl * ts.length);
  ts.forEach((t, i) => writeUserTmpl(b, i * XSize.userTmpl, t));
  return b;
}

export function readTmpls(b: Uint8Array): UserTmpl[] {
  const out: UserTmpl[] = [];
  for (let at = 0; at + XSize.userTmpl <= b.length; at += XSize.userTmpl) out.push(readUserTmpl(b, at));
  return out;
}

/** An empty lifetime configuration: no limits (XFRM_INF) and no time-outs. */
export function infiniteLifetime(): LifetimeCfg {
  const INF = 0xffffffffffffffffn;
  return { softByteLimit: INF, hardByteLimit: INF, softPacketLimit: INF, hardPacketLimit: INF, softAddExpires: 0n, hardAddExpires: 0n, softUseExpires: 0n, hardUseExpires: 0n };
}

export function zeroCur(): LifetimeCur {
  return { bytes: 0n, packets: 0n, addTime: 0n, useTime: 0n };
}

export function emptySelector(family: number): Selector {
  return { daddr: new Uint8Array(16), saddr: new Uint8Array(16), dport: 0, dportMask: 0, sport: 0, sportMask: 0, family, prefixlenD: 0, prefixlenS: 0, proto: 0, ifindex: 0, user: 0 };
}
