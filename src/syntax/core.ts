/**
 * Shared machinery of the statement parser: token access, errors as values
 * thrown to the statement loop, numbers, address flags and address words.
 */
import { formatIp, parseIpLiteral, type Family, type IpAddress } from '../model/address.js';
import type { SourcePos } from '../model/command.js';
import type { Diagnostic } from './diagnostics.js';
import { Lexer, Tok } from './lexer.js';
import type { SystemDb } from './sysdb.js';
import { escapeControls, looksLikeKey, quoteToken, redactedShape, showToken } from './redact.js';
import { nearest, type SuggestOptions } from './suggest.js';

/**
 * Thrown inside a statement; the statement loop records it and skips to the
 * next ';', or to the command word that begins the next statement where this
 * one lacked its ';'.
 */
export class StatementError {
  constructor(readonly diag: Diagnostic) {}
}

/** A host name the statement used where an address goes; resolved after parsing. */
export interface HostSpec {
  readonly name: string;
  readonly port: number;
  /** 0 = any family (from -4/-6) */
  readonly family: 0 | Family;
  readonly line: number;
  readonly col: number;
}

/** An address word: a literal, or a host name to resolve. */
export type AddrWord = { readonly lit: IpAddress; readonly host?: undefined } | { readonly lit?: undefined; readonly host: string };

export interface AddrFlags {
  family: 0 | Family;
  numeric: boolean;
}

const HOSTNAME = /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const DEC = /^[0-9]+$/;

/** An unsigned decimal word's value (Infinity beyond 2^53), undefined if not all digits. */
export function decimalValue(t: string): number | undefined {
  if (t.length === 0) return undefined;
  let v = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    v = v * 10 + c;
  }
  return v > Number.MAX_SAFE_INTEGER ? Infinity : v;
}

/** Messages name what a missing ';' follows; a name longer than this is cut (from its start: its end is where the ';' goes). */
const WHAT_MAX = 48;

/** A value of one part of an inet_aton address, as strtoul(base 0) reads it; undefined if not all digits of its base. */
function atonPart(p: string): { v: number; base: number } | undefined {
  let base = 10;
  let digits = p;
  if (/^0[xX]/.test(p)) {
    base = 16;
    digits = p.slice(2);
  } else if (p.length > 1 && p.charCodeAt(0) === 48) {
    base = 8;
    digits = p.slice(1);
  }
  if (digits.length === 0 || digits.length > 12) return undefined;
  const re = base === 16 ? /^[0-9a-fA-F]+$/ : base === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  return re.test(digits) ? { v: parseInt(digits, base), base } : undefined;
}

/**
 * An IPv4 address in one of inet_aton's other forms, which ipsec-tools took
 * through getaddrinfo: two or three parts (`10.1` is 10.0.0.1, the last part
 * fills the bytes left) and octal or hex parts (`010.0.0.1` is 8.0.0.1).
 * Undefined if `t` is none (a plain dotted quad is parseIpLiteral's; a
 * number alone was a syntax error in the reference). `note` says how it was read.
 */
export function inetAton(t: string): { addr: IpAddress; note: string } | undefined {
  const parts = t.split('.');
  if (parts.length < 2 || parts.length > 4) return undefined;
  const vals: number[] = [];
  const bases = new Set<number>();
  for (const p of parts) {
    const v = atonPart(p);
    if (!v) return undefined;
    bases.add(v.base);
    vals.push(v.v);
  }
  const last = vals.pop()!;
  if (vals.some((v) => v > 255) || last >= 2 ** (8 * (4 - vals.length))) return undefined;
  const bytes = new Uint8Array(4);
  vals.forEach((v, i) => (bytes[i] = v));
  for (let i = 3, rest = last; i >= vals.length; i--, rest = Math.floor(rest / 256)) bytes[i] = rest % 256;
  const addr: IpAddress = { family: 4, bytes, scopeId: 0 };
  const how = [parts.length < 4 ? `its last part fills ${5 - parts.length} bytes` : '', bases.has(8) ? 'a leading 0 makes a part octal' : '', bases.has(16) ? '0x makes a part hexadecimal' : ''].filter((x) => x).join('; ');
  return { addr, note: `${quoteToken(t)} is read as ${formatIp(addr)} (inet_aton: ${how}), as ipsec-tools read it; write ${formatIp(addr)}` };
}

export class ParserCore {
  readonly lx: Lexer;
  readonly warnings: Diagnostic[] = [];
  /** the statement being parsed: its command word and where it begins */
  stmtCmd = '';
  stmtStart = 0;
  /** what the token ending at `stop` is, for "after ..." (a key is named by its role, never shown) */
  private what: { stop: number; text: string | (() => string) } | undefined;
  constructor(
    readonly src: string,
    readonly file: string,
    readonly sys: SystemDb,
    start: number,
    end: number,
    firstLine: number,
    firstLineStart = start,
    quotedLines?: number[],
  ) {
    this.lx = new Lexer(src, start, end, firstLine, firstLineStart, quotedLines);
  }

  diag(line: number, col: number, code: string, message: string, expected?: string, severity: 'error' | 'warning' = 'error'): Diagnostic {
    return expected === undefined ? { severity, code, file: this.file, line, col, message } : { severity, code, file: this.file, line, col, message, expected };
  }

  /** Throw an error at the current token. */
  fail(code: string, message: string, expected?: string): never {
    throw new StatementError(this.diag(this.lx.tokLine, this.lx.tokCol, code, message, expected));
  }

  failAt(line: number, col: number, code: string, message: string, expected?: string): never {
    throw new StatementError(this.diag(line, col, code, message, expected));
  }

  /**
   * Fail at the current token naming the nearest of `candidates` when one is
   * near ("...; did you mean 'x'?"), else with what was expected.
   */
  failNear(code: string, message: string, word: string, candidates: Iterable<string>, expected: string, opts?: SuggestOptions): never {
    const s = nearest(word, candidates, opts);
    if (s !== undefined) this.fail(code, `${message}; did you mean '${s}'?`);
    this.fail(code, message, expected);
  }

  warn(line: number, col: number, code: string, message: string): void {
    this.warnings.push(this.diag(line, col, code, message, undefined, 'warning'));
  }

  /** A short description of the current token for "found ..." messages. */
  found(): string {
    const lx = this.lx;
    switch (lx.kind) {
      case Tok.EOF:
        return 'end of input';
      case Tok.SEMI:
        return "';'";
      case Tok.SLASH:
        return "'/'";
      case Tok.LBRACKET:
        return "'['";
      case Tok.RBRACKET:
        return "']'";
      case Tok.QUOTED:
        return 'quoted string';
      case Tok.UNTERMINATED:
        return 'unterminated quoted string';
      case Tok.BAD:
        return `the character '${escapeControls(lx.text())}'`;
      default:
        return quoteToken(lx.text());
    }
  }

  /**
   * Fail with "unexpected X; expected Y" at the current token. With `secret`
   * the token stands where a key may (after an algorithm, after a key, after
   * the SPI of add/update): a word there is described by its shape only,
   * whatever it looks like (a key with a typo in it is still a key).
   * A command word or the end of the input there means the statement was
   * cut short: that is reported just after its last token (cutShort).
   */
  unexpected(expected: string, secret = false): never {
    const lx = this.lx;
    if (lx.kind === Tok.EOF || this.isCommandWord()) this.cutShort(expected);
    if (secret && lx.kind === Tok.WORD && lx.src.charCodeAt(lx.start) !== 45) this.fail('syntax', `unexpected ${redactedShape(lx.text())}`, expected);
    if (this.lx.kind === Tok.BAD) this.fail('bad-char', `unexpected character '${escapeControls(this.lx.text())}'`, expected);
    if (this.lx.kind === Tok.UNTERMINATED) this.fail('unterminated-string', 'unterminated quoted string', 'a closing "');
    this.fail('syntax', `unexpected ${this.found()}`, expected);
  }

  /** The current token is a word that begins a statement (the reference reserves them everywhere). */
  isCommandWord(): boolean {
    return this.lx.isCommandWord();
  }

  /**
   * The statement ends (the input ends, or the next statement begins) where
   * `expected` was due: report it just after the statement's last token, as
   * `expected ';' after ...` when a ';' would have completed it, and go on
   * with the next statement (the error does not swallow it).
   */
  cutShort(expected: string): never {
    const lx = this.lx;
    const semi = expected.includes("';'");
    const message = `expected ${semi ? "';'" : expected} after ${this.describePrev()}`;
    const code = semi || lx.kind === Tok.EOF ? 'missing-semicolon' : 'incomplete-statement';
    this.failAt(lx.prevLine, lx.prevEndCol, code, message);
  }

  /** Name the current token for a later "after ..." (call before advancing past it); a function is called only if a message needs it. */
  noteWhat(text: string | (() => string)): void {
    this.what = { stop: this.lx.stop, text };
  }

  /** Name the previous token (the lexer has advanced past it already). */
  notePrevWhat(text: string | (() => string)): void {
    this.what = { stop: this.lx.prevStop, text };
  }

  /**
   * What the statement's last token is, for "expected ';' after ...": a
   * name a statement gave it (the key of aes-cbc, the policy), else the
   * statement so far if it is short, else its command word and that token.
   */
  describePrev(): string {
    const lx = this.lx;
    if (this.what && this.what.stop === lx.prevStop) return typeof this.what.text === 'string' ? this.what.text : this.what.text();
    const prev = lx.src.slice(lx.prevStart, lx.prevStop);
    if (prev === this.stmtCmd) return `'${escapeControls(prev)}'`;
    // the statement so far, when short; never for add/update, whose text may hold a key
    const keyed = this.stmtCmd === 'add' || this.stmtCmd === 'update';
    const so = keyed ? '' : lx.src.slice(this.stmtStart, lx.prevStop).replace(/\s+/g, ' ');
    if (!keyed && so.length <= WHAT_MAX && !/["#]/.test(so) && !looksLikeKey(so)) return `'${escapeControls(so)}'`;
    if (looksLikeKey(prev) || prev.includes('"')) return `'${this.stmtCmd} ...'`;
    return `'${this.stmtCmd} ... ${escapeControls(prev.length > WHAT_MAX ? prev.slice(0, WHAT_MAX - 3) + '...' : prev)}'`;
  }

  /** `'CMD ... TEXT'` for a name, cut from its start when long (the end is where the ';' belongs). */
  tailName(text: string): string {
    const t = escapeControls(text.trim().replace(/\s+/g, ' '));
    return `'${this.stmtCmd} ... ${t.length > WHAT_MAX ? '...' + t.slice(t.length - WHAT_MAX + 3) : t}'`;
  }

  isWord(w?: string): boolean {
    return this.lx.kind === Tok.WORD && (w === undefined || this.lx.is(w));
  }

  /** The current word's text (fails with `expected` if the token is not a word). */
  word(expected: string): string {
    if (this.lx.kind !== Tok.WORD || this.isCommandWord()) this.unexpected(expected);
    return this.lx.text();
  }

  expect(kind: Tok, expected: string): void {
    if (this.lx.kind !== kind) this.unexpected(expected);
    this.lx.advance();
  }

  pos(line: number, col: number): SourcePos {
    return { file: this.file, line, col, endLine: this.lx.tokLine };
  }

  /** Parse the current word as an unsigned decimal no larger than `max` and advance. */
  decimal(what: string, max: number): number {
    const t = this.word(what);
    const v = decimalValue(t);
    if (v === undefined) this.fail('not-a-number', `${quoteToken(t)} is not a decimal number`, what);
    if (v > max) this.fail('out-of-range', `${showToken(t)} is too large`, `${what} (at most ${max})`);
    this.lx.advance();
    return v;
  }

  /** Unsigned 64-bit decimal (lifetimes in bytes or seconds). */
  decimal64(what: string): bigint {
    const t = this.word(what);
    if (!DEC.test(t)) this.fail('not-a-number', `${quoteToken(t)} is not a decimal number`, what);
    // more than 20 significant digits cannot fit: no BigInt of a megabyte of digits
    const digits = t.replace(/^0+(?=.)/, '');
    const v = digits.length > 20 ? 0x10000000000000000n : BigInt(digits);
    if (v > 0xffffffffffffffffn) this.fail('out-of-range', `${showToken(t)} does not fit in 64 bits`, `${what} (at most 18446744073709551615)`);
    this.lx.advance();
    return v;
  }

  /** A decimal or 0x hexadecimal word as a number; undefined if neither. Values beyond 2^53 come back as Infinity. */
  static numberWord(t: string): number | undefined {
    if (t.length > 2 && t.charCodeAt(0) === 48 && (t.charCodeAt(1) | 0x20) === 120) {
      let v = 0;
      for (let i = 2; i < t.length; i++) {
        const c = t.charCodeAt(i);
        const d = c >= 48 && c <= 57 ? c - 48 : (c | 0x20) >= 97 && (c | 0x20) <= 102 ? (c | 0x20) - 87 : -1;
        if (d < 0) return undefined;
        v = v * 16 + d;
      }
      return v > Number.MAX_SAFE_INTEGER ? Infinity : v;
    }
    return decimalValue(t);
  }

  /** `-4 -6 -n` and their combinations (`-6n`); the last family given wins, as in the reference. */
  addrFlags(): AddrFlags {
    const f: AddrFlags = { family: 0, numeric: false };
    while (this.lx.kind === Tok.WORD) {
      const t = this.lx.text();
      if (t.length < 2 || t.charCodeAt(0) !== 45 || !/^-[46n]+$/.test(t)) {
        if (/^-[0-9a-z]+$/.test(t) && /^-[46n]/.test(t)) this.fail('address-flag', `unknown address flag ${quoteToken(t)}`, 'a combination of -4, -6 and -n');
        break;
      }
      for (const c of t.slice(1)) {
        if (c === '4') f.family = 4;
        else if (c === '6') f.family = 6;
        else f.numeric = true;
      }
      this.lx.advance();
    }
    return f;
  }

  /** An address word: literal (checked against -4/-6) or a host name (refused under -n). */
  addrWord(flags: AddrFlags, what: string): AddrWord {
    const t = this.word(what);
    if (t.charCodeAt(0) === 45) this.unexpected(what);
    const lit = parseIpLiteral(t);
    if (lit) {
      let addr = lit.addr;
      if (lit.zone !== undefined && !DEC.test(lit.zone)) {
        const idx = this.sys.ifIndex(lit.zone);
        if (idx === undefined) this.fail('unknown-zone', `unknown interface ${quoteToken(lit.zone)} in ${quoteToken(t)}`, 'an existing interface name or index after %');
        addr = { ...addr, scopeId: idx };
      }
      if (flags.family !== 0 && flags.family !== addr.family) {
        this.fail('family-flag', `${quoteToken(t)} is an IPv${addr.family} address but -${flags.family} was given`, `an IPv${flags.family} address`);
      }
      this.lx.advance();
      return { lit: addr };
    }
    const aton = inetAton(t);
    if (aton) {
      if (flags.family === 6) this.fail('family-flag', `${quoteToken(t)} is an IPv4 address but -6 was given`, 'an IPv6 address');
      this.warn(this.lx.tokLine, this.lx.tokCol, 'inet-aton', aton.note);
      this.lx.advance();
      return { lit: aton.addr };
    }
    if (/^[0-9]+$/.test(t)) this.fail('bad-address', `${quoteToken(t)} is not an address (a port goes in brackets after its address, like 192.0.2.1[${t.length <= 5 ? t : 500}])`, what);
    if (/^[0-9.]+$/.test(t)) this.fail('bad-address', `${quoteToken(t)} is not a valid IPv4 address`, 'four decimal numbers from 0 to 255, like 192.0.2.1');
    if (t.includes(':')) this.fail('bad-address', `${quoteToken(t)} is not a valid IPv6 address`, 'an IPv6 address like 2001:db8::1');
    if (!HOSTNAME.test(t)) this.fail('bad-address', `${quoteToken(t)} is neither an IP address nor a host name`, what);
    if (flags.numeric) this.fail('numeric-only', `${quoteToken(t)} is a host name but -n allows numeric addresses only`, 'a numeric IPv4 or IPv6 address');
    this.lx.advance();
    return { host: t };
  }

  /** `[port]`, `[any]` or `[service]`; returns the port, or -1 if there is no bracket. */
  portSpec(proto?: string): number {
    if (this.lx.kind !== Tok.LBRACKET) return -1;
    this.lx.advance();
    const line = this.lx.tokLine;
    const col = this.lx.tokCol;
    const t = this.word("a port number, 'any' or a service name");
    let port: number;
    if (t === 'any') port = 0;
    else if (DEC.test(t)) {
      if (t.length > 5 || Number(t) > 65535) this.fail('port-range', `port ${showToken(t)} is out of range`, 'a port from 0 to 65535');
      port = Number(t);
    } else {
      const p = this.sys.serviceByName(t, proto);
      if (p === undefined) this.failAt(line, col, 'unknown-service', `unknown service ${quoteToken(t)}`, 'a port number or a name from the services database');
      port = p;
    }
    this.lx.advance();
    this.expect(Tok.RBRACKET, "']'");
    return port;
  }
}
