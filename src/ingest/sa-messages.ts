/**
 * What the main thread and a load's SA worker (sa-offload.ts, sa-worker.ts)
 * say to each other. A module of its own, without side effects: the main
 * bundle imports it, and importing the worker's module would start-up its
 * thread's check (node:worker_threads loaded by every command).
 */
import type { SaOffloadResult } from '../engine/bulk-load.js';
import type { StoreError } from '../engine/store-dir.js';

export type SaWorkerMessage =
  | { readonly text: string }
  | { readonly bytes: Uint8Array }
  | { readonly at: Float64Array; readonly batch: number }
  | { readonly pids: Uint32Array; readonly count: number; readonly base: number }
  | { readonly end: true; readonly ids?: Float64Array };

export type SaWorkerReply =
  | ({ readonly ok: true } & SaOffloadResult)
  | { readonly ok: false; readonly conflict: string }
  | { readonly ok: false; readonly store: { readonly code: StoreError['code']; readonly message: string } }
  | { readonly ok: false; readonly bug: string };

/**
 * What a message weighs in the worker's queue, in KiB (at least 1): its text, bytes or
 * arrays. Both threads count it alike: the main thread what it posted, the worker
 * what it has handled.
 */
export function messageKiB(m: SaWorkerMessage): number {
  const bytes = 'text' in m ? m.text.length : 'bytes' in m ? m.bytes.byteLength : 'at' in m ? m.at.byteLength : 'pids' in m ? 28 * m.count : 0;
  return 1 + (bytes >>> 10);
}
