/**
 * Many sorted layers read as one, in one pass: a k-way merge on a heap, the
 * newest layer's entry winning for a key, and a layer's deleted prefixes
 * hiding what older layers hold under them. A large transaction's runs are
 * read this way (a range inside the transaction); they are merged into
 * fewer runs, or into the next table, on their bytes (raw-merge.ts).
 */
import { Heap } from './heap.js';
import { compareKeys, hides, type Layer } from './kv.js';

type Entry = [string, Uint8Array | null];

interface Cursor {
  readonly age: number;
  readonly it: Iterator<Entry>;
  head: Entry;
}

/** Key order (reversed: largest first), the newest (smallest age) first among equals. */
function order(reverse: boolean): (x: Cursor, y: Cursor) => boolean {
  return (x, y) => {
    const c = compareKeys(x.head[0], y.head[0]) * (reverse ? -1 : 1);
    return c < 0 || (c === 0 && x.age < y.age);
  };
}

/**
 * The entries of `layers` (newest first) under `prefix`: for each key the
 * newest layer's entry, a deletion (null) included, unless a newer layer
 * deleted a prefix over it. `hidden`: prefixes deleted above all of them.
 */
export function* mergeLayers(layers: readonly Layer[], prefix: string, reverse: boolean, hidden: readonly string[] = []): Generator<Entry> {
  const heap = new Heap<Cursor>(order(reverse));
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

function advance(heap: Heap<Cursor>, c: Cursor): void {
  const n = c.it.next();
  if (n.done) return;
  c.head = n.value;
  heap.push(c);
}
