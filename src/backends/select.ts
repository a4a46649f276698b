/**
 * Which backend serves a run. --backend, else SETKEY_BACKEND; --store /
 * SETKEY_STORE imply the embedded engine (naming a store and a kernel
 * backend at once is a usage error). Without either, a kernel that has key
 * tables (XFRM or PF_KEY) serves, or setkey fails: a forgotten sudo in a
 * boot script must not "succeed" into a store while the kernel has no keys.
 * Only where the kernel has no key tables at all does the embedded engine
 * serve unasked, and setkey says so once on stderr.
 */
import { readFileSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Backend, BackendName } from './backend.js';

export interface BackendChoice {
  readonly name: BackendName | 'auto';
  readonly store?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

export function chooseBackend(flag: BackendName | undefined, store: string | undefined, env: Env): BackendChoice | { error: string } {
  const fromEnv = env['SETKEY_BACKEND'] || undefined;
  if (flag === undefined && fromEnv !== undefined && fromEnv !== 'embedded' && fromEnv !== 'xfrm' && fromEnv !== 'pfkey') {
    return { error: `SETKEY_BACKEND must be embedded, xfrm or pfkey, not '${fromEnv.slice(0, 40)}'` };
  }
  const name = flag ?? (fromEnv as BackendName | undefined);
  const envStore = env['SETKEY_STORE'] || undefined;
  const st = store ?? envStore;
  if (st !== undefined && (name === 'xfrm' || name === 'pfkey')) {
    const storeSaid = store !== undefined ? `--store=${store}` : `SETKEY_STORE=${envStore}`;
    const backendSaid = flag !== undefined ? `--backend=${flag}` : `SETKEY_BACKEND=${fromEnv}`;
    return { error: `${storeSaid} and ${backendSaid} contradict each other: a store belongs to the embedded engine, ${name} is the kernel; give one of them` };
  }
  const chosen: BackendName | 'auto' = name ?? (st ? 'embedded' : 'auto');
  return st ? { name: chosen, store: st } : { name: chosen };
}

/** $XDG_STATE_HOME/setkey/store, else ~/.local/state/setkey/store. */
export function defaultStorePath(env: Env): string {
  const xdg = env['XDG_STATE_HOME'];
  const base = xdg && xdg.startsWith('/') ? xdg : join(env['HOME'] || homedir(), '.local', 'state');
  return join(base, 'setkey', 'store');
}

/** The kernel's key tables: whether there are any, and whether this process may use them. */
export interface Reach {
  /** this process can use them */
  readonly reachable: boolean;
  /** what is missing (or what there is), for messages */
  readonly why: string;
  /** which interface reaches them */
  readonly via?: 'xfrm' | 'pfkey';
  /** the kernel has key tables (then it must serve: the engine never stands in) */
  readonly tables?: boolean;
}

function hasNetAdmin(): boolean {
  try {
    const status = readFileSync('/proc/self/status', 'latin1');
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    // CAP_NET_ADMIN is capability 12
    return m !== null && (BigInt('0x' + m[1]!) & (1n << 12n)) !== 0n;
  } catch {
    return process.geteuid?.() === 0;
  }
}

export function kernelReach(): Reach {
  if (process.platform === 'linux') {
    // the XFRM sysctls exist whenever the kernel has XFRM (CONFIG_XFRM), whoever asks
    const xfrm = existsSync('/proc/sys/net/core/xfrm_acq_expires') || existsSync('/proc/net/xfrm_stat');
    const pfkey = existsSync('/proc/net/pfkey');
    if (!xfrm && !pfkey) return { reachable: false, why: 'the kernel has neither XFRM nor PF_KEY' };
    const via = xfrm ? 'xfrm' : 'pfkey';
    if (!hasNetAdmin()) return { reachable: false, tables: true, via, why: `the kernel's key tables (${via === 'xfrm' ? 'XFRM' : 'PF_KEY'}) need CAP_NET_ADMIN: run setkey as root (sudo)` };
    return { reachable: true, tables: true, via, why: `${via === 'xfrm' ? 'XFRM' : 'PF_KEY'} is reachable` };
  }
  // the BSDs and macOS have PF_KEY; it needs root
  if (process.geteuid?.() !== 0) return { reachable: false, tables: true, via: 'pfkey', why: "the kernel's key tables (PF_KEY) need root: run setkey as root (sudo)" };
  return { reachable: true, tables: true, via: 'pfkey', why: 'PF_KEY is reachable as root' };
}

/** How to choose the engine on purpose, for messages that refuse to choose it silently. */
export const ENGINE_ON_PURPOSE = 'To use setkey\'s embedded key engine instead, ask for it: --store=DIR, SETKEY_STORE=DIR or --backend=embedded';

export type Opened = { ok: true; backend: Backend; note?: string } | { ok: false; message: string };

/** A kernel's PF_KEY socket, or why there is none (never a silent stand-in). */
async function openPfkey(): Promise<Opened> {
  try {
    const { PfkeyBackend } = await import('./pfkey.js');
    return { ok: true, backend: await PfkeyBackend.open() };
  } catch (e) {
    const code = (e as { code?: string }).code;
    switch (code) {
      case 'no-koffi':
        return { ok: false, message: 'the pfkey backend needs the optional package koffi for its socket (npm install koffi); --backend=embedded needs nothing' };
      case 'EAFNOSUPPORT':
        return { ok: false, message: `this kernel has no PF_KEY (CONFIG_NET_KEY, module af_key)${process.platform === 'linux' ? '; on Linux the xfrm backend (--backend=xfrm) reaches the same tables' : ''}` };
      case 'EPERM':
      case 'EACCES':
        return { ok: false, message: 'a PF_KEY socket needs root (CAP_NET_ADMIN)' };
    }
    throw e;
  }
}

/** The kernel's XFRM tables, or why they cannot be used (never a silent stand-in). */
async function openXfrm(): Promise<Opened> {
  try {
    const { XfrmBackend } = await import('./xfrm.js');
    return { ok: true, backend: await XfrmBackend.open() };
  } catch (e) {
    const code = (e as { code?: string }).code;
    switch (code) {
      case 'no-koffi':
        return { ok: false, message: 'the xfrm backend needs the optional package koffi for its netlink socket (npm install koffi); --backend=embedded needs nothing' };
      case 'EPERM':
      case 'EACCES':
        return { ok: false, message: "the xfrm backend needs CAP_NET_ADMIN (run as root) to reach the kernel's XFRM tables" };
      case 'EPROTONOSUPPORT':
      case 'EAFNOSUPPORT':
        return { ok: false, message: 'this kernel has no XFRM netlink (CONFIG_XFRM_USER); --backend=embedded works anywhere' };
    }
    throw e;
  }
}

export interface OpenOptions {
  /** whether the kernel's key tables are reachable (default: look) */
  readonly reach?: () => Reach;
  /** the engine's clock, microseconds */
  readonly clock?: () => bigint;
  /** the run only reads (a dump, a flush): a missing store is not created, it reads as empty */
  readonly readOnly?: boolean;
  /** a writer that waits for the store's lock says so (who holds it) */
  readonly onLockWait?: (holder: string | undefined) => void;
  /** how the kernel backends are opened (tests replace them: a test never reaches the host's tables) */
  readonly kernel?: { readonly xfrm: () => Promise<Opened>; readonly pfkey: () => Promise<Opened> };
}

/** SETKEY_LOCK_TIMEOUT: seconds a writer waits for the store's lock (default 60). */
export function lockTimeoutMs(env: Readonly<Record<string, string | undefined>>): number | { error: string } {
  const t = env['SETKEY_LOCK_TIMEOUT'];
  if (t === undefined || t === '') return 60000;
  if (!/^[0-9]+(\.[0-9]+)?$/.test(t) || Number(t) > 86400) return { error: `SETKEY_LOCK_TIMEOUT must be a number of seconds up to 86400, not '${t.slice(0, 40)}'` };
  return Math.round(Number(t) * 1000);
}

async function openEmbedded(dir: string, env: Readonly<Record<string, string | undefined>>, opts: OpenOptions, note?: string): Promise<Opened> {
  const timeout = lockTimeoutMs(env);
  if (typeof timeout !== 'number') return { ok: false, message: timeout.error };
  // each backend's code is loaded only when it is the one chosen (startup time)
  const [{ EmbeddedBackend }, { StoreError }] = await Promise.all([import('./embedded.js'), import('../engine/store.js')]);
  try {
    const backend = await EmbeddedBackend.open(dir, {
      lockTimeoutMs: timeout,
      ...(opts.readOnly ? { readOnly: true } : {}),
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.onLockWait ? { onLockWait: opts.onLockWait } : {}),
    });
    return note ? { ok: true, backend, note } : { ok: true, backend };
  } catch (e) {
    if (e instanceof StoreError) return { ok: false, message: e.message };
    const err = e as NodeJS.ErrnoException;
    if (err.code) return { ok: false, message: `${dir}: ${err.message}` };
    throw e;
  }
}

export async function openBackend(choice: BackendChoice, env: Readonly<Record<string, string | undefined>>, opts: OpenOptions = {}): Promise<Opened> {
  switch (choice.name) {
    case 'embedded':
      return openEmbedded(choice.store ?? defaultStorePath(env), env, opts);
    case 'xfrm':
      return (opts.kernel?.xfrm ?? openXfrm)();
    case 'pfkey':
      return (opts.kernel?.pfkey ?? openPfkey)();
    case 'auto': {
      const r = (opts.reach ?? kernelReach)();
      if (r.reachable) return r.via === 'pfkey' ? (opts.kernel?.pfkey ?? openPfkey)() : (opts.kernel?.xfrm ?? openXfrm)();
      // a kernel with key tables serves or the run fails: never a silent stand-in
      if (r.tables) return { ok: false, message: `${r.why}; nothing was done. ${ENGINE_ON_PURPOSE}` };
      const dir = defaultStorePath(env);
      return openEmbedded(dir, env, opts, `no kernel key tables (${r.why}); using the embedded key engine, store ${dir}`);
    }
  }
}
