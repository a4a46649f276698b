/**
 * The common statements read from the file's bytes in one pass that is
 * also their check: what the quick check (syntax/quick.ts) and scan.ts's
 * readers did in two passes over the text, the first a regular expression,
 * the second another with its captures (~12 short strings a statement).
 * A bulk load reads every statement of a file: the two passes were ~2.7 us
 * of a policy and ~2.6 of an SA (micro-benchmarked on this machine), this
 * ~1.1. Bytes, not the text: an index into a Uint8Array reads about twice
 * as fast as charCodeAt here.
 *
 * Each says yes only where the quick check says clean (test/scan-bytes.test.ts
 * holds them to the check, and what they read to what scan.ts reads), and
 * only for what a load takes: `add` of an ESP or AH SA between IPv4
 * addresses, with -m, -u, -r and -f, and algorithms with an af_key number;
 * `spdadd` of IPv4 selectors, an upper-layer protocol of `any` or a number,
 * and the policy the quick check takes (a direction, an action, up to 6
 * requests). Anything else (a protocol by name, whose names are the
 * system's) is false: the caller checks and reads it the usual way.
 */
import { ALGORITHMS, algorithmByName, keyBitsAllowed, variantBySpelling, type AlgKind } from '../model/algorithms.js';
import { Action, Dir, IpProto, Level, Mode, modeTable, padFlagTable, PRIORITY_DEFAULT, SaFlag, SaType } from '../model/tables.js';
import { setSide, type BulkPolicy, type BulkSa, type BulkTemplate } from '../engine/bulk-load.js';
import { QUICK_MAX } from '../syntax/quick.js';

/** Char classes by byte: 1 the statement lexer's blanks ([\t\n\v\f\r ]), 2 the policy lexer's ([\t\n\r ]). */
const BLANK = new Uint8Array(256);
for (const c of [9, 10, 11, 12, 13, 32]) BLANK[c] = 1;
for (const c of [9, 10, 13, 32]) BLANK[c] = BLANK[c]! | 2;
/** 1: a word char of the statement lexer ([A-Za-z0-9:%.,_+-]); 2: of the policy lexer ([a-zA-Z0-9:._%]). */
const WORD = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  if (alnum || c === 58 || c === 37 || c === 46 || c === 44 || c === 95 || c === 43 || c === 45) WORD[c] = 1;
  if (alnum || c === 58 || c === 46 || c === 95 || c === 37) WORD[c] = WORD[c]! | 2;
}

const SEMI = 59;
const SLASH = 47;
const HYPHEN = 45;
const DOT = 46;
const COLON = 58;
const OPEN = 91;
const CLOSE = 93;
/** the most requests the quick check takes in a policy */
const MAX_REQUESTS = 6;
/** IPSEC_MANUAL_REQID_MAX: unique:N above it is a warning */
const UNIQUE_MAX = 16383;

/** ASCII codes of a word, to compare bytes against. */
const codes = (w: string): Uint8Array => Uint8Array.from(w, (ch) => ch.charCodeAt(0));
const W = {
  add: codes('add'),
  spdadd: codes('spdadd'),
  any: codes('any'),
  P: codes('-P'),
  E: codes('-E'),
  A: codes('-A'),
  in: codes('in'),
  out: codes('out'),
  fwd: codes('fwd'),
  ipsec: codes('ipsec'),
  discard: codes('discard'),
  none: codes('none'),
  esp: codes('esp'),
  ah: codes('ah'),
  ipcomp: codes('ipcomp'),
  transport: codes('transport'),
  tunnel: codes('tunnel'),
  default: codes('default'),
  use: codes('use'),
  require: codes('require'),
  unique: codes('unique'),
};

/**
 * A reader over one statement's bytes: b[i] is the next, the statement's
 * ';' is at `semi`. Each step either reads what it expects and moves past
 * it, or fails (false); a failed statement is read no further.
 */
class Cursor {
  b: Uint8Array = W.any;
  i = 0;
  semi = 0;
  /** the last number read (dec) */
  n = 0;

  /** Blanks of the statement lexer (B*). */
  blanks(): void {
    const b = this.b;
    let i = this.i;
    while ((BLANK[b[i]!]! & 1) !== 0) i++;
    this.i = i;
  }

  /** Blanks of the policy lexer (PB*). */
  pblanks(): void {
    const b = this.b;
    let i = this.i;
    while ((BLANK[b[i]!]! & 2) !== 0) i++;
    this.i = i;
  }

  /** Where the statement lexer's blanks from i end (not moved). */
  pastBlanks(): number {
    const b = this.b;
    let i = this.i;
    while ((BLANK[b[i]!]! & 1) !== 0) i++;
    return i;
  }

  /** Where the policy lexer's blanks from i end (not moved). */
  pastPblanks(): number {
    const b = this.b;
    let i = this.i;
    while ((BLANK[b[i]!]! & 2) !== 0) i++;
    return i;
  }

  /** The word w next (then past it); its end is for the caller to check. */
  word(w: Uint8Array): boolean {
    const b = this.b;
    const i = this.i;
    for (let k = 0; k < w.length; k++) if (b[i + k] !== w[k]) return false;
    this.i = i + w.length;
    return true;
  }

  /** The next char ends a word of the statement lexer (quick.ts E) or of the policy lexer (PE): `cls` 1 or 2. */
  ends(cls: number): boolean {
    return (WORD[this.b[this.i]!]! & cls) === 0;
  }

  /** The char c next (then past it). */
  mark(c: number): boolean {
    if (this.b[this.i] !== c) return false;
    this.i++;
    return true;
  }

  /** A decimal number from 0 to max, no leading zero (as the quick check's patterns take them), into n. */
  dec(max: number): boolean {
    const b = this.b;
    const s = this.i;
    let i = s;
    let n = 0;
    for (;;) {
      const c = b[i]!;
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
      // (no number here has more than 5 digits: a longer run is too large)
      if (++i - s > 5) return false;
    }
    if (i === s || (b[s] === 48 && i - s > 1) || n > max) return false;
    this.i = i;
    this.n = n;
    return true;
  }

  /** A dotted quad as inet_pton takes it (no leading zeros), as a u32; -1 if not. */
  v4(): number {
    let v = 0;
    for (let k = 0; k < 4; k++) {
      if (k > 0 && !this.mark(DOT)) return -1;
      if (!this.dec(255)) return -1;
      v = v * 256 + this.n;
    }
    return v;
  }
}

const c = new Cursor();

/**
 * The cursor on the statement b[start, semi] (semi: its ';'), past its
 * command word `word` and the blanks after it; false if it is not that
 * command, or longer than the quick check reads.
 */
function begin(b: Uint8Array, start: number, semi: number, word: Uint8Array): boolean {
  if (semi - start >= QUICK_MAX || b[semi] !== SEMI) return false;
  c.b = b;
  c.i = start;
  c.semi = semi;
  return c.word(word) && blanks1();
}

/**
 * One side of the selector, V4[/plen][[port]] (quick.ts spdPattern's
 * `side`), into p (0: the source). The blanks after it are left to the
 * next part, unless a '/' or '[' of this side follows them.
 */
function side(p: BulkPolicy, which: 0 | 1): boolean {
  const a = c.v4();
  if (a < 0 || !c.ends(1)) return false;
  let prefix = 32;
  let port = 0;
  let next = c.pastBlanks();
  if (c.b[next] === SLASH) {
    c.i = next + 1;
    c.blanks();
    if (!c.dec(32) || !c.ends(1)) return false;
    prefix = c.n;
    next = c.pastBlanks();
  }
  if (c.b[next] === OPEN) {
    c.i = next + 1;
    c.blanks();
    if (c.word(W.any)) port = 0;
    else if (c.dec(65535)) port = c.n;
    else return false;
    if (!c.ends(1)) return false;
    c.blanks();
    if (!c.mark(CLOSE)) return false;
  }
  setSide(p, which, a, prefix, port);
  return true;
}

/** A level word (default, use, require, unique, unique:N from 1 to 16383) into t, ended as the policy lexer ends words. */
function level(t: BulkTemplate): boolean {
  if (c.word(W.require)) t.level = Level.REQUIRE;
  else if (c.word(W.use)) t.level = Level.USE;
  else if (c.word(W.default)) t.level = Level.DEFAULT;
  else if (c.word(W.unique)) {
    t.level = Level.UNIQUE;
    if (c.mark(COLON)) {
      if (!c.dec(UNIQUE_MAX) || c.n === 0) return false;
      t.reqid = c.n;
    }
  } else return false;
  return c.ends(2);
}

/** Whether a level word begins at i (a letter of one: what follows a '/' is a level, or the next request, or the end). */
function levelNext(): boolean {
  const ch = c.b[c.i];
  return ch === 114 || ch === 117 || ch === 100;
}

/** The endpoints A-B of a request into t (quick.ts `ends`). */
function endpoints(t: BulkTemplate): boolean {
  const a = c.v4();
  if (a < 0 || !c.ends(2)) return false;
  c.pblanks();
  if (!c.mark(HYPHEN)) return false;
  c.pblanks();
  const b = c.v4();
  if (b < 0 || !c.ends(2)) return false;
  t.ends = true;
  t.src = a;
  t.dst = b;
  return true;
}

/** After the endpoints: [/[level]] (quick.ts `tail`). */
function tail(t: BulkTemplate): boolean {
  const at = c.pastPblanks();
  if (c.b[at] !== SLASH) return true;
  c.i = at + 1;
  const lv = c.pastPblanks();
  if (c.b[lv] !== undefined && lv < c.semi) {
    const save = c.i;
    c.i = lv;
    if (levelNext()) return level(t);
    c.i = save;
  }
  return true;
}

/** One request, PROTO/MODE... (quick.ts `request`), into t. */
function request(t: BulkTemplate): boolean {
  c.pblanks();
  if (c.word(W.esp)) t.proto = IpProto.ESP;
  else if (c.word(W.ah)) t.proto = IpProto.AH;
  else if (c.word(W.ipcomp)) t.proto = IpProto.IPCOMP;
  else return false;
  if (!c.ends(2)) return false;
  c.pblanks();
  if (!c.mark(SLASH)) return false;
  c.pblanks();
  t.level = Level.DEFAULT;
  t.reqid = 0;
  t.ends = false;
  t.src = t.dst = 0;
  if (c.word(W.tunnel)) {
    t.mode = Mode.TUNNEL;
    if (!c.ends(2)) return false;
    c.pblanks();
    if (!c.mark(SLASH)) return false;
    c.pblanks();
    return endpoints(t) && tail(t);
  }
  if (!c.word(W.transport)) return false;
  t.mode = Mode.TRANSPORT;
  if (!c.ends(2)) return false;
  // transport[/[/level | A-B[/[level]]]]
  const at = c.pastPblanks();
  if (c.b[at] !== SLASH) return true;
  c.i = at + 1;
  const next = c.pastPblanks();
  const ch = c.b[next]!;
  if (ch === SLASH) {
    c.i = next + 1;
    c.pblanks();
    return level(t);
  }
  if (ch >= 48 && ch <= 57) {
    c.i = next;
    return endpoints(t) && tail(t);
  }
  // transport/ alone: the next request or the end follows
  return true;
}

/**
 * The statement b[start, semi] (semi: its ';', the first after start) into
 * p if it is an `spdadd` this reads and the quick check finds clean; false
 * otherwise (p is then anything).
 */
export function readPolicyBytes(b: Uint8Array, start: number, semi: number, p: BulkPolicy): boolean {
  if (!begin(b, start, semi, W.spdadd)) return false;
  if (!side(p, 0)) return false;
  c.blanks();
  if (!side(p, 1)) return false;
  c.blanks();
  // the upper-layer protocol: any or 0-255 (by name: the usual way, the names are the system's)
  if (c.word(W.any)) p.proto = IpProto.ANY;
  else if (c.dec(255)) p.proto = c.n;
  else return false;
  if (!c.ends(1)) return false;
  c.blanks();
  if (!c.word(W.P) || !c.ends(1)) return false;
  c.pblanks();
  if (c.word(W.out)) p.dir = Dir.OUT;
  else if (c.word(W.in)) p.dir = Dir.IN;
  else if (c.word(W.fwd)) p.dir = Dir.FWD;
  else return false;
  if (!c.ends(2)) return false;
  c.pblanks();
  p.count = 0;
  if (c.i === semi) {
    // `DIR` alone: libipsec sends type 0 (discard) with priority 0
    p.action = Action.DISCARD;
    p.priority = 0;
    return true;
  }
  p.priority = PRIORITY_DEFAULT;
  if (c.word(W.ipsec)) p.action = Action.IPSEC;
  else if (c.word(W.discard)) p.action = Action.DISCARD;
  else if (c.word(W.none)) p.action = Action.NONE;
  else return false;
  if (!c.ends(2)) return false;
  c.pblanks();
  if (p.action !== Action.IPSEC) return c.i === semi;
  while (c.i < semi) {
    if (p.count === MAX_REQUESTS || !request(p.templates[p.count]!)) return false;
    p.count++;
    c.pblanks();
  }
  return c.i === semi;
}

/** Words of a table found in place by their bytes: by length, then compared (a table is a few words; the last found is tried first). */
class ByteWords<T> {
  private readonly byLength: { readonly w: Uint8Array; readonly v: T }[][] = [];
  private last: { readonly w: Uint8Array; readonly v: T } | undefined;

  constructor(entries: Iterable<readonly [string, T]>) {
    for (const [name, v] of entries) (this.byLength[name.length] ??= []).push({ w: codes(name), v });
  }

  /** The value of the word b[s, e), or undefined. */
  find(b: Uint8Array, s: number, e: number): T | undefined {
    const last = this.last;
    if (last !== undefined && last.w.length === e - s && same(b, s, last.w)) return last.v;
    const list = this.byLength[e - s];
    if (list === undefined) return undefined;
    for (const x of list) {
      if (same(b, s, x.w)) {
        this.last = x;
        return x.v;
      }
    }
    return undefined;
  }
}

function same(b: Uint8Array, s: number, w: Uint8Array): boolean {
  for (let k = 0; k < w.length; k++) if (b[s + k] !== w[k]) return false;
  return true;
}

/** An algorithm a key goes with, as the quick check takes it: its af_key number, whether it is an AEAD, the key lengths (bytes) it takes. */
interface KeyedAlgorithm {
  readonly id: number;
  readonly aead: boolean;
  /** 1 at each byte count (1-1024) its key may have */
  readonly bytes: Uint8Array;
}

/**
 * The spellings of each kind the quick check takes with a key
 * (quick.ts keyedAlgorithms: keyed, not tcp-md5, not a variant's
 * spelling), of an algorithm af_key installs (scan.ts: its number on Linux).
 */
function keyedAlgorithms(kind: AlgKind): ByteWords<KeyedAlgorithm> {
  const entries: [string, KeyedAlgorithm][] = [];
  for (const a of ALGORITHMS) {
    if (a.kind !== kind || a.noKey || a.name === 'tcp-md5') continue;
    const bytes = new Uint8Array(1025);
    for (let n = 1; n <= 1024; n++) if (keyBitsAllowed(a.keyBits, n * 8)) bytes[n] = 1;
    for (const name of [a.name, ...a.aliases]) {
      const id = algorithmByName(kind, name)?.ids.linux ?? 0;
      // (a spelling another algorithm answers to is left to the usual way)
      if (variantBySpelling(kind, name) !== undefined || algorithmByName(kind, name) !== a || id === 0) continue;
      entries.push([name, { id, aead: a.aead === true, bytes }]);
    }
  }
  return new ByteWords(entries);
}

let algorithms: { readonly enc: ByteWords<KeyedAlgorithm>; readonly auth: ByteWords<KeyedAlgorithm> } | undefined;
const MODES = new ByteWords(modeTable.byName);
/** -f's words: a padding flag's bits (seq-pad's are none), or -1 for nocyclic-seq (it clears CYCSEQ) */
const SA_FLAGS = new ByteWords<number>([...padFlagTable.byName, ['nocyclic-seq', -1]]);

/** A hex digit's value by byte, 255 for any other */
const HEX = new Uint8Array(256).fill(255);
for (let d = 0; d < 16; d++) {
  HEX[d.toString(16).charCodeAt(0)] = d;
  HEX[d.toString(16).toUpperCase().charCodeAt(0)] = d;
}

/** A statement lexer's word from i: where it ends. */
function wordEnd(): number {
  const b = c.b;
  let i = c.i;
  while ((WORD[b[i]!]! & 1) !== 0) i++;
  return i;
}

/** B+: at least one blank of the statement lexer, and the rest of them. */
function blanks1(): boolean {
  if ((BLANK[c.b[c.i]!]! & 1) === 0) return false;
  c.blanks();
  return true;
}

/**
 * An SPI as the quick check takes it: 0x and 3-8 hex digits (leading
 * zeros aside) from 0x100, or a decimal from 256 to 999999999 without a
 * leading zero; then a blank. Into n.
 */
function spi(): boolean {
  const b = c.b;
  let i = c.i;
  let n = 0;
  if (b[i] === 48 && (b[i + 1]! | 32) === 120) {
    i += 2;
    while (b[i] === 48) i++;
    const s = i;
    for (let d = HEX[b[i]!]!; d !== 255; d = HEX[b[++i]!]!) n = n * 16 + d;
    if (i - s < 3 || i - s > 8) return false;
  } else {
    const s = i;
    for (let ch = b[i]!; ch >= 48 && ch <= 57; ch = b[++i]!) n = n * 10 + (ch - 48);
    if (i - s > 9 || b[s] === 48 || n < 256) return false;
  }
  if ((BLANK[b[i]!]! & 1) === 0) return false;
  c.i = i;
  c.n = n;
  return true;
}

/** Up to `max` decimal digits (leading zeros and all), ended as a word; into n. */
function digits(max: number): boolean {
  const b = c.b;
  const s = c.i;
  let i = s;
  let n = 0;
  for (let ch = b[i]!; ch >= 48 && ch <= 57; ch = b[++i]!) n = n * 10 + (ch - 48);
  if (i === s || i - s > max || (WORD[b[i]!]! & 1) !== 0) return false;
  c.i = i;
  c.n = n;
  return true;
}

/** The keys' bytes, decoded as they are checked: the encryption key's from 0, the authentication key's from KEY_MAX. */
const KEY_MAX = 1024;
const KEYS = new Uint8Array(2 * KEY_MAX);

/** ALG B+ 0xKEY of `kind` into sa (its number; its bytes into KEYS, decoded); the algorithm, or undefined. */
function keyed(kind: 'enc' | 'auth', sa: BulkSa): KeyedAlgorithm | undefined {
  const algs = (algorithms ??= { enc: keyedAlgorithms('enc'), auth: keyedAlgorithms('auth') });
  const e = wordEnd();
  const a = algs[kind].find(c.b, c.i, e);
  if (a === undefined) return undefined;
  c.i = e;
  if (!blanks1()) return undefined;
  const b = c.b;
  let i = c.i;
  if (b[i] !== 48 || (b[i + 1]! | 32) !== 120) return undefined;
  i += 2;
  const s = i;
  // two digits a byte, decoded as they are read (an odd one out, or too many, is not clean)
  const out = kind === 'enc' ? 0 : KEY_MAX;
  let o = out;
  for (let hi = HEX[b[i]!]!; hi !== 255; hi = HEX[b[i]!]!) {
    const lo = HEX[b[i + 1]!]!;
    if (lo === 255 || o - out === KEY_MAX) return undefined;
    KEYS[o++] = (hi << 4) | lo;
    i += 2;
  }
  const n = i - s;
  if (a.bytes[n / 2] !== 1 || (WORD[b[i]!]! & 1) !== 0) return undefined;
  c.i = i;
  if (kind === 'enc') {
    sa.ealg = a.id;
    sa.ekeyAt = out;
    sa.ekeyDigits = n;
  } else {
    sa.aalg = a.id;
    sa.akeyAt = out;
    sa.akeyDigits = n;
  }
  return a;
}

/** An option of an SA, -m, -u, -r or -f and its value (quick.ts saPattern's), into sa; false for any other. */
function option(sa: BulkSa): boolean {
  const b = c.b;
  const opt = b[c.i + 1];
  c.i += 2;
  if (!blanks1()) return false;
  switch (opt) {
    case 109: {
      const e = wordEnd();
      const mode = MODES.find(b, c.i, e);
      if (mode === undefined) return false;
      c.i = e;
      sa.mode = mode;
      return true;
    }
    case 117:
      if (!digits(9)) return false;
      sa.reqid = c.n;
      return true;
    case 114: {
      // [0-3]?\d{1,3} | 40[0-8]\d | 409[0-6]: up to 4096, four digits only from 0-3 or below 4097
      const s = c.i;
      if (!digits(4) || (c.i - s === 4 && b[s]! > 51 && c.n > 4096)) return false;
      sa.replay = c.n;
      return true;
    }
    case 102: {
      const e = wordEnd();
      const bit = SA_FLAGS.find(b, c.i, e);
      if (bit === undefined) return false;
      c.i = e;
      if (bit >= 0) sa.flags |= bit;
      else sa.flags &= ~SaFlag.CYCSEQ;
      return true;
    }
    default:
      return false;
  }
}

/**
 * The statement b[start, semi] (semi: its ';', the first after start)
 * into sa if it is an `add` this reads and the quick check finds clean;
 * false otherwise (sa is then anything). The keys are decoded into a
 * scratch, sa.keyRaw, until the next statement read.
 */
export function readSaBytes(b: Uint8Array, start: number, semi: number, sa: BulkSa): boolean {
  if (!begin(b, start, semi, W.add)) return false;
  const src = c.v4();
  if (src < 0 || !blanks1()) return false;
  const dst = c.v4();
  if (dst < 0 || !blanks1()) return false;
  let esp: boolean;
  if (c.word(W.esp)) esp = true;
  else if (c.word(W.ah)) esp = false;
  else return false;
  if (!blanks1() || !spi()) return false;
  sa.satype = esp ? SaType.ESP : SaType.AH;
  sa.src = src;
  sa.dst = dst;
  sa.spi = c.n;
  sa.mode = Mode.ANY;
  sa.reqid = 0;
  sa.replay = 0;
  sa.flags = SaFlag.CYCSEQ;
  sa.ealg = sa.aalg = 0;
  sa.etext = sa.atext = '';
  sa.ekeyAt = sa.ekeyDigits = sa.akeyAt = sa.akeyDigits = 0;
  sa.keyRaw = KEYS;
  // the options, then the algorithms (ESP -E [-A], an AEAD -E alone; AH -A)
  for (;;) {
    if (!blanks1() || b[c.i] !== HYPHEN) return false;
    const opt = b[c.i + 1];
    if (opt === 69 || opt === 65) break;
    if (!option(sa)) return false;
  }
  if (esp) {
    if (!c.word(W.E) || !blanks1()) return false;
    const e = keyed('enc', sa);
    if (e === undefined) return false;
    const at = c.i;
    c.blanks();
    if (!e.aead && c.i < semi && c.i > at) {
      if (!c.word(W.A) || !blanks1() || keyed('auth', sa) === undefined) return false;
      c.blanks();
    }
  } else {
    if (!c.word(W.A) || !blanks1() || keyed('auth', sa) === undefined) return false;
    c.blanks();
  }
  return c.i === semi;
}
