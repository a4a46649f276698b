/**
 * The embedded engine's durable store: a key/value map of byte strings in a
 * directory of its own (0700, files 0600), format version 2
 * (store-format.ts):
 *
 *   FORMAT        {"format":"setkey-store","version":2}
 *   HEAD          the live generation G (replaced by atomic rename)
 *   table-G       the whole map at the start of generation G, sorted, checksummed per block
 *   journal-G     transactions since, numbered, each with a commit marker
 *
 * Readers take no lock: they see the table plus every committed transaction,
 * i.e. a prefix of the acknowledged ones. Writers hold the lock (lock.ts),
 * append a transaction's frames and fdatasync them before acknowledging; a
 * write cut short (kill -9, a crash) has no commit marker and is not part of
 * the store (the next writer cuts it off). Anything else that does not check
 * out is damage: an error that says where, and nothing is written.
 *
 * Every file is reached through the directory as it was opened and checked
 * (store-dir.ts): a path swapped under us, a symlink or a FIFO in the store
 * is an error, never followed.
 *
 * When the journal outgrows the table, a writer folds both into a new
 * generation. A version 1 store is read as it is and rewritten as version 2
 * by its first writer.
 */
import { closeSync, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, readSync, writeSync } from 'node:fs';
import { Changes, EMPTY, Layered, MapReader, type KvReader } from './kv.js';
import { StoreDir, StoreError, ioError } from './store-dir.js';
import { compareBytes, decodeJournalHeader, hexDigits, encodeJournalHeader, encodeTable, encodeTransaction, FormatError, JOURNAL_HEADER, mapSink, replayFrames, TableWriter, type Ops } from './store-format.js';
import { decodeSnapshotV1, replayJournalV1 } from './store-format-v1.js';
import { TableReader } from './table-reader.js';
import { RunKeys, RunLayer, RunStack } from './run.js';
import { ChangesCursor, mergeRaw, TableCursor, type Cursor } from './raw-merge.js';
import { readU64, u64 } from './u64.js';
import { LoadFile, placedWriter, RecordSpool } from './spool.js';
import { BulkConflict, SortedCursor, SortedLayerBuilder, type SortedLayer, type Stream } from './sorted-layer.js';
import { collectGarbage } from '../sys/builtin.js';

export { StoreError, type StoreErrorCode } from './store-dir.js';

export const STORE_VERSION = 2;
const FORMAT_TEXT = JSON.stringify({ format: 'setkey-store', version: STORE_VERSION }) + '\n';
/**
 * Fold the journal into a new table when it is this large and more than
 * twice the live data: what it holds beyond the live entries (overwritten
 * and deleted ones) is then at least half of it, so the rewrite costs no more
 * than the writes that made it necessary. One large transaction into an
 * empty store is not rewritten at once: its journal is all live.
 */
const COMPACT_BYTES = 8 << 20;
/**
 * A transaction's changes past about this much memory (by a rough count) are
 * put aside in sorted runs (run.ts). The changes held live long enough to be
 * promoted, and promoted garbage waits for a full collection: 4 MiB rather
 * than 8 kept applying 1M SAs + 1M policies under 300 MiB (307.7 -> 293.6
 * MiB peak, no slower).
 */
const SPILL_BYTES = 4 << 20;
/**
 * A bulk load (sorted-layer.ts) puts its entries aside as a sorted run each
 * time they pass about this much memory, by a rough count (BULK_ENTRY), and
 * collects the part at once: a load then holds one part at a time. 96 MiB
 * keeps 100k SAs + 100k policies in memory (1.8 s, 182 MiB; a part put
 * aside costs ~0.3 s) and 1M + 1M under 300 MiB (22 s, 257 MiB; 128 MiB:
 * 302 MiB; held whole, 400k statements already took 317 MB).
 */
const BULK_PART_BYTES = 96 << 20;
/**
 * What a load's entry takes beyond its key's and value's bytes: a string's
 * header, an array slot, three numbers, and the pieces an identity key is
 * joined from (V8 keeps a joined string as a tree of its parts until it is
 * flattened, and then both). 40 was right while records made most of a
 * part; with only identities held (the records go to spools), 1M SAs + 1M
 * policies peaked at 301 MiB; with 100, 251 MiB, as fast.
 */
const BULK_ENTRY = 100;
/** no store file is larger (a table of this size would not fit in memory anyway) */
const MAX_FILE = 2 ** 40;

export interface StoreOptions {
  /** create the store if the directory does not hold one (default true) */
  readonly create?: boolean;
  readonly lockTimeoutMs?: number;
  /** called once when a writer has waited about a second for the lock */
  readonly onLockWait?: (holder: string | undefined) => void;
  /** put a transaction's changes aside past this many bytes (default 64 MiB; tests make it small) */
  readonly spillBytes?: number;
}

/** How a transaction puts its changes aside: a layer written as a run, runs (newest first) merged into one. */
export interface Spill {
  write(c: Changes, serial: number, all: RunKeys): RunLayer;
  merge(runs: readonly RunLayer[], serial: number): RunLayer;
  /** a bulk load's part, sorted (sorted-layer.ts) */
  writeSorted(layer: SortedLayer, serial: number): RunLayer;
  /** a file for a bulk load's ordered stream, written as table blocks (spool.ts) */
  spool(prefix: string, serial: number): RecordSpool;
}

/** Runs of one level merged into one of the next. */
const RUNS_PER_LEVEL = 8;

const TEXT = new TextEncoder();

/** In a transaction's undo list: the next entry is a prefix deletion's (a key never starts with NUL). */
const UNDO_PREFIX = '\0prefix';

/** A transaction's view: the store as of its start plus its own changes, in key order. */
export class Tx implements KvReader {
  private pending = new Changes();
  private view: Layered;
  /** what was put aside (a large transaction), oldest first */
  readonly runs: RunLayer[] = [];
  /** every key put aside, one filter (run.ts RunKeys) */
  private runKeys: RunKeys | undefined;
  private pendingBytes = 0;
  private serial = 0;
  /** since the last checkpoint: how to take each change back (one level) */
  private undo: (() => void)[] | undefined;
  /**
   * @param spill how to put the changes aside when they pass SPILL_BYTES
   *   (between requests, at a checkpoint); none: they stay in memory
   */
  constructor(
    private readonly base: KvReader,
    private readonly spill?: Spill,
    private readonly spillBytes = SPILL_BYTES,
    /** a bulk load puts a part of its entries aside past this much (tests make it small) */
    private readonly bulkPartBytes = BULK_PART_BYTES,
  ) {
    this.view = new Layered(this.pending, base);
  }

  /** The transaction's changes over the store it started from, as one reader. */
  get reader(): KvReader {
    return this.view;
  }

  /**
   * Put the changes made so far aside and go on with an empty layer on top
   * of them. Runs are merged size-tiered (RUNS_PER_LEVEL of one level into
   * one of the next): a million entries make a few runs, each written a few
   * times, not hundreds each read at every lookup.
   */
  private spillNow(): void {
    this.runKeys ??= new RunKeys();
    this.runs.push(this.spill!.write(this.pending, this.serial++, this.runKeys));
    for (;;) {
      const top = this.runs.slice(-RUNS_PER_LEVEL);
      if (top.length < RUNS_PER_LEVEL || top.some((r) => r.level !== top[0]!.level)) break;
      this.runs.splice(-RUNS_PER_LEVEL, RUNS_PER_LEVEL, this.spill!.merge(top.reverse(), this.serial++));
    }
    this.pending = new Changes();
    this.pendingBytes = 0;
    this.view = new Layered(this.pending, new RunStack(this.runs, this.base, this.runKeys));
  }

  /** key, previous value (undefined: absent) pairs, as put and delete recorded them */
  private undoKeys: (string | Uint8Array | null | undefined)[] = [];

  /** a bulk load's entries (sorted-layer.ts), and the changes made before them (beneath them); its records in spools (spool.ts), by prefix */
  private bulk: { layer: SortedLayer; before: Changes; parts: RunLayer[]; spools: RecordSpool[] } | undefined;

  /**
   * Put a bulk load's entries into the transaction (endBulk): the changes
   * so far go beneath them, later ones above. Its keys are new to the
   * transaction's view (the loader checked).
   */
  private addSorted(layer: SortedLayer, parts: readonly RunLayer[], spools: RecordSpool[]): void {
    const before = this.pending;
    this.bulk = { layer, before, parts: [...parts], spools };
    this.pending = new Changes();
    this.pendingBytes = 0;
    const below = new Layered(before, this.base);
    this.view = new Layered(this.pending, new Layered(layer, parts.length ? new RunStack(parts, below) : below));
    this.misses.fill(undefined);
  }

  get hasBulk(): boolean {
    return this.bulk !== undefined;
  }

  /** a bulk load under way: puts under its prefixes go to its streams, not to the map */
  private loading:
    | {
        builder: SortedLayerBuilder;
        readonly kinds: readonly { readonly prefix: string; readonly ordered: boolean }[];
        streams: Stream[];
        held: boolean[];
        /** each ordered stream whose prefix the view held nothing under, when the store has files: written as table blocks (spool.ts) */
        spools: (RecordSpool | undefined)[];
        /** the streams whose prefix begins with each char (streamIndex) */
        byFirst: (number[] | undefined)[];
        /** parts put aside as runs, oldest first, and about how much the streams hold now */
        parts: RunLayer[];
        bytes: number;
      }
    | undefined;

  /**
   * Begin a bulk load: from now on until endBulk(), a put of a key under one
   * of `streams`' prefixes goes to that stream, made into one sorted layer at
   * the end (sorted-layer.ts), instead of into the transaction's map; an
   * ordered stream whose prefix the view holds nothing under is written as
   * table blocks to a file as it comes, when the store has files (spool.ts),
   * and goes into the next table whole at the commit. Such
   * keys must be new: reads of them see the store as it was before the load
   * (a request's own check that a key is free), a key put twice is found
   * when the layer is made, and a deletion or a scan of one is a
   * BulkConflict (the load is then given up, and nothing of it is kept).
   */
  beginBulk(streams: readonly { readonly prefix: string; readonly ordered: boolean }[]): void {
    if (this.loading || this.bulk || this.runs.length) throw new Error('a bulk load comes once, before anything is put aside');
    const builder = new SortedLayerBuilder();
    // what the view holds under each prefix, looked at once (its first key, if any)
    const held = streams.map((x) => {
      for (const _ of this.view.scan(x.prefix)) return true;
      return false;
    });
    const spool = this.spill?.spool;
    const spools = streams.map((x, i) => (spool && x.ordered && !held[i] ? spool(x.prefix, this.serial++) : undefined));
    if (streams.some((x) => x.prefix === '')) throw new Error('a bulk load stream has a prefix');
    const byFirst: (number[] | undefined)[] = [];
    streams.forEach((x, i) => (byFirst[x.prefix.charCodeAt(0)] ??= []).push(i));
    this.loading = { builder, kinds: streams, streams: streams.map((x) => builder.stream(x.prefix, x.ordered)), held, spools, byFirst, parts: [], bytes: 0 };
    this.undo = undefined;
  }

  /**
   * The load's streams so far put aside as a sorted run, and new ones begun
   * (a store in memory keeps them: it has nowhere to put them). A key put
   * twice within them is a BulkConflict; twice in two parts, the commit's
   * merge finds it (bulkShadowed).
   */
  private putPartAside(): void {
    const l = this.loading!;
    l.bytes = 0;
    if (!this.spill) return;
    const r = l.builder.seal();
    if ('duplicate' in r) throw new BulkConflict(`${r.duplicate} put twice`);
    l.parts.push(this.spill.writeSorted(r, this.serial++));
    l.builder = new SortedLayerBuilder();
    l.streams = l.kinds.map((x) => l.builder.stream(x.prefix, x.ordered));
  }

  /** A bulk load is under way (puts go to its streams, which copy what they are given). */
  get bulkLoading(): boolean {
    return this.loading !== undefined;
  }

  /**
   * Whether the view the load began on may hold `key`: false when it held
   * nothing under the key's stream prefix. Nothing can come there while the
   * load goes on (its puts go to its streams, a deletion is a conflict), so
   * a load into empty tables asks the table nothing per entry.
   */
  private bulkMayHave(key: string): boolean {
    const i = this.streamIndex(key);
    return i < 0 || this.loading!.held[i]!;
  }

  /** The spool a bulk load's stream of `prefix` is written to, if it has one (beginBulk): another writer may write it (RecordSpool.adopt). */
  bulkSpool(prefix: string): RecordSpool | undefined {
    return this.loading!.spools[this.streamOfPrefix(prefix)];
  }

  /**
   * A spool for a stream not in order, whose entries another writer sorts
   * and writes there (RecordSpool.adopt: a worker's): where the view held
   * nothing under its prefix and the store has files, and nothing was put
   * into it yet; from now on it takes no put by name.
   */
  bulkSpoolSorted(prefix: string): RecordSpool | undefined {
    const l = this.loading!;
    const i = this.streamOfPrefix(prefix);
    if (l.spools[i] || l.held[i] || !this.spill?.spool) return l.spools[i];
    if (l.streams[i]!.keys.length || l.parts.length) throw new Error(`entries were put under ${prefix} already`);
    return (l.spools[i] = this.spill.spool(prefix, this.serial++));
  }

  /** Whether the view a bulk load began on held anything under the prefix of one of its streams (bulkMayHave). */
  bulkHeld(prefix: string): boolean {
    return this.loading!.held[this.streamOfPrefix(prefix)]!;
  }

  /** put() of a text value, stored as its bytes (UTF-8: keys are ASCII, so latin1 is the same bytes); a load's stream copies it without encoding. */
  putText(key: string, text: string): void {
    if (!this.loaded(key, text)) this.put(key, TEXT.encode(text));
  }

  /** In a bulk load, a put of a key under its streams' prefixes: taken by its stream (true). */
  private loaded(key: string, value: Uint8Array | string): boolean {
    if (!this.loading) return false;
    const i = this.streamIndex(key);
    if (i < 0) return false;
    this.putInStream(i, key, value);
    return true;
  }

  private putInStream(i: number, key: string, value: Uint8Array | string): void {
    const l = this.loading;
    if (!l) throw new Error('no bulk load under way');
    // (a spooled stream is written by number: bulkPutNumbered)
    if (l.spools[i]) throw new Error(`a key of the spooled stream ${l.kinds[i]!.prefix} put by name: ${key}`);
    l.streams[i]!.put(key, value);
    if ((l.bytes += BULK_ENTRY + key.length + value.length) > this.bulkPartBytes) this.putPartAside();
  }

  /**
   * A bulk load's puts into its stream of `prefix`, the stream found once
   * (a put() finds it by the key's prefix each time). Each key must be
   * under the prefix: the stream refuses one that is not.
   */
  bulkPut(prefix: string): (key: string, value: Uint8Array | string) => void {
    const i = this.streamOfPrefix(prefix);
    return (key, value) => this.putInStream(i, key, value);
  }

  /**
   * bulkPut for a stream whose keys are its prefix and a number in `digits`
   * hex digits (an ordered stream: each number above the last): a spool
   * writes the key's bytes without a string (RecordSpool.putNumbered).
   */
  bulkPutNumbered(prefix: string, digits: number): (n: number, value: Uint8Array | string, length?: number) => void {
    const i = this.streamOfPrefix(prefix);
    // (`length`: the value is value[0, length), a scratch the stream copies from)
    return (n, value, length = value.length) => {
      const spool = this.loading?.spools[i];
      if (spool) spool.putNumbered(n, digits, value, length);
      else this.putInStream(i, prefix + hexDigits(n, digits), length === value.length ? value : (value as Uint8Array).subarray(0, length));
    };
  }

  private streamOfPrefix(prefix: string): number {
    const i = this.loading?.kinds.findIndex((k) => k.prefix === prefix) ?? -1;
    if (i < 0) throw new Error(`no bulk load stream ${prefix}`);
    return i;
  }

  /** The bulk load's entries, made into the transaction's layer; undefined if a key was put twice (nothing is then added); BulkConflict if a stream said to be in order was not. */
  /** The bulk load's unordered streams sorted now (what endBulk() would sort): nothing more is to come to them but by a caller that knows. */
  sortBulkAhead(): void {
    this.loading?.builder.sortAhead();
  }

  endBulk(): { duplicate: string } | undefined {
    const l = this.loading;
    if (!l) throw new Error('no bulk load under way');
    this.loading = undefined;
    const spools = l.spools.filter((x): x is RecordSpool => x !== undefined).sort((a, b) => (a.prefix < b.prefix ? -1 : 1));
    const discard = (): void => {
      for (const p of l.parts) p.discard();
      for (const x of spools) x.discard();
    };
    let r: ReturnType<SortedLayerBuilder['seal']>;
    try {
      r = l.builder.seal();
    } catch (e) {
      // (a stream out of the order it said: a BulkConflict for the caller)
      discard();
      throw e;
    }
    if ('duplicate' in r) {
      discard();
      return r;
    }
    for (const x of spools) x.close();
    this.addSorted(r, l.parts, spools);
    this.spooled = spools.map((x) => x.prefix);
    return undefined;
  }

  /** Which of a bulk load's streams a key goes to (-1: none). */
  private streamIndex(key: string): number {
    const l = this.loading!;
    // (only the streams whose prefix begins as the key does: a get or a put asked five prefixes before)
    const some = l.byFirst[key.charCodeAt(0)];
    if (some === undefined) return -1;
    for (let j = 0; j < some.length; j++) if (key.startsWith(l.kinds[some[j]!]!.prefix)) return some[j]!;
    return -1;
  }

  /** The stream a key goes to in a bulk load, if any. */
  private streamOf(key: string): Stream | undefined {
    const i = this.streamIndex(key);
    return i < 0 ? undefined : this.loading!.streams[i];
  }

  /** Start recording changes, so that restore() can take them back (one level); a request starts here. */
  checkpoint(): void {
    // between two requests nothing is to be undone: the time to put a large transaction's changes aside
    // (not under a bulk load's layer: it is in memory anyway, and runs go beneath it)
    if (this.spill && !this.bulk && this.pendingBytes > this.spillBytes) this.spillNow();
    this.undo = [];
    this.undoKeys = [];
    this.cellUndo.length = 0;
  }

  /**
   * Counts held in memory for the transaction, each under the key it is
   * stored at (a u64), and written once, at the commit (flushCells). A
   * large apply bumped the entries' counts at every request: a read, an
   * 8-byte value and a put each time, two or three a request (0.2 s of an
   * apply of 100k SAs + 100k policies). A checkpoint's undo takes their
   * changes back with the rest.
   */
  private readonly cells = new Map<string, number>();
  /** cells changed, to be written */
  private readonly dirtyCells = new Set<string>();
  /** key, value before pairs since the checkpoint */
  private readonly cellUndo: (string | number)[] = [];

  /** A count's value: as changed in this transaction, else as stored (0: none). */
  cell(key: string): number {
    let v = this.cells.get(key);
    if (v === undefined) {
      v = storedCell(this.get(key));
      this.cells.set(key, v);
    }
    return v;
  }

  setCell(key: string, v: number): void {
    if (this.undo) this.cellUndo.push(key, this.cell(key));
    this.cells.set(key, v);
    this.dirtyCells.add(key);
  }

  /** Write the counts that changed into the transaction (a count of 0 is no entry); the store's commit does. */
  flushCells(): void {
    for (const key of this.dirtyCells) {
      const v = this.cells.get(key)!;
      if (v === storedCell(this.get(key))) continue;
      if (v <= 0) this.delete(key);
      else this.put(key, u64(BigInt(v)));
    }
    this.dirtyCells.clear();
  }

  /** Undo every change since the last checkpoint, newest first. */
  restore(): void {
    // pairs (key, value before); a prefix deletion is a pair (UNDO_PREFIX, its index in `undo`)
    const k = this.undoKeys;
    const m = this.pending.map;
    for (let i = k.length - 2; i >= 0; i -= 2) {
      if (k[i] === UNDO_PREFIX) {
        this.undo![k[i + 1] as unknown as number]!();
        continue;
      }
      const prev = k[i + 1] as Uint8Array | null | undefined;
      if (prev === undefined) m.delete(k[i] as string);
      else m.set(k[i] as string, prev);
    }
    this.pending.touched();
    const c = this.cellUndo;
    for (let i = c.length - 2; i >= 0; i -= 2) this.cells.set(c[i] as string, c[i + 1] as number);
    c.length = 0;
    this.undo = [];
    this.undoKeys = [];
    // what was deleted may be back
    this.misses.fill(undefined);
  }

  /**
   * The last few keys found absent. A request asks for the same key twice
   * in a row (whether an SA exists, then where to put it), and an absent key
   * is the dearest answer: every run's filter and the table are asked. A put
   * takes its key out; an undo forgets them all.
   */
  private readonly misses: (string | undefined)[] = [undefined, undefined, undefined, undefined];
  private missNext = 0;

  /**
   * Prefixes whose entries a bulk load wrote to spools: they are not read
   * back (a load's own puts are new, and nothing reads them before the
   * commit), so a read or a put under one is a mistake, said loudly.
   */
  private spooled: readonly string[] | undefined;

  private checkSpooled(key: string): void {
    for (const p of this.spooled!) if (key.startsWith(p) || p.startsWith(key)) throw new Error(`${key}: a bulk load's records are read from the store once committed`);
  }

  /** The spools of a bulk load, by prefix: their blocks go into the next table as they are (commit). */
  get spools(): readonly RecordSpool[] {
    return this.bulk?.spools ?? [];
  }

  get(key: string): Uint8Array | undefined {
    if (this.loading && !this.bulkMayHave(key)) return undefined;
    if (this.spooled) this.checkSpooled(key);
    const m = this.misses;
    if (m[0] === key || m[1] === key || m[2] === key || m[3] === key) return undefined;
    const v = this.view.get(key);
    if (v === undefined) {
      m[this.missNext] = key;
      this.missNext = (this.missNext + 1) & 3;
    }
    return v;
  }

  private present(key: string): void {
    const m = this.misses;
    for (let i = 0; i < 4; i++) if (m[i] === key) m[i] = undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  private remember(key: string): void {
    if (!this.undo) return;
    const m = this.pending.map;
    const prev = m.get(key);
    // undefined: the key was not in this transaction's changes
    this.undoKeys.push(key, prev);
  }

  put(key: string, value: Uint8Array): void {
    if (this.loading && this.loaded(key, value)) return;
    if (this.spooled) this.checkSpooled(key);
    this.present(key);
    this.remember(key);
    this.pending.put(key, value);
    this.pendingBytes += 64 + key.length + value.length;
  }

  delete(key: string): void {
    if (this.loading && this.streamOf(key)) throw new BulkConflict(`a bulk load deletes ${key}`);
    if (!this.has(key)) return;
    this.remember(key);
    this.pending.del(key);
  }

  /** Everything under `prefix` gone at once (a flush): one operation in the journal, not one per entry. */
  deletePrefix(prefix: string): void {
    if (this.loading) throw new BulkConflict(`a bulk load deletes everything under ${prefix}`);
    if (this.undo) {
      const removed = [...this.pending.map].filter(([k]) => k.startsWith(prefix));
      const hidden = this.pending.hidden.length;
      this.undoKeys.push(UNDO_PREFIX, this.undo.length as unknown as Uint8Array);
      this.undo.push(() => {
        this.pending.hidden.length = hidden;
        for (const [k, v] of removed) this.pending.map.set(k, v);
      });
    }
    this.pending.delPrefix(prefix);
    // counts under the prefix are gone too
    for (const k of this.cells.keys()) if (k.startsWith(prefix) && this.cells.get(k) !== 0) this.setCell(k, 0);
  }

  /** Entries under `prefix` in key order (reversed: from the last). */
  scan(prefix: string, reverse = false, hidden?: readonly string[]): Iterable<[string, Uint8Array]> {
    if (this.loading) throw new BulkConflict(`a bulk load reads ${prefix} in order`);
    if (this.spooled) this.checkSpooled(prefix);
    return this.view.scan(prefix, reverse, hidden);
  }

  /** Keys under `prefix`, in key order. */
  *keys(prefix: string): Generator<string> {
    for (const [k] of this.view.scan(prefix)) yield k;
  }

  get changed(): boolean {
    return this.runs.length > 0 || this.bulk !== undefined || this.pending.size > 0 || this.pending.hidden.length > 0;
  }

  /** The transaction as layers of a merge on bytes (raw-merge.ts), newest first: its changes in memory (a bulk load's among them), then its runs. */
  layers(): { cursor: Cursor; hidden: readonly string[] }[] {
    const mem: { cursor: Cursor; hidden: readonly string[] }[] = [{ cursor: new ChangesCursor(this.pending), hidden: this.pending.hidden }];
    if (this.bulk) {
      mem.push({ cursor: new SortedCursor(this.bulk.layer), hidden: [] });
      for (const p of [...this.bulk.parts].reverse()) mem.push(p.layer());
      mem.push({ cursor: new ChangesCursor(this.bulk.before), hidden: this.bulk.before.hidden });
    }
    return [...mem, ...[...this.runs].reverse().map((r) => r.layer())];
  }

  /**
   * For the commit's merge of layers() (raw-merge.ts): a key in two of a
   * bulk load's layers (the one in memory, the parts put aside: layers 1 to
   * parts + 1) was put twice, which the load cannot take (BulkConflict).
   */
  bulkShadowed(): ((newer: Cursor, older: Cursor) => void) | undefined {
    const n = this.bulk?.parts.length ?? 0;
    if (n === 0) return undefined;
    return (newer, older) => {
      if (newer.age >= 1 && older.age <= n + 1) throw new BulkConflict('a key put twice by a bulk load');
    };
  }

  /** Every change, oldest first, as the commit of a store in memory applies them. */
  allOps(): Ops[] {
    if (!this.bulk) return [this.ops()];
    const { layer, before } = this.bulk;
    const loaded = new Map<string, Uint8Array | null>(layer.entries());
    return [{ hidden: before.hidden, map: before.map }, { hidden: [], map: loaded }, this.ops()];
  }

  /** The changes, for the commit (not to be modified): those still in memory (see runs). */
  ops(): Ops {
    return { hidden: this.pending.hidden, map: this.pending.map };
  }

  /** Remove what was put aside. */
  discardRuns(): void {
    for (const r of this.runs) r.discard();
    this.runs.length = 0;
    for (const r of [...(this.loading?.parts ?? []), ...(this.bulk?.parts ?? [])]) r.discard();
    if (this.loading) this.loading.parts.length = 0;
    if (this.bulk) this.bulk.parts.length = 0;
    for (const x of [...(this.loading?.spools ?? []), ...(this.bulk?.spools ?? [])]) x?.discard();
    if (this.loading) this.loading.spools.fill(undefined);
    if (this.bulk) this.bulk.spools.length = 0;
  }
}

/** A count as stored (u64.ts; 0: no entry). */
function storedCell(b: Uint8Array | undefined): number {
  return b && b.length === 8 ? Number(readU64(b)) : 0;
}

/** A reader whose damage is reported as the store's (the file and the byte). */
class Checked implements KvReader {
  constructor(
    private readonly inner: KvReader,
    private readonly damaged: (e: unknown) => never,
  ) {}
  get(key: string): Uint8Array | undefined {
    try {
      return this.inner.get(key);
    } catch (e) {
      this.damaged(e);
    }
  }
  *scan(prefix: string, reverse = false, hidden?: readonly string[]): Generator<[string, Uint8Array]> {
    try {
      yield* this.inner.scan(prefix, reverse, hidden);
    } catch (e) {
      this.damaged(e);
    }
  }
}

function isTemp(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}

/** About how many bytes a transaction's changes take in a journal. */
function opsBytes(ops: Ops): number {
  let n = 0;
  for (const [k, v] of ops.map) n += 9 + k.length + (v ? v.length : 0);
  return n;
}

/**
 * Names a store's own files have: a directory holding only these is a store
 * being made (by a process that died, or one at work now), not a foreign one.
 */
function isStoreName(name: string): boolean {
  return name.startsWith('.') || name.startsWith('lock.') || /^(?:table|journal)-[0-9]+$/.test(name) || name === 'HEAD';
}

export class Store {
  private gen = -1;
  private version = 0;
  /** the table of the live generation (or a version 1 store's whole map) */
  private table: KvReader & { close?(): void; bytes?: number } = EMPTY;
  /** the journal's committed changes since the table */
  private overlay = new Changes();
  private journalEnd = 0;
  private lastTx = 0;
  private torn = false;
  private tableBytes = 0;
  private swept = false;

  private constructor(
    private readonly filesOrNone: StoreDir | undefined,
    private readonly opts: StoreOptions,
  ) {}

  /**
   * A store with no files: the same transactions on a map that lives as long
   * as the object (a missing store read as empty; a file's declared state).
   */
  static memory(): Store {
    return new Store(undefined, {});
  }

  get inMemory(): boolean {
    return this.filesOrNone === undefined;
  }

  /** The store's directory, as it was opened and checked. */
  get files(): StoreDir {
    if (!this.filesOrNone) throw new Error('a store in memory has no files');
    return this.filesOrNone;
  }

  /** The store's path as it was given. */
  get dir(): string {
    return this.filesOrNone?.name ?? '(in memory)';
  }

  /**
   * Open (and by default create) the store in `dir`. With `create: false` a
   * missing directory is an error of code 'missing', and an empty one 'foreign'.
   */
  static async open(dir: string, opts: StoreOptions = {}): Promise<Store> {
    const create = opts.create !== false;
    const files = StoreDir.open(dir, { create });
    if (!files) throw new StoreError('missing', `${dir} does not exist (no store yet)`);
    const s = new Store(files, opts);
    try {
      if (!files.lstat('FORMAT')) {
        // refused before anything (even a lock socket) is put into a directory that is not ours to use
        const others = files.list().filter((f) => !isStoreName(f));
        if (others.length > 0) throw new StoreError('foreign', `${dir} is not empty and holds no setkey store (found ${others.slice(0, 3).join(', ')}); it is left untouched`);
        if (!create) throw new StoreError('missing', `${dir} holds no store yet`);
        await s.withLock(() => s.initialize());
      }
      s.refresh();
    } catch (e) {
      files.close();
      throw e;
    }
    return s;
  }

  /** Close the directory and the table (further use is an error). */
  close(): void {
    this.table.close?.();
    this.table = EMPTY;
    this.filesOrNone?.close();
  }

  private initialize(): void {
    if (this.files.lstat('FORMAT')) return; // another process made it while we waited for the lock
    const others = this.files.list().filter((f) => !isStoreName(f));
    if (others.length > 0) throw new StoreError('foreign', `${this.dir} is not empty and holds no setkey store (found ${others.slice(0, 3).join(', ')}); it is left untouched`);
    this.files.writeAtomic('table-0', encodeTable([], 0, 0));
    this.files.writeAtomic('journal-0', encodeJournalHeader({ gen: 0, baseTx: 0 }));
    this.files.writeAtomic('HEAD', '0\n');
    this.files.writeAtomic('FORMAT', FORMAT_TEXT);
  }

  private formatVersion(): number {
    const text = this.files.readFile('FORMAT', 4096)?.toString('utf8');
    let f: { format?: unknown; version?: unknown };
    try {
      f = JSON.parse(text ?? '');
    } catch {
      throw new StoreError('foreign', `${this.files.show('FORMAT')} is not a setkey store description; the store is left untouched`);
    }
    if (f.format !== 'setkey-store') throw new StoreError('foreign', `${this.dir} holds a '${String(f.format)}', not a setkey store; it is left untouched`);
    if (f.version !== 1 && f.version !== STORE_VERSION) throw new StoreError('version', `${this.dir} is a version ${String(f.version)} store; this setkey reads versions 1 and ${STORE_VERSION}`);
    return f.version;
  }

  private generation(name: 'HEAD' | 'CURRENT'): number {
    const text = this.files.readFile(name, 64)?.toString('latin1').trim();
    const g = Number(text);
    if (text === undefined || !/^[0-9]+$/.test(text) || !Number.isSafeInteger(g)) throw new StoreError('corrupt', `${this.files.show(name)} does not name a generation; the store is left untouched`);
    return g;
  }

  private corrupt(file: string, e: unknown): never {
    if (!(e instanceof FormatError)) throw e;
    throw new StoreError('corrupt', `${this.files.show(file)} is damaged at byte ${e.offset} (${e.message}); the store is left untouched`);
  }

  private need(name: string): Buffer {
    const b = this.files.readFile(name, MAX_FILE);
    if (b === undefined) throw Object.assign(new StoreError('corrupt', `${this.files.show(name)} is missing; the store is left untouched`), { missingFile: true });
    return b;
  }

  /** The store as it stands: the table under the journal's changes. */
  private get view(): KvReader {
    return new Checked(new Layered(this.overlay, this.table), (e) => this.corrupt(`table-${this.gen}`, e));
  }

  /** Bring the view up to date with the files (lock-free): a new generation's table, the journal's new transactions. */
  refresh(): KvReader {
    if (this.inMemory) return new Layered(this.overlay, EMPTY);
    this.version = this.formatVersion();
    const head = this.version === 1 ? 'CURRENT' : 'HEAD';
    for (let attempt = 0; ; attempt++) {
      const g = this.generation(head);
      try {
        if (this.version === 1) this.loadV1(g);
        else if (g !== this.gen) this.loadGeneration(g);
        else this.readJournalTail();
        return this.view;
      } catch (e) {
        this.gen = -1; // whatever was half read is read again
        // a writer switched generations and removed the old files under us: start over
        if ((e as { missingFile?: boolean }).missingFile && attempt < 5 && this.generation(head) !== g) continue;
        throw e;
      }
    }
  }

  private openTable(g: number): TableReader {
    const name = `table-${g}`;
    const fd = this.files.openRead(name);
    if (fd === undefined) throw Object.assign(new StoreError('corrupt', `${this.files.show(name)} is missing; the store is left untouched`), { missingFile: true });
    try {
      const t = new TableReader(fd);
      if (t.gen !== g) throw new FormatError(`table of generation ${t.gen} where ${g} was due`, 0);
      return t;
    } catch (e) {
      closeSync(fd);
      this.corrupt(name, e);
    }
  }

  private loadGeneration(g: number): void {
    const table = this.openTable(g);
    const jname = `journal-${g}`;
    const overlay = new Changes();
    let r;
    try {
      const journal = this.need(jname);
      const h = decodeJournalHeader(journal);
      if (h.gen !== g || h.baseTx !== table.lastTx) throw new FormatError(`journal of generation ${h.gen} from transaction ${h.baseTx}, table of generation ${g} to transaction ${table.lastTx}`, 0);
      r = replayFrames(journal.subarray(JOURNAL_HEADER), JOURNAL_HEADER, h.baseTx, overlay);
    } catch (e) {
      table.close();
      if (e instanceof StoreError) throw e;
      this.corrupt(jname, e);
    }
    this.table.close?.();
    this.table = table;
    this.gen = g;
    this.overlay = overlay;
    this.journalEnd = r.end;
    this.lastTx = r.lastTx;
    this.torn = r.torn;
    this.tableBytes = table.bytes;
  }

  private readJournalTail(): void {
    const name = `journal-${this.gen}`;
    const fd = this.files.openRead(name);
    if (fd === undefined) throw Object.assign(new StoreError('corrupt', `${this.files.show(name)} is missing`), { missingFile: true });
    try {
      const size = fstatSync(fd).size;
      if (size < this.journalEnd) throw new StoreError('corrupt', `${this.files.show(name)} is shorter (${size} bytes) than what was committed to it (${this.journalEnd}); the store is left untouched`);
      this.torn = false;
      if (size === this.journalEnd) return;
      const tail = Buffer.allocUnsafe(size - this.journalEnd);
      let n = 0;
      while (n < tail.length) {
        const k = readSync(fd, tail, n, tail.length - n, this.journalEnd + n);
        if (k === 0) break;
        n += k;
      }
      let r;
      try {
        r = replayFrames(tail.subarray(0, n), this.journalEnd, this.lastTx, this.overlay);
      } catch (e) {
        this.corrupt(name, e);
      }
      this.journalEnd = r.end;
      this.lastTx = r.lastTx;
      this.torn = r.torn;
    } finally {
      closeSync(fd);
    }
  }

  /** A version 1 store, read whole each time (its first writer migrates it). */
  private loadV1(g: number): void {
    const snap = `snapshot-${g}`;
    let entries: Map<string, Uint8Array>;
    try {
      entries = decodeSnapshotV1(this.need(snap));
    } catch (e) {
      this.corrupt(snap, e);
    }
    const jname = `journal-${g}`;
    try {
      replayJournalV1(this.need(jname), mapSink(entries));
    } catch (e) {
      this.corrupt(jname, e);
    }
    this.table.close?.();
    this.table = new MapReader(entries);
    this.overlay = new Changes();
    this.gen = g;
  }

  private async withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.inMemory) return await fn();
    // the lock's code (and node:net) is loaded by writers only: readers take no lock
    const { acquireLock, LockTimeout } = await import('./lock.js');
    let lock;
    try {
      lock = await acquireLock(this.files, { timeoutMs: this.opts.lockTimeoutMs ?? 60000, ...(this.opts.onLockWait ? { onWait: this.opts.onLockWait } : {}) });
    } catch (e) {
      if (e instanceof LockTimeout) throw new StoreError('busy', e.message);
      throw ioError(`cannot lock the store ${this.dir}`, e);
    }
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }

  /** The store as of now, without taking the lock. */
  read(): KvReader {
    return this.refresh();
  }

  /**
   * Run `fn` on the latest state with the lock held; if it returns normally
   * and changed anything, its changes are committed as one transaction and
   * are durable when this resolves. If it throws, nothing is written.
   */
  async transact<T>(fn: (tx: Tx) => T | Promise<T>): Promise<T> {
    return this.locked(async (tx, commit) => {
      const result = await fn(tx);
      commit();
      return result;
    });
  }

  /**
   * Like transact, but `fn` decides: it calls `commit()` to make its changes
   * durable (once), and may go on working under the lock afterwards, e.g.
   * to publish what it did in the order of the commits.
   */
  async locked<T>(fn: (tx: Tx, commit: () => void) => T | Promise<T>): Promise<T> {
    return this.withLock(async () => {
      this.refresh();
      if (!this.inMemory) {
        if (this.version === 1) this.migrate();
        if (!this.swept) this.sweep();
        if (this.torn) this.cutTornTail();
      }
      const name = (n: number): string => `.run-${process.pid}-${n}.tmp`;
      let load: LoadFile | undefined;
      const spill: Spill | undefined = this.inMemory
        ? undefined
        : {
            write: (c, n, all) => RunLayer.write(this.files, name(n), c, all),
            merge: (runs, n) => RunLayer.merge(this.files, name(n), runs),
            writeSorted: (layer, n) => {
              const r = RunLayer.writeSorted(this.files, name(n), layer);
              // the part's memory is garbage now: a load holds one part at a time (sys/builtin.ts)
              collectGarbage();
              return r;
            },
            // (one file for all of a load's spools: the next table's, spool.ts)
            spool: (prefix, n) => new RecordSpool((load ??= new LoadFile(this.files, name(n))), prefix),
          };
      const tx = new Tx(this.inMemory ? new Layered(this.overlay, EMPTY) : this.view, spill, this.opts.spillBytes, this.opts.spillBytes ?? BULK_PART_BYTES);
      let committed = false;
      const commit = (): void => {
        if (committed) throw new Error('a transaction commits once');
        committed = true;
        tx.flushCells();
        if (tx.changed) this.commit(tx);
      };
      try {
        return await fn(tx, commit);
      } finally {
        tx.discardRuns();
      }
    });
  }

  /** Temporary files of writers that died before their rename (they may hold keys); we hold the lock. */
  private sweep(): void {
    for (const f of this.files.list()) if (isTemp(f)) this.files.remove(f);
    this.swept = true;
  }

  /** Cut a torn write left by a writer that died (we hold the lock: nobody is writing). */
  private cutTornTail(): void {
    const fd = this.files.openWrite(`journal-${this.gen}`, 'update');
    try {
      if (fstatSync(fd).size > this.journalEnd) {
        ftruncateSync(fd, this.journalEnd);
        fdatasyncSync(fd);
      }
    } catch (e) {
      throw ioError(`cannot repair ${this.files.show(`journal-${this.gen}`)}`, e);
    } finally {
      closeSync(fd);
    }
    this.torn = false;
  }

  private commit(t: Tx): void {
    const ops = t.ops();
    if (this.inMemory) {
      for (const o of t.allOps()) this.apply(o);
      return;
    }
    const tx = this.lastTx + 1;
    // a bulk load is as large as a transaction that was put aside: written as the next generation
    if (t.runs.length > 0 || t.hasBulk || opsBytes(ops) > COMPACT_BYTES) return this.commitAsGeneration(t, tx);
    const frames = encodeTransaction(tx, ops);
    const name = `journal-${this.gen}`;
    const fd = this.files.openWrite(name, 'append');
    let written = 0;
    try {
      // the last frame's trailer is the commit marker: a write cut short anywhere is not a transaction
      for (const f of frames) {
        for (let off = 0; off < f.length; ) off += writeSync(fd, f, off, f.length - off);
        written += f.length;
      }
      fdatasyncSync(fd);
    } catch (e) {
      // whatever reached the file has no commit marker, or is not known to be durable; give the space back now
      this.torn = true;
      try {
        ftruncateSync(fd, this.journalEnd);
      } catch {
        // the next writer cuts it
      }
      throw ioError(`cannot write ${this.files.show(name)}; the change was not stored`, e);
    } finally {
      closeSync(fd);
    }
    this.journalEnd += written;
    this.lastTx = tx;
    this.apply(ops);
    // the journal is read whole at every open: fold it into the table once it is a fair part of it
    // (what a flush hid is dropped then, its blocks skipped unread)
    if (this.journalEnd > Math.max(COMPACT_BYTES, this.tableBytes / 4)) this.compact();
  }

  /**
   * A large transaction is not journaled and then folded (written twice):
   * the table and its changes are merged into the next generation at once,
   * and the switch of HEAD is its commit point (a crash before it leaves the
   * store as it was).
   */
  private commitAsGeneration(t: Tx, tx: number): void {
    this.lastTx = tx;
    const table = this.table;
    // the transaction's layers over the store's, merged on their bytes (a table damaged is reported as the store's)
    const fill =
      table instanceof TableReader
        ? (w: TableWriter): void => {
            const layers = [...t.layers(), { cursor: new ChangesCursor(this.overlay), hidden: this.overlay.hidden }];
            const above = layers.flatMap((l) => l.hidden);
            layers.push({ cursor: new TableCursor(table, false, above, (e) => this.corrupt(`table-${this.gen}`, e)), hidden: [] });
            // a bulk load's spooled records go in whole where their prefix comes (nothing else is under it: Tx.beginBulk),
            // their blocks where they lie in the load's file, which the table is written into (spool.ts)
            const spools = [...t.spools];
            const prefixes = spools.map((x) => Buffer.from(x.prefix, 'latin1'));
            let next = 0;
            mergeRaw(
              layers,
              (c) => {
                while (next < spools.length && compareBytes(prefixes[next]!, 0, prefixes[next]!.length, c.kb, c.ks, c.kl) < 0) spools[next++]!.linkTo(w);
                if (!c.del) w.addRaw(c.kb, c.ks, c.kl, c.vb, c.vs, c.vl);
              },
              t.bulkShadowed(),
            );
            while (next < spools.length) spools[next++]!.linkTo(w);
          }
        : t.reader;
    // (a store's table is a TableReader once it is of version 2, as every writer's is: migrate())
    if (!(table instanceof TableReader) && (t.bulkShadowed() || t.spools.length)) throw new BulkConflict('a bulk load put aside over a table not of version 2');
    try {
      this.writeGeneration(this.gen + 1, fill, t.spools[0]?.file);
      this.removeOldGenerations();
    } catch (e) {
      // the files still hold the generation before: read it again
      this.gen = -1;
      this.lastTx = tx - 1;
      throw e;
    }
  }

  private apply(ops: Ops): void {
    for (const p of ops.hidden) this.overlay.delPrefix(p);
    for (const [k, v] of ops.map) {
      if (v) this.overlay.put(k, v);
      else this.overlay.del(k);
    }
  }

  /**
   * Write generation `next`: the table from the current view, merged as it
   * is read and written block by block (the memory of one block, whatever
   * the store's size), then an empty journal, then HEAD (we hold the lock).
   * `into`: a bulk load's file, its spools' blocks in it already: the rest
   * is placed after them, and it becomes the table (spool.ts).
   */
  private writeGeneration(next: number, source: KvReader | ((w: TableWriter) => void) = this.view, into?: LoadFile): void {
    const name = `table-${next}`;
    const tmp = `.${name}.${process.pid}.tmp`;
    let fd: number;
    if (into) fd = into.fd;
    else {
      this.files.remove(tmp);
      fd = this.files.openWrite(tmp, 'create-new');
    }
    let bytes: number;
    try {
      const w = into
        ? placedWriter(into, false)
        : new TableWriter((b) => {
            for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off);
          }, { keeps: false });
      if (typeof source === 'function') source(w);
      else for (const [k, v] of source.scan('')) w.add(k, v);
      bytes = w.finish(next, this.lastTx);
      fsyncSync(fd);
    } catch (e) {
      if (into) into.discard();
      else {
        closeSync(fd);
        this.files.remove(tmp);
      }
      throw e instanceof StoreError || e instanceof BulkConflict ? e : ioError(`cannot write ${this.files.show(name)}`, e);
    }
    if (into) into.commitAs(name);
    else {
      closeSync(fd);
      this.files.rename(tmp, name);
    }
    this.files.writeAtomic(`journal-${next}`, encodeJournalHeader({ gen: next, baseTx: this.lastTx }));
    this.files.writeAtomic('HEAD', `${next}\n`);
    // the new table is the view now: read it as any reader would
    const table = this.openTable(next);
    this.table.close?.();
    this.table = table;
    this.overlay = new Changes();
    this.gen = next;
    this.journalEnd = JOURNAL_HEADER;
    this.tableBytes = bytes;
    this.torn = false;
  }

  /** Fold the journal into a new table now (tools and tests; writers do it when it pays). */
  async compactNow(): Promise<void> {
    if (!this.inMemory) await this.locked(() => this.compact());
  }

  /** Fold table and journal into generation G+1 (we hold the lock). */
  private compact(): void {
    this.writeGeneration(this.gen + 1);
    this.removeOldGenerations();
  }

  /** The files of other generations, and any left by a writer that died mid-compaction. */
  private removeOldGenerations(): void {
    for (const f of this.files.list()) {
      const m = /^(?:table|journal|snapshot)-([0-9]+)$/.exec(f);
      if ((m && Number(m[1]) !== this.gen) || f === 'CURRENT') this.files.remove(f);
    }
  }

  /**
   * Version 1 -> 2 (we hold the lock): the new generation is written beside
   * the old one, then FORMAT switches (the commit point: a crash before it
   * leaves the version 1 store as it was), then the old files go.
   */
  private migrate(): void {
    this.lastTx = 0;
    this.writeGeneration(this.gen + 1);
    this.files.writeAtomic('FORMAT', FORMAT_TEXT);
    this.version = STORE_VERSION;
    this.removeOldGenerations();
  }
}
