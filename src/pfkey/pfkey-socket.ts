/**
 * The one seam through which a PF_KEY v2 backend (RFC 2367) reaches the
 * kernel's key socket, which Node lacks: libc's socket calls through the
 * koffi FFI package, by way of src/sys/datagram-socket.ts, which it shares
 * with src/xfrm/netlink-socket.ts (and which says how nothing here blocks
 * the event loop). What is PF_KEY's is here: the socket call, what its
 * refusal means to a user, and the receive buffer.
 *
 * PF_KEY is datagram-like: a message sent is taken whole as one skb
 * (pfkey_sendmsg), and every message the kernel queues is one skb, read
 * whole by one recvmsg() (af_key.c pfkey_recvmsg), so one recv() here is one
 * sadb message. A dump in progress is continued by the kernel from inside
 * recvmsg(), as the reader drains its queue (pfkey_do_dump).
 *
 * Linux only (where AF_KEY is 15; the BSDs and macOS have PF_KEY at other
 * numbers, and no koffi-free way to it here).
 */
import { constants } from 'node:os';
import { strerror } from '../model/errno.js';
import { DatagramSocket, SocketUnavailable, errnoCode, openRawSocket, setReceiveBuffer, sysError, type SocketKind } from '../sys/datagram-socket.js';

export const AF_KEY = 15;
export const PF_KEY_V2 = 2;

/**
 * The first receive buffer. A message is at most 0xffff * 8 bytes (sadb_msg_len
 * counts 8-byte units); one larger than the buffer grows it (its length is
 * learnt by a peek with MSG_TRUNC, before it is consumed).
 */
const FIRST_BUFFER = 64 * 1024;

const { EPERM, EACCES, EAFNOSUPPORT } = constants.errno;

/**
 * This process cannot have a PF_KEY socket (the backend reports it, or
 * another is chosen). Its code: 'no-koffi', or the errno name of the refused
 * call: EAFNOSUPPORT (also: not Linux), EPERM, EACCES...
 */
export class PfkeyUnavailable extends SocketUnavailable {}

export interface PfkeySocket {
  /**
   * Send one whole sadb message. Throws an Error whose code is the errno name
   * (the kernel refuses a malformed header in send() itself: EINVAL, and there
   * is no reply; a refusal of a well-formed request comes back as a message
   * with sadb_msg_errno set), or 'ECLOSED' after close().
   */
  send(msg: Uint8Array): void;
  /**
   * The next message from the kernel, whole: replies to this socket's
   * requests, and whatever the kernel broadcasts to it (REGISTERed types,
   * promiscuous mode, SA and policy changes of other sockets). Rejects with an
   * AbortError when `signal` aborts, with code 'ECLOSED' when the socket is
   * closed meanwhile, and with an Error whose code is the errno name if the
   * receive call fails.
   */
  recv(signal?: AbortSignal): Promise<Uint8Array>;
  /** Idempotent. Pending recv() calls reject at once. */
  close(): void;
}

export interface PfkeyOptions {
  /** receive buffer size (SO_RCVBUFFORCE when privileged, else SO_RCVBUF, which the kernel caps) */
  readonly rcvbufBytes?: number;
}

const PF_KEY: SocketKind = { label: 'PF_KEY', Unavailable: PfkeyUnavailable };

/** Why socket(AF_KEY) was refused, in words a user can act on. */
function unavailable(errno: number): PfkeyUnavailable {
  const code = errnoCode(errno);
  const why = `socket(AF_KEY, SOCK_RAW, PF_KEY_V2): ${strerror(errno)}`;
  if (errno === EAFNOSUPPORT) {
    return new PfkeyUnavailable(code, `PF_KEY is not in this kernel (${why}): it needs CONFIG_NET_KEY, built in or as the module af_key (modprobe af_key); on Linux the xfrm backend (--backend=xfrm) manages the same SAD and SPD without it`);
  }
  if (errno === EPERM || errno === EACCES) {
    return new PfkeyUnavailable(code, `a PF_KEY socket needs CAP_NET_ADMIN (run as root) (${why})`);
  }
  return new PfkeyUnavailable(code, `no PF_KEY socket (${why})`);
}

/**
 * Open a PF_KEY v2 socket. Rejects with PfkeyUnavailable when this process
 * cannot have one: no koffi ('no-koffi'), no af_key in the kernel or not
 * Linux (EAFNOSUPPORT), not privileged (EPERM).
 */
export async function openPfkey(opts: PfkeyOptions = {}): Promise<PfkeySocket> {
  // as netlink-socket.ts does: what cannot be reached from here is EAFNOSUPPORT, as if the kernel lacked it
  if (process.platform !== 'linux') throw new PfkeyUnavailable('EAFNOSUPPORT', `PF_KEY sockets are reached here on Linux only, not on ${process.platform}`);
  const { libc, fd } = await openRawSocket(PF_KEY, AF_KEY, PF_KEY_V2, unavailable);
  // SO_RCVBUFFORCE needs CAP_NET_ADMIN, which a PF_KEY socket needs anyway
  if (opts.rcvbufBytes !== undefined && !setReceiveBuffer(libc, fd, opts.rcvbufBytes)) {
    const errno = libc.errno();
    libc.close(fd);
    throw sysError(PF_KEY, 'setsockopt(SO_RCVBUF)', errno);
  }
  // no address: a message goes to the kernel, and only the kernel sends to a PF_KEY socket
  return new DatagramSocket(PF_KEY, libc, fd, { firstBufferBytes: FIRST_BUFFER });
}
