/**
 * The one seam through which a PF_KEY v2 backend (RFC 2367) reaches the
 * kernel's key socket, which Node lacks: libc's socket calls through the
 * koffi FFI package, as src/xfrm/netlink-socket.ts does for netlink. koffi
 * is an optional dependency imported here only, on first use, so the rest of
 * the tool needs no native code and builds without it.
 *
 * This module stands alone (it imports strerror only, as netlink-socket.ts
 * does): both are meant to be loadable by themselves, so each declares the
 * few libc functions it uses, once per process.
 *
 * Nothing here blocks the event loop. The socket is non-blocking, so every
 * call made on the main thread returns at once; waiting for a message is a
 * poll() with a short timeout on one of koffi's worker threads (libuv's
 * pool), after which the main thread tries again. An abort or close()
 * settles a waiting recv() at once; the timeout bounds how long a worker
 * thread then stays in poll() on a socket nobody waits for any more.
 *
 * PF_KEY is datagram-like: every message the kernel queues is one skb, read
 * whole by one recvmsg() (af_key.c pfkey_recvmsg), so one recv() here is one
 * sadb message. A dump in progress is continued by the kernel from inside
 * recvmsg(), as the reader drains its queue (pfkey_do_dump).
 *
 * Linux only (where AF_KEY is 15; the BSDs and macOS have PF_KEY at other
 * numbers, and no koffi-free way to it here); the socket constants are the
 * asm-generic ones (every Node architecture except MIPS, refused below).
 */
import { constants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { strerror } from '../format/strerror.js';

export const AF_KEY = 15;
export const PF_KEY_V2 = 2;

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
/**
 * The first receive buffer. A message is at most 0xffff * 8 bytes (sadb_msg_len
 * counts 8-byte units); one larger than the buffer grows it (its length is
 * learnt by a peek with MSG_TRUNC, before it is consumed).
 */
const FIRST_BUFFER = 64 * 1024;

const { EAGAIN, EINTR, EPERM, EACCES, EAFNOSUPPORT } = constants.errno;

/** This process cannot have a PF_KEY socket (the backend reports it, or another is chosen). */
export class PfkeyUnavailable extends Error {
  /** 'no-koffi', or the errno name of the refused call: EAFNOSUPPORT (also: not Linux), EPERM, EACCES... */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'PfkeyUnavailable';
    this.code = code;
  }
}

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
  setsockopt(fd: number, level: number, name: number, value: Int32Array, len: number): number;
  send(fd: number, buf: Uint8Array, len: number, flags: number): number;
  recv(fd: number, buf: Uint8Array | null, len: number, flags: number): number;
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
      throw new PfkeyUnavailable('no-koffi', `PF_KEY needs the optional package koffi (npm install koffi): ${(e as Error).message}`);
    }
    const koffi = (mod.default ?? mod) as Koffi;
    // the process's own symbols: libc whichever it is (glibc, musl), without naming its file
    const lib = koffi.load(null);
    const poll = lib.func('int poll(void *fds, ulong nfds, int timeout)');
    return {
      socket: lib.func('int socket(int domain, int type, int protocol)') as Libc['socket'],
      setsockopt: lib.func('int setsockopt(int fd, int level, int name, void *value, uint32 len)') as Libc['setsockopt'],
      send: lib.func('long send(int fd, void *buf, ulong len, int flags)') as Libc['send'],
      recv: lib.func('long recv(int fd, void *buf, ulong len, int flags)') as Libc['recv'],
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

/** An Error as Node's own system calls throw them: code (EINVAL), errno, syscall. */
function sysError(syscall: string, errno: number): Error & { code: string; errno: number; syscall: string } {
  return Object.assign(new Error(`PF_KEY ${syscall}: ${strerror(errno)} (${errnoCode(errno)})`), { code: errnoCode(errno), errno: -errno, syscall });
}

const closedError = (): Error => Object.assign(new Error('the PF_KEY socket is closed'), { code: 'ECLOSED' });

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('PF_KEY recv aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}

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

class Socket implements PfkeySocket {
  private buf = new Uint8Array(FIRST_BUFFER);
  private closed = false;
  /** poll() calls in flight on worker threads: the fd is closed when the last returns */
  private polls = 0;
  /** settlers of the recv() calls waiting on a poll, for close() */
  private readonly waiters = new Set<(e?: Error) => void>();

  constructor(
    private readonly libc: Libc,
    private readonly fd: number,
  ) {}

  send(msg: Uint8Array): void {
    if (this.closed) throw closedError();
    for (;;) {
      // a message goes whole or not at all (pfkey_sendmsg takes the whole buffer as one skb)
      if (this.libc.send(this.fd, msg, msg.byteLength, 0) >= 0) return;
      const errno = this.libc.errno();
      if (errno !== EINTR) throw sysError('send', errno);
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
    for (const settle of [...this.waiters]) settle(closedError());
  }

  /**
   * The next message, or undefined when none is queued. Peek first, with
   * MSG_TRUNC, which makes the kernel return the message's whole length
   * however small the buffer; a buffer too small grows and the peek is
   * repeated. Then the message is consumed with a zero-length read.
   */
  private tryRecv(): Uint8Array | undefined {
    for (;;) {
      const n = this.libc.recv(this.fd, this.buf, this.buf.length, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
      if (n < 0) {
        const errno = this.libc.errno();
        if (errno === EINTR) continue;
        if (errno === EAGAIN) return undefined;
        throw sysError('recv', errno);
      }
      if (n > this.buf.length) {
        this.buf = new Uint8Array(n);
        continue;
      }
      if (this.libc.recv(this.fd, null, 0, MSG_TRUNC | MSG_DONTWAIT) < 0) {
        const errno = this.libc.errno();
        if (errno === EINTR) continue;
        throw sysError('recv', errno);
      }
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

/**
 * Open a PF_KEY v2 socket. Rejects with PfkeyUnavailable when this process
 * cannot have one: no koffi ('no-koffi'), no af_key in the kernel or not
 * Linux (EAFNOSUPPORT), not privileged (EPERM).
 */
export async function openPfkey(opts: PfkeyOptions = {}): Promise<PfkeySocket> {
  // as netlink-socket.ts does: what cannot be reached from here is EAFNOSUPPORT, as if the kernel lacked it
  if (process.platform !== 'linux') throw new PfkeyUnavailable('EAFNOSUPPORT', `PF_KEY sockets are reached here on Linux only, not on ${process.platform}`);
  if (process.arch === 'mips' || process.arch === 'mipsel') throw new PfkeyUnavailable('EAFNOSUPPORT', 'the socket constants here are not those of MIPS');
  const libc = await loadLibc();
  const fd = libc.socket(AF_KEY, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, PF_KEY_V2);
  if (fd < 0) throw unavailable(libc.errno());
  // SO_RCVBUFFORCE passes net.core.rmem_max but needs CAP_NET_ADMIN (which a PF_KEY socket needs anyway)
  if (opts.rcvbufBytes !== undefined) {
    const value = Int32Array.of(opts.rcvbufBytes);
    if (libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, value, 4) < 0 && (libc.errno() !== EPERM || libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, value, 4) < 0)) {
      const errno = libc.errno();
      libc.close(fd);
      throw sysError('setsockopt(SO_RCVBUF)', errno);
    }
  }
  return new Socket(libc, fd);
}
