/**
 * SA statements, after ipsec-tools src/setkey/parse.y:
 *
 *   add|update [-46n] SRC[port] DST[port] PROTO SPI EXT* ALGS ;
 *   get|delete [-46n] SRC[port] DST[port] PROTO SPI EXT* ;
 *   getspi     [-46n] SRC[port] DST[port] PROTO [SPI|MIN-MAX] EXT* ;     (NetBSD)
 *   deleteall  [-46n] SRC DST [PROTO] ;
 *   flush [PROTO] ;   dump [PROTO] ;
 *
 * with the reference's checks plus the ones design.md §2 adds (reserved and
 * oversized SPIs, key lengths, AEAD with -A, TCP-MD5 rules).
 */
import { algorithmByName, describeKeyBits, keyBitsAllowed, spellings, variantBySpelling, type Algorithm, type AlgKind } from '../model/algorithms.js';
import type { Endpoint, IpAddress } from '../model/address.js';
import type { Command, SourcePos } from '../model/command.js';
import type { Lifetime, Mutable, NatT, SaKey, SaParams, SecCtx } from '../model/sa.js';
import { Mode, SaFlag, SaType, UDP_ENCAP_ESPINUDP, padFlagTable } from '../model/tables.js';
import { ParserCore, type AddrFlags, type AddrWord, type HostSpec } from './core.js';
import { Tok } from './lexer.js';
import { quoteToken, showToken } from './redact.js';

export interface HostRefs {
  src?: HostSpec;
  dst?: HostSpec;
  oa?: HostSpec;
}

export interface Statement {
  readonly cmd: Command;
  /** host names still to resolve (their addresses in `cmd` are placeholders) */
  readonly hosts?: HostRefs;
  /** selector prefixes given explicitly (so resolution knows which to default) */
  readonly prefixes?: { src: boolean; dst: boolean };
}

const ANY4: IpAddress = { family: 4, bytes: new Uint8Array(4), scopeId: 0 };
const ANY6: IpAddress = { family: 6, bytes: new Uint8Array(16), scopeId: 0 };

export function placeholder(family: 0 | 4 | 6): IpAddress {
  return family === 6 ? ANY6 : ANY4;
}

/** The protocol words of SA statements. */
interface ProtoSpec {
  satype: number;
  old: boolean;
  natt: boolean;
  word: string;
}

const PROTOCOLS: Record<string, ProtoSpec> = {
  esp: { satype: SaType.ESP, old: false, natt: false, word: 'esp' },
  'esp-old': { satype: SaType.ESP, old: true, natt: false, word: 'esp-old' },
  ah: { satype: SaType.AH, old: false, natt: false, word: 'ah' },
  'ah-old': { satype: SaType.AH, old: true, natt: false, word: 'ah-old' },
  'esp-udp': { satype: SaType.ESP, old: false, natt: true, word: 'esp-udp' },
  ipcomp: { satype: SaType.IPCOMP, old: false, natt: false, word: 'ipcomp' },
  tcp: { satype: SaType.TCP, old: false, natt: false, word: 'tcp' },
};
const PROTO_EXPECTED = 'a protocol: esp, esp-old, ah, ah-old, esp-udp, ipcomp or tcp';

interface Located<T> {
  v: T;
  line: number;
  col: number;
}

function endpointOf(w: AddrWord, port: number, flags: AddrFlags): Endpoint {
  return { addr: w.lit ?? placeholder(flags.family), port };
}

function hostOf(w: AddrWord, port: number, flags: AddrFlags, line: number, col: number): HostSpec | undefined {
  return w.host === undefined ? undefined : { name: w.host, port, family: flags.family, line, col };
}

/** SRC[port] DST[port] of SA statements; `ports` false for deleteall. */
function addressPair(p: ParserCore, flags: AddrFlags, ports: boolean): { src: Endpoint; dst: Endpoint; hosts?: HostRefs } {
  const sides: { ep: Endpoint; host?: HostSpec }[] = [];
  for (const what of ['the source address', 'the destination address']) {
    const line = p.lx.tokLine;
    const col = p.lx.tokCol;
    const w = p.addrWord(flags, what);
    if (p.lx.kind === Tok.SLASH) p.fail('prefix-not-allowed', 'an SA address takes no prefix length', ports ? 'an address, optionally with [port]' : 'an address');
    let port = 0;
    if (ports) port = Math.max(0, p.portSpec());
    else if (p.lx.kind === Tok.LBRACKET) p.fail('port-not-allowed', 'deleteall takes addresses without ports', 'an address');
    const host = hostOf(w, port, flags, line, col);
    sides.push(host ? { ep: endpointOf(w, port, flags), host } : { ep: endpointOf(w, port, flags) });
  }
  const [s, d] = sides as [{ ep: Endpoint; host?: HostSpec }, { ep: Endpoint; host?: HostSpec }];
  if (!s.host && !d.host && s.ep.addr.family !== d.ep.addr.family) {
    p.fail('family-mismatch', 'source and destination are of different address families', 'two IPv4 or two IPv6 addresses');
  }
  const out: { src: Endpoint; dst: Endpoint; hosts?: HostRefs } = { src: s.ep, dst: d.ep };
  if (s.host || d.host) {
    out.hosts = {};
    if (s.host) out.hosts.src = s.host;
    if (d.host) out.hosts.dst = d.host;
  }
  return out;
}

/** PROTO (optional, as in the reference: an omitted protocol sends SA type 0). */
function protocol(p: ParserCore, optional: boolean): Located<ProtoSpec | undefined> {
  const line = p.lx.tokLine;
  const col = p.lx.tokCol;
  if (p.lx.kind === Tok.WORD) {
    const spec = PROTOCOLS[p.lx.text()];
    if (spec) {
      p.lx.advance();
      return { v: spec, line, col };
    }
  }
  if (!optional) p.unexpected(PROTO_EXPECTED);
  return { v: undefined, line, col };
}

/** SPI: decimal or 0x hex, 256..2^32-1 (CPI 256..65535 for IPComp, 0x1000 for TCP-MD5). */
function spi(p: ParserCore, proto: ProtoSpec | undefined, allowZero: boolean): number {
  const t = p.word(proto ? 'an SPI (decimal or 0x hexadecimal)' : `${PROTO_EXPECTED}, then an SPI`);
  const v = ParserCore.numberWord(t);
  if (v === undefined) {
    if (!proto) p.unexpected(PROTO_EXPECTED);
    p.fail('bad-spi', `${quoteToken(t)} is not an SPI`, 'a decimal or 0x hexadecimal number');
  }
  const ipcomp = proto?.satype === SaType.IPCOMP;
  const max = ipcomp ? 0xffff : 0xffffffff;
  if (v > max) {
    p.fail('spi-range', ipcomp ? `CPI ${showToken(t)} does not fit in 16 bits` : `SPI ${showToken(t)} does not fit in 32 bits`, ipcomp ? 'a CPI from 256 to 65535' : 'an SPI from 256 to 4294967295');
  }
  if (v < 256 && !(allowZero && v === 0)) {
    p.fail('spi-reserved', `${ipcomp ? 'CPI' : 'SPI'} ${showToken(t)} is reserved (values 0 to 255 are not assigned to SAs, RFC 4303 section 2.1)`, ipcomp ? 'a CPI from 256 to 65535' : 'an SPI from 256 to 4294967295');
  }
  p.lx.advance();
  return v;
}

interface Extensions {
  mode: number;
  modeAt?: { line: number; col: number };
  reqid: number;
  replay: number;
  flags: number;
  esn: boolean;
  lh: bigint;
  ls: bigint;
  bh: bigint;
  bs: bigint;
  ctx?: SecCtx;
  ignoredAt?: { line: number; col: number; what: string };
}

/** `-ctx DOI ALG "string"` (used by SA and SP statements). */
export function secCtx(p: ParserCore): SecCtx | undefined {
  const line = p.lx.tokLine;
  const col = p.lx.tokCol;
  p.lx.advance();
  const doi = p.decimal('the context DOI (0-255), then its algorithm and a quoted string', 255);
  const alg = p.decimal('the context algorithm (0-255), then a quoted string', 255);
  if (p.lx.kind !== Tok.QUOTED) p.unexpected('the security context as a quoted string');
  const ctx = p.lx.text().slice(1, -1);
  if (ctx.length > 4095) p.fail('ctx-length', 'security context longer than 4095 bytes', 'a shorter context string');
  p.lx.advance();
  if (doi === 0) {
    // the reference sends no SEC_CTX extension when the DOI is 0
    p.warn(line, col, 'ctx-doi-zero', 'security context with DOI 0 is not sent');
    return undefined;
  }
  return { doi, alg, ctx };
}

function extensions(p: ParserCore, proto: ProtoSpec | undefined, base: number): Extensions {
  const e: Extensions = { mode: Mode.ANY, reqid: 0, replay: 0, flags: base, esn: false, lh: 0n, ls: 0n, bh: 0n, bs: 0n };
  for (;;) {
    if (p.lx.kind !== Tok.WORD) return e;
    const t = p.lx.text();
    const line = p.lx.tokLine;
    const col = p.lx.tokCol;
    switch (t) {
      case '-m': {
        p.lx.advance();
        const m = p.word('transport, tunnel or any');
        if (m === 'transport') e.mode = Mode.TRANSPORT;
        else if (m === 'tunnel') e.mode = Mode.TUNNEL;
        else if (m === 'any') e.mode = Mode.ANY;
        else p.fail('bad-mode', `unknown mode ${quoteToken(m)}`, 'transport, tunnel or any');
        e.modeAt = { line, col };
        p.lx.advance();
        break;
      }
      case '-u':
        p.lx.advance();
        e.reqid = p.decimal('a reqid (decimal)', 0xffffffff);
        break;
      case '-r':
        if (proto?.old) p.fail('replay-old', `replay prevention cannot be used with ${proto.word}`, 'esp or ah for a replay window');
        p.lx.advance();
        // XFRM takes up to 4096 packets (XFRMA_REPLAY_ESN_MAX); PF_KEY's field is one byte
        e.replay = p.decimal('a replay window size (decimal)', 4096);
        break;
      case '-f': {
        p.lx.advance();
        const f = p.word('zero-pad, random-pad, seq-pad or nocyclic-seq');
        const bit = padFlagTable.byName.get(f);
        if (bit !== undefined) e.flags |= bit;
        else if (f === 'nocyclic-seq') e.flags &= ~SaFlag.CYCSEQ;
        else p.fail('bad-flag', `unknown flag ${quoteToken(f)}`, 'zero-pad, random-pad, seq-pad or nocyclic-seq');
        p.lx.advance();
        break;
      }
      case '-lh':
      case '-ls':
      case '-bh':
      case '-bs': {
        p.lx.advance();
        const v = p.decimal64(t[1] === 'l' ? 'a lifetime in seconds (decimal)' : 'a lifetime in bytes (decimal)');
        if (t === '-lh') e.lh = v;
        else if (t === '-ls') e.ls = v;
        else if (t === '-bh') e.bh = v;
        else e.bs = v;
        break;
      }
      case '-ctx': {
        const c = secCtx(p);
        if (c) e.ctx = c;
        else delete e.ctx;
        break;
      }
      case '-esn':
        e.esn = true;
        p.lx.advance();
        break;
      default:
        return e;
    }
    if (e.ignoredAt === undefined && (t === '-lh' || t === '-ls' || t === '-bh' || t === '-bs' || t === '-ctx')) {
      e.ignoredAt = { line, col, what: t };
    }
  }
}

function lifetimeOf(addtime: bigint, bytes: bigint): Lifetime | undefined {
  return addtime !== 0n || bytes !== 0n ? { allocations: 0, bytes, addtime, usetime: 0n } : undefined;
}

interface AlgChoice {
  enc?: { alg: string; key?: SaKey };
  auth?: { alg: string; key?: SaKey };
  flags: number;
}

function latin1Bytes(s: string, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  for (let i = start; i < end; i++) out[i - start] = s.charCodeAt(i) & 0xff;
  return out;
}

/** Value of a hex digit by char code, -1 if none. */
const HEX_DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_DIGIT['0123456789abcdef'.charCodeAt(i)] = i;
  HEX_DIGIT['0123456789ABCDEF'.charCodeAt(i)] = i;
}

function hexDigit(c: number): number {
  return c < 128 ? HEX_DIGIT[c]! : -1;
}

/** Whether s[start, end) is `0x` and one or more hex digits. */
function isHexKey(s: string, start: number, end: number): boolean {
  if (end - start < 3 || s.charCodeAt(start) !== 48 || (s.charCodeAt(start + 1) | 0x20) !== 120) return false;
  for (let i = start + 2; i < end; i++) if (hexDigit(s.charCodeAt(i)) < 0) return false;
  return true;
}

/** `0x...` as bytes, undefined if it is not that; an odd digit count makes the first digit a byte of its own (parse.y key_string). */
function hexKey(s: string, start: number, end: number): Uint8Array | undefined {
  if (end - start < 3 || s.charCodeAt(start) !== 48 || (s.charCodeAt(start + 1) | 0x20) !== 120) return undefined;
  let i = start + 2;
  const digits = end - i;
  const out = new Uint8Array((digits + 1) >> 1);
  let k = 0;
  let bad = 0;
  if (digits % 2) bad |= out[k++] = hexDigit(s.charCodeAt(i++));
  for (; i < end; i += 2) {
    const hi = hexDigit(s.charCodeAt(i));
    const lo = hexDigit(s.charCodeAt(i + 1));
    bad |= hi | lo;
    out[k++] = (hi << 4) | lo;
  }
  return bad < 0 ? undefined : out;
}

/**
 * The key after an algorithm. Its length is checked before its bytes are
 * made, so a megabyte-long key token is refused without a megabyte of key.
 */
function keyToken(p: ParserCore, alg: Algorithm, spelled: string): SaKey {
  const lx = p.lx;
  const quoted = lx.kind === Tok.QUOTED;
  const what = `the key for ${spelled}, as 0x... hexadecimal or a "quoted string"`;
  if (!quoted && lx.kind !== Tok.WORD) p.unexpected(what, true);
  const len = lx.stop - lx.start;
  const bits = (quoted ? len - 2 : (len - 1) >> 1) * 8;
  const fits = keyBitsAllowed(alg.keyBits, bits);
  const data = !fits ? undefined : quoted ? latin1Bytes(lx.src, lx.start + 1, lx.stop - 1) : hexKey(lx.src, lx.start, lx.stop);
  if (!quoted && !data && !isHexKey(lx.src, lx.start, lx.stop)) p.unexpected(what, true);
  if (!quoted && len % 2 === 1) p.warn(lx.tokLine, lx.tokCol, 'odd-hex-key', `the key for ${spelled} has an odd number of hex digits; its first digit becomes a byte of its own`);
  if (!data) p.fail('key-length', `the key for ${spelled} is ${bits} bits long`, `a key of ${describeKeyBits(alg.keyBits)}`);
  lx.advance();
  return { bits, data };
}

/** One `-E`/`-A` algorithm with its key. */
function algorithm(p: ParserCore, kind: AlgKind, proto: ProtoSpec | undefined, flags: number): { alg: Algorithm; key?: SaKey; flags: number } {
  p.lx.advance();
  const what = kind === 'enc' ? 'an encryption algorithm' : 'an authentication algorithm';
  const line = p.lx.tokLine;
  const col = p.lx.tokCol;
  const spelled = p.word(what);
  const variant = variantBySpelling(kind, spelled);
  const alg = algorithmByName(kind, variant ? variant.algorithm : spelled);
  if (!alg) p.fail('unknown-algorithm', `unknown ${kind === 'enc' ? 'encryption' : 'authentication'} algorithm ${quoteToken(spelled)}`, `one of ${spellings(kind).join(', ')}`);
  if (variant?.requires === 'old' && !proto?.old) p.fail('algorithm-mismatch', `${spelled} needs esp-old`, 'esp-old, or des-cbc');
  if (variant?.requires === 'new' && proto?.old) p.fail('algorithm-mismatch', `${spelled} cannot be used with ${proto.word}`, 'esp, or des-cbc');
  if (variant?.obsolete) p.warn(line, col, 'obsolete-algorithm', `obsolete algorithm ${quoteToken(spelled)} (the null cipher)`);
  if (alg.name === 'tcp-md5' && proto?.satype !== SaType.TCP) p.fail('tcp-md5-protocol', 'tcp-md5 needs protocol tcp', 'an algorithm for ' + (proto?.word ?? 'this protocol'));
  if (proto?.satype === SaType.TCP && alg.name !== 'tcp-md5') p.fail('tcp-algorithm', `protocol tcp takes only tcp-md5, not ${spelled}`, '-A tcp-md5 "password"');
  p.lx.advance();
  const out: { alg: Algorithm; key?: SaKey; flags: number } = { alg, flags: flags | (variant?.flags ?? 0) };
  if (alg.noKey) {
    if (p.lx.kind === Tok.QUOTED || (p.lx.kind === Tok.WORD && /^0[xX]/.test(p.lx.text()))) {
      p.fail('unexpected-key', `${spelled} takes no key`, kind === 'enc' ? "-A or ';'" : "';'");
    }
    // the reference still sends a 0-bit KEY_ENCRYPT for the null cipher, but no KEY_AUTH for null auth
    if (kind === 'enc') out.key = { bits: 0, data: new Uint8Array(0) };
    return out;
  }
  out.key = keyToken(p, alg, spelled);
  return out;
}

function algorithms(p: ParserCore, proto: ProtoSpec | undefined, flags: number): AlgChoice {
  const t = p.isWord() ? p.lx.text() : '';
  const choice: AlgChoice = { flags };
  if (t === '-E') {
    const e = algorithm(p, 'enc', proto, flags);
    choice.enc = e.key ? { alg: e.alg.name, key: e.key } : { alg: e.alg.name };
    choice.flags = e.flags;
    if (p.isWord('-A')) {
      if (e.alg.aead) p.fail('aead-with-auth', `${e.alg.name} is an AEAD cipher and authenticates by itself`, "';' (no -A with a combined-mode cipher)");
      const a = algorithm(p, 'auth', proto, choice.flags);
      choice.auth = a.key ? { alg: a.alg.name, key: a.key } : { alg: a.alg.name };
    }
  } else if (t === '-A') {
    const a = algorithm(p, 'auth', proto, flags);
    choice.auth = a.key ? { alg: a.alg.name, key: a.key } : { alg: a.alg.name };
  } else if (t === '-C') {
    p.lx.advance();
    const name = p.word('a compression algorithm: deflate, lzs, oui or lzjh');
    const alg = algorithmByName('comp', name);
    if (!alg) p.fail('unknown-algorithm', `unknown compression algorithm ${quoteToken(name)}`, `one of ${spellings('comp').join(', ')}`);
    p.lx.advance();
    choice.enc = { alg: alg.name };
    if (p.isWord('-R')) {
      choice.flags |= SaFlag.RAWCPI;
      p.lx.advance();
    }
  } else {
    // where -E was expected: a word here may be a key whose -E was left out
    p.unexpected('an algorithm: -E, -A or -C (or an option such as -m, -u, -r, -f, -lh, -ls, -bh, -bs, -ctx, -esn)', true);
  }
  return choice;
}

function warnCombination(p: ParserCore, proto: ProtoSpec | undefined, a: AlgChoice, line: number, col: number): void {
  if (!proto) return;
  if (proto.satype === SaType.IPCOMP && (a.auth || (a.enc && algorithmByName('comp', a.enc.alg) === undefined))) {
    p.warn(line, col, 'algorithm-protocol', 'IPComp takes -C only; a kernel refuses other algorithms');
  } else if (proto.satype !== SaType.IPCOMP && a.enc && algorithmByName('comp', a.enc.alg) !== undefined && algorithmByName('enc', a.enc.alg) === undefined) {
    p.warn(line, col, 'algorithm-protocol', `-C is for ipcomp; on ${proto.word} the number is read as a cipher`);
  } else if (proto.satype === SaType.ESP && !a.enc) {
    p.warn(line, col, 'esp-without-cipher', 'ESP without -E: a Linux kernel refuses an ESP SA without an encryption key');
  } else if (proto.satype === SaType.AH && a.enc) {
    p.warn(line, col, 'ah-with-cipher', 'AH with -E: AH does not encrypt; a kernel refuses or ignores the cipher');
  }
}

function natt(proto: ProtoSpec | undefined, src: Endpoint, dst: Endpoint, oa: IpAddress | undefined): NatT | undefined {
  if (!proto?.natt) return undefined;
  // parse.y get_port(): a zero port means the IKE NAT-T port 4500 (RFC 3948)
  const n = { type: UDP_ENCAP_ESPINUDP, sport: src.port || 4500, dport: dst.port || 4500 };
  return oa ? { ...n, oa } : n;
}

/** add, update, get, delete, getspi. */
export function saStatement(p: ParserCore, kind: 'add' | 'update' | 'get' | 'delete' | 'getspi', line: number, col: number): Statement {
  p.lx.advance();
  const flags = p.addrFlags();
  const pair = addressPair(p, flags, true);
  const proto = protocol(p, true);
  if (!proto.v) p.warn(proto.line, proto.col, 'no-protocol', 'no protocol given: the SA type is 0, which a kernel refuses');
  let oa: IpAddress | undefined;
  const hosts: HostRefs = pair.hosts ?? {};
  if (proto.v?.natt && p.lx.kind === Tok.WORD && ParserCore.numberWord(p.lx.text()) === undefined && p.lx.text().charCodeAt(0) !== 45) {
    const oaLine = p.lx.tokLine;
    const oaCol = p.lx.tokCol;
    const w = p.addrWord(flags, 'the NAT-T original address');
    oa = w.lit ?? placeholder(flags.family);
    if (w.host !== undefined) hosts.oa = { name: w.host, port: 0, family: flags.family, line: oaLine, col: oaCol };
  }
  let spiRange: { min: number; max: number } | undefined;
  let spiValue: number;
  if (kind === 'getspi' && p.lx.kind === Tok.WORD && /^[0-9a-fA-Fx]+-[0-9a-fA-Fx]+$/.test(p.lx.text())) {
    const [a, b] = p.lx.text().split('-') as [string, string];
    const min = ParserCore.numberWord(a);
    const max = ParserCore.numberWord(b);
    if (min === undefined || max === undefined || min < 256 || max > 0xffffffff || min > max) {
      p.fail('spi-range', `bad SPI range ${quoteToken(p.lx.text())}`, 'MIN-MAX with 256 <= MIN <= MAX <= 4294967295');
    }
    spiRange = { min, max };
    spiValue = 0;
    p.lx.advance();
  } else if (kind === 'getspi' && (p.lx.kind !== Tok.WORD || p.lx.text().charCodeAt(0) === 45)) {
    spiValue = 0;
  } else {
    spiValue = spi(p, proto.v, kind === 'getspi');
    if (kind === 'getspi' && spiValue !== 0) spiRange = { min: spiValue, max: spiValue };
  }
  if (proto.v?.satype === SaType.TCP && spiValue !== 0x1000 && kind !== 'getspi') {
    p.fail('tcp-md5-spi', 'a TCP-MD5 SA uses SPI 0x1000', 'SPI 0x1000 (4096)');
  }
  const baseFlags = SaFlag.CYCSEQ | (proto.v?.old ? SaFlag.OLD : 0);
  const ext = extensions(p, proto.v, baseFlags);
  let algs: AlgChoice = { flags: ext.flags };
  const algLine = p.lx.tokLine;
  const algCol = p.lx.tokCol;
  if (kind === 'add' || kind === 'update') {
    algs = algorithms(p, proto.v, ext.flags);
    warnCombination(p, proto.v, algs, algLine, algCol);
  } else {
    if ((kind === 'get' || kind === 'delete') && ext.modeAt) p.warn(ext.modeAt.line, ext.modeAt.col, 'mode-obsolete', `-m has no effect on ${kind} (mode is obsolete there)`);
    if (kind !== 'getspi' && ext.ignoredAt) p.warn(ext.ignoredAt.line, ext.ignoredAt.col, 'option-ignored', `${ext.ignoredAt.what} has no effect on ${kind}`);
  }
  if (p.lx.kind !== Tok.SEMI) {
    // after an algorithm or its key: a word here may be (more of) a key
    if (kind === 'add' || kind === 'update') p.unexpected("';'", true);
    p.unexpected("an option (-m, -u, -r, -f, -lh, -ls, -bh, -bs, -ctx, -esn) or ';'", true);
  }
  const hard = lifetimeOf(ext.lh, ext.bh);
  const soft = lifetimeOf(ext.ls, ext.bs);
  const n = natt(proto.v, pair.src, pair.dst, oa);
  // optional fields are set only when present (no spreads: this runs once per statement of large files)
  const sa: Mutable<SaParams> = {
    satype: proto.v?.satype ?? SaType.UNSPEC,
    src: pair.src,
    dst: pair.dst,
    spi: spiValue,
    mode: ext.mode,
    reqid: ext.reqid,
    replay: ext.replay,
    flags: algs.flags,
    esn: ext.esn,
  };
  if (algs.enc) sa.enc = algs.enc;
  if (algs.auth) sa.auth = algs.auth;
  if (hard) sa.hard = hard;
  if (soft) sa.soft = soft;
  if (ext.ctx) sa.ctx = ext.ctx;
  if (n) sa.natt = n;
  const pos: SourcePos = p.pos(line, col);
  const cmd: Command = kind === 'add' || kind === 'update' ? { kind, pos, sa } : spiRange ? { kind, pos, sa, spiRange } : { kind, pos, sa };
  p.lx.advance();
  return hosts.src || hosts.dst || hosts.oa ? { cmd, hosts } : { cmd };
}

export function deleteAllStatement(p: ParserCore, line: number, col: number): Statement {
  p.lx.advance();
  const flags = p.addrFlags();
  const pair = addressPair(p, flags, false);
  const proto = protocol(p, true);
  if (p.lx.kind !== Tok.SEMI) p.unexpected(proto.v ? "';'" : `${PROTO_EXPECTED}, or ';'`);
  const cmd: Command = {
    kind: 'deleteall',
    pos: p.pos(line, col),
    satype: proto.v?.satype ?? SaType.UNSPEC,
    src: pair.src.addr,
    dst: pair.dst.addr,
    flags: SaFlag.CYCSEQ | (proto.v?.old ? SaFlag.OLD : 0),
  };
  p.lx.advance();
  return pair.hosts ? { cmd, hosts: pair.hosts } : { cmd };
}

export function satypeStatement(p: ParserCore, kind: 'flush' | 'dump', line: number, col: number): Statement {
  p.lx.advance();
  const proto = protocol(p, true);
  if (p.lx.kind !== Tok.SEMI) p.unexpected(proto.v ? "';'" : `${PROTO_EXPECTED}, or ';'`);
  const cmd: Command = { kind, pos: p.pos(line, col), satype: proto.v?.satype ?? SaType.UNSPEC };
  p.lx.advance();
  return { cmd };
}
