/**
 * Statements the quick check (quick.ts) found clean, built from their text
 * without the lexer and the parser's general machinery. The check has
 * already proved the statement to be of one of the common shapes, right in
 * every part, so what is left is reading the parts where they stand: an
 * apply of a large file builds every statement (the check alone builds
 * none), and the general parser took ~3 us of the ~4 a statement costs
 * (lexer tokens, diagnostics bookkeeping, the suggestions it is ready to
 * make). A policy's text goes to the policy parser (policy.ts) as ever.
 *
 * The result is the command the parser builds, field for field:
 * test/quick-build.test.ts holds it to the parser over the statements the
 * check takes. Anything unexpected gives undefined, and the parser reads
 * the statement instead.
 */
import { algorithmByName, type AlgKind } from '../model/algorithms.js';
import { parseIpv4, type IpAddress } from '../model/address.js';
import type { Command } from '../model/command.js';
import type { Selector } from '../model/policy.js';
import type { Lifetime, Mutable, SaKey, SaParams } from '../model/sa.js';
import { IpProto, modeTable, padFlagTable, SaFlag, SaType } from '../model/tables.js';
import { ParserCore } from './core.js';
import { parsePolicy } from './policy.js';
import { hexKey } from './sa-statements.js';
import type { SystemDb } from './sysdb.js';

/** A command without its position (the reader adds it: it knows the lines). */
export type Unplaced = Mutable<Command>;

const SA_PROTOCOLS: ReadonlyMap<string, number> = new Map([
  ['esp', SaType.ESP],
  ['ah', SaType.AH],
  ['ipcomp', SaType.IPCOMP],
]);

/** The statement lexer's blanks (lexer.ts). */
function isBlank(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/** The blank-separated words of src[start, end). */
function words(src: string, start: number, end: number): string[] {
  const out: string[] = [];
  let i = start;
  while (i < end) {
    while (i < end && isBlank(src.charCodeAt(i))) i++;
    if (i >= end) break;
    const w = i;
    while (i < end && !isBlank(src.charCodeAt(i))) i++;
    out.push(src.slice(w, i));
  }
  return out;
}

function v4(s: string, start = 0, end = s.length): IpAddress | undefined {
  const bytes = parseIpv4(s, start, end);
  return bytes && { family: 4, bytes, scopeId: 0 };
}

/** `0x...` of an even number of digits (the check took only such keys) as the parser's key. */
function key(w: string): SaKey | undefined {
  const data = hexKey(w, 0, w.length);
  return data && { bits: data.length * 8, data };
}

function lifetimeOf(addtime: bigint, bytes: bigint): Lifetime | undefined {
  return addtime !== 0n || bytes !== 0n ? { allocations: 0, bytes, addtime, usetime: 0n } : undefined;
}

/** `-E|-A NAME KEY`: the registry's name and the key (the check took no variant spelling and no keyless algorithm). */
function keyed(kind: AlgKind, name: string | undefined, k: string | undefined): { alg: string; key: SaKey } | undefined {
  const alg = name === undefined ? undefined : algorithmByName(kind, name);
  const data = k === undefined ? undefined : key(k);
  return alg && data ? { alg: alg.name, key: data } : undefined;
}

/** add|update V4 V4 esp|ah|ipcomp SPI OPTION* ALGORITHMS ; (saStatement's reading of that shape) */
function saCommand(src: string, start: number, semi: number): Unplaced | undefined {
  const w = words(src, start, semi);
  const kind = w[0];
  if (kind !== 'add' && kind !== 'update') return undefined;
  const s = v4(w[1] ?? '');
  const d = v4(w[2] ?? '');
  const satype = SA_PROTOCOLS.get(w[3] ?? '');
  const spi = ParserCore.numberWord(w[4] ?? '');
  if (!s || !d || satype === undefined || spi === undefined) return undefined;
  let mode = modeTable.byName.get('any')!;
  let reqid = 0;
  let replay = 0;
  let flags: number = SaFlag.CYCSEQ;
  let esn = false;
  let lh = 0n;
  let ls = 0n;
  let bh = 0n;
  let bs = 0n;
  let i = 5;
  for (; i < w.length; i++) {
    const o = w[i]!;
    const v = w[i + 1] ?? '';
    if (o === '-esn') esn = true;
    else if (o === '-m') mode = modeTable.byName.get(v) ?? -1;
    else if (o === '-u') reqid = Number(v);
    else if (o === '-r') replay = Number(v);
    else if (o === '-f') flags = v === 'nocyclic-seq' ? flags & ~SaFlag.CYCSEQ : flags | (padFlagTable.byName.get(v) ?? 0);
    else if (o === '-lh') lh = BigInt(v);
    else if (o === '-ls') ls = BigInt(v);
    else if (o === '-bh') bh = BigInt(v);
    else if (o === '-bs') bs = BigInt(v);
    else break;
    if (o !== '-esn') i++;
  }
  if (mode < 0) return undefined;
  const sa: Mutable<SaParams> = { satype, src: { addr: s, port: 0 }, dst: { addr: d, port: 0 }, spi, mode, reqid, replay, flags, esn };
  const a = w[i];
  if (a === '-E') {
    const e = keyed('enc', w[i + 1], w[i + 2]);
    if (!e) return undefined;
    sa.enc = e;
    i += 3;
    if (w[i] === '-A') {
      const h = keyed('auth', w[i + 1], w[i + 2]);
      if (!h) return undefined;
      sa.auth = h;
      i += 3;
    }
  } else if (a === '-A') {
    const h = keyed('auth', w[i + 1], w[i + 2]);
    if (!h) return undefined;
    sa.auth = h;
    i += 3;
  } else if (a === '-C') {
    const c = algorithmByName('comp', w[i + 1] ?? '');
    if (!c) return undefined;
    sa.enc = { alg: c.name };
    i += 2;
    if (w[i] === '-R') {
      sa.flags = flags | SaFlag.RAWCPI;
      i++;
    }
  } else return undefined;
  if (i !== w.length) return undefined;
  const hard = lifetimeOf(lh, bh);
  const soft = lifetimeOf(ls, bs);
  if (hard) sa.hard = hard;
  if (soft) sa.soft = soft;
  return { kind, pos: undefined as never, sa };
}

/** A cursor over a selector's text (V4[/plen][[port]], blanks allowed around / [ ]). */
class Cursor {
  constructor(
    private readonly s: string,
    public i: number,
    private readonly end: number,
  ) {}

  blanks(): void {
    while (this.i < this.end && isBlank(this.s.charCodeAt(this.i))) this.i++;
  }

  /** a run of characters that are not blanks nor any of `stops` */
  word(stops: string): string {
    const from = this.i;
    while (this.i < this.end) {
      const c = this.s.charCodeAt(this.i);
      if (isBlank(c) || stops.indexOf(this.s[this.i]!) >= 0) break;
      this.i++;
    }
    return this.s.slice(from, this.i);
  }

  at(ch: string): boolean {
    if (this.s[this.i] !== ch) return false;
    this.i++;
    return true;
  }
}

/** One side of a selector: its address, prefix length (the address's whole length if none) and port. */
function side(c: Cursor): { addr: IpAddress; prefix: number; port: number } | undefined {
  c.blanks();
  const addr = v4(c.word('/[;'));
  if (!addr) return undefined;
  let prefix = 32;
  let port = 0;
  c.blanks();
  if (c.at('/')) {
    c.blanks();
    prefix = Number(c.word('[;'));
    c.blanks();
  }
  if (c.at('[')) {
    c.blanks();
    const p = c.word(']');
    port = p === 'any' ? 0 : Number(p);
    c.blanks();
    if (!c.at(']')) return undefined;
  }
  return Number.isInteger(prefix) && Number.isInteger(port) ? { addr, prefix, port } : undefined;
}

/** spdadd|spdupdate|spddelete SIDE SIDE UPPER -P POLICY ; (policyStatement's reading of that shape) */
function policyCommand(src: string, start: number, semi: number, sys: SystemDb): Unplaced | undefined {
  const c = new Cursor(src, start, semi);
  const kind = c.word('');
  if (kind !== 'spdadd' && kind !== 'spdupdate' && kind !== 'spddelete') return undefined;
  const s = side(c);
  const d = side(c);
  if (!s || !d) return undefined;
  c.blanks();
  const u = c.word('');
  const proto = u === 'any' ? IpProto.ANY : /^[0-9]+$/.test(u) ? Number(u) : (sys.protocolByName(u) ?? (u === 'icmp6' ? IpProto.ICMPV6 : u === 'ip4' ? IpProto.IPV4 : undefined));
  c.blanks();
  if (proto === undefined || c.word('') !== '-P') return undefined;
  // the policy's text runs from after -P to the ';' (lexer.ts takePolicyText: the check took no comment and no command word in it)
  const r = parsePolicy(src.slice(c.i, semi), sys);
  if (!r.ok || r.warnings.length) return undefined;
  const selector: Selector = { src: s.addr, dst: d.addr, sprefix: s.prefix, dprefix: d.prefix, sport: s.port, dport: d.port, proto };
  return { kind, pos: undefined as never, selector, policy: r.rule };
}

/**
 * The command of a statement the quick check found clean, from its first
 * word at `start` to its ';' at `semi`, without a position; undefined where
 * it is not sure (the parser then reads the statement).
 */
export function buildClean(src: string, start: number, semi: number, sys: SystemDb): Unplaced | undefined {
  const c = src.charCodeAt(start);
  return c === 115 ? policyCommand(src, start, semi, sys) : saCommand(src, start, semi);
}
