/**
 * On-disk format of the embedded engine's store, version 2: pure encoders
 * and decoders (store.ts does the files). The store is a map of byte strings
 * (latin1 keys), kept as an immutable sorted table per generation plus a
 * journal of the transactions since.
 *
 *   table-G     "SKTABLE" 0x02 | block* | index | footer       (blocks in key order)
 *               "SKTABLE" 0x03 | block* | index | footer       (blocks placed in any order)
 *     block     u32 count | (u32 klen key u32 vlen value)* | u32 crc32(block)
 *     index     (u64 offset u32 length u32 count u32 klen firstkey)* | u32 crc32(index)
 *     footer    "SKTFOOT" 0x02 | u64 G | u64 lastTx | u64 entries | u64 indexOffset | u32 indexLength | u32 crc32(footer)
 *   journal-G   header | frame*
 *     header    "SKJRNL" 0x00 0x02 | u64 G | u64 baseTx | u32 0 | u32 crc32(header)
 *     frame     u32 'SKF2' | u32 hcrc | u64 tx | u32 plen | u32 flags | u32 pcrc | payload | trailer
 *     trailer   u32 'SKC2' | u32 plen | u64 tx | u32 crc32(trailer)
 *     payload   u32 nops | (u8 PUT u32 klen key u32 vlen value | u8 DEL u32 klen key | u8 DELPREFIX u32 klen prefix)*
 *
 * All integers little-endian. Keys in a table are strictly increasing, so a
 * reader can find one key (index, then one block) or stream a range without
 * the rest; blocks are checksummed one by one, so streaming verifies as it goes.
 *
 * A table of the second kind (0x03) differs only in where its blocks lie:
 * the index still lists them in key order, and they still fill the bytes
 * between the magic and the index exactly, each once, but in any order. A
 * bulk load writes its streams' blocks into the next table's file as they
 * come, interleaved (spool.ts LoadFile), and the commit adds the rest, the
 * index and the footer after them: nothing is copied (the copy was ~80 ms
 * of a load of 100k SAs + 100k policies, a tenth of it).
 *
 * Transactions are numbered from 1 and never reused (the table records the
 * last one it holds, the journal's frames continue from there). A
 * transaction is one frame, or several (a large one is written as it is
 * built) of which the last has flag COMMIT. The header checksum (hcrc,
 * over tx, plen, flags and pcrc) makes the length trustworthy; the trailer,
 * written last in the same write(), is the commit marker: it says the frame
 * was written out whole. So a reader can tell the two things that make a
 * frame invalid apart:
 *
 * - a torn write (a writer killed, a crash before fsync): the last frame in
 *   the file, cut short or without its trailer, or a transaction whose
 *   COMMIT frame never came; it was never acknowledged and is not part of
 *   the store (the next writer cuts it off);
 * - damage: anything else (a bad header with bytes after it, a checksum
 *   failure in a frame whose trailer is there, a frame after the tear, a gap
 *   in the numbering); an error with its offset, and nothing is written.
 */
import { lazyZlib } from '../sys/builtin.js';
import { putU32 } from './u64.js';

export const TABLE_MAGIC = Buffer.from('SKTABLE\x02', 'latin1');
/** a table whose blocks may lie in any order (see above) */
export const TABLE_MAGIC_PLACED = Buffer.from('SKTABLE\x03', 'latin1');
const FOOTER_MAGIC = Buffer.from('SKTFOOT\x02', 'latin1');
export const JOURNAL_MAGIC = Buffer.from('SKJRNL\x00\x02', 'latin1');
export const JOURNAL_HEADER = 32;
const FRAME_MAGIC = 0x32464b53; // "SKF2"
const TRAILER_MAGIC = 0x32434b53; // "SKC2"
export const FRAME_HEAD = 28;
export const FRAME_TAIL = 20;
const FOOTER = 48;
export const FLAG_COMMIT = 1;
/** frames are cut at this payload size; a larger plen is damage */
export const FRAME_PAYLOAD = 8 << 20;
const MAX_PAYLOAD = 64 << 20;
const BLOCK = 64 << 10;

const PUT = 1;
const DEL = 2;
const DELPREFIX = 3;

export class FormatError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** zlib's crc32 where Node has it (>= 20.15), looked up on the first record (zlib is loaded then, not at start-up) */
let zlibCrc32: ((b: Uint8Array) => number) | null | undefined;

/** CRC-32 (zlib's), in C where Node has it. */
export function crc32(b: Uint8Array): number {
  if (zlibCrc32 === undefined) zlibCrc32 = (lazyZlib() as { crc32?: (b: Uint8Array) => number }).crc32 ?? null;
  if (zlibCrc32) return zlibCrc32(b) >>> 0;
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A transaction's changes: the prefixes it deleted whole (written first, so
 * that its own later puts under them stand), then key -> new value, null for
 * a deletion.
 */
export interface Ops {
  readonly hidden: readonly string[];
  readonly map: ReadonlyMap<string, Uint8Array | null>;
}

/** One operation: a value, a deletion (null), or a prefix deleted whole. */
type Op = [string, Uint8Array | null | typeof PREFIX];
const PREFIX = Symbol('prefix');

// ---------------------------------------------------------------- journal

export interface JournalHeader {
  readonly gen: number;
  readonly baseTx: number;
}

export function encodeJournalHeader(h: JournalHeader): Buffer {
  const b = Buffer.alloc(JOURNAL_HEADER);
  JOURNAL_MAGIC.copy(b, 0);
  b.writeBigUInt64LE(BigInt(h.gen), 8);
  b.writeBigUInt64LE(BigInt(h.baseTx), 16);
  b.writeUInt32LE(crc32(b.subarray(0, 28)), 28);
  return b;
}

export function decodeJournalHeader(b: Buffer): JournalHeader {
  if (b.length < JOURNAL_HEADER || !b.subarray(0, 8).equals(JOURNAL_MAGIC)) throw new FormatError('not a setkey store journal (version 2)', 0);
  if (crc32(b.subarray(0, 28)) !== b.readUInt32LE(28)) throw new FormatError('journal header checksum does not match', 0);
  return { gen: safe(b.readBigUInt64LE(8), 8), baseTx: safe(b.readBigUInt64LE(16), 16) };
}

function safe(v: bigint, at: number): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError('number out of range', at);
  return Number(v);
}

function opSize(k: string, v: Uint8Array | null | typeof PREFIX): number {
  return v instanceof Uint8Array ? 9 + k.length + v.length : 5 + k.length;
}

function writeOps(b: Buffer, o: number, ops: readonly Op[]): void {
  b.writeUInt32LE(ops.length, o);
  o += 4;
  for (const [k, v] of ops) {
    b[o++] = v instanceof Uint8Array ? PUT : v === null ? DEL : DELPREFIX;
    b.writeUInt32LE(k.length, o);
    o += 4 + b.write(k, o + 4, 'latin1');
    if (v instanceof Uint8Array) {
      b.writeUInt32LE(v.length, o);
      b.set(v, o + 4);
      o += 4 + v.length;
    }
  }
}

function frame(tx: number, flags: number, ops: readonly Op[]): Buffer {
  let plen = 4;
  for (const [k, v] of ops) plen += opSize(k, v);
  const b = Buffer.allocUnsafe(FRAME_HEAD + plen + FRAME_TAIL);
  writeOps(b, FRAME_HEAD, ops);
  const pcrc = crc32(b.subarray(FRAME_HEAD, FRAME_HEAD + plen));
  b.writeUInt32LE(FRAME_MAGIC, 0);
  b.writeBigUInt64LE(BigInt(tx), 8);
  b.writeUInt32LE(plen, 16);
  b.writeUInt32LE(flags, 20);
  b.writeUInt32LE(pcrc, 24);
  b.writeUInt32LE(crc32(b.subarray(8, FRAME_HEAD)), 4);
  const t = FRAME_HEAD + plen;
  b.writeUInt32LE(TRAILER_MAGIC, t);
  b.writeUInt32LE(plen, t + 4);
  b.writeBigUInt64LE(BigInt(tx), t + 8);
  b.writeUInt32LE(crc32(b.subarray(t, t + 16)), t + 16);
  return b;
}

/** The frames of transaction `tx`: cut at FRAME_PAYLOAD, the last one flagged COMMIT. */
export function encodeTransaction(tx: number, ops: Ops, framePayload = FRAME_PAYLOAD): Buffer[] {
  const frames: Buffer[] = [];
  let cur: Op[] = [];
  let size = 4;
  const push = (op: Op): void => {
    const n = opSize(op[0], op[1]);
    if (cur.length > 0 && size + n > framePayload) {
      frames.push(frame(tx, 0, cur));
      cur = [];
      size = 4;
    }
    cur.push(op);
    size += n;
  };
  for (const p of ops.hidden) push([p, PREFIX]);
  for (const [k, v] of ops.map) push([k, v]);
  frames.push(frame(tx, FLAG_COMMIT, cur));
  return frames;
}

/** Where a payload's operations go (a map, a layer of changes). */
export interface OpSink {
  put(key: string, value: Uint8Array): void;
  del(key: string): void;
  delPrefix(prefix: string): void;
}

/** A plain map as an OpSink (a prefix deletion removes its keys). */
export function mapSink(entries: Map<string, Uint8Array>): OpSink {
  return {
    put: (k, v) => entries.set(k, v),
    del: (k) => entries.delete(k),
    delPrefix: (p) => {
      for (const k of entries.keys()) if (k.startsWith(p)) entries.delete(k);
    },
  };
}

/** Apply a payload's operations (values are views into `p`). */
export function applyOps(p: Buffer, sink: OpSink): void {
  const fail = (o: number): never => {
    throw new FormatError('journal payload is malformed', o);
  };
  if (p.length < 4) fail(0);
  const n = p.readUInt32LE(0);
  let o = 4;
  for (let i = 0; i < n; i++) {
    if (o + 5 > p.length) fail(o);
    const kind = p[o++];
    const klen = p.readUInt32LE(o);
    if (o + 4 + klen > p.length) fail(o);
    const key = p.toString('latin1', o + 4, o + 4 + klen);
    o += 4 + klen;
    if (kind === PUT) {
      if (o + 4 > p.length) fail(o);
      const vlen = p.readUInt32LE(o);
      if (o + 4 + vlen > p.length) fail(o);
      // a plain view, not a Buffer: cheaper to make by the hundred thousand
      sink.put(key, new Uint8Array(p.buffer, p.byteOffset + o + 4, vlen));
      o += 4 + vlen;
    } else if (kind === DEL) {
      sink.del(key);
    } else if (kind === DELPREFIX) {
      sink.delPrefix(key);
    } else fail(o - 5 - klen);
  }
  if (o !== p.length) fail(o);
}

export interface Replayed {
  /** file offset just after the last committed frame */
  readonly end: number;
  /** the last committed transaction */
  readonly lastTx: number;
  /** bytes after `end` that are a torn, unacknowledged write */
  readonly torn: boolean;
}

function allZero(b: Buffer, from: number): boolean {
  for (let i = from; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** A valid trailer ends the buffer: some frame there was written out whole. */
function trailerAtEnd(b: Buffer, tx: number): boolean {
  if (b.length < FRAME_TAIL) return false;
  const t = b.length - FRAME_TAIL;
  return b.readUInt32LE(t) === TRAILER_MAGIC && crc32(b.subarray(t, t + 16)) === b.readUInt32LE(t + 16) && Number(b.readBigUInt64LE(t + 8)) >= tx;
}

/**
 * Replay the frames in `buf` (which starts at a frame boundary, file offset
 * `base`) into `entries`, transactions from `lastTx + 1` on. Returns where
 * the committed frames end; throws FormatError (file offset) on damage.
 */
export function replayFrames(buf: Buffer, base: number, lastTx: number, entries: OpSink): Replayed {
  let o = 0;
  let committedEnd = 0;
  const pending: Buffer[] = [];
  const damage = (why: string, at: number): never => {
    throw new FormatError(why, base + at);
  };
  while (o < buf.length) {
    const expect = lastTx + 1;
    if (buf.length - o < FRAME_HEAD) {
      // the start of a frame, cut short; unless a whole frame's trailer ends the file
      if (trailerAtEnd(buf, expect) && buf.length - o >= FRAME_TAIL) damage('journal frame header is damaged', o);
      break;
    }
    const magicOk = buf.readUInt32LE(o) === FRAME_MAGIC;
    const hcrcOk = magicOk && crc32(buf.subarray(o + 8, o + FRAME_HEAD)) === buf.readUInt32LE(o + 4);
    const tx = Number(buf.readBigUInt64LE(o + 8));
    const plen = buf.readUInt32LE(o + 16);
    const flags = buf.readUInt32LE(o + 20);
    if (!hcrcOk) {
      // zeros where a frame should be: blocks allocated but never written before a crash
      if (allZero(buf, o)) break;
      damage(magicOk ? 'journal frame header checksum does not match' : 'journal frame has no frame header', o);
    }
    if (tx !== expect) damage(`journal frame of transaction ${tx} where ${expect} was due`, o);
    if (plen > MAX_PAYLOAD || (flags & ~FLAG_COMMIT) !== 0) damage('journal frame header has impossible values', o);
    const fe = o + FRAME_HEAD + plen + FRAME_TAIL;
    if (fe > buf.length) break; // cut short: the last write, never acknowledged
    const payload = buf.subarray(o + FRAME_HEAD, o + FRAME_HEAD + plen);
    const pOk = crc32(payload) === buf.readUInt32LE(o + 24);
    const t = fe - FRAME_TAIL;
    const tOk = buf.readUInt32LE(t) === TRAILER_MAGIC && crc32(buf.subarray(t, t + 16)) === buf.readUInt32LE(t + 16) && buf.readUInt32LE(t + 4) === plen && Number(buf.readBigUInt64LE(t + 8)) === tx;
    if (!(pOk && tOk)) {
      // no commit marker at the very end: written but not out whole, so never acknowledged
      if (!tOk && fe === buf.length) break;
      damage(pOk ? 'journal frame trailer is damaged' : 'journal frame checksum does not match its contents', o);
    }
    pending.push(payload);
    o = fe;
    if (flags & FLAG_COMMIT) {
      for (const p of pending) applyOps(p, entries);
      pending.length = 0;
      lastTx = tx;
      committedEnd = o;
    }
  }
  return { end: base + committedEnd, lastTx, torn: committedEnd < buf.length };
}

// ---------------------------------------------------------------- table

/** Two byte strings compared as the table orders keys (latin1 strings compare the same way). */
export function compareBytes(a: Uint8Array, as: number, al: number, b: Uint8Array, bs: number, bl: number): number {
  const n = al < bl ? al : bl;
  for (let i = 0; i < n; i++) {
    const d = a[as + i]! - b[bs + i]!;
    if (d !== 0) return d;
  }
  return al - bl;
}

/**
 * src[s, s+n) copied to dst at `at`: a short range byte by byte, a long one
 * from the start of its source by set() of a view kept (viewOf), else by
 * Buffer's copy() (a record of ~300 bytes: 77-88 ns, against 117-136 for
 * set() of a view made for it, and 358 byte by byte).
 */
function copyInto(dst: Uint8Array, at: number, src: Uint8Array, s: number, n: number): void {
  if (n <= 48) for (let i = 0; i < n; i++) dst[at + i] = src[s + i]!;
  else if (s === 0) dst.set(viewOf(src, n), at);
  else COPY.call(src, dst, at, s, s + n);
}

/**
 * src[0, n) as a view made once: a bulk load copies each record from one
 * scratch (engine/bulk-load.ts RecordWriter), of a few lengths, and set()
 * of a view kept is ~0.05 us where copy() was ~0.17 and made a view each
 * time (100k + 100k records, both threads). Views of the last two sources.
 */
function viewOf(src: Uint8Array, n: number): Uint8Array {
  if (src !== viewSrc) {
    const [s, v] = [otherSrc, otherViews];
    otherSrc = viewSrc;
    otherViews = views;
    viewSrc = src;
    views = s === src ? v : [];
  }
  return (views[n] ??= src.subarray(0, n));
}

let viewSrc: Uint8Array | undefined;
let views: Uint8Array[] = [];
let otherSrc: Uint8Array | undefined;
let otherViews: Uint8Array[] = [];

const COPY = Buffer.prototype.copy;

/**
 * A string's latin1 bytes written at `at`: a short one (a key) char by char
 * (Buffer's write() checks its arguments and crosses into C++: ~0.2 us a
 * key, 40 ms of a bulk load's 200k records).
 */
export function writeLatin1(b: Buffer, at: number, s: string): number {
  const n = s.length;
  if (n > 64) return b.write(s, at, 'latin1');
  for (let i = 0; i < n; i++) b[at + i] = s.charCodeAt(i);
  return n;
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/** `n` (0 to 2^53 - 1) as `digits` lowercase hex digits written at `at` (a numbered key: fixed width, so key order is the numbers' order). */
export function writeHexDigits(b: Uint8Array, at: number, n: number, digits: number): void {
  let lo = n % 0x100000000;
  let hi = (n - lo) / 0x100000000;
  for (let k = digits - 1; k >= 0; k--) {
    if (k === digits - 9) {
      lo = hi;
      hi = 0;
    }
    b[at + k] = HEX_DIGITS[lo & 15]!;
    lo >>>= 4;
  }
}

/** The same as a string (at most 16 digits). */
export function hexDigits(n: number, digits: number): string {
  writeHexDigits(HEX_SCRATCH, 0, n, digits);
  return HEX_SCRATCH.toString('latin1', 0, digits);
}

const HEX_SCRATCH = Buffer.allocUnsafe(16);

/** TableWriter.blocksState(): the blocks a writer of blocks only handed to its sink. */
export interface BlocksState {
  readonly index: readonly { readonly offset: number; readonly length: number; readonly count: number; readonly first: string }[];
  /** bytes handed to the sink */
  readonly offset: number;
  /** entries */
  readonly total: number;
  /** the last key's bytes (none without entries) */
  readonly last?: Uint8Array;
}

/**
 * The blocks of writers of blocks only (blocksState), as one writer's: the
 * blocks of each after those of the one before, whose keys must all come
 * before its (a bulk load's SAs, loaded by two threads in two runs of
 * orders: ingest/sa-offload.ts). Empty ones are left out.
 */
export function concatBlocks(parts: readonly BlocksState[]): BlocksState {
  const index: BlocksState['index'][number][] = [];
  let offset = 0;
  let total = 0;
  let last: Uint8Array | undefined;
  for (const p of parts) {
    if (p.total === 0) continue;
    const first = Buffer.from(p.index[0]!.first, 'latin1');
    if (last && Buffer.compare(first, last) <= 0) throw new Error(`blocks out of order: ${JSON.stringify(p.index[0]!.first)}`);
    index.push(...p.index);
    offset += p.offset;
    total += p.total;
    last = p.last;
  }
  return { index, offset, total, ...(last ? { last } : {}) };
}

/**
 * Builds a table from entries given in strictly increasing key order,
 * handing each block to `sink` as it is full: only the index stays in
 * memory, so a table of any size is written in the memory of one block.
 */
export class TableWriter {
  private offset: number;
  /**
   * The block being filled: entries are written straight into it (not one
   * Buffer an entry joined at the block's end: that was two copies and an
   * object per entry, half of what writing a run or a table cost).
   */
  private buf = Buffer.allocUnsafe(BLOCK + 4096);
  private used = 4;
  private blockCount = 0;
  private blockFirst = '';
  private readonly index: { offset: number; length: number; count: number; first: string }[] = [];
  private total = 0;

  private readonly keeps: boolean;
  private readonly blocksOnly: boolean;
  private readonly place: ((length: number) => number) | undefined;

  /**
   * @param opts.keeps the sink keeps what it is given (a new buffer for
   *   each block; the default); a sink that writes it out at once lets one
   *   buffer serve every block. (A new one each time was fresh memory,
   *   faulted in page by page: ~40 ms of writing the 74 MB table of 100k
   *   SAs + 100k policies.)
   * @param opts.blocksOnly blocks only, no magic first: blocks written
   *   ahead of the table they go into (linkBlocks)
   * @param opts.place where each block (and the index, the footer) of
   *   `length` bytes lies in the file, handed to the sink with it: a table
   *   whose blocks lie in any order (TABLE_MAGIC_PLACED, written by whoever
   *   made the file: nothing is written before the first block)
   */
  constructor(
    private readonly sink: (b: Buffer, at: number) => void,
    opts: { readonly keeps?: boolean; readonly blocksOnly?: boolean; readonly place?: (length: number) => number } = {},
  ) {
    this.keeps = opts.keeps ?? true;
    this.blocksOnly = opts.blocksOnly === true;
    this.place = opts.place;
    this.offset = this.blocksOnly || this.place ? 0 : TABLE_MAGIC.length;
    if (!this.blocksOnly && !this.place) sink(TABLE_MAGIC, 0);
  }

  /** The block being filled handed to the sink (a writer of blocks only, before it is linked: linkBlocks takes them from there). */
  endBlocks(): void {
    if (!this.blocksOnly) throw new Error('a table ends with finish()');
    this.endBlock();
  }

  /**
   * The blocks another writer placed in this one's file (both with
   * `place`: a bulk load's spools, spool.ts), after this one's entries:
   * their index entries taken over, as they lie; nothing is copied. Its
   * keys must all come after this writer's.
   */
  linkBlocks(from: TableWriter): void {
    from.endBlock();
    if (from.total === 0) return;
    if (!this.place || !from.place || !from.blocksOnly) throw new Error('blocks are linked between writers that place them');
    const first = Buffer.from(from.index[0]!.first, 'latin1');
    if (this.rawLast ? compareBytes(first, 0, first.length, this.rawLast, this.rawLastAt, this.rawLastLen) <= 0 : this.last !== undefined && from.index[0]!.first <= this.last) {
      throw new Error(`table keys out of order: ${JSON.stringify(from.index[0]!.first)}`);
    }
    this.endBlock();
    for (const e of from.index) this.index.push({ ...e });
    this.total += from.total;
    // the linked writer's last key bounds what comes next, whichever way it is added
    const last = from.lastKey()!;
    this.rawLast = last;
    this.rawLastAt = 0;
    this.rawLastLen = last.length;
    this.last = last.toString('latin1');
  }

  /**
   * What a writer of blocks only has written, once its blocks are ended
   * (endBlocks): where each block lies and its first key, and the last key.
   * Plain data, so that blocks one thread wrote to a file another thread
   * can append (adoptBlocks: a bulk load's SAs written by a worker).
   */
  blocksState(): BlocksState {
    if (!this.blocksOnly) throw new Error('the state of a writer of blocks only');
    this.endBlock();
    const last = this.lastKey();
    return { index: this.index.map((e) => ({ ...e })), offset: this.offset, total: this.total, ...(last ? { last: new Uint8Array(last) } : {}) };
  }

  /** The last key written, as its own bytes, whichever way it was added (none without entries). */
  private lastKey(): Buffer | undefined {
    if (this.rawLast) return Buffer.from(this.rawLast.subarray(this.rawLastAt, this.rawLastAt + this.rawLastLen));
    return this.last !== undefined ? Buffer.from(this.last, 'latin1') : undefined;
  }

  /** The blocks another writer wrote where this one's sink writes (blocksState), taken as this one's: it has written nothing itself. */
  adoptBlocks(state: BlocksState): void {
    if (!this.blocksOnly || this.total !== 0 || this.blockCount !== 0) throw new Error('blocks are adopted by a writer of blocks only that wrote none');
    let offset = 0;
    let total = 0;
    for (const e of state.index) {
      // (placed blocks lie where they were placed, among others')
      if ((this.place ? e.offset < TABLE_MAGIC_PLACED.length : e.offset !== offset) || e.length < 8 || e.count < 1) throw new Error('adopted blocks do not follow each other');
      offset += e.length;
      total += e.count;
      this.index.push({ offset: e.offset, length: e.length, count: e.count, first: e.first });
    }
    if (offset !== state.offset || total !== state.total || (total > 0) !== (state.last !== undefined)) throw new Error('adopted blocks do not add up');
    this.offset = offset;
    this.total = total;
    if (state.last) {
      this.rawLast = Buffer.from(state.last);
      this.rawLastAt = 0;
      this.rawLastLen = state.last.length;
    }
  }

  /** An entry; `tag` (a run's put/delete mark) goes before the value as its first byte. */
  add(key: string, value: Uint8Array, tag?: number): void {
    if (this.last !== undefined && key <= this.last) throw new Error(`table keys out of order: ${JSON.stringify(key)}`);
    this.last = key;
    const at = this.room(key.length, value.length, tag);
    writeLatin1(this.buf, at, key);
    this.entry(at, key.length, value, 0, value.length, tag);
  }

  /**
   * An entry given as byte ranges (a merge of tables, which compares keys as
   * bytes and never makes them strings): key kb[ks, ks+kl), value vb[vs,
   * vs+vl). The same bytes `add` writes for the key's latin1 string.
   */
  addRaw(kb: Uint8Array, ks: number, kl: number, vb: Uint8Array, vs: number, vl: number, tag?: number): void {
    if (this.rawLast && compareBytes(kb, ks, kl, this.rawLast, this.rawLastAt, this.rawLastLen) <= 0) throw new Error(`table keys out of order: ${JSON.stringify(Buffer.from(kb.subarray(ks, ks + kl)).toString('latin1'))}`);
    const at = this.room(kl, vl, tag);
    copyInto(this.buf, at, kb, ks, kl);
    // the key as written is the next one's lower bound (copied out if its block's buffer is reused: endBlock)
    this.rawLast = this.buf;
    this.rawLastAt = at;
    this.rawLastLen = kl;
    this.entry(at, kl, vb, vs, vl, tag);
  }

  /**
   * The next entry, its key `prefix` and `n` in `digits` hex digits (a
   * numbered key: SpoolBlocks.putNumbered), written in place: no key made
   * to be copied, none compared (the caller's numbers grow, and it checks
   * that they do). A load's records and policy index were ~0.2 us an entry
   * of copying and comparing their keys.
   */
  addNumbered(prefix: Uint8Array, n: number, digits: number, vb: Uint8Array, vs: number, vl: number): void {
    const kl = prefix.length + digits;
    const at = this.room(kl, vl, undefined);
    // (after room(): it may have grown the buffer)
    const b = this.buf;
    for (let i = 0; i < prefix.length; i++) b[at + i] = prefix[i]!;
    writeHexDigits(b, at + prefix.length, n, digits);
    this.rawLast = b;
    this.rawLastAt = at;
    this.rawLastLen = kl;
    this.entry(at, kl, vb, vs, vl, undefined);
  }

  /**
   * Room for the next entry, its key at most `maxKl` bytes and its value
   * `vl`: where the caller writes its key, in `buffer`, before addWritten
   * (a key written in place is not made elsewhere and copied).
   */
  keyRoom(maxKl: number, vl: number): number {
    return this.room(maxKl, vl, undefined);
  }

  /** The block being written (keyRoom's `at` is in it until addWritten). */
  get buffer(): Uint8Array {
    return this.buf;
  }

  /**
   * The entry whose key the caller wrote at `at` (keyRoom), `kl` bytes,
   * its value vb[vs, vs + vl): not compared with the last key (the caller
   * writes its keys in order and knows they are distinct).
   */
  addWritten(at: number, kl: number, vb: Uint8Array, vs: number, vl: number): void {
    putU32(this.buf, at - 4, kl);
    this.rawLast = this.buf;
    this.rawLastAt = at;
    this.rawLastLen = kl;
    this.entry(at, kl, vb, vs, vl, undefined);
  }

  /** the last key: as a string (add), as its bytes in a block (addRaw); a writer is fed one way */
  private last: string | undefined;
  private rawLast: Buffer | undefined;
  private rawLastAt = 0;
  private rawLastLen = 0;

  /** Room for an entry in the block, its key's length written: returns where the key goes. */
  private room(kl: number, vl: number, tag: number | undefined): number {
    const size = 8 + (tag === undefined ? 0 : 1) + kl + vl;
    // a block holds at least one entry, however large; the crc's 4 bytes follow it
    if (this.buf.length - this.used < size + 4) this.grow(size + 4);
    putU32(this.buf, this.used, kl);
    return this.used + 4;
  }

  /** The entry whose key was just written at `at`: its value, and the block's count (ended once full). */
  private entry(at: number, kl: number, vb: Uint8Array, vs: number, vl: number, tag: number | undefined): void {
    const b = this.buf;
    let o = at + kl;
    putU32(b, o, vl + (tag === undefined ? 0 : 1));
    o += 4;
    if (tag !== undefined) b[o++] = tag;
    copyInto(b, o, vb, vs, vl);
    this.used = o + vl;
    if (this.blockCount === 0) this.blockFirst = b.toString('latin1', at, at + kl);
    this.blockCount++;
    this.total++;
    if (this.used >= BLOCK) this.endBlock();
  }

  private grow(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + need));
    this.buf.copy(next, 0, 0, this.used);
    if (this.rawLast === this.buf) this.rawLast = next;
    this.buf = next;
  }

  get count(): number {
    return this.total;
  }

  private endBlock(): void {
    if (this.blockCount === 0) return;
    const b = this.buf;
    b.writeUInt32LE(this.blockCount, 0);
    const length = this.used;
    b.writeUInt32LE(crc32(b.subarray(0, length)), length);
    const at = this.place ? this.place(length + 4) : this.offset;
    this.sink(b.subarray(0, length + 4), at);
    this.index.push({ offset: at, length: length + 4, count: this.blockCount, first: this.blockFirst });
    this.offset += length + 4;
    if (this.keeps || b.length > BLOCK + 4096) this.buf = Buffer.allocUnsafe(BLOCK + 4096);
    else if (this.rawLast === b) {
      // the last key written is the next one's lower bound: copied out of the buffer about to be written over
      this.rawLast = Buffer.from(b.subarray(this.rawLastAt, this.rawLastAt + this.rawLastLen));
      this.rawLastAt = 0;
    }
    this.used = 4;
    this.blockCount = 0;
  }

  /** The last block, the index and the footer; returns the table's size in bytes. */
  finish(gen: number, lastTx: number): number {
    this.endBlock();
    let size = 4;
    for (const e of this.index) size += 20 + e.first.length;
    const idx = Buffer.allocUnsafe(size);
    let o = 0;
    for (const e of this.index) {
      idx.writeBigUInt64LE(BigInt(e.offset), o);
      idx.writeUInt32LE(e.length, o + 8);
      idx.writeUInt32LE(e.count, o + 12);
      idx.writeUInt32LE(e.first.length, o + 16);
      o += 20 + idx.write(e.first, o + 20, 'latin1');
    }
    idx.writeUInt32LE(crc32(idx.subarray(0, o)), o);
    // (placed: the index and the footer come last, after every block; nothing is placed after them)
    const at = this.place ? this.place(idx.length + FOOTER) : this.offset;
    const f = Buffer.alloc(FOOTER);
    FOOTER_MAGIC.copy(f, 0);
    f.writeBigUInt64LE(BigInt(gen), 8);
    f.writeBigUInt64LE(BigInt(lastTx), 16);
    f.writeBigUInt64LE(BigInt(this.total), 24);
    f.writeBigUInt64LE(BigInt(at), 32);
    f.writeUInt32LE(idx.length, 40);
    f.writeUInt32LE(crc32(f.subarray(0, 44)), 44);
    this.sink(idx, at);
    this.sink(f, at + idx.length);
    return at + idx.length + FOOTER;
  }
}

/** A whole table in memory (small ones: a new store, tests). */
export function encodeTable(entries: Iterable<[string, Uint8Array]>, gen: number, lastTx: number): Buffer {
  const parts: Buffer[] = [];
  const w = new TableWriter((b) => parts.push(b));
  const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [k, v] of sorted) w.add(k, v);
  w.finish(gen, lastTx);
  return Buffer.concat(parts);
}

