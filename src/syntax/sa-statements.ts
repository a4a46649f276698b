/**
 * SA statements, after ipsec-tools src/setkey/parse.y:
 *
 *   add|update [-46n] SRC[port] DST[port] PROTO SPI EXT* ALGS ;
 *   get|delete [-46n] SRC[port] DST[port] PROTO SPI EXT* ;
 *   getspi     [-46n] SRC[port] DST[port] PROTO [SPI|MIN-MAX] EXT* ;     (NetBSD)
 *   deleteall  [-46n] SRC DST [PROTO] ;
 *   flush [PROTO] ;   dump [PROTO] ;
 *
 * with the reference's checks plus the ones design.md §2 adds (SPI 0 and
 * oversized SPIs, key lengths, AEAD with -A, TCP-MD5 rules). SPIs 1 to 255,
 * which RFC 4303 reserves but Linux takes and real configurations use, are
 * accepted with a warning.
 */
import { ALGORITHMS, algorithmByName, describeKeyBits, keyBitsAllowed, spellings, variantBySpelling, type Algorithm, type AlgKind } from '../model/algorithms.js';
import type { Endpoint, IpAddress } from '../model/address.js';
import type { Command, SourcePos } from '../model/command.js';
import type { Lifetime, Mutable, NatT, SaKey, SaParams, SecCtx } from '../model/sa.js';
import { modeTable, SaFlag, SaType, UDP_ENCAP_ESPINUDP, padFlagTable } from '../model/tables.js';
import { ParserCore, type AddrFlags, type AddrWord, type HostSpec } from './core.js';
import { Tok } from './lexer.js';
import { quoteToken, showToken } from './redact.js';
import type { SuggestOptions } from './suggest.js';

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

// a Map, not an object: a word such as `constructor` must find nothing (it found Object's own, and was taken as a protocol)
const PROTOCOLS: ReadonlyMap<string, ProtoSpec> = new Map([
  ['esp', { satype: SaType.ESP, old: false, natt: false, word: 'esp' }],
  ['esp-old', { satype: SaType.ESP, old: true, natt: false, word: 'esp-old' }],
  ['ah', { satype: SaType.AH, old: false, natt: false, word: 'ah' }],
  ['ah-old', { satype: SaType.AH, old: true, natt: false, word: 'ah-old' }],
  ['esp-udp', { satype: SaType.ESP, old: false, natt: true, word: 'esp-udp' }],
  ['ipcomp', { satype: SaType.IPCOMP, old: false, natt: false, word: 'ipcomp' }],
  ['tcp', { satype: SaType.TCP, old: false, natt: false, word: 'tcp' }],
]);
const PROTO_EXPECTED = 'a protocol: esp, esp-old, ah, ah-old, esp-udp, ipcomp or tcp';
const PROTO_WORDS = [...PROTOCOLS.keys()];

/** A word where a protocol may stand that is none: a misspelt one (with the nearest) or not a protocol at all. */
function notAProtocol(p: ParserCore, expected: string): never {
  const t = p.lx.kind === Tok.WORD && !p.isCommandWord() ? p.lx.text() : '';
  if (t === '' || t.charCodeAt(0) === 45 || ParserCore.numberWord(t) !== undefined) p.unexpected(expected);
  p.failNear('unknown-protocol', `unknown protocol ${quoteToken(t)}`, t, PROTO_WORDS, expected);
}

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
    const spec = PROTOCOLS.get(p.lx.text());
    if (spec) {
      p.lx.advance();
      return { v: spec, line, col };
    }
  }
  if (!optional) p.unexpected(PROTO_EXPECTED);
  return { v: undefined, line, col };
}

/**
 * SPI: decimal or 0x hex, up to 2^32-1 (an IPComp CPI up to 65535: the kernel
 * refuses more, xfrm_user.c verify_newsa_info). 0 is refused except where
 * `allowZero` (getspi: the kernel picks one): RFC 4303 section 2.1 keeps it
 * for local use, never on the wire.
 */
function spi(p: ParserCore, proto: ProtoSpec | undefined, allowZero: boolean): number {
  const t = p.word(proto ? 'an SPI (decimal or 0x hexadecimal)' : `${PROTO_EXPECTED}, then an SPI`);
  const v = ParserCore.numberWord(t);
  if (v === undefined) {
    if (!proto) notAProtocol(p, PROTO_EXPECTED);
    p.fail('bad-spi', `${quoteToken(t)} is not an SPI`, 'a decimal or 0x hexadecimal number');
  }
  const ipcomp = proto?.satype === SaType.IPCOMP;
  const max = ipcomp ? 0xffff : 0xffffffff;
  if (v > max) {
    p.fail('spi-range', ipcomp ? `CPI ${showToken(t)} does not fit in 16 bits` : `SPI ${showToken(t)} does not fit in 32 bits`, ipcomp ? 'a CPI from 256 to 65535' : 'an SPI from 256 to 4294967295');
  }
  if (v === 0 && !allowZero) {
    p.fail(
      'spi-reserved',
      ipcomp ? `CPI ${showToken(t)} is reserved (RFC 3173 section 3.3)` : `SPI ${showToken(t)} is reserved for local use and never names an SA on the wire (RFC 4303 section 2.1)`,
      ipcomp ? 'a CPI from 256 to 65535' : 'an SPI from 256 to 4294967295',
    );
  }
  p.noteWhat(() => `the ${ipcomp ? 'CPI' : 'SPI'} ${showToken(t)}`);
  p.lx.advance();
  return v;
}

/**
 * SPIs 1-255 are reserved by IANA (RFC 4303 section 2.1) but a Linux kernel
 * takes them, and real configurations use them: a warning where an SA gets
 * one. IPComp CPIs 1-63 are the well-known CPIs, each the number of its
 * compression algorithm, and 64-255 are reserved (RFC 3173 section 3.3).
 */
function warnReservedSpi(p: ParserCore, proto: ProtoSpec | undefined, v: number, at: { line: number; col: number }, comp: string | undefined, range?: { min: number; max: number }): void {
  if (v === 0 || v > 255) return;
  if (range && range.min !== range.max) {
    p.warn(at.line, at.col, proto?.satype === SaType.IPCOMP ? 'cpi-reserved' : 'spi-reserved', `the range ${range.min}-${range.max} includes ${proto?.satype === SaType.IPCOMP ? 'CPIs' : 'SPIs'} 1 to 255, which are reserved (${proto?.satype === SaType.IPCOMP ? 'RFC 3173 section 3.3' : 'RFC 4303 section 2.1'}); Linux may hand one out`);
    return;
  }
  if (proto?.satype !== SaType.IPCOMP) {
    p.warn(at.line, at.col, 'spi-reserved', `SPI ${v} is reserved by IANA (RFC 4303 section 2.1: SPIs 1 to 255 are reserved for future use); Linux takes it, other IPsec implementations may refuse it`);
    return;
  }
  const alg = comp === undefined ? undefined : algorithmByName('comp', comp);
  const id = alg ? (alg.ids.linux ?? alg.ids.freebsd) : undefined;
  if (v === id) return;
  const message =
    v < 64
      ? `CPI ${v} is a well-known CPI (RFC 3173 section 3.3: CPIs 1 to 63 each stand for the compression algorithm of that number${alg && id !== undefined ? `; ${alg.name}'s is ${id}` : ''}); Linux takes it, a peer may read it as another algorithm`
      : `CPI ${v} is reserved (RFC 3173 section 3.3: CPIs 64 to 255 are reserved for future use); Linux takes it, a peer may refuse it`;
  p.warn(at.line, at.col, 'cpi-reserved', message);
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
  p.noteWhat('the security context string');
  p.lx.advance();
  if (doi === 0) {
    // the reference sends no SEC_CTX extension when the DOI is 0
    p.warn(line, col, 'ctx-doi-zero', 'security context with DOI 0 is not sent');
    return undefined;
  }
  return { doi, alg, ctx };
}

const NOCYCLIC = 'nocyclic-seq';

function extensions(p: ParserCore, proto: ProtoSpec | undefined, base: number): Extensions {
  const e: Extensions = { mode: modeTable.byName.get('any')!, reqid: 0, replay: 0, flags: base, esn: false, lh: 0n, ls: 0n, bh: 0n, bs: 0n };
  for (;;) {
    if (p.lx.kind !== Tok.WORD) return e;
    const t = p.lx.text();
    const line = p.lx.tokLine;
    const col = p.lx.tokCol;
    switch (t) {
      case '-m': {
        p.lx.advance();
        const m = p.word('transport, tunnel or any');
        const mode = modeTable.byName.get(m);
        if (mode === undefined) p.failNear('bad-mode', `unknown mode ${quoteToken(m)}`, m, modeTable.byName.keys(), 'transport, tunnel or any');
        e.mode = mode;
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
        else if (f === NOCYCLIC) e.flags &= ~SaFlag.CYCSEQ;
        else p.failNear('bad-flag', `unknown flag ${quoteToken(f)}`, f, [...padFlagTable.byName.keys(), NOCYCLIC], 'zero-pad, random-pad, seq-pad or nocyclic-seq');
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
  p.noteWhat(() => `the key of ${spelled}`);
  lx.advance();
  return { bits, data };
}

const KIND_WORD: Record<AlgKind, string> = { enc: 'encryption', auth: 'authentication', comp: 'compression' };

/** What people drop from an algorithm's name ('sha1' for hmac-sha1, 'aes' for aes-cbc): close to it suggests the name. */
const SHORT_FORMS: SuggestOptions = {
  shortForms: (c) => {
    const out: string[] = [];
    if (c.startsWith('hmac-')) out.push(c.slice(5));
    if (c.endsWith('-cbc')) out.push(c.slice(0, -4));
    return out;
  },
};

/**
 * An algorithm name that is none: the nearest one if it is near, else a few
 * of the registry's common ones (the whole list is in setkey(8); a message
 * of twenty names helps nobody).
 */
function unknownAlgorithm(p: ParserCore, kind: AlgKind, spelled: string): never {
  const common = ALGORITHMS.filter((a) => a.kind === kind && a.common).map((a) => a.name);
  const all = spellings(kind);
  const such = common.length > 1 ? `${common.slice(0, -1).join(', ')} or ${common[common.length - 1]}` : common.join('');
  const expected = kind === 'comp' ? all.join(', ') : `an ${KIND_WORD[kind]} algorithm such as ${such} (setkey(8) lists all ${all.length})`;
  p.failNear('unknown-algorithm', `unknown ${KIND_WORD[kind]} algorithm ${quoteToken(spelled)}`, spelled, all, expected, SHORT_FORMS);
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
  if (!alg) unknownAlgorithm(p, kind, spelled);
  if (variant?.requires === 'old' && !proto?.old) p.fail('algorithm-mismatch', `${spelled} needs esp-old`, 'esp-old, or des-cbc');
  if (variant?.requires === 'new' && proto?.old) p.fail('algorithm-mismatch', `${spelled} cannot be used with ${proto.word}`, 'esp, or des-cbc');
  if (variant?.obsolete) p.warn(line, col, 'obsolete-algorithm', `obsolete algorithm ${quoteToken(spelled)} (the null cipher)`);
  p.noteWhat(() => `'${kind === 'enc' ? '-E' : '-A'} ${spelled}'`);
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
    const name = p.word(`a compression algorithm: ${spellings('comp').join(', ')}`);
    const alg = algorithmByName('comp', name);
    if (!alg) unknownAlgorithm(p, 'comp', name);
    p.noteWhat(() => `'-C ${name}'`);
    p.lx.advance();
    choice.enc = { alg: alg.name };
    if (p.isWord('-R')) {
      choice.flags |= SaFlag.RAWCPI;
      p.noteWhat(() => `'-C ${name} -R'`);
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

/** The options of SA statements (after the algorithms they are misplaced, not a key). */
const OPTION_WORDS: ReadonlySet<string> = new Set(['-m', '-u', '-r', '-f', '-lh', '-ls', '-bh', '-bs', '-ctx', '-esn']);

/**
 * `getspi ... MIN-MAX` (NetBSD): the SPIRANGE the kernel allocates from. It
 * refuses MIN > MAX and, for IPComp, MAX above 65535 (verify_spi_info); a
 * range from 0 could hand out SPI 0.
 */
function getspiRange(p: ParserCore, proto: ProtoSpec | undefined): { min: number; max: number } {
  const t = p.lx.text();
  const [a, b] = t.split('-') as [string, string];
  const min = ParserCore.numberWord(a);
  const max = ParserCore.numberWord(b);
  const top = proto?.satype === SaType.IPCOMP ? 0xffff : 0xffffffff;
  const expected = `MIN-MAX with 1 <= MIN <= MAX <= ${top}`;
  if (min === undefined || max === undefined) p.fail('spi-range', `bad SPI range ${quoteToken(t)}`, expected);
  if (min === 0) p.fail('spi-range', `SPI range ${quoteToken(t)} starts at 0, which is never an SA's SPI (RFC 4303 section 2.1)`, expected);
  if (max > top) p.fail('spi-range', `SPI range ${quoteToken(t)} goes beyond ${top}`, expected);
  if (min > max) p.fail('spi-range', `SPI range ${quoteToken(t)} starts above its end`, expected);
  p.noteWhat(() => `the SPI range ${showToken(t)}`);
  p.lx.advance();
  return { min, max };
}

/** add, update, get, delete, getspi. */
export function saStatement(p: ParserCore, kind: 'add' | 'update' | 'get' | 'delete' | 'getspi', line: number, col: number): Statement {
  p.lx.advance();
  const flags = p.addrFlags();
  const pair = addressPair(p, flags, true);
  const proto = protocol(p, true);
  let oa: IpAddress | undefined;
  const hosts: HostRefs = pair.hosts ?? {};
  if (proto.v?.natt && p.lx.kind === Tok.WORD && ParserCore.numberWord(p.lx.text()) === undefined && p.lx.text().charCodeAt(0) !== 45 && !p.isCommandWord()) {
    const oaLine = p.lx.tokLine;
    const oaCol = p.lx.tokCol;
    const w = p.addrWord(flags, 'the NAT-T original address');
    oa = w.lit ?? placeholder(flags.family);
    if (w.host !== undefined) hosts.oa = { name: w.host, port: 0, family: flags.family, line: oaLine, col: oaCol };
  }
  let spiRange: { min: number; max: number } | undefined;
  let spiValue: number;
  const spiAt = { line: p.lx.tokLine, col: p.lx.tokCol };
  if (kind === 'getspi' && p.lx.kind === Tok.WORD && /^[0-9a-fA-Fx]+-[0-9a-fA-Fx]+$/.test(p.lx.text())) {
    spiRange = getspiRange(p, proto.v);
    spiValue = 0;
  } else if (kind === 'getspi' && (p.lx.kind !== Tok.WORD || p.lx.text().charCodeAt(0) === 45 || p.isCommandWord())) {
    spiValue = 0;
  } else {
    spiValue = spi(p, proto.v, kind === 'getspi');
    if (kind === 'getspi' && spiValue !== 0) spiRange = { min: spiValue, max: spiValue };
  }
  // (after the SPI: a word where the protocol goes that is no number was a misspelt protocol, an error)
  if (!proto.v) p.warn(proto.line, proto.col, 'no-protocol', 'no protocol given: the SA type is 0, which a kernel refuses');
  if (proto.v?.satype === SaType.TCP && spiValue !== 0x1000 && kind !== 'getspi') {
    p.failAt(spiAt.line, spiAt.col, 'tcp-md5-spi', 'a TCP-MD5 SA uses SPI 0x1000', 'SPI 0x1000 (4096)');
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
    if (kind === 'add' || kind === 'update') {
      if (p.lx.kind === Tok.WORD && OPTION_WORDS.has(p.lx.text())) p.fail('option-order', `${p.lx.text()} after the algorithms`, `';' (options such as ${p.lx.text()} go before -E, -A and -C)`);
      p.unexpected("';'", true);
    }
    p.unexpected("an option (-m, -u, -r, -f, -lh, -ls, -bh, -bs, -ctx, -esn) or ';'", true);
  }
  // a reserved SPI is a warning where an SA gets it (get and delete name one that exists)
  if (kind === 'add' || kind === 'update' || kind === 'getspi') warnReservedSpi(p, proto.v, spiRange ? spiRange.min : spiValue, spiAt, algs.enc?.alg, spiRange);
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
  if (p.lx.kind !== Tok.SEMI) {
    if (proto.v) p.unexpected("';'");
    notAProtocol(p, `${PROTO_EXPECTED}, or ';'`);
  }
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
  if (p.lx.kind !== Tok.SEMI) {
    if (proto.v) p.unexpected("';'");
    notAProtocol(p, `${PROTO_EXPECTED}, or ';'`);
  }
  const cmd: Command = { kind, pos: p.pos(line, col), satype: proto.v?.satype ?? SaType.UNSPEC };
  p.lx.advance();
  return { cmd };
}
