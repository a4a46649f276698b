/**
 * What a promiscuous PF_KEY socket would read (setkey -x), for every process
 * that uses one store: an append-only file of messages in the store.
 *
 * Why a file and not a service: the engine has no daemon to keep alive, and
 * any setkey process may come and go (or be killed) at any moment. Writers
 * append under the store's lock, right after their commit, so the log is in
 * commit order; a monitor tails it. It exists only while a monitor is
 * registered (`monitors/<pid>.<n>`, checked for liveness): registering and
 * unregistering happen under the store's lock, and the last monitor to go
 * (or the first writer to find only dead ones) removes the log. An apply
 * with no monitor pays nothing for it.
 *
 * Size: the log is rotated (renamed to monitor.log.1, replacing the previous
 * one) before it would pass 4 MiB, also inside one large append, so the two
 * files never hold more than about 8 MiB. A monitor more than a whole file
 * behind misses messages, as a kernel's promiscuous socket does when its
 * receive buffer overflows, and says so.
 *
 *   record = "SKM1" | u32 length | u64 microseconds | message
 *
 * Messages carry keys (an ADD notification does, as on a kernel), so the
 * files are the owner's only, like the store, and reached through the
 * store's checked directory (store-dir.ts).
 */
import { closeSync, fstatSync, readSync, watch, writeSync, type FSWatcher } from 'node:fs';
import type { StoreDir } from './store-dir.js';

const MAGIC = 0x314d4b53; // "SKM1" little-endian
const HEAD = 16;
export const ROTATE_BYTES = 4 << 20;
const LOG = 'monitor.log';
const OLD = 'monitor.log.1';
const MONITORS = 'monitors';
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

function encode(records: readonly Logged[]): Buffer {
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
  return b;
}

export interface Registration {
  /** where in the log this monitor starts reading */
  readonly offset: number;
}

export class MonitorLog {
  constructor(private readonly files: StoreDir) {}

  /**
   * Is any monitor listening? Registrations of dead monitors are removed,
   * and with the last of them the log (call with the store's lock held).
   */
  listening(): boolean {
    let any = false;
    for (const n of this.files.list(MONITORS)) {
      const pid = Number(n.split('.')[0]);
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) any = true;
      else this.files.remove(`${MONITORS}/${n}`);
    }
    if (!any) this.removeLog();
    return any;
  }

  private removeLog(): void {
    this.files.remove(LOG);
    this.files.remove(OLD);
  }

  /** Append records, rotating before the log passes ROTATE_BYTES (call with the store's lock held). */
  append(records: readonly Logged[]): void {
    let i = 0;
    while (i < records.length) {
      const size = this.files.lstat(LOG)?.size ?? 0;
      // as many records as fit; one at least (a message is at most 512 KiB)
      let j = i;
      let bytes = 0;
      while (j < records.length && (j === i || size + bytes + HEAD + records[j]!.msg.length <= ROTATE_BYTES)) bytes += HEAD + records[j++]!.msg.length;
      if (size > 0 && size + bytes > ROTATE_BYTES) {
        this.files.rename(LOG, OLD);
        continue;
      }
      const b = encode(records.slice(i, j));
      const fd = this.files.openWrite(LOG, 'create-or-append');
      try {
        for (let w = 0; w < b.length; ) w += writeSync(fd, b, w, b.length - w);
      } finally {
        closeSync(fd);
      }
      i = j;
    }
  }

  /** Register a monitor of this process (call with the store's lock held). */
  register(): Registration & { name: string } {
    this.files.subdir(MONITORS);
    // named by the OS process id (its liveness is what counts) and a serial, for several in one process
    const name = `${MONITORS}/${process.pid}.${++serial}`;
    closeSync(this.files.openWrite(name, 'create-new'));
    const fd = this.files.openWrite(LOG, 'create-or-append');
    try {
      return { name, offset: fstatSync(fd).size };
    } finally {
      closeSync(fd);
    }
  }

  /** Remove a registration; the last monitor removes the log (call with the store's lock held). */
  unregister(r: { name: string }): void {
    this.files.remove(r.name);
    this.listening();
  }

  /**
   * Read records from `offset` on, following rotation, until the signal
   * aborts; `tick` runs on every wake-up (the monitor runs due expiries there),
   * `onLoss` when whole files went by unread.
   */
  async tail(offset: number, onRecord: (r: Logged) => void, signal: AbortSignal, tick: () => Promise<void>, onLoss: () => void): Promise<void> {
    let fd = this.openLog();
    let ino = fd === undefined ? -1 : fstatSync(fd).ino;
    let pos = offset;
    let pending: Buffer = Buffer.alloc(0);
    const drain = (): void => {
      for (;;) {
        if (fd !== undefined) {
          const size = fstatSync(fd).size;
          if (size > pos) {
            const chunk = Buffer.allocUnsafe(size - pos);
            const n = readSync(fd, chunk, 0, chunk.length, pos);
            pos += n;
            pending = pending.length ? Buffer.concat([pending, chunk.subarray(0, n)]) : chunk.subarray(0, n);
            pending = this.parse(pending, onRecord);
          }
        }
        // rotated: the old file was finished above; if the rotated one is not ours, whole files went by
        const now = this.files.lstat(LOG)?.ino ?? -1;
        if (now === ino || now === -1) return;
        const old = this.files.lstat(OLD)?.ino;
        if (fd !== undefined && old !== ino) onLoss();
        if (fd !== undefined) closeSync(fd);
        fd = this.openLog();
        ino = fd === undefined ? -1 : fstatSync(fd).ino;
        pos = 0;
        pending = Buffer.alloc(0);
      }
    };
    let wake: (() => void) | undefined;
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(this.files.path('.'), { persistent: false }, () => wake?.());
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
      if (fd !== undefined) closeSync(fd);
    }
  }

  private openLog(): number | undefined {
    return this.files.openRead(LOG);
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
