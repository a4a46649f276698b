/**
 * Lifetime deadlines, kept in the store as `e/<when>/<kind>/<key>` so that
 * the due ones are found in order; `m/nextdl` caches the earliest one so a
 * transaction with nothing due does not look further.
 */
import type { Tx } from './store.js';
import { deadlineKey, type DeadlineKind } from './records.js';

const NEXT = 'm/nextdl';
const NONE = 1n << 62n;

export function nextDeadline(tx: Tx): bigint {
  const v = tx.get(NEXT);
  return v ? BigInt(Buffer.from(v).toString('latin1')) : NONE;
}

export function setNextDeadline(tx: Tx, when: bigint): void {
  tx.put(NEXT, Buffer.from(when.toString(), 'latin1'));
}

export function addDeadline(tx: Tx, when: bigint, kind: DeadlineKind, key: string): void {
  tx.put(deadlineKey(when, kind, key), new Uint8Array(0));
  if (when < nextDeadline(tx)) setNextDeadline(tx, when);
}

/** The cached minimum may now be early; the next expiry run recomputes it. */
export function removeDeadline(tx: Tx, when: bigint, kind: DeadlineKind, key: string): void {
  tx.delete(deadlineKey(when, kind, key));
}

export { NONE as NO_DEADLINE };
