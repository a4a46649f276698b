/**
 * Lifetime deadlines, kept in the store as `e/<when>/<kind>/<key>` so that
 * the due ones are found in order; `m/nextdl` caches the earliest one so a
 * transaction with nothing due does not look further.
 */
import type { Tx } from './store.js';
import { peekCounter, type Ctx } from './context.js';
import { deadlineKey, type DeadlineKind } from './records.js';

const NEXT = 'nextdl';
const NONE = 1n << 62n;

/** The earliest pending deadline as stored (for a reader outside any session). */
export function storedNextDeadline(map: Pick<Tx, 'get'>): bigint {
  return peekCounter(map, NEXT, NONE);
}

export function nextDeadline(c: Ctx): bigint {
  return c.counters.peek(NEXT, NONE);
}

export function setNextDeadline(c: Ctx, when: bigint): void {
  c.counters.set(NEXT, when);
}

export function addDeadline(c: Ctx, when: bigint, kind: DeadlineKind, key: string): void {
  c.tx.put(deadlineKey(when, kind, key), EMPTY);
  if (when < nextDeadline(c)) setNextDeadline(c, when);
}

const EMPTY = new Uint8Array(0);

/** The cached minimum may now be early; the next expiry run recomputes it. */
export function removeDeadline(c: Ctx, when: bigint, kind: DeadlineKind, key: string): void {
  c.tx.delete(deadlineKey(when, kind, key));
}

export { NONE as NO_DEADLINE };
