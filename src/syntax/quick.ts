/**
 * The quick check: a statement of the common shapes recognised where it
 * stands in the text and found clean without being built. A large file is
 * mostly such statements, one SA or policy each, and a check (`-n`, or the
 * first pass of an apply that reads the file again) needs no model of them,
 * only whether they are right. Building one costs ~3.5 KB of objects
 * (addresses, keys, the command, the policy): most of `-n`'s time, a fifth of
 * it in V8's collector.
 *
 * The common shapes form a regular language, so the check is one regular
 * expression per statement kind, made from the same tables the parser reads
 * (algorithms and their key sizes, modes, policy words, the protocols
 * database). V8 runs a regular expression as native code from its second
 * use: a statement is checked in one pass with nothing allocated, and
 * without the JIT warm-up that a check written in JS pays for on every run
 * (an earlier version was; it made `-n` only 1.1x faster).
 *
 * It is conservative: it says yes only where the parser (sa-statements.ts,
 * spd-statements.ts, policy.ts) takes the statement with no error, no warning
 * and no host name. Anything else, even what is right but rare (IPv6, host
 * names, ports on SAs, priorities, me-any, quoted keys, a comment or a quote
 * inside a statement, -4/-6/-n, leading zeros), goes to the parser, which
 * reports as ever. It covers
 *
 *   add|update V4 V4 esp|ah|ipcomp SPI [-m M | -u N | -r N | -f F | -lh|-ls|-bh|-bs N | -esn]... ALGS ;
 *   spdadd|spdupdate|spddelete V4[/plen][[port]] V4[/plen][[port]] UPPER -P POLICY ;
 *   POLICY: DIR | DIR ACTION | DIR ipsec REQUEST{0,6}, REQUEST: proto/transport[/[V4-V4][/[level]] | /level] or proto/tunnel/V4-V4[/[level]]
 *
 * with SPIs from 256, the algorithms each protocol takes without a warning,
 * keys of 0x and an even number of hex digits of a length their algorithm
 * takes, and unique ids from 1 to 16383. test/quick.test.ts holds it to the
 * parser: never a yes where the parser says anything.
 */
import { ALGORITHMS, keyBitsAllowed, variantBySpelling, type Algorithm, type AlgKind } from '../model/algorithms.js';
import { Action, actionTable, dirTable, levelTable, modeTable, padFlagTable, requestProtoTable } from '../model/tables.js';
import { COMMAND_WORDS } from './lexer.js';
import type { SystemDb } from './sysdb.js';

/** The statement lexer's blanks and word characters (lexer.ts), and the end of a word. */
const B = '[\\t\\n\\v\\f\\r ]';
const WORD = '[A-Za-z0-9:%.,_+\\-]';
const E = `(?!${WORD})`;
/** The policy lexer's (policy.ts Cursor): fewer blanks, other word characters. */
const PB = '[\\t\\n\\r ]';
const PE = '(?![a-zA-Z0-9:._%])';

/** A part of a dotted quad as inet_pton takes it: 0 to 255, no leading zero. */
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const V4 = `${OCTET}(?:\\.${OCTET}){3}`;
/** SPIs 256 to 2^32-1 (1-255 are a warning, 0 and more an error), CPIs 256 to 65535; no leading zero in decimal. */
const SPI = '(?:0[xX]0*[1-9a-fA-F][0-9a-fA-F]{2,7}|[1-9]\\d{3,8}|[3-9]\\d\\d|2[6-9]\\d|25[6-9])';
const U16 = '(?:6553[0-5]|655[0-2]\\d|65[0-4]\\d\\d|6[0-4]\\d{3}|[1-5]\\d{4}|[1-9]\\d{0,3}|0)';
const CPI = '(?:0[xX]0*[1-9a-fA-F][0-9a-fA-F]{2,3}|6553[0-5]|655[0-2]\\d|65[0-4]\\d\\d|6[0-4]\\d{3}|[1-5]\\d{4}|[1-9]\\d{3}|[3-9]\\d\\d|2[6-9]\\d|25[6-9])';
/** unique:N with N from 1 to IPSEC_MANUAL_REQID_MAX (0 and beyond are warnings). */
const UNIQUE_ID = '(?:[1-9]\\d{0,3}|1[0-5]\\d{3}|16[0-2]\\d\\d|163[0-7]\\d|1638[0-3])';

/** The longest statement the check reads (real ones are 100-400 characters); longer ones are the parser's. */
export const QUICK_MAX = 2048;

const escape = (w: string): string => w.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
const oneOf = (words: Iterable<string>): string => `(?:${[...words].map(escape).join('|')})`;
const namesOf = (t: { byName: ReadonlyMap<string, number> }, keep: (v: number, name: string) => boolean = () => true): string[] =>
  [...t.byName].filter(([n, v]) => keep(v, n)).map(([n]) => n);

/** A key of 0x and an even number of hex digits, of a length `alg` takes. */
function keyPattern(alg: Algorithm): string | undefined {
  const counts: number[] = [];
  // keys are whole bytes; an odd digit count is a warning
  for (let bytes = 1; bytes <= 1024; bytes++) if (keyBitsAllowed(alg.keyBits, bytes * 8)) counts.push(bytes);
  if (counts.length === 0) return undefined;
  // runs of byte counts as {min,max}
  const runs: string[] = [];
  for (let i = 0; i < counts.length; ) {
    let j = i;
    while (j + 1 < counts.length && counts[j + 1] === counts[j]! + 1) j++;
    runs.push(i === j ? `{${counts[i]}}` : `{${counts[i]},${counts[j]}}`);
    i = j + 1;
  }
  return `0[xX](?:${runs.map((r) => `(?:[0-9a-fA-F]{2})${r}`).join('|')})${E}`;
}

/** NAME B+ KEY for each algorithm of `kind` that `keep` takes (its spellings: name and aliases, never a variant's). */
function keyedAlgorithms(kind: AlgKind, keep: (a: Algorithm) => boolean): string {
  const alts: string[] = [];
  for (const a of ALGORITHMS) {
    // keyless ones take no key; tcp-md5 is for protocol tcp only
    if (a.kind !== kind || a.noKey || a.name === 'tcp-md5' || !keep(a)) continue;
    const key = keyPattern(a);
    const names = [a.name, ...a.aliases].filter((n) => variantBySpelling(kind, n) === undefined);
    if (key && names.length) alts.push(`${oneOf(names)}${B}+${key}`);
  }
  return `(?:${alts.join('|')})`;
}

function saPattern(): string {
  const opt = [
    `-m${B}+${oneOf(namesOf(modeTable))}`,
    `-u${B}+\\d{1,9}`,
    // XFRM's largest replay window is 4096 (sa-statements.ts extensions)
    `-r${B}+(?:[0-3]?\\d{1,3}|40[0-8]\\d|409[0-6])`,
    `-f${B}+${oneOf([...namesOf(padFlagTable), 'nocyclic-seq'])}`,
    // 19 digits always fit in 64 bits
    `-[lb][hs]${B}+\\d{1,19}`,
    '-esn',
  ];
  const ext = `(?:${B}+(?:${opt.join('|')})${E})*`;
  const auth = keyedAlgorithms('auth', () => true);
  const aead = keyedAlgorithms('enc', (a) => a.aead === true);
  const enc = keyedAlgorithms('enc', (a) => a.aead !== true);
  const comp = oneOf(ALGORITHMS.filter((a) => a.kind === 'comp').flatMap((a) => [a.name, ...a.aliases]));
  // the algorithms each protocol takes without a warning (sa-statements.ts warnCombination): ESP -E [-A], AH -A, IPComp -C
  const esp = `esp${B}+${SPI}${ext}${B}+-E${B}+(?:${aead}|${enc}(?:${B}+-A${B}+${auth})?)`;
  const ah = `ah${B}+${SPI}${ext}${B}+-A${B}+${auth}`;
  const ipcomp = `ipcomp${B}+${CPI}${ext}${B}+-C${B}+${comp}${E}(?:${B}+-R${E})?`;
  return `(?:add|update)${B}+${V4}${B}+${V4}${B}+(?:${esp}|${ah}|${ipcomp})${B}*;`;
}

/** The upper-layer protocols by name: the protocols database's that the parser reads as names, and its own two. */
function upperNames(sys: SystemDb): string[] {
  const names = new Set<string>(['icmp6', 'ip4']);
  for (const n of sys.protocolNames?.() ?? []) names.add(n);
  // a name that is not one word of the lexer, a number, an option or a command word is not read as a name
  return [...names].filter((n) => new RegExp(`^${WORD}+$`).test(n) && !/^[0-9]+$/.test(n) && n[0] !== '-' && !COMMAND_WORDS.has(n));
}

function spdPattern(sys: SystemDb): string {
  const side = `${V4}${E}(?:${B}*/${B}*(?:3[0-2]|[12]?\\d)${E})?(?:${B}*\\[${B}*(?:any|${U16})${E}${B}*\\])?`;
  const upper = `(?:any|${OCTET}|${oneOf(upperNames(sys))})${E}`;
  const level = `(?:unique:${UNIQUE_ID}|${oneOf(namesOf(levelTable))})${PE}`;
  const ends = `${V4}${PE}${PB}*-${PB}*${V4}${PE}`;
  const proto = `${PB}*${oneOf(namesOf(requestProtoTable))}${PE}${PB}*/${PB}*`;
  // after the endpoints: an optional /, then an optional level (what follows is the next request or the end)
  const tail = `(?:${PB}*/(?:${PB}*${level})?)?`;
  const transport = `transport${PE}(?:${PB}*/(?:${PB}*/${PB}*${level}|${PB}*${ends}${tail})?)?`;
  const tunnel = `tunnel${PE}${PB}*/${PB}*${ends}${tail}`;
  const request = `${proto}(?:${transport}|${tunnel})`;
  const dirs = oneOf(namesOf(dirTable, (_, n) => n !== 'any'));
  const others = oneOf(namesOf(actionTable, (v) => v !== Action.IPSEC));
  // the policy runs to the first ';' (lexer.ts takePolicyText); requests after an action but ipsec are a warning, a seventh one too
  const policy = `${PB}*${dirs}${PE}(?:${PB}*${others}${PE}|${PB}*ipsec${PE}(?:${request}){0,6})?${PB}*;`;
  return `(?:spdadd|spdupdate|spddelete)${B}+${side}${B}*${side}${B}*${upper}${B}*-P${E}${policy}`;
}

/** One check per system database (its protocol names are in it), made on first use. */
const checks = new WeakMap<SystemDb, QuickCheck>();

export class QuickCheck {
  private readonly sa: RegExp;
  private readonly spd: RegExp;

  private constructor(sys: SystemDb) {
    this.sa = new RegExp(saPattern(), 'y');
    this.spd = new RegExp(spdPattern(sys), 'y');
  }

  /** The check for a system database (its protocol names are in it), made on first use. */
  static for(sys: SystemDb): QuickCheck {
    let q = checks.get(sys);
    if (!q) checks.set(sys, (q = new QuickCheck(sys)));
    return q;
  }

  /**
   * Whether the statement whose command word begins at `start` and whose
   * text runs to the ';' at `semi` (the first one after `start`) is one the
   * parser takes with nothing to say. False where the check is not sure.
   */
  clean(src: string, start: number, semi: number): boolean {
    const c = src.charCodeAt(start);
    return matches(c === 97 || c === 117 ? this.sa : c === 115 ? this.spd : undefined, src, start, semi);
  }
}

/** Whether `re` (a pattern of this module) reads the statement src[start, semi] whole. */
function matches(re: RegExp | undefined, src: string, start: number, semi: number): boolean {
  if (re === undefined || semi - start >= QUICK_MAX) return false;
  re.lastIndex = start;
  // no pattern crosses a ';': a match ends at the first one
  return re.test(src) && re.lastIndex === semi + 1;
}

/**
 * QuickCheck.clean of SAs (`add`, `update`) alone, false for anything
 * else: needs no system database (a bulk load's worker checks the SAs the
 * main thread handed over unchecked: parser.ts deferAdds).
 */
export class QuickSaCheck {
  private readonly sa = new RegExp(saPattern(), 'y');

  clean(src: string, start: number, semi: number): boolean {
    const c = src.charCodeAt(start);
    return matches(c === 97 || c === 117 ? this.sa : undefined, src, start, semi);
  }
}
