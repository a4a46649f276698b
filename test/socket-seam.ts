/**
 * What the tests of the two kernel socket seams share (netlink-socket.test.ts,
 * pfkey-socket.test.ts): whether koffi is there, a fixture run in a network
 * namespace of its own, the seam loaded where koffi is not, and the abort and
 * close checks, which hold alike for both (src/sys/datagram-socket.ts).
 */
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export async function koffiMissing(): Promise<string | undefined> {
  try {
    await import('koffi' as string);
    return undefined;
  } catch {
    return 'the optional package koffi is not installed';
  }
}

/**
 * Run the fixture (test/fixtures/<name>) under `unshare -n`, unless `reason`
 * says why it cannot run here (the test is then skipped); its JSON result, or
 * undefined when skipped.
 */
export function fixtureInNamespace(t: TestContext, reason: string | undefined, fixture: string, args: readonly string[], timeoutMs: number): Record<string, any> | undefined {
  if (reason) {
    t.skip(reason);
    return undefined;
  }
  const file = join(here, '..', '..', 'test', 'fixtures', fixture);
  const r = spawnSync('unshare', ['-n', process.execPath, file, ...args], { encoding: 'utf8', timeout: timeoutMs });
  assert.equal(r.status, 0, `fixture ${args.join(' ')} failed (${r.signal ?? r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, any>;
}

/**
 * The seam `entry` (a path below dist/src) and what it imports, copied
 * where no node_modules can provide koffi, and imported from there; or
 * undefined when koffi is reachable even there (the test is then skipped).
 */
export async function importWithoutKoffi<M>(t: TestContext, entry: string): Promise<M | undefined> {
  const root = mkdtempSync(join(tmpdir(), 'setkey-nokoffi-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  try {
    createRequire(join(root, 'x.js')).resolve('koffi');
    t.skip(`koffi is reachable from ${root}`);
    return undefined;
  } catch {
    // as wanted
  }
  const dist = join(here, '..', 'src');
  for (const f of [entry, 'sys/datagram-socket.js', 'sys/koffi.js', 'model/errno.js']) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    copyFileSync(join(dist, f), join(root, f));
  }
  writeFileSync(join(root, 'package.json'), '{"type":"module"}\n');
  return (await import(pathToFileURL(join(root, entry)).href)) as M;
}

interface Seam {
  send(datagram: Uint8Array): void;
  recv(signal?: AbortSignal): Promise<Uint8Array>;
  close(): void;
}

/** recv, with nothing arriving, is aborted by its signal, and the event loop runs meanwhile; `s` is closed after. */
export async function assertRecvAborts(s: Seam): Promise<void> {
  try {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const t0 = performance.now();
    let abortedAt = 0;
    controller.signal.addEventListener('abort', () => (abortedAt = performance.now()));
    await assert.rejects(s.recv(controller.signal), (e: Error) => e.name === 'AbortError');
    const late = performance.now() - abortedAt;
    clearInterval(timer);
    assert.ok(performance.now() - t0 >= 290);
    assert.ok(ticks >= 15, `only ${ticks} ticks of a 10 ms interval in 300 ms`);
    assert.ok(late < 100, `rejected ${late} ms after the abort`);
    // an already aborted signal rejects at once
    await assert.rejects(s.recv(AbortSignal.abort()), (e: Error) => e.name === 'AbortError');
  } finally {
    s.close();
  }
}

/** close() rejects a pending recv at once, and `s` refuses use after it. */
export async function assertCloseRejects(s: Seam): Promise<void> {
  const pending = s.recv();
  setTimeout(() => s.close(), 50);
  await assert.rejects(pending, { code: 'ECLOSED' });
  await assert.rejects(s.recv(), { code: 'ECLOSED' });
  assert.throws(() => s.send(new Uint8Array(16)), { code: 'ECLOSED' });
  s.close();
}
