/**
 * The one seam through which the kernel backends reach a netlink socket,
 * which Node lacks: libc's socket calls through the koffi FFI package.
 * koffi is an optional dependency imported here only, on first use, so the
 * rest of the tool (parser, formatter, embedded engine) needs no native code
 * and builds without it (the import is untyped for the same reason).
 *
 * Nothing here blocks the event loop. The socket is non-blocking, so every
 * call made on the main thread returns at once; waiting for a datagram is a
 * poll() with a short timeout on one of koffi's worker threads (libuv's
 * pool), after which the main thread tries again. An abort or close()
 * settles a waiting recv() at once; the timeout bounds how long a worker
 * thread then stays in poll() on a socket nobody waits for any more.
 *
 * Linux only; the constants are the asm-generic ones (every Node
 * architecture except MIPS, refused below).
 */
import { constants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { strerror } from '../format/strerror.js';

export const AF_NETLINK = 16;
export const NETLINK_ROUTE = 0;
export const NETLINK_XFRM = 6;

const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const SOL_NETLINK = 270;
const NETLINK_ADD_MEMBERSHIP = 1;
const NETLINK_EXT_ACK = 11;
const MSG_PEEK = 0x2;
const MSG_TRUNC = 0x20;
const MSG_DONTWAIT = 0x40;
const POLLIN = 0x1;
const SOCKADDR_NL_SIZE = 12;

/** How long one worker-thread poll() lasts before the main thread looks again. */
const POLL_MS = 100;
/**
 * The first receive buffer. The kernel sizes dump datagrams by the largest
 * recv() length a socket has used, up to 32 KiB, so this gets the fewest
 * datagrams per dump; a larger datagram (the ack of a refused large request
 * echoes it) grows the buffer.
 */
const FIRST_BUFFER = 64 * 1024;

const { EAGAIN, EINTR, EPERM, EACCES, ENOPROTOOPT } = constants.errno;

/** This process cannot have a netlink socket of that protocol (the backend falls back or reports it). */
export class NetlinkUnavailable extends Error {
  /** 'no-koffi', or the errno name of the refused call: EPROTONOSUPPORT, EAFNOSUPPORT, EPERM, EACCES... */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'NetlinkUnavailable';
    this.code = code;
  }
}

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

// The small part of koffi used here, declared locally so that the build does not need koffi installed.
interface KoffiFunction {
  (...args: unknown[]): unknown;
  async(...args: unknown[]): void;
}
interface Koffi {
  load(path: string | null): { func(prototype: string): KoffiFunction };
  errno(): number;
}

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  getsockname(fd: number, addr: Uint8Array, len: Uint32Array): number;
  setsockopt(fd: number, level: number, name: number, value: Int32Array, len: number): number;
  sendto(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array, addrLen: number): number;
  recvfrom(fd: number, buf: Uint8Array | null, len: number, flags: number, addr: Uint8Array | null, addrLen: Uint32Array | null): number;
  close(fd: number): number;
  /** poll() on a worker thread; what it found does not matter (see readable()) */
  pollAsync(fds: Uint8Array, count: number, timeoutMs: number): Promise<void>;
  errno(): number;
}

/**
 * The libc bindings, made once per process: declaring the functions parses
 * their prototypes and resolves the symbols, and koffi keeps them for the
 * process's life anyway. A promise, so concurrent first opens share one load.
 */
let libcPromise: Promise<Libc> | undefined;

function loadLibc(): Promise<Libc> {
  libcPromise ??= (async () => {
    const name = 'koffi';
    let mod: { default?: Koffi } & Partial<Koffi>;
    try {
      mod = (await import(name)) as typeof mod;
    } catch (e) {
      throw new NetlinkUnavailable('no-koffi', `netlink needs the optional package koffi (npm install koffi): ${(e as Error).message}`);
    }
    const koffi = (mod.default ?? mod) as Koffi;
    // the process's own symbols: libc whichever it is (glibc, musl), without naming its file
    const lib = koffi.load(null);
    const poll = lib.func('int poll(void *fds, ulong nfds, int timeout)');
    return {
      socket: lib.func('int socket(int domain, int type, int protocol)') as Libc['socket'],
      bind: lib.func('int bind(int fd, void *addr, uint32 len)') as Libc['bind'],
      getsockname: lib.func('int getsockname(int fd, void *addr, void *len)') as Libc['getsockname'],
      setsockopt: lib.func('int setsockopt(int fd, int level, int name, void *value, uint32 len)') as Libc['setsockopt'],
      sendto: lib.func('long sendto(int fd, void *buf, ulong len, int flags, void *addr, uint32 addrlen)') as Libc['sendto'],
      recvfrom: lib.func('long recvfrom(int fd, void *buf, ulong len, int flags, void *addr, void *addrlen)') as Libc['recvfrom'],
      close: lib.func('int close(int fd)') as Libc['close'],
      pollAsync: (fds, count, timeoutMs) =>
        new Promise((resolve, reject) => {
          poll.async(fds, count, timeoutMs, (err: unknown) => (err ? reject(err) : resolve()));
        }),
      errno: () => koffi.errno(),
    };
  })();
  return libcPromise;
}

const errnoCode = (errno: number): string => {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
};

/** An Error as Node's own system calls throw them: code (ENOBUFS), errno, syscall. */
function sysError(syscall: string, errno: number): Error & { code: string; errno: number; syscall: string } {
  return Object.assign(new Error(`netlink ${syscall}: ${strerror(errno)} (${errnoCode(errno)})`), { code: errnoCode(errno), errno: -errno, syscall });
}

const closedError = (): Error => Object.assign(new Error('the netlink socket is closed'), { code: 'ECLOSED' });

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('netlink recv aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}

/** struct sockaddr_nl, in the host's byte order */
function sockaddrNl(pid: number, groups: number): Uint8Array {
  const buf = new ArrayBuffer(SOCKADDR_NL_SIZE);
  new Uint16Array(buf, 0, 1)[0] = AF_NETLINK;
  new Uint32Array(buf, 4, 2).set([pid, groups]);
  return new Uint8Array(buf);
}

const sockaddrPid = (addr: Uint8Array): number => new Uint32Array(addr.buffer, addr.byteOffset + 4, 1)[0]!;

const KERNEL = sockaddrNl(0, 0);

class Socket implements NetlinkSocket {
  private buf = new Uint8Array(FIRST_BUFFER);
  private readonly from = new Uint8Array(SOCKADDR_NL_SIZE);
  private readonly fromLen = new Uint32Array(1);
  private closed = false;
  /** poll() calls in flight on worker threads: the fd is closed when the last returns */
  private polls = 0;
  /** rejecters of the recv() calls waiting on a poll, for close() */
  private readonly waiters = new Set<(e: Error) => void>();

  constructor(
    private readonly libc: Libc,
    private readonly fd: number,
    readonly portId: number,
  ) {}

  send(datagram: Uint8Array): void {
    if (this.closed) throw closedError();
    for (;;) {
      // a datagram goes whole or not at all
      if (this.libc.sendto(this.fd, datagram, datagram.byteLength, 0, KERNEL, SOCKADDR_NL_SIZE) >= 0) return;
      const errno = this.libc.errno();
      if (errno !== EINTR) throw sysError('sendto', errno);
    }
  }

  async recv(signal?: AbortSignal): Promise<Uint8Array> {
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      if (this.closed) throw closedError();
      const got = this.tryRecv();
      if (got) return got;
      await this.readable(signal);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // a worker may be in poll() on this fd: the number must not be reused under it
    if (this.polls === 0) this.libc.close(this.fd);
    for (const reject of this.waiters) reject(closedError());
    this.waiters.clear();
  }

  /**
   * The next datagram from the kernel, or undefined when none is queued.
   * Peek first, to learn its length (MSG_TRUNC) and sender, then consume it
   * with a zero-length read. An overrun is reported by whichever of the two
   * calls comes first after it, before the queue is touched, so the
   * datagram peeked is neither lost nor returned twice.
   */
  private tryRecv(): Uint8Array | undefined {
    for (;;) {
      this.fromLen[0] = SOCKADDR_NL_SIZE;
      const n = this.libc.recvfrom(this.fd, this.buf, this.buf.length, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT, this.from, this.fromLen);
      if (n < 0) {
        const errno = this.libc.errno();
        if (errno === EINTR) continue;
        if (errno === EAGAIN) return undefined;
        throw sysError('recvfrom', errno);
      }
      if (n > this.buf.length) {
        this.buf = new Uint8Array(n);
        continue;
      }
      if (this.libc.recvfrom(this.fd, null, 0, MSG_TRUNC | MSG_DONTWAIT, null, null) < 0) {
        const errno = this.libc.errno();
        if (errno === EINTR) continue;
        throw sysError('recvfrom', errno);
      }
      // not the kernel: another process posing as it
      if (sockaddrPid(this.from) !== 0) continue;
      return this.buf.slice(0, n);
    }
  }

  /** Resolves when the socket may be readable (or a poll timed out); rejects on abort or close. */
  private readable(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => settle(abortError(signal!));
      const settle = (e?: Error): void => {
        if (!this.waiters.delete(settle)) return;
        signal?.removeEventListener('abort', onAbort);
        if (e) reject(e);
        else resolve();
      };
      this.waiters.add(settle);
      signal?.addEventListener('abort', onAbort, { once: true });
      const pollfd = new Uint8Array(8);
      new Int32Array(pollfd.buffer, 0, 1)[0] = this.fd;
      new Int16Array(pollfd.buffer, 4, 1)[0] = POLLIN;
      this.polls++;
      this.libc.pollAsync(pollfd, 1, POLL_MS).then(
        // readable, timed out, EINTR or an error condition alike: tryRecv() tells which
        () => this.pollDone(settle),
        (e: Error) => this.pollDone(settle, e),
      );
    });
  }

  private pollDone(settle: (e?: Error) => void, e?: Error): void {
    this.polls--;
    if (this.closed && this.polls === 0) this.libc.close(this.fd);
    settle(e);
  }
}

/** Open a netlink socket of `protocol` (NETLINK_XFRM...), bound to a port the kernel picks. */
export async function openNetlink(protocol: number, opts: NetlinkOptions = {}): Promise<NetlinkSocket> {
  if (process.platform !== 'linux') throw new NetlinkUnavailable('EAFNOSUPPORT', 'netlink sockets exist on Linux only');
  if (process.arch === 'mips' || process.arch === 'mipsel') throw new NetlinkUnavailable('EAFNOSUPPORT', 'the socket constants here are not those of MIPS');
  const libc = await loadLibc();
  const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) {
    const errno = libc.errno();
    throw new NetlinkUnavailable(errnoCode(errno), `netlink socket (protocol ${protocol}): ${strerror(errno)}`);
  }
  // a refusal for want of privilege means unavailable; anything else is a mistake here
  const fail = (what: string): never => {
    const errno = libc.errno();
    libc.close(fd);
    if (errno === EPERM || errno === EACCES) throw new NetlinkUnavailable(errnoCode(errno), `netlink ${what}: ${strerror(errno)}`);
    throw sysError(what, errno);
  };
  const setInt = (level: number, name: number, value: number): number => libc.setsockopt(fd, level, name, Int32Array.of(value), 4);

  // before Linux 4.12 there are no extended acks: errors then come without text
  if ((opts.extAck ?? true) && setInt(SOL_NETLINK, NETLINK_EXT_ACK, 1) < 0 && libc.errno() !== ENOPROTOOPT) fail('setsockopt(NETLINK_EXT_ACK)');
  // SO_RCVBUFFORCE passes net.core.rmem_max but needs CAP_NET_ADMIN
  if (opts.rcvbufBytes !== undefined && setInt(SOL_SOCKET, SO_RCVBUFFORCE, opts.rcvbufBytes) < 0) {
    if (libc.errno() !== EPERM || setInt(SOL_SOCKET, SO_RCVBUF, opts.rcvbufBytes) < 0) fail('setsockopt(SO_RCVBUF)');
  }
  if (libc.bind(fd, sockaddrNl(0, 0), SOCKADDR_NL_SIZE) < 0) fail('bind');
  for (const group of opts.groups ?? []) {
    if (setInt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group) < 0) fail(`setsockopt(NETLINK_ADD_MEMBERSHIP ${group})`);
  }
  const addr = new Uint8Array(SOCKADDR_NL_SIZE);
  if (libc.getsockname(fd, addr, Uint32Array.of(SOCKADDR_NL_SIZE)) < 0) fail('getsockname');
  return new Socket(libc, fd, sockaddrPid(addr));
}

