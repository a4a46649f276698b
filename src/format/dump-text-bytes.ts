/**
 * The SA and policy texts written from their bytes (sadump-bytes.ts,
 * spdump-bytes.ts) as one writer: a message is taken by whichever it is
 * for, in order with the other's text (each is flushed before the other
 * writes), or by neither (-1: the caller prints it the long way, after a
 * flush()).
 */
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

  /** The text of message `m` written, and its sadb_msg_seq returned; -1 if neither writer takes it. */
  take(m: Uint8Array): number {
    this.sp.flush();
    const seq = this.sa.take(m);
    if (seq >= 0) return seq;
    this.sa.flush();
    return this.sp.take(m);
  }

  flush(): void {
    this.sa.flush();
    this.sp.flush();
  }
}
