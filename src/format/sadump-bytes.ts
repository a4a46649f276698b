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
 * It is a shortcut, not a second printer: saDump stays the definition.
 * Anything this does not recognise whole (another platform, -l, -p, a dead
 * SA, any other extension, a length or family out of the ordinary) it
 * declines, and saDump prints it. test/sadump-bytes.test.ts holds it to
 * saDump: the same bytes, or no answer, for every message.
 */
import { AF, extNumber, MsgType } from '../pfkey/constants.js';
import { SaState, SaType } from '../model/tables.js';
import { algWord, bytesText, timeText, u64 } from './dump-common.js';
import type { PostprocOptions } from './postproc.js';
import { MODES, SATYPES, STATES } from './sadump.js';

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
const SATYPE_IPCOMP = SaType.IPCOMP;
const STATE_DEAD = SaState.DEAD;


const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** The text's fixed pieces, as bytes once (Buffer#write a piece was most of the time: a call into C++ each). */
function lit(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}
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
const SATYPE_BYTES: Record<number, Uint8Array> = { [SATYPE_AH]: lit(`${SATYPES[SATYPE_AH]} `), [SATYPE_ESP]: lit(`${SATYPES[SATYPE_ESP]} `), [SATYPE_IPCOMP]: lit(`${SATYPES[SATYPE_IPCOMP]} `) };
const MODE_BYTES = MODES.map(lit);
const STATE_BYTES = STATES.map(lit);
/** 2^53: a u64 below it is exact as a Number */
const SAFE_HI = 1 << 21;
/** what an SA's text needs beyond 3 bytes per byte of its message (the fixed words and numbers) */
const SLACK = 2048;

export class SaTextWriter {
  private buf: Buffer = Buffer.allocUnsafe(1 << 16);
  private n = 0;
  private readonly nowText: Uint8Array;
  private readonly now: number;
  /** the last few times' text (an apply creates most SAs of a store in the same few seconds) */
  private readonly times = new Map<number, Uint8Array>();
  /** algorithm words by kind and number, as bytes once */
  private readonly words: Record<'auth' | 'enc' | 'comp', (Uint8Array | undefined)[]> = { auth: [], enc: [], comp: [] };
  /** whether this writer takes anything at all under these options */
  private readonly on: boolean;

  constructor(
    private readonly o: PostprocOptions,
    /** where full buffers go, in order with the caller's other output (flush() before that) */
    private readonly sink: (b: Uint8Array) => void,
  ) {
    this.on = o.platform === 'linux' && !o.short && !o.withPorts;
    this.now = o.now;
    this.nowText = lit(timeText(BigInt(o.now), o));
  }

  /** Whatever is written goes to the sink. */
  flush(): void {
    if (this.n === 0) return;
    // the sink may keep what it is given: a copy, and the buffer goes on
    this.sink(Uint8Array.prototype.slice.call(this.buf, 0, this.n));
    this.n = 0;
  }

  /**
   * The text of message `m` written, and its sadb_msg_seq returned; -1 if
   * it is not one this writer takes (nothing is written then).
   */
  take(m: Uint8Array): number {
    if (!this.on || m.length < 16 || m[0] !== 2 || m[1] !== MsgType.DUMP || m[2] !== 0) return -1;
    const satype = m[3]!;
    if (satype !== SATYPE_AH && satype !== SATYPE_ESP && satype !== SATYPE_IPCOMP) return -1;
    const len = u16(m, 4) * 8;
    if (len !== m.length) return -1;
    // pfkey_align's walk, stricter: every extension of a known size, none twice
    let sa = -1, cur = -1, hard = -1, soft = -1, src = -1, dst = -1, proxy = -1, akey = -1, ekey = -1, sa2 = -1;
    let alen = 0, elen = 0;
    for (let p = 16; p < len; ) {
      const el = u16(m, p) * 8;
      if (el < 8 || p + el > len) return -1;
      const type = u16(m, p + 2);
      switch (type) {
        case EXT_SA:
          if (sa >= 0 || el !== 16) return -1;
          sa = p;
          break;
        case EXT_LIFETIME_CURRENT:
          if (cur >= 0 || el !== 32) return -1;
          cur = p;
          break;
        case EXT_LIFETIME_HARD:
          if (hard >= 0 || el !== 32) return -1;
          hard = p;
          break;
        case EXT_LIFETIME_SOFT:
          if (soft >= 0 || el !== 32) return -1;
          soft = p;
          break;
        case EXT_ADDRESS_SRC:
        case EXT_ADDRESS_DST:
          // sockaddr_in: family (host order on Linux), port, 4 bytes of address
          if (el !== 24 || u16(m, p + 8) !== AF_INET) return -1;
          if (type === EXT_ADDRESS_SRC) {
            if (src >= 0) return -1;
            src = p;
          } else {
            if (dst >= 0) return -1;
            dst = p;
          }
          break;
        case EXT_ADDRESS_PROXY:
          // not printed (the engine adds it to every SA whose source is not 0.0.0.0)
          if (proxy >= 0) return -1;
          proxy = p;
          break;
        case EXT_KEY_AUTH:
        case EXT_KEY_ENCRYPT: {
          const bits = u16(m, p + 4);
          // a key its extension holds whole (saDump prints bits/8 bytes of it)
          if (bits === 0 || 8 + Math.ceil(bits / 8) > el) return -1;
          if (type === EXT_KEY_AUTH) {
            if (akey >= 0) return -1;
            akey = p;
            alen = bits >>> 3;
          } else {
            if (ekey >= 0) return -1;
            ekey = p;
            elen = bits >>> 3;
          }
          break;
        }
        case EXT_SA2:
          if (sa2 >= 0 || el !== 16) return -1;
          sa2 = p;
          break;
        default:
          return -1;
      }
      p += el;
    }
    if (sa < 0 || sa2 < 0 || src < 0 || dst < 0 || cur < 0) return -1;
    // pfkey_check: the two addresses of one upper protocol (their family was checked above)
    if (m[src + 4] !== m[dst + 4]) return -1;
    const state = m[sa + 9]!;
    // hidden without -a: saDump's caller decides
    if (state === STATE_DEAD) return -1;

    if (this.buf.length - this.n < SLACK + 3 * m.length) {
      this.flush();
      if (this.buf.length < SLACK + 3 * m.length) this.buf = Buffer.allocUnsafe(SLACK + 3 * m.length);
    }
    this.ipv4(m, src + 12);
    this.byte(32);
    this.ipv4(m, dst + 12);
    this.bytes(ADDR_END);
    this.bytes(SATYPE_BYTES[satype]!);
    this.bytes(MODE_EQ);
    this.word(MODE_BYTES, m[sa2 + 4]!);
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
    if (satype === SATYPE_IPCOMP) {
      // no newline after the compression algorithm: "seq=" follows on the same line
      this.bytes(C_LINE);
      this.alg('comp', encrypt);
    } else if (satype === SATYPE_ESP && ekey >= 0) {
      this.bytes(E_LINE);
      this.alg('enc', encrypt);
      this.key(m, ekey + 8, elen);
      this.byte(10);
    }
    if (akey >= 0) {
      this.bytes(A_LINE);
      this.alg('auth', auth);
      this.key(m, akey + 8, alen);
      this.byte(10);
    }
    this.bytes(SEQ_EQ);
    this.hex8(le32(m, sa2 + 8));
    this.bytes(REPLAY_EQ);
    this.dec(m[sa + 8]!);
    this.bytes(FLAGS_EQ);
    this.hex8(le32(m, sa + 12));
    this.bytes(STATE_EQ);
    this.word(STATE_BYTES, state);
    this.byte(10);
    this.lifetimes(m, cur, hard, soft);
    this.bytes(SADB_SEQ_EQ);
    const seq = le32(m, 8);
    this.dec(seq);
    this.bytes(PID_EQ);
    this.dec(le32(m, 12));
    this.bytes(REFCNT_EQ);
    this.dec(u16(m, 6));
    this.byte(10);
    return seq;
  }

  /** saDump's lifetimes(): created/current, diff, last, bytes, allocations. */
  private lifetimes(m: Uint8Array, cur: number, hard: number, soft: number): void {
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
    const v = u64Number(m, ext + field);
    if (v !== undefined) this.dec(v);
    else this.ascii(u64(readU64(m, ext + field)));
  }

  /** str_lifetime_byte (%.0f of the u64 as a double) of a lifetime's byte count. */
  private byteCount(m: Uint8Array, ext: number): void {
    if (ext < 0) return this.byte(48);
    const v = u64Number(m, ext + 8);
    if (v !== undefined) this.dec(v);
    else this.ascii(bytesText(readU64(m, ext + 8)));
  }

  /** str_time() of a u64 time, through the options' clock and zone (the last few kept). */
  private time(m: Uint8Array, at: number): void {
    const t = u64Number(m, at);
    if (t === undefined) return this.ascii(timeText(readU64(m, at), this.o));
    let b = this.times.get(t);
    if (!b) {
      if (this.times.size >= 64) this.times.clear();
      b = lit(timeText(BigInt(t), this.o));
      this.times.set(t, b);
    }
    this.bytes(b);
  }

  private alg(kind: 'auth' | 'enc' | 'comp', id: number): void {
    const t = this.words[kind];
    this.bytes((t[id] ??= lit(algWord(kind, id, 'linux'))));
  }

  private word(table: readonly Uint8Array[], n: number): void {
    const w = table[n];
    if (w) this.bytes(w);
    else this.dec(n);
    this.byte(32);
  }

  /** libipsec's ipsec_hexdump (hexdump.ts): a space before each 4-byte group, a newline before bytes 32, 64, ... */
  private key(m: Uint8Array, at: number, len: number): void {
    const b = this.buf;
    let n = this.n;
    for (let i = 0; i < len; i++) {
      if (i !== 0 && (i & 31) === 0) b[n++] = 10;
      if ((i & 3) === 0) b[n++] = 32;
      const x = m[at + i]!;
      b[n++] = HEX[x >>> 4]!;
      b[n++] = HEX[x & 15]!;
    }
    this.n = n;
  }

  private ipv4(m: Uint8Array, at: number): void {
    this.dec(m[at]!);
    this.byte(46);
    this.dec(m[at + 1]!);
    this.byte(46);
    this.dec(m[at + 2]!);
    this.byte(46);
    this.dec(m[at + 3]!);
  }

  private hex8(v: number): void {
    const b = this.buf;
    for (let i = 7; i >= 0; i--) {
      b[this.n + i] = HEX[v & 15]!;
      v >>>= 4;
    }
    this.n += 8;
  }

  /** A non-negative integer below 2^53 in decimal. */
  private dec(v: number): void {
    const b = this.buf;
    if (v < 10) {
      b[this.n++] = 48 + v;
      return;
    }
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    let n = this.n + digits;
    this.n = n;
    while (digits-- > 0) {
      const q = Math.floor(v / 10);
      b[--n] = 48 + (v - q * 10);
      v = q;
    }
  }

  private byte(c: number): void {
    this.buf[this.n++] = c;
  }

  private ascii(s: string): void {
    this.n += this.buf.write(s, this.n, 'latin1');
  }

  private bytes(s: Uint8Array): void {
    const b = this.buf;
    let n = this.n;
    // a loop: set() is a call into C++, dearer than the copy of a few bytes
    for (let i = 0; i < s.length; i++) b[n++] = s[i]!;
    this.n = n;
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

/** A little-endian u64 as a Number when it is below 2^53, else undefined. */
function u64Number(m: Uint8Array, at: number): number | undefined {
  const hi = le32(m, at + 4);
  return hi < SAFE_HI ? hi * 0x100000000 + le32(m, at) : undefined;
}

function readU64(m: Uint8Array, at: number): bigint {
  return (BigInt(le32(m, at + 4)) << 32n) | BigInt(le32(m, at));
}
