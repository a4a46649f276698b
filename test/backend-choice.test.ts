/**
 * Which backend serves, on a real host (issue 10): a kernel with key tables
 * serves or the run fails (a forgotten sudo never "succeeds" into a store);
 * contradictory choices are usage errors naming both; reading never creates
 * a store; -v says which backend and where the state lives, first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers.js';
import { assertCleanFailure, needsRoot, setkey } from './spawn.js';

const SA = 'add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x00112233445566778899aabbccddeeff;\n';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'setkey-choice-'));
}

test('a store and a kernel backend named together are a usage error that names both', async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['--store=/tmp/s', '--backend=xfrm', '-D'], {}, /--store=\/tmp\/s and --backend=xfrm contradict each other/],
    [['--backend=pfkey', '-D'], { SETKEY_STORE: '/tmp/s' }, /SETKEY_STORE=\/tmp\/s and --backend=pfkey contradict each other/],
    [['--store', '/tmp/s', '-D'], { SETKEY_BACKEND: 'xfrm' }, /--store=\/tmp\/s and SETKEY_BACKEND=xfrm contradict each other/],
    [['-D'], { SETKEY_STORE: '/tmp/s', SETKEY_BACKEND: 'pfkey' }, /SETKEY_STORE=\/tmp\/s and SETKEY_BACKEND=pfkey contradict each other/],
  ];
  for (const [argv, env, msg] of cases) {
    const r = await runCli(argv, { env });
    assert.equal(r.code, 1, argv.join(' '));
    assert.match(r.stderr, msg);
    assert.equal(r.stdout, '');
  }
  // the embedded backend named with a store is no contradiction
  const dir = tempDir();
  assert.equal((await runCli(['--backend=embedded', '--store', join(dir, 's'), '-f', 'a.conf'], { files: { 'a.conf': SA } })).code, 0);
});

test('a kernel with key tables that this process may not use is an error, never a silent store', async () => {
  const dir = tempDir();
  const env = { HOME: dir, XDG_STATE_HOME: join(dir, 'state') };
  const reach = (): { reachable: boolean; tables: boolean; via: 'xfrm'; why: string } => ({ reachable: false, tables: true, via: 'xfrm', why: "the kernel's key tables (XFRM) need CAP_NET_ADMIN: run setkey as root (sudo)" });
  for (const argv of [['-f', 'a.conf'], ['-D'], ['-DP'], ['-F'], ['-c']]) {
    const { main } = await import('../src/cli/main.js');
    let stderr = '';
    const io = { ...(await ioFor(env)), kernelReach: reach, stderr: (s: string) => (stderr += s) };
    const code = await main(argv, io);
    assert.equal(code, 1, argv.join(' '));
    assert.match(stderr, /need CAP_NET_ADMIN: run setkey as root \(sudo\); nothing was done\. To use setkey's embedded key engine instead, ask for it: --store=DIR, SETKEY_STORE=DIR or --backend=embedded/);
  }
  assert.deepEqual(readdirSync(dir), [], 'no store was created');
});

/** An in-process Io like the tests' runCli, where every file read is a.conf. */
async function ioFor(env: Record<string, string>): Promise<import('../src/cli/io.js').Io> {
  const helpers = await import('./helpers.js');
  return {
    stdout: () => undefined,
    stderr: () => undefined,
    readFile: async () => Buffer.from(SA),
    stdin: async function* () {
      yield SA;
    },
    env,
    pid: 4242,
    now: () => 1700000100,
    sys: helpers.testSys,
    lookup: helpers.testLookup,
  };
}

test('as an unprivileged user on this kernel (real XFRM, a private namespace): exit 1, what is missing, how to choose the engine; no store', async (t) => {
  const why = needsRoot(['unshare', 'setpriv']);
  if (why) return t.skip(why);
  const dir = tempDir();
  chmodSync(dir, 0o755);
  const conf = join(dir, 'a.conf');
  writeFileSync(conf, SA);
  chmodSync(conf, 0o644);
  // a state directory the user could write to: the default store would go there
  const state = join(dir, 'state');
  mkdirSync(state, { mode: 0o700 });
  chownSync(state, 65534, 65534);
  const env = { HOME: dir, XDG_STATE_HOME: state };
  const r = await setkey(['-f', conf], { wrap: ['unshare', '-n'], uid: 65534, env });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assertCleanFailure(r.stderr);
  t.diagnostic(`what a forgotten sudo shows: ${r.stderr.trim()}`);
  assert.match(r.stderr, /^setkey: the kernel's key tables \(XFRM\) need CAP_NET_ADMIN: run setkey as root \(sudo\); nothing was done\. To use setkey's embedded key engine instead, ask for it: --store=DIR, SETKEY_STORE=DIR or --backend=embedded\n$/);
  assert.deepEqual(readdirSync(state), [], 'no store was created');
  // -D too: reading the kernel's tables needs the same privilege
  const d = await setkey(['-D'], { wrap: ['unshare', '-n'], uid: 65534, env });
  assert.equal(d.code, 1);
  assert.match(d.stderr, /need CAP_NET_ADMIN/);
  // and the engine on purpose works for anyone (in a directory of its own)
  const own = join(dir, 'own');
  mkdirSync(own, { mode: 0o700 });
  chownSync(own, 65534, 65534);
  const e = await setkey(['--store', join(own, 'store'), '-f', conf], { wrap: ['unshare', '-n'], uid: 65534, env });
  assert.equal(e.code, 0, e.stderr);
  rmSync(dir, { recursive: true, force: true });
});

test('reading never creates a store: -D, -DP and -F of a missing store read as empty; -v says it does not exist yet', async () => {
  const dir = tempDir();
  const store = join(dir, 'nothing', 'here');
  let r = await runCli(['--store', store, '-D']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'No SAD entries.\n');
  r = await runCli(['--store', store, '-DP', '-v']);
  assert.equal(r.code, 0);
  assert.ok(r.stdout.endsWith('No SPD entries.\n'), r.stdout);
  assert.equal(r.stderr.split('\n')[0], `setkey: backend embedded: the embedded engine's store at ${store}, which does not exist yet (read as empty)`);
  assert.equal((await runCli(['--store', store, '-F'])).code, 0);
  assert.equal((await runCli(['--store', store, '-FP'])).code, 0);
  assert.equal((await runCli(['--store', store, '-D', '--format=json'])).code, 0);
  assert.ok(!existsSync(join(dir, 'nothing')), 'nothing was created');
  // an empty directory is not made a store by reading it either
  const empty = join(dir, 'empty');
  mkdirSync(empty, { mode: 0o700 });
  assert.equal((await runCli(['--store', empty, '-D'])).stdout, 'No SAD entries.\n');
  assert.deepEqual(readdirSync(empty), []);
  // a change creates it
  assert.equal((await runCli(['--store', store, '-f', 'a.conf'], { files: { 'a.conf': SA } })).code, 0);
  assert.ok(existsSync(join(store, 'FORMAT')));
});

test('-v names the backend and where the state lives before anything else', async () => {
  const dir = tempDir();
  const store = join(dir, 's');
  for (const argv of [['-v', '-f', 'a.conf'], ['-v', '-D'], ['-v', '-DP'], ['-v', '-c']]) {
    const r = await runCli(['--store', store, ...argv], { files: { 'a.conf': SA }, stdin: 'spdflush;\n' });
    assert.equal(r.stderr.split('\n')[0], `setkey: backend embedded: the embedded engine's store at ${store}`, argv.join(' '));
  }
});

test('a monitor of a store that does not exist yet says so, waits, and then shows what happens', async () => {
  const dir = tempDir();
  const store = join(dir, 's');
  const ac = new AbortController();
  let out = '';
  let err = '';
  const { main } = await import('../src/cli/main.js');
  const io = { ...(await ioFor({})), signal: ac.signal, stdout: (s: string) => (out += s), stderr: (s: string) => (err += s), kernelReach: () => ({ reachable: false, why: 'test' }) };
  const mon = main(['--store', store, '-x'], io);
  const until = async (f: () => boolean): Promise<void> => {
    const end = Date.now() + 20000;
    while (!f() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  };
  await until(() => /does not exist yet/.test(err));
  assert.match(err, /store at .*s, which does not exist yet \(read as empty\); waiting for it/);
  assert.ok(!existsSync(store));
  assert.equal((await runCli(['--store', store, '-f', 'e.conf'], { files: { 'e.conf': '' } })).code, 0);
  // registered once the store exists: its X_PROMISC echo, then what others do
  await until(() => out.split('\n').length > 2);
  assert.equal((await runCli(['--store', store, '-f', 'a.conf'], { files: { 'a.conf': SA } })).code, 0);
  // the ADD request once, its broadcast reply twice (type 3)
  await until(() => (out.match(/sadb_msg\{ version=2 type=3 /g) ?? []).length >= 3);
  ac.abort();
  assert.equal(await mon, 0);
  assert.equal((out.match(/sadb_msg\{ version=2 type=3 /g) ?? []).length, 3);
});

test('a directory that is not a store is named as such, with no advice to chmod it; a store open to others gets the chmod', async () => {
  const dir = tempDir();
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'README.md'), 'a project');
  let r = await runCli(['--store', dir, '-f', 'a.conf'], { files: { 'a.conf': SA } });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `setkey: ${dir} is not a setkey store (it holds README.md); it is left untouched\n`);
  assert.doesNotMatch(r.stderr, /chmod/);
  const store = join(dir, 's');
  assert.equal((await runCli(['--store', store, '-f', 'a.conf'], { files: { 'a.conf': SA } })).code, 0);
  chmodSync(store, 0o755);
  r = await runCli(['--store', store, '-D']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `setkey: ${store} is open to other users (mode 755); it holds keys: chmod 700 ${store}\n`);
});
