/**
 * A store table read where it is needed: its footer and block index at open
 * (a few hundred KB for a million entries), then only the blocks a lookup or
 * a range touches, each checked against its checksum when it is read, a few
 * kept in a cache. The format is store-format.ts's.
 */
import { closeSync, fstatSync, readSync } from 'node:fs';
import { compareKeys, lowerBound, type KvReader } from './kv.js';
import { crc32, FormatError, TABLE_MAGIC, TABLE_MAGIC_PLACED } from './store-format.js';

const FOOTER = 48;
const FOOTER_MAGIC = Buffer.from('SKTFOOT\x02', 'latin1');
const CACHE_BLOCKS = 16;

interface Block {
  readonly keys: string[];
  readonly values: Uint8Array[];
}

function safe(v: bigint, at: number): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError('number out of range', at);
  return Number(v);
}

export class TableReader implements KvReader {
  readonly gen: number;
  readonly lastTx: number;
  readonly entries: number;
  readonly bytes: number;
  private readonly offsets: number[] = [];
  private readonly lengths: number[] = [];
  private readonly counts: number[] = [];
  private readonly firsts: string[] = [];
  private readonly cache = new Map<number, Block>();

  /** Read the footer and index of the table open at `fd` (the reader owns the descriptor); `cacheBlocks` parsed blocks are kept. */
  constructor(
    private readonly fd: number,
    private readonly cacheBlocks = CACHE_BLOCKS,
  ) {
    const size = fstatSync(fd).size;
    this.bytes = size;
    const fail = (why: string, at: number): never => {
      throw new FormatError(why, at);
    };
    if (size < TABLE_MAGIC.length + FOOTER) fail('not a setkey store table (version 2)', 0);
    const head = this.read(0, TABLE_MAGIC.length);
    // (blocks in key order, or placed in any order: store-format.ts)
    const placed = head.equals(TABLE_MAGIC_PLACED);
    if (!placed && !head.equals(TABLE_MAGIC)) fail('not a setkey store table (version 2)', 0);
    const f = size - FOOTER;
    const foot = this.read(f, FOOTER);
    if (!foot.subarray(0, 8).equals(FOOTER_MAGIC) || crc32(foot.subarray(0, 44)) !== foot.readUInt32LE(44)) fail('table footer is damaged', f);
    this.gen = safe(foot.readBigUInt64LE(8), f + 8);
    this.lastTx = safe(foot.readBigUInt64LE(16), f + 16);
    this.entries = safe(foot.readBigUInt64LE(24), f + 24);
    const idxOff = safe(foot.readBigUInt64LE(32), f + 32);
    const idxLen = foot.readUInt32LE(40);
    if (idxOff + idxLen !== f || idxLen < 4) fail('table index is not where the footer says', f);
    const idx = this.read(idxOff, idxLen);
    if (crc32(idx.subarray(0, idxLen - 4)) !== idx.readUInt32LE(idxLen - 4)) fail('table index checksum does not match', idxOff);
    let expect = TABLE_MAGIC.length;
    let total = 0;
    for (let o = 0; o < idxLen - 4; ) {
      if (o + 20 > idxLen - 4) fail('table index is malformed', idxOff + o);
      const off = safe(idx.readBigUInt64LE(o), idxOff + o);
      const len = idx.readUInt32LE(o + 8);
      const count = idx.readUInt32LE(o + 12);
      const klen = idx.readUInt32LE(o + 16);
      if (o + 20 + klen > idxLen - 4) fail('table index is malformed', idxOff + o);
      const first = idx.toString('latin1', o + 20, o + 20 + klen);
      if ((placed ? off < TABLE_MAGIC.length : off !== expect) || off + len > idxOff || len < 8) fail('table block is not where the index says', idxOff + o);
      if (this.firsts.length && compareKeys(first, this.firsts[this.firsts.length - 1]!) <= 0) fail('table index keys are out of order', idxOff + o);
      this.offsets.push(off);
      this.lengths.push(len);
      this.counts.push(count);
      this.firsts.push(first);
      total += count;
      expect = off + len;
      o += 20 + klen;
    }
    if (placed) {
      // placed blocks fill the bytes before the index as blocks in order do: each byte once, in whatever order
      const byOffset = this.offsets.map((_, i) => i).sort((a, b) => this.offsets[a]! - this.offsets[b]!);
      expect = TABLE_MAGIC.length;
      for (const i of byOffset) {
        if (this.offsets[i]! !== expect) fail(this.offsets[i]! < expect ? 'table blocks overlap' : 'table has bytes outside its blocks', Math.min(expect, this.offsets[i]!));
        expect += this.lengths[i]!;
      }
    }
    if (expect !== idxOff) fail('table has bytes outside its blocks', expect);
    if (total !== this.entries) fail(`table index counts ${total} entries, its footer says ${this.entries}`, f);
  }

  private read(at: number, len: number): Buffer {
    const b = Buffer.allocUnsafe(len);
    let n = 0;
    while (n < len) {
      const k = readSync(this.fd, b, n, len - n, at + n);
      if (k === 0) throw new FormatError('table ends early', at + n);
      n += k;
    }
    return b;
  }

  /**
   * Block `i` read and checked whole: its checksum, its count, every length,
   * and its keys in order and between the index's first keys (the same
   * checks in the same order, however it is read). With `keys` and `values`
   * each entry is made as it is checked (a lookup's block, parsed once and
   * cached); without, keys are compared as bytes (the order of their latin1
   * strings) and nothing is made for an entry (a range's block, its entries
   * made one by one as they are handed out). Returns the body and where
   * each entry starts.
   */
  private rawBlock(i: number, keys?: string[], values?: Uint8Array[]): { body: Buffer; starts: number[]; count: number } {
    const off = this.offsets[i]!;
    const len = this.lengths[i]!;
    const raw = this.read(off, len);
    const body = raw.subarray(0, len - 4);
    if (crc32(body) !== raw.readUInt32LE(len - 4)) throw new FormatError('table block checksum does not match its contents', off);
    const count = body.readUInt32LE(0);
    if (count !== this.counts[i]) throw new FormatError('table block count differs from its index', off);
    const starts: number[] = [];
    let p = 4;
    let prevKey = -1;
    let prevLen = 0;
    for (let j = 0; j < count; j++) {
      if (p + 8 > body.length) throw new FormatError('table block is malformed', off + p);
      const kl = body.readUInt32LE(p);
      if (p + 8 + kl > body.length) throw new FormatError('table block is malformed', off + p);
      const vl = body.readUInt32LE(p + 4 + kl);
      if (p + 8 + kl + vl > body.length) throw new FormatError('table block is malformed', off + p);
      if (keys) {
        const key = keyAt(body, p);
        if ((j === 0 && key !== this.firsts[i]) || (j > 0 && compareKeys(key, keys[j - 1]!) <= 0)) throw new FormatError('table keys are out of order', off + p);
        keys.push(key);
        values!.push(valueAt(body, p));
      } else if (j === 0 ? keyAt(body, p) !== this.firsts[i] : body.compare(body, prevKey, prevKey + prevLen, p + 4, p + 4 + kl) <= 0) {
        throw new FormatError('table keys are out of order', off + p);
      }
      starts.push(p);
      prevKey = p + 4;
      prevLen = kl;
      p += 8 + kl + vl;
    }
    if (p !== body.length) throw new FormatError('table block has bytes after its last entry', off + p);
    if (i + 1 < this.firsts.length && (count === 0 || compareKeys(keyAt(body, starts[count - 1]!), this.firsts[i + 1]!) >= 0)) throw new FormatError('table keys are out of order', off);
    return { body, starts, count };
  }

  /** Block `i`, checked and parsed (cached): for lookups, which come back to the same blocks. */
  private block(i: number): Block {
    const hit = this.cache.get(i);
    if (hit) {
      // most recently used last
      this.cache.delete(i);
      this.cache.set(i, hit);
      return hit;
    }
    const b: Block = { keys: [], values: [] };
    this.rawBlock(i, b.keys, b.values);
    this.cache.set(i, b);
    if (this.cache.size > this.cacheBlocks) this.cache.delete(this.cache.keys().next().value!);
    return b;
  }

  /** The block that would hold `key` (the last whose first key is not after it), or -1. */
  private blockOf(key: string): number {
    return lowerBound(this.firsts, key) - (this.firsts[lowerBound(this.firsts, key)] === key ? 0 : 1);
  }

  get(key: string): Uint8Array | undefined {
    const i = this.blockOf(key);
    if (i < 0) return undefined;
    const b = this.block(i);
    const j = lowerBound(b.keys, key);
    return b.keys[j] === key ? b.values[j] : undefined;
  }

  /** Every key of block `i` is under one of `hidden` (its first and the next block's first both are): no need to read it. */
  private hiddenBlock(i: number, hidden: readonly string[]): boolean {
    if (hidden.length === 0 || i + 1 >= this.firsts.length) return false;
    const a = this.firsts[i]!;
    const b = this.firsts[i + 1]!;
    return hidden.some((h) => a.startsWith(h) && b.startsWith(h));
  }

  /**
   * A range is read block by block, each checked whole before any of its
   * entries is handed out, and each entry's key and value made as it is:
   * a merge or a dump of a large table then keeps nothing alive that V8
   * would promote (parsing a block's 600-odd entries at once, and caching
   * them, made them outlive young collections: hundreds of MB promoted when
   * a large transaction's runs were merged).
   */
  *scan(prefix: string, reverse = false, hidden: readonly string[] = []): Generator<[string, Uint8Array]> {
    if (this.firsts.length === 0) return;
    const first = Math.max(0, this.blockOf(prefix));
    if (!reverse) {
      for (let i = first; i < this.firsts.length; i++) {
        if (this.hiddenBlock(i, hidden)) continue;
        const { body, starts, count } = this.rawBlock(i);
        for (let j = i === first ? lowerBoundIn(body, starts, count, prefix) : 0; j < count; j++) {
          const k = keyAt(body, starts[j]!);
          if (!k.startsWith(prefix)) {
            if (k > prefix) return;
            continue;
          }
          yield [k, valueAt(body, starts[j]!)];
        }
      }
      return;
    }
    // from the last block that may hold the prefix, backwards
    let last = first;
    while (last + 1 < this.firsts.length && this.firsts[last + 1]!.startsWith(prefix)) last++;
    for (let i = last; i >= first; i--) {
      if (this.hiddenBlock(i, hidden)) continue;
      const { body, starts, count } = this.rawBlock(i);
      for (let j = count - 1; j >= 0; j--) {
        const k = keyAt(body, starts[j]!);
        if (k.startsWith(prefix)) yield [k, valueAt(body, starts[j]!)];
        else if (k < prefix) return;
      }
    }
  }

  /**
   * Every block in order, each checked whole when it is reached (a merge
   * reads the table once, comparing keys as bytes): its body and where each
   * entry (u32 klen, key, u32 vlen, value) starts. Blocks whose every key
   * is under one of `hidden` (deleted above) are skipped unread.
   */
  *blocks(hidden: readonly string[] = []): Generator<{ body: Buffer; starts: number[]; count: number }> {
    for (let i = 0; i < this.firsts.length; i++) if (!this.hiddenBlock(i, hidden)) yield this.rawBlock(i);
  }

  /** Read every block (a damaged one throws): the whole table checked. */
  verify(): void {
    for (let i = 0; i < this.firsts.length; i++) this.block(i);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The key of the entry at `p` of a block's body (klen key vlen value). */
function keyAt(body: Buffer, p: number): string {
  return body.toString('latin1', p + 4, p + 4 + body.readUInt32LE(p));
}

/** Its value: a plain view, cheaper to make than a Buffer. */
function valueAt(body: Buffer, p: number): Uint8Array {
  const kl = body.readUInt32LE(p);
  const vl = body.readUInt32LE(p + 4 + kl);
  return new Uint8Array(body.buffer, body.byteOffset + p + 8 + kl, vl);
}

/** The first entry whose key is not before `key` (keys decoded only where the search looks). */
function lowerBoundIn(body: Buffer, starts: readonly number[], count: number, key: string): number {
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keyAt(body, starts[mid]!) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
