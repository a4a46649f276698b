/**
 * Built-in modules loaded on first use (and without import(), which the
 * one-file build run from V8's code cache has no loader for: bin/bundle.js).
 * crypto, zlib, tty and worker_threads each cost about
 * 2 ms to load, a tenth of what setkey adds to Node's own start-up; a
 * short command (-D on an empty store) should not pay for what it does not
 * use (issue 12: start-up <= 1.5x `node -e 0`). Synchronous, through
 * Node's require, which serves built-ins whatever the path it is made for.
 */
import { createRequire } from 'node:module';

type Crypto = typeof import('node:crypto');
type Zlib = typeof import('node:zlib');
type Tty = typeof import('node:tty');
type Dns = typeof import('node:dns');
type WorkerThreads = typeof import('node:worker_threads');

let req: NodeJS.Require | undefined;
const load = <T>(name: string): T => (req ??= createRequire(process.execPath))(name) as T;

let crypto: Crypto | undefined;
let zlib: Zlib | undefined;
let tty: Tty | undefined;
let dns: Dns | undefined;
let workerThreads: WorkerThreads | undefined;

export const lazyCrypto = (): Crypto => (crypto ??= load<Crypto>('node:crypto'));
export const lazyZlib = (): Zlib => (zlib ??= load<Zlib>('node:zlib'));
export const lazyTty = (): Tty => (tty ??= load<Tty>('node:tty'));
export const lazyDns = (): Dns => (dns ??= load<Dns>('node:dns'));
export const lazyWorkerThreads = (): WorkerThreads => (workerThreads ??= load<WorkerThreads>('node:worker_threads'));

/** the semi-space growth factor set last (V8's default: 2) */
let growth = 2;

/**
 * For long work only (a large dump or script; not at start-up: loading v8
 * costs 2 ms): V8's young generation stays at its first size instead of
 * doubling up to 16 MB semi-spaces as allocation goes on. Streaming work
 * keeps little alive, so a small young generation loses almost nothing, and
 * peak memory stops growing with the input: printing 1M SAs 116 -> 72 MiB
 * (10k: 58), `-n -f` of 100k statements 88 -> 74 MiB, applying 100k + 100k
 * 309 -> 262 MB; time +0-10% (measured A/B). The flag is one V8 reads each
 * time the young generation would grow, so it takes effect when set.
 */
export function containYoungGeneration(): void {
  // (again after youngGenerationUpTo let it grow: a dump inside a long apply is contained from its start)
  if (growth !== 1) semiSpaceGrowth(1);
}

/** How V8 grows its young generation's semi-spaces after a scavenge (1: not at all; V8's default is 2). */
function semiSpaceGrowth(factor: number): void {
  growth = factor;
  load<typeof import('node:v8')>('node:v8').setFlagsFromString(`--semi-space-growth-factor=${factor}`);
}

/**
 * For an apply to the engine (after containYoungGeneration): V8's young
 * generation may grow again, until V8 reports its new space at `bytes` (a
 * size that counts both semi-spaces), and no further.
 * The engine's transaction keeps much of what it makes alive until it is
 * put aside, so with 1 MiB semi-spaces each scavenge copied most of what it
 * found (4,273 scavenges, 2.1 s, in an apply of 100k SAs + 100k policies);
 * with 4 MiB, the apply took 0.90x the time for +8 MiB (A/B, 5 runs; 8
 * MiB: 0.95x for +33). V8 grows the young generation only after a
 * scavenge, one doubling at a time: the returned check, called every few
 * dozen statements, stops it at the size asked.
 */
export function youngGenerationUpTo(bytes: number): () => void {
  const v = load<typeof import('node:v8')>('node:v8');
  // V8's own default factor: the space doubles when enough survives a scavenge
  semiSpaceGrowth(2);
  let done = false;
  return () => {
    if (done) return;
    for (const sp of v.getHeapSpaceStatistics()) {
      if (sp.space_name !== 'new_space' || sp.space_size < bytes) continue;
      semiSpaceGrowth(1);
      done = true;
    }
  };
}

let printing = false;
/** V8's full collection, exposed for a long dump (containPrinting) */
let collect: (() => void) | undefined;
let v8: typeof import('node:v8') | undefined;
/** the old generation in use after the last full collection of a long dump */
let floor = 0;
/** bytes of V8's old generation a long dump may leave to garbage before it is collected */
const PRINT_GARBAGE = 2 << 20;

/**
 * For a long dump, after containYoungGeneration: its garbage is collected
 * before it piles up. A dump keeps ~13 MB alive however long it is, but
 * some of what it makes lives through two scavenges and is promoted (45 MB
 * over a dump of 1M SAs), and V8 collects the old generation only when it
 * reaches its own floor (~26 MB in use here; --heap-growing-percent cannot
 * lower it): -D of 10k SAs peaked at 60 MB, of 1M at 79. So the printer
 * asks, every 64 KB of output or 1024 entries, whether the old generation
 * has grown by PRINT_GARBAGE since the last collection, and if so collects
 * (a few ms with 13 MB alive, two dozen times a million entries; the check
 * is V8's heap space statistics, ~1 us). --heap-growing-percent=20 stays
 * for what happens between two checks.
 */
export function containPrinting(): void {
  containYoungGeneration();
  if (printing) return;
  printing = true;
  v8 = load<typeof import('node:v8')>('node:v8');
  v8.setFlagsFromString('--heap-growing-percent=20');
  collect = exposedGc();
  floor = oldGeneration(v8);
}

/** V8's full collection, as a function (made once). */
function exposedGc(): () => void {
  if (collect) return collect;
  // exposed to contexts made from now on: a new one hands it over (the main one was made without it)
  load<typeof import('node:v8')>('node:v8').setFlagsFromString('--expose-gc');
  return load<typeof import('node:vm')>('node:vm').runInNewContext('gc') as () => void;
}

/**
 * A full collection now: a bulk load's part just put aside on disk (about
 * a hundred MB of records and keys) is garbage at once, and V8 would keep
 * it until its old generation grew further, holding two parts at a time.
 * Collected, an apply of 1M SAs + 1M policies peaks at 257-260 MiB.
 */
export function collectGarbage(): void {
  collect = exposedGc();
  collect();
}

/** Bytes in use in V8's old generation (the young one, which scavenges empty, aside). */
function oldGeneration(v: typeof import('node:v8')): number {
  let n = 0;
  for (const s of v.getHeapSpaceStatistics()) if (s.space_name === 'old_space' || s.space_name === 'large_object_space') n += s.space_used_size;
  return n;
}

/** A long dump's garbage collected if the heap grew past PRINT_GARBAGE since the last time (see containPrinting). */
export function collectPrinted(): void {
  if (collect === undefined || v8 === undefined) return;
  if (oldGeneration(v8) < floor + PRINT_GARBAGE) return;
  collect();
  floor = oldGeneration(v8);
}

/**
 * For work that keeps both cores busy (a bulk load and its worker thread,
 * started after this): the worker's V8 optimizes its hot functions on its
 * own thread, not on a compiler thread. With two cores both running
 * JavaScript, that compiler thread waited for a core while the worker ran
 * unoptimized code: an apply of 100k SAs + 100k policies takes 0.94-0.96x
 * the time with it, 0.88-0.97x the CPU (A/B runs of 15-31 pairs; one run
 * of 31 showed no difference in time, one without it 1.07x).
 *
 * V8 reads its flags at start-up; set later, this one makes an isolate
 * created after it (the worker's) compile on its own thread, and leaves
 * the main isolate's compiler thread as it was. Flags changed at run time
 * are outside V8's contract (--single-threaded-gc set so aborted the
 * process), so only on the V8 it was verified on: 11.3 (Node 20: every CI
 * run, and some hundreds of loads of 100k + 100k measured). Elsewhere,
 * nothing: the worker runs as V8 starts it.
 */
export function compileWorkersInline(): void {
  if (!process.versions.v8.startsWith('11.3.')) return;
  load<typeof import('node:v8')>('node:v8').setFlagsFromString('--no-concurrent-recompilation');
}
