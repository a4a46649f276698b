/**
 * The one seam through which the kernel backends reach a netlink socket,
 * which Node lacks: libc's socket calls through the koffi FFI package, by way
 * of src/sys/datagram-socket.ts (shared with the PF_KEY seam; it also says
 * how nothing here blocks the event loop). What is netlink's is here: its
 * address, bind, the port id, its socket options, and that only the kernel's
 * datagrams are taken.
 *
 * Linux only.
 */
import { constants } from 'node:os';
import { strerror } from '../model/errno.js';
import { DatagramSocket, SocketUnavailable, errnoCode, openRawSocket, setIntOption, setReceiveBuffer, sysError, type Libc, type SocketKind } from '../sys/datagram-socket.js';

export const AF_NETLINK = 16;
export const NETLINK_ROUTE = 0;
export const NETLINK_XFRM = 6;

const SOL_NETLINK = 270;
const NETLINK_ADD_MEMBERSHIP = 1;
const NETLINK_EXT_ACK = 11;
const SOCKADDR_NL_SIZE = 12;

/**
 * The first receive buffer. The kernel sizes dump datagrams by the largest
 * recv() length a socket has used, up to 32 KiB, so this gets the fewest
 * datagrams per dump; a larger datagram (the ack of a refused large request
 * echoes it) grows the buffer.
 */
const FIRST_BUFFER = 64 * 1024;

const { EPERM, EACCES, ENOPROTOOPT } = constants.errno;

/**
 * This process cannot have a netlink socket of that protocol (the backend
 * falls back or reports it). Its code: 'no-koffi', or the errno name of the
 * refused call: EPROTONOSUPPORT, EAFNOSUPPORT, EPERM, EACCES...
 */
export class NetlinkUnavailable extends SocketUnavailable {}

export interface NetlinkSocket {
  /** The port id (nl_pid) the kernel assigned this socket. */
  readonly portId: number;
  /** Send one datagram to the kernel; throws an Error whose code is the errno name. */
  send(datagram: Uint8Array): void;
  /**
   * One datagram from the kernel, whole. Rejects with an Error whose code is
   * 'ENOBUFS' when the kernel dropped messages for this socket (a receive
   * overrun; the socket stays usable), with an AbortError when `signal`
   * aborts, and with code 'ECLOSED' when the socket is closed meanwhile.
   * Datagrams from other processes (any local process may unicast to our
   * port) are dropped.
   */
  recv(signal?: AbortSignal): Promise<Uint8Array>;
  /** Idempotent. Pending recv() calls reject at once. */
  close(): void;
}

export interface NetlinkOptions {
  /** multicast groups to join (NETLINK_ADD_MEMBERSHIP), by number */
  readonly groups?: readonly number[];
  /** ask for extended acks: the kernel's message text with an error (default true) */
  readonly extAck?: boolean;
  /** receive buffer size (SO_RCVBUFFORCE when privileged, else SO_RCVBUF, which the kernel caps) */
  readonly rcvbufBytes?: number;
}

const NETLINK: SocketKind = { label: 'netlink', Unavailable: NetlinkUnavailable };

/** struct sockaddr_nl, in the host's byte order */
function sockaddrNl(pid: number, groups: number): Uint8Array {
  const buf = new ArrayBuffer(SOCKADDR_NL_SIZE);
  new Uint16Array(buf, 0, 1)[0] = AF_NETLINK;
  new Uint32Array(buf, 4, 2).set([pid, groups]);
  return new Uint8Array(buf);
}

const sockaddrPid = (addr: Uint8Array): number => new Uint32Array(addr.buffer, addr.byteOffset + 4, 1)[0]!;

const KERNEL = sockaddrNl(0, 0);

class Socket extends DatagramSocket implements NetlinkSocket {
  constructor(
    libc: Libc,
    fd: number,
    readonly portId: number,
  ) {
    super(NETLINK, libc, fd, {
      firstBufferBytes: FIRST_BUFFER,
      to: KERNEL,
      // not the kernel: another process posing as it
      from: { bytes: SOCKADDR_NL_SIZE, accept: (addr) => sockaddrPid(addr) === 0 },
    });
  }
}

/** Open a netlink socket of `protocol` (NETLINK_XFRM...), bound to a port the kernel picks. */
export async function openNetlink(protocol: number, opts: NetlinkOptions = {}): Promise<NetlinkSocket> {
  if (process.platform !== 'linux') throw new NetlinkUnavailable('EAFNOSUPPORT', 'netlink sockets exist on Linux only');
  const { libc, fd } = await openRawSocket(NETLINK, AF_NETLINK, protocol, (errno) => new NetlinkUnavailable(errnoCode(errno), `netlink socket (protocol ${protocol}): ${strerror(errno)}`));
  // a refusal for want of privilege means unavailable; anything else is a mistake here
  const fail = (what: string): never => {
    const errno = libc.errno();
    libc.close(fd);
    if (errno === EPERM || errno === EACCES) throw new NetlinkUnavailable(errnoCode(errno), `netlink ${what}: ${strerror(errno)}`);
    throw sysError(NETLINK, what, errno);
  };

  // before Linux 4.12 there are no extended acks: errors then come without text
  if ((opts.extAck ?? true) && setIntOption(libc, fd, SOL_NETLINK, NETLINK_EXT_ACK, 1) < 0 && libc.errno() !== ENOPROTOOPT) fail('setsockopt(NETLINK_EXT_ACK)');
  if (opts.rcvbufBytes !== undefined && !setReceiveBuffer(libc, fd, opts.rcvbufBytes)) fail('setsockopt(SO_RCVBUF)');
  if (libc.bind(fd, sockaddrNl(0, 0), SOCKADDR_NL_SIZE) < 0) fail('bind');
  for (const group of opts.groups ?? []) {
    if (setIntOption(libc, fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group) < 0) fail(`setsockopt(NETLINK_ADD_MEMBERSHIP ${group})`);
  }
  const addr = new Uint8Array(SOCKADDR_NL_SIZE);
  if (libc.getsockname(fd, addr, Uint32Array.of(SOCKADDR_NL_SIZE)) < 0) fail('getsockname');
  return new Socket(libc, fd, sockaddrPid(addr));
}
