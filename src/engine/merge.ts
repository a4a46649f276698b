/**
 * Many sorted layers read as one, in one pass: a k-way merge on a heap, the
 * newest layer's entry winning for a key, and a layer's deleted prefixes
 * hiding what older layers hold under them. A large transaction's runs are
 * read this way, and merged into fewer runs or into the next table.
 */
import { compareKeys, hides, type Layer } from './kv.js';

type Entry = [string, Uint8Array | null];

interface Cursor {
  readonly age: number;
  readonly it: Iterator<Entry>;
  head: Entry;
}

/** A binary heap of cursors by key (reversed: largest first), the newest (smallest age) first among equals. */
class Heap {
  private readonly a: Cursor[] = [];
  constructor(private readonly reverse: boolean) {}

  private less(x: Cursor, y: Cursor): boolean {
    const c = compareKeys(x.head[0], y.head[0]) * (this.reverse ? -1 : 1);
    return c < 0 || (c === 0 && x.age < y.age);
  }

  get size(): number {
    return this.a.length;
  }

  top(): Cursor {
    return this.a[0]!;
  }

  push(c: Cursor): void {
    const a = this.a;
    a.push(c);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): Cursor {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * The entries of `layers` (newest first) under `prefix`: for each key the
 * newest layer's entry, a deletion (null) included, unless a newer layer
 * deleted a prefix over it. `hidden`: prefixes deleted above all of them.
 */
export function* mergeLayers(layers: readonly Layer[], prefix: string, reverse: boolean, hidden: readonly string[] = []): Generator<Entry> {
  const heap = new Heap(reverse);
  layers.forEach((l, age) => {
    const it = l.ownScan(prefix, reverse)[Symbol.iterator]();
    const n = it.next();
    if (!n.done) heap.push({ age, it, head: n.value });
  });
  // what the layers newer than layer i deleted whole, and above them
  const above: string[][] = [];
  let acc = [...hidden];
  for (let i = 0; i < layers.length; i++) {
    above.push(acc);
    if (layers[i]!.hidden.length) acc = [...acc, ...layers[i]!.hidden];
  }
  while (heap.size) {
    const c = heap.pop();
    const [key] = c.head;
    const win = c;
    const entry = c.head;
    advance(heap, c);
    // the older layers' entries of the same key are shadowed
    while (heap.size && heap.top().head[0] === key) advance(heap, heap.pop());
    const h = above[win.age]!;
    if (h.length && hides(h, key)) continue;
    yield entry;
  }
}

function advance(heap: Heap, c: Cursor): void {
  const n = c.it.next();
  if (n.done) return;
  c.head = n.value;
  heap.push(c);
}
