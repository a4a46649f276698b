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
    this.seq = (this.seq + 1) >>> 0;
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

  /**
   * Several requests in one datagram (the kernel handles them in order and
   * acks each): the answers in request order. For bulk work that needs no
   * reply but the ack, one system call instead of one per request.
   */
  async requestMany(reqs: readonly { type: number; fixed: Uint8Array; attrs: readonly Attr[] }[]): Promise<Answer[]> {
    const seqs = reqs.map(() => this.nextSeq());
    const parts = reqs.map((r, i) => buildMessage({ type: r.type, flags: NlmF.REQUEST | NlmF.ACK, seq: seqs[i]!, pid: 0 }, r.fixed, r.attrs));
    let size = 0;
    for (const p of parts) size += p.length;
    const datagram = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      datagram.set(p, at);
      at += p.length;
    }
    this.t.send(datagram);
    const first = seqs[0]!;
    const answers: (Answer | undefined)[] = new Array(reqs.length);
    let left = reqs.length;
    while (left > 0) {
      for (const m of splitDatagram(await this.t.recv())) {
        const i = (m.header.seq - first) >>> 0;
        if (i >= reqs.length || m.header.type !== Nlmsg.ERROR || answers[i]) continue;
        const a = readAck(m);
        answers[i] = a.message !== undefined ? { errno: a.errno, message: a.message, replies: [] } : { errno: a.errno, replies: [] };
        left--;
      }
    }
    return answers as Answer[];
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
