/**
 * Kernel tests never touch the host's own tables: a kernel test file re-runs
 * itself under `unshare -n` (as root), and each case can move this thread to
 * a network namespace of its own (fresh tables, fresh counters).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const INSIDE = process.env['SETKEY_TEST_NETNS'] === '1';
const CLONE_NEWNET = 0x40000000;

export function whyNoNetns(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'not root: a private network namespace needs CAP_SYS_ADMIN';
  if (spawnSync('unshare', ['-n', 'true']).status !== 0) return 'unshare -n does not work here';
  return undefined;
}

/** The outer run: one test that runs this file again inside `unshare -n` and passes when it does. */
export function rerunInNetns(selfUrl: string, title: string): void {
  const reason = whyNoNetns();
  test(title, { skip: reason ?? false }, () => {
    // the child is a test run of its own (not a nested `--test`, which node refuses)
    const env: NodeJS.ProcessEnv = { ...process.env, SETKEY_TEST_NETNS: '1' };
    delete env['NODE_TEST_CONTEXT'];
    const r = spawnSync('unshare', ['-n', process.execPath, '--test-reporter=spec', fileURLToPath(selfUrl)], { env, encoding: 'utf8', timeout: 900000 });
    process.stdout.write(r.stdout.replace(/^/gm, '# '));
    if (r.stderr) process.stdout.write(r.stderr.replace(/^/gm, '# '));
    assert.equal(r.status, 0, 'the suite inside the namespace failed (its output is above)');
    assert.match(r.stdout, /ℹ tests [1-9]/, 'the suite inside the namespace ran');
  });
}

/** Moves this thread into a fresh network namespace (loopback up), or says why it cannot. */
export async function freshNetns(): Promise<(() => void) | string> {
  try {
    const koffi = (await import('koffi')).default;
    const unshare = koffi.load('libc.so.6').func('int unshare(int flags)') as (flags: number) => number;
    return () => {
      if (unshare(CLONE_NEWNET) !== 0) throw new Error('unshare(CLONE_NEWNET) failed');
      spawnSync('ip', ['link', 'set', 'lo', 'up']);
    };
  } catch (e) {
    return `koffi is not installed (${(e as Error).message.split('\n')[0]})`;
  }
}
