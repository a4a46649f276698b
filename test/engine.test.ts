/**
 * The embedded engine through setkey itself: atomic files under kill -9,
 * concurrent setkey processes, owner-only files, damaged stores, lifetimes
 * on an injected clock, and monitors that see other processes' changes and
 * expiries as they happen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedBackend } from '../src/backends/embedded.js';
import type { Observed } from '../src/backends/backend.js';
import { Engine } from '../src/engine/engine.js';
import { MsgType } from '../src/pfkey/constants.js';
import { decodeMessage } from '../src/pfkey/decode.js';
import { serialize } from '../src/pfkey/serialize.js';
import { findExt, header } from '../src/pfkey/types.js';
import { compile } from './conformance.js';
import { runCli } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const SETKEY = join(here, '..', '..', 'bin', 'setkey');
const K16 = '0x00112233445566778899aabbccddeeff';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'setkey-engine-'));
}

function sas(n: number, base: number, dst = '10.0.0.2'): string {
  let s = '';
  for (let i = 0; i < n; i++) s += `add 10.0.0.1 ${dst} esp ${base + i} -E aes-cbc ${K16};\n`;
  return s;
}

function setkey(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(SETKEY, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    c.stdin.end(input ?? '');
  });
}

async function countSas(store: string): Promise<number> {
  const r = await runCli(['--store', store, '-D']);
  return (r.stdout.match(/^\tesp mode=/gm) ?? []).length;
}

test('kill -9 during a large setkey -f leaves all of the file applied or none of it', async () => {
  const dir = tempDir();
  const store = join(dir, 'store');
  const N = 20000;
  // how long a whole apply takes here, so that the kills land before, during and after its commit
  const timing = join(dir, 'timing.conf');
  writeFileSync(timing, sas(N, 0x10000, '10.9.9.9'));
  const t0 = Date.now();
  assert.equal((await setkey(['--store', join(dir, 'timing-store'), '-f', timing])).code, 0);
  const full = Date.now() - t0;
  for (let round = 0; round < 6; round++) {
    const file = join(dir, `r${round}.conf`);
    writeFileSync(file, sas(N, 0x10000 * (round + 1), `10.0.${round}.2`));
    const before = await countSas(store);
    const child = spawn(SETKEY, ['--store', store, '-f', file], { stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const delay = Math.floor(full * (0.3 + Math.random()));
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    const code = await exited;
    const added = (await countSas(store)) - before;
    assert.ok(added === 0 || added === N, `round ${round}, killed after ${delay} ms: ${added} of ${N} SAs`);
    if (code === 0) assert.equal(added, N, 'setkey said done, and the SAs are not there');
    process.stdout.write(`# round ${round}: killed after ${delay} ms: ${added === 0 ? 'none' : 'all'} of the file\n`);
  }
  rmSync(dir, { recursive: true, force: true });
});

test('8 setkey processes adding to one store at once lose nothing', async () => {
  const dir = tempDir();
  const store = join(dir, 'store');
  const runs = Array.from({ length: 8 }, (_, i) => {
    const file = join(dir, `w${i}.conf`);
    writeFileSync(file, sas(25, 0x1000 + i * 100));
    return setkey(['--store', store, '-f', file]);
  });
  const results = await Promise.all(runs);
  assert.deepEqual(
    results.map((r) => r.code),
    [0, 0, 0, 0, 0, 0, 0, 0],
    results.map((r) => r.stderr).join(''),
  );
  assert.equal(await countSas(store), 200);
  rmSync(dir, { recursive: true, force: true });
});

test('the store and the monitor log are the owner\'s only', async () => {
  const dir = tempDir();
  const store = join(dir, 'store');
  const ac = new AbortController();
  let seen = '';
  // a monitor never creates a store (it waits for one): make it first
  assert.equal((await runCli(['--store', store, '-f', 'empty.conf'], { files: { 'empty.conf': '' } })).code, 0);
  const mon = runCli(['--store', store, '-x'], { signal: ac.signal, stdout: (t) => (seen += t) });
  const ready = Date.now() + 20000;
  while (!/^(\d\d:\d\d:\d\d\.\d{6} \n){2}/.test(seen) && Date.now() < ready) await new Promise((r) => setTimeout(r, 20));
  assert.equal((await runCli(['--store', store, '-f', 'a.conf'], { files: { 'a.conf': sas(2, 0x1000) } })).code, 0);
  assert.equal(statSync(store).mode & 0o777, 0o700);
  const files = readdirSync(store);
  assert.ok(files.includes('monitor.log'), files.join(' '));
  for (const f of files) assert.equal(statSync(join(store, f)).mode & 0o077, 0, `${f} is readable by others`);
  ac.abort();
  await mon;
  // the last monitor to go takes the log (it holds keys) with it
  assert.deepEqual(readdirSync(store).filter((f) => f.startsWith('monitor')), ['monitors']);
  rmSync(dir, { recursive: true, force: true });
});

test('a damaged store is a clear error, and is not written to', async () => {
  const dir = tempDir();
  const store = join(dir, 'store');
  assert.equal((await runCli(['--store', store, '-f', 'a.conf'], { files: { 'a.conf': sas(3, 0x1000) } })).code, 0);
  const journal = join(store, 'journal-0');
  const first = readFileSync(journal).length;
  assert.equal((await runCli(['--store', store, '-f', 'a.conf'], { files: { 'a.conf': sas(3, 0x2000) } })).code, 0);
  // damage inside the first (committed, acknowledged) transaction
  const bytes = readFileSync(journal);
  bytes[first - 40] = bytes[first - 40]! ^ 0xff;
  writeFileSync(journal, bytes);
  for (const argv of [['-D'], ['-F'], ['-f', 'a.conf']]) {
    const r = await runCli(['--store', store, ...argv], { files: { 'a.conf': sas(1, 0x2000) } });
    assert.equal(r.code, 1, argv.join(' '));
    assert.match(r.stderr, /journal-0 is damaged/);
    assert.doesNotMatch(r.stderr, /00112233/, 'no key material in errors');
    assert.deepEqual(readFileSync(journal), bytes, 'the damaged file is left as it was');
  }
  rmSync(dir, { recursive: true, force: true });
});

test('a monitor (-x) sees another setkey process add an SA: the request once, the notification twice', async () => {
  const dir = tempDir();
  const store = join(dir, 'store');
  const ac = new AbortController();
  let seen = '';
  let notify: () => void = () => undefined;
  assert.equal((await runCli(['--store', store, '-f', 'empty.conf'], { files: { 'empty.conf': '' } })).code, 0);
  const mon = runCli(['--store', store, '-x'], {
    signal: ac.signal,
    stdout: (s) => {
      seen += s;
      notify();
    },
  });
  // listening once its X_PROMISC echo (two bare date lines) is out
  const ready = Date.now() + 20000;
  while (!/^(\d\d:\d\d:\d\d\.\d{6} \n){2}/.test(seen) && Date.now() < ready) await new Promise((r) => setTimeout(r, 20));
  const child = await setkey(['--store', store, '-c'], `add 10.0.0.1 10.0.0.2 esp 0x1234 -E aes-cbc ${K16};\n`);
  assert.equal(child.code, 0, child.stderr);
  const deadline = Date.now() + 20000;
  while ((seen.match(/type=3 /g) ?? []).length < 3 && Date.now() < deadline) await new Promise<void>((r) => ((notify = r), setTimeout(r, 100)));
  ac.abort();
  const r = await mon;
  assert.equal(r.code, 0);
  // its own X_PROMISC echo (twice, bare: a date line only), then the add
  assert.match(seen, /^\d\d:\d\d:\d\d\.\d{6} \n\d\d:\d\d:\d\d\.\d{6} \n/);
  const adds = seen.split(/^\d\d:\d\d:\d\d\.\d{6} \n/m).filter((b) => /type=3 /.test(b));
  assert.equal(adds.length, 3, seen);
  assert.match(adds[0]!, /sadb_msg\{ version=2 type=3 errno=0 satype=3/);
  assert.match(adds[1]!, /sadb_sa\{ spi=4660 /);
  rmSync(dir, { recursive: true, force: true });
});

test('lifetimes on an injected clock: a running monitor sees the soft and hard EXPIRE when they happen', async () => {
  const dir = tempDir();
  const store = join(dir, 'store');
  let usec = 1700000000000000n;
  const clock = (): bigint => usec;
  const watcher = await EmbeddedBackend.open(store, { clock });
  const writer = await EmbeddedBackend.open(store, { clock });
  const got: Observed[] = [];
  const ac = new AbortController();
  const mon = watcher.monitor(777, (m) => got.push(m), ac.signal);
  await new Promise((r) => setTimeout(r, 200));
  const [o] = await writer.run(await compile(`add 10.0.0.1 10.0.0.2 esp 0x1000 -lh 20 -ls 10 -E aes-cbc ${K16};`), { atomic: true, pid: 42 });
  assert.equal(o!.errno, 0);
  const expires = (): ReturnType<typeof decodeMessage>[] => got.map((m) => decodeMessage(m.msg)).filter((m) => m.header.type === MsgType.EXPIRE);
  const waitFor = async (n: number): Promise<void> => {
    const end = Date.now() + 20000;
    while (expires().length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  };
  usec += 10n * 1000000n;
  await waitFor(1);
  usec += 10n * 1000000n;
  await waitFor(2);
  ac.abort();
  await mon;
  const [soft, hard] = expires();
  assert.ok(soft && hard, `two EXPIREs, got ${expires().length}`);
  assert.equal(findExt(soft, 'sa')!.state, 2, 'soft: dying');
  assert.ok(findExt(soft, 'lifetime_soft') && !findExt(soft, 'lifetime_hard'));
  assert.equal(findExt(hard, 'sa')!.state, 3, 'hard: dead');
  assert.ok(findExt(hard, 'lifetime_hard') && !findExt(hard, 'lifetime_soft'));
  for (const m of [soft!, hard!]) {
    assert.equal(findExt(m, 'key_encrypt'), undefined, 'an EXPIRE carries no keys');
    assert.deepEqual([m.header.seq, m.header.pid], [0, 0]);
  }
  // and the SA is gone for everyone
  assert.deepEqual((await writer.run(await compile('dump;'), { atomic: false, pid: 42 }))[0]!.errno, 2);
  rmSync(dir, { recursive: true, force: true });
});

test('expiry happens on time even when no process was running then (evaluated on access)', async () => {
  const dir = tempDir();
  const store = join(dir, 'store');
  let usec = 1700000000000000n;
  const a = await EmbeddedBackend.open(store, { clock: () => usec });
  await a.run(await compile(`add 10.0.0.1 10.0.0.2 esp 0x1000 -lh 20 -ls 10 -E aes-cbc ${K16};`), { atomic: true, pid: 1 });
  usec += 15n * 1000000n;
  // a later process with the same clock: the SA became dying at +10 s
  const r = await runCli(['--store', store, '-D'], { clock: () => usec });
  assert.match(r.stdout, /state=dying/);
  usec += 10n * 1000000n;
  assert.equal((await runCli(['--store', store, '-D'], { clock: () => usec })).stdout, 'No SAD entries.\n');
  rmSync(dir, { recursive: true, force: true });
});

test('a policy with a hard lifetime disappears silently when it runs out', async () => {
  const dir = tempDir();
  let usec = 1700000000000000n;
  const e = await Engine.open(join(dir, 'store'), { clock: () => usec });
  const add = serialize({
    header: header(MsgType.X_SPDADD, 0, 9),
    exts: [
      { kind: 'address_src', proto: 255, prefixlen: 32, reserved: 0, sa: { family: 2, port: 0, addr: Uint8Array.of(10, 0, 0, 1), flowinfo: 0, scopeId: 0 } },
      { kind: 'address_dst', proto: 255, prefixlen: 32, reserved: 0, sa: { family: 2, port: 0, addr: Uint8Array.of(10, 0, 0, 2), flowinfo: 0, scopeId: 0 } },
      { kind: 'lifetime_hard', allocations: 0, bytes: 0n, addtime: 60n, usetime: 0n },
      { kind: 'policy', ptype: 1, dir: 2, reserved: 0, id: 0, priority: 0, requests: [] },
    ],
  });
  const dump = serialize({ header: header(MsgType.X_SPDDUMP, 0, 9), exts: [] });
  assert.equal((await e.session((s) => s.send(add))).errno, 0);
  usec += 59n * 1000000n;
  const kept = await e.session((s) => s.send(dump));
  assert.equal(kept.replies.length, 1);
  assert.equal(findExt(decodeMessage(kept.replies[0]!), 'lifetime_hard')!.addtime, 60n);
  usec += 1n * 1000000n;
  assert.equal((await e.session((s) => s.send(dump))).errno, 2);
  rmSync(dir, { recursive: true, force: true });
});

test('requests af_key refuses: malformed headers get no reply, bad extensions EINVAL, unknown types EOPNOTSUPP', async () => {
  const dir = tempDir();
  const e = await Engine.open(join(dir, 'store'));
  const ok = serialize({ header: header(MsgType.DUMP, 0, 1), exts: [] });
  const badVersion = Uint8Array.from(ok);
  badVersion[0] = 1;
  const r1 = await e.session((s) => s.send(badVersion));
  assert.deepEqual([r1.errno, r1.replies.length], [22, 0]);
  const unknown = Uint8Array.from(ok);
  unknown[1] = 30;
  const r2 = await e.session((s) => s.send(unknown));
  assert.equal(r2.errno, 95);
  assert.equal(r2.replies.length, 1, 'an error reply');
  assert.deepEqual([r2.replies[0]![1], r2.replies[0]![2]], [30, 95], 'the request header with sadb_msg_errno set');
  // ADD without an SA extension
  const noSa = serialize({ header: header(MsgType.ADD, 3, 1), exts: [] });
  assert.equal((await e.session((s) => s.send(noSa))).errno, 22);
  // REGISTER answers the Linux af_key algorithm table
  const reg = await e.session((s) => s.send(serialize({ header: header(MsgType.REGISTER, 0, 1), exts: [] })));
  const sup = decodeMessage(reg.replies[0]!);
  assert.deepEqual(
    findExt(sup, 'supported_auth')!.algs.map((a) => a.id),
    [251, 2, 3, 5, 6, 7, 8, 9],
  );
  assert.deepEqual(
    findExt(sup, 'supported_encrypt')!.algs.map((a) => a.id),
    [11, 2, 3, 6, 7, 12, 252, 22, 253, 13],
  );
  rmSync(dir, { recursive: true, force: true });
});

test('policy lookup: the lowest priority value wins, then the first inserted; the dump lists newest first', async () => {
  const dir = tempDir();
  const backend = await EmbeddedBackend.open(join(dir, 'store'));
  const cmds = await compile(
    [
      'spdadd 10.0.0.0/8 10.1.0.0/16 any -P out prio 100 discard;',
      'spdadd 10.0.0.0/16 10.1.0.0/16 any -P out prio 100 none;',
      'spdadd 10.0.0.0/24 10.1.2.0/24 tcp -P out prio 150 ipsec esp/transport//require;',
      'spdadd 10.0.0.0/8 10.9.0.0/16 any -P out prio 200 none;',
    ].join('\n'),
  );
  const outs = await backend.run(cmds, { atomic: true, pid: 1 });
  assert.ok(outs.every((o) => o.errno === 0));
  const { addressOf } = await import('../src/pfkey/from-wire.js');
  const { parseIpLiteral } = await import('../src/model/address.js');
  const ip = (s: string) => parseIpLiteral(s)!.addr;
  const which = async (src: string, dst: string, proto?: number): Promise<string> => {
    const m = await backend.engine.lookup(2, { src: ip(src), dst: ip(dst), ...(proto !== undefined ? { proto } : {}) });
    if (!m) return 'none found';
    const s = findExt(m, 'address_src')!;
    return `${Buffer.from(addressOf(s.sa).bytes).join('.')}/${s.prefixlen} ${findExt(m, 'policy')!.ptype}`;
  };
  // (setkey's `prio N` is 0x80000000 - N: a larger N is a smaller value, which wins)
  // tcp to 10.1.2.x: the prio 150 ipsec policy (A and B match too, with a larger value)
  assert.equal(await which('10.0.0.5', '10.1.2.9', 6), '10.0.0.0/24 2');
  // udp: A and B match with one priority; the first inserted (discard) wins, though B is more specific
  assert.equal(await which('10.0.0.5', '10.1.2.9', 17), '10.0.0.0/8 0');
  assert.equal(await which('10.0.0.1', '10.9.0.1'), '10.0.0.0/8 1');
  assert.equal(await which('192.0.2.1', '10.0.0.1'), 'none found');
  // a dump lists them newest first, whatever their priority
  const [d] = await backend.run(await compile('spddump;'), { atomic: false, pid: 1 });
  const prios = d!.exchanges[0]!.received.map((r) => findExt(decodeMessage(r), 'policy')!.priority);
  assert.deepEqual(prios, [0x80000000 - 200, 0x80000000 - 150, 0x80000000 - 100, 0x80000000 - 100]);
  rmSync(dir, { recursive: true, force: true });
});

test('a refused request given as a Buffer (a view into Node\'s pool) is left as it was; the error reply is a header of its own, length 2', async () => {
  const e = Engine.memory();
  const sa = (spi: number): Uint8Array =>
    serialize({
      header: header(MsgType.GET, 3, 9),
      exts: [
        { kind: 'sa', spi, replay: 0, state: 0, auth: 0, encrypt: 0, flags: 0 },
        { kind: 'address_src', proto: 255, prefixlen: 32, reserved: 0, sa: { family: 2, port: 0, addr: Uint8Array.of(10, 0, 0, 1), flowinfo: 0, scopeId: 0 } },
        { kind: 'address_dst', proto: 255, prefixlen: 32, reserved: 0, sa: { family: 2, port: 0, addr: Uint8Array.of(10, 0, 0, 2), flowinfo: 0, scopeId: 0 } },
      ],
    });
  // small Buffers share Node's pool: the request does not start its ArrayBuffer, its neighbours are someone else's
  const neighbour = Buffer.from('0123456789abcdef');
  const request = Buffer.from(sa(0x1000));
  assert.ok(request.byteOffset > 0 && request.buffer === neighbour.buffer, 'the request is a view into the pool');
  const mine = Buffer.from(request);
  const r = await e.session((s) => s.send(request));
  assert.equal(r.errno, 3);
  assert.ok(request.equals(mine), 'the request is unchanged');
  const reply = r.replies[0]!;
  assert.equal(reply.length, 16);
  assert.deepEqual([reply[1], reply[2], reply[4]! | (reply[5]! << 8)], [MsgType.GET, 3, 2], 'type, errno, length 2 (64-bit words)');
});
