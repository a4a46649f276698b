/**
 * SP statements, after ipsec-tools src/setkey/parse.y:
 *
 *   spdadd|spdupdate|spddelete [-46n] SRC[/plen][[port]] DST[/plen][[port]] UPPER [MISC] [-ctx D A "s"] -P POLICY ;
 *   spdadd|spdupdate tagged "name" -P POLICY ;
 *   spdflush ;   spddump ;
 *
 * UPPER is a number, `any`, `icmp6`, `ip4` or a name of the protocols
 * database; MISC is `type,code` for icmp/icmp6/mh, and for gre the key as
 * `a.b.c.d` or as a number (the setkey man page documents both).
 */
import { fullPrefix, type IpAddress } from '../model/address.js';
import type { Command } from '../model/command.js';
import type { Selector } from '../model/policy.js';
import type { SecCtx } from '../model/sa.js';
import { IpProto } from '../model/tables.js';
import { ParserCore, type AddrFlags, type HostSpec } from './core.js';
import { Tok } from './lexer.js';
import { quoteToken, showToken } from './redact.js';
import { parsePolicyOnce, type PolicyResult } from './policy.js';
import { placeholder, secCtx, type HostRefs, type Statement } from './sa-statements.js';

interface SelectorSide {
  addr: IpAddress;
  host?: HostSpec;
  prefix: number;
  prefixGiven: boolean;
  port: number;
  line: number;
  col: number;
}

function selectorSide(p: ParserCore, flags: AddrFlags, what: string): SelectorSide {
  const line = p.lx.tokLine;
  const col = p.lx.tokCol;
  const w = p.addrWord(flags, what);
  let prefix = -1;
  if (p.lx.kind === Tok.SLASH) {
    p.lx.advance();
    const pl = p.lx.tokLine;
    const pc = p.lx.tokCol;
    prefix = p.decimal('a prefix length', 1e9);
    const max = w.lit ? fullPrefix(w.lit.family) : 128;
    if (prefix > max) p.failAt(pl, pc, 'prefix-range', `prefix length /${prefix} is longer than an IPv${w.lit ? w.lit.family : 6} address`, `a prefix length from 0 to ${max}`);
  }
  const port = Math.max(0, p.portSpec());
  const addr = w.lit ?? placeholder(flags.family);
  const side: SelectorSide = { addr, prefix: prefix < 0 ? fullPrefix(addr.family) : prefix, prefixGiven: prefix >= 0, port, line, col };
  if (w.host !== undefined) side.host = { name: w.host, port, family: flags.family, line, col };
  return side;
}

const UPPER_EXPECTED = 'an upper-layer protocol: a number, any, or a name such as tcp, udp, icmp, icmp6';

function upperSpec(p: ParserCore): number {
  const t = p.word(UPPER_EXPECTED);
  let proto: number | undefined;
  if (t === 'any') proto = IpProto.ANY;
  else if (/^[0-9]+$/.test(t)) {
    if (t.length > 3 || Number(t) > 255) p.fail('upper-range', `protocol number ${showToken(t)} is out of range`, 'a protocol number from 0 to 255');
    proto = Number(t);
  } else if (t.charCodeAt(0) !== 45) {
    proto = p.sys.protocolByName(t) ?? (t === 'icmp6' ? IpProto.ICMPV6 : t === 'ip4' ? IpProto.IPV4 : undefined);
    if (proto === undefined) p.failNear('unknown-upper', `unknown upper-layer protocol ${quoteToken(t)}`, t, upperNames(p), UPPER_EXPECTED);
  } else {
    p.unexpected(UPPER_EXPECTED);
  }
  p.lx.advance();
  return proto;
}

/** The words upperSpec takes by name: the protocols database's and the reference's own. */
function* upperNames(p: ParserCore): Generator<string> {
  yield 'any';
  yield* p.sys.protocolNames?.() ?? [];
  yield 'icmp6';
  yield 'ip4';
}

/**
 * A GRE key (RFC 2890, 32 bits) in the selector's ports, as parse.y
 * fix_portstr reads it: `a.b.c.d` gives sport (a << 8) + b and dport
 * (c << 8) + d; a number n gives sport n >> 16 and dport n & 0xffff. The
 * reference's lexer took a number only with a trailing ',' or '.' (`65538,`),
 * but its man page documents the plain number (`gre 1234`): both are taken.
 */
function greKey(p: ParserCore, t: string, sel: { sport: number; dport: number }): void {
  const expected = 'the GRE key as a number up to 4294967295, or as a dotted quad a.b.c.d';
  const quad = /^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$/.exec(t);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    if (a > 255 || b > 255 || c > 255 || d > 255) p.fail('bad-gre-key', `GRE key ${quoteToken(t)} has a part above 255`, expected);
    sel.sport = (a << 8) + b;
    sel.dport = (c << 8) + d;
    return;
  }
  const num = /^([0-9]+)[,.]?$/.exec(t);
  if (num) {
    const n = ParserCore.numberWord(num[1]!)!;
    if (n > 0xffffffff) p.fail('bad-gre-key', `GRE key ${showToken(t)} does not fit in 32 bits`, expected);
    sel.sport = Math.floor(n / 65536);
    sel.dport = n % 65536;
    return;
  }
  // e.g. `1.2`: ipsec-tools read its first number only (sscanf %lu), not what it looks like
  p.fail('bad-gre-key', `bad GRE key ${quoteToken(t)}`, expected);
}

/** `type,code` for ICMP, ICMPv6 and MH; the key for GRE (parse.y fix_portstr). */
function miscSpec(p: ParserCore, upper: number, sel: { sport: number; dport: number }): void {
  const t = p.lx.text();
  const name = p.sys.protocolByNumber(upper) ?? String(upper);
  if (upper === IpProto.ICMP || upper === IpProto.ICMPV6 || upper === IpProto.MH) {
    const m = /^([0-9]{1,3}),([0-9]{1,3})$/.exec(t);
    if (!m || Number(m[1]) > 255 || Number(m[2]) > 255) p.fail('bad-type-code', `bad ${name} type,code ${quoteToken(t)}`, 'TYPE,CODE with both from 0 to 255, like 8,0');
    sel.sport = Number(m[1]);
    sel.dport = Number(m[2]);
  } else if (upper === IpProto.GRE) {
    greKey(p, t, sel);
  } else {
    p.fail('misc-spec', `${quoteToken(t)} after protocol ${name}: only icmp, icmp6 and mh take TYPE,CODE and gre a key`, '-P and a policy');
  }
  p.lx.advance();
}

/** `-P policy`; maps errors inside the policy text back to file positions. */
function policyClause(p: ParserCore): Extract<PolicyResult, { ok: true }> {
  if (!p.isWord('-P')) p.unexpected('-P and a policy');
  const pt = p.lx.takePolicyText();
  const at = (offset: number): { line: number; col: number } => {
    const before = pt.text.slice(0, offset);
    const nl = before.lastIndexOf('\n');
    const lines = before.split('\n').length - 1;
    return nl < 0 ? { line: pt.line, col: pt.col + offset } : { line: pt.line + lines, col: offset - nl };
  };
  // (the previous token is `-P` itself when the policy text is blank)
  if (p.lx.prevStop > pt.start) p.notePrevWhat(() => p.tailName(`-P ${pt.text}`));
  const r = parsePolicyOnce(pt.text, p.sys);
  if (!r.ok) {
    const { line, col } = at(r.error.offset);
    p.failAt(line, col, r.error.code, r.error.message, r.error.expected);
  }
  for (const w of r.warnings) {
    const { line, col } = at(w.offset);
    p.warn(line, col, w.code, w.message);
  }
  if (p.lx.kind !== Tok.SEMI) p.unexpected("';' after the policy");
  return r;
}

export function policyStatement(p: ParserCore, kind: 'spdadd' | 'spdupdate' | 'spddelete', line: number, col: number): Statement {
  p.lx.advance();
  if (kind !== 'spddelete' && p.isWord('tagged')) {
    p.lx.advance();
    if (p.lx.kind !== Tok.QUOTED) p.unexpected('the tag name as a quoted string');
    const tag = p.lx.text().slice(1, -1);
    const tagText = p.lx.text();
    p.noteWhat(() => `'${kind} tagged ${tagText}'`);
    p.lx.advance();
    const r = policyClause(p);
    const cmd: Command = { kind, pos: p.pos(line, col), tag, policy: r.rule };
    p.lx.advance();
    return { cmd };
  }
  const flags = p.addrFlags();
  const src = selectorSide(p, flags, 'the source address or prefix');
  const dst = selectorSide(p, flags, 'the destination address or prefix');
  if (!src.host && !dst.host && src.addr.family !== dst.addr.family) {
    p.failAt(dst.line, dst.col, 'family-mismatch', 'source and destination are of different address families', 'two IPv4 or two IPv6 selectors');
  }
  const upper = upperSpec(p);
  const ports = { sport: src.port, dport: dst.port };
  if (p.lx.kind === Tok.WORD && p.lx.text().charCodeAt(0) !== 45 && !p.isCommandWord()) miscSpec(p, upper, ports);
  let ctx: SecCtx | undefined;
  if (p.isWord('-ctx')) ctx = secCtx(p);
  const r = policyClause(p);
  const selector: Selector = {
    src: src.addr,
    dst: dst.addr,
    sprefix: src.prefix,
    dprefix: dst.prefix,
    sport: ports.sport,
    dport: ports.dport,
    proto: upper,
  };
  const cmd: Command = ctx ? { kind, pos: p.pos(line, col), selector, policy: r.rule, ctx } : { kind, pos: p.pos(line, col), selector, policy: r.rule };
  p.lx.advance();
  if (!src.host && !dst.host) return { cmd };
  const hosts: HostRefs = {};
  if (src.host) hosts.src = src.host;
  if (dst.host) hosts.dst = dst.host;
  return { cmd, hosts, prefixes: { src: src.prefixGiven, dst: dst.prefixGiven } };
}

export function bareStatement(p: ParserCore, kind: 'spdflush' | 'spddump' | 'exit', line: number, col: number): Statement {
  p.lx.advance();
  if (p.lx.kind !== Tok.SEMI) p.unexpected("';'");
  const cmd: Command = { kind, pos: p.pos(line, col) };
  p.lx.advance();
  return { cmd };
}
