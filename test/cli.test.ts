/** The command line: the reference's getopt behaviour, modes, exit codes, -c streaming. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseArgs } from '../src/cli/args.js';
import { GOLDEN, hexMessages, read, runCli } from './helpers.js';

const USAGE_HEAD = 'usage: setkey [-vrk] file ...';

test('no arguments, -h, -?, and a mode-less flag print usage on stdout and exit 1', async () => {
  for (const argv of [[], ['-h'], ['-?'], ['-v'], ['-nvk']]) {
    const r = await runCli(argv);
    assert.equal(r.code, 1, argv.join(' '));
    assert.ok(r.stdout.includes(USAGE_HEAD), argv.join(' '));
    assert.equal(r.stderr, '');
  }
  const golden = read(join(GOLDEN, 'cli', 'no-args', 'stdout')).split('\n').slice(1).join('\n');
  assert.ok((await runCli([])).stdout.endsWith(golden), 'usage lines are the reference\'s');
});

test('-V prints the version line only and exits 1; --help exits 0 and names the differences', async () => {
  const v = await runCli(['-V']);
  assert.equal(v.code, 1);
  assert.equal(v.stdout.split('\n').length, 2);
  assert.match(v.stdout, /^setkey @\(#\) /);
  const h = await runCli(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /Differences from ipsec-tools/);
  assert.match(h.stdout, /--backend/);
});

test('getopt errors: unknown option and missing argument go to stderr, usage to stdout, exit 1', async () => {
  const z = await runCli(['-Z']);
  assert.equal(z.code, 1);
  assert.equal(z.stderr, "setkey: invalid option -- 'Z'\n");
  assert.ok(z.stdout.includes(USAGE_HEAD));
  const f = await runCli(['-f']);
  assert.equal(f.code, 1);
  assert.equal(f.stderr, "setkey: option requires an argument -- 'f'\n");
  const l = await runCli(['--nonsense']);
  assert.equal(l.code, 1);
  assert.match(l.stderr, /unrecognized option '--nonsense'/);
});

test('bundled, counted and attached options parse as getopt does', () => {
  const a = parseArgs(['-DPp']);
  assert.ok(a.action === 'run');
  assert.deepEqual([a.options.mode, a.options.policy, a.options.withPorts], ['dump', true, true]);
  const x = parseArgs(['-xx']);
  assert.ok(x.action === 'run' && x.options.promiscCount === 2 && x.options.mode === 'promisc');
  const f = parseArgs(['-nfconf.txt', '-k']);
  assert.ok(f.action === 'run' && f.options.script === 'conf.txt' && f.options.noAct && !f.options.rfcMode);
  const permuted = parseArgs(['file.bin', '-p']);
  assert.ok(permuted.action === 'run' && permuted.options.files[0] === 'file.bin' && permuted.options.withPorts);
  const dashdash = parseArgs(['--', '-D']);
  assert.ok(dashdash.action === 'run' && dashdash.options.files[0] === '-D');
  assert.equal(parseArgs(['-V', '-D']).action, 'version');
  const b = parseArgs(['--backend', 'xfrm', '--store=/tmp/s']);
  assert.ok(b.action === 'run' && b.options.backend === 'xfrm' && b.options.store === '/tmp/s');
  assert.equal(parseArgs(['--backend=bogus']).action, 'error');
});

test('-f: a missing file is an error naming it', async () => {
  const r = await runCli(['-n', '-f', '/nonexistent/x.conf']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'setkey: /nonexistent/x.conf: No such file or directory\n');
});

test('-n -f: valid input is silent and exits 0; errors exit 1 and apply nothing', async () => {
  const ok = await runCli(['-n', '-f', 'a.conf'], { files: { 'a.conf': 'flush;\nspdflush;\n' } });
  assert.deepEqual([ok.code, ok.stdout, ok.stderr], [0, '', '']);
  const bad = await runCli(['-n', '-f', 'a.conf'], { files: { 'a.conf': 'flush;\nadd 10.0.0.1 10.0.0.2 esp 0 -E null;\n' } });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^a\.conf:2:27: error: SPI 0 is reserved/m);
  assert.match(bad.stderr, /\n  add 10\.0\.0\.1 10\.0\.0\.2 esp 0 -E null;\n {28}\^\n/);
  assert.match(bad.stderr, /nothing applied/);
});

test('backend choice: named, by store, or the kernel when reachable (xfrm, else pfkey), else the engine with a note', async () => {
  const { chooseBackend, openBackend } = await import('../src/backends/select.js');
  const opened: string[] = [];
  // stand-ins for the kernel backends: a test never reaches the host's own tables
  const kernel = {
    xfrm: async () => (opened.push('xfrm'), { ok: false as const, message: 'xfrm stand-in' }),
    pfkey: async () => (opened.push('pfkey'), { ok: false as const, message: 'pfkey stand-in' }),
  };
  const env = { HOME: '/nonexistent', XDG_STATE_HOME: '' };
  const open = (flag: 'embedded' | 'xfrm' | 'pfkey' | undefined, via: 'xfrm' | 'pfkey' | undefined, reachable: boolean) => {
    const choice = chooseBackend(flag, undefined, env);
    assert.ok(!('error' in choice));
    return openBackend(choice, env, { kernel, reach: () => (via ? { reachable, why: 'test', via } : { reachable, why: 'test' }) });
  };
  assert.equal(((await open('xfrm', undefined, false)) as { message: string }).message, 'xfrm stand-in');
  assert.equal(((await open('pfkey', undefined, false)) as { message: string }).message, 'pfkey stand-in');
  assert.equal(((await open(undefined, 'xfrm', true)) as { message: string }).message, 'xfrm stand-in');
  assert.equal(((await open(undefined, 'pfkey', true)) as { message: string }).message, 'pfkey stand-in');
  assert.deepEqual(opened, ['xfrm', 'pfkey', 'xfrm', 'pfkey']);
  assert.deepEqual(chooseBackend(undefined, '/tmp/x', env), { name: 'embedded', store: '/tmp/x' });
  assert.deepEqual(chooseBackend(undefined, undefined, { SETKEY_STORE: '/tmp/y' }), { name: 'embedded', store: '/tmp/y' });
  assert.deepEqual(chooseBackend(undefined, undefined, { SETKEY_BACKEND: 'pfkey' }), { name: 'pfkey' });
  const bad = await runCli(['-D'], { env: { SETKEY_BACKEND: 'bogus' } });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /SETKEY_BACKEND must be embedded, xfrm or pfkey/);
});

test('-n -H: deleteall shows the DUMP it starts with and says why the rest is missing', async () => {
  const r = await runCli(['-n', '-H', '-f', 'a.conf'], { files: { 'a.conf': 'deleteall 10.0.0.1 10.0.0.2 esp;\n' } });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, '00000000: 02 0a 00 03 02 00 00 00 00 00 00 00 92 10 00 00 \n');
  assert.match(r.stderr, /a\.conf:1:1: note: deleteall/);
});

test('-n -H: what Linux PF_KEY cannot carry is an error at its statement', async () => {
  const r = await runCli(['-n', '-H', '-f', 'a.conf'], { files: { 'a.conf': `flush;\nadd 10.0.0.1 10.0.0.2 esp 0x1000 -E chacha20-poly1305 0x${'00'.repeat(36)};\n` } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /a\.conf:2:1: error: chacha20-poly1305 has no PF_KEY number on linux; the xfrm backend can install it/);
  const esn = await runCli(['-n', '-H', '--platform=freebsd', '-f', 'a.conf'], { files: { 'a.conf': `add 10.0.0.1 10.0.0.2 esp 0x1000 -esn -E aes-cbc 0x${'00'.repeat(16)};\n` } });
  assert.equal(esn.code, 0, esn.stderr);
  assert.equal(hexMessages(esn.stdout).length, 1);
});

test('-n -H of a file too large to keep its statements prints every message, in order, and its errors', async () => {
  // past the statements a check keeps, the file is read again chunk by chunk for the printing
  const n = 20_050;
  const stmt = (i: number): string => `spdadd 10.${i >> 8}.${i & 255}.0/24 10.9.0.0/16 any -P out ipsec esp/tunnel/1.1.1.1-2.2.2.2/require;\n`;
  let text = '';
  for (let i = 0; i < n; i++) text += stmt(i);
  const all = await runCli(['-n', '-H', '-f', 'a.conf'], { files: { 'a.conf': text } });
  assert.equal(all.code, 0, all.stderr);
  const got = hexMessages(all.stdout);
  assert.equal(got.length, n);
  for (const i of [0, 1, 19_999, 20_000, n - 1]) {
    const one = await runCli(['-n', '-H', '-f', 'a.conf'], { files: { 'a.conf': stmt(i) } });
    assert.deepEqual(got[i], hexMessages(one.stdout)[0], `statement ${i}`);
  }
  const bad = await runCli(['-n', '-H', '-f', 'a.conf'], { files: { 'a.conf': `${text}add 10.0.0.1 10.0.0.2 esp 0x1000 -E chacha20-poly1305 0x${'00'.repeat(36)};\n` } });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, new RegExp(`a\\.conf:${n + 1}:1: error: chacha20-poly1305 has no PF_KEY number`));
  assert.equal(hexMessages(bad.stdout).length, n);
});

test('-f - reads the statements from stdin', async () => {
  const r = await runCli(['-n', '-H', '-f', '-'], { stdin: 'spdflush;\n' });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, '00000000: 02 13 00 00 02 00 00 00 00 00 00 00 92 10 00 00 \n');
});

test('-c: each statement runs at its ;, across chunks, lines counted, quotes respected', async () => {
  const r = await runCli(['-n', '-H', '-c'], {
    stdin: ['add 10.0.0.1 10.0.0.2 ah 0x1000 -A hmac-md5 "0123456', ';89abcdef"; flu', 'sh;\n# comment ; here\nspddump;\nbogus;\nadd 10.0.0.1\n 10.0.0.2 esp 0 -E null;\nspdflush;\n'],
  });
  assert.equal(r.code, 1);
  const msgs = hexMessages(r.stdout);
  assert.deepEqual(msgs.map((m) => m[1]), [3, 9, 18, 19]); // ADD, FLUSH, SPDDUMP, SPDFLUSH: errors did not stop the loop
  assert.match(r.stderr, /^<stdin>:4:1: error: unknown command 'bogus'/m);
  assert.match(r.stderr, /^<stdin>:6:15: error: SPI 0 is reserved/m);
});

test('-c: exit stops reading; a statement left without ; at EOF is an error', async () => {
  const e = await runCli(['-n', '-H', '-c'], { stdin: 'spdflush;\nexit;\nspddump;\n' });
  assert.equal(e.code, 0);
  assert.equal(hexMessages(e.stdout).length, 1);
  const m = await runCli(['-n', '-c'], { stdin: 'spdflush;\nspddump' });
  assert.equal(m.code, 1);
  assert.match(m.stderr, /<stdin>:2:8: error: expected ';' after 'spddump'\n/);
  const empty = await runCli(['-n', '-c'], { stdin: '' });
  assert.deepEqual([empty.code, empty.stdout, empty.stderr], [0, '', '']);
});
