/**
 * `--format=script`'s line for a dumped SA (state-script.ts entryCommand,
 * then script.ts commandToScript) made straight from the message's bytes,
 * for the shape nearly every SA has: a Linux dump entry of ESP or AH
 * between two IPv4 addresses without ports, mature or dying, no SA flag
 * but cyclic sequence numbers, named algorithms with whole keys, lifetimes
 * the language can state, no NAT-T and no security context (the walk is
 * pfkey/dumped-sa.ts). A script of 100k SAs decoded each one into objects,
 * built its model and printed that, most of the format's time; this reads
 * the bytes and writes the line.
 *
 * A shortcut, not a second printer: entryCommand and commandToScript stay
 * the definition, and anything this does not recognise whole is declined
 * (undefined) and goes to them. test/sa-script-bytes.test.ts holds it to
 * them: the same line, or no answer, for every message.
 */
import { algorithmByName, type AlgKind } from '../model/algorithms.js';
import { Mode, modeTable, SaFlag, SaState, SaType } from '../model/tables.js';
import { be32, dumpedSa, keyBytes, le32, readU64, u16, u64Number } from '../pfkey/dumped-sa.js';
import { algRef } from '../pfkey/from-wire.js';
import { formatIpv4 } from '../model/address.js';
import { HEX_DIGITS } from './hexdump.js';

/** the longest line this writes (a message of more than a third of it is declined: real ones are ~200 bytes) */
const MAX_LINE = 4096;
const scratch = Buffer.allocUnsafe(MAX_LINE);

/** An algorithm's name as the script spells it, by number: a name whose key it prints (a number), a keyless name, or none. */
interface AlgWord {
  readonly name: string;
  readonly noKey: boolean;
}
const algWords: Record<'enc' | 'auth', Map<number, AlgWord | null>> = { enc: new Map(), auth: new Map() };

function scriptAlg(kind: 'enc' | 'auth', id: number): AlgWord | null {
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
  // no IPComp (-C), no address with a port ([port]), keys of whole bytes; a line of bounded length
  const x = m.length <= MAX_LINE / 3 ? dumpedSa(m) : undefined;
  if (!x || m[3] === SaType.IPCOMP || u16(m, x.src + 10) !== 0 || u16(m, x.dst + 10) !== 0) return undefined;
  const { sa, hard, soft, src, dst, akey, ekey, sa2 } = x;
  if ((akey >= 0 && (u16(m, akey + 4) & 7) !== 0) || (ekey >= 0 && (u16(m, ekey + 4) & 7) !== 0)) return undefined;
  const state = m[sa + 9]!;
  if (state !== SaState.MATURE && state !== SaState.DYING) return undefined;
  // flags 0 or SADB_X_EXT_CYCSEQ alone: no esp-old, no padding word, no bit the language lacks
  const flags = le32(m, sa + 12);
  if (flags !== 0 && flags !== SaFlag.CYCSEQ) return undefined;
  const mode = m[sa2 + 4]!;
  const modeWord = mode === Mode.ANY ? '' : modeTable.byNumber.get(mode);
  if (modeWord === undefined) return undefined;
  // lifetimes the language can state (allocations and use times it cannot)
  for (const l of [hard, soft]) if (l >= 0 && (le32(m, l + 4) !== 0 || u64Number(m, l + 24) !== 0)) return undefined;
  const encId = m[sa + 11]!;
  const authId = m[sa + 10]!;
  const enc = encId === 0 ? undefined : scriptAlg('enc', encId);
  const auth = authId === 0 ? undefined : scriptAlg('auth', authId);
  // a key without an algorithm, an algorithm without a name, or a keyed one without its key: the printer's to say
  if (enc === null || auth === null) return undefined;
  if ((enc === undefined && ekey >= 0) || (auth === undefined && akey >= 0)) return undefined;
  if ((enc && !enc.noKey && ekey < 0) || (auth && !auth.noKey && akey < 0)) return undefined;
  // an SA without algorithms is not recreated (add needs one)
  if (!enc && !auth) return undefined;

  const w = new Writer();
  w.ascii(`add ${formatIpv4(m, src + 12)} ${formatIpv4(m, dst + 12)}`);
  w.ascii(m[3] === SaType.ESP ? ' esp 0x' : ' ah 0x');
  w.ascii(be32(m, sa + 4).toString(16));
  if (modeWord) w.ascii(` -m ${modeWord}`);
  const reqid = le32(m, sa2 + 12);
  if (reqid) w.ascii(` -u ${reqid}`);
  const replay = m[sa + 8]!;
  if (replay) w.ascii(` -r ${replay}`);
  // without KAME's cyclic sequence numbers the script says so
  if (flags !== SaFlag.CYCSEQ) w.ascii(' -f nocyclic-seq');
  lifetime(w, m, hard, 'h');
  lifetime(w, m, soft, 's');
  if (enc) {
    w.ascii(` -E ${enc.name}`);
    if (!enc.noKey) w.key(m, ekey);
  }
  if (auth) {
    w.ascii(` -A ${auth.name}`);
    if (!auth.noKey) w.key(m, akey);
  }
  w.byte(59);
  return w.text();
}

/** -lX seconds and -bX bytes of a lifetime, each when not 0. */
function lifetime(w: Writer, m: Uint8Array, l: number, x: 'h' | 's'): void {
  if (l < 0) return;
  const time = u64(m, l + 16);
  const bytes = u64(m, l + 8);
  if (time !== '0') w.ascii(` -l${x} ${time}`);
  if (bytes !== '0') w.ascii(` -b${x} ${bytes}`);
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

  /** ' 0x' and the key's bits / 8 bytes in hex */
  key(m: Uint8Array, ext: number): void {
    this.ascii(' 0x');
    const at = ext + 8;
    for (let i = 0, len = keyBytes(m, ext); i < len; i++) {
      const x = m[at + i]!;
      scratch[this.n++] = HEX_DIGITS[x >>> 4]!;
      scratch[this.n++] = HEX_DIGITS[x & 15]!;
    }
  }
}

/** A little-endian u64 in decimal. */
function u64(m: Uint8Array, at: number): string {
  return String(u64Number(m, at) ?? readU64(m, at));
}
