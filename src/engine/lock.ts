/**
 * The store's writer lock. On Linux it is a listening Unix socket in the
 * abstract namespace, named after the store directory's device and inode:
 * bind() is atomic, and the kernel releases the name when the holder exits,
 * even by kill -9, so there are no stale locks to break. Elsewhere (no
 * abstract namespace) it is a socket file in the store, taken over when
 * nothing answers on it.
 *
 * Abstract names are per network namespace: processes sharing a store from
 * different namespaces do not exclude each other (documented in the README).
 */
import { createHash } from 'node:crypto';
import { statSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';

export class LockTimeout extends Error {}

export interface Lock {
  release(): Promise<void>;
}

function lockName(dir: string): string {
  const st = statSync(dir);
  const id = createHash('sha256').update(`${st.dev}:${st.ino}`).digest('hex').slice(0, 32);
  return process.platform === 'linux' ? `\0setkey-store-${id}` : join(dir, 'lock.sock');
}

function tryListen(path: string): Promise<Server | 'busy'> {
  return new Promise((resolve, reject) => {
    const server = createServer((c) => c.destroy());
    server.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve('busy') : reject(e)));
    server.listen({ path, exclusive: true }, () => {
      // the lock must not keep the process alive on its own
      server.unref();
      resolve(server);
    });
  });
}

/** Whether a filesystem socket has a live listener (fallback platforms only). */
function alive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ path });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Take the store's lock, waiting up to `timeoutMs`. */
export async function acquireLock(dir: string, timeoutMs: number): Promise<Lock> {
  const path = lockName(dir);
  const deadline = Date.now() + timeoutMs;
  let wait = 1;
  for (;;) {
    const r = await tryListen(path);
    if (r !== 'busy') {
      return {
        release: () =>
          new Promise<void>((resolve) => {
            r.close(() => resolve());
          }),
      };
    }
    if (process.platform !== 'linux' && !(await alive(path))) {
      // a socket file left by a dead holder
      try {
        unlinkSync(path);
      } catch {
        // someone else removed it first
      }
      continue;
    }
    if (Date.now() >= deadline) throw new LockTimeout(`the store at ${dir} stayed locked for ${timeoutMs} ms`);
    await sleep(wait);
    wait = Math.min(wait * 2, 50);
  }
}
