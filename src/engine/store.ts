/**
 * The embedded engine's durable store: a key/value map of byte strings in a
 * directory of its own (0700, files 0600).
 *
 *   FORMAT        {"format":"setkey-store","version":1}
 *   CURRENT       the live generation G (replaced by atomic rename)
 *   snapshot-G    the whole map at the start of generation G (checksummed)
 *   journal-G     transactions since, one checksummed record each
 *
 * Readers take no lock: they see the snapshot plus every complete record,
 * i.e. a prefix of the committed transactions. Writers hold the lock
 * (lock.ts), append one record per transaction with a single write() and
 * fsync it before acknowledging; a record cut short by kill -9 fails its
 * checksum and is not part of the store (the next writer truncates it).
 * When the journal outgrows the snapshot, a writer folds both into a new
 * generation. The cost of a transaction is its own size, not the store's.
 */
import { closeSync, fdatasyncSync, fsyncSync, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { acquireLock, LockTimeout } from './lock.js';
import { decodeSnapshot, encodeRecord, encodeSnapshot, FormatError, JOURNAL_MAGIC, replayJournal, type Ops } from './store-format.js';

export const STORE_VERSION = 1;
const FORMAT_TEXT = JSON.stringify({ format: 'setkey-store', version: STORE_VERSION }) + '\n';
/**
 * Fold the journal into a new snapshot when it is this large and more than
 * twice the live data: what it holds beyond the live entries (overwritten
 * and deleted ones) is then at least half of it, so the rewrite costs no more
 * than the writes that made it necessary. One large transaction into an
 * empty store is not rewritten at once: its journal is all live.
 */
const COMPACT_BYTES = 8 << 20;

function liveSize(entries: ReadonlyMap<string, Uint8Array>): number {
  let n = 0;
  for (const [k, v] of entries) n += k.length + v.length + 8;
  return n;
}

export type StoreErrorCode = 'foreign' | 'version' | 'corrupt' | 'busy' | 'perm' | 'notdir';

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface StoreOptions {
  /** create the store if the directory does not hold one (default true) */
  readonly create?: boolean;
  readonly lockTimeoutMs?: number;
}

/** A transaction's view: the store as of its start plus its own changes. */
export class Tx {
  private readonly pending = new Map<string, Uint8Array | null>();
  /** since the last checkpoint: each changed key and its pending state before (undefined: none) */
  private undo: [string, Uint8Array | null | undefined][] | undefined;
  constructor(private readonly base: ReadonlyMap<string, Uint8Array>) {}

  /** Start recording changes, so that restore() can take them back (one level). */
  checkpoint(): void {
    this.undo = [];
  }

  /** Undo every change since the last checkpoint. */
  restore(): void {
    const u = this.undo ?? [];
    for (let i = u.length - 1; i >= 0; i--) {
      const [k, prev] = u[i]!;
      if (prev === undefined) this.pending.delete(k);
      else this.pending.set(k, prev);
    }
    this.undo = [];
  }

  get(key: string): Uint8Array | undefined {
    const p = this.pending.get(key);
    if (p !== undefined) return p ?? undefined;
    return this.base.get(key);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  put(key: string, value: Uint8Array): void {
    this.undo?.push([key, this.pending.get(key)]);
    this.pending.set(key, value);
  }

  delete(key: string): void {
    if (!this.has(key)) return;
    this.undo?.push([key, this.pending.get(key)]);
    this.pending.set(key, null);
  }

  /** Keys starting with `prefix`, the store's first and then this transaction's new ones. */
  *keys(prefix: string): Generator<string> {
    for (const k of this.base.keys()) if (k.startsWith(prefix) && this.pending.get(k) !== null) yield k;
    for (const [k, v] of this.pending) if (v !== null && !this.base.has(k) && k.startsWith(prefix)) yield k;
  }

  get changed(): boolean {
    return this.pending.size > 0;
  }

  /** The changes, for the commit (not to be modified). */
  ops(): Ops {
    return this.pending;
  }}

function readIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Write a file whole or not at all: temp file, fsync, rename, fsync the directory. */
function writeAtomic(dir: string, name: string, data: Uint8Array | string): void {
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, name));
  fsyncDir(dir);
}

export class Store {
  private gen = -1;
  private entries = new Map<string, Uint8Array>();
  private journalEnd = 0;
  private snapshotBytes = 0;
  private nextCompactCheck = 0;

  private constructor(
    readonly dir: string,
    private readonly lockTimeoutMs: number,
  ) {}

  /** Open (and by default create) the store in `dir`. */
  static async open(dir: string, opts: StoreOptions = {}): Promise<Store> {
    const s = new Store(dir, opts.lockTimeoutMs ?? 60000);
    let st;
    try {
      st = statSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || opts.create === false) throw e;
      mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
      try {
        mkdirSync(dir, { mode: 0o700 });
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code !== 'EEXIST') throw e2;
      }
      st = statSync(dir);
    }
    if (!st.isDirectory()) throw new StoreError('notdir', `${dir} is not a directory; a store is a directory of its own`);
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) throw new StoreError('perm', `${dir} belongs to another user`);
    if (st.mode & 0o077) throw new StoreError('perm', `${dir} is open to other users (mode ${(st.mode & 0o777).toString(8)}); it holds keys: chmod 700 ${dir}`);
    if (readIfExists(join(dir, 'FORMAT')) === undefined) {
      if (opts.create === false) throw new StoreError('foreign', `${dir} holds no setkey store`);
      await s.withLock(() => s.initialize());
    }
    s.refresh();
    return s;
  }

  private initialize(): void {
    const format = readIfExists(join(this.dir, 'FORMAT'));
    if (format !== undefined) return; // another process made it while we waited for the lock
    const others = readdirSync(this.dir).filter((f) => !f.startsWith('.'));
    if (others.length > 0) throw new StoreError('foreign', `${this.dir} is not empty and holds no setkey store (found ${others.slice(0, 3).join(', ')}); it is left untouched`);
    writeAtomic(this.dir, 'snapshot-0', encodeSnapshot(new Map()));
    writeAtomic(this.dir, 'journal-0', JOURNAL_MAGIC);
    writeAtomic(this.dir, 'CURRENT', '0\n');
    writeAtomic(this.dir, 'FORMAT', FORMAT_TEXT);
  }

  private checkFormat(): void {
    const text = readIfExists(join(this.dir, 'FORMAT'))?.toString('utf8');
    let f: { format?: unknown; version?: unknown };
    try {
      f = JSON.parse(text ?? '');
    } catch {
      throw new StoreError('foreign', `${this.dir}/FORMAT is not a setkey store description; the store is left untouched`);
    }
    if (f.format !== 'setkey-store') throw new StoreError('foreign', `${this.dir} holds a '${String(f.format)}', not a setkey store; it is left untouched`);
    if (f.version !== STORE_VERSION) throw new StoreError('version', `${this.dir} is a version ${String(f.version)} store; this setkey reads version ${STORE_VERSION}`);
  }

  private currentGen(): number {
    const text = readIfExists(join(this.dir, 'CURRENT'))?.toString('latin1').trim();
    const g = Number(text);
    if (text === undefined || !/^[0-9]+$/.test(text) || !Number.isSafeInteger(g)) throw new StoreError('corrupt', `${this.dir}/CURRENT does not name a generation`);
    return g;
  }

  private corrupt(file: string, e: unknown): never {
    const where = e instanceof FormatError ? ` at byte ${e.offset}` : '';
    throw new StoreError('corrupt', `${join(this.dir, file)} is damaged${where}: ${(e as Error).message}; the store is left untouched`);
  }

  /** Bring the in-memory map up to date with the files (lock-free). */
  refresh(): ReadonlyMap<string, Uint8Array> {
    this.checkFormat();
    for (let attempt = 0; ; attempt++) {
      const g = this.currentGen();
      try {
        if (g !== this.gen) this.loadGeneration(g);
        else this.readJournalTail();
        return this.entries;
      } catch (e) {
        // a writer switched generations and removed the old files under us: start over
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 5 && this.currentGen() !== g) continue;
        throw e;
      }
    }
  }

  private loadGeneration(g: number): void {
    const snapName = `snapshot-${g}`;
    const snap = readFileSync(join(this.dir, snapName));
    let entries: Map<string, Uint8Array>;
    try {
      entries = decodeSnapshot(snap);
    } catch (e) {
      this.corrupt(snapName, e);
    }
    const journal = readFileSync(join(this.dir, `journal-${g}`));
    let end: number;
    try {
      end = replayJournal(journal, 0, entries).end;
    } catch (e) {
      this.corrupt(`journal-${g}`, e);
    }
    this.gen = g;
    this.entries = entries;
    this.journalEnd = end;
    this.snapshotBytes = snap.length;
  }

  private readJournalTail(): void {
    const fd = openSync(join(this.dir, `journal-${this.gen}`), 'r');
    try {
      const size = fstatSync(fd).size;
      if (size <= this.journalEnd) return;
      const tail = Buffer.allocUnsafe(size - this.journalEnd);
      const n = readSync(fd, tail, 0, tail.length, this.journalEnd);
      const { end } = replayJournal(Buffer.concat([JOURNAL_MAGIC, tail.subarray(0, n)]), 0, this.entries);
      this.journalEnd += end - JOURNAL_MAGIC.length;
    } finally {
      closeSync(fd);
    }
  }

  private async withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    let lock;
    try {
      lock = await acquireLock(this.dir, this.lockTimeoutMs);
    } catch (e) {
      if (e instanceof LockTimeout) throw new StoreError('busy', e.message);
      throw e;
    }
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }

  /** The store as of now, without taking the lock. */
  read(): ReadonlyMap<string, Uint8Array> {
    return this.refresh();
  }

  /**
   * Run `fn` on the latest state with the lock held; if it returns normally
   * and changed anything, its changes are committed as one record and are
   * durable when this resolves. If it throws, nothing is written.
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
      this.repairTail();
      const tx = new Tx(this.entries);
      let committed = false;
      const commit = (): void => {
        if (committed) throw new Error('a transaction commits once');
        committed = true;
        if (tx.changed) this.commit(tx.ops());
      };
      return await fn(tx, commit);
    });
  }

  /** Cut a torn record left by a writer that died mid-write (we hold the lock). */
  private repairTail(): void {
    const path = join(this.dir, `journal-${this.gen}`);
    const fd = openSync(path, 'r+');
    try {
      if (fstatSync(fd).size > this.journalEnd) {
        ftruncateSync(fd, this.journalEnd);
        fsyncSync(fd);
      }
    } finally {
      closeSync(fd);
    }
  }

  private commit(ops: Ops): void {
    const record = encodeRecord(ops);
    const fd = openSync(join(this.dir, `journal-${this.gen}`), 'a', 0o600);
    try {
      // one write: a transaction is in the journal whole, or (cut short) not at all
      let off = 0;
      while (off < record.length) off += writeSync(fd, record, off, record.length - off);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.journalEnd += record.length;
    for (const [k, v] of ops) {
      if (v) this.entries.set(k, v);
      else this.entries.delete(k);
    }
    // measuring the live data costs a pass over the map: only when the journal has grown by a tenth since
    if (this.journalEnd > COMPACT_BYTES && this.journalEnd > this.nextCompactCheck) {
      this.nextCompactCheck = this.journalEnd + (this.journalEnd >> 3);
      if (this.journalEnd + this.snapshotBytes > 2 * liveSize(this.entries)) this.compact();
    }
  }

  /** Fold snapshot and journal into generation G+1 (we hold the lock). */
  private compact(): void {
    const next = this.gen + 1;
    const snap = encodeSnapshot(this.entries);
    writeAtomic(this.dir, `snapshot-${next}`, snap);
    writeAtomic(this.dir, `journal-${next}`, JOURNAL_MAGIC);
    writeAtomic(this.dir, 'CURRENT', `${next}\n`);
    this.gen = next;
    this.journalEnd = JOURNAL_MAGIC.length;
    this.snapshotBytes = snap.length;
    this.nextCompactCheck = 0;
    // the previous generation, and any left by a writer that died mid-compaction
    for (const f of readdirSync(this.dir)) {
      const m = /^(?:snapshot|journal)-([0-9]+)$/.exec(f);
      if (m && Number(m[1]) !== next) {
        try {
          unlinkSync(join(this.dir, f));
        } catch {
          // already gone
        }
      }
    }
  }
}
