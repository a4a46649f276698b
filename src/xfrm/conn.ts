/**
 * Requests and dumps over one NETLINK_XFRM socket: sequence numbers, acks
 * with the kernel's extended-ack text, multipart dumps that are retried when
 * the kernel marks them interrupted (NLM_F_DUMP_INTR: the table changed
 * while it was being walked).
 */
import { NlmF, Nlmsg } from './constants.js';
import { buildMessage, readAck, splitDatagram, type Attr, type NlMessage } from './netlink.js';

/** A datagram socket to the kernel (src/xfrm/netlink-socket.ts, or a test double). */
export interface Transport {
  readonly portId: number;
  send(datagram: Uint8Array): void;
  recv(signal?: AbortSignal): Promise<Uint8Array>;
  close(): void;
}

export interface Answer {
  /** 0, or the positive errno of the kernel's refusal */
  readonly errno: number;
  /** the kernel's extended-ack text */
  readonly message?: string;
  /** the messages that came before the ack or the end of the dump */
  readonly replies: NlMessage[];
}

const DUMP_RETRIES = 5;

export class XfrmConn {
  private seq = 0;
  constructor(private readonly t: Transport) {}

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  /** One request with NLM_F_ACK: the replies (a GET's answer), then the ack or the error. */
  async request(type: number, fixed: Uint8Array, attrs: readonly Attr[] = [], flags = 0): Promise<Answer> {
    const seq = this.nextSeq();
    this.t.send(buildMessage({ type, flags: NlmF.REQUEST | NlmF.ACK | flags, seq, pid: 0 }, fixed, attrs));
    const replies: NlMessage[] = [];
    for (;;) {
      for (const m of splitDatagram(await this.t.recv())) {
        // anything else on this socket (an answer to an earlier, abandoned request) is not ours
        if (m.header.seq !== seq) continue;
        if (m.header.type === Nlmsg.ERROR) {
          const a = readAck(m);
          return a.message !== undefined ? { errno: a.errno, message: a.message, replies } : { errno: a.errno, replies };
        }
        replies.push(m);
      }
    }
  }

  /** A dump: every message up to NLMSG_DONE; walked again if the kernel says the walk was interrupted. */
  async dump(type: number, fixed: Uint8Array = new Uint8Array(0), attrs: readonly Attr[] = []): Promise<Answer> {
    for (let attempt = 0; ; attempt++) {
      const seq = this.nextSeq();
      this.t.send(buildMessage({ type, flags: NlmF.REQUEST | NlmF.DUMP, seq, pid: 0 }, fixed, attrs));
      const replies: NlMessage[] = [];
      let interrupted = false;
      let done: Answer | undefined;
      while (!done) {
        for (const m of splitDatagram(await this.t.recv())) {
          if (m.header.seq !== seq) continue;
          if (m.header.flags & NlmF.DUMP_INTR) interrupted = true;
          if (m.header.type === Nlmsg.DONE) {
            done = { errno: 0, replies };
            break;
          }
          if (m.header.type === Nlmsg.ERROR) {
            const a = readAck(m);
            done = a.message !== undefined ? { errno: a.errno, message: a.message, replies } : { errno: a.errno, replies };
            break;
          }
          replies.push(m);
        }
      }
      if (!interrupted || attempt >= DUMP_RETRIES) return done;
    }
  }

  close(): void {
    this.t.close();
  }
}
