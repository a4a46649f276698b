/**
 * What a promiscuous PF_KEY socket would read (setkey -x), for every process
 * that uses one store: an append-only file of messages beside the store.
 *
 * Why a file and not a service: the engine has no daemon to keep alive, and
 * any setkey process may come and go (or be killed) at any moment. Writers
 * append under the store's lock, right after their commit, so the log is in
 * commit order; a monitor tails it. It is written only while a monitor is
 * registered (`monitors/<pid>`, checked for liveness), so an ordinary apply
 * pays nothing for it, and it is cut back (rotated once) past 4 MiB.
 *
 *   record = "SKM1" | u32 length | u64 microseconds | message
 *
 * Messages carry keys (an ADD notification does, as on a kernel), so the
 * file is the owner's only, like the store.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, statSync, unlinkSync, watch, writeSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';

const MAGIC = 0x314d4b53; // "SKM1" little-endian
const HEAD = 16;
const ROTATE_BYTES = 4 << 20;
const LOG = 'monitor.log';
let serial = 0;

export interface Logged {
  readonly msg: Uint8Array;
  /** microseconds since the epoch */
  readonly usec: bigint;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class MonitorLog {
  constructor(private readonly dir: string) {}

  private get monitorsDir(): string {
    return join(this.dir, 'monitors');
  }

  /** Is any monitor listening? Stale registrations (killed monitors) are removed. */
  listening(): boolean {
    let names: string[];
    try {
      names = readdirSync(this.monitorsDir);
    } catch {
      return false;
    }
    let any = false;
    for (const n of names) {
      const pid = Number(n.split('.')[0]);
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) any = true;
      else {
        try {
          unlinkSync(join(this.monitorsDir, n));
        } catch {
          // another writer removed it
        }
      }
    }
    return any;
  }

  /** Append records in one write (call with the store's lock held). */
  append(records: readonly Logged[]): void {
    if (records.length === 0) return;
    const path = join(this.dir, LOG);
    try {
      if (statSync(path).size > ROTATE_BYTES) renameSync(path, `${path}.1`);
    } catch {
      // no log yet
    }
    let size = 0;
    for (const r of records) size += HEAD + r.msg.length;
    const b = Buffer.allocUnsafe(size);
    let off = 0;
    for (const r of records) {
      b.writeUInt32LE(MAGIC, off);
      b.writeUInt32LE(r.msg.length, off + 4);
      b.writeBigUInt64LE(r.usec, off + 8);
      b.set(r.msg, off + HEAD);
      off += HEAD + r.msg.length;
    }
    const fd = openSync(path, 'a', 0o600);
    try {
      for (let w = 0; w < b.length; ) w += writeSync(fd, b, w, b.length - w);
    } finally {
      closeSync(fd);
    }
  }

  /** Register a monitor of this process; returns the log offset to read from. */
  register(): { offset: number; unregister(): void } {
    mkdirSync(this.monitorsDir, { recursive: true, mode: 0o700 });
    // named by the OS process id (its liveness is what counts) and a serial, for several in one process
    const mine = join(this.monitorsDir, `${process.pid}.${++serial}`);
    closeSync(openSync(mine, 'w', 0o600));
    const fd = openSync(join(this.dir, LOG), 'a', 0o600);
    const offset = fstatSync(fd).size;
    closeSync(fd);
    return {
      offset,
      unregister: () => {
        try {
          unlinkSync(mine);
        } catch {
          // gone already
        }
      },
    };
  }

  /**
   * Read records from `offset` on, following rotation, until the signal
   * aborts; `tick` runs on every wake-up (the monitor runs due expiries there).
   */
  async tail(offset: number, onRecord: (r: Logged) => void, signal: AbortSignal, tick: () => Promise<void>): Promise<void> {
    const path = join(this.dir, LOG);
    let fd = openSync(path, 'r');
    let ino = fstatSync(fd).ino;
    let pos = offset;
    let pending: Buffer = Buffer.alloc(0);
    const drain = (): void => {
      for (;;) {
        const size = fstatSync(fd).size;
        if (size > pos) {
          const chunk = Buffer.allocUnsafe(size - pos);
          const n = readSync(fd, chunk, 0, chunk.length, pos);
          pos += n;
          pending = pending.length ? Buffer.concat([pending, chunk.subarray(0, n)]) : chunk.subarray(0, n);
          pending = this.parse(pending, onRecord);
        }
        // rotated: finish the old file (done above), then continue with the new one
        let now: number;
        try {
          now = statSync(path).ino;
        } catch {
          return;
        }
        if (now === ino) return;
        closeSync(fd);
        fd = openSync(path, 'r');
        ino = fstatSync(fd).ino;
        pos = 0;
        pending = Buffer.alloc(0);
      }
    };
    let wake: (() => void) | undefined;
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(this.dir, { persistent: false }, () => wake?.());
    } catch {
      // no inotify: polling alone
    }
    try {
      while (!signal.aborted) {
        await tick();
        drain();
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(t);
            signal.removeEventListener('abort', done);
            resolve();
          };
          const t = setTimeout(done, 250);
          wake = done;
          signal.addEventListener('abort', done, { once: true });
        });
        wake = undefined;
      }
    } finally {
      watcher?.close();
      closeSync(fd);
    }
  }

  /** Complete records out of `b`; returns what is left (a record still being written). */
  private parse(b: Buffer, onRecord: (r: Logged) => void): Buffer {
    let off = 0;
    while (off + HEAD <= b.length) {
      if (b.readUInt32LE(off) !== MAGIC) {
        // a record torn by a writer killed mid-write: resynchronise on the next magic
        const next = b.indexOf('SKM1', off + 1, 'latin1');
        if (next < 0) return Buffer.alloc(0);
        off = next;
        continue;
      }
      const len = b.readUInt32LE(off + 4);
      if (off + HEAD + len > b.length) break;
      onRecord({ msg: new Uint8Array(b.subarray(off + HEAD, off + HEAD + len)), usec: b.readBigUInt64LE(off + 8) });
      off += HEAD + len;
    }
    return b.subarray(off);
  }
}
