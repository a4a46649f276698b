/**
 * The store's writer lock: listening Unix sockets in the store directory.
 *
 * Why this shape:
 * - only the store's owner can create or reach anything in the directory
 *   (0700), so no other local user can hold, squat or probe the lock (the
 *   abstract socket of version 1 had a name anyone could compute and bind);
 * - a socket bound to a path is found through the file system, so writers
 *   in different network namespaces exclude each other (abstract names are
 *   per namespace);
 * - a listening socket is proof of life: the kernel stops it when its
 *   process dies, even by kill -9, so a dead holder never blocks anyone.
 *
 * The protocol needs no atomic "replace a stale lock" (which a file system
 * does not offer): a contender binds a socket of its own name
 * (`lock.PID.RANDOM.sock`), starts listening, and only then connects to every
 * other lock socket. If any answers, it closes its own and tries again
 * later; if none does, it holds the lock. Two contenders cannot both win:
 * the one that listened second scanned after the other was listening, and
 * saw it. A socket that refuses connections belongs to a dead process (or
 * to one between bind and listen, microseconds): it is removed only once it
 * is old, and a contender checks after its scan that its own is still there.
 *
 * A holder answers each connection with who it is (pid, command, since
 * when), which is what a waiting writer reports.
 */
import { lazyCrypto } from '../sys/builtin.js';
import { connect, createServer, type Server } from 'node:net';
import { chmodSync } from 'node:fs';
import type { StoreDir } from './store-dir.js';

export class LockTimeout extends Error {
  constructor(
    message: string,
    readonly holder: string | undefined,
  ) {
    super(message);
  }
}

export interface Lock {
  release(): Promise<void>;
}

export interface LockOptions {
  readonly timeoutMs: number;
  /** called once when the wait has lasted about a second, with who holds the lock */
  readonly onWait?: (holder: string | undefined) => void;
}

const NAME = /^lock\.[0-9]+\.[0-9a-f]+\.sock$/;
/** a refusing socket older than this is a dead holder's: removed */
const STALE_MS = 10_000;

function describeSelf(): string {
  const args = process.argv.slice(2).join(' ');
  const cmd = args.length > 80 ? `${args.slice(0, 77)}...` : args;
  // only the owner reads this (the directory is 0700), but keys never belong in it: argv has none
  return `pid ${process.pid} (setkey ${cmd}) since ${new Date().toISOString()}`.replace(/[\x00-\x1f\x7f]/g, '?');
}

function listen(path: string, who: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((c) => {
      c.on('error', () => undefined);
      c.end(who + '\n');
    });
    server.once('error', reject);
    server.listen({ path, exclusive: true }, () => {
      // owner only, as every file of the store (the directory is 0700 anyway; a socket takes the umask's mode)
      try {
        chmodSync(path, 0o600);
      } catch {
        // (the directory keeps others out all the same)
      }
      server.removeListener('error', reject);
      server.on('error', () => undefined);
      // the lock must not keep the process alive on its own
      server.unref();
      resolve(server);
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

type Probe = { alive: true; who: string | undefined } | { alive: false };

/** Connect to a lock socket: alive (and who) or not. */
function probe(path: string): Promise<Probe> {
  return new Promise((resolve) => {
    const c = connect({ path });
    let who = '';
    let alive = false;
    const t = setTimeout(() => c.destroy(), 1000);
    c.setEncoding('latin1');
    c.on('connect', () => (alive = true));
    c.on('data', (d: string) => {
      if (who.length < 512) who += d;
    });
    c.on('error', (e: NodeJS.ErrnoException) => {
      // a full backlog answers EAGAIN: somebody is there
      if (e.code === 'EAGAIN') alive = true;
    });
    c.on('close', () => {
      clearTimeout(t);
      resolve(alive ? { alive: true, who: who.trim().split('\n')[0] || undefined } : { alive: false });
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Who else holds or contends for the lock (the first that answers), or nothing. */
async function others(dir: StoreDir, mine: string): Promise<Probe> {
  for (const n of dir.list()) {
    if (n === mine || !NAME.test(n)) continue;
    const p = await probe(dir.path(n));
    if (p.alive) return p;
    const st = dir.lstat(n);
    if (st && Date.now() - st.mtimeMs > STALE_MS) dir.remove(n);
  }
  return { alive: false };
}

/** Take the store's lock, waiting up to `timeoutMs`. */
export async function acquireLock(dir: StoreDir, opts: LockOptions): Promise<Lock> {
  const start = Date.now();
  const who = describeSelf();
  let wait = 1;
  let told = false;
  let holder: string | undefined;
  for (;;) {
    const mine = `lock.${process.pid}.${lazyCrypto().randomBytes(6).toString('hex')}.sock`;
    const server = await listen(dir.path(mine), who);
    const ino = dir.lstat(mine)?.ino;
    const seen = await others(dir, mine);
    if (!seen.alive && ino !== undefined && dir.lstat(mine)?.ino === ino) {
      return { release: () => close(server) };
    }
    await close(server);
    if (seen.alive) holder = seen.who;
    const waited = Date.now() - start;
    if (waited >= opts.timeoutMs) {
      throw new LockTimeout(`the store ${dir.name} stayed locked for ${Math.round(waited / 1000)} s${holder ? ` by ${holder}` : ''}; nothing was done`, holder);
    }
    if (!told && waited > 1000) {
      told = true;
      opts.onWait?.(holder);
    }
    // randomised, so that two contenders that saw each other do not collide again
    await sleep(wait + Math.random() * wait);
    wait = Math.min(wait * 2, 50);
  }
}
