/**
 * Netlink framing (include/uapi/linux/netlink.h, RFC 3549): a message is a
 * 16-byte nlmsghdr and a payload padded to 4 bytes; attributes are
 * (u16 len, u16 type, value) padded to 4. Errors and acks are NLMSG_ERROR
 * carrying a negative errno, the request's header (and with NETLINK_EXT_ACK
 * the kernel's text in NLMSGERR_ATTR_MSG).
 */
import { NLA_HDRLEN, NLMSG_HDRLEN, NlmF, Nlmsg, NlmsgerrAttr } from './constants.js';

export interface NlHeader {
  len: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

export interface NlMessage {
  readonly header: NlHeader;
  /** the bytes after the header, up to nlmsg_len */
  readonly payload: Uint8Array;
}

export interface Attr {
  readonly type: number;
  readonly value: Uint8Array;
}

export class NetlinkError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

export function align4(n: number): number {
  return (n + 3) & ~3;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** The length of a message of this fixed payload and these attributes. */
export function messageLength(fixed: Uint8Array, attrs: readonly Attr[] = []): number {
  let len = NLMSG_HDRLEN + align4(fixed.length);
  for (const a of attrs) len += align4(NLA_HDRLEN + a.value.length);
  return len;
}

/**
 * Write one message at `at` of `b` (zeroed, `len` bytes free there: its
 * padding is not written): header, fixed payload, then attributes
 * (NLA_F_NESTED etc. not used by XFRM).
 */
export function writeMessage(b: Uint8Array, v: DataView, at: number, len: number, h: Omit<NlHeader, 'len'>, fixed: Uint8Array, attrs: readonly Attr[] = []): void {
  v.setUint32(at, len, true);
  v.setUint16(at + 4, h.type, true);
  v.setUint16(at + 6, h.flags, true);
  v.setUint32(at + 8, h.seq >>> 0, true);
  v.setUint32(at + 12, h.pid >>> 0, true);
  b.set(fixed, at + NLMSG_HDRLEN);
  let a0 = at + NLMSG_HDRLEN + align4(fixed.length);
  for (const a of attrs) {
    v.setUint16(a0, NLA_HDRLEN + a.value.length, true);
    v.setUint16(a0 + 2, a.type, true);
    b.set(a.value, a0 + NLA_HDRLEN);
    a0 += align4(NLA_HDRLEN + a.value.length);
  }
}

/** One message: header, fixed payload, then attributes. */
export function buildMessage(h: Omit<NlHeader, 'len'>, fixed: Uint8Array, attrs: readonly Attr[] = []): Uint8Array {
  const len = messageLength(fixed, attrs);
  const b = new Uint8Array(len);
  writeMessage(b, view(b), 0, len, h, fixed, attrs);
  return b;
}

/** The messages of one datagram; a message whose length runs past the datagram is an error. */
export function splitDatagram(b: Uint8Array): NlMessage[] {
  const v = view(b);
  const out: NlMessage[] = [];
  let at = 0;
  while (at + NLMSG_HDRLEN <= b.length) {
    const len = v.getUint32(at, true);
    if (len < NLMSG_HDRLEN || at + len > b.length) throw new NetlinkError(`netlink message of length ${len} at byte ${at} does not fit the ${b.length}-byte datagram`, at);
    out.push({
      header: { len, type: v.getUint16(at + 4, true), flags: v.getUint16(at + 6, true), seq: v.getUint32(at + 8, true), pid: v.getUint32(at + 12, true) },
      payload: b.subarray(at + NLMSG_HDRLEN, at + len),
    });
    at += align4(len);
  }
  return out;
}

/** The attributes after a fixed part of `fixedLen` bytes. */
export function parseAttrs(payload: Uint8Array, fixedLen: number): Attr[] {
  const v = view(payload);
  const out: Attr[] = [];
  let at = align4(fixedLen);
  while (at + NLA_HDRLEN <= payload.length) {
    const len = v.getUint16(at, true);
    if (len < NLA_HDRLEN || at + len > payload.length) throw new NetlinkError(`attribute of length ${len} at byte ${at} runs past its message`, at);
    // the top bits of nla_type are NLA_F_NESTED / NLA_F_NET_BYTEORDER
    out.push({ type: v.getUint16(at + 2, true) & 0x3fff, value: payload.subarray(at + NLA_HDRLEN, at + len) });
    at += align4(len);
  }
  return out;
}

export function attr(attrs: readonly Attr[], type: number): Uint8Array | undefined {
  for (const a of attrs) if (a.type === type) return a.value;
  return undefined;
}

export interface NlAck {
  /** 0 for an ack, else the positive errno */
  readonly errno: number;
  /** the kernel's extended-ack text, if any */
  readonly message?: string;
  /** sequence number of the request it answers */
  readonly seq: number;
}

/** An NLMSG_ERROR message: errno, the request's header, and extended-ack attributes. */
export function readAck(m: NlMessage): NlAck {
  if (m.payload.length < 4) throw new NetlinkError('NLMSG_ERROR shorter than its errno', 0);
  const v = view(m.payload);
  const errno = -v.getInt32(0, true);
  const seq = m.payload.length >= 4 + NLMSG_HDRLEN ? v.getUint32(4 + 8, true) : m.header.seq;
  let message: string | undefined;
  if (m.header.flags & NlmF.ACK_TLVS && m.payload.length >= 4 + NLMSG_HDRLEN) {
    // with CAPPED only the request's header was echoed; otherwise the whole request precedes the TLVs
    const echoed = m.header.flags & NlmF.CAPPED ? NLMSG_HDRLEN : v.getUint32(4, true);
    try {
      const text = attr(parseAttrs(m.payload, 4 + echoed), NlmsgerrAttr.MSG);
      if (text) message = Buffer.from(text).toString('utf8').replace(/\0+$/, '');
    } catch {
      // malformed TLVs: the errno alone
    }
  }
  return message !== undefined ? { errno, message, seq } : { errno, seq };
}

export function isAckOrError(m: NlMessage): boolean {
  return m.header.type === Nlmsg.ERROR;
}

export function isDone(m: NlMessage): boolean {
  return m.header.type === Nlmsg.DONE;
}
