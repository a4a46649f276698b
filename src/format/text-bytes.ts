/**
 * What the printers that write a dump entry's text straight from its bytes
 * share (sadump-bytes.ts for SAs, spdump-bytes.ts for policies): a buffer
 * handed to a sink when full, and the pieces written into it byte by byte
 * (decimal, hex, dotted quads, fixed pieces made into bytes once, times
 * through the options' clock and zone, the last few kept).
 */
import { le32, readU64, u16, u64Number } from '../pfkey/dumped-sa.js';
import { timeText, u64, type DumpOptions } from './dump-common.js';
import { HEX_DIGITS } from './hexdump.js';

/**
 * A fixed piece of text as bytes, made once (Buffer#write of a piece was most
 * of the time: a call into C++ each). Latin-1, byte by byte: the printers'
 * ~100 pieces are made as their modules load, at every start, where
 * Buffer.from's way through its encodings ran uncompiled (~80 ms of 4.7 s of
 * a profiled start in the emulated test VM).
 */
export function lit(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

export class TextBytes {
  // 256 KiB a write: a dump of 100k SAs is ~55 MB of text (64 KiB: 850 writes, each a system call and a
  // look at the heap; in the emulated test VM, ~0.4 s of 7.7 profiled)
  protected buf: Buffer = Buffer.allocUnsafe(1 << 18);
  protected n = 0;
  /** the last few times' text (an apply creates most entries of a store in the same few seconds) */
  private readonly times = new Map<number, Uint8Array>();

  constructor(
    protected readonly o: DumpOptions,
    /**
     * where full buffers go, in order with the caller's other output (flush()
     * before that); it must be done with them when it returns (they are written over)
     */
    private readonly sink: (b: Uint8Array) => void,
  ) {}

  /** Whatever is written goes to the sink. */
  flush(): void {
    if (this.n === 0) return;
    this.sink(this.buf.subarray(0, this.n));
    this.n = 0;
  }

  /** At least `bytes` free in the buffer (what is in it goes to the sink first if need be). */
  protected room(bytes: number): void {
    if (this.buf.length - this.n >= bytes) return;
    this.flush();
    if (this.buf.length < bytes) this.buf = Buffer.allocUnsafe(bytes);
  }

  /** str_time() of a u64 time, through the options' clock and zone (the last few kept). */
  protected time(m: Uint8Array, at: number): void {
    const t = u64Number(m, at);
    if (t === undefined) return this.ascii(timeText(readU64(m, at), this.o));
    this.timeOf(t);
  }

  /** str_time() of a time below 2^53 (the last few kept). */
  protected timeOf(t: number): void {
    let b = this.times.get(t);
    if (!b) {
      if (this.times.size >= 64) this.times.clear();
      b = lit(timeText(BigInt(t), this.o));
      this.times.set(t, b);
    }
    this.bytes(b);
  }

  /** %lu of the u64 at `at` */
  protected u64At(m: Uint8Array, at: number): void {
    const v = u64Number(m, at);
    if (v !== undefined) this.dec(v);
    else this.ascii(u64(readU64(m, at)));
  }

  protected ipv4(m: Uint8Array, at: number): void {
    this.dec8(m[at]!);
    this.byte(46);
    this.dec8(m[at + 1]!);
    this.byte(46);
    this.dec8(m[at + 2]!);
    this.byte(46);
    this.dec8(m[at + 3]!);
  }

  /** A byte's value in decimal (an address's parts: no division loop). */
  private dec8(v: number): void {
    const b = this.buf;
    let n = this.n;
    if (v >= 100) {
      const h = (v * 41) >>> 12; // v / 100 for v < 1024
      b[n++] = 48 + h;
      v -= h * 100;
      const t = (v * 205) >>> 11; // v / 10 for v < 1024
      b[n++] = 48 + t;
      b[n++] = 48 + v - t * 10;
    } else if (v >= 10) {
      const t = (v * 205) >>> 11;
      b[n++] = 48 + t;
      b[n++] = 48 + v - t * 10;
    } else b[n++] = 48 + v;
    this.n = n;
  }

  protected hex8(v: number): void {
    const b = this.buf;
    for (let i = 7; i >= 0; i--) {
      b[this.n + i] = HEX_DIGITS[v & 15]!;
      v >>>= 4;
    }
    this.n += 8;
  }

  /** A non-negative integer below 2^53 in decimal. */
  protected dec(v: number): void {
    const b = this.buf;
    if (v < 10) {
      b[this.n++] = 48 + v;
      return;
    }
    if (v <= 0x7fffffff) {
      // in 31 bits: integer division by | 0, not Math.floor of a double
      let digits = 1;
      for (let x = v; x >= 10; x = (x / 10) | 0) digits++;
      let n = this.n + digits;
      this.n = n;
      while (digits-- > 0) {
        const q = (v / 10) | 0;
        b[--n] = 48 + (v - q * 10);
        v = q;
      }
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

  /** How an entry's text ends: its sadb_msg seq, pid and refcnt (reserved) after their words, a newline; the seq returned. */
  protected seqPidRefcnt(m: Uint8Array, seq: Uint8Array, pid: Uint8Array, refcnt: Uint8Array): number {
    return this.trailer(seq, le32(m, 8), pid, le32(m, 12), refcnt, u16(m, 6));
  }

  /** The same of these figures (the seq returned); what follows the seq is the last entry's again, mostly (one pid a dump). */
  protected trailer(seqWord: Uint8Array, seq: number, pidWord: Uint8Array, pid: number, refcntWord: Uint8Array, refcnt: number): number {
    this.bytes(seqWord);
    this.dec(seq);
    if (pid !== this.tailPid || refcnt !== this.tailRefcnt || pidWord !== this.tailWord || refcntWord !== this.tailRefcntWord) {
      const start = this.n;
      this.bytes(pidWord);
      this.dec(pid);
      this.bytes(refcntWord);
      this.dec(refcnt);
      this.byte(10);
      this.tail = Uint8Array.from(this.buf.subarray(start, this.n));
      this.tailPid = pid;
      this.tailRefcnt = refcnt;
      this.tailWord = pidWord;
      this.tailRefcntWord = refcntWord;
      return seq;
    }
    this.bytes(this.tail);
    return seq;
  }

  /** the last trailer's text after its seq, and what it was made of */
  private tail = new Uint8Array(0);
  private tailPid = -1;
  private tailRefcnt = -1;
  private tailWord: Uint8Array | undefined;
  private tailRefcntWord: Uint8Array | undefined;

  protected byte(c: number): void {
    this.buf[this.n++] = c;
  }

  protected ascii(s: string): void {
    this.n += this.buf.write(s, this.n, 'latin1');
  }

  protected bytes(s: Uint8Array): void {
    const b = this.buf;
    let n = this.n;
    for (let i = 0; i < s.length; i++) b[n++] = s[i]!;
    this.n = n;
  }
}
