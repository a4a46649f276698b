/**
 * A merge of sorted layers done on their bytes: what a large transaction's
 * runs and the store's table are merged with, into a run of the next level
 * or into the next table. The same rule as merge.ts (for each key the
 * newest layer's entry, deletions included; a layer's deleted prefixes
 * hide what older layers hold under them), but no key is made a string and
 * no value a view: entries are compared and copied where they lie in the
 * blocks read. Merging the runs of an apply of 100k SAs + 100k policies
 * made about two strings, two arrays and a view an entry, for each layer
 * the entry passed through.
 */
import type { Changes } from './kv.js';
import { Heap } from './heap.js';
import { compareBytes, writeLatin1 } from './store-format.js';
import type { TableReader } from './table-reader.js';

/** A run's mark before each value (run.ts). */
const PUT = 1;

/** A layer's current entry: key kb[ks, ks+kl), value vb[vs, vs+vl); `del`: a deletion mark. */
export abstract class Cursor {
  kb: Uint8Array = EMPTY;
  ks = 0;
  kl = 0;
  vb: Uint8Array = EMPTY;
  vs = 0;
  vl = 0;
  del = false;
  /** newest layer 0 */
  age = 0;
  /** Move to the next entry; false at the end. */
  abstract next(): boolean;
}

const EMPTY = new Uint8Array(0);

function u32(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}

/** A table's entries from its first block (a run's: each value behind its put/delete mark). */
export class TableCursor extends Cursor {
  private readonly blocks: Iterator<{ body: Buffer; starts: number[]; count: number }>;
  private starts: number[] = [];
  private count = 0;
  private j = 0;

  constructor(
    reader: TableReader,
    private readonly tagged: boolean,
    /** prefixes deleted above this layer: its blocks wholly under them are not read */
    hidden: readonly string[] = [],
    /** how a block that does not check out is reported (default: its FormatError) */
    private readonly damaged?: (e: unknown) => never,
  ) {
    super();
    this.blocks = reader.blocks(hidden);
  }

  next(): boolean {
    while (this.j >= this.count) {
      let n;
      try {
        n = this.blocks.next();
      } catch (e) {
        if (this.damaged) this.damaged(e);
        throw e;
      }
      if (n.done) return false;
      this.kb = this.vb = n.value.body;
      this.starts = n.value.starts;
      this.count = n.value.count;
      this.j = 0;
    }
    const b = this.kb;
    const p = this.starts[this.j++]!;
    const kl = u32(b, p);
    this.ks = p + 4;
    this.kl = kl;
    const vl = u32(b, p + 4 + kl);
    if (this.tagged) {
      // (a run's value is never empty: its mark is the first byte)
      this.del = b[p + 8 + kl] !== PUT;
      this.vs = p + 9 + kl;
      this.vl = vl - 1;
    } else {
      this.vs = p + 8 + kl;
      this.vl = vl;
    }
    return true;
  }
}

/** A layer in memory, in key order (each key written as latin1 bytes into a buffer of the cursor's own). */
export class ChangesCursor extends Cursor {
  private readonly entries: Iterator<[string, Uint8Array | null]>;
  private scratch = Buffer.allocUnsafe(256);

  constructor(changes: Changes) {
    super();
    this.entries = changes.ownScan('', false);
  }

  next(): boolean {
    const n = this.entries.next();
    if (n.done) return false;
    const [k, v] = n.value;
    if (k.length > this.scratch.length) this.scratch = Buffer.allocUnsafe(k.length * 2);
    this.kb = this.scratch;
    this.ks = 0;
    this.kl = writeLatin1(this.scratch, 0, k);
    this.del = v === null;
    this.vb = v ?? EMPTY;
    this.vs = 0;
    this.vl = v ? v.length : 0;
    return true;
  }
}

/** Key order, the newest first among equals. */
function less(x: Cursor, y: Cursor): boolean {
  const c = compareBytes(x.kb, x.ks, x.kl, y.kb, y.ks, y.kl);
  return c < 0 || (c === 0 && x.age < y.age);
}

function startsWith(c: Cursor, prefix: Uint8Array): boolean {
  if (c.kl < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (c.kb[c.ks + i] !== prefix[i]) return false;
  return true;
}

/**
 * The entries of `layers` (newest first; each with the prefixes it deleted
 * whole), in key order: for each key the newest layer's entry, handed to
 * `out` before any cursor moves on (its bytes are valid only then).
 * Deletions are handed on too: a run merged into a run keeps them; a table
 * drops them. `shadowed` hears of each entry an older layer holds under a
 * key a newer one has too.
 */
export function mergeRaw(layers: readonly { cursor: Cursor; hidden: readonly string[] }[], out: (c: Cursor) => void, shadowed?: (newer: Cursor, older: Cursor) => void): void {
  const heap = new Heap<Cursor>(less);
  // what the layers newer than layer i deleted whole
  const above: Uint8Array[][] = [];
  let acc: Uint8Array[] = [];
  layers.forEach((l, age) => {
    above.push(acc);
    if (l.hidden.length) acc = [...acc, ...l.hidden.map((h) => Buffer.from(h, 'latin1'))];
    l.cursor.age = age;
    if (l.cursor.next()) heap.push(l.cursor);
  });
  const hiddenAbove = (c: Cursor): boolean => {
    const h = above[c.age]!;
    for (let i = 0; i < h.length; i++) if (startsWith(c, h[i]!)) return true;
    return false;
  };
  while (heap.size) {
    const c = heap.pop();
    for (;;) {
      if (!hiddenAbove(c)) out(c);
      // the older layers' entries of the same key are shadowed (`shadowed` is told: a bulk load's parts hold no key twice)
      while (heap.size) {
        const t = heap.top();
        if (compareBytes(t.kb, t.ks, t.kl, c.kb, c.ks, c.kl) !== 0) break;
        shadowed?.(c, t);
        heap.pop();
        if (t.next()) heap.push(t);
      }
      if (!c.next()) break;
      // a run of one layer's keys before every other layer's next goes on without the heap
      // (a bulk load's layer over an empty table is one long run)
      if (heap.size && !less(c, heap.top())) {
        heap.push(c);
        break;
      }
    }
  }
}
