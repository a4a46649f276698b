/**
 * The common policy statement read from the file's bytes in one pass that
 * is also its check: what the quick check (syntax/quick.ts) and scan.ts's
 * reader did in two passes over the text, the first a regular expression,
 * the second another with its captures (~14 short strings a statement).
 * On the bulk load's main thread, which reads every policy of a file, the
 * two were ~1.7 us of a policy's ~7; this is ~0.7. Bytes, not the text:
 * an index into a Uint8Array reads about twice as fast as charCodeAt here.
 *
 * It says yes only where the quick check says clean (test/scan-bytes.test.ts
 * holds it to the check, and what it reads to what scan.ts reads), and
 * only for what it knows: `spdadd` of IPv4 selectors, an upper-layer
 * protocol of `any` or a number, and the policy the quick check takes (a
 * direction, an action, up to 6 requests). Anything else (a protocol by
 * name, whose names are the system's) is false: the caller checks and
 * reads it the usual way.
 */
import { Action, Dir, IpProto, Level, Mode, PRIORITY_DEFAULT } from '../model/tables.js';
import type { BulkPolicy, BulkTemplate } from '../engine/bulk-load.js';
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
  spdadd: codes('spdadd'),
  any: codes('any'),
  P: codes('-P'),
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
  if (which === 0) {
    p.src = a;
    p.sprefix = prefix;
    p.sport = port;
  } else {
    p.dst = a;
    p.dprefix = prefix;
    p.dport = port;
  }
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
  if (semi - start >= QUICK_MAX || b[semi] !== SEMI) return false;
  c.b = b;
  c.i = start;
  c.semi = semi;
  if (!c.word(W.spdadd) || (BLANK[b[c.i]!]! & 1) === 0) return false;
  c.blanks();
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
