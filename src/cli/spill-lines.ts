/**
 * A script's lines kept in files when there are many: a dump of a million
 * entries is printed oldest first in the memory of a few, not of all. The
 * lines go to one file, and what the script needs of each (where it starts,
 * its two hashes: 24 bytes) to another, read back a window at a time; in
 * memory, three growing arrays of 8 bytes a line took 48 MB for 1M entries
 * (--format=script of 10k SAs 64 MB, of 1M 146 MB). Each file is made in a
 * private temporary directory and unlinked at once (the lines hold keys):
 * only this process's descriptor reaches it, and nothing is left behind,
 * even if the process is killed.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LineStore } from '../format/state-script.js';

/** Lines held in memory before the rest goes to the files. */
const IN_MEMORY = 4096;
const WINDOW = 256 << 10;
/** An index record: the line's start in the text file, its fwd hash, its copy hash (float64 each). */
const RECORD = 3;
const RECORD_BYTES = RECORD * 8;

export class SpillLines implements LineStore {
  private readonly mem: string[] = [];
  private readonly memHashes: number[] = [];
  private text: SpillFile | undefined;
  private index: SpillFile | undefined;
  private spilled = 0;
  /**
   * text bytes written, and the bytes waiting to be: each line is encoded
   * into the buffer as it comes (lines held as strings until a write lived
   * through two scavenges and were promoted: the whole script, 300 MB for
   * 1M SAs, went through V8's old generation)
   */
  private textBytes = 0;
  private out: Buffer | undefined;
  private used = 0;
  private readonly records = new Float64Array(RECORD * 2048);
  private pending = 0;
  /** the index records read back last, and the first line they are of */
  private win: Float64Array = new Float64Array(0);
  private winFirst = 0;

  /** `inMemory`: how many lines are kept before the files are made; `window`: the bytes read back at a time (tests make both small). */
  constructor(
    private readonly inMemory = IN_MEMORY,
    private readonly window = WINDOW,
  ) {}

  push(text: string, fwd: number, copy: number): void {
    if (this.text === undefined && this.mem.length < this.inMemory) {
      this.mem.push(text);
      this.memHashes.push(fwd, copy);
      return;
    }
    this.text ??= new SpillFile(this.window);
    this.index ??= new SpillFile(this.window);
    const r = this.pending * RECORD;
    this.records[r] = this.textBytes + this.used;
    this.records[r + 1] = fwd;
    this.records[r + 2] = copy;
    const out = (this.out ??= Buffer.allocUnsafe(this.window));
    if (this.used + text.length > out.length) this.flushText();
    // (latin1: one byte a character, as the lines were read back)
    if (text.length > out.length) this.textBytes += this.text.append(Buffer.from(text, 'latin1'));
    else this.used += out.write(text, this.used, 'latin1');
    this.spilled++;
    if (++this.pending * RECORD === this.records.length) this.flushIndex();
  }

  private flushText(): void {
    if (!this.used) return;
    this.textBytes += this.text!.append(this.out!.subarray(0, this.used));
    this.used = 0;
  }

  private flushIndex(): void {
    if (!this.pending) return;
    this.index!.append(new Uint8Array(this.records.buffer, 0, this.pending * RECORD_BYTES));
    this.pending = 0;
  }

  get length(): number {
    return this.mem.length + this.spilled;
  }

  get(i: number): string {
    if (i < this.mem.length) return this.mem[i]!;
    this.flushText();
    const k = i - this.mem.length;
    const start = this.record(k, 0);
    const end = k + 1 < this.spilled ? this.record(k + 1, 0) : this.textBytes;
    return this.text!.latin1(start, end);
  }

  fwd(i: number): number {
    return i < this.mem.length ? this.memHashes[2 * i]! : this.record(i - this.mem.length, 1);
  }

  copy(i: number): number {
    return i < this.mem.length ? this.memHashes[2 * i + 1]! : this.record(i - this.mem.length, 2);
  }

  /** Field f of spilled line k's index record, from a window of records around it (read forwards or backwards). */
  private record(k: number, f: number): number {
    const w = this.win;
    if (k < this.winFirst || k >= this.winFirst + w.length / RECORD) {
      this.flushIndex();
      const per = Math.max(1, Math.floor(this.window / RECORD_BYTES));
      // a window that holds k, reaching forwards from it or backwards, whichever way the reader goes
      // (backwards it holds k + 1 too: a line's end is where the next one starts)
      const first = k >= this.winFirst ? k : Math.min(k, Math.max(0, Math.min(k + 2, this.spilled) - per));
      const count = Math.min(per, this.spilled - first);
      const bytes = this.index!.read(first * RECORD_BYTES, (first + count) * RECORD_BYTES);
      this.win = new Float64Array(bytes.buffer, bytes.byteOffset, count * RECORD);
      this.winFirst = first;
    }
    return this.win[(k - this.winFirst) * RECORD + f]!;
  }

  close(): void {
    this.text?.close();
    this.index?.close();
    this.text = this.index = undefined;
  }
}

/** A file nobody else can open, gone from the file system as soon as it exists, written at its end and read by ranges. */
class SpillFile {
  private readonly fd: number;
  private size = 0;
  /** the text read back last (lines are read a window at a time, backwards) */
  private window: { start: number; bytes: Buffer } | undefined;
  /** where windows are read, reused */
  private buf: Uint8Array | undefined;

  constructor(private readonly windowBytes: number) {
    const dir = mkdtempSync(join(tmpdir(), 'setkey-script-'));
    const path = join(dir, 'lines');
    this.fd = openSync(path, 'wx+', 0o600);
    unlinkSync(path);
    rmdirSync(dir);
  }

  /** Write b at the end; its length. */
  append(b: Uint8Array): number {
    for (let off = 0; off < b.length; ) off += writeSync(this.fd, b, off, b.length - off, this.size + off);
    this.size += b.length;
    return b.length;
  }

  /**
   * The bytes [start, end), 8-byte aligned, valid until the next read: a
   * window is read into the same buffer each time (one buffer a window
   * would be hundreds of MB outside V8's heap waiting for its collector),
   * a longer range into one of its own.
   */
  read(start: number, end: number): Uint8Array {
    const b = end - start <= this.windowBytes ? (this.buf ??= new Uint8Array(this.windowBytes)).subarray(0, end - start) : new Uint8Array(end - start);
    let n = 0;
    while (n < b.length) {
      const k = readSync(this.fd, b, n, b.length - n, start + n);
      if (k === 0) break;
      n += k;
    }
    return b.subarray(0, n);
  }

  /**
   * The text [start, end) as latin1, from a window of windowBytes ending at
   * `end` (a script is printed backwards), or of the line if longer. The
   * window stays bytes and each line is decoded on its own: a window held
   * as one string (256 KB, too large for V8's young generation) went
   * straight to the old one, and a million-entry script left 300 MB of them
   * there for the next full collection (--format=script of 1M SAs peaked at
   * 70 MB of anonymous memory against 25 for --format=json).
   */
  latin1(start: number, end: number): string {
    const w = this.window;
    if (!w || start < w.start || end > w.start + w.bytes.length) {
      const from = Math.min(start, Math.max(0, end - this.windowBytes));
      const b = this.read(from, end);
      this.window = { start: from, bytes: Buffer.from(b.buffer, b.byteOffset, b.byteLength) };
    }
    const at = this.window!.start;
    return this.window!.bytes.toString('latin1', start - at, end - at);
  }

  close(): void {
    closeSync(this.fd);
  }
}
