/**
 * The statements a bulk load takes, read straight from the text into the
 * engine's numbers (engine/bulk-load.ts): `add` of an ESP or AH SA and
 * `spdadd` of an IPv4 policy, in the common shapes the quick check
 * (syntax/quick.ts) finds clean. Such a statement is known right before it
 * is read, so reading it is walking its words: no lexer, no diagnostics, no
 * positions, and nothing made but the numbers, into one struct filled again
 * for each statement.
 *
 * What is not read here (IPComp, lifetimes, -esn, update, spdupdate,
 * spddelete, a priority, an upper-layer protocol by name) is false: the
 * caller applies the file the usual way. test/ingest.test.ts holds what a
 * load stores to what the parser's commands store.
 */
import { algorithmByName } from '../model/algorithms.js';
import { Action, dirTable, IpProto, Level, levelTable, Mode, modeTable, padFlagTable, PRIORITY_DEFAULT, requestProtoTable, SaFlag, SaType, table } from '../model/tables.js';
import { setSide, type BulkPolicy, type BulkSa, type BulkTemplate } from '../engine/bulk-load.js';
import type { QuickCheck, QuickSaCheck } from '../syntax/quick.js';

const SLASH = 47;
const HYPHEN = 45;
const OPEN = 91;
const CLOSE = 93;

function isBlank(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
}

/** A dotted quad the quick check has found right (no leading zeros, each part 0-255), as a u32. */
function v4(src: string, s: number, e: number): number {
  let v = 0;
  let n = 0;
  for (let i = s; i < e; i++) {
    const c = src.charCodeAt(i);
    if (c === 46) {
      v = v * 256 + n;
      n = 0;
    } else n = n * 10 + (c - 48);
  }
  return v * 256 + n;
}

/** A decimal number of the text, as found right by the quick check. */
function decimal(src: string, s: number, e: number): number {
  let n = 0;
  for (let i = s; i < e; i++) n = n * 10 + (src.charCodeAt(i) - 48);
  return n;
}

/** A decimal or 0x number (at most 32 bits). */
function number(src: string, s: number, e: number): number {
  if (e - s > 2 && src.charCodeAt(s) === 48 && (src.charCodeAt(s + 1) | 32) === 120) return parseInt(src.slice(s + 2, e), 16);
  return decimal(src, s, e);
}

/**
 * A table's names found where they stand in the text, no string made: by
 * length, then compared in place (a table is a few names). A word sliced
 * out and looked up in a Map was hashed first, each time (the common
 * policy's four captured words in Maps were ~23 ms of 100k policies).
 */
class WordLookup {
  private readonly byLength: (readonly (readonly [string, number])[] | undefined)[] = [];
  constructor(t: { readonly byName: ReadonlyMap<string, number> }) {
    const lists: (readonly [string, number])[][] = [];
    for (const [name, n] of t.byName) (lists[name.length] ??= []).push([name, n]);
    lists.forEach((l, len) => (this.byLength[len] = l));
  }

  /** The number of the name src[s, e), or -1. */
  find(src: string, s: number, e: number): number {
    const names = this.byLength[e - s];
    if (names !== undefined) for (let k = 0; k < names.length; k++) if (src.startsWith(names[k]![0], s)) return names[k]![1];
    return -1;
  }
}

const SA_PROTOS = new WordLookup(table([['esp', SaType.ESP], ['ah', SaType.AH]]));
const MODES = new WordLookup(modeTable);
const PAD_FLAGS = new WordLookup(padFlagTable);
const DIRS = new WordLookup(dirTable);
const ACTIONS = new WordLookup(table([['discard', Action.DISCARD], ['none', Action.NONE], ['ipsec', Action.IPSEC]]));
const LEVELS = new WordLookup(levelTable);
const REQUEST_PROTOS = new WordLookup(requestProtoTable);

/** An algorithm's af_key number by its name in the text: the last name found is compared in place (a file names a few, over and over). */
class AlgorithmLookup {
  private name = '';
  private id = 0;
  constructor(private readonly kind: 'enc' | 'auth') {}

  /** The number of the algorithm named src[s, e) (0: none of that name, or none af_key installs). */
  find(src: string, s: number, e: number): number {
    if (e - s !== this.name.length || !src.startsWith(this.name, s)) {
      this.name = src.slice(s, e);
      this.id = algorithmId(this.kind, this.name);
    }
    return this.id;
  }
}

const ENC = new AlgorithmLookup('enc');
const AUTH = new AlgorithmLookup('auth');

/** Words of a statement (the statement lexer's: runs of anything but its blanks, up to the ';'). */
class Words {
  s = 0;
  e = 0;
  private i: number;
  constructor(
    readonly src: string,
    start: number,
    private readonly end: number,
  ) {
    this.i = start;
  }

  /** The next word as [s, e); false at the end. */
  next(): boolean {
    const src = this.src;
    let i = this.i;
    while (i < this.end && isBlank(src.charCodeAt(i))) i++;
    if (i >= this.end) return false;
    this.s = i;
    while (i < this.end && !isBlank(src.charCodeAt(i))) i++;
    this.e = this.i = i;
    return true;
  }

  word(): string {
    return this.src.slice(this.s, this.e);
  }

  is(w: string): boolean {
    return this.e - this.s === w.length && this.src.startsWith(w, this.s);
  }
}

/** The af_key number of the algorithm of that name (0: none, or unknown). */
function algorithmId(kind: 'enc' | 'auth', name: string): number {
  return algorithmByName(kind, name)?.ids.linux ?? 0;
}

/**
 * The commonest SA shape, `add SRC DST esp|ah SPI [-m M] [-u N] [-r N]
 * [-E ALG KEY] [-A ALG KEY] ;` in that order, as one regular expression
 * with its fields captured: V8 runs it as native code, 0.5 us a statement
 * where walking the words took 2. It is looser than the quick check (which
 * a statement has passed already) and only picks the fields out; anything
 * else is read word by word (readSa). A reader char by char, no string
 * made (tried: no faster): 1.0x the time for SAs, 1.6x for policies, its
 * loops over the keys' digits and the policy's many short words slower
 * than the expression's native code and its captures together.
 */
const B = '[\\t\\n\\v\\f\\r ]';
const COMMON_SA = new RegExp(
  `add${B}+([0-9.]+)${B}+([0-9.]+)${B}+(esp|ah)${B}+(0[xX][0-9a-fA-F]+|[0-9]+)` +
    `(?:${B}+-m${B}+([a-z]+))?(?:${B}+-u${B}+([0-9]+))?(?:${B}+-r${B}+([0-9]+))?` +
    `(?:${B}+-E${B}+([A-Za-z0-9-]+)${B}+0[xX]([0-9a-fA-F]+))?(?:${B}+-A${B}+([A-Za-z0-9-]+)${B}+0[xX]([0-9a-fA-F]+))?${B}*;`,
  'y',
);

/** The commonest SA shape into `sa` (COMMON_SA), the statement at `start` ending at `semi`; false if it is another. */
function readCommonSa(src: string, start: number, semi: number, sa: BulkSa): boolean {
  COMMON_SA.lastIndex = start;
  const m = COMMON_SA.exec(src);
  if (!m || COMMON_SA.lastIndex !== semi + 1) return false;
  // (by index: destructured, the match array was iterated)
  const s = m[1]!;
  const d = m[2]!;
  const proto = m[3]!;
  const spi = m[4]!;
  const mode = m[5];
  const reqid = m[6];
  const replay = m[7];
  const ealg = m[8];
  const ekey = m[9];
  const aalg = m[10];
  const akey = m[11];
  sa.satype = SA_PROTOS.find(proto, 0, proto.length);
  sa.src = v4(s, 0, s.length);
  sa.dst = v4(d, 0, d.length);
  sa.spi = number(spi, 0, spi.length);
  sa.mode = mode === undefined ? Mode.ANY : MODES.find(mode, 0, mode.length);
  sa.reqid = reqid === undefined ? 0 : decimal(reqid, 0, reqid.length);
  sa.replay = replay === undefined ? 0 : decimal(replay, 0, replay.length);
  sa.flags = SaFlag.CYCSEQ;
  // (-1: named, but with no number)
  sa.ealg = ealg === undefined ? 0 : ENC.find(ealg, 0, ealg.length) || -1;
  sa.aalg = aalg === undefined ? 0 : AUTH.find(aalg, 0, aalg.length) || -1;
  if (sa.ealg < 0 || sa.aalg < 0 || (sa.ealg === 0 && sa.aalg === 0)) return false;
  sa.etext = ekey ?? '';
  sa.ekeyAt = 0;
  sa.ekeyDigits = sa.etext.length;
  sa.atext = akey ?? '';
  sa.akeyAt = 0;
  sa.akeyDigits = sa.atext.length;
  sa.keyRaw = undefined;
  return true;
}

/** `add SRC DST esp|ah SPI [-m M | -u N | -r N | -f F]... ALGS` into `sa`; false for anything else. */
function readSa(w: Words, sa: BulkSa): boolean {
  const src = w.src;
  if (!w.next() || !w.is('add') || !w.next()) return false;
  sa.src = v4(src, w.s, w.e);
  if (!w.next()) return false;
  sa.dst = v4(src, w.s, w.e);
  if (!w.next()) return false;
  const satype = SA_PROTOS.find(src, w.s, w.e);
  if (satype < 0 || !w.next()) return false;
  sa.satype = satype;
  sa.etext = sa.atext = src;
  sa.keyRaw = undefined;
  sa.spi = number(src, w.s, w.e);
  sa.mode = Mode.ANY;
  sa.reqid = 0;
  sa.replay = 0;
  sa.flags = SaFlag.CYCSEQ;
  sa.ealg = sa.aalg = 0;
  sa.ekeyAt = sa.ekeyDigits = sa.akeyAt = sa.akeyDigits = 0;
  for (;;) {
    if (!w.next()) return sa.ealg !== 0 || sa.aalg !== 0;
    // options are two chars, '-' and a letter
    if (w.e - w.s !== 2 || src.charCodeAt(w.s) !== HYPHEN) return false;
    const opt = src.charCodeAt(w.s + 1);
    if (!w.next()) return false;
    switch (opt) {
      // -E ALG KEY, -A ALG KEY: the key's digits follow its 0x
      case 69:
      case 65: {
        const enc = opt === 69;
        const id = (enc ? ENC : AUTH).find(src, w.s, w.e);
        if (id === 0 || !w.next()) return false;
        if (enc) {
          sa.ealg = id;
          sa.ekeyAt = w.s + 2;
          sa.ekeyDigits = w.e - w.s - 2;
        } else {
          sa.aalg = id;
          sa.akeyAt = w.s + 2;
          sa.akeyDigits = w.e - w.s - 2;
        }
        break;
      }
      case 109: {
        const mode = MODES.find(src, w.s, w.e);
        if (mode < 0) return false;
        sa.mode = mode;
        break;
      }
      case 117:
        sa.reqid = decimal(src, w.s, w.e);
        break;
      case 114:
        sa.replay = decimal(src, w.s, w.e);
        break;
      case 102: {
        const bit = PAD_FLAGS.find(src, w.s, w.e);
        if (bit >= 0) sa.flags |= bit;
        else sa.flags &= ~SaFlag.CYCSEQ;
        break;
      }
      default:
        return false;
    }
  }
}

/** The policy text's own words and marks (policy.ts): letters, digits and :._% make words; / - [ ] stand alone. */
class PolicyWords {
  i: number;
  s = 0;
  e = 0;
  constructor(
    readonly src: string,
    start: number,
    private readonly end: number,
  ) {
    this.i = start;
  }

  private blanks(): void {
    while (this.i < this.end && isBlank(this.src.charCodeAt(this.i))) this.i++;
  }

  /** The next word as [s, e) (empty if a mark or the end is next); '-' is part of it where `dash`. */
  next(dash = false): boolean {
    this.blanks();
    this.s = this.i;
    while (this.i < this.end) {
      const c = this.src.charCodeAt(this.i);
      const l = c | 32;
      if (!((c >= 48 && c <= 58) || (l >= 97 && l <= 122) || c === 46 || c === 95 || c === 37 || (dash && c === 45))) break;
      this.i++;
    }
    this.e = this.i;
    return this.e > this.s;
  }

  is(w: string): boolean {
    return this.e - this.s === w.length && this.src.startsWith(w, this.s);
  }

  /** The word's number in `names`, or -1. */
  find(names: WordLookup): number {
    return names.find(this.src, this.s, this.e);
  }

  /** Whether the next thing is the mark `ch` (then past it). */
  mark(ch: number): boolean {
    this.blanks();
    if (this.i < this.end && this.src.charCodeAt(this.i) === ch) {
      this.i++;
      return true;
    }
    return false;
  }

  get atEnd(): boolean {
    this.blanks();
    return this.i >= this.end;
  }
}

/** SRC[/plen][[port]]: address, prefix and port into p (side 0: source). */
function side(w: PolicyWords, p: BulkPolicy, which: 0 | 1): boolean {
  if (!w.next()) return false;
  const addr = v4(w.src, w.s, w.e);
  let prefix = 32;
  let port = 0;
  if (w.mark(SLASH)) {
    if (!w.next()) return false;
    prefix = decimal(w.src, w.s, w.e);
  }
  if (w.mark(OPEN)) {
    if (!w.next()) return false;
    port = w.is('any') ? 0 : decimal(w.src, w.s, w.e);
    if (!w.mark(CLOSE)) return false;
  }
  setSide(p, which, addr, prefix, port);
  return true;
}

/** A level word into t: default, use, require, unique or unique:N. */
function level(w: PolicyWords, t: BulkTemplate): boolean {
  const l = w.find(LEVELS);
  if (l >= 0) t.level = l;
  else if (w.e - w.s > UNIQUE_.length && w.src.startsWith(UNIQUE_, w.s)) {
    t.level = Level.UNIQUE;
    t.reqid = decimal(w.src, w.s + UNIQUE_.length, w.e);
  } else return false;
  return true;
}

const UNIQUE_ = 'unique:';

/** The next word is a request's protocol (the next request begins): left unread. */
function protoNext(w: PolicyWords): boolean {
  const at = w.i;
  const p = w.next() && w.find(REQUEST_PROTOS) >= 0;
  w.i = at;
  return p;
}

/** One request, proto/mode[/[SRC-DST][/[level]] | //level], into t (policy.ts request()). */
function request(w: PolicyWords, t: BulkTemplate): boolean {
  if (!w.next()) return false;
  const proto = w.find(REQUEST_PROTOS);
  if (proto < 0 || !w.mark(SLASH) || !w.next()) return false;
  const mode = w.find(MODES);
  if (mode < 0) return false;
  t.proto = proto;
  t.mode = mode;
  t.level = Level.DEFAULT;
  t.reqid = 0;
  t.ends = false;
  t.src = t.dst = 0;
  if (!w.mark(SLASH)) return true;
  if (w.mark(SLASH)) return w.next() && level(w, t);
  if (w.atEnd || protoNext(w)) return true;
  if (!w.next()) return false;
  t.src = v4(w.src, w.s, w.e);
  if (!w.mark(HYPHEN) || !w.next()) return false;
  t.dst = v4(w.src, w.s, w.e);
  t.ends = true;
  if (!w.mark(SLASH) || w.atEnd || protoNext(w)) return true;
  return w.next() && level(w, t);
}

function template(): BulkTemplate {
  return { proto: 0, mode: 0, level: 0, reqid: 0, ends: false, src: 0, dst: 0, keptLevel: 0, keptReqid: 0 };
}

/** A policy struct to fill again and again (room for the most requests a clean statement has, and one more). */
export function bulkPolicy(): BulkPolicy {
  return { src: 0, dst: 0, sprefix: 0, dprefix: 0, sport: 0, dport: 0, proto: 0, dir: 0, action: 0, priority: 0, count: 0, templates: Array.from({ length: 7 }, template) };
}

export function bulkSa(): BulkSa {
  return { satype: 0, src: 0, dst: 0, spi: 0, mode: 0, reqid: 0, replay: 0, flags: 0, ealg: 0, etext: '', ekeyAt: 0, ekeyDigits: 0, aalg: 0, atext: '', akeyAt: 0, akeyDigits: 0, keyRaw: undefined };
}


/**
 * The commonest policy shapes, `spdadd SRC[/plen][[port]] DST[/plen][[port]]
 * UPPER -P DIR [ACTION [PROTO/MODE/A-B[/[LEVEL]]]] ;` with at most one
 * request and its endpoints, as one regular expression (COMMON_SA says
 * why); anything else is read word by word (readPolicy).
 */
const SIDE = `([0-9.]+)(?:${B}*/${B}*([0-9]+))?(?:${B}*\\[${B}*(any|[0-9]+)${B}*\\])?`;
const COMMON_POLICY = new RegExp(
  `spdadd${B}+${SIDE}${B}*${SIDE}${B}*(any|[0-9]+)${B}*-P${B}+(in|out|fwd)` +
    `(?:${B}+(none|discard|ipsec)(?:${B}+(esp|ah|ipcomp)${B}*/${B}*(transport|tunnel)${B}*/${B}*([0-9.]+)${B}*-${B}*([0-9.]+)` +
    `(?:${B}*/(?:${B}*(default|use|require|unique(?::[0-9]+)?))?)?)?)?${B}*;`,
  'y',
);

/** The commonest policy shapes into p (COMMON_POLICY); false if it is another. */
function readCommonPolicy(src: string, start: number, semi: number, p: BulkPolicy): boolean {
  COMMON_POLICY.lastIndex = start;
  const m = COMMON_POLICY.exec(src);
  if (!m || COMMON_POLICY.lastIndex !== semi + 1) return false;
  // (by index: destructured, the match array was iterated)
  const s = m[1]!;
  const sp = m[2];
  const sport = m[3];
  const d = m[4]!;
  const dp = m[5];
  const dport = m[6];
  const upper = m[7]!;
  const dir = m[8]!;
  const action = m[9];
  const proto = m[10];
  const mode = m[11];
  const a = m[12];
  const b = m[13];
  const lvl = m[14];
  p.src = v4(s, 0, s.length);
  p.sprefix = sp === undefined ? 32 : decimal(sp, 0, sp.length);
  p.sport = sport === undefined || sport === 'any' ? 0 : decimal(sport, 0, sport.length);
  p.dst = v4(d, 0, d.length);
  p.dprefix = dp === undefined ? 32 : decimal(dp, 0, dp.length);
  p.dport = dport === undefined || dport === 'any' ? 0 : decimal(dport, 0, dport.length);
  p.proto = upper === 'any' ? IpProto.ANY : decimal(upper, 0, upper.length);
  p.dir = DIRS.find(dir, 0, dir.length);
  p.count = 0;
  if (action === undefined) {
    // `DIR` alone: libipsec sends type 0 (discard) with priority 0
    p.action = Action.DISCARD;
    p.priority = 0;
    return true;
  }
  p.action = ACTIONS.find(action, 0, action.length);
  p.priority = PRIORITY_DEFAULT;
  if (proto === undefined) return true;
  const t = p.templates[0]!;
  t.proto = REQUEST_PROTOS.find(proto, 0, proto.length);
  t.mode = MODES.find(mode!, 0, mode!.length);
  t.ends = true;
  t.src = v4(a!, 0, a!.length);
  t.dst = v4(b!, 0, b!.length);
  t.level = Level.DEFAULT;
  t.reqid = 0;
  if (lvl !== undefined) {
    if (lvl.startsWith('unique:')) {
      t.level = Level.UNIQUE;
      t.reqid = decimal(lvl, 7, lvl.length);
    } else t.level = LEVELS.find(lvl, 0, lvl.length);
  }
  p.count = 1;
  return true;
}

/** `spdadd SRC DST UPPER -P POLICY` into p; false for anything else. */
function readPolicy(w: PolicyWords, p: BulkPolicy): boolean {
  if (!w.next() || !w.is('spdadd') || !side(w, p, 0) || !side(w, p, 1) || !w.next()) return false;
  const c = w.src.charCodeAt(w.s);
  if (w.is('any')) p.proto = IpProto.ANY;
  else if (c >= 48 && c <= 57) p.proto = decimal(w.src, w.s, w.e);
  else return false;
  if (!w.next(true) || !w.is('-P') || !w.next()) return false;
  const dir = w.find(DIRS);
  if (dir < 0) return false;
  p.dir = dir;
  p.count = 0;
  if (w.atEnd) {
    // `DIR` alone: libipsec sends type 0 (discard) with priority 0
    p.action = Action.DISCARD;
    p.priority = 0;
    return true;
  }
  const action = w.next() ? w.find(ACTIONS) : -1;
  if (action < 0) return false;
  p.action = action;
  p.priority = PRIORITY_DEFAULT;
  while (!w.atEnd) {
    if (p.count >= p.templates.length || !request(w, p.templates[p.count]!)) return false;
    p.count++;
  }
  return true;
}

/**
 * The statement whose first word is at `start` and whose ';' is at `semi`,
 * read into `sa` or `p` if the quick check finds it clean (or found it
 * so: 'checked') and it is one this module reads: 'sa', 'policy', or false.
 */
export function scanStatement(quick: QuickCheck | QuickSaCheck | 'checked', src: string, start: number, semi: number, sa: BulkSa, p: BulkPolicy, opts: { readonly wordsOnly?: boolean; readonly commonOnly?: boolean } = {}): 'sa' | 'policy' | false {
  // ('checked': the caller's quick check found it clean already)
  if (quick !== 'checked' && !quick.clean(src, start, semi)) return false;
  const c = src.charCodeAt(start);
  // the commonest shapes by one regular expression, the others word by word (a test holds each way to the other: wordsOnly, commonOnly)
  const quickly = opts.wordsOnly !== true;
  const words = opts.commonOnly !== true;
  if (c === 97) return ((quickly && readCommonSa(src, start, semi, sa)) || (words && readSa(new Words(src, start, semi), sa))) && 'sa';
  if (c === 115) return ((quickly && readCommonPolicy(src, start, semi, p)) || (words && readPolicy(new PolicyWords(src, start, semi), p))) && 'policy';
  return false;
}
