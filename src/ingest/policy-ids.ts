/**
 * A bulk load's policies' identities (records.ts policyKeyV4:
 * `p/<dir>/4:<src>/<sprefix>/<dst>/<dprefix>/<proto>/<sport>/<dport>/-`,
 * each pointing at its record's order) gathered as numbers and written by
 * the load's worker (sa-worker.ts), where the store held no policy: the
 * main thread, which reads the policies, sends each one's numbers in
 * batches (packPolicy), and the worker sorts them into their keys' order
 * and writes the keys' blocks into the load's file at the end. On the main
 * thread they were a string each, put into the transaction's sorted layer,
 * sorted once the file was read and merged into the table at the commit:
 * ~0.15 s of 100k policies, all of it after the file was read, while the
 * worker waited.
 *
 * Their order is their keys' order as numbers: the addresses' 8 hex digits
 * sort as the numbers do, and each decimal field as its rank among the
 * field's numbers sorted as text (lexRanks: '/' ends each, below the
 * digits, so a number sorts before the numbers its digits begin).
 */
import { keyBytes, POLICY_KEY_V4_MAX, policyKeyV4, policyKeyV4Bytes, writePolicyKeyV4 } from '../engine/records.js';
import { BulkConflict } from '../engine/sorted-layer.js';
import { SpoolBlocks, type PlacedFile } from '../engine/spool.js';
import type { BlocksState } from '../engine/store-format.js';
import { putU64Number } from '../engine/u64.js';
import { radixOrder, type Digit } from './radix-order.js';

/**
 * Words a policy's identity takes: 0 direction, 1 source, 2 source prefix
 * (rank), 3 destination, 4 destination prefix (rank) << 8 | protocol
 * (rank), 5 source port (rank) << 16 | destination port (rank), 6 its
 * order less a base (the batch's: packPolicy; the worker's first policy's:
 * PolicyIdentities).
 */
export const POLICY_WORDS = 7;

/** The numbers 0..max, in the order of their decimal digits as text: each number's rank, and the number of each rank. */
interface LexRanks {
  readonly rank: Uint16Array;
  readonly value: Uint16Array;
}

function lexRanks(max: number): LexRanks {
  const rank = new Uint16Array(max + 1);
  const value = new Uint16Array(max + 1);
  let r = 0;
  // the numbers as a tree of their digits, walked in order: a number, then those its digits begin
  const visit = (v: number): void => {
    rank[v] = r;
    value[r++] = v;
    if (v === 0) return;
    for (let d = 0; d <= 9 && v * 10 + d <= max; d++) visit(v * 10 + d);
  };
  for (let d = 0; d <= 9 && d <= max; d++) visit(d);
  return { rank, value };
}

/** the fields' ranks, made on first use (the main bundle loads this module for every command) */
let ranks: { readonly prefix: LexRanks; readonly proto: LexRanks; readonly port: LexRanks } | undefined;

function fieldRanks(): NonNullable<typeof ranks> {
  return (ranks ??= { prefix: lexRanks(32), proto: lexRanks(255), port: lexRanks(65535) });
}

/**
 * A policy's identity into a[at, at + POLICY_WORDS): its key's numbers
 * (as policyKeyV4 takes them: the protocol 0 for any) and its order less
 * `base`. A field beyond what an IPv4 selector has is a conflict: the load
 * is given up.
 */
export function packPolicy(a: Uint32Array, at: number, dir: number, src: number, sprefix: number, dst: number, dprefix: number, proto: number, sport: number, dport: number, order: number, base: number): void {
  const r = fieldRanks();
  if (dir > 9 || sprefix > 32 || dprefix > 32 || proto > 255 || sport > 65535 || dport > 65535 || order - base >= 2 ** 32) throw new BulkConflict('a policy beyond the common case');
  a[at] = dir;
  a[at + 1] = src;
  a[at + 2] = r.prefix.rank[sprefix]!;
  a[at + 3] = dst;
  a[at + 4] = (r.prefix.rank[dprefix]! << 8) | r.proto.rank[proto]!;
  a[at + 5] = ((r.port.rank[sport]! << 16) | r.port.rank[dport]!) >>> 0;
  a[at + 6] = order - base;
}

/** least significant first: the ports, destination prefix and protocol, destination, source prefix, source, direction */
const POLICY_DIGITS: readonly Digit[] = [
  [5, 0],
  [5, 16],
  [4, 0],
  [3, 0],
  [3, 16],
  [2, 0],
  [1, 0],
  [1, 16],
  [0, 0],
];

/** The identities a worker gathers (the main thread's batches, add()), sorted and written into the p/ stream's blocks at the end. */
export class PolicyIdentities {
  /** POLICY_WORDS an identity, the order less firstOrder */
  private ids = new Uint32Array(POLICY_WORDS * 4096);
  private n = 0;
  private firstOrder = -1;

  /** A batch: `count` identities of packPolicy, their orders less `base`. */
  add(words: Uint32Array, count: number, base: number): void {
    if (count * POLICY_WORDS > words.length) throw new Error('a batch of policies shorter than its count');
    if (this.firstOrder < 0) this.firstOrder = base;
    // (a batch's orders all come after the batches' before it: the main thread gives out orders in order)
    if (base < this.firstOrder) throw new BulkConflict('policies out of order');
    let need = this.ids.length;
    while (need < (this.n + count) * POLICY_WORDS) need *= 2;
    if (need !== this.ids.length) {
      const more = new Uint32Array(need);
      more.set(this.ids.subarray(0, this.n * POLICY_WORDS));
      this.ids = more;
    }
    const ids = this.ids;
    const shift = base - this.firstOrder;
    for (let k = 0, o = this.n * POLICY_WORDS; k < count * POLICY_WORDS; k += POLICY_WORDS, o += POLICY_WORDS) {
      for (let w = 0; w < 6; w++) ids[o + w] = words[k + w]!;
      const rel = shift + words[k + 6]!;
      if (rel >= 2 ** 32) throw new BulkConflict('orders beyond 2^32 in one load');
      ids[o + 6] = rel;
    }
    this.n += count;
  }

  get count(): number {
    return this.n;
  }

  /**
   * The identities sorted and written into `file` as the p/ stream's
   * blocks (one twice: BulkConflict, as the transaction's sort finds it),
   * each key written in place in its block (TableWriter.keyRoom: 100k keys
   * made in a scratch, copied and compared were ~60 ms of the worker's end,
   * which the main thread waits for).
   */
  end(file: PlacedFile): BlocksState {
    const w = new SpoolBlocks(file, 'p/').w;
    const order = new Uint8Array(8);
    this.each((dir, src, sprefix, dst, dprefix, proto, sport, dport, o) => {
      putU64Number(order, 0, o);
      const at = w.keyRoom(POLICY_KEY_V4_MAX, 8);
      w.addWritten(at, writePolicyKeyV4(w.buffer, at, dir, src, sprefix, dst, dprefix, proto, sport, dport), order, 0, 8);
    });
    return w.blocksState();
  }

  /** Each identity in key order, its key and order (u64) handed to `put`. */
  write(put: (kb: Uint8Array, kl: number, order: Uint8Array) => void): void {
    const order = new Uint8Array(8);
    this.each((dir, src, sprefix, dst, dprefix, proto, sport, dport, o) => {
      putU64Number(order, 0, o);
      put(keyBytes(), policyKeyV4Bytes(dir, src, sprefix, dst, dprefix, proto, sport, dport), order);
    });
  }

  /** Each identity in key order, its key's fields and its order handed to `f`; one twice: BulkConflict. */
  private each(f: (dir: number, src: number, sprefix: number, dst: number, dprefix: number, proto: number, sport: number, dport: number, order: number) => void): void {
    const ids = this.ids;
    const idx = radixOrder(ids, POLICY_WORDS, this.n, POLICY_DIGITS);
    const r = fieldRanks();
    for (let j = 0; j < idx.length; j++) {
      const i = POLICY_WORDS * idx[j]!;
      const dir = ids[i]!;
      const src = ids[i + 1]!;
      const sprefix = r.prefix.value[ids[i + 2]!]!;
      const dst = ids[i + 3]!;
      const dprefix = r.prefix.value[ids[i + 4]! >>> 8]!;
      const proto = r.proto.value[ids[i + 4]! & 0xff]!;
      const sport = r.port.value[ids[i + 5]! >>> 16]!;
      const dport = r.port.value[ids[i + 5]! & 0xffff]!;
      if (j > 0) {
        const h = POLICY_WORDS * idx[j - 1]!;
        let same = true;
        for (let w = 0; w < 6 && same; w++) same = ids[h + w] === ids[i + w];
        if (same) throw new BulkConflict(`${policyKeyV4(dir, src, sprefix, dst, dprefix, proto, sport, dport)} put twice`);
      }
      f(dir, src, sprefix, dst, dprefix, proto, sport, dport, this.firstOrder + ids[i + 6]!);
    }
  }
}
