/**
 * Replies as a Linux PF_KEY socket makes them, for every backend that
 * answers in PF_KEY form (the embedded engine, XFRM translated): an error
 * reply is the request's header with sadb_msg_errno set and length 2
 * (af_key.c pfkey_error), and dump entries are numbered 1..N-1, the last 0
 * (pfkey_do_dump).
 */
import { pool } from './pool.js';
import { serialize } from './serialize.js';
import type { SadbHeader, SadbMsg } from './types.js';

/** The error reply to a request (its bytes): the header alone, errno set, length 2. */
export function errorReplyOf(request: Uint8Array, errno: number): Uint8Array {
  // a copy of its own: a Buffer's slice() is a view of the caller's bytes (and of Node's pool)
  const b = new Uint8Array(16);
  b.set(request.subarray(0, 16));
  b[2] = errno;
  // sadb_msg_len, host order
  b[4] = 2;
  b[5] = 0;
  return b;
}

/** sadb_msg_seq of entry i of n in a dump. */
export function dumpSeq(i: number, n: number): number {
  return i === n - 1 ? 0 : i + 1;
}

/** where patchHeader's copies are cut from (a dump of 100k SAs from the store made 100k ArrayBuffers: ~60 ms of its 0.5 s) */
const copies = pool(64 << 10);

/** Header field `at` (u32, host order: little-endian, as Linux lays it out) set to v. */
function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 255;
  b[at + 1] = (v >>> 8) & 255;
  b[at + 2] = (v >>> 16) & 255;
  b[at + 3] = v >>> 24;
}

/** A copy of a message with header fields replaced. */
export function patchHeader(msg: Uint8Array, patch: { type?: number; seq?: number; pid?: number }): Uint8Array {
  const b = copies(msg.length);
  b.set(msg);
  if (patch.type !== undefined) b[1] = patch.type;
  if (patch.seq !== undefined) put32(b, 8, patch.seq >>> 0);
  if (patch.pid !== undefined) put32(b, 12, patch.pid >>> 0);
  return b;
}

/** A message's bytes under other header fields. */
export function withHeader(m: SadbMsg, patch: Partial<SadbHeader>): Uint8Array {
  return serialize({ header: { ...m.header, ...patch }, exts: m.exts });
}
