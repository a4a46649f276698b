/**
 * Which backend serves a run: --backend, else SETKEY_BACKEND; --store /
 * SETKEY_STORE imply the embedded engine. No backend is implemented yet in
 * this version, so selection says so plainly instead of pretending.
 */
import type { BackendName } from '../cli/args.js';

export interface BackendChoice {
  readonly name: BackendName | 'auto';
  readonly store?: string;
}

export type SelectResult = { ok: false; message: string };

export function chooseBackend(flag: BackendName | undefined, store: string | undefined, env: Readonly<Record<string, string | undefined>>): BackendChoice | { error: string } {
  const fromEnv = env['SETKEY_BACKEND'];
  const name = flag ?? (fromEnv === undefined || fromEnv === '' ? undefined : fromEnv);
  if (name !== undefined && name !== 'embedded' && name !== 'xfrm' && name !== 'pfkey') {
    return { error: `SETKEY_BACKEND must be embedded, xfrm or pfkey, not '${name}'` };
  }
  const st = store ?? env['SETKEY_STORE'] ?? undefined;
  const chosen: BackendName | 'auto' = name ?? (st ? 'embedded' : 'auto');
  return st ? { name: chosen, store: st } : { name: chosen };
}

/** Open the chosen backend. None exists yet: a clear message, never a silent stand-in. */
export function openBackend(choice: BackendChoice): SelectResult {
  const what =
    choice.name === 'auto'
      ? 'no backend: the embedded key engine, XFRM and PF_KEY backends are not available yet in this version'
      : `the ${choice.name} backend is not available yet in this version`;
  return { ok: false, message: `${what}; use -n to check a configuration without applying it` };
}
