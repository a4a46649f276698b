/**
 * A worker thread that loads a bulk load's SAs (sa-offload.ts starts it),
 * batch by batch, with an SaLoader (sa-loader.ts): their records into the
 * SA records' spool as they come, their identities sorted into a spool of
 * their own at the end.
 *
 * The main thread meanwhile checks the file and loads the policies (their
 * records into the same file: spool.ts): the two halves of the work, on
 * two cores. Once it has read the whole file, it takes back the batches
 * this thread has not begun, from the last one back (each batch's
 * `claims` entry: 1 taken here, 2 taken there, by compare-and-swap), and
 * loads them itself: the two meet in the middle, and the SAs those give
 * are all after this thread's. Their identities come with the end.
 *
 *   in:  workerData { role: 'sa-loader', file (OffloadSpools: the load's file), now, handled, claims },
 *        or workerData { role: 'sa-waiting' } and then { start: the same } (started ahead: sa-offload.ts prestartSaWorker)
 *        { text } | { bytes }        the text the statements of the next batches stand in (or its bytes, a char a byte)
 *        { at: Float64Array, batch } start, semi, order of each statement of batch number `batch` (order negative: unchecked)
 *        { pids, count, base }       the identities of `count` policies (policy-ids.ts packPolicy), their orders less `base`
 *        { end: true, ids? }         ids: satype, dst, spi, order of each SA the main thread loaded
 *        (each message's KiB (messageKiB) counted in `handled[0]` once handled: the main thread paces itself by it;
 *        it counts what it posted in `handled[1]`: the worker is idle when the two are equal; `handled[2]` is 1
 *        once the end is posted: then nothing is done ahead of it)
 *   out: { ok: true, records, identities, policies (the blocks each spool got), counts }
 *        { ok: false, conflict } | { ok: false, store: { code, message } } | { ok: false, bug }
 */
import type { OffloadSpools } from '../engine/bulk-load.js';
import { BulkConflict } from '../engine/sorted-layer.js';
import { StoreError } from '../engine/store-dir.js';
import { lazyWorkerThreads } from '../sys/builtin.js';
import { PolicyIdentities } from './policy-ids.js';
import { SaLoader, SETTLE_MS, warmUpSort } from './sa-loader.js';
import { messageKiB, type SaWorkerMessage, type SaWorkerReply } from './sa-messages.js';

/** What a failure is told as (a store's failure keeps its code; anything else unexpected is a bug). */
function reply(e: unknown): SaWorkerReply {
  if (e instanceof BulkConflict) return { ok: false, conflict: e.message };
  if (e instanceof StoreError) return { ok: false, store: { code: e.code, message: e.message } };
  // (one line: it reaches the user as an internal error; SETKEY_DEBUG=1 shows the main thread's stack)
  return { ok: false, bug: e instanceof Error ? `${e.name}: ${e.message} (${(e.stack ?? '').split('\n')[1]?.trim() ?? 'no stack'})` : String(e) };
}

/** The thread's work: batches until the end, then one reply (the first failure's, if any: what follows it is not read). */
function run(workerData: unknown): void {
  const port = lazyWorkerThreads().parentPort!;
  const data = workerData as OffloadSpools & { now: string; handled: Int32Array; claims: Int32Array };
  // each message counted once handled, whatever came of it (the main thread waits while it is far ahead)
  // (messages handled: a wait for settling is over once another is)
  let count = 0;
  const idle = (): boolean => !failed && Atomics.load(data.handled, 0) === Atomics.load(data.handled, 1) && Atomics.load(data.handled, 2) === 0;
  const handled = (m: SaWorkerMessage): void => {
    Atomics.add(data.handled, 0, messageKiB(m));
    Atomics.notify(data.handled, 0);
    const seen = ++count;
    // nothing more posted yet (and not the end: it is handled next): time for what the end would do
    if (!idle()) return;
    try {
      loader?.idle();
    } catch (e) {
      failed = reply(e);
    }
    // and, nothing more come for a while, for more of it
    setTimeout(() => {
      if (seen !== count || !idle()) return;
      try {
        loader?.settled();
      } catch (e) {
        failed = reply(e);
      }
    }, SETTLE_MS);
  };

  let loader: SaLoader | undefined;
  let failed: SaWorkerReply | undefined;
  try {
    loader = new SaLoader(data, BigInt(data.now));
    warmUpSort();
  } catch (e) {
    failed = reply(e);
  }
  let text = '';
  let bytes: Uint8Array | undefined;
  const policies = new PolicyIdentities();
  port.on('message', (m: SaWorkerMessage) => {
    if ('end' in m) {
      let r = failed;
      if (!r) {
        try {
          r = { ok: true, ...loader!.end(m.ids), policies: policies.end(data.file) };
        } catch (e) {
          r = reply(e);
        }
      }
      port.postMessage(r);
      return;
    }
    try {
      if (failed) return;
      if ('text' in m) (text = m.text), (bytes = undefined);
      else if ('bytes' in m) (bytes = m.bytes), (text = '');
      else if ('pids' in m) policies.add(m.pids, m.count, m.base);
      // (a batch the main thread took back: it has all those after it too)
      else if (m.batch >= data.claims.length || Atomics.compareExchange(data.claims, m.batch, 0, 1) === 0) loader!.load(bytes ?? text, m.at);
    } catch (e) {
      failed = reply(e);
    } finally {
      handled(m);
    }
  });
}

const role = lazyWorkerThreads().isMainThread ? undefined : (lazyWorkerThreads().workerData as { role?: string } | undefined)?.role;
if (role === 'sa-loader') run(lazyWorkerThreads().workerData);
// started ahead: its load's data in its first message (what follows is the load's)
else if (role === 'sa-waiting') lazyWorkerThreads().parentPort!.once('message', (m: { readonly start: unknown }) => run(m.start));
