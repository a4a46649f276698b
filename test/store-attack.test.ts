/**
 * The store under attack, through the setkey binary (issue 9): another local
 * user swapping path components, files in the store that are symlinks,
 * FIFOs or someone else's, a squatted or held lock, killed writers' temporary
 * files, the monitor log's size and lifetime, and environmental failures
 * (a full disk, a permission, a vanished file) that must end in one line
 * and a documented status, never a stack trace.
 *
 * Tests that need a second user or namespaces run as root (CI does) and skip
 * with the reason otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../src/engine/store.js';
import { assertCleanFailure, isRoot, needsRoot, OTHER_UID, run, setkey, SETKEY } from './spawn.js';

/** A key that is easy to find in any file: its hex and its raw bytes. */
const MARK = '5ec7e75ec7e75ec7e75ec7e75ec7e75e';
const MARK_BYTES = Buffer.from(MARK, 'hex');

function sas(n: number, base: number, dst = '10.0.0.2'): string {
  let s = '';
  for (let i = 0; i < n; i++) s += `add 10.0.0.1 ${dst} esp ${base + i} -E aes-cbc 0x${MARK};\n`;
  return s;
}

function tempDir(mode = 0o700): string {
  const d = mkdtempSync(join(tmpdir(), 'setkey-attack-'));
  chmodSync(d, mode);
  return d;
}

function holdsKey(path: string): boolean {
  const b = readFileSync(path);
  return b.includes(MARK_BYTES) || b.toString('latin1').includes(MARK);
}

/** Every regular file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort()) {
    const st = statSync(join(dir, f));
    out[f] = st.isFile() ? readFileSync(join(dir, f)).toString('hex') : `<${st.mode.toString(8)}>`;
  }
  return out;
}

async function countSas(store: string): Promise<number> {
  const r = await setkey(['--store', store, '-D']);
  return (r.stdout.match(/^\tesp mode=/gm) ?? []).length;
}

test('a store on a path that another user could change is refused, and nothing is written there', async (t) => {
  const base = tempDir(0o755);
  // a directory anyone may write to, without the sticky bit: anyone could rename our store away
  const open = join(base, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  let r = await setkey(['--store', join(open, 'store'), '-f', '-'], { input: sas(1, 0x1000) });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /open is writable by other users/);
  assertCleanFailure(r.stderr);
  assert.deepEqual(readdirSync(open), []);
  const why = needsRoot();
  if (why) {
    t.diagnostic(`skipped the other-user cases: ${why}`);
    return;
  }
  // a directory of another user's, and a symlink of another user's, on the path
  const hers = join(base, 'hers');
  mkdirSync(hers, { mode: 0o755 });
  chownSync(hers, OTHER_UID, OTHER_UID);
  r = await setkey(['--store', join(hers, 'store'), '-f', '-'], { input: sas(1, 0x1000) });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`hers belongs to uid ${OTHER_UID}`));
  assert.deepEqual(readdirSync(hers), []);
  const mine = join(base, 'mine');
  mkdirSync(mine, { mode: 0o700 });
  const link = join(base, 'link');
  symlinkSync(mine, link);
  const lst = { uid: OTHER_UID, gid: OTHER_UID };
  await run('chown', ['-h', `${lst.uid}:${lst.gid}`, link]);
  r = await setkey(['--store', link, '-f', '-'], { input: sas(1, 0x1000) });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is a symbolic link owned by uid 54321/);
  assert.deepEqual(readdirSync(mine), []);
  rmSync(base, { recursive: true, force: true });
});

test('another user swapping the store path between our store and hers, over many rounds, never gets a key or damages the store', async (t) => {
  const why = needsRoot(['setpriv']);
  if (why) return t.skip(why);
  const base = tempDir(0o755);
  const pub = join(base, 'pub');
  mkdirSync(pub);
  chmodSync(pub, 0o1777); // like /tmp
  const rootStore = join(base, 'root', 'store');
  mkdirSync(join(base, 'root'), { mode: 0o700 });
  assert.equal((await setkey(['--store', rootStore, '-f', '-'], { input: sas(3, 0x100) })).code, 0);
  const before = await setkey(['--store', rootStore, '-D', '--format=script']);
  // her directory: a copy of a store's files, open to all, for root to write into if it were fooled
  const herDir = join(pub, 'her');
  mkdirSync(herDir);
  for (const f of readdirSync(rootStore)) copyFileSync(join(rootStore, f), join(herDir, f));
  for (const f of readdirSync(herDir)) chmodSync(join(herDir, f), 0o666);
  await run('chown', ['-R', `${OTHER_UID}:${OTHER_UID}`, herDir]);
  chmodSync(herDir, 0o777);
  const herBefore = snapshot(herDir);
  const sw = join(pub, 'sw');
  // the swapper, as her: the name flips between our store and her directory as fast as it can
  const script = `cd ${pub} && while :; do ln -sfn ${rootStore} sw.new && mv -Tf sw.new sw; ln -sfn ${herDir} sw.new && mv -Tf sw.new sw; done`;
  const swapper = spawn('setpriv', [`--reuid=${OTHER_UID}`, `--regid=${OTHER_UID}`, '--clear-groups', 'sh', '-c', script], { stdio: 'ignore', detached: true });
  try {
    let refused = 0;
    const ROUNDS = 40;
    for (let round = 0; round < ROUNDS; round++) {
      const argv = round % 3 === 0 ? ['-D'] : round % 3 === 1 ? ['-f', '-'] : ['-DP'];
      const r = await setkey(['--store', sw, ...argv], { input: sas(2, 0x10000 + round * 16), timeoutMs: 30000 });
      assert.ok(!r.timedOut, `round ${round} hung`);
      assertCleanFailure(r.stderr);
      assert.ok(r.code === 0 || r.code === 1, `round ${round}: status ${r.code}`);
      if (r.code === 1) refused++;
      assert.ok(r.stderr.split('\n').filter(Boolean).length <= 2, r.stderr);
    }
    t.diagnostic(`${ROUNDS} rounds, ${refused} refused (the path has a symlink of another user's)`);
    assert.equal(refused, ROUNDS);
  } finally {
    process.kill(-swapper.pid!, 'SIGKILL');
  }
  // nothing of ours reached her directory, and our store is as it was
  for (const f of filesUnder(herDir)) assert.ok(!holdsKey(f) || herBefore[f.slice(herDir.length + 1)] !== undefined, `${f} got key material`);
  assert.deepEqual(snapshot(herDir), herBefore, 'her directory is untouched');
  for (const f of filesUnder(pub)) if (!f.startsWith(herDir)) assert.ok(!holdsKey(f), `${f} holds a key`);
  const after = await setkey(['--store', rootStore, '-D', '--format=script']);
  assert.equal(after.code, 0, after.stderr);
  assert.equal(after.stdout, before.stdout);
  rmSync(base, { recursive: true, force: true });
});

test('a store renamed away while a writer works: the writer finishes in the directory it checked, the new one at the old name is untouched', async () => {
  const dir = tempDir();
  const store = join(dir, 'store');
  assert.equal((await setkey(['--store', store, '-f', '-'], { input: sas(1, 0x100) })).code, 0);
  const big = join(dir, 'big.conf');
  writeFileSync(big, sas(40000, 0x10000));
  const writer = setkey(['--store', store, '-f', big], { timeoutMs: 120000 });
  // the writer holds the lock while it applies: then the path is swapped under it
  const until = Date.now() + 60000;
  while (!readdirSync(store).some((f) => f.startsWith('lock.')) && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  renameSync(store, join(dir, 'moved'));
  assert.equal((await setkey(['--store', store, '-f', '-'], { input: sas(1, 0x200) })).code, 0);
  const w = await writer;
  assert.equal(w.code, 0, w.stderr);
  assert.equal(await countSas(join(dir, 'moved')), 40001);
  assert.equal(await countSas(store), 1);
  rmSync(dir, { recursive: true, force: true });
});

test('a store file that is a FIFO, a symlink, hard-linked, open to others or not ours is an error, never followed or waited on', async (t) => {
  const make = async (): Promise<string> => {
    const store = join(tempDir(), 'store');
    assert.equal((await setkey(['--store', store, '-f', '-'], { input: sas(2, 0x100) })).code, 0);
    return store;
  };
  const cases: [string, (s: string) => Promise<void> | void, RegExp][] = [
    [
      'a FIFO journal',
      async (s) => {
        unlinkSync(join(s, 'journal-0'));
        await run('mkfifo', ['-m', '600', join(s, 'journal-0')]);
      },
      /journal-0 is not a regular file/,
    ],
    [
      'a symlinked journal',
      (s) => {
        renameSync(join(s, 'journal-0'), join(s, '..', 'elsewhere'));
        symlinkSync(join(s, '..', 'elsewhere'), join(s, 'journal-0'));
      },
      /journal-0 is a symbolic link/,
    ],
    ['a hard-linked HEAD', (s) => linkSync(join(s, 'HEAD'), join(s, '..', 'HEAD-copy')), /HEAD has other hard links/],
    ['a FORMAT readable by others', (s) => chmodSync(join(s, 'FORMAT'), 0o644), /FORMAT is open to other users/],
  ];
  if (isRoot()) cases.push(['a table of another user', (s) => chownSync(join(s, 'table-0'), OTHER_UID, OTHER_UID), /table-0 belongs to uid 54321/]);
  else t.diagnostic('not root: the case of a file owned by another user is skipped');
  for (const [what, damage, msg] of cases) {
    const store = await make();
    await damage(store);
    const before = snapshot(store);
    for (const argv of [['-D'], ['-f', '-']]) {
      const r = await setkey(['--store', store, ...argv], { input: sas(1, 0x900), timeoutMs: 15000 });
      assert.ok(!r.timedOut, `${what}: setkey ${argv.join(' ')} hung`);
      assert.equal(r.code, 1, `${what}: ${r.stderr}`);
      assert.match(r.stderr, msg, what);
      assertCleanFailure(r.stderr);
      assert.deepEqual(snapshot(store), before, `${what}: the store was written to`);
    }
  }
});

test('temporary files left by killed writers (with keys in them) are removed by the next writer', async () => {
  const store = join(tempDir(), 'store');
  assert.equal((await setkey(['--store', store, '-f', '-'], { input: sas(2, 0x100) })).code, 0);
  // what a writer killed in the middle of writing a new table leaves
  for (const f of ['.table-7.99999.tmp', '.HEAD.12345.tmp', '.journal-3.4242.tmp']) writeFileSync(join(store, f), Buffer.concat([Buffer.alloc(64), MARK_BYTES]), { mode: 0o600 });
  assert.equal((await setkey(['--store', store, '-f', '-'], { input: sas(1, 0x900) })).code, 0);
  assert.deepEqual(
    readdirSync(store).filter((f) => f.endsWith('.tmp')),
    [],
  );
});

test('monitor.log stays under its rotation size while a monitor runs, and goes away with the last monitor (also one killed -9)', async () => {
  const dir = tempDir();
  const store = join(dir, 'store');
  assert.equal((await setkey(['--store', store, '-f', '-'], { input: sas(1, 0x100) })).code, 0);
  const startMonitor = (): { child: ReturnType<typeof spawn>; lines: () => number; ready: Promise<void> } => {
    const child = spawn(SETKEY, ['--store', store, '-x'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let n = 0;
    let readyResolve: () => void = () => undefined;
    const ready = new Promise<void>((r) => (readyResolve = r));
    child.stdout!.on('data', (d: Buffer) => {
      n += d.toString('latin1').split('\n').length - 1;
      if (n >= 2) readyResolve();
    });
    return { child, lines: () => n, ready };
  };
  const m = startMonitor();
  await m.ready;
  const big = join(dir, 'big.conf');
  let maxSeen = 0;
  for (let round = 0; round < 3; round++) {
    writeFileSync(big, sas(12000, 0x10000 * (round + 1)));
    assert.equal((await setkey(['--store', store, '-f', big])).code, 0);
    for (const f of ['monitor.log', 'monitor.log.1']) {
      const p = join(store, f);
      if (existsSync(p)) {
        const size = statSync(p).size;
        maxSeen = Math.max(maxSeen, size);
        assert.ok(size <= 4 << 20, `${f} is ${size} bytes`);
        assert.equal(statSync(p).mode & 0o077, 0);
      }
    }
  }
  assert.ok(maxSeen > 1 << 20, `the test wrote too little to the log (${maxSeen} bytes)`);
  m.child.kill('SIGTERM');
  await new Promise((r) => m.child.on('close', r));
  assert.deepEqual(readdirSync(store).filter((f) => f.startsWith('monitor.log')), [], 'the last monitor removes the log');
  // a monitor killed -9 cannot clean up: the next writer does
  const k = startMonitor();
  await k.ready;
  assert.equal((await setkey(['--store', store, '-f', '-'], { input: sas(1, 0x900) })).code, 0);
  assert.ok(existsSync(join(store, 'monitor.log')));
  k.child.kill('SIGKILL');
  await new Promise((r) => k.child.on('close', r));
  assert.equal((await setkey(['--store', store, '-f', '-'], { input: sas(1, 0x901) })).code, 0);
  assert.deepEqual(readdirSync(store).filter((f) => f.startsWith('monitor.log')), []);
  rmSync(dir, { recursive: true, force: true });
});

test('a writer that waits for the lock says who holds it, and gives up with one clear line; nothing is applied', async () => {
  const store = join(tempDir(), 'store');
  assert.equal((await setkey(['--store', store, '-f', '-'], { input: sas(1, 0x100) })).code, 0);
  const s = await Store.open(store);
  let release: () => void = () => undefined;
  let held: () => void = () => undefined;
  const isHeld = new Promise<void>((r) => (held = r));
  const holding = s.locked(
    () =>
      new Promise<void>((r) => {
        release = r;
        held();
      }),
  );
  await isHeld;
  const r = await setkey(['--store', store, '-f', '-'], { input: sas(1, 0x900), env: { SETKEY_LOCK_TIMEOUT: '2.5' }, timeoutMs: 30000 });
  release();
  await holding;
  s.close();
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`waiting for the store's lock, held by pid ${process.pid} `));
  assert.match(r.stderr, new RegExp(`stayed locked for [23] s by pid ${process.pid} .*nothing was done`));
  assertCleanFailure(r.stderr);
  assert.equal(await countSas(store), 1);
  // a bad timeout is a usage error
  const bad = await setkey(['--store', store, '-D'], { env: { SETKEY_LOCK_TIMEOUT: 'soon' } });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /SETKEY_LOCK_TIMEOUT must be a number of seconds/);
});

test('another user cannot hold, squat or delay the lock', async (t) => {
  const why = needsRoot(['setpriv']);
  if (why) return t.skip(why);
  const base = tempDir(0o755);
  const store = join(base, 'store');
  assert.equal((await setkey(['--store', store, '-f', '-'], { input: sas(1, 0x100) })).code, 0);
  // what squatted version 1's lock: its abstract socket name, computable from the directory's device and inode
  const st = statSync(store);
  const v1name = `\0setkey-store-${createHash('sha256').update(`${st.dev}:${st.ino}`).digest('hex').slice(0, 32)}`;
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(v1name, () => r()));
  // and as the other user: nothing can be created or reached inside the store
  const tries = await run('sh', ['-c', `ls ${store}; : > ${store}/lock.1.00.sock; echo done`], { uid: OTHER_UID });
  assert.match(tries.stderr, /Permission denied/);
  const r = await setkey(['--store', store, '-f', '-'], { input: sas(1, 0x900), env: { SETKEY_LOCK_TIMEOUT: '5' } });
  squatter.close();
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /waiting/);
  assert.equal(await countSas(store), 2);
  rmSync(base, { recursive: true, force: true });
});

test('writers in different network namespaces exclude each other', async (t) => {
  const why = needsRoot(['unshare']);
  if (why) return t.skip(why);
  const probe = await run('unshare', ['-n', 'true']);
  if (probe.code !== 0) return t.skip(`unshare -n is not allowed here: ${probe.stderr.trim()}`);
  const dir = tempDir();
  const store = join(dir, 'store');
  assert.equal((await setkey(['--store', store, '-f', '-'], { input: sas(1, 0x100) })).code, 0);
  const runs = Array.from({ length: 8 }, (_, i) => {
    const file = join(dir, `w${i}.conf`);
    writeFileSync(file, sas(25, 0x1000 + i * 100));
    // half of them each in a network namespace of its own (an abstract-socket lock would not see them)
    return setkey(['--store', store, '-f', file], i % 2 ? { wrap: ['unshare', '-n'] } : {});
  });
  const results = await Promise.all(runs);
  assert.deepEqual(
    results.map((r) => r.code),
    [0, 0, 0, 0, 0, 0, 0, 0],
    results.map((r) => r.stderr).join(''),
  );
  assert.equal(await countSas(store), 201);
  rmSync(dir, { recursive: true, force: true });
});

test('a full disk, a permission, a vanished file: one line, status 1, and the store keeps what it had', async (t) => {
  // a vanished journal
  const store = join(tempDir(), 'store');
  assert.equal((await setkey(['--store', store, '-f', '-'], { input: sas(2, 0x100) })).code, 0);
  unlinkSync(join(store, 'journal-0'));
  let r = await setkey(['--store', store, '-D']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /journal-0 is missing/);
  assertCleanFailure(r.stderr);
  // a file we may not read (as its owner, who is not root)
  const why = needsRoot(['setpriv', 'unshare', 'mount']);
  if (why) return t.skip(`the permission and full-disk cases: ${why}`);
  const base = tempDir(0o755);
  const hers = join(base, 'hers');
  mkdirSync(hers, { mode: 0o700 });
  chownSync(hers, OTHER_UID, OTHER_UID);
  const herStore = join(hers, 'store');
  assert.equal((await setkey(['--store', herStore, '-f', '-'], { input: sas(1, 0x100), uid: OTHER_UID })).code, 0);
  chmodSync(join(herStore, 'journal-0'), 0o000);
  r = await setkey(['--store', herStore, '-D'], { uid: OTHER_UID });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot read .*journal-0: permission denied \(EACCES\)/);
  assertCleanFailure(r.stderr);
  // a full disk: a small tmpfs in a mount namespace of its own
  const mnt = join(base, 'mnt');
  mkdirSync(mnt);
  writeFileSync(join(base, 'small.conf'), sas(2, 0x100));
  writeFileSync(join(base, 'big.conf'), sas(5000, 0x10000));
  const sh = [
    `mount -t tmpfs -o size=320k,mode=700 tmpfs ${mnt}`,
    `${SETKEY} --store ${mnt}/s -f ${base}/small.conf; echo "small=$?"`,
    `${SETKEY} --store ${mnt}/s -f ${base}/big.conf; echo "big=$?"`,
    `${SETKEY} --store ${mnt}/s -D | grep -c 'esp mode'; echo "dump=$?"`,
    // a new store: the load's records fill the disk as they are written (spool.ts), before any commit
    `${SETKEY} --store ${mnt}/t -f ${base}/big.conf; echo "fresh=$?"`,
    `echo "temps=$(ls -a ${mnt}/t | grep -c tmp)"`,
  ].join('\n');
  r = await run('unshare', ['-m', 'sh', '-c', sh]);
  assert.match(r.stdout, /small=0/);
  assert.match(r.stdout, /big=1/);
  assert.match(r.stdout, /^2$/m, 'the store keeps what it had, and nothing of the refused file');
  assert.match(r.stderr, /no space left on the device \(ENOSPC\)/);
  assert.match(r.stdout, /fresh=1/);
  assert.match(r.stdout, /temps=0/);
  assert.equal(r.stderr.trimEnd().split('\n').length, 2, r.stderr);
  assertCleanFailure(r.stderr);
  rmSync(base, { recursive: true, force: true });
});
