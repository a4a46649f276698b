/**
 * A script's lines kept in a file when there are many: a dump of a million
 * entries is printed oldest first in the memory of a few, not of all. The
 * file is made in a private temporary directory and unlinked at once (it
 * holds keys): only this process's descriptor reaches it, and nothing is
 * left behind, even if the process is killed.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LineStore } from '../format/state-script.js';

/** Lines held in memory before the rest goes to the file. */
const IN_MEMORY = 20000;
const WINDOW = 256 << 10;

export class SpillLines implements LineStore {
  private readonly mem: string[] = [];
  private fd: number | undefined;
  /** start of each spilled line in the file, and one past the last */
  private offsets = new Float64Array(1024);
  private spilled = 0;
  private size = 0;
  private buf: string[] = [];
  private bufLen = 0;
  private window: { start: number; text: string } | undefined;

  push(text: string): void {
    if (this.fd === undefined && this.mem.length < IN_MEMORY) {
      this.mem.push(text);
      return;
    }
    this.fd ??= openPrivate();
    if (this.spilled + 1 >= this.offsets.length) {
      const b = new Float64Array(this.offsets.length * 2);
      b.set(this.offsets);
      this.offsets = b;
    }
    this.offsets[this.spilled] = this.size + this.bufLen;
    this.buf.push(text);
    this.bufLen += text.length;
    this.spilled++;
    this.offsets[this.spilled] = this.size + this.bufLen;
    if (this.bufLen > WINDOW) this.flush();
  }

  private flush(): void {
    if (!this.bufLen) return;
    const b = Buffer.from(this.buf.join(''), 'latin1');
    for (let off = 0; off < b.length; ) off += writeSync(this.fd!, b, off, b.length - off, this.size + off);
    this.size += b.length;
    this.buf = [];
    this.bufLen = 0;
  }

  get length(): number {
    return this.mem.length + this.spilled;
  }

  get(i: number): string {
    if (i < this.mem.length) return this.mem[i]!;
    this.flush();
    const k = i - this.mem.length;
    const start = this.offsets[k]!;
    const end = this.offsets[k + 1]!;
    const w = this.window;
    if (!w || start < w.start || end > w.start + w.text.length) this.window = this.read(Math.max(0, end - WINDOW), end);
    const at = this.window!.start;
    return this.window!.text.slice(start - at, end - at);
  }

  /** A window of the file ending at `end` (read backwards, as a script is printed). */
  private read(start: number, end: number): { start: number; text: string } {
    const b = Buffer.allocUnsafe(end - start);
    let n = 0;
    while (n < b.length) {
      const k = readSync(this.fd!, b, n, b.length - n, start + n);
      if (k === 0) break;
      n += k;
    }
    return { start, text: b.toString('latin1', 0, n) };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** A file nobody else can open, gone from the file system as soon as it exists. */
function openPrivate(): number {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-script-'));
  const path = join(dir, 'lines');
  const fd = openSync(path, 'wx+', 0o600);
  unlinkSync(path);
  rmdirSync(dir);
  return fd;
}
