/**
 * Built-in modules loaded on first use. crypto, zlib and tty each cost about
 * 2 ms to load, a tenth of what setkey adds to Node's own start-up; a
 * short command (-D on an empty store) should not pay for what it does not
 * use (issue 12: start-up <= 1.5x `node -e 0`). Synchronous, through
 * Node's require, which serves built-ins whatever the path it is made for.
 */
import { createRequire } from 'node:module';

type Crypto = typeof import('node:crypto');
type Zlib = typeof import('node:zlib');
type Tty = typeof import('node:tty');

let req: NodeJS.Require | undefined;
const load = <T>(name: string): T => (req ??= createRequire(process.execPath))(name) as T;

let crypto: Crypto | undefined;
let zlib: Zlib | undefined;
let tty: Tty | undefined;

export const lazyCrypto = (): Crypto => (crypto ??= load<Crypto>('node:crypto'));
export const lazyZlib = (): Zlib => (zlib ??= load<Zlib>('node:zlib'));
export const lazyTty = (): Tty => (tty ??= load<Tty>('node:tty'));
