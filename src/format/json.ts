/**
 * `setkey --format=json`: the SAD/SPD dump as one JSON document (schema
 * "setkey-json/1", described in docs/json.md). There is one entry per message
 * that the text dump (postproc) prints something for, in message order. Each
 * entry carries the fields the text shows, typed: numbers as numbers (u64
 * counters as exact integers), addresses as the text dump's strings, and
 * algorithm ids through the registry. Key material is included only with
 * showKeys. This module never throws: anything unexpected becomes an
 * "invalid" entry, so a hostile kernel or file cannot crash the dump.
 *
 * Each entry is said once, value by value, to a JsonSink (json-sink.ts):
 * ObjectSink builds the typed objects below (messageJson, dumpJson), and
 * JsonBytes writes the CLI's text straight as bytes (JsonDumpWriter). A
 * 100k-entry dump is 140 MB of JSON; built as objects, then strings, then
 * encoded, it took twice the time of the C tool's text dump.
 */
import { formatIp } from '../model/address.js';
import { algorithmById, type AlgKind, type Platform } from '../model/algorithms.js';
import { actionTable, dirTable, IpProto, levelTable, modeTable, nameOf, requestProtoTable, saProtoTable, SaState, saStateTable, SaType, type NameTable } from '../model/tables.js';
import { AF, af6, MsgType, msgTypeTable, Size } from '../pfkey/constants.js';
import { DecodeError, readExt, type ExtSpan } from '../pfkey/decode.js';
import type { DumpView } from '../pfkey/dump-view.js';
import type { ExtAddress, ExtOf, IpsecRequestWire, SadbHeader, SockAddr } from '../pfkey/types.js';
import { civil } from './ctime.js';
import { sockAddress, type DumpOptions } from './dump-common.js';
import { decodeErrorText } from './errors.js';
import { JsonBytes } from './json-bytes.js';
import { type Json, type JsonSink, type Key, keyOf, keys, ObjectSink, quote } from './json-sink.js';
import { errnoText } from './postproc.js';
import { policyDump, priorityText } from './spdump.js';
import { strerror } from '../model/errno.js';

export const JSON_SCHEMA_ID = 'setkey-json/1';

export interface JsonOptions extends DumpOptions {
  readonly showKeys: boolean;
}

export type { Json };

export type { Word, JsonEndpoint, JsonSelectorAddress, JsonLifetime, JsonCurrentLifetime, JsonLifetimes, JsonSecCtx, JsonKeyedAlgorithm, JsonAlgorithm, JsonNatt, JsonTrailer, JsonSa, JsonSelector, JsonRequest, JsonPolicy, JsonError, JsonInvalidCode, JsonInvalid, JsonEntry, JsonDocument } from './json-schema.js';
import type { JsonDocument, JsonEntry, JsonInvalidCode, Word } from './json-schema.js';

/** Linux setkey also prints the per-socket directions, which the model's table does not name. */
const SOCKET_DIRS: Record<number, string> = { 4: 'in(socket)', 5: 'out(socket)' };

/** Every member name the printer writes, each quoted and indented once for the whole dump. */
const K = keys(
  // the document
  'schema', 'platform', 'now', 'keysShown', 'entries',
  // every entry; errors and invalid messages
  'kind', 'type', 'typeName', 'errno', 'message', 'code', 'offset',
  // SAs
  'satype', 'protocol', 'src', 'dst', 'mode', 'spi', 'spiHex', 'reqid', 'natt', 'encryption', 'authentication', 'compression',
  'sequence', 'replay', 'flags', 'state', 'lifetimes', 'securityContext', 'xfrm', 'sadbSeq', 'pid', 'refcnt',
  'family', 'address', 'port', 'prefixlen', 'name', 'id', 'keyBits', 'key', 'sport', 'dport', 'oa',
  'current', 'hard', 'soft', 'allocations', 'bytes', 'addtime', 'usetime', 'created', 'lastUsed', 'diff', 'doi', 'alg', 'length', 'text',
  // policies
  'perSocket', 'selector', 'direction', 'action', 'priority', 'priorityText', 'requests', 'policyError',
  'upperProtocol', 'upperProtocolName', 'icmpType', 'icmpCode', 'greKey', 'level', 'tunnel',
);

function strOrNull(w: JsonSink, k: Key, s: string | null | undefined): void {
  if (s === null || s === undefined) w.nul(k);
  else w.str(k, s);
}

function numOrNull(w: JsonSink, k: Key, n: number | null | undefined): void {
  if (n === null || n === undefined) w.nul(k);
  else w.num(k, n);
}

function wordValue(w: JsonSink, k: Key, x: Word): void {
  if (typeof x === 'string') w.str(k, x);
  else w.num(k, x);
}

/** A word from a name table, or the number when the table has none (unknown ids stay numbers). */
function word(w: JsonSink, k: Key, t: NameTable, n: number): void {
  const x = nameOf(t, n);
  if (x === undefined) w.num(k, n);
  else w.str(k, x);
}

function typeName(type: number): string | null {
  const n = nameOf(msgTypeTable, type);
  return n === undefined ? null : `SADB_${n}`;
}

/** What the text dump prints before "mode=": esp-udp for ESP-in-UDP, natt+ before other NAT-T SA types. */
function protocolWord(satype: number, natt: boolean): Word {
  if (natt && satype === SaType.ESP) return 'esp-udp';
  // SADB_SATYPE_UNSPEC has no SA-statement keyword, but the text dump names it
  const w = satype === SaType.UNSPEC ? 'unspec' : (nameOf(saProtoTable, satype) ?? satype);
  return natt ? `natt+${w}` : w;
}

function family(w: JsonSink, f: number, o: JsonOptions): void {
  if (f === AF.INET) w.str(K.family, 'inet');
  else if (f === af6(o.platform)) w.str(K.family, 'inet6');
  else w.num(K.family, f);
}

function addressText(sa: SockAddr, o: JsonOptions): string | null {
  const a = sockAddress(sa, o.platform);
  return a ? formatIp(a, o.ifName) : null;
}

function endpoint(w: JsonSink, k: Key, sa: SockAddr | undefined, o: JsonOptions): void {
  w.open(k);
  if (sa) {
    family(w, sa.family, o);
    strOrNull(w, K.address, addressText(sa, o));
    w.num(K.port, sa.port);
  } else {
    w.nul(K.family);
    w.nul(K.address);
    w.nul(K.port);
  }
  w.close();
}

// RFC 3339 needs a four-digit year: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z
const ISO_MIN = -62135596800;
const ISO_MAX = 253402300799;
const TWO = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));

/**
 * A time in seconds as Date.toISOString writes it, without milliseconds;
 * null for 0 and for years ISO cannot write. By hand (a Date per time cost
 * more than the rest of the entry), and the last two kept: an entry's
 * created and lastUsed alternate, and entries added together share them.
 */
function isoSeconds(s: number | undefined): string | null {
  if (s === undefined || s === 0 || s < ISO_MIN || s > ISO_MAX) return null;
  if (s === isoLast[0]) return isoLast[1];
  if (s === isoPrev[0]) return isoPrev[1];
  const day = Math.floor(s / 86400);
  const sec = s - day * 86400;
  if (day !== isoDay) {
    isoDate = civilDate(day);
    isoDay = day;
  }
  const text = `${isoDate}T${TWO[Math.floor(sec / 3600)]}:${TWO[Math.floor(sec / 60) % 60]}:${TWO[sec % 60]}Z`;
  isoPrev = isoLast;
  isoLast = [s, text];
  return text;
}

let isoLast: [number, string] = [NaN, ''];
let isoPrev: [number, string] = [NaN, ''];
/** the last day formatted */
let isoDay = NaN;
let isoDate = '';

/** YYYY-MM-DD of a day since 1970-01-01 in the proleptic Gregorian calendar. */
function civilDate(days: number): string {
  const [y, m, d] = civil(days);
  return `${String(y).padStart(4, '0')}-${TWO[m]}-${TWO[d]}`;
}

function nowSeconds(o: JsonOptions): number {
  return Number.isFinite(o.now) ? Math.floor(o.now) : 0;
}

/** The document's "now", read as the text dump reads a time: a time_t, which a clock past 2^63 wraps. */
function nowIso(o: JsonOptions): string | null {
  const now = nowSeconds(o);
  return isoSeconds(Number.isSafeInteger(now) ? now : Number(BigInt.asIntN(64, BigInt(now))));
}

/*
 * Lifetimes are read from the message here rather than through v.ext(): its
 * u64 fields come as BigInts, and making, comparing and converting nine of
 * them per SA cost more than the rest of the lifetimes. Below 2^53 (always,
 * in practice) a number holds a u64 exactly; above, the BigInt is made.
 */

/** The u64 at `at`, a number when it is below 2^53. */
function u64At(dv: DataView, at: number): number | bigint {
  const hi = dv.getUint32(at + 4, true);
  return hi < 0x200000 ? hi * 0x100000000 + dv.getUint32(at, true) : dv.getBigUint64(at, true);
}

/** The u64 at `at` read as a signed time_t (as the text dump does); undefined when no number holds it exactly. */
function timeAt(dv: DataView, at: number): number | undefined {
  const hi = dv.getUint32(at + 4, true);
  const lo = dv.getUint32(at, true);
  if (hi < 0x200000) return hi * 0x100000000 + lo;
  if (hi >= 0xffe00000) return (hi - 0x100000000) * 0x100000000 + lo;
  return undefined;
}

/** The text dump's "diff" from the addtime at `at`: now minus created as an unsigned long, 0 when never created. */
function diff(dv: DataView, at: number, o: JsonOptions): number | bigint {
  const added = timeAt(dv, at);
  if (added === 0) return 0;
  const now = nowSeconds(o);
  if (added !== undefined && Number.isSafeInteger(now)) {
    // both exact and the difference within 2^53: the number is exact too
    const d = now - added;
    if (d >= 0 && d <= Number.MAX_SAFE_INTEGER) return d;
  }
  return BigInt.asUintN(64, BigInt(now) - dv.getBigInt64(at, true));
}

/** Where a lifetime extension that v.ext() would read starts (present and long enough), or -1. */
function lifetimeAt(v: DumpView, kind: 'lifetime_current' | 'lifetime_hard' | 'lifetime_soft'): number {
  const s = v.span(kind);
  return s !== undefined && s.length >= Size.sadb_lifetime ? s.offset : -1;
}

/** sadb_lifetime: allocations (u32), then bytes, addtime, usetime (u64) */
function lifetimeMembers(w: JsonSink, dv: DataView, at: number): void {
  w.num(K.allocations, dv.getUint32(at + 4, true));
  w.big(K.bytes, u64At(dv, at + 8));
  w.big(K.addtime, u64At(dv, at + 16));
  w.big(K.usetime, u64At(dv, at + 24));
}

function lifetime(w: JsonSink, k: Key, dv: DataView, at: number): void {
  if (at < 0) return w.nul(k);
  w.open(k);
  lifetimeMembers(w, dv, at);
  w.close();
}

function lifetimes(w: JsonSink, v: DumpView, o: JsonOptions): void {
  const dv = v.ix.view;
  const cur = lifetimeAt(v, 'lifetime_current');
  w.open(K.lifetimes);
  if (cur >= 0) {
    w.open(K.current);
    lifetimeMembers(w, dv, cur);
    strOrNull(w, K.created, isoSeconds(timeAt(dv, cur + 16)));
    strOrNull(w, K.lastUsed, isoSeconds(timeAt(dv, cur + 24)));
    w.big(K.diff, diff(dv, cur + 16, o));
    w.close();
  } else w.nul(K.current);
  lifetime(w, K.hard, dv, lifetimeAt(v, 'lifetime_hard'));
  lifetime(w, K.soft, dv, lifetimeAt(v, 'lifetime_soft'));
  w.close();
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function securityContext(w: JsonSink, v: DumpView): void {
  const c = v.ext('sec_ctx');
  if (!c) return w.nul(K.securityContext);
  // the text dump prints it with %s: up to the first NUL, bytes as they are
  const nul = c.ctx.indexOf(0);
  const text = Buffer.from(nul < 0 ? c.ctx : c.ctx.subarray(0, nul)).toString('latin1');
  w.open(K.securityContext);
  w.num(K.doi, c.doi);
  w.num(K.alg, c.alg);
  w.num(K.length, c.ctxLen);
  w.str(K.text, text);
  w.close();
}

/** What the kernel's XFRM interface says beyond PF_KEY (xfrm backend), or null. */
function xfrmMember(w: JsonSink, x: XfrmExtras | undefined): void {
  if (x) w.value(K.xfrm, x);
  else w.nul(K.xfrm);
}

/** sadb_msg_seq, sadb_msg_pid and sadb_msg_reserved (which setkey prints as refcnt) */
function trailer(w: JsonSink, h: SadbHeader): void {
  w.num(K.sadbSeq, h.seq);
  w.num(K.pid, h.pid);
  w.num(K.refcnt, h.reserved);
}

function invalid(w: JsonSink, v: DumpView, message: string, code: JsonInvalidCode, offset: number | null): void {
  w.open(null);
  w.str(K.kind, 'invalid');
  w.num(K.type, v.header.type);
  strOrNull(w, K.typeName, typeName(v.header.type));
  w.str(K.message, message);
  w.str(K.code, code);
  numOrNull(w, K.offset, offset);
  w.close();
}

function invalidOf(w: JsonSink, v: DumpView, e: DecodeError): void {
  invalid(w, v, decodeErrorText(e), e.code, e.offset);
}

/** A bug must not take the whole dump down: the entry says what happened. */
function internalError(w: JsonSink, v: DumpView, e: unknown): void {
  invalid(w, v, `internal error: ${e instanceof Error ? e.message : String(e)}`, 'internal', null);
}

function errorEntry(w: JsonSink, v: DumpView): void {
  const h = v.header;
  const text = errnoText(h.type, h.errno);
  w.open(null);
  w.str(K.kind, 'error');
  w.num(K.type, h.type);
  strOrNull(w, K.typeName, typeName(h.type));
  w.num(K.errno, h.errno);
  // the text dump prints a NULL string ("(null)") for ENOENT on other types; JSON says what errno means
  w.str(K.message, text === '(null)' ? strerror(h.errno) : text);
  w.close();
}

/** algorithmById's answers, by kind and platform: it scans the registry, twice per SA */
const algNames: { [K in AlgKind]?: { [P in Platform]?: Map<number, string | null> } } = {};

function algName(kind: AlgKind, id: number, o: JsonOptions): string | null {
  // 0 is SADB_[EA]ALG_NONE, which the text dump's tables print as "none"; the registry holds no entry for it
  if (id === 0) return 'none';
  // ids are u8: at most 256 names per map
  const names = ((algNames[kind] ??= {})[o.platform] ??= new Map());
  let name = names.get(id);
  if (name === undefined) {
    name = algorithmById(kind, o.platform, id)?.name ?? null;
    names.set(id, name);
  }
  return name;
}

/** sadb_key_bits of a key extension that v.ext() would read, without the key: all a dump shows unless showKeys. */
function keyBits(v: DumpView, kind: 'key_encrypt' | 'key_auth'): number | null {
  const s = v.span(kind);
  return s !== undefined && s.length >= Size.sadb_key ? v.ix.view.getUint16(s.offset + 4, true) : null;
}

function keyed(w: JsonSink, k: Key, v: DumpView, kind: 'enc' | 'auth', id: number, o: JsonOptions): void {
  const ext = kind === 'enc' ? 'key_encrypt' : 'key_auth';
  w.open(k);
  strOrNull(w, K.name, algName(kind, id, o));
  w.num(K.id, id);
  // keyBits null: no key extension; key null with keyBits set: redacted (showKeys off)
  numOrNull(w, K.keyBits, keyBits(v, ext));
  const key = o.showKeys ? v.ext(ext) : undefined;
  strOrNull(w, K.key, key ? hex(key.data) : null);
  w.close();
}

/** encryption, authentication, compression */
function algorithms(w: JsonSink, v: DumpView, sa: ExtOf<'sa'>, o: JsonOptions): void {
  const satype = v.header.satype;
  const isComp = satype === SaType.IPCOMP;
  // IPComp carries its compression algorithm in sadb_sa_encrypt
  if (satype === SaType.ESP || (!isComp && v.span('key_encrypt'))) keyed(w, K.encryption, v, 'enc', sa.encrypt, o);
  else w.nul(K.encryption);
  if (v.span('key_auth') || sa.auth !== 0) keyed(w, K.authentication, v, 'auth', sa.auth, o);
  else w.nul(K.authentication);
  if (isComp) {
    w.open(K.compression);
    strOrNull(w, K.name, algName('comp', sa.encrypt, o));
    w.num(K.id, sa.encrypt);
    w.close();
  } else w.nul(K.compression);
}

/** The text dump's first complaint about a missing extension, if any. */
function missingSaExt(v: DumpView): string | undefined {
  if (!v.span('address_src')) return 'ADDRESS_SRC';
  if (!v.span('address_dst')) return 'ADDRESS_DST';
  if (!v.ext('sa')) return 'SA';
  if (!v.ext('sa2')) return 'SA2';
  return undefined;
}

function natt(w: JsonSink, v: DumpView, t: ExtOf<'nat_t_type'> | undefined, o: JsonOptions): void {
  if (!t) return w.nul(K.natt);
  const oa = v.ext('nat_t_oa');
  w.open(K.natt);
  w.num(K.type, t.natType);
  numOrNull(w, K.sport, v.ext('nat_t_sport')?.port);
  numOrNull(w, K.dport, v.ext('nat_t_dport')?.port);
  strOrNull(w, K.oa, oa ? addressText(oa.sa, o) : null);
  w.close();
}

function spiHex(spi: number): string {
  return `0x${spi.toString(16).padStart(8, '0')}`;
}

function saEntry(w: JsonSink, v: DumpView, o: JsonOptions, xfrm: XfrmExtras | undefined): void {
  const err = v.alignError ?? v.checkError;
  if (err) return invalidOf(w, v, err);
  const missing = missingSaExt(v);
  if (missing) return invalid(w, v, `no ${missing} extension`, 'missing-extension', null);
  const h = v.header;
  const sa = v.ext('sa')!;
  const sa2 = v.ext('sa2')!;
  const nat = v.ext('nat_t_type');
  w.open(null);
  w.str(K.kind, 'sa');
  w.num(K.satype, h.satype);
  wordValue(w, K.protocol, protocolWord(h.satype, nat !== undefined && nat.natType !== 0));
  endpoint(w, K.src, v.ext('address_src')?.sa, o);
  endpoint(w, K.dst, v.ext('address_dst')?.sa, o);
  word(w, K.mode, modeTable, sa2.mode);
  w.num(K.spi, sa.spi);
  w.str(K.spiHex, spiHex(sa.spi));
  w.num(K.reqid, sa2.reqid);
  natt(w, v, nat, o);
  algorithms(w, v, sa, o);
  w.num(K.sequence, sa2.sequence);
  w.num(K.replay, sa.replay);
  w.num(K.flags, sa.flags);
  word(w, K.state, saStateTable, sa.state);
  lifetimes(w, v, o);
  securityContext(w, v);
  xfrmMember(w, xfrm);
  trailer(w, h);
  w.close();
}

function selectorAddress(w: JsonSink, k: Key, a: ExtAddress, o: JsonOptions): void {
  w.open(k);
  family(w, a.sa.family, o);
  strOrNull(w, K.address, addressText(a.sa, o));
  w.num(K.prefixlen, a.prefixlen);
  w.num(K.port, a.sa.port);
  w.close();
}

function selector(w: JsonSink, src: ExtAddress | undefined, dst: ExtAddress | undefined, o: JsonOptions): void {
  if (!src || !dst) return w.nul(K.selector);
  // as the text dump: the source's upper protocol for both sides; ports carry ICMP type/code or a GRE key
  const ulp = src.proto;
  const p1 = src.sa.port;
  const p2 = dst.sa.port;
  const shown = p1 !== 0 || p2 !== 0;
  const icmp = shown && (ulp === IpProto.ICMP || ulp === IpProto.ICMPV6 || ulp === IpProto.MH);
  const gre = shown && ulp === IpProto.GRE;
  w.open(K.selector);
  selectorAddress(w, K.src, src, o);
  selectorAddress(w, K.dst, dst, o);
  w.num(K.upperProtocol, ulp);
  strOrNull(w, K.upperProtocolName, o.protoName(ulp));
  numOrNull(w, K.icmpType, icmp ? p1 : null);
  numOrNull(w, K.icmpCode, icmp ? p2 : null);
  numOrNull(w, K.greKey, gre ? (p1 * 65536 + p2) >>> 0 : null);
  w.close();
}

function request(w: JsonSink, r: IpsecRequestWire, o: JsonOptions): void {
  w.open(null);
  word(w, K.protocol, requestProtoTable, r.proto);
  word(w, K.mode, modeTable, r.mode);
  word(w, K.level, levelTable, r.level);
  w.num(K.reqid, r.reqid);
  if (r.src) {
    w.open(K.tunnel);
    endpoint(w, K.src, r.src, o);
    endpoint(w, K.dst, r.dst, o);
    w.close();
  } else w.nul(K.tunnel);
  w.close();
}

/** What the text dump prints in place of the policy ("Policy:[...]"), or null when it prints the policy. */
function policyVerdict(v: DumpView, span: ExtSpan, o: JsonOptions): string | null {
  try {
    policyDump(v, span, o);
    return null;
  } catch (e) {
    // a lone tunnel address at the very end of the message makes the printer read past it
    if (e instanceof DecodeError) return 'Invalid address specification';
    if (e instanceof Error && e.message.startsWith('Invalid ')) return e.message;
    throw e;
  }
}

/** The X_POLICY extension, or the invalid entry written in place of the policy. */
function policyOf(w: JsonSink, v: DumpView): { span: ExtSpan; p: ExtOf<'policy'> } | undefined {
  const err = v.alignError ?? v.checkError;
  if (err) return void invalidOf(w, v, err);
  const span = v.span('policy');
  if (!span || span.length < Size.sadb_x_policy) return void invalid(w, v, 'no X_POLICY extension', 'missing-extension', null);
  let p;
  try {
    p = readExt(v.ix, span);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return void invalid(w, v, decodeErrorText(e), 'policy', e.offset);
  }
  if (p.kind !== 'policy') return void invalid(w, v, 'no X_POLICY extension', 'missing-extension', null);
  return { span, p };
}

function policyEntry(w: JsonSink, v: DumpView, o: JsonOptions, xfrm: XfrmExtras | undefined): void {
  const found = policyOf(w, v);
  if (!found) return;
  const { span, p } = found;
  const src = v.ext('address_src');
  const dst = v.ext('address_dst');
  w.open(null);
  w.str(K.kind, 'policy');
  w.num(K.id, p.id);
  // Linux sends selectors even for socket policies; setkey tells them by the id's direction bits
  w.bool(K.perSocket, (o.platform === 'linux' && p.id % 8 >= 3) || !src || !dst);
  selector(w, src, dst, o);
  const socketDir = SOCKET_DIRS[p.dir];
  if (socketDir !== undefined) w.str(K.direction, socketDir);
  else word(w, K.direction, dirTable, p.dir);
  word(w, K.action, actionTable, p.ptype);
  w.num(K.priority, p.priority);
  strOrNull(w, K.priorityText, priorityText(p.priority).trim() || null);
  w.openArray(K.requests);
  for (const r of p.requests) request(w, r, o);
  w.closeArray();
  strOrNull(w, K.policyError, policyVerdict(v, span, o));
  lifetimes(w, v, o);
  securityContext(w, v);
  xfrmMember(w, xfrm);
  trailer(w, v.header);
  w.close();
}

type XfrmExtras = { readonly [key: string]: Json };
type Extras = (v: DumpView) => XfrmExtras | undefined;
/** Writes one message's entry. */
type EntryWriter = (w: JsonSink, v: DumpView, o: JsonOptions, xfrm: XfrmExtras | undefined) => void;

/** postproc's choice of printer, as the entry to write; undefined when the text dump prints nothing. */
function choose(v: DumpView, o: JsonOptions): EntryWriter | undefined {
  const h = v.header;
  if (h.errno !== 0) return errorEntry;
  switch (h.type) {
    case MsgType.GET:
      return saEntry;
    case MsgType.DUMP: {
      // DEAD SAs are hidden unless -a, judged on whatever pfkey_align found
      const sa = v.ext('sa');
      if (!o.all && sa && sa.state === SaState.DEAD) return undefined;
      return saEntry;
    }
    case MsgType.X_SPDGET:
    case MsgType.X_SPDDUMP:
      return policyEntry;
  }
  return undefined;
}

/** choose(), never throwing: a failure becomes the entry that reports it. */
function chooseSafely(v: DumpView, o: JsonOptions): EntryWriter | undefined {
  try {
    return choose(v, o);
  } catch (e) {
    return (w) => internalError(w, v, e);
  }
}

function entryObject(v: DumpView, o: JsonOptions, extras?: Extras): JsonEntry | undefined {
  const write = chooseSafely(v, o);
  if (!write) return undefined;
  // the sink builds what the JsonEntry types describe (json.test.ts validates it against the published schema)
  let s = new ObjectSink();
  try {
    write(s, v, o, extras?.(v));
  } catch (e) {
    s = new ObjectSink();
    internalError(s, v, e);
  }
  return s.result as JsonEntry;
}

/** One JSON value per message that the text dump would print something for; undefined when it prints nothing. */
export function messageJson(v: DumpView, o: JsonOptions): JsonEntry | undefined {
  return entryObject(v, o);
}

/** The document around a list of entries. */
export function jsonDocument(entries: JsonEntry[], o: JsonOptions): JsonDocument {
  return { schema: JSON_SCHEMA_ID, platform: o.platform, now: nowIso(o), keysShown: o.showKeys, entries };
}

/** jsonDocument's members up to the opening of its entries. */
function documentHead(w: JsonSink, o: JsonOptions): void {
  w.open(null);
  w.str(K.schema, JSON_SCHEMA_ID);
  // options come from callers: written as generically as stringifyJson would
  w.value(K.platform, o.platform);
  strOrNull(w, K.now, nowIso(o));
  w.value(K.keysShown, o.showKeys);
  w.openArray(K.entries);
}

/**
 * The document written as it goes, one entry at a time, as bytes: memory
 * stays flat for a dump of any size, and the text is exactly stringifyJson's
 * of the whole document (latin1-encoded, as setkey's output is).
 */
export class JsonDumpWriter {
  private readonly w: JsonBytes;
  private started = false;

  /** `out` gets the text a chunk at a time and must be done with each chunk when it returns. */
  constructor(
    private readonly o: JsonOptions,
    out: (b: Uint8Array) => void,
    private readonly extras?: Extras,
  ) {
    this.w = new JsonBytes(out);
  }

  push(v: DumpView): void {
    const write = chooseSafely(v, this.o);
    if (!write) return;
    const w = this.w;
    // the head waits for the first entry: a file that turns out unreadable prints nothing
    if (!this.started) documentHead(w, this.o);
    this.started = true;
    w.mark();
    try {
      write(w, v, this.o, this.extras?.(v));
    } catch (e) {
      w.rewind();
      internalError(w, v, e);
    }
    w.boundary();
  }

  /** The end of the document (the whole of it when no entry came). */
  end(): void {
    if (!this.started) documentHead(this.w, this.o);
    this.w.closeArray();
    this.w.close();
    this.w.newline();
    this.w.flush();
  }

  /** Send what is written so far (before a diagnostic that must come after it). */
  flush(): void {
    this.w.flush();
  }
}

/** The whole document for a sequence of messages (e.g. one dump reply stream or one file). */
export function dumpJson(views: Iterable<DumpView>, o: JsonOptions, extras?: Extras): string {
  const entries: JsonEntry[] = [];
  for (const v of views) {
    const e = entryObject(v, o, extras);
    if (e) entries.push(e);
  }
  return `${stringifyJson(jsonDocument(entries, o))}\n`;
}

/**
 * JSON.stringify(v, null, 2), keys in insertion order, plus bigint written
 * as its exact digits (JSON.stringify refuses bigint, and Number would round).
 * The reference for JsonBytes, which must write the same text.
 */
export function stringifyJson(v: Json, indent = ''): string {
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : 'null';
    case 'bigint':
      return v.toString();
    case 'string':
      return quote(v);
  }
  if (v === null || typeof v !== 'object') return 'null';
  // one string grown in place (V8 ropes), keys' text cached: a dump of 1M entries writes each key 1M times
  const inner = indent + '  ';
  if (Array.isArray(v)) {
    const a = v as readonly Json[];
    if (a.length === 0) return '[]';
    let s = `[\n${inner}${stringifyJson(a[0]!, inner)}`;
    for (let i = 1; i < a.length; i++) s += `,\n${inner}${stringifyJson(a[i]!, inner)}`;
    return `${s}\n${indent}]`;
  }
  const obj = v as { readonly [key: string]: Json };
  let s = '';
  for (const k of Object.keys(obj)) s += `${s ? ',\n' : '{\n'}${inner}${keyOf(k).quoted}${stringifyJson(obj[k]!, inner)}`;
  return s ? `${s}\n${indent}}` : '{}';
}
