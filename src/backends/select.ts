/**
 * Which backend serves a run. --backend, else SETKEY_BACKEND; --store /
 * SETKEY_STORE imply the embedded engine. Without either, the kernel's key
 * tables are used when this process can reach them (over XFRM on Linux);
 * when it cannot (not privileged, or no XFRM/PF_KEY in the kernel) the
 * embedded engine serves instead, and setkey says so once on stderr. It never
 * stands in silently for a kernel that is reachable.
 */
import { readFileSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { BackendName } from '../cli/args.js';
import type { Backend } from './backend.js';

export interface BackendChoice {
  readonly name: BackendName | 'auto';
  readonly store?: string;
}

export function chooseBackend(flag: BackendName | undefined, store: string | undefined, env: Readonly<Record<string, string | undefined>>): BackendChoice | { error: string } {
  const fromEnv = env['SETKEY_BACKEND'];
  const name = flag ?? (fromEnv === undefined || fromEnv === '' ? undefined : fromEnv);
  if (name !== undefined && name !== 'embedded' && name !== 'xfrm' && name !== 'pfkey') {
    return { error: `SETKEY_BACKEND must be embedded, xfrm or pfkey, not '${name}'` };
  }
  const st = store ?? (env['SETKEY_STORE'] || undefined);
  const chosen: BackendName | 'auto' = name ?? (st ? 'embedded' : 'auto');
  return st ? { name: chosen, store: st } : { name: chosen };
}

/** $XDG_STATE_HOME/setkey/store, else ~/.local/state/setkey/store. */
export function defaultStorePath(env: Readonly<Record<string, string | undefined>>): string {
  const xdg = env['XDG_STATE_HOME'];
  const base = xdg && xdg.startsWith('/') ? xdg : join(env['HOME'] || homedir(), '.local', 'state');
  return join(base, 'setkey', 'store');
}

/** Can this process reach the kernel's key tables? (CAP_NET_ADMIN and XFRM or PF_KEY in the kernel) */
export interface Reach {
  readonly reachable: boolean;
  readonly why: string;
  /** which interface reaches them */
  readonly via?: 'xfrm' | 'pfkey';
}

export function kernelReach(): Reach {
  if (process.platform === 'linux') {
    let capable = false;
    try {
      const status = readFileSync('/proc/self/status', 'latin1');
      const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
      // CAP_NET_ADMIN is capability 12
      capable = m !== null && (BigInt('0x' + m[1]!) & (1n << 12n)) !== 0n;
    } catch {
      capable = process.geteuid?.() === 0;
    }
    if (!capable) return { reachable: false, why: 'not privileged (no CAP_NET_ADMIN)' };
    const xfrm = existsSync('/proc/net/xfrm_stat');
    const pfkey = existsSync('/proc/net/pfkey');
    if (!xfrm && !pfkey) return { reachable: false, why: 'the kernel has neither XFRM nor PF_KEY' };
    return xfrm ? { reachable: true, why: 'XFRM is reachable', via: 'xfrm' } : { reachable: true, why: 'PF_KEY is reachable', via: 'pfkey' };
  }
  if (process.geteuid?.() !== 0) return { reachable: false, why: 'not root' };
  return { reachable: true, why: 'PF_KEY is reachable as root', via: 'pfkey' };
}

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
      const dir = defaultStorePath(env);
      return openEmbedded(dir, env, opts, `no kernel key tables reachable (${r.why}); using the embedded key engine, store ${dir}`);
    }
  }
}
