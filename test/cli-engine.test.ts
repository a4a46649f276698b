/**
 * setkey's modes on the embedded engine, in-process: the round trip of
 * --format=script, JSON dumps, -v and -H while applying, deleteall, the -l
 * loop, and how the backend is chosen when none is named.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from './helpers.js';
import type { Options } from '../src/cli/args.js';

const here = dirname(fileURLToPath(import.meta.url));
const EXAMPLES = join(here, '..', '..', 'examples');
const K16 = '0x00112233445566778899aabbccddeeff';

function tempStore(): { store: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-cli-'));
  return { store: join(dir, 'store'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

for (const name of readdirSync(EXAMPLES).filter((f) => f.endsWith('.conf'))) {
  test(`round trip on the engine: ${name} -> dump -> --format=script -> apply to an empty store -> the same dump`, async () => {
    const a = tempStore();
    const b = tempStore();
    const text = readFileSync(join(EXAMPLES, name), 'latin1');
    assert.equal((await runCli(['--store', a.store, '-f', 'in.conf'], { files: { 'in.conf': text } })).code, 0);
    const sad = await runCli(['--store', a.store, '-D']);
    const spd = await runCli(['--store', a.store, '-DP']);
    const script = (await runCli(['--store', a.store, '-D', '--format=script'])).stdout + (await runCli(['--store', a.store, '-DP', '--format=script'])).stdout;
    const applied = await runCli(['--store', b.store, '-f', 'script.conf'], { files: { 'script.conf': script } });
    assert.equal(applied.code, 0, applied.stderr + script);
    assert.equal((await runCli(['--store', b.store, '-D'])).stdout, sad.stdout);
    assert.equal((await runCli(['--store', b.store, '-DP'])).stdout, spd.stdout);
    a.done();
    b.done();
  });
}

test('-D --format=json on the engine: typed entries, keys only with --show-keys', async () => {
  const s = tempStore();
  await runCli(['--store', s.store, '-f', 'a.conf'], { files: { 'a.conf': `add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc ${K16};\nspdadd 10.0.0.0/24 10.0.1.0/24 tcp -P out ipsec esp/transport//require;\n` } });
  const sad = JSON.parse((await runCli(['--store', s.store, '-D', '--format=json'])).stdout);
  assert.equal(sad.schema, 'setkey-json/1');
  assert.equal(sad.entries.length, 1);
  assert.equal(sad.entries[0].spi, 0x1000);
  assert.equal(sad.entries[0].encryption.key, null);
  const shown = JSON.parse((await runCli(['--store', s.store, '-D', '--format=json', '--show-keys'])).stdout);
  assert.equal(shown.entries[0].encryption.key, K16.slice(2));
  const spd = JSON.parse((await runCli(['--store', s.store, '-DP', '--format=json'])).stdout);
  assert.equal(spd.entries[0].kind, 'policy');
  assert.equal(spd.entries[0].selector.upperProtocol, 6);
  assert.equal(spd.entries[0].id, 1);
  const empty = tempStore();
  assert.deepEqual(JSON.parse((await runCli(['--store', empty.store, '-D', '--format=json'])).stdout).entries, []);
  s.done();
  empty.done();
});

test('-f -v prints each request and what came back; -H the request bytes; GET prints the SA', async () => {
  const s = tempStore();
  const r = await runCli(['--store', s.store, '-v', '-f', 'a.conf'], { files: { 'a.conf': `add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc ${K16};\n` } });
  assert.equal(r.code, 0);
  // the request (kdebug), then its echo from the engine with the engine's changes (flags 0, state mature)
  const msgs = r.stdout.split('sadb_msg{').slice(1);
  assert.equal(msgs.length, 2);
  assert.match(msgs[1]!, /type=3 errno=0 satype=3/);
  const h = await runCli(['--store', s.store, '-H', '-f', 'g.conf'], { files: { 'g.conf': 'get 10.0.0.1 10.0.0.2 esp 0x1000;\n' } });
  assert.equal(h.code, 0);
  assert.match(h.stdout, /^00000000: 02 05 00 03 /);
  assert.match(h.stdout, /\n10\.0\.0\.1 10\.0\.0\.2 \n\tesp mode=transport spi=4096\(0x00001000\)/);
  s.done();
});

test('a refused statement in -c is reported with its line and errno, and the rest still runs', async () => {
  const s = tempStore();
  const input = `add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc ${K16};\nadd 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc ${K16};\nadd 10.0.0.1 10.0.0.2 esp 0x1001 -E aes-cbc ${K16};\n`;
  const r = await runCli(['--store', s.store, '-c'], { stdin: input });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^<stdin>:2:1: error: add 10\.0\.0\.1 10\.0\.0\.2 esp 0x1000: an SA with this destination, protocol and SPI exists \(EEXIST, File exists\)$/m);
  assert.doesNotMatch(r.stderr, /00112233/);
  // and the reference's own line on stdout, for scripts that read it
  assert.equal(r.stdout, 'The result of line 2: File exists.\n');
  assert.equal(((await runCli(['--store', s.store, '-D'])).stdout.match(/esp mode=/g) ?? []).length, 2);
  s.done();
});

test('a refused statement in -f applies nothing of the file', async () => {
  const s = tempStore();
  const text = `spdadd 10.0.0.1 10.0.0.2 any -P out none;\nadd 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc ${K16};\nspdadd 10.0.0.1 10.0.0.2 any -P out none;\n`;
  const r = await runCli(['--store', s.store, '-f', 'a.conf'], { files: { 'a.conf': text } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /a\.conf:3:1: error: spdadd 10\.0\.0\.1 10\.0\.0\.2 any -P out: a policy with this selector and direction exists \(EEXIST/);
  assert.match(r.stderr, /nothing applied/);
  assert.equal((await runCli(['--store', s.store, '-D'])).stdout, 'No SAD entries.\n');
  assert.equal((await runCli(['--store', s.store, '-DP'])).stdout, 'No SPD entries.\n');
  s.done();
});

test('deleteall and flush through setkey', async () => {
  const s = tempStore();
  let text = '';
  for (let i = 0; i < 5; i++) text += `add 10.0.0.1 10.0.0.2 esp ${0x1000 + i} -E aes-cbc ${K16};\n`;
  text += `add 10.0.0.2 10.0.0.1 esp 0x2000 -E aes-cbc ${K16};\n`;
  await runCli(['--store', s.store, '-f', 'a.conf'], { files: { 'a.conf': text } });
  assert.equal((await runCli(['--store', s.store, '-c'], { stdin: 'deleteall 10.0.0.1 10.0.0.2 esp;\n' })).code, 0);
  const left = (await runCli(['--store', s.store, '-D'])).stdout;
  assert.equal((left.match(/esp mode=/g) ?? []).length, 1);
  assert.match(left, /spi=8192/);
  assert.equal((await runCli(['--store', s.store, '-F'])).stdout, '');
  assert.equal((await runCli(['--store', s.store, '-D'])).stdout, 'No SAD entries.\n');
  s.done();
});

test('-D -l prints the one-line form with its header every round until interrupted', async () => {
  const s = tempStore();
  await runCli(['--store', s.store, '-f', 'a.conf'], { files: { 'a.conf': `add 10.0.0.1 10.0.0.2 esp 0x1000 -lh 100 -ls 50 -E aes-cbc ${K16};\n` } });
  const ac = new AbortController();
  let rounds = 0;
  const r = await runCli(['--store', s.store, '-D', '-l'], {
    signal: ac.signal,
    stdout: (t) => {
      if (t.startsWith('time ')) rounds++;
      if (rounds === 3) ac.abort();
    },
  });
  assert.equal(r.code, 0);
  const lines = r.stdout.split('\n').filter(Boolean);
  assert.equal(lines.filter((l) => l.startsWith('time p   s spi')).length, 3);
  assert.match(lines[1]!, /^\d{4} esp M 00001000 {3}0\/100 10\.0\.0\.1 -> 10\.0\.0\.2$/);
  s.done();
});

test('with no backend named and no kernel reachable, the engine serves and says where its store is', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-xdg-'));
  const r = await runCli(['-D'], { env: { XDG_STATE_HOME: dir, HOME: '/nonexistent' } });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, 'No SAD entries.\n');
  assert.equal(r.stderr, `setkey: no kernel key tables (neither XFRM nor PF_KEY (test)); using the embedded key engine, store ${join(dir, 'setkey', 'store')}\n`);
  const home = mkdtempSync(join(tmpdir(), 'setkey-home-'));
  const h = await runCli(['-D'], { env: { HOME: home } });
  assert.match(h.stderr, new RegExp(`store ${join(home, '.local', 'state', 'setkey', 'store')}`));
  rmSync(dir, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

test('-x time stamps: HH:MM:SS.micro in the local zone, -xx seconds.micro; -xH adds the hexdump; a bare X_PROMISC echo is a date only', async () => {
  const { printDate, monitorText } = await import('../src/cli/monitor.js');
  assert.equal(printDate(1700000100123456n, 1, 0), '22:15:00.123456 \n');
  assert.equal(printDate(1700000100123456n, 1, 3600), '23:15:00.123456 \n');
  assert.equal(printDate(1700000100000042n, 2, 0), '1700000100.000042 \n');
  const base: Options = { files: [], mode: 'promisc', all: false, forever: false, noAct: false, hexdump: false, promiscCount: 1, policy: false, withPorts: false, verbose: false, rfcMode: true, showKeys: false };
  const promisc = Uint8Array.of(2, 11, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0x92, 0x10, 0, 0);
  assert.equal(monitorText({ msg: promisc, usec: 1700000100123456n }, { ...base }, 0), '22:15:00.123456 \n');
  const flush = Uint8Array.of(2, 9, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0x92, 0x10, 0, 0);
  const xh = monitorText({ msg: flush, usec: 1700000100123456n }, { ...base, hexdump: true }, 0);
  assert.equal(xh, '22:15:00.123456 \n00000000: 02 09 00 00 02 00 00 00 00 00 00 00 92 10 00 00 \nsadb_msg{ version=2 type=9 errno=0 satype=0\n  len=2 reserved=0 seq=0 pid=4242\n\n');
});
