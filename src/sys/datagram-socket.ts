/**
 * What the kernel seams share (src/xfrm/netlink-socket.ts for netlink,
 * src/pfkey/pfkey-socket.ts for PF_KEY): libc's socket calls through the
 * koffi FFI package, which Node lacks, and a non-blocking datagram socket
 * over them. koffi is an optional dependency imported here only, on first
 * use, so the rest of the tool (parser, formatter, embedded engine) needs no
 * native code and builds without it (the import is untyped for the same
 * reason). This module imports nothing of the project but strerror, so that
 * the two seams and it stay loadable by themselves.
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
import { strerror } from '../model/errno.js';
import { importKoffi } from './koffi.js';

const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const MSG_PEEK = 0x2;
const MSG_TRUNC = 0x20;
const MSG_DONTWAIT = 0x40;
const POLLIN = 0x1;

/** How long one worker-thread poll() lasts before the main thread looks again. */
const POLL_MS = 100;

const { EAGAIN, EINTR, EPERM } = constants.errno;

/** The base of each seam's error for a socket this process cannot have; its name is the subclass's. */
export class SocketUnavailable extends Error {
  /** 'no-koffi', or the errno name of the refused call */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The socket kind a seam opens: how its errors name it, and its own SocketUnavailable. */
export interface SocketKind {
  /** 'netlink', 'PF_KEY': the first word of the error messages */
  readonly label: string;
  readonly Unavailable: new (code: string, message: string) => SocketUnavailable;
}

/**
 * The libc functions both seams use. send(2) and recv(2) are sendto(2) and
 * recvfrom(2) without an address (glibc and musl make exactly those calls),
 * so these two serve a socket with one peer as well.
 */
export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  getsockname(fd: number, addr: Uint8Array, len: Uint32Array): number;
  setsockopt(fd: number, level: number, name: number, value: Int32Array, len: number): number;
  sendto(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array | null, addrLen: number): number;
  recvfrom(fd: number, buf: Uint8Array | null, len: number, flags: number, addr: Uint8Array | null, addrLen: Uint32Array | null): number;
  close(fd: number): number;
  /** poll() on a worker thread; what it found does not matter (see readable()) */
  pollAsync(fds: Uint8Array, count: number, timeoutMs: number): Promise<void>;
  errno(): number;
}

/**
 * The libc bindings, made once per process: declaring the functions parses
 * their prototypes and resolves the symbols, and koffi keeps them for the
 * process's life anyway. A promise, so concurrent first opens share one load;
 * without koffi, it holds why the import failed, which each seam reports as
 * its own error.
 */
let libcPromise: Promise<Libc | { readonly noKoffi: string }> | undefined;

async function bindLibc(): Promise<Libc | { readonly noKoffi: string }> {
  const koffi = await importKoffi();
  if ('noKoffi' in koffi) return koffi;
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
}

/** The errno's name (ENOBUFS), as Node's errors carry it. */
export const errnoCode = (errno: number): string => {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
};

/** An Error as Node's own system calls throw them: code (ENOBUFS), errno, syscall. */
export function sysError(kind: SocketKind, syscall: string, errno: number): Error & { code: string; errno: number; syscall: string } {
  return Object.assign(new Error(`${kind.label} ${syscall}: ${strerror(errno)} (${errnoCode(errno)})`), { code: errnoCode(errno), errno: -errno, syscall });
}

const closedError = (kind: SocketKind): Error => Object.assign(new Error(`the ${kind.label} socket is closed`), { code: 'ECLOSED' });

function abortError(kind: SocketKind, signal: AbortSignal): Error {
  return Object.assign(new Error(`${kind.label} recv aborted`, { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}

/**
 * A raw socket of `domain` and `protocol`, non-blocking and close-on-exec,
 * and the libc to use it with. Rejects with the kind's Unavailable error on
 * MIPS or without koffi, and with `refused(errno)` when socket() fails.
 */
export async function openRawSocket(kind: SocketKind, domain: number, protocol: number, refused: (errno: number) => Error): Promise<{ libc: Libc; fd: number }> {
  if (process.arch === 'mips' || process.arch === 'mipsel') throw new kind.Unavailable('EAFNOSUPPORT', 'the socket constants here are not those of MIPS');
  libcPromise ??= bindLibc();
  const libc = await libcPromise;
  if ('noKoffi' in libc) throw new kind.Unavailable('no-koffi', `${kind.label} needs the optional package koffi (npm install koffi): ${libc.noKoffi}`);
  const fd = libc.socket(domain, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw refused(libc.errno());
  return { libc, fd };
}

/** setsockopt() of an int option; -1 with libc.errno() set when refused. */
export const setIntOption = (libc: Libc, fd: number, level: number, name: number, value: number): number => libc.setsockopt(fd, level, name, Int32Array.of(value), 4);

/** Set the receive buffer size; false with libc.errno() set when refused. */
export function setReceiveBuffer(libc: Libc, fd: number, bytes: number): boolean {
  // SO_RCVBUFFORCE passes net.core.rmem_max but needs CAP_NET_ADMIN; SO_RCVBUF is capped by it
  if (setIntOption(libc, fd, SOL_SOCKET, SO_RCVBUFFORCE, bytes) >= 0) return true;
  return libc.errno() === EPERM && setIntOption(libc, fd, SOL_SOCKET, SO_RCVBUF, bytes) >= 0;
}

export interface DatagramOptions {
  /** the first receive buffer; a larger datagram grows it */
  readonly firstBufferBytes: number;
  /** where send() sends each datagram (sendto); without, the socket's one peer (send) */
  readonly to?: Uint8Array;
  /**
   * With this, recv() reads each datagram's sender address (recvfrom), of
   * `bytes` bytes, and drops the datagrams `accept` refuses.
   */
  readonly from?: { readonly bytes: number; accept(addr: Uint8Array): boolean };
}

/** recvfrom()'s sender address and its length, and what to do with it */
interface Sender {
  readonly addr: Uint8Array;
  readonly len: Uint32Array;
  accept(addr: Uint8Array): boolean;
}

/** A non-blocking datagram socket whose every datagram is read whole. */
export class DatagramSocket {
  private buf: Uint8Array;
  private readonly to: Uint8Array | null;
  private readonly sender: Sender | undefined;
  private closed = false;
  /** poll() calls in flight on worker threads: the fd is closed when the last returns */
  private polls = 0;
  /** settlers of the recv() calls waiting on a poll, for close() */
  private readonly waiters = new Set<(e?: Error) => void>();

  constructor(
    private readonly kind: SocketKind,
    private readonly libc: Libc,
    private readonly fd: number,
    opts: DatagramOptions,
  ) {
    this.buf = new Uint8Array(opts.firstBufferBytes);
    this.to = opts.to ?? null;
    const from = opts.from;
    this.sender = from && { addr: new Uint8Array(from.bytes), len: new Uint32Array(1), accept: (addr) => from.accept(addr) };
  }

  /** Send one datagram; throws an Error whose code is the errno name, or 'ECLOSED' after close(). */
  send(datagram: Uint8Array): void {
    if (this.closed) throw closedError(this.kind);
    const to = this.to;
    for (;;) {
      // a datagram goes whole or not at all
      if (this.libc.sendto(this.fd, datagram, datagram.byteLength, 0, to, to?.byteLength ?? 0) >= 0) return;
      const errno = this.libc.errno();
      if (errno !== EINTR) throw sysError(this.kind, to ? 'sendto' : 'send', errno);
    }
  }

  /**
   * The next datagram, whole. Rejects with an AbortError when `signal`
   * aborts, with code 'ECLOSED' when the socket is closed meanwhile, and with
   * an Error whose code is the errno name if the receive call fails.
   */
  async recv(signal?: AbortSignal): Promise<Uint8Array> {
    for (;;) {
      if (signal?.aborted) throw abortError(this.kind, signal);
      if (this.closed) throw closedError(this.kind);
      const got = this.tryRecv();
      if (got) return got;
      await this.readable(signal);
    }
  }

  /** Idempotent. Pending recv() calls reject at once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // a worker may be in poll() on this fd: the number must not be reused under it
    if (this.polls === 0) this.libc.close(this.fd);
    for (const settle of [...this.waiters]) settle(closedError(this.kind));
  }

  /**
   * The next datagram, or undefined when none is queued. Peek first, with
   * MSG_TRUNC, which makes the kernel return the datagram's whole length
   * however small the buffer (and its sender); a buffer too small grows and
   * the peek is repeated. Then the datagram is consumed with a zero-length
   * read. An error such as an overrun is reported by whichever of the two
   * calls comes first after it, before the queue is touched, so the
   * datagram peeked is neither lost nor returned twice.
   */
  private tryRecv(): Uint8Array | undefined {
    const sender = this.sender;
    const syscall = sender ? 'recvfrom' : 'recv';
    for (;;) {
      if (sender) sender.len[0] = sender.addr.length;
      const n = this.libc.recvfrom(this.fd, this.buf, this.buf.length, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT, sender?.addr ?? null, sender?.len ?? null);
      if (n < 0) {
        const errno = this.libc.errno();
        if (errno === EINTR) continue;
        if (errno === EAGAIN) return undefined;
        throw sysError(this.kind, syscall, errno);
      }
      if (n > this.buf.length) {
        this.buf = new Uint8Array(n);
        continue;
      }
      if (this.libc.recvfrom(this.fd, null, 0, MSG_TRUNC | MSG_DONTWAIT, null, null) < 0) {
        const errno = this.libc.errno();
        if (errno === EINTR) continue;
        throw sysError(this.kind, syscall, errno);
      }
      if (sender && !sender.accept(sender.addr)) continue;
      return this.buf.slice(0, n);
    }
  }

  /** Resolves when the socket may be readable (or a poll timed out); rejects on abort or close. */
  private readable(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => settle(abortError(this.kind, signal!));
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
