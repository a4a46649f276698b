/**
 * The outside world of the CLI, injected so that tests run main() in-process
 * with captured output, a fixed pid and a fixed clock.
 */
import { readFileSync } from 'node:fs';
import type { TzOffset } from '../format/ctime.js';
import type { SystemDb } from '../syntax/sysdb.js';
import type { Lookup } from '../syntax/resolve.js';
import { dnsLookup, systemDb } from './system.js';

export interface Io {
  stdout(s: string): void;
  stderr(s: string): void;
  readFile(path: string): Promise<Uint8Array>;
  /** standard input as a stream of chunks */
  stdin(): AsyncIterable<Uint8Array | string>;
  env: Readonly<Record<string, string | undefined>>;
  pid: number;
  /** seconds since the epoch */
  now(): number;
  /** the local time zone (default: the process's TZ) */
  tz?: TzOffset;
  sys: SystemDb;
  lookup: Lookup;
  /** aborts on SIGINT/SIGTERM: ends -x and -l loops */
  signal?: AbortSignal;
  /** the embedded engine's clock, microseconds since the epoch (default: the system's) */
  clock?: () => bigint;
  /** waits between -l rounds (tests make it instant) */
  sleep?: (ms: number) => Promise<void>;
  /** whether the kernel's key tables are reachable (backend auto-selection; tests pin it) */
  kernelReach?: () => { reachable: boolean; why: string };
}

/**
 * Buffered output: many small writes become few large ones (a 100k-entry dump).
 * Text is latin1 throughout (input files are read as latin1), so it goes out
 * byte for byte as it came in, as the C tool's printf would write it.
 */
class OutBuffer {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly fd: NodeJS.WriteStream) {}
  write(s: string): void {
    this.parts.push(s);
    this.size += s.length;
    if (this.size > 1 << 16) this.flush();
  }
  flush(): void {
    if (this.parts.length === 0) return;
    const s = this.parts.length === 1 ? this.parts[0]! : this.parts.join('');
    this.parts = [];
    this.size = 0;
    this.fd.write(s, 'latin1');
  }
}

export function processIo(): Io & { flush(): void } {
  const out = new OutBuffer(process.stdout);
  const err = new OutBuffer(process.stderr);
  let stop: AbortController | undefined;
  return {
    // -x and -l run until interrupted: they ask for this, and end cleanly with their output written;
    // other modes keep the default (an interrupted apply leaves the store as it was)
    get signal(): AbortSignal {
      if (!stop) {
        const c = new AbortController();
        for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => c.abort());
        stop = c;
      }
      return stop.signal;
    },
    stdout: (s) => out.write(s),
    stderr: (s) => {
      out.flush();
      err.write(s);
      err.flush();
    },
    // a CLI reads its one input at once; the synchronous read skips a thread-pool round trip
    readFile: async (p) => readFileSync(p),
    stdin: () => process.stdin,
    env: process.env,
    pid: process.pid,
    now: () => Math.floor(Date.now() / 1000),
    sys: systemDb(),
    lookup: dnsLookup,
    flush: () => {
      out.flush();
      err.flush();
    },
  };
}
