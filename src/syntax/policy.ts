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
import {
  Action,
  actionTable,
  dirTable,
  Dir,
  Level,
  levelTable,
  Mode,
  PRIORITY_DEFAULT,
  PRIORITY_HIGH,
  PRIORITY_LOW,
  requestProtoTable,
} from '../model/tables.js';
import type { SystemDb } from './sysdb.js';

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

interface PTok {
  t: PT;
  s: string;
  at: number;
}

/** libipsec policy_token.l {ipaddress} characters: [a-zA-Z0-9:._%] */
const POLICY_WORD = new Uint8Array(128);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:._%') POLICY_WORD[ch.charCodeAt(0)] = 1;

function isPolicyWord(c: number): boolean {
  return c < 128 && POLICY_WORD[c] === 1;
}

function tokenize(text: string): PTok[] | PolicyError {
  const out: PTok[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) {
      i++;
      continue;
    }
    if (isPolicyWord(c)) {
      let j = i + 1;
      while (j < n && isPolicyWord(text.charCodeAt(j))) j++;
      out.push({ t: PT.WORD, s: text.slice(i, j), at: i });
      i = j;
    } else if (c === 47) out.push({ t: PT.SLASH, s: '/', at: i++ });
    else if (c === 45) out.push({ t: PT.HYPHEN, s: '-', at: i++ });
    else if (c === 43) out.push({ t: PT.PLUS, s: '+', at: i++ });
    else if (c === 91) {
      const close = text.indexOf(']', i);
      const body = close < 0 ? '' : text.slice(i + 1, close);
      if (close < 0 || !/^[0-9]+$/.test(body)) {
        return { offset: i, code: 'policy-port', message: `bad port '${close < 0 ? text.slice(i) : text.slice(i, close + 1)}'`, expected: 'a port number in brackets, like [4500]' };
      }
      out.push({ t: PT.PORT, s: body, at: i });
      i = close + 1;
    } else {
      return { offset: i, code: 'policy-char', message: `unexpected character '${String.fromCodePoint(text.codePointAt(i) ?? c)}' in policy`, expected: 'a direction, priority, action or request' };
    }
  }
  out.push({ t: PT.END, s: '', at: n });
  return out;
}

class PolicyParser {
  private k = 0;
  readonly warnings: PolicyError[] = [];
  constructor(
    private readonly toks: PTok[],
    private readonly sys: SystemDb,
  ) {}

  private c(): PTok {
    return this.toks[this.k]!;
  }

  private peek(n = 1): PTok {
    return this.toks[Math.min(this.k + n, this.toks.length - 1)]!;
  }

  private fail(tok: PTok, code: string, message: string, expected?: string): never {
    throw { offset: tok.at, code, message, expected } satisfies PolicyError;
  }

  private describe(tok: PTok): string {
    return tok.t === PT.END ? 'end of policy' : `'${tok.t === PT.PORT ? `[${tok.s}]` : tok.s}'`;
  }

  parse(): PolicyRule {
    const dirTok = this.c();
    const dir = dirTok.t === PT.WORD ? dirTable.byName.get(dirTok.s) : undefined;
    if (dir === undefined || dir === Dir.ANY) {
      this.fail(dirTok, 'policy-direction', dirTok.t === PT.END ? 'policy has no direction' : `unknown policy direction ${this.describe(dirTok)}`, 'in, out or fwd');
    }
    this.k++;
    if (this.c().t === PT.END) {
      // `DIR` alone: libipsec sends type 0 (discard) with priority 0; the kernel ignores the type
      return { dir, action: Action.DISCARD, priority: 0, requests: [] };
    }
    let priority = PRIORITY_DEFAULT;
    if (this.c().t === PT.WORD && (this.c().s === 'prio' || this.c().s === 'priority')) {
      this.k++;
      priority = this.priority();
    }
    const actTok = this.c();
    const action = actTok.t === PT.WORD ? actionTable.byName.get(actTok.s) : undefined;
    if (action === undefined) {
      this.fail(actTok, 'policy-action', actTok.t === PT.END ? 'policy has no action' : `unknown policy action ${this.describe(actTok)}`, 'discard, none, ipsec, entrust or bypass');
    }
    this.k++;
    const requests: IpsecRequest[] = [];
    while (this.c().t !== PT.END) requests.push(this.request(dir, action));
    if (action !== Action.IPSEC && requests.length > 0) {
      this.warnings.push({ offset: actTok.at, code: 'policy-rules-ignored', message: `requests after '${actTok.s}' are sent but the kernel ignores them` });
    }
    return { dir, action, priority, requests };
  }

  private number(max: number, what: string): number {
    const tok = this.c();
    if (tok.t !== PT.WORD || !/^[0-9]+$/.test(tok.s)) this.fail(tok, 'policy-priority', `bad priority ${this.describe(tok)}`, what);
    const n = Number(tok.s);
    if (!(n <= max)) this.fail(tok, 'priority-range', `priority offset ${tok.s} is out of range`, `an offset from 0 to ${max}`);
    this.k++;
    return n;
  }

  private priority(): number {
    const tok = this.c();
    const bases: Record<string, number> = { high: PRIORITY_HIGH, def: PRIORITY_DEFAULT, low: PRIORITY_LOW };
    if (tok.t === PT.HYPHEN) {
      // `prio -N`: lower priority, a larger number
      this.k++;
      return PRIORITY_DEFAULT + this.number(0x7fffffff, 'a number after prio -');
    }
    if (tok.t === PT.WORD && /^[0-9]+$/.test(tok.s)) {
      return PRIORITY_DEFAULT - this.number(0x80000000, 'a number, or low, def or high');
    }
    const base = tok.t === PT.WORD ? bases[tok.s] : undefined;
    if (base === undefined) this.fail(tok, 'policy-priority', `unknown priority ${this.describe(tok)}`, 'a number, or low, def or high, optionally followed by + N or - N');
    this.k++;
    if (this.c().t === PT.PLUS) {
      // libipsec: base + N <= PRIORITY_OFFSET_NEGATIVE_MAX (0x40000000)
      this.k++;
      return base - this.number(0x40000000, 'a number after +');
    }
    if (this.c().t === PT.HYPHEN) {
      this.k++;
      return base + this.number(0x3fffffff, 'a number after -');
    }
    return base;
  }

  private request(dir: number, action: number): IpsecRequest {
    const protoTok = this.c();
    const proto = protoTok.t === PT.WORD ? requestProtoTable.byName.get(protoTok.s) : undefined;
    if (proto === undefined) {
      this.fail(protoTok, 'policy-request', `unexpected ${this.describe(protoTok)} in policy`, 'a request protocol/mode/src-dst/level with protocol esp, ah or ipcomp');
    }
    this.k++;
    const full = 'protocol/mode/src-dst/level, like esp/transport//require';
    if (this.c().t !== PT.SLASH) this.fail(this.c().t === PT.END ? protoTok : this.c(), 'policy-too-few', `incomplete request '${protoTok.s}'`, full);
    this.k++;
    const modeTok = this.c();
    const mode = modeTok.t === PT.WORD ? (modeTok.s === 'transport' ? Mode.TRANSPORT : modeTok.s === 'tunnel' ? Mode.TUNNEL : undefined) : undefined;
    if (mode === undefined) {
      if (modeTok.t === PT.END || (modeTok.t === PT.WORD && requestProtoTable.byName.has(modeTok.s))) {
        this.fail(protoTok, 'policy-too-few', `incomplete request '${protoTok.s}/'`, full);
      }
      this.fail(modeTok, 'policy-mode', `unknown mode ${this.describe(modeTok)}`, 'transport or tunnel');
    }
    this.k++;
    let level: number = Level.DEFAULT;
    let reqid = 0;
    let tunnel: { src: Endpoint; dst: Endpoint } | undefined;
    if (this.c().t === PT.SLASH) {
      this.k++;
      if (this.c().t === PT.SLASH) {
        // proto/mode//level: the level is mandatory after '//'
        this.k++;
        [level, reqid] = this.level(true);
      } else if (!(this.c().t === PT.END || (this.c().t === PT.WORD && requestProtoTable.byName.has(this.c().s)))) {
        tunnel = this.addresses(dir);
        if (this.c().t === PT.SLASH) {
          this.k++;
          [level, reqid] = this.level(false);
        }
      }
    }
    if (action === Action.IPSEC && !tunnel && mode === Mode.TUNNEL) {
      this.fail(modeTok, 'tunnel-endpoints', 'tunnel mode needs its endpoints', `${protoTok.s}/tunnel/SRC-DST/level`);
    }
    return tunnel ? { proto, mode, level, reqid, tunnel } : { proto, mode, level, reqid };
  }

  private level(required: boolean): [number, number] {
    const tok = this.c();
    if (tok.t === PT.WORD) {
      const plain = levelTable.byName.get(tok.s);
      if (plain !== undefined) {
        this.k++;
        return [plain, 0];
      }
      const m = /^unique:([0-9]+)$/.exec(tok.s);
      if (m) {
        const id = Number(m[1]);
        if (!(id >= 1 && id <= 32767)) this.fail(tok, 'unique-range', `unique id ${m[1]} is out of range`, 'unique:N with N from 1 to 32767');
        this.k++;
        return [Level.UNIQUE, id];
      }
      if (requestProtoTable.byName.has(tok.s) && !required) return [Level.DEFAULT, 0];
    } else if (tok.t === PT.END && !required) {
      return [Level.DEFAULT, 0];
    }
    this.fail(tok, 'policy-level', tok.t === PT.END ? 'missing level after //' : `unknown level ${this.describe(tok)}`, 'default, use, require, unique or unique:N');
  }

  private endpoint(): Endpoint & { hasPort: boolean } {
    const tok = this.c();
    if (tok.t !== PT.WORD) this.fail(tok, 'policy-endpoint', `expected an address, found ${this.describe(tok)}`, 'tunnel endpoints SRC-DST, me-any or any-me');
    const lit = parseIpLiteral(tok.s);
    if (!lit) this.fail(tok, 'policy-endpoint', `'${tok.s}' is not an IP address`, 'a numeric IPv4 or IPv6 address');
    let addr: IpAddress = lit.addr;
    if (lit.zone !== undefined && !/^[0-9]+$/.test(lit.zone)) {
      const idx = this.sys.ifIndex(lit.zone);
      if (idx === undefined) this.fail(tok, 'unknown-zone', `unknown interface '${lit.zone}' in '${tok.s}'`, 'an existing interface name or index');
      addr = { ...addr, scopeId: idx };
    }
    this.k++;
    let port = 0;
    const hasPort = this.c().t === PT.PORT;
    if (hasPort) {
      port = Number(this.c().s);
      if (!(port <= 65535)) this.fail(this.c(), 'port-range', `port ${this.c().s} is out of range`, 'a port from 0 to 65535');
      this.k++;
    }
    return { addr, port, hasPort };
  }

  private addresses(dir: number): { src: Endpoint; dst: Endpoint } | undefined {
    const tok = this.c();
    if (tok.t === PT.WORD && (tok.s === 'me' || tok.s === 'any') && this.peek().t === PT.HYPHEN) {
      const other = this.peek(2);
      const meAny = tok.s === 'me' && other.s === 'any';
      const anyMe = tok.s === 'any' && other.s === 'me';
      if (meAny || anyMe) {
        if (meAny && dir !== Dir.OUT) this.fail(tok, 'me-any-direction', "'me-any' is only valid in an out policy", 'any-me for in policies');
        if (anyMe && dir !== Dir.IN) this.fail(tok, 'any-me-direction', "'any-me' is only valid in an in policy", 'me-any for out policies');
        this.k += 3;
        return undefined;
      }
    }
    const src = this.endpoint();
    if (this.c().t !== PT.HYPHEN) this.fail(this.c(), 'policy-endpoint', `expected '-' between tunnel endpoints, found ${this.describe(this.c())}`, 'SRC-DST');
    this.k++;
    const dst = this.endpoint();
    if (src.hasPort !== dst.hasPort) {
      // libipsec's grammar takes [port] on both endpoints or on neither
      this.fail(tok, 'policy-endpoint', 'a port on one tunnel endpoint only', 'ports on both endpoints (SRC[port]-DST[port]) or on neither');
    }
    if (src.addr.family !== dst.addr.family) {
      this.fail(tok, 'family-mismatch', 'tunnel endpoints are of different address families', 'two IPv4 or two IPv6 endpoints');
    }
    return { src: { addr: src.addr, port: src.port }, dst: { addr: dst.addr, port: dst.port } };
  }
}

/** Parse policy text. Offsets in errors are relative to `text`. */
export function parsePolicy(text: string, sys: SystemDb): PolicyResult {
  const toks = tokenize(text);
  if (!Array.isArray(toks)) return { ok: false, error: toks };
  const p = new PolicyParser(toks, sys);
  try {
    const rule = p.parse();
    return { ok: true, rule, warnings: p.warnings };
  } catch (e) {
    if (e && typeof e === 'object' && 'offset' in e) return { ok: false, error: e as PolicyError };
    throw e;
  }
}
