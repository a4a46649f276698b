/**
 * Lifetime deadlines, kept in the store as `e/<when>/<kind>/<key>` so that
 * the due ones are found in order; `m/nextdl` caches the earliest one so a
 * transaction with nothing due does not look further.
 */
import type { Tx } from './store.js';
import { peekCounter, setCounter } from './context.js';
import { deadlineKey, type DeadlineKind } from './records.js';

const NEXT = 'nextdl';
const NONE = 1n << 62n;

export function nextDeadline(tx: Pick<Tx, 'get'>): bigint {
  return peekCounter(tx, NEXT, NONE);
}

export function setNextDeadline(tx: Tx, when: bigint): void {
  setCounter(tx, NEXT, when);
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
