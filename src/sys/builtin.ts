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
