/**
 * setkey's text of a dumped SA (sadump.ts saDump, through postproc.ts)
 * written as bytes straight from the message, for the shape nearly every
 * SA has: a Linux dump entry of AH, ESP or IPComp between two IPv4
 * addresses, with readable keys, its current lifetime, no NAT-T and no
 * security context. A dump of 100k SAs went through ~10 KB of objects and
 * strings an SA (the message's index, its extensions as objects, the text
 * piece by piece, then the text's bytes), a fifth of its time in the
 * collector; here it is read and written with nothing built but the times.
 *
 * The message is walked by pfkey/dumped-sa.ts (as for the script line's
 * shortcut). It is a shortcut, not a second printer: saDump stays the
 * definition. Anything this does not recognise whole (another platform,
 * -l, -p, a dead SA, any other extension, a length or family out of the
 * ordinary) it declines, and saDump prints it. test/sadump-bytes.test.ts holds it to
 * saDump: the same bytes, or no answer, for every message.
 */
import { SaState, SaType } from '../model/tables.js';
import { be32, dumpedSa, keyBytes, le32, readU64, u64Number } from '../pfkey/dumped-sa.js';
import { algWord, bytesText, timeText } from './dump-common.js';
import { putIpsecHexdump } from './hexdump.js';
import { lit, TextBytes } from './text-bytes.js';
import type { PostprocOptions } from './postproc.js';
import { MODES, SATYPES, STATES } from './sadump.js';

const ADDR_END = lit(' \n\t');
const MODE_EQ = lit('mode=');
const SPI_EQ = lit('spi=');
const OPEN_HEX = lit('(0x');
const REQID_EQ = lit(') reqid=');
const CLOSE_LINE = lit(')\n');
const C_LINE = lit('\tC: ');
const E_LINE = lit('\tE: ');
const A_LINE = lit('\tA: ');
const SEQ_EQ = lit('\tseq=0x');
const REPLAY_EQ = lit(' replay=');
const FLAGS_EQ = lit(' flags=0x');
const STATE_EQ = lit(' state=');
const SADB_SEQ_EQ = lit('\tsadb_seq=');
const PID_EQ = lit(' pid=');
const REFCNT_EQ = lit(' refcnt=');
const CREATED = lit('\tcreated: ');
const CURRENT = lit('\tcurrent: ');
const DIFF = lit('\n\tdiff: ');
const S_HARD = lit('(s)\thard: ');
const S_SOFT = lit('(s)\tsoft: ');
const S_LAST = lit('(s)\n\tlast: ');
const HARD = lit('\thard: ');
const S_CURRENT = lit('(s)\n\tcurrent: ');
const BYTES_HARD = lit('(bytes)\thard: ');
const BYTES_SOFT = lit('(bytes)\tsoft: ');
const BYTES_ALLOCATED = lit('(bytes)\n\tallocated: ');
const SOFT = lit('\tsoft: ');
// saDump's words (GETMSGSTR: the word and a space, else the number and a space), as bytes
const word = (w: string): Uint8Array => lit(`${w} `);
const SATYPE_WORDS = SATYPES.map(word);
const MODE_WORDS = MODES.map(word);
const STATE_WORDS = STATES.map(word);
/** a lifetime extension's part of the lifetimes' memo: present or not, then its fields after the header */
const LIFETIME_KEY = 1 + 28;
/** what an SA's text needs beyond 3 bytes per byte of its message (the fixed words and numbers) */
const SLACK = 2048;

export class SaTextWriter extends TextBytes {
  private readonly nowText: Uint8Array;
  private readonly now: number;
  /**
   * The last SA's lifetimes as read (for current, hard and soft: present or
   * not, then their 28 bytes of fields) and the text written for them. The
   * SAs of a dump are mostly alike there (added in the same few seconds,
   * unused, no limits): the text is copied, not written again.
   */
  private readonly lastLifetimes = new Uint8Array(3 * LIFETIME_KEY);
  private lastLifetimesText: Uint8Array | undefined;
  /** algorithm words by kind and number, as bytes once */
  private readonly words: Record<'auth' | 'enc' | 'comp', (Uint8Array | undefined)[]> = { auth: [], enc: [], comp: [] };
  /** whether this writer takes anything at all under these options */
  private readonly on: boolean;

  constructor(o: PostprocOptions, sink: (b: Uint8Array) => void) {
    super(o, sink);
    this.on = o.platform === 'linux' && !o.short && !o.withPorts;
    this.now = o.now;
    this.nowText = lit(timeText(BigInt(o.now), o));
  }

  /**
   * The text of message `m` written, and its sadb_msg_seq returned; -1 if
   * it is not one this writer takes (nothing is written then).
   */
  take(m: Uint8Array): number {
    const x = this.on ? dumpedSa(m) : undefined;
    // its current lifetime printed; a dead SA is hidden without -a (saDump's caller decides)
    if (!x || x.cur < 0 || m[x.sa + 9] === SaState.DEAD) return -1;
    const { sa, cur, hard, soft, src, dst, akey, ekey, sa2 } = x;
    const satype = m[3]!;
    this.room(SLACK + 3 * m.length);
    this.ipv4(m, src + 12);
    this.byte(32);
    this.ipv4(m, dst + 12);
    this.bytes(ADDR_END);
    this.word(SATYPE_WORDS, satype);
    this.bytes(MODE_EQ);
    this.word(MODE_WORDS, m[sa2 + 4]!);
    const spi = be32(m, sa + 4);
    const reqid = le32(m, sa2 + 12);
    this.bytes(SPI_EQ);
    this.dec(spi);
    this.bytes(OPEN_HEX);
    this.hex8(spi);
    this.bytes(REQID_EQ);
    this.dec(reqid);
    this.bytes(OPEN_HEX);
    this.hex8(reqid);
    this.bytes(CLOSE_LINE);
    const auth = m[sa + 10]!;
    const encrypt = m[sa + 11]!;
    if (satype === SaType.IPCOMP) {
      // no newline after the compression algorithm: "seq=" follows on the same line
      this.bytes(C_LINE);
      this.alg('comp', encrypt);
    } else if (satype === SaType.ESP && ekey >= 0) {
      this.bytes(E_LINE);
      this.alg('enc', encrypt);
      this.key(m, ekey);
      this.byte(10);
    }
    if (akey >= 0) {
      this.bytes(A_LINE);
      this.alg('auth', auth);
      this.key(m, akey);
      this.byte(10);
    }
    this.bytes(SEQ_EQ);
    this.hex8(le32(m, sa2 + 8));
    this.bytes(REPLAY_EQ);
    this.dec(m[sa + 8]!);
    this.bytes(FLAGS_EQ);
    this.hex8(le32(m, sa + 12));
    this.bytes(STATE_EQ);
    this.word(STATE_WORDS, m[sa + 9]!);
    this.byte(10);
    this.lifetimes(m, cur, hard, soft);
    return this.seqPidRefcnt(m, SADB_SEQ_EQ, PID_EQ, REFCNT_EQ);
  }

  /** saDump's lifetimes(): created/current, diff, last, bytes, allocations; the last SA's text if they are its. */
  private lifetimes(m: Uint8Array, cur: number, hard: number, soft: number): void {
    if (this.sameLifetimes(m, cur, hard, soft) && this.lastLifetimesText) {
      this.buf.set(this.lastLifetimesText, this.n);
      this.n += this.lastLifetimesText.length;
      return;
    }
    const start = this.n;
    this.writeLifetimes(m, cur, hard, soft);
    // a copy (a Buffer's slice() is a view of the buffer, written over once it is flushed)
    this.lastLifetimesText = Buffer.from(this.buf.subarray(start, this.n));
  }

  /** Whether these lifetimes are the last SA's; if not, they are kept as the last from now on. */
  private sameLifetimes(m: Uint8Array, cur: number, hard: number, soft: number): boolean {
    const key = this.lastLifetimes;
    let same = true;
    for (let k = 0; k < 3; k++) {
      const ext = k === 0 ? cur : k === 1 ? hard : soft;
      const at = k * LIFETIME_KEY;
      const present = ext < 0 ? 0 : 1;
      if (key[at] !== present) {
        same = false;
        key[at] = present;
      }
      if (!present) continue;
      for (let i = 1; i < LIFETIME_KEY; i++) {
        const b = m[ext + 3 + i]!;
        if (key[at + i] !== b) {
          same = false;
          key[at + i] = b;
        }
      }
    }
    return same;
  }

  private writeLifetimes(m: Uint8Array, cur: number, hard: number, soft: number): void {
    this.bytes(CREATED);
    this.time(m, cur + 16);
    this.bytes(CURRENT);
    this.bytes(this.nowText);
    this.bytes(DIFF);
    const add = u64Number(m, cur + 16);
    // the common case in Numbers: created in the past; else as saDump computes it
    if (add !== undefined && add > 0 && add <= this.now) this.dec(this.now - add);
    else if (add === 0) this.byte(48);
    else {
      const a = readU64(m, cur + 16);
      this.ascii(a === 0n ? '0' : String(BigInt.asUintN(64, BigInt(this.now) - BigInt.asIntN(64, a))));
    }
    this.bytes(S_HARD);
    this.u64(m, hard, 16);
    this.bytes(S_SOFT);
    this.u64(m, soft, 16);
    this.bytes(S_LAST);
    this.time(m, cur + 24);
    this.bytes(HARD);
    this.u64(m, hard, 24);
    this.bytes(S_SOFT);
    this.u64(m, soft, 24);
    this.bytes(S_CURRENT);
    this.byteCount(m, cur);
    this.bytes(BYTES_HARD);
    this.byteCount(m, hard);
    this.bytes(BYTES_SOFT);
    this.byteCount(m, soft);
    this.bytes(BYTES_ALLOCATED);
    this.dec(le32(m, cur + 4));
    this.bytes(HARD);
    this.dec(hard < 0 ? 0 : le32(m, hard + 4));
    this.bytes(SOFT);
    this.dec(soft < 0 ? 0 : le32(m, soft + 4));
    this.byte(10);
  }

  /** %lu of a lifetime's u64 field (0 when the lifetime is absent). */
  private u64(m: Uint8Array, ext: number, field: number): void {
    if (ext < 0) return this.byte(48);
    this.u64At(m, ext + field);
  }

  /** str_lifetime_byte (%.0f of the u64 as a double) of a lifetime's byte count. */
  private byteCount(m: Uint8Array, ext: number): void {
    if (ext < 0) return this.byte(48);
    const v = u64Number(m, ext + 8);
    if (v !== undefined) this.dec(v);
    else this.ascii(bytesText(readU64(m, ext + 8)));
  }

  private alg(kind: 'auth' | 'enc' | 'comp', id: number): void {
    const t = this.words[kind];
    this.bytes((t[id] ??= lit(algWord(kind, id, 'linux'))));
  }

  /** GETMSGSTR: the table's word and a space, else the number and a space */
  private word(table: readonly Uint8Array[], n: number): void {
    const w = table[n];
    if (w) return this.bytes(w);
    this.dec(n);
    this.byte(32);
  }

  /** A key's bits / 8 bytes as libipsec's ipsec_hexdump shows them (hexdump.ts). */
  private key(m: Uint8Array, ext: number): void {
    this.n = putIpsecHexdump(this.buf, this.n, m, ext + 8, keyBytes(m, ext));
  }
}
