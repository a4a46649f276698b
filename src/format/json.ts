/**
 * `setkey --format=json`: the SAD/SPD dump as one JSON document (schema
 * "setkey-json/1", described in docs/json.md). There is one entry per message
 * that the text dump (postproc) prints something for, in message order. Each
 * entry carries the fields the text shows, typed: numbers as numbers (u64
 * counters as exact integers), addresses as the text dump's strings, and
 * algorithm ids through the registry. Key material is included only with
 * showKeys. This module never throws: anything unexpected becomes an
 * "invalid" entry, so a hostile kernel or file cannot crash the dump.
 */
import { formatIp } from '../model/address.js';
import { algorithmById, type AlgKind, type Platform } from '../model/algorithms.js';
import { actionTable, dirTable, IpProto, levelTable, modeTable, nameOf, requestProtoTable, saProtoTable, SaState, saStateTable, SaType, type NameTable } from '../model/tables.js';
import { AF, af6, MsgType, msgTypeTable, Size } from '../pfkey/constants.js';
import { DecodeError, readExt, type ExtSpan } from '../pfkey/decode.js';
import type { DumpView } from '../pfkey/dump-view.js';
import type { ExtAddress, ExtLifetime, IpsecRequestWire, SadbHeader, SockAddr } from '../pfkey/types.js';
import { sockAddress, type DumpOptions } from './dump-common.js';
import { decodeErrorText } from './errors.js';
import { errnoText } from './postproc.js';
import { policyDump, priorityText } from './spdump.js';
import { strerror } from './strerror.js';

export const JSON_SCHEMA_ID = 'setkey-json/1';

export interface JsonOptions extends DumpOptions {
  readonly showKeys: boolean;
}

/** A JSON value; bigint is written as an exact integer (u64 counters can exceed 2^53). */
export type Json = null | boolean | number | bigint | string | readonly Json[] | { readonly [key: string]: Json };

/** A word from a name table, or the number when the table has none (unknown ids stay numbers). */
export type Word = string | number;

export type JsonEndpoint = { family: Word | null; address: string | null; port: number | null };
export type JsonSelectorAddress = { family: Word; address: string | null; prefixlen: number; port: number };
export type JsonLifetime = { allocations: number; bytes: bigint; addtime: bigint; usetime: bigint };
export type JsonCurrentLifetime = JsonLifetime & { created: string | null; lastUsed: string | null; diff: bigint };
export type JsonLifetimes = { current: JsonCurrentLifetime | null; hard: JsonLifetime | null; soft: JsonLifetime | null };
export type JsonSecCtx = { doi: number; alg: number; length: number; text: string };
export type JsonKeyedAlgorithm = { name: string | null; id: number; keyBits: number | null; key: string | null };
export type JsonAlgorithm = { name: string | null; id: number };
export type JsonNatt = { type: number; sport: number | null; dport: number | null; oa: string | null };
/** sadb_msg_seq, sadb_msg_pid and sadb_msg_reserved (which setkey prints as refcnt) */
export type JsonTrailer = { sadbSeq: number; pid: number; refcnt: number };

export type JsonSa = {
  kind: 'sa';
  satype: number;
  protocol: Word;
  src: JsonEndpoint;
  dst: JsonEndpoint;
  mode: Word;
  spi: number;
  spiHex: string;
  reqid: number;
  natt: JsonNatt | null;
  encryption: JsonKeyedAlgorithm | null;
  authentication: JsonKeyedAlgorithm | null;
  compression: JsonAlgorithm | null;
  sequence: number;
  replay: number;
  flags: number;
  state: Word;
  lifetimes: JsonLifetimes;
  securityContext: JsonSecCtx | null;
  /** what the kernel's XFRM interface says beyond PF_KEY (xfrm backend): replay window, ESN, AEAD ICV, marks... */
  xfrm: { readonly [key: string]: Json } | null;
} & JsonTrailer;

export type JsonSelector = {
  src: JsonSelectorAddress;
  dst: JsonSelectorAddress;
  upperProtocol: number;
  upperProtocolName: string | null;
  /** ICMP, ICMPv6 and MH carry a type and code in the ports; GRE a key */
  icmpType: number | null;
  icmpCode: number | null;
  greKey: number | null;
};

export type JsonRequest = { protocol: Word; mode: Word; level: Word; reqid: number; tunnel: { src: JsonEndpoint; dst: JsonEndpoint } | null };

export type JsonPolicy = {
  kind: 'policy';
  id: number;
  perSocket: boolean;
  selector: JsonSelector | null;
  direction: Word;
  action: Word;
  priority: number;
  priorityText: string | null;
  requests: JsonRequest[];
  policyError: string | null;
  lifetimes: JsonLifetimes;
  securityContext: JsonSecCtx | null;
  xfrm: { readonly [key: string]: Json } | null;
} & JsonTrailer;

export type JsonError = { kind: 'error'; type: number; typeName: string | null; errno: number; message: string };

export type JsonInvalidCode = DecodeError['code'] | 'missing-extension' | 'policy' | 'internal';
export type JsonInvalid = { kind: 'invalid'; type: number; typeName: string | null; message: string; code: JsonInvalidCode; offset: number | null };

export type JsonEntry = JsonSa | JsonPolicy | JsonError | JsonInvalid;

export type JsonDocument = { schema: string; platform: Platform; now: string | null; keysShown: boolean; entries: JsonEntry[] };

/** Linux setkey also prints the per-socket directions, which the model's table does not name. */
const SOCKET_DIRS: Record<number, string> = { 4: 'in(socket)', 5: 'out(socket)' };

function word(t: NameTable, n: number): Word {
  return nameOf(t, n) ?? n;
}

function typeName(type: number): string | null {
  const n = nameOf(msgTypeTable, type);
  return n === undefined ? null : `SADB_${n}`;
}

/** What the text dump prints before "mode=": esp-udp for ESP-in-UDP, natt+ before other NAT-T SA types. */
function protocolWord(satype: number, natt: boolean): Word {
  if (natt && satype === SaType.ESP) return 'esp-udp';
  // SADB_SATYPE_UNSPEC has no SA-statement keyword, but the text dump names it
  const w = satype === SaType.UNSPEC ? 'unspec' : word(saProtoTable, satype);
  return natt ? `natt+${w}` : w;
}

function familyWord(family: number, o: JsonOptions): Word {
  return family === AF.INET ? 'inet' : family === af6(o.platform) ? 'inet6' : family;
}

function addressText(sa: SockAddr, o: JsonOptions): string | null {
  const a = sockAddress(sa, o.platform);
  return a ? formatIp(a, o.ifName) : null;
}

function endpoint(sa: SockAddr | undefined, o: JsonOptions): JsonEndpoint {
  if (!sa) return { family: null, address: null, port: null };
  return { family: familyWord(sa.family, o), address: addressText(sa, o), port: sa.port };
}

// RFC 3339 needs a four-digit year: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z
const ISO_MIN = -62135596800n;
const ISO_MAX = 253402300799n;

/** A u64 time field read as a signed time_t (as the text dump does); null for 0 and for years ISO cannot write. */
export function isoTime(t: bigint): string | null {
  // entries added together share their times: the last one is kept
  if (t === lastIso.t) return lastIso.text;
  const s = BigInt.asIntN(64, t);
  const text = s === 0n || s < ISO_MIN || s > ISO_MAX ? null : new Date(Number(s) * 1000).toISOString().replace('.000Z', 'Z');
  lastIso = { t, text };
  return text;
}

let lastIso: { t: bigint; text: string | null } = { t: 0n, text: null };

function nowSeconds(o: JsonOptions): bigint {
  return Number.isFinite(o.now) ? BigInt(Math.floor(o.now)) : 0n;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function lifetime(l: ExtLifetime | undefined): JsonLifetime | null {
  if (!l) return null;
  const u = (x: bigint): bigint => BigInt.asUintN(64, x);
  return { allocations: l.allocations, bytes: u(l.bytes), addtime: u(l.addtime), usetime: u(l.usetime) };
}

function lifetimes(v: DumpView, o: JsonOptions): JsonLifetimes {
  const cur = v.ext('lifetime_current');
  let current: JsonCurrentLifetime | null = null;
  if (cur) {
    // the text dump's "diff": now minus created as an unsigned long, 0 when never created
    const diff = cur.addtime === 0n ? 0n : BigInt.asUintN(64, nowSeconds(o) - BigInt.asIntN(64, cur.addtime));
    current = { ...lifetime(cur)!, created: isoTime(cur.addtime), lastUsed: isoTime(cur.usetime), diff };
  }
  return { current, hard: lifetime(v.ext('lifetime_hard')), soft: lifetime(v.ext('lifetime_soft')) };
}

function securityContext(v: DumpView): JsonSecCtx | null {
  const c = v.ext('sec_ctx');
  if (!c) return null;
  // the text dump prints it with %s: up to the first NUL, bytes as they are
  const nul = c.ctx.indexOf(0);
  const text = Buffer.from(nul < 0 ? c.ctx : c.ctx.subarray(0, nul)).toString('latin1');
  return { doi: c.doi, alg: c.alg, length: c.ctxLen, text };
}

function trailer(h: SadbHeader): JsonTrailer {
  return { sadbSeq: h.seq, pid: h.pid, refcnt: h.reserved };
}

function invalid(v: DumpView, message: string, code: JsonInvalidCode, offset: number | null): JsonInvalid {
  return { kind: 'invalid', type: v.header.type, typeName: typeName(v.header.type), message, code, offset };
}

function invalidOf(v: DumpView, e: DecodeError): JsonInvalid {
  return invalid(v, decodeErrorText(e), e.code, e.offset);
}

function errorEntry(h: SadbHeader): JsonError {
  const text = errnoText(h.type, h.errno);
  // the text dump prints a NULL string ("(null)") for ENOENT on other types; JSON says what errno means
  return { kind: 'error', type: h.type, typeName: typeName(h.type), errno: h.errno, message: text === '(null)' ? strerror(h.errno) : text };
}

function algName(kind: AlgKind, id: number, o: JsonOptions): string | null {
  // 0 is SADB_[EA]ALG_NONE, which the text dump's tables print as "none"; the registry holds no entry for it
  if (id === 0) return 'none';
  return algorithmById(kind, o.platform, id)?.name ?? null;
}

function keyed(v: DumpView, kind: 'enc' | 'auth', id: number, o: JsonOptions): JsonKeyedAlgorithm {
  const k = v.ext(kind === 'enc' ? 'key_encrypt' : 'key_auth');
  // keyBits null: no key extension; key null with keyBits set: redacted (showKeys off)
  return { name: algName(kind, id, o), id, keyBits: k ? k.bits : null, key: k && o.showKeys ? hex(k.data) : null };
}

/** The text dump's first complaint about a missing extension, if any. */
function missingSaExt(v: DumpView): string | undefined {
  if (!v.span('address_src')) return 'ADDRESS_SRC';
  if (!v.span('address_dst')) return 'ADDRESS_DST';
  if (!v.ext('sa')) return 'SA';
  if (!v.ext('sa2')) return 'SA2';
  return undefined;
}

function natt(v: DumpView, o: JsonOptions): JsonNatt | null {
  const t = v.ext('nat_t_type');
  if (!t) return null;
  const oa = v.ext('nat_t_oa');
  return { type: t.natType, sport: v.ext('nat_t_sport')?.port ?? null, dport: v.ext('nat_t_dport')?.port ?? null, oa: oa ? addressText(oa.sa, o) : null };
}

function saEntry(v: DumpView, o: JsonOptions): JsonEntry {
  const err = v.alignError ?? v.checkError;
  if (err) return invalidOf(v, err);
  const missing = missingSaExt(v);
  if (missing) return invalid(v, `no ${missing} extension`, 'missing-extension', null);
  const h = v.header;
  const sa = v.ext('sa')!;
  const sa2 = v.ext('sa2')!;
  const nat = natt(v, o);
  const isEsp = h.satype === SaType.ESP;
  const isComp = h.satype === SaType.IPCOMP;
  return {
    kind: 'sa',
    satype: h.satype,
    protocol: protocolWord(h.satype, nat !== null && nat.type !== 0),
    src: endpoint(v.ext('address_src')?.sa, o),
    dst: endpoint(v.ext('address_dst')?.sa, o),
    mode: word(modeTable, sa2.mode),
    spi: sa.spi,
    spiHex: `0x${sa.spi.toString(16).padStart(8, '0')}`,
    reqid: sa2.reqid,
    natt: nat,
    // IPComp carries its compression algorithm in sadb_sa_encrypt
    encryption: isEsp || (!isComp && v.span('key_encrypt')) ? keyed(v, 'enc', sa.encrypt, o) : null,
    authentication: v.span('key_auth') || sa.auth !== 0 ? keyed(v, 'auth', sa.auth, o) : null,
    compression: isComp ? { name: algName('comp', sa.encrypt, o), id: sa.encrypt } : null,
    sequence: sa2.sequence,
    replay: sa.replay,
    flags: sa.flags,
    state: word(saStateTable, sa.state),
    lifetimes: lifetimes(v, o),
    securityContext: securityContext(v),
    xfrm: null,
    ...trailer(h),
  };
}

function selectorAddress(a: ExtAddress, o: JsonOptions): JsonSelectorAddress {
  return { family: familyWord(a.sa.family, o), address: addressText(a.sa, o), prefixlen: a.prefixlen, port: a.sa.port };
}

function selector(v: DumpView, o: JsonOptions): JsonSelector | null {
  const src = v.ext('address_src');
  const dst = v.ext('address_dst');
  if (!src || !dst) return null;
  // as the text dump: the source's upper protocol for both sides; ports carry ICMP type/code or a GRE key
  const ulp = src.proto;
  const p1 = src.sa.port;
  const p2 = dst.sa.port;
  const shown = p1 !== 0 || p2 !== 0;
  const icmp = shown && (ulp === IpProto.ICMP || ulp === IpProto.ICMPV6 || ulp === IpProto.MH);
  const gre = shown && ulp === IpProto.GRE;
  return {
    src: selectorAddress(src, o),
    dst: selectorAddress(dst, o),
    upperProtocol: ulp,
    upperProtocolName: o.protoName(ulp) ?? null,
    icmpType: icmp ? p1 : null,
    icmpCode: icmp ? p2 : null,
    greKey: gre ? (p1 * 65536 + p2) >>> 0 : null,
  };
}

function request(r: IpsecRequestWire, o: JsonOptions): JsonRequest {
  return {
    protocol: word(requestProtoTable, r.proto),
    mode: word(modeTable, r.mode),
    level: word(levelTable, r.level),
    reqid: r.reqid,
    tunnel: r.src ? { src: endpoint(r.src, o), dst: endpoint(r.dst, o) } : null,
  };
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

function policyEntry(v: DumpView, o: JsonOptions): JsonEntry {
  const err = v.alignError ?? v.checkError;
  if (err) return invalidOf(v, err);
  const span = v.span('policy');
  if (!span || span.length < Size.sadb_x_policy) return invalid(v, 'no X_POLICY extension', 'missing-extension', null);
  let p;
  try {
    p = readExt(v.ix, span);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return invalid(v, decodeErrorText(e), 'policy', e.offset);
  }
  if (p.kind !== 'policy') return invalid(v, 'no X_POLICY extension', 'missing-extension', null);
  const sel = selector(v, o);
  return {
    kind: 'policy',
    id: p.id,
    // Linux sends selectors even for socket policies; setkey tells them by the id's direction bits
    perSocket: (o.platform === 'linux' && p.id % 8 >= 3) || sel === null,
    selector: sel,
    direction: SOCKET_DIRS[p.dir] ?? word(dirTable, p.dir),
    action: word(actionTable, p.ptype),
    priority: p.priority,
    priorityText: priorityText(p.priority).trim() || null,
    requests: p.requests.map((r) => request(r, o)),
    policyError: policyVerdict(v, span, o),
    lifetimes: lifetimes(v, o),
    securityContext: securityContext(v),
    xfrm: null,
    ...trailer(v.header),
  };
}

/** postproc's choice of printer, with JSON entries in place of text. */
function convert(v: DumpView, o: JsonOptions): JsonEntry | undefined {
  const h = v.header;
  if (h.errno !== 0) return errorEntry(h);
  switch (h.type) {
    case MsgType.GET:
      return saEntry(v, o);
    case MsgType.DUMP: {
      // DEAD SAs are hidden unless -a, judged on whatever pfkey_align found
      const sa = v.ext('sa');
      if (!o.all && sa && sa.state === SaState.DEAD) return undefined;
      return saEntry(v, o);
    }
    case MsgType.X_SPDGET:
    case MsgType.X_SPDDUMP:
      return policyEntry(v, o);
  }
  return undefined;
}

/** One JSON value per message that the text dump would print something for; undefined when it prints nothing. */
export function messageJson(v: DumpView, o: JsonOptions): JsonEntry | undefined {
  try {
    return convert(v, o);
  } catch (e) {
    // a bug must not take the whole dump down; the entry says what happened
    return invalid(v, `internal error: ${e instanceof Error ? e.message : String(e)}`, 'internal', null);
  }
}

/** The document around a list of entries. */
export function jsonDocument(entries: JsonEntry[], o: JsonOptions): JsonDocument {
  return { schema: JSON_SCHEMA_ID, platform: o.platform, now: isoTime(nowSeconds(o)), keysShown: o.showKeys, entries };
}

type Extras = (v: DumpView) => { readonly [key: string]: Json } | undefined;

/**
 * The document written as it goes, one entry at a time: memory stays flat
 * for a dump of any size, and the text is exactly stringifyJson's of the
 * whole document.
 */
export class JsonDumpWriter {
  private count = 0;
  constructor(
    private readonly o: JsonOptions,
    private readonly out: (s: string) => void,
    private readonly extras?: Extras,
  ) {}

  push(v: DumpView): void {
    const e = messageJson(v, this.o);
    if (!e) return;
    const x = this.extras?.(v);
    if (x && (e.kind === 'sa' || e.kind === 'policy')) e.xfrm = x;
    if (this.count++ === 0) {
      // the document's head, through stringifyJson so that its members read exactly as the whole document's would
      const head = stringifyJson(jsonDocument([], this.o));
      this.out(`${head.slice(0, head.lastIndexOf('[]'))}[\n`);
    } else this.out(',\n');
    this.out(`    ${stringifyJson(e, '    ')}`);
  }

  /** The end of the document (the whole of it when no entry came). */
  end(): void {
    this.out(this.count === 0 ? `${stringifyJson(jsonDocument([], this.o))}\n` : '\n  ]\n}\n');
  }
}

/** The whole document for a sequence of messages (e.g. one dump reply stream or one file). */
export function dumpJson(views: Iterable<DumpView>, o: JsonOptions, extras?: Extras): string {
  const parts: string[] = [];
  const w = new JsonDumpWriter(o, (s) => parts.push(s), extras);
  for (const v of views) w.push(v);
  w.end();
  return parts.join('');
}

/**
 * JSON.stringify(v, null, 2), keys in insertion order, plus bigint written
 * as its exact digits (JSON.stringify refuses bigint, and Number would round).
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
  for (const k of Object.keys(obj)) s += `${s ? ',\n' : '{\n'}${inner}${keyText(k)}${stringifyJson(obj[k]!, inner)}`;
  return s ? `${s}\n${indent}}` : '{}';
}

/** Characters JSON.stringify writes otherwise than as themselves (controls, '"', '\\', lone surrogates). */
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

const keyTexts = new Map<string, string>();

/** `"key": ` */
function keyText(k: string): string {
  let t = keyTexts.get(k);
  if (t === undefined) {
    t = `${quote(k)}: `;
    if (keyTexts.size < 1000) keyTexts.set(k, t);
  }
  return t;
}
