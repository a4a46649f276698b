/**
 * Requests and dumps over one NETLINK_XFRM socket: sequence numbers, acks
 * with the kernel's extended-ack text, multipart dumps: held whole and
 * retried when the kernel marks them interrupted (NLM_F_DUMP_INTR: the table
 * changed while it was being walked), or handed on as they come.
 */
import { NlmF, Nlmsg } from './constants.js';
import { buildMessage, messageLength, writeMessage, readAck, splitDatagram, type Attr, type NlMessage } from './netlink.js';

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

/** A request of a datagram that the kernel did not refuse. */
const DONE: Answer = Object.freeze({ errno: 0, replies: Object.freeze([]) as unknown as NlMessage[] });

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
   * Several requests in one datagram: the answers in request order. For
   * bulk work that needs no reply but the outcome: one system call to send
   * them, and only the last asks for an ack. The kernel handles a datagram's
   * requests in order, within the send (netlink_rcv_skb), and answers a
   * refusal whether or not an ack was asked for; so when the last request's
   * answer comes, every refusal before it has come too, and a request with
   * none was done. (ip -batch waits for an ack per request: 2 system calls
   * each; here 2 per datagram.)
   */
  async requestMany(reqs: readonly { type: number; fixed: Uint8Array; attrs: readonly Attr[] }[]): Promise<Answer[]> {
    const n = reqs.length;
    const first = this.seq + 1;
    // written in place, one datagram: not a buffer per message copied into it
    const lens: number[] = new Array(n);
    let size = 0;
    for (let i = 0; i < n; i++) size += lens[i] = messageLength(reqs[i]!.fixed, reqs[i]!.attrs);
    const datagram = new Uint8Array(size);
    const v = new DataView(datagram.buffer);
    let at = 0;
    for (let i = 0; i < n; i++) {
      const r = reqs[i]!;
      writeMessage(datagram, v, at, lens[i]!, { type: r.type, flags: NlmF.REQUEST | (i === n - 1 ? NlmF.ACK : 0), seq: this.nextSeq(), pid: 0 }, r.fixed, r.attrs);
      at += lens[i]!;
    }
    this.t.send(datagram);
    const answers: Answer[] = new Array(n);
    let lastSeen = false;
    while (!lastSeen) {
      for (const m of splitDatagram(await this.t.recv())) {
        const i = (m.header.seq - first) >>> 0;
        if (i >= n || m.header.type !== Nlmsg.ERROR || answers[i]) continue;
        const a = readAck(m);
        answers[i] = a.message !== undefined ? { errno: a.errno, message: a.message, replies: [] } : { errno: a.errno, replies: [] };
        if (i === n - 1) lastSeen = true;
      }
    }
    for (let i = 0; i < n; i++) answers[i] ??= DONE;
    return answers;
  }

  /** A dump: every message up to NLMSG_DONE; walked again if the kernel says the walk was interrupted. */
  async dump(type: number, fixed: Uint8Array = new Uint8Array(0), attrs: readonly Attr[] = []): Promise<Answer> {
    for (let attempt = 0; ; attempt++) {
      const replies: NlMessage[] = [];
      const a = await this.dumpEach(type, (m) => replies.push(m), fixed, attrs);
      if (!a.interrupted || attempt >= DUMP_RETRIES) return a.message !== undefined ? { errno: a.errno, message: a.message, replies } : { errno: a.errno, replies };
    }
  }

  /**
   * A dump handed on message by message as the kernel sends it (in the
   * memory of one datagram), up to NLMSG_DONE or the error. `interrupted`:
   * the kernel said the table changed during the walk (NLM_F_DUMP_INTR), so
   * an entry may be missing or come twice; handed on already, the messages
   * cannot be walked again (dump() walks again, holding them all).
   */
  async dumpEach(type: number, each: (m: NlMessage) => void, fixed: Uint8Array = new Uint8Array(0), attrs: readonly Attr[] = []): Promise<{ errno: number; message?: string; interrupted: boolean }> {
    const seq = this.nextSeq();
    this.t.send(buildMessage({ type, flags: NlmF.REQUEST | NlmF.DUMP, seq, pid: 0 }, fixed, attrs));
    let interrupted = false;
    for (;;) {
      for (const m of splitDatagram(await this.t.recv())) {
        if (m.header.seq !== seq) continue;
        if (m.header.flags & NlmF.DUMP_INTR) interrupted = true;
        if (m.header.type === Nlmsg.DONE) return { errno: 0, interrupted };
        if (m.header.type === Nlmsg.ERROR) {
          const a = readAck(m);
          return a.message !== undefined ? { errno: a.errno, message: a.message, interrupted } : { errno: a.errno, interrupted };
        }
        each(m);
      }
    }
  }

  close(): void {
    this.t.close();
  }
}
