/**
 * The SA and policy texts written from their bytes (sadump-bytes.ts,
 * spdump-bytes.ts) as one writer: a message is taken by whichever it is
 * for, in order with the other's text (each is flushed before the other
 * writes), or by neither (-1: the caller prints it the long way, after a
 * flush()).
 */
import { MsgType } from '../pfkey/constants.js';
import type { SaFields } from '../pfkey/sa-fields.js';
import type { PostprocOptions } from './postproc.js';
import { SaTextWriter } from './sadump-bytes.js';
import { PolicyTextWriter } from './spdump-bytes.js';

export class DumpTextWriter {
  private readonly sa: SaTextWriter;
  private readonly sp: PolicyTextWriter;

  constructor(o: PostprocOptions, sink: (b: Uint8Array) => void) {
    this.sa = new SaTextWriter(o, sink);
    this.sp = new PolicyTextWriter(o, sink);
  }

  /** the writer that took the last message (its text may still be in its buffer) */
  private last: SaTextWriter | PolicyTextWriter | undefined;

  /** The text of message `m` written, and its sadb_msg_seq returned; -1 if neither writer takes it. */
  take(m: Uint8Array): number {
    // by its type: the SA writer takes SADB_DUMP entries, the policy writer SPDDUMP and SPDGET ones
    const w = m.length > 1 && m[1] === MsgType.DUMP ? this.sa : this.sp;
    // the other's text out first, only when the writer changes (a flush an entry was a write an entry)
    if (this.last !== undefined && this.last !== w) this.last.flush();
    const seq = w.take(m);
    if (seq >= 0) this.last = w;
    return seq;
  }

  /** The text of an SA given by its fields (a backend's, with no message), and its sadb_msg_seq; -1 if not taken. */
  takeFields(f: SaFields): number {
    if (this.last === this.sp) this.sp.flush();
    const seq = this.sa.takeFields(f);
    if (seq >= 0) this.last = this.sa;
    return seq;
  }

  flush(): void {
    this.sa.flush();
    this.sp.flush();
    this.last = undefined;
  }
}
