/**
 * Built-in modules loaded on first use (and without import(), which the
 * one-file build run from V8's code cache has no loader for: bin/bundle.js).
 * crypto, zlib and tty each cost about
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

let req: NodeJS.Require | undefined;
const load = <T>(name: string): T => (req ??= createRequire(process.execPath))(name) as T;

let crypto: Crypto | undefined;
let zlib: Zlib | undefined;
let tty: Tty | undefined;
let dns: Dns | undefined;

export const lazyCrypto = (): Crypto => (crypto ??= load<Crypto>('node:crypto'));
export const lazyZlib = (): Zlib => (zlib ??= load<Zlib>('node:zlib'));
export const lazyTty = (): Tty => (tty ??= load<Tty>('node:tty'));
export const lazyDns = (): Dns => (dns ??= load<Dns>('node:dns'));

let contained = false;

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
  if (contained) return;
  contained = true;
  load<typeof import('node:v8')>('node:v8').setFlagsFromString('--semi-space-growth-factor=1');
}

let printing = false;

/**
 * For a long dump, after containYoungGeneration: the old generation may
 * grow by 20% over what a full collection leaves before the next one, not
 * by V8's own factor (up to 4x). A dump keeps ~7 MB alive however long it
 * is, but some of what it makes lives through two scavenges and is promoted
 * (50 MB over a 1M-SA dump), and V8 let that pile up the longer the dump
 * ran: -D of 10k, 100k, 1M SAs 61, 65, 92 MB, now 62, 68, 79 (time the
 * same within the noise). Not for an apply, whose live heap is large:
 * there it halves the peak (233 -> 132 MB for 200k statements) but costs
 * 7% of the time. The flag is read at each full collection.
 */
export function containPrinting(): void {
  containYoungGeneration();
  if (printing) return;
  printing = true;
  load<typeof import('node:v8')>('node:v8').setFlagsFromString('--heap-growing-percent=20');
}
