/**
 * The policy text after `-P` (libipsec's ipsec_set_policy language, see
 * ipsec-tools src/libipsec/policy_parse.y and policy_token.l):
 *
 *   DIR [ (prio|priority) (N | -N | BASE [ (+|-) N ]) ] ACTION rule*
 *   DIR
 *   rule := proto/mode[/[addresses][/[level]]]  |  proto/mode//level
 *
 * Priorities follow libpfkey.h: PRIORITY_DEFAULT 0x80000000 and friends; a
 * positive offset means a higher priority, i.e. a smaller number.
 */
import { parseIpLiteral, type Endpoint, type IpAddress } from '../model/address.js';
import type { IpsecRequest, PolicyRule } from '../model/policy.js';
import { Action, actionTable, Dir, dirTable, IPSEC_MANUAL_REQID_MAX, Level, levelTable, Mode, modeTable, PRIORITY_DEFAULT, PRIORITY_HIGH, PRIORITY_LOW, requestProtoTable, type NameTable } from '../model/tables.js';
import { decimalValue, inetAton } from './core.js';
import type { SystemDb } from './sysdb.js';
import { escapeControls, quoteToken, showToken } from './redact.js';
import { nearest } from './suggest.js';

/** An error inside the policy text: offset into it, message, expectation. */
export interface PolicyError {
  readonly offset: number;
  readonly code: string;
  readonly message: string;
  readonly expected?: string;
}

export type PolicyResult = { ok: true; rule: PolicyRule; warnings: PolicyError[] } | { ok: false; error: PolicyError };

const enum PT {
  END,
  WORD,
  SLASH,
  HYPHEN,
  PLUS,
  PORT,
  BAD,
}

/** libipsec policy_token.l {ipaddress} characters: [a-zA-Z0-9:._%] */
const POLICY_WORD = new Uint8Array(128);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:._%') POLICY_WORD[ch.charCodeAt(0)] = 1;

/** A token's kind and extent; `at` is where it starts (a PORT's '['), [start, stop) its text. */
interface PTok {
  t: PT;
  at: number;
  start: number;
  stop: number;
}

/**
 * Tokens of the policy text, one at a time and without allocating strings:
 * large files carry one policy per statement.
 */
class Cursor implements PTok {
  t: PT = PT.END;
  at = 0;
  start = 0;
  stop = 0;
  private i = 0;
  constructor(readonly text: string) {
    this.next();
  }

  next(): void {
    const s = this.text;
    const n = s.length;
    let i = this.i;
    let c = 0;
    while (i < n && ((c = s.charCodeAt(i)) === 32 || c === 9 || c === 10 || c === 13)) i++;
    this.at = this.start = i;
    if (i >= n) return this.set(PT.END, i, i);
    if (c < 128 && POLICY_WORD[c] === 1) {
      let j = i + 1;
      while (j < n && (c = s.charCodeAt(j)) < 128 && POLICY_WORD[c] === 1) j++;
      return this.set(PT.WORD, i, j);
    }
    if (c === 47) return this.set(PT.SLASH, i, i + 1);
    if (c === 45) return this.set(PT.HYPHEN, i, i + 1);
    if (c === 43) return this.set(PT.PLUS, i, i + 1);
    if (c === 91) {
      let j = i + 1;
      while (j < n && (c = s.charCodeAt(j)) >= 48 && c <= 57) j++;
      if (j > i + 1 && j < n && c === 93) {
        this.set(PT.PORT, i + 1, j);
        this.i = j + 1;
        return;
      }
    }
    return this.set(PT.BAD, i, i + 1);
  }

  private set(t: PT, start: number, stop: number): void {
    this.t = t;
    this.start = start;
    this.stop = stop;
    this.i = stop;
  }

  /** The current token's kind (a method, so flow typing does not pin it across next()). */
  kind(): PT {
    return this.t;
  }

  /** Copy of the current token (for lookahead and error positions). */
  mark(): PTok {
    return { t: this.t, at: this.at, start: this.start, stop: this.stop };
  }

  reset(m: PTok): void {
    this.t = m.t;
    this.at = m.at;
    this.start = m.start;
    this.stop = m.stop;
    this.i = m.t === PT.PORT ? m.stop + 1 : m.stop;
  }

  str(tok: PTok = this): string {
    return this.text.slice(tok.start, tok.stop);
  }

  is(w: string): boolean {
    return this.t === PT.WORD && this.stop - this.start === w.length && this.text.startsWith(w, this.start);
  }

  /** The first of `words` the current word equals, as its index; -1 if none. */
  oneOf(words: readonly string[]): number {
    for (let k = 0; k < words.length; k++) if (this.is(words[k]!)) return k;
    return -1;
  }
}

/** A table's words (but `skip`) and their numbers, in the table's order: the policy's keywords come from the model's tables. */
function words(t: NameTable, skip?: string): { names: readonly string[]; values: readonly number[] } {
  const names = [...t.byName.keys()].filter((n) => n !== skip);
  return { names, values: names.map((n) => t.byName.get(n)!) };
}

// `any` is a direction and a mode of the model, but no word of the policy language (libipsec policy_token.l)
const DIRS = words(dirTable, 'any');
const ACTIONS = words(actionTable);
const PROTOS = words(requestProtoTable);
const MODES = words(modeTable, 'any');
const LEVELS = words(levelTable);
const BASES = ['high', 'def', 'low'] as const;
const BASE_VALUES = [PRIORITY_HIGH, PRIORITY_DEFAULT, PRIORITY_LOW];
/** af_key refuses a seventh template with ELOOP (XFRM_MAX_DEPTH, parse_ipsecrequests). */
const XFRM_MAX_DEPTH = 6;

class PolicyParser {
  readonly warnings: PolicyError[] = [];
  private readonly c: Cursor;
  constructor(
    text: string,
    private readonly sys: SystemDb,
  ) {
    this.c = new Cursor(text);
  }

  private fail(tok: PTok, code: string, message: string, expected?: string): never {
    throw { offset: tok.at, code, message, expected } satisfies PolicyError;
  }

  /** Fail at a word that is none of `names`, naming the nearest when one is near. */
  private failNear(tok: PTok, code: string, message: string, names: readonly string[], expected: string): never {
    const s = tok.t === PT.WORD ? nearest(this.c.str(tok), names) : undefined;
    if (s !== undefined) this.fail(tok, code, `${message}; did you mean '${s}'?`);
    this.fail(tok, code, message, expected);
  }

  private describe(tok: PTok = this.c): string {
    if (tok.t === PT.END) return 'end of policy';
    const text = this.c.str(tok);
    if (tok.t === PT.PORT) return quoteToken(`[${text}]`);
    if (tok.t === PT.BAD) return `'${escapeControls(String.fromCodePoint(this.c.text.codePointAt(tok.start) ?? 63))}'`;
    return quoteToken(text);
  }

  /** Fail at a character no policy token starts with. */
  private checkBad(): void {
    const c = this.c;
    if (c.kind() !== PT.BAD) return;
    if (c.text.charCodeAt(c.start) === 91) this.fail(c, 'policy-port', `bad port ${this.describe()}`, 'a port number in brackets, like [4500]');
    this.fail(c, 'policy-char', `unexpected character ${this.describe()} in policy`, 'a direction, priority, action or request');
  }

  parse(): PolicyRule {
    const c = this.c;
    this.checkBad();
    const d = c.oneOf(DIRS.names);
    if (d < 0) this.failNear(c, 'policy-direction', c.kind() === PT.END ? 'policy has no direction' : `unknown policy direction ${this.describe()}`, DIRS.names, 'in, out or fwd');
    const dir = DIRS.values[d]!;
    c.next();
    this.checkBad();
    if (c.kind() === PT.END) {
      // `DIR` alone: libipsec sends type 0 (discard) with priority 0; the kernel ignores the type
      return { dir, action: Action.DISCARD, priority: 0, requests: [] };
    }
    let priority = PRIORITY_DEFAULT;
    if (c.is('prio') || c.is('priority')) {
      c.next();
      priority = this.priority();
    }
    this.checkBad();
    const actTok = c.mark();
    const a = c.oneOf(ACTIONS.names);
    if (a < 0) this.failNear(c, 'policy-action', c.kind() === PT.END ? 'policy has no action' : `unknown policy action ${this.describe()}`, ACTIONS.names, 'discard, none, ipsec, entrust or bypass');
    const action = ACTIONS.values[a]!;
    c.next();
    const requests: IpsecRequest[] = [];
    let seventh: PTok | undefined;
    for (this.checkBad(); c.kind() !== PT.END; this.checkBad()) {
      if (requests.length === XFRM_MAX_DEPTH) seventh = c.mark();
      requests.push(this.request(dir, action));
    }
    if (action !== Action.IPSEC && requests.length > 0) {
      this.warnings.push({ offset: actTok.at, code: 'policy-rules-ignored', message: `requests after '${ACTIONS.names[a]}' are sent but the kernel ignores them` });
    } else if (seventh) {
      this.warnings.push({ offset: seventh.at, code: 'policy-too-deep', message: `${requests.length} requests: a Linux kernel takes at most ${XFRM_MAX_DEPTH} and refuses this policy (ELOOP)` });
    }
    return { dir, action, priority, requests };
  }

  private number(max: number, what: string): number {
    const c = this.c;
    this.checkBad();
    const v = c.kind() === PT.WORD ? decimalValue(c.str()) : undefined;
    if (v === undefined) this.fail(c, 'policy-priority', `bad priority ${this.describe()}`, what);
    if (v > max) this.fail(c, 'priority-range', `priority offset ${showToken(c.str())} is out of range`, `an offset from 0 to ${max}`);
    c.next();
    return v;
  }

  private priority(): number {
    const c = this.c;
    this.checkBad();
    if (c.kind() === PT.HYPHEN) {
      // `prio -N`: lower priority, a larger number
      c.next();
      return PRIORITY_DEFAULT + this.number(0x7fffffff, 'a number after prio -');
    }
    if (c.kind() === PT.WORD && decimalValue(c.str()) !== undefined) {
      return PRIORITY_DEFAULT - this.number(0x80000000, 'a number, or low, def or high');
    }
    const b = c.oneOf(BASES);
    if (b < 0) this.failNear(c, 'policy-priority', `unknown priority ${this.describe()}`, BASES, 'a number, or low, def or high, optionally followed by + N or - N');
    const base = BASE_VALUES[b]!;
    c.next();
    if (c.kind() === PT.PLUS) {
      // libipsec: base + N <= PRIORITY_OFFSET_NEGATIVE_MAX (0x40000000)
      c.next();
      return base - this.number(0x40000000, 'a number after +');
    }
    if (c.kind() === PT.HYPHEN) {
      c.next();
      return base + this.number(0x3fffffff, 'a number after -');
    }
    return base;
  }

  private request(dir: number, action: number): IpsecRequest {
    const c = this.c;
    const protoTok = c.mark();
    const pi = c.oneOf(PROTOS.names);
    if (pi < 0) this.failNear(c, 'policy-request', `unexpected ${this.describe()} in policy`, PROTOS.names, 'a request protocol/mode/src-dst/level with protocol esp, ah or ipcomp');
    const proto = PROTOS.values[pi]!;
    const pname = PROTOS.names[pi]!;
    c.next();
    this.checkBad();
    const full = 'protocol/mode/src-dst/level, like esp/transport//require';
    if (c.kind() !== PT.SLASH) this.fail(c.kind() === PT.END ? protoTok : c, 'policy-too-few', `incomplete request '${pname}'`, full);
    c.next();
    this.checkBad();
    const modeTok = c.mark();
    const mi = c.oneOf(MODES.names);
    const mode = mi < 0 ? undefined : MODES.values[mi]!;
    if (mode === undefined) {
      if (c.kind() === PT.END || c.oneOf(PROTOS.names) >= 0) this.fail(protoTok, 'policy-too-few', `incomplete request '${pname}/'`, full);
      this.failNear(c, 'policy-mode', `unknown mode ${this.describe()}`, MODES.names, 'transport or tunnel');
    }
    c.next();
    this.checkBad();
    let level: number = Level.DEFAULT;
    let reqid = 0;
    let tunnel: { src: Endpoint; dst: Endpoint } | undefined;
    if (c.kind() === PT.SLASH) {
      c.next();
      this.checkBad();
      if (c.kind() === PT.SLASH) {
        // proto/mode//level: the level is mandatory after '//'
        c.next();
        [level, reqid] = this.level(true);
      } else if (!(c.kind() === PT.END || c.oneOf(PROTOS.names) >= 0)) {
        tunnel = this.addresses(dir);
        this.checkBad();
        if (c.kind() === PT.SLASH) {
          c.next();
          [level, reqid] = this.level(false);
        }
      }
    }
    if (action === Action.IPSEC && !tunnel && mode === Mode.TUNNEL) {
      this.fail(modeTok, 'tunnel-endpoints', 'tunnel mode needs its endpoints', `${pname}/tunnel/SRC-DST/level`);
    }
    return tunnel ? { proto, mode, level, reqid, tunnel } : { proto, mode, level, reqid };
  }

  private level(required: boolean): [number, number] {
    const c = this.c;
    this.checkBad();
    const expected = 'default, use, require, unique or unique:N';
    if (c.kind() === PT.WORD) {
      const l = c.oneOf(LEVELS.names);
      if (l >= 0) {
        c.next();
        return [LEVELS.values[l]!, 0];
      }
      const t = c.str();
      if (t.startsWith('unique:')) return this.uniqueId(t.slice(7));
      if (c.oneOf(PROTOS.names) >= 0 && !required) return [Level.DEFAULT, 0];
    } else if (c.kind() === PT.END && !required) {
      return [Level.DEFAULT, 0];
    }
    this.failNear(c, 'policy-level', c.kind() === PT.END ? 'missing level after //' : `unknown level ${this.describe()}`, LEVELS.names, expected);
  }

  /**
   * `unique:N`: the man page says 1 to 32767, the reference took any number
   * and so does a Linux kernel, which keeps N only up to 16383
   * (IPSEC_MANUAL_REQID_MAX) and picks a reqid of its own for 0 and beyond
   * (af_key parse_ipsecrequest): those are warned of, not refused.
   */
  private uniqueId(digits: string): [number, number] {
    const c = this.c;
    const id = decimalValue(digits);
    if (id === undefined) this.fail(c, 'policy-level', `unknown level ${this.describe()}`, 'default, use, require, unique or unique:N');
    if (id > 0xffffffff) this.fail(c, 'unique-range', `unique id ${showToken(digits)} does not fit in 32 bits`, `unique:N with N from 1 to ${IPSEC_MANUAL_REQID_MAX}`);
    if (id === 0) this.warnings.push({ offset: c.at, code: 'unique-auto', message: 'unique:0 is plain unique: the kernel picks a reqid of its own' });
    else if (id > IPSEC_MANUAL_REQID_MAX) {
      this.warnings.push({ offset: c.at, code: 'unique-auto', message: `a Linux kernel keeps unique ids up to ${IPSEC_MANUAL_REQID_MAX} only and picks a reqid of its own, so no SA added with -u ${id} is bound to this policy` });
    }
    c.next();
    return [Level.UNIQUE, id];
  }

  private endpoint(): Endpoint & { hasPort: boolean } {
    const c = this.c;
    this.checkBad();
    if (c.kind() !== PT.WORD) this.fail(c, 'policy-endpoint', `expected an address, found ${this.describe()}`, 'tunnel endpoints SRC-DST, me-any or any-me');
    const text = c.str();
    let lit = parseIpLiteral(text);
    if (!lit) {
      // ipsec-tools read endpoints with getaddrinfo, which takes inet_aton's forms (10.1, 010.0.0.1)
      const aton = inetAton(text);
      if (!aton) this.fail(c, 'policy-endpoint', `${quoteToken(text)} is not an IP address`, 'a numeric IPv4 or IPv6 address');
      this.warnings.push({ offset: c.at, code: 'inet-aton', message: aton.note });
      lit = { addr: aton.addr };
    }
    let addr: IpAddress = lit.addr;
    if (lit.zone !== undefined && decimalValue(lit.zone) === undefined) {
      const idx = this.sys.ifIndex(lit.zone);
      if (idx === undefined) this.fail(c, 'unknown-zone', `unknown interface ${quoteToken(lit.zone)} in ${quoteToken(text)}`, 'an existing interface name or index');
      addr = { ...addr, scopeId: idx };
    }
    c.next();
    let port = 0;
    const hasPort = c.kind() === PT.PORT;
    if (hasPort) {
      port = decimalValue(c.str())!;
      if (port > 65535) this.fail(c, 'port-range', `port ${showToken(c.str())} is out of range`, 'a port from 0 to 65535');
      c.next();
    }
    return { addr, port, hasPort };
  }

  private addresses(dir: number): { src: Endpoint; dst: Endpoint } | undefined {
    const c = this.c;
    const first = c.mark();
    if (c.is('me') || c.is('any')) {
      const meFirst = c.is('me');
      c.next();
      if (c.kind() === PT.HYPHEN) {
        c.next();
        if (meFirst ? c.is('any') : c.is('me')) {
          if (meFirst && dir !== Dir.OUT) this.fail(first, 'me-any-direction', "'me-any' is only valid in an out policy", 'any-me for in policies');
          if (!meFirst && dir !== Dir.IN) this.fail(first, 'any-me-direction', "'any-me' is only valid in an in policy", 'me-any for out policies');
          c.next();
          return undefined;
        }
      }
      c.reset(first);
    }
    const src = this.endpoint();
    this.checkBad();
    if (c.kind() !== PT.HYPHEN) this.fail(c, 'policy-endpoint', `expected '-' between tunnel endpoints, found ${this.describe()}`, 'SRC-DST');
    c.next();
    const dst = this.endpoint();
    if (src.hasPort !== dst.hasPort) {
      // libipsec's grammar takes [port] on both endpoints or on neither
      this.fail(first, 'policy-endpoint', 'a port on one tunnel endpoint only', 'ports on both endpoints (SRC[port]-DST[port]) or on neither');
    }
    if (src.addr.family !== dst.addr.family) {
      this.fail(first, 'family-mismatch', 'tunnel endpoints are of different address families', 'two IPv4 or two IPv6 endpoints');
    }
    return { src: { addr: src.addr, port: src.port }, dst: { addr: dst.addr, port: dst.port } };
  }
}

/**
 * The last policy texts parsed, with what they gave, for one system
 * database (the parse reads it). A file's policies mostly share a few
 * texts, one after the other: a gateway sends every subnet through one
 * tunnel, `-P out ipsec esp/tunnel/A-B/require` and its `in` twin. A result
 * is immutable (PolicyRule is readonly throughout; the warnings are
 * frozen), so statements share it.
 *
 * A ring of a few, looked through with ===, not a Map: with a Map (of 1024
 * texts, or of 64, or emptied at each new text) an apply of 100k distinct
 * texts had V8 promote 220-246 MB instead of 128-132 (--trace-gc-nvp) and
 * took 1.02-1.10x as long; with the ring, 132 MB.
 */
const RECENT = 8;
const recentTexts: (string | undefined)[] = new Array<string | undefined>(RECENT).fill(undefined);
const recentResults: (PolicyResult | undefined)[] = new Array<PolicyResult | undefined>(RECENT).fill(undefined);
let recentSys: SystemDb | undefined;
let recentNext = 0;

/** parsePolicy, answered from the last texts parsed where it can be. */
export function parsePolicyOnce(text: string, sys: SystemDb): PolicyResult {
  if (sys !== recentSys) {
    recentSys = sys;
    recentTexts.fill(undefined);
    recentResults.fill(undefined);
  }
  for (let i = 0; i < RECENT; i++) if (recentTexts[i] === text) return recentResults[i]!;
  const r = parsePolicy(text, sys);
  if (r.ok) Object.freeze(r.warnings);
  recentTexts[recentNext] = text;
  recentResults[recentNext] = r;
  recentNext = (recentNext + 1) % RECENT;
  return r;
}

/** Parse policy text. Offsets in errors are relative to `text`. */
export function parsePolicy(text: string, sys: SystemDb): PolicyResult {
  const p = new PolicyParser(text, sys);
  try {
    const rule = p.parse();
    return { ok: true, rule, warnings: p.warnings };
  } catch (e) {
    if (e && typeof e === 'object' && 'offset' in e) return { ok: false, error: e as PolicyError };
    throw e;
  }
}
