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
import { SaType } from '../model/tables.js';
import { BIG, Figure, Lifetime, LIFETIME_FIGURES, SaFields, saFieldsOf } from '../pfkey/sa-fields.js';
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
/** what an SA's text needs beyond 3 bytes per byte of its keys (the fixed words and numbers) */
const SLACK = 2048;

export class SaTextWriter extends TextBytes {
  private readonly nowText: Uint8Array;
  private readonly now: number;
  /**
   * The last SA's lifetimes as read (for current, hard and soft: present or
   * not, then their figures) and the text written for them. The
   * SAs of a dump are mostly alike there (added in the same few seconds,
   * unused, no limits): the text is copied, not written again.
   */
  private readonly lastLifetimes = new Float64Array(LIFETIME_FIGURES).fill(NaN);
  private readonly lastBig = new BigUint64Array(LIFETIME_FIGURES);
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

  /** the fields of the message taken (take()), read into one object again and again */
  private readonly fields = new SaFields();

  /**
   * The text of message `m` written, and its sadb_msg_seq returned; -1 if
   * it is not one this writer takes (nothing is written then).
   */
  take(m: Uint8Array): number {
    if (!this.on || !saFieldsOf(m, this.fields)) return -1;
    return this.write(this.fields);
  }

  /**
   * The text of an SA given by its fields (a backend's, no message made),
   * and its sadb_msg_seq; -1 if this writer does not take it under these
   * options (nothing is written then).
   */
  takeFields(f: SaFields): number {
    return this.on ? this.write(f) : -1;
  }

  private write(f: SaFields): number {
    const b = f.bytes;
    const satype = f.satype;
    this.room(SLACK + 3 * (f.akeyLen + f.ekeyLen));
    this.ipv4(b, f.src);
    this.byte(32);
    this.ipv4(b, f.dst);
    this.bytes(ADDR_END);
    this.word(SATYPE_WORDS, satype);
    this.bytes(MODE_EQ);
    this.word(MODE_WORDS, f.mode);
    this.bytes(SPI_EQ);
    this.dec(f.spi);
    this.bytes(OPEN_HEX);
    this.hex8(f.spi);
    this.bytes(REQID_EQ);
    this.dec(f.reqid);
    this.bytes(OPEN_HEX);
    this.hex8(f.reqid);
    this.bytes(CLOSE_LINE);
    if (satype === SaType.IPCOMP) {
      // no newline after the compression algorithm: "seq=" follows on the same line
      this.bytes(C_LINE);
      this.alg('comp', f.encrypt);
    } else if (satype === SaType.ESP && f.ekey >= 0) {
      this.bytes(E_LINE);
      this.alg('enc', f.encrypt);
      this.n = putIpsecHexdump(this.buf, this.n, b, f.ekey, f.ekeyLen);
      this.byte(10);
    }
    if (f.akey >= 0) {
      this.bytes(A_LINE);
      this.alg('auth', f.auth);
      this.n = putIpsecHexdump(this.buf, this.n, b, f.akey, f.akeyLen);
      this.byte(10);
    }
    this.bytes(SEQ_EQ);
    this.hex8(f.sequence);
    this.bytes(REPLAY_EQ);
    this.dec(f.replay);
    this.bytes(FLAGS_EQ);
    this.hex8(f.flags);
    this.bytes(STATE_EQ);
    this.word(STATE_WORDS, f.state);
    this.byte(10);
    this.lifetimes(f);
    return this.trailer(SADB_SEQ_EQ, f.seq, PID_EQ, f.pid, REFCNT_EQ, f.reserved);
  }

  /** saDump's lifetimes(): created/current, diff, last, bytes, allocations; the last SA's text if they are its. */
  private lifetimes(f: SaFields): void {
    if (this.sameLifetimes(f) && this.lastLifetimesText) {
      this.buf.set(this.lastLifetimesText, this.n);
      this.n += this.lastLifetimesText.length;
      return;
    }
    const start = this.n;
    this.writeLifetimes(f);
    // a copy (a Buffer's slice() is a view of the buffer, written over once it is flushed)
    this.lastLifetimesText = Buffer.from(this.buf.subarray(start, this.n));
  }

  /** Whether these lifetimes are the last SA's; if not, they are kept as the last from now on. */
  private sameLifetimes(f: SaFields): boolean {
    const l = f.lifetimes;
    const last = this.lastLifetimes;
    let same = true;
    for (let i = 0; i < LIFETIME_FIGURES; i++) {
      const v = l[i]!;
      if (last[i] !== v || (v === BIG && this.lastBig[i] !== f.big[i])) {
        same = false;
        last[i] = v;
        this.lastBig[i] = f.big[i]!;
      }
    }
    return same;
  }

  private writeLifetimes(f: SaFields): void {
    const l = f.lifetimes;
    const add = l[Lifetime.CURRENT + Figure.ADD]!;
    this.bytes(CREATED);
    this.timeFigure(f, Lifetime.CURRENT + Figure.ADD);
    this.bytes(CURRENT);
    this.bytes(this.nowText);
    this.bytes(DIFF);
    // the common case in Numbers: created in the past; else as saDump computes it (now - add as a u64)
    if (add > 0 && add <= this.now) this.dec(this.now - add);
    else if (add === 0) this.byte(48);
    else this.ascii(String(BigInt.asUintN(64, BigInt(this.now) - (add === BIG ? f.big[Lifetime.CURRENT + Figure.ADD]! : BigInt(add)))));
    this.bytes(S_HARD);
    this.figure(f, Lifetime.HARD + Figure.ADD);
    this.bytes(S_SOFT);
    this.figure(f, Lifetime.SOFT + Figure.ADD);
    this.bytes(S_LAST);
    this.timeFigure(f, Lifetime.CURRENT + Figure.USE);
    this.bytes(HARD);
    this.figure(f, Lifetime.HARD + Figure.USE);
    this.bytes(S_SOFT);
    this.figure(f, Lifetime.SOFT + Figure.USE);
    this.bytes(S_CURRENT);
    this.byteCount(f, Lifetime.CURRENT + Figure.BYTES);
    this.bytes(BYTES_HARD);
    this.byteCount(f, Lifetime.HARD + Figure.BYTES);
    this.bytes(BYTES_SOFT);
    this.byteCount(f, Lifetime.SOFT + Figure.BYTES);
    this.bytes(BYTES_ALLOCATED);
    this.dec(l[Lifetime.CURRENT + Figure.ALLOCATIONS]!);
    this.bytes(HARD);
    this.dec(l[Lifetime.HARD + Figure.ALLOCATIONS]!);
    this.bytes(SOFT);
    this.dec(l[Lifetime.SOFT + Figure.ALLOCATIONS]!);
    this.byte(10);
  }

  /** %lu of a figure (an absent lifetime's are 0) */
  private figure(f: SaFields, i: number): void {
    const v = f.lifetimes[i]!;
    if (v !== BIG) this.dec(v);
    else this.ascii(f.big[i]!.toString());
  }

  /** str_lifetime_byte (%.0f of the u64 as a double) of a byte count */
  private byteCount(f: SaFields, i: number): void {
    const v = f.lifetimes[i]!;
    if (v !== BIG) this.dec(v);
    else this.ascii(bytesText(f.big[i]!));
  }

  /** str_time() of a time figure */
  private timeFigure(f: SaFields, i: number): void {
    const v = f.lifetimes[i]!;
    if (v !== BIG) this.timeOf(v);
    else this.ascii(timeText(f.big[i]!, this.o));
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
}
