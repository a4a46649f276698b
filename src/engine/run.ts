/**
 * A transaction too large for memory (a million SAs applied at once) puts
 * its changes aside as it goes: sorted runs in the store's table format,
 * each a layer of the transaction (kv.ts) with its deletions kept as marks,
 * and a Bloom filter so that a key a run does not hold costs no read. At
 * commit the runs are merged with the store into the next generation, block
 * by block; they are temporary files (`.run-*.tmp`), removed then, or by the
 * next writer if this one was killed.
 */
import { closeSync, writeSync } from 'node:fs';
import { hides, type Changes, type KvReader, type Layer } from './kv.js';
import { mergeLayers } from './merge.js';
import { mergeRaw, TableCursor, type Cursor } from './raw-merge.js';
import type { StoreDir } from './store-dir.js';
import { TableWriter } from './store-format.js';
import { TableReader } from './table-reader.js';
import { SortedCursor, type SortedLayer } from './sorted-layer.js';

const PUT = 1;
const DEL = 0;
const EMPTY = new Uint8Array(0);

/** A key's two hashes, computed once for every run's filter. */
export interface KeyHash {
  readonly a: number;
  readonly b: number;
}

/**
 * A key's two hashes: FNV-1a with two seeds, in one pass over its
 * characters (two passes took twice as long: every key of a large apply is
 * hashed when its run is written, and again when runs are merged).
 */
export function keyHash(s: string): KeyHash {
  let a = 0x811c9dc5;
  let b = 0x811c9dc5 ^ 0x5bd1e995;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
  }
  return { a: a >>> 0, b: (b >>> 0) | 1 };
}

/** keyHash of a key given as its latin1 bytes (the same hash: a latin1 character's code is its byte). */
function keyHashBytes(k: Uint8Array, start: number, len: number): KeyHash {
  let a = 0x811c9dc5;
  let b = 0x811c9dc5 ^ 0x5bd1e995;
  for (let i = start; i < start + len; i++) {
    const c = k[i]!;
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
  }
  return { a: a >>> 0, b: (b >>> 0) | 1 };
}

/** A Bloom filter of strings: 10 bits a key, 7 probes (under 1% false positives). */
class Bloom {
  private readonly bits: Uint32Array;
  private readonly m: number;
  constructor(n: number) {
    this.m = Math.max(64, n * 10);
    this.bits = new Uint32Array(Math.ceil(this.m / 32));
  }

  add(h: KeyHash): void {
    for (let i = 0; i < 7; i++) {
      const p = ((h.a + Math.imul(i, h.b)) >>> 0) % this.m;
      this.bits[p >>> 5]! |= 1 << (p & 31);
    }
  }

  has(h: KeyHash): boolean {
    for (let i = 0; i < 7; i++) {
      const p = ((h.a + Math.imul(i, h.b)) >>> 0) % this.m;
      if (!(this.bits[p >>> 5]! & (1 << (p & 31)))) return false;
    }
    return true;
  }
}

/**
 * One filter over the keys of all of a transaction's runs, asked before
 * theirs: a key the transaction never put aside (the common case: an apply
 * asks whether each new SA or policy exists) then costs one probe of one
 * filter instead of one of each run's, a cache miss each (~5 runs asked
 * per lookup, 0.26 s of an apply of 100k SAs + 100k policies). Of a fixed
 * size, 4 MiB (under 1% false positives up to 1.6M keys, ~12% at 4M, where the
 * runs' own filters still answer), and blocked: a key's 7 bits are all in
 * one 64-byte block (one cache line), chosen by its first hash and placed
 * in it by its second, so that adding a key, too, is one cache miss and
 * not seven.
 */
export class RunKeys {
  private static readonly BLOCKS = 1 << 16;
  private readonly bits = new Uint32Array(RunKeys.BLOCKS * 16);

  add(h: KeyHash): void {
    const base = (h.a & (RunKeys.BLOCKS - 1)) * 16;
    // the first bit from the first hash's high bits (its low ones chose the block), the step from the second (odd)
    let p = h.a >>> 23;
    for (let i = 0; i < 7; i++) {
      this.bits[base + ((p >>> 5) & 15)]! |= 1 << (p & 31);
      p += h.b;
    }
  }

  mayHave(h: KeyHash): boolean {
    const base = (h.a & (RunKeys.BLOCKS - 1)) * 16;
    let p = h.a >>> 23;
    for (let i = 0; i < 7; i++) {
      if (!(this.bits[base + ((p >>> 5) & 15)]! & (1 << (p & 31)))) return false;
      p += h.b;
    }
    return true;
  }
}

export class RunLayer implements Layer {
  private constructor(
    private readonly files: StoreDir,
    readonly name: string,
    private readonly reader: TableReader,
    private readonly bloom: Bloom,
    readonly hidden: readonly string[],
    /** size-tiered: a run of level L+1 is the merge of runs of level L */
    readonly level: number,
  ) {}

  /** Write a run with `fill` (entries in order, deletions marked) and read it from there. */
  private static writeEntries(files: StoreDir, name: string, fill: (w: TableWriter, bloom: Bloom) => void, count: number, hidden: readonly string[], level: number): RunLayer {
    const bloom = new Bloom(count);
    files.remove(name);
    const fd = files.openWrite(name, 'create-new');
    try {
      const w = new TableWriter((b) => {
        for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off);
      }, { keeps: false });
      fill(w, bloom);
      w.finish(0, 0);
      // no fsync: a run is read only by the process that wrote it (through the page cache), and one left
      // by a crash, whole or torn, is removed unread by the next writer (store.ts sweep); the table made
      // from the runs at commit is synced before it is named. (The fsync here was 0.17 s of an apply of
      // 200k statements.)
    } finally {
      closeSync(fd);
    }
    const rfd = files.openRead(name)!;
    return new RunLayer(files, name, new TableReader(rfd, 2), bloom, [...hidden], level);
  }

  /** A layer of changes in memory, written as a run (level 0); its keys go into `all` too. */
  static write(files: StoreDir, name: string, changes: Changes, all?: RunKeys): RunLayer {
    const keys = changes.keysUnder('');
    const fill = (w: TableWriter, bloom: Bloom): void => {
      for (const k of keys) {
        const v = changes.map.get(k)!;
        w.add(k, v ?? EMPTY, v ? PUT : DEL);
        const h = keyHash(k);
        bloom.add(h);
        all?.add(h);
      }
    };
    return RunLayer.writeEntries(files, name, fill, keys.length, changes.hidden, 0);
  }

  /** A bulk load's part (sorted-layer.ts), written as a run (level 0): every entry a put. */
  static writeSorted(files: StoreDir, name: string, layer: SortedLayer): RunLayer {
    const fill = (w: TableWriter, bloom: Bloom): void => {
      const c = new SortedCursor(layer);
      while (c.next()) {
        w.addRaw(c.kb, c.ks, c.kl, c.vb, c.vs, c.vl, PUT);
        bloom.add(keyHashBytes(c.kb, c.ks, c.kl));
      }
    };
    return RunLayer.writeEntries(files, name, fill, layer.size, [], 0);
  }

  /** Runs (newest first) merged into one of the next level, on their bytes (raw-merge.ts); the merged ones are removed. */
  static merge(files: StoreDir, name: string, runs: readonly RunLayer[]): RunLayer {
    const count = runs.reduce((n, r) => n + r.reader.entries, 0);
    const hidden = runs.flatMap((r) => r.hidden);
    const fill = (w: TableWriter, bloom: Bloom): void => {
      // deletions stay marked: the layers below the runs may hold the key
      mergeRaw(runs.map((r) => r.layer()), (c) => {
        w.addRaw(c.kb, c.ks, c.kl, c.vb, c.vs, c.vl, c.del ? DEL : PUT);
        bloom.add(keyHashBytes(c.kb, c.ks, c.kl));
      });
    };
    const merged = RunLayer.writeEntries(files, name, fill, count, hidden, Math.max(...runs.map((r) => r.level)) + 1);
    for (const r of runs) r.discard();
    return merged;
  }

  /** Whether the run may hold the key (its filter), without reading. */
  mayHave(h: KeyHash): boolean {
    return this.bloom.has(h);
  }

  own(key: string, h: KeyHash = keyHash(key)): Uint8Array | null | undefined {
    if (!this.bloom.has(h)) return undefined;
    const v = this.reader.get(key);
    if (!v) return undefined;
    return v[0] === PUT ? v.subarray(1) : null;
  }

  *ownScan(prefix: string, reverse: boolean): Generator<[string, Uint8Array | null]> {
    for (const [k, v] of this.reader.scan(prefix, reverse)) yield [k, v[0] === PUT ? v.subarray(1) : null];
  }

  /** The run as a layer of a merge on bytes, from its first entry. */
  layer(): { cursor: Cursor; hidden: readonly string[] } {
    return { cursor: new TableCursor(this.reader, true), hidden: this.hidden };
  }

  /** Close and remove the run. */
  discard(): void {
    this.reader.close();
    this.files.remove(this.name);
  }
}

/**
 * A transaction's runs over the store, read as one: a lookup hashes the key
 * once and reads only the runs whose filter may hold it, newest first; a
 * range is a k-way merge (not one generator per run stacked on the next).
 */
export class RunStack implements KvReader {
  /** newest first */
  private readonly newest: RunLayer[];
  private readonly base: Layer;
  private readonly allHidden: string[];
  /** the runs that hide key ranges below them (a prefix deletion), newest first */
  private readonly hiding: readonly RunLayer[];
  constructor(
    runs: readonly RunLayer[],
    private readonly below: KvReader,
    /** every key of the runs (write() added them), if kept */
    private readonly all?: RunKeys,
  ) {
    this.newest = [...runs].reverse();
    this.hiding = this.newest.filter((r) => r.hidden.length > 0);
    this.allHidden = runs.flatMap((r) => r.hidden);
    const hiddenAll = this.allHidden;
    this.base = {
      hidden: [],
      own: (k) => below.get(k),
      // the table may skip the blocks every run above deleted whole
      ownScan: (p, r) => below.scan(p, r, hiddenAll),
    };
  }

  get(key: string): Uint8Array | undefined {
    const h = keyHash(key);
    if (this.all && !this.all.mayHave(h)) {
      // in no run: unless one hides it, the key is as the store has it
      for (const r of this.hiding) if (hides(r.hidden, key)) return undefined;
      return this.below.get(key);
    }
    for (const r of this.newest) {
      if (r.mayHave(h)) {
        const v = r.own(key, h);
        if (v !== undefined) return v ?? undefined;
      }
      if (r.hidden.length && hides(r.hidden, key)) return undefined;
    }
    return this.below.get(key);
  }

  *scan(prefix: string, reverse = false, hidden: readonly string[] = []): Generator<[string, Uint8Array]> {
    for (const [k, v] of mergeLayers([...this.newest, this.base], prefix, reverse, hidden)) if (v) yield [k, v];
  }
}
