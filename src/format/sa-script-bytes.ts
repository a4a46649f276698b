/**
 * `--format=script`'s line for a dumped SA (state-script.ts entryCommand,
 * then script.ts commandToScript) made straight from the message's bytes,
 * for the shape nearly every SA has: a Linux dump entry of ESP or AH
 * between two IPv4 addresses without ports, mature or dying, no SA flag
 * but cyclic sequence numbers, named algorithms with whole keys, lifetimes
 * the language can state, no NAT-T and no security context. A script of 100k SAs decoded each one
 * into objects, built its model and printed that, most of the format's
 * time; this reads the bytes and writes the line.
 *
 * A shortcut, not a second printer: entryCommand and commandToScript stay
 * the definition, and anything this does not recognise whole is declined
 * (undefined) and goes to them. test/sa-script-bytes.test.ts holds it to
 * them: the same line, or no answer, for every message.
 */
import { algorithmByName, type AlgKind } from '../model/algorithms.js';
import { modeTable, SaFlag, SaState, SaType } from '../model/tables.js';
import { AF, extNumber, MsgType } from '../pfkey/constants.js';
import { algRef } from '../pfkey/from-wire.js';

const AF_INET = AF.INET;
const EXT_SA = extNumber('linux', 'sa');
const EXT_LIFETIME_CURRENT = extNumber('linux', 'lifetime_current');
const EXT_LIFETIME_HARD = extNumber('linux', 'lifetime_hard');
const EXT_LIFETIME_SOFT = extNumber('linux', 'lifetime_soft');
const EXT_ADDRESS_SRC = extNumber('linux', 'address_src');
const EXT_ADDRESS_DST = extNumber('linux', 'address_dst');
const EXT_ADDRESS_PROXY = extNumber('linux', 'address_proxy');
const EXT_KEY_AUTH = extNumber('linux', 'key_auth');
const EXT_KEY_ENCRYPT = extNumber('linux', 'key_encrypt');
const EXT_SA2 = extNumber('linux', 'sa2');
const SATYPE_AH = SaType.AH;
const SATYPE_ESP = SaType.ESP;
const STATE_MATURE = SaState.MATURE;
const STATE_DYING = SaState.DYING;
/** KAME's cyclic sequence numbers: without it the script says -f nocyclic-seq */
const SAFLAG_CYCSEQ = SaFlag.CYCSEQ;

const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** the longest line this writes (a message of more than a third of it is declined: real ones are ~200 bytes) */
const MAX_LINE = 4096;
const scratch = Buffer.allocUnsafe(MAX_LINE);

/** An algorithm's name as the script spells it, by number: a name whose key it prints (a number), a keyless name, or none. */
interface AlgWord {
  readonly name: string;
  readonly noKey: boolean;
}
const algWords: Record<'enc' | 'auth', Map<number, AlgWord | null>> = { enc: new Map(), auth: new Map() };

function algWord(kind: 'enc' | 'auth', id: number): AlgWord | null {
  let w = algWords[kind].get(id);
  if (w === undefined) {
    const ref = algRef(kind as AlgKind, 'linux', id);
    // a number has no setkey name: the script says why (declined here)
    const a = typeof ref === 'string' ? algorithmByName(kind, ref) : undefined;
    w = a && typeof ref === 'string' ? { name: ref, noKey: a.noKey === true } : null;
    algWords[kind].set(id, w);
  }
  return w;
}

/**
 * The script line of SA dump message `m`, or undefined where it is not one
 * this takes (entryCommand and commandToScript then make it, or say why not).
 */
export function saScriptLine(m: Uint8Array): string | undefined {
  if (m.length < 16 || m[0] !== 2 || m[1] !== MsgType.DUMP || m[2] !== 0) return undefined;
  const satype = m[3]!;
  if (satype !== SATYPE_ESP && satype !== SATYPE_AH) return undefined;
  const len = u16(m, 4) * 8;
  if (len !== m.length || len > MAX_LINE / 3) return undefined;
  let sa = -1, hard = -1, soft = -1, src = -1, dst = -1, akey = -1, ekey = -1, sa2 = -1;
  let cur = false, proxy = false;
  let alen = 0, elen = 0;
  for (let p = 16; p < len; ) {
    const el = u16(m, p) * 8;
    if (el < 8 || p + el > len) return undefined;
    const type = u16(m, p + 2);
    switch (type) {
      case EXT_SA:
        if (sa >= 0 || el !== 16) return undefined;
        sa = p;
        break;
      case EXT_LIFETIME_CURRENT:
        if (cur || el !== 32) return undefined;
        cur = true;
        break;
      case EXT_LIFETIME_HARD:
        if (hard >= 0 || el !== 32) return undefined;
        hard = p;
        break;
      case EXT_LIFETIME_SOFT:
        if (soft >= 0 || el !== 32) return undefined;
        soft = p;
        break;
      case EXT_ADDRESS_SRC:
      case EXT_ADDRESS_DST:
        // sockaddr_in, port 0 (a port is printed as [port]: left to the printer)
        if (el !== 24 || u16(m, p + 8) !== AF_INET || u16(m, p + 10) !== 0) return undefined;
        if (type === EXT_ADDRESS_SRC) {
          if (src >= 0) return undefined;
          src = p;
        } else {
          if (dst >= 0) return undefined;
          dst = p;
        }
        break;
      case EXT_ADDRESS_PROXY:
        if (proxy) return undefined;
        proxy = true;
        break;
      case EXT_KEY_AUTH:
      case EXT_KEY_ENCRYPT: {
        const bits = u16(m, p + 4);
        // a key of whole bytes that its extension holds (else the printer says why not)
        if (bits === 0 || (bits & 7) !== 0 || 8 + bits / 8 > el) return undefined;
        if (type === EXT_KEY_AUTH) {
          if (akey >= 0) return undefined;
          akey = p;
          alen = bits >>> 3;
        } else {
          if (ekey >= 0) return undefined;
          ekey = p;
          elen = bits >>> 3;
        }
        break;
      }
      case EXT_SA2:
        if (sa2 >= 0 || el !== 16) return undefined;
        sa2 = p;
        break;
      default:
        return undefined;
    }
    p += el;
  }
  if (sa < 0 || sa2 < 0 || src < 0 || dst < 0) return undefined;
  // pfkey_check: one upper protocol for both addresses
  if (m[src + 4] !== m[dst + 4]) return undefined;
  const state = m[sa + 9]!;
  if (state !== STATE_MATURE && state !== STATE_DYING) return undefined;
  // flags 0 or SADB_X_EXT_CYCSEQ alone: no esp-old, no padding word, no bit the language lacks
  const flags = le32(m, sa + 12);
  if (flags !== 0 && flags !== SAFLAG_CYCSEQ) return undefined;
  const mode = m[sa2 + 4]!;
  const modeWord = mode === 0 ? '' : modeTable.byNumber.get(mode);
  if (modeWord === undefined) return undefined;
  // lifetimes the language can state (allocations and use times it cannot)
  for (const l of [hard, soft]) if (l >= 0 && (le32(m, l + 4) !== 0 || !zero64(m, l + 24))) return undefined;
  const encId = m[sa + 11]!;
  const authId = m[sa + 10]!;
  const enc = encId === 0 ? undefined : algWord('enc', encId);
  const auth = authId === 0 ? undefined : algWord('auth', authId);
  // a key without an algorithm, an algorithm without a name, or a keyed one without its key: the printer's to say
  if (enc === null || auth === null) return undefined;
  if ((enc === undefined && ekey >= 0) || (auth === undefined && akey >= 0)) return undefined;
  if ((enc && !enc.noKey && ekey < 0) || (auth && !auth.noKey && akey < 0)) return undefined;
  // an SA without algorithms is not recreated (add needs one)
  if (!enc && !auth) return undefined;

  const w = new Writer();
  w.ascii(`add `);
  w.ipv4(m, src + 12);
  w.byte(32);
  w.ipv4(m, dst + 12);
  w.ascii(satype === SATYPE_ESP ? ' esp 0x' : ' ah 0x');
  w.hex(be32(m, sa + 4));
  if (modeWord) w.ascii(` -m ${modeWord}`);
  const reqid = le32(m, sa2 + 12);
  if (reqid) {
    w.ascii(' -u ');
    w.ascii(String(reqid));
  }
  const replay = m[sa + 8]!;
  if (replay) {
    w.ascii(' -r ');
    w.ascii(String(replay));
  }
  if (flags !== SAFLAG_CYCSEQ) w.ascii(' -f nocyclic-seq');
  lifetime(w, m, hard, 'h');
  lifetime(w, m, soft, 's');
  if (enc) {
    w.ascii(` -E ${enc.name}`);
    if (!enc.noKey) w.key(m, ekey + 8, elen);
  }
  if (auth) {
    w.ascii(` -A ${auth.name}`);
    if (!auth.noKey) w.key(m, akey + 8, alen);
  }
  w.byte(59);
  return w.text();
}

/** -lX seconds and -bX bytes of a lifetime, each when not 0. */
function lifetime(w: Writer, m: Uint8Array, l: number, x: 'h' | 's'): void {
  if (l < 0) return;
  if (!zero64(m, l + 16)) w.ascii(` -l${x} ${u64(m, l + 16)}`);
  if (!zero64(m, l + 8)) w.ascii(` -b${x} ${u64(m, l + 8)}`);
}

/** The line's bytes in the module's scratch buffer, read as one string at the end. */
class Writer {
  private n = 0;

  text(): string {
    return scratch.toString('latin1', 0, this.n);
  }

  byte(c: number): void {
    scratch[this.n++] = c;
  }

  ascii(s: string): void {
    for (let i = 0; i < s.length; i++) scratch[this.n++] = s.charCodeAt(i);
  }

  /** %x: lowercase, no leading zeros */
  hex(v: number): void {
    let digits = 1;
    while (digits < 8 && v >>> (4 * digits) !== 0) digits++;
    for (let i = digits - 1; i >= 0; i--) scratch[this.n++] = HEX[(v >>> (4 * i)) & 15]!;
  }

  ipv4(m: Uint8Array, at: number): void {
    this.ascii(`${m[at]}.${m[at + 1]}.${m[at + 2]}.${m[at + 3]}`);
  }

  /** ' 0x' and the key's bytes in hex */
  key(m: Uint8Array, at: number, len: number): void {
    this.ascii(' 0x');
    for (let i = 0; i < len; i++) {
      const x = m[at + i]!;
      scratch[this.n++] = HEX[x >>> 4]!;
      scratch[this.n++] = HEX[x & 15]!;
    }
  }
}

function u16(m: Uint8Array, at: number): number {
  return m[at]! | (m[at + 1]! << 8);
}

function le32(m: Uint8Array, at: number): number {
  return (m[at]! | (m[at + 1]! << 8) | (m[at + 2]! << 16) | (m[at + 3]! << 24)) >>> 0;
}

function be32(m: Uint8Array, at: number): number {
  return ((m[at]! << 24) | (m[at + 1]! << 16) | (m[at + 2]! << 8) | m[at + 3]!) >>> 0;
}

function zero64(m: Uint8Array, at: number): boolean {
  return le32(m, at) === 0 && le32(m, at + 4) === 0;
}

/** A little-endian u64 in decimal. */
function u64(m: Uint8Array, at: number): string {
  const hi = le32(m, at + 4);
  const lo = le32(m, at);
  return hi < 1 << 21 ? String(hi * 0x100000000 + lo) : ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}
