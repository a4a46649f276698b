/**
 * Where the engine keeps SAs and policies, so that the operations that
 * must be cheap are: finding one by its identity, and reading them all in
 * the order a dump lists them, in one pass over the store without holding
 * them.
 *
 *   <identity key>          -> u64 order          (s/..., z/..., p/..., q/...: records.ts)
 *   R/S/<order>, R/P/<order> -> the stored record (records.ts)
 *   m/n/S/<satype>, m/n/P    -> how many records there are (a dump's numbering needs it first)
 *
 * Orders grow with each insertion, so a table's R/ range is already in dump
 * order (newest first is the range read backwards), and a bulk apply adds
 * to the end of it. Every write of a record goes through here, so the counts
 * stay exact; the transaction's undo takes them back with the rest.
 */
import type { Tx } from './store.js';
import { decodeStored, hex8 } from './records.js';
import { putU64Number, readU64, u64 } from './u64.js';

export type Table = 'S' | 'P';

const LAYOUT = 'm/layout';
const LAYOUT_VERSION = 2;

function orderHex(order: bigint): string {
  // (ORDER_DIGITS of them)
  // (a u32's digits from a table: toString(16) and padStart took 30 ms of a bulk load of 200k records; orders stay far below 2^53)
  if (order < 0x100000000n) {
    return '00000000' + hex8(Number(order));
  }
  return (order < 0x20000000000000n ? Number(order) : order).toString(16).padStart(16, '0');
}

function recordKey(t: Table, order: bigint): string {
  return `R/${t}/${orderHex(order)}`;
}

/** The hex digits of a record key's order. */
export const ORDER_DIGITS = 16;

/** The prefix of a table's record keys (recordKey). */
export function recordsPrefix(t: Table): string {
  return `R/${t}/`;
}

function countKey(t: Table, satype: number | 'all'): string {
  return t === 'S' ? `m/n/S/${satype}` : 'm/n/P';
}

function bump(tx: Tx, key: string, delta: number): void {
  // held in memory and written at the commit (Tx cells)
  tx.setCell(key, tx.cell(key) + delta);
}

/** One record more or fewer, in every count it is part of. */
function count(tx: Tx, t: Table, rec: Uint8Array, delta: number): void {
  if (t === 'P') return bump(tx, countKey('P', 'all'), delta);
  bump(tx, countKey('S', satypeOf(rec)), delta);
  bump(tx, countKey('S', 'all'), delta);
}

/** The SA type of a stored record (the message header's byte 3). */
function satypeOf(rec: Uint8Array): number {
  return rec.length > 19 ? rec[19]! : 0;
}

/** The stored record of an identity, or undefined. */
export function getEntry(tx: Tx, t: Table, key: string): Uint8Array | undefined {
  const ptr = tx.get(key);
  if (!ptr) return undefined;
  return tx.get(recordKey(t, readU64(ptr)));
}

/** Store a record under its identity (replacing the one there, wherever its order put it). */
export function putEntry(tx: Tx, t: Table, key: string, rec: Uint8Array): void {
  const order = decodeStored(rec).order;
  const ptr = tx.get(key);
  if (!ptr) count(tx, t, rec, 1);
  else if (readU64(ptr) !== order) tx.delete(recordKey(t, readU64(ptr)));
  if (!ptr || readU64(ptr) !== order) tx.put(key, u64(order));
  tx.put(recordKey(t, order), rec);
}

/**
 * Where a bulk load puts the new entries of a table: what putEntry does for
 * an identity known to be new (the load checked), without asking again,
 * reading the order back from the record, or counting it (the load counts:
 * countNew). Its streams (Tx.bulkPut) are found once.
 */
export class NewEntries {
  private readonly identities: (key: string, value: Uint8Array) => void;
  private readonly records: (order: number, value: Uint8Array, length: number) => void;

  /**
   * `identities`: the prefix the table's identity keys have (records.ts: s/ or p/);
   * `records`: where the records go, if not the transaction's stream (Tx.bulkPutNumbered's of the table's records)
   */
  constructor(tx: Tx, t: Table, identities: string, records?: (order: number, value: Uint8Array, length: number) => void) {
    this.identities = tx.bulkPut(identities);
    // (recordKey's keys: the prefix and the order's ORDER_DIGITS hex digits)
    this.records = records ?? tx.bulkPutNumbered(recordsPrefix(t), ORDER_DIGITS);
  }

  /** An entry of `order` (a Number: a load keeps its orders so, below 2^53), its record rec[0, length). */
  put(key: string, order: number, rec: Uint8Array, length: number): void {
    this.identity(key, order);
    this.records(order, rec, length);
  }

  /** An entry's record alone (its identity written elsewhere: a worker's). */
  record(order: number, rec: Uint8Array, length: number): void {
    this.records(order, rec, length);
  }

  /** An entry's identity alone (its record written to the stream's spool elsewhere: a worker's). */
  identity(key: string, order: number): void {
    // the streams copy what they are given: one scratch u64 serves them all (and `rec` may be a scratch too)
    putU64Number(SCRATCH, 0, order);
    this.identities(key, SCRATCH);
  }
}

const SCRATCH = new Uint8Array(8);

/** `n` more records of a table (of SA type `satype`) in its counts: what putNewEntry leaves to its caller, for a whole load at once. */
export function countNew(tx: Tx, t: Table, satype: number, n: number): void {
  if (t === 'P') return bump(tx, countKey('P', 'all'), n);
  bump(tx, countKey('S', satype), n);
  bump(tx, countKey('S', 'all'), n);
}

/** Remove a record and its identity. */
export function deleteEntry(tx: Tx, t: Table, key: string): void {
  const ptr = tx.get(key);
  if (!ptr) return;
  const rk = recordKey(t, readU64(ptr));
  const v = tx.get(rk);
  tx.delete(rk);
  tx.delete(key);
  if (v) count(tx, t, v, -1);
}

/** How many records there are (SAs: of one type, or all). */
export function countEntries(tx: Tx, t: Table, satype: number | 'all' = 'all'): number {
  return Math.max(0, tx.cell(countKey(t, satype)));
}

/** Every record, newest first (a dump's order), read in one pass. */
export function* newestFirst(tx: Tx, t: Table): Generator<Uint8Array> {
  for (const [, v] of tx.scan(`R/${t}/`, true)) yield v;
}

/** Everything of a table gone at once (a flush of all): a few prefix deletions, not one per entry. */
export function deleteAll(tx: Tx, t: Table, identityPrefixes: readonly string[]): void {
  tx.deletePrefix(`R/${t}/`);
  for (const p of identityPrefixes) tx.deletePrefix(p);
  tx.deletePrefix(t === 'S' ? 'm/n/S/' : 'm/n/P');
}

/** Whether a store is in this layout already (a reader need not upgrade it). */
export function layoutCurrent(r: { get(key: string): Uint8Array | undefined }): boolean {
  const v = r.get(LAYOUT);
  return v !== undefined && readU64(v) >= BigInt(LAYOUT_VERSION);
}

/**
 * Stores written before this layout (records under their identity keys)
 * are brought to it once, in the first session that opens them.
 */
export function upgradeLayout(tx: Tx, tables: readonly (readonly [Table, readonly string[]])[]): boolean {
  const v = tx.get(LAYOUT);
  if (v && readU64(v) >= BigInt(LAYOUT_VERSION)) return false;
  for (const [t, prefixes] of tables) {
    for (const p of prefixes) {
      for (const [key, rec] of [...tx.scan(p)]) {
        // a pointer already (a store half way): leave it
        if (rec.length === 8) continue;
        tx.delete(key);
        putEntry(tx, t, key, rec);
      }
    }
  }
  tx.put(LAYOUT, u64(BigInt(LAYOUT_VERSION)));
  return true;
}
