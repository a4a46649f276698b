/**
 * A layer of new entries made at once and sorted once: what a bulk load
 * (src/ingest/) puts into a transaction instead of a put per entry. An
 * apply of 100k SAs + 100k policies made ~500k puts into the transaction's
 * map (hashing each key), sorted them again to put them aside in runs, and
 * merged those runs level by level before the table. Entries come in
 * streams, one per key prefix (`R/S/`, `s/`, `p/`...): a stream whose keys
 * are made in order (records by their growing order) is taken as it is, the
 * others are sorted by key; the layer is the streams one after the other,
 * in the order of their prefixes.
 *
 * Values are copied into large buffers as they come, and each is kept as
 * three numbers (buffer, offset, length), not as a view: a view is an
 * object V8's young generation copies and promotes, and half a million of
 * them kept alive made the collector most of a load's time.
 */
import { Cursor } from './raw-merge.js';
import { lowerBound, type Layer } from './kv.js';
import { writeLatin1 } from './store-format.js';

/** What a bulk load cannot do (delete, read in order) or found (a key put twice): it is given up, nothing of it kept. */
export class BulkConflict extends Error {}

const SLAB = 4 << 20;

/** Values one after the other in large buffers; value i is at loc[3i..3i+2] = buffer, offset, length. */
class Values {
  readonly slabs: Buffer[] = [];
  private slab = Buffer.allocUnsafe(0);
  private used = 0;
  loc = new Uint32Array(3 * 1024);
  count = 0;

  push(v: Uint8Array | string): void {
    const n = v.length;
    if (this.used + n > this.slab.length) {
      this.slab = Buffer.allocUnsafe(Math.max(SLAB, n));
      this.slabs.push(this.slab);
      this.used = 0;
    }
    const slab = this.slab;
    const to = this.used;
    if (typeof v === 'string') writeLatin1(slab, to, v);
    // a u64, a short key: byte by byte (set() of a typed array costs a call more than a few bytes)
    else if (n <= 16) for (let i = 0; i < n; i++) slab[to + i] = v[i]!;
    else slab.set(v, to);
    if (3 * this.count + 3 > this.loc.length) {
      const next = new Uint32Array(this.loc.length * 2);
      next.set(this.loc);
      this.loc = next;
    }
    const at = 3 * this.count++;
    this.loc[at] = this.slabs.length - 1;
    this.loc[at + 1] = this.used;
    this.loc[at + 2] = n;
    this.used += n;
  }
}

/** One stream: its keys, and its values in the same order. */
export class Stream {
  readonly keys: string[] = [];
  readonly values = new Values();
  constructor(
    readonly prefix: string,
    /** its keys are made in increasing order (checked when sealed) */
    readonly ordered: boolean,
  ) {}

  /**
   * Whether each key so far came after the one before (an unordered
   * stream's keys often do: a file's policies made in order by a script):
   * then it needs no sort (100k keys: 15-20 ms of what a load's end waits for).
   */
  inOrder = true;

  /** an entry; a string value is stored as its latin1 bytes */
  put(key: string, value: Uint8Array | string): void {
    const k = this.keys;
    if (this.inOrder && k.length > 0 && key <= k[k.length - 1]!) this.inOrder = false;
    k.push(key);
    this.values.push(value);
  }
}

export class SortedLayerBuilder {
  private readonly streams: Stream[] = [];

  /**
   * A stream of entries whose keys all start with `prefix`; no stream's
   * prefix may start another's (so streams never interleave).
   */
  stream(prefix: string, ordered: boolean): Stream {
    for (const s of this.streams) if (s.prefix.startsWith(prefix) || prefix.startsWith(s.prefix)) throw new Error(`streams ${s.prefix} and ${prefix} overlap`);
    const s = new Stream(prefix, ordered);
    this.streams.push(s);
    return s;
  }

  /** each unordered stream's order as sortAhead() found it, with how many entries it had then */
  private readonly sorted = new Map<Stream, { readonly n: number; readonly order: Uint32Array }>();

  /**
   * The unordered streams sorted now, ahead of seal(), which takes that
   * order if a stream has had nothing more since: a load's main thread sorts
   * its policies' identities while it waits for the worker's last SAs
   * (engine.ts bulk), not after.
   */
  sortAhead(): void {
    for (const s of this.streams) if (!s.ordered && !s.inOrder) this.sorted.set(s, { n: s.keys.length, order: orderOf(s.keys) });
  }

  /**
   * The layer, or the first key made twice (the caller's entries must be
   * new: one key twice is a conflict it has to resolve another way).
   */
  seal(): SortedLayer | { duplicate: string } {
    const parts: Part[] = [];
    for (const s of [...this.streams].sort((a, b) => (a.prefix < b.prefix ? -1 : 1))) {
      const k = s.keys;
      // the order of the stream's entries by key (sorted ahead, if nothing came since)
      let order: Uint32Array | undefined;
      if (!s.ordered && !s.inOrder) {
        const ahead = this.sorted.get(s);
        order = ahead !== undefined && ahead.n === k.length ? ahead.order : orderOf(k);
      }
      for (let j = 0; j < k.length; j++) {
        const key = k[order ? order[j]! : j]!;
        if (!key.startsWith(s.prefix)) throw new Error(`key ${key} is not under ${s.prefix}`);
        if (j > 0) {
          const prev = k[order ? order[j - 1]! : j - 1]!;
          if (prev === key) return { duplicate: key };
          // (a stream said to come in order that does not: the load is given up, as for a key twice)
          if (prev > key) throw new BulkConflict(`stream ${s.prefix} is not in order`);
        }
      }
      if (k.length) parts.push({ keys: k, values: s.values, order });
    }
    this.streams.length = 0;
    this.sorted.clear();
    return new SortedLayer(parts);
  }
}

/** The order of `keys` (indexes into it) by key. */
function orderOf(k: readonly string[]): Uint32Array {
  const idx = Array.from(k.keys());
  idx.sort((a, b) => (k[a]! < k[b]! ? -1 : k[a]! > k[b]! ? 1 : 0));
  return Uint32Array.from(idx);
}

/** A stream as sealed: its entries in key order are keys[order[j]] (keys[j] without an order). */
interface Part {
  readonly keys: readonly string[];
  readonly values: Values;
  readonly order: Uint32Array | undefined;
}

/** Distinct keys in order, each with its value; no deletions. */
export class SortedLayer implements Layer {
  readonly hidden: readonly string[] = [];
  constructor(readonly parts: readonly Part[]) {}

  get size(): number {
    let n = 0;
    for (const p of this.parts) n += p.keys.length;
    return n;
  }

  /** Entries in key order: [key, value view] (the views are made on the way: tests, small stores). */
  *entries(): Generator<[string, Uint8Array]> {
    for (const p of this.parts) for (let j = 0; j < p.keys.length; j++) yield entryOf(p, j);
  }

  own(key: string): Uint8Array | undefined {
    for (const p of this.parts) {
      if (!p.keys.length) continue;
      const j = lowerBoundIn(p, key);
      if (j < p.keys.length && keyAt(p, j) === key) return entryOf(p, j)[1];
    }
    return undefined;
  }

  *ownScan(prefix: string, reverse: boolean): Generator<[string, Uint8Array]> {
    // parts never interleave: each part's range under the prefix, one after the other
    for (const p of reverse ? [...this.parts].reverse() : this.parts) {
      const lo = p.keys.length ? lowerBoundIn(p, prefix) : 0;
      let hi = lo;
      while (hi < p.keys.length && keyAt(p, hi).startsWith(prefix)) hi++;
      if (!reverse) for (let j = lo; j < hi; j++) yield entryOf(p, j);
      else for (let j = hi - 1; j >= lo; j--) yield entryOf(p, j);
    }
  }
}

function keyAt(p: Part, j: number): string {
  return p.keys[p.order ? p.order[j]! : j]!;
}

function entryOf(p: Part, j: number): [string, Uint8Array] {
  const i = p.order ? p.order[j]! : j;
  const l = p.values.loc;
  return [p.keys[i]!, p.values.slabs[l[3 * i]!]!.subarray(l[3 * i + 1]!, l[3 * i + 1]! + l[3 * i + 2]!)];
}

function lowerBoundIn(p: Part, key: string): number {
  if (!p.order) return lowerBound(p.keys, key);
  let lo = 0;
  let hi = p.keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keyAt(p, mid) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The layer's entries for a merge on bytes (raw-merge.ts): each key written as latin1 into a scratch buffer, each value where it lies. */
export class SortedCursor extends Cursor {
  private p = 0;
  private j = -1;
  private scratch = Buffer.allocUnsafe(256);
  constructor(private readonly layer: SortedLayer) {
    super();
  }

  next(): boolean {
    const parts = this.layer.parts;
    while (this.p < parts.length && ++this.j >= parts[this.p]!.keys.length) {
      this.p++;
      this.j = -1;
    }
    if (this.p >= parts.length) return false;
    const part = parts[this.p]!;
    const i = part.order ? part.order[this.j]! : this.j;
    const k = part.keys[i]!;
    if (k.length > this.scratch.length) this.scratch = Buffer.allocUnsafe(k.length * 2);
    this.kb = this.scratch;
    this.ks = 0;
    // (char by char: Buffer's write() was most of a key's cost)
    this.kl = writeLatin1(this.scratch, 0, k);
    const l = part.values.loc;
    this.vb = part.values.slabs[l[3 * i]!]!;
    this.vs = l[3 * i + 1]!;
    this.vl = l[3 * i + 2]!;
    this.del = false;
    return true;
  }
}
