/**
 * Running the real setkey binary for tests that need a process of its own:
 * as another local user (setpriv), in another network or mount namespace,
 * with a time limit (a hang is a failure, not a stuck suite).
 */
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const SETKEY = join(here, '..', '..', 'bin', 'setkey');

/** A uid that no one on a test machine uses: the "second local user" of the attack tests. */
export const OTHER_UID = 54321;

export interface Spawned {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface SpawnOptions {
  input?: string | Buffer;
  env?: Record<string, string>;
  /** run as this uid/gid (root only) */
  uid?: number;
  /** prefix, e.g. ['unshare', '-n'] */
  wrap?: string[];
  timeoutMs?: number;
}

/** Run a command; resolves when it exits or is killed at the time limit. */
export function run(cmd: string, args: readonly string[], opts: SpawnOptions = {}): Promise<Spawned> {
  let argv = [cmd, ...args];
  if (opts.uid !== undefined) argv = ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', ...argv];
  if (opts.wrap) argv = [...opts.wrap, ...argv];
  return new Promise((resolve) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SETKEY_DEBUG: '', ...opts.env } });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      timedOut = true;
      c.kill('SIGKILL');
    }, opts.timeoutMs ?? 60000);
    c.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, signal, stdout, stderr, timedOut });
    });
    c.stdin.on('error', () => undefined);
    c.stdin.end(opts.input ?? '');
  });
}

export function setkey(args: readonly string[], opts: SpawnOptions = {}): Promise<Spawned> {
  return run(SETKEY, args, opts);
}

export const isRoot = (): boolean => process.getuid?.() === 0;

/** Why a root-only test cannot run here, or undefined if it can. */
export function needsRoot(tools: readonly string[] = []): string | undefined {
  if (!isRoot()) return 'needs root (another local user, namespaces); CI runs it as root';
  for (const t of tools) if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) return `needs ${t}`;
  return undefined;
}

/** One line per message, none of them a stack frame: what a user must see on any failure. */
export function assertCleanFailure(stderr: string): void {
  if (/^\s+at .+\(.*:\d+:\d+\)$/m.test(stderr) || /^\s+at /m.test(stderr)) throw new Error(`a stack trace reached the user:\n${stderr}`);
  if (/internal error/.test(stderr)) throw new Error(`an internal error reached the user:\n${stderr}`);
}
