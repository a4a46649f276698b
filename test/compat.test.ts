/**
 * Issue 10, section 2: every configuration that loads on Linux with the
 * reference loads here. Each case went through the reference (the oracle's
 * `-H -c`): the expected messages below are its bytes (seq and pid masked);
 * the warnings are ours. Through the CLI, in process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hexMessages, maskSeqPid, runCli } from './helpers.js';

const DES = '0x0123456789abcdef';

/** `-n -f` of one file: exit code, the messages of `-H` (masked), the diagnostics lines of stderr (no echo). */
async function check(src: string, hex = true): Promise<{ code: number; msgs: string[]; diags: string[]; stderr: string }> {
  const r = await runCli(['-n', ...(hex ? ['-H'] : []), '-f', 'c.conf'], { files: { 'c.conf': src } });
  const diags = r.stderr.split('\n').filter((l) => /^c\.conf:\d+:\d+: |^setkey: /.test(l));
  return { code: r.code, msgs: hexMessages(r.stdout).map(maskSeqPid), diags, stderr: r.stderr };
}

const SPI_WARNING = (col: number, spi: number): string =>
  `c.conf:1:${col}: warning: SPI ${spi} is reserved by IANA (RFC 4303 section 2.1: SPIs 1 to 255 are reserved for future use); Linux takes it, other IPsec implementations may refuse it`;

test('SPIs 1-255: accepted with a warning citing RFC 4303 where an SA gets one, and sent as the reference sends them', async () => {
  const r = await check(`add 10.0.0.1 10.0.0.2 esp 100 -E des-cbc ${DES};\n`);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.diags, [SPI_WARNING(27, 100)]);
  assert.deepEqual(r.msgs, ['020300030e000000000000000000000002000900400000000123456789abcdef020001000000006400000002400000000200130000000000000000000000000003000500ff200000020000000a000001000000000000000003000600ff200000020000000a0000020000000000000000']);
  for (const [stmt, col, spi] of [
    ['add 10.0.0.1 10.0.0.2 ah 1 -A hmac-md5 0x0123456789abcdef0123456789abcdef;', 26, 1],
    [`update 10.0.0.1 10.0.0.2 esp 255 -E des-cbc ${DES};`, 30, 255],
    ['getspi 10.0.0.1 10.0.0.2 esp 7;', 30, 7],
  ] as const) {
    const w = await check(stmt + '\n');
    assert.equal(w.code, 0, w.stderr);
    assert.deepEqual(w.diags, [SPI_WARNING(col, spi)], stmt);
  }
  // get and delete name an SA that exists: nothing to warn of
  for (const stmt of ['get 10.0.0.1 10.0.0.2 esp 100;', 'delete 10.0.0.1 10.0.0.2 ah 255;']) {
    const g = await check(stmt + '\n');
    assert.deepEqual([g.code, g.diags], [0, []], stmt);
    assert.equal(g.msgs.length, 1);
  }
});

test('SPI 0 stays an error (RFC 4303: never on the wire), as does an SPI beyond 32 bits', async () => {
  const z = await check(`add 10.0.0.1 10.0.0.2 esp 0 -E des-cbc ${DES};\n`);
  assert.equal(z.code, 1);
  assert.deepEqual(z.diags, [
    'c.conf:1:27: error: SPI 0 is reserved for local use and never names an SA on the wire (RFC 4303 section 2.1); expected an SPI from 256 to 4294967295',
    'setkey: 1 error in c.conf; nothing applied',
  ]);
  assert.deepEqual(z.msgs, []);
  const big = await check(`add 10.0.0.1 10.0.0.2 esp 4294967296 -E des-cbc ${DES};\n`);
  assert.equal(big.diags[0], 'c.conf:1:27: error: SPI 4294967296 does not fit in 32 bits; expected an SPI from 256 to 4294967295');
});

test('IPComp CPIs: the well-known CPI of the algorithm is silent, other small CPIs warn (RFC 3173), 0 and 16+ bits are errors', async () => {
  const wk = await check('add 10.0.0.1 10.0.0.2 ipcomp 2 -C deflate -R;\n');
  assert.deepEqual([wk.code, wk.diags], [0, []]);
  assert.deepEqual(wk.msgs, ['020300090c0000000000000000000000020001000000000200000002c00000000200130000000000000000000000000003000500ff200000020000000a000001000000000000000003000600ff200000020000000a0000020000000000000000']);
  const other = await check('add 10.0.0.1 10.0.0.2 ipcomp 5 -C deflate;\n');
  assert.deepEqual(other.diags, [
    "c.conf:1:30: warning: CPI 5 is a well-known CPI (RFC 3173 section 3.3: CPIs 1 to 63 each stand for the compression algorithm of that number; deflate's is 2); Linux takes it, a peer may read it as another algorithm",
  ]);
  const reserved = await check('add 10.0.0.1 10.0.0.2 ipcomp 200 -C lzs;\n');
  assert.deepEqual(reserved.diags, ['c.conf:1:30: warning: CPI 200 is reserved (RFC 3173 section 3.3: CPIs 64 to 255 are reserved for future use); Linux takes it, a peer may refuse it']);
  assert.equal(reserved.msgs.length, 1);
  assert.equal((await check('add 10.0.0.1 10.0.0.2 ipcomp 0 -C deflate;\n')).diags[0], 'c.conf:1:30: error: CPI 0 is reserved (RFC 3173 section 3.3); expected a CPI from 256 to 65535');
  assert.equal((await check('add 10.0.0.1 10.0.0.2 ipcomp 70000 -C deflate;\n')).diags[0], 'c.conf:1:30: error: CPI 70000 does not fit in 16 bits; expected a CPI from 256 to 65535');
});

test('getspi ranges: from 1 with a warning, never from 0, IPComp up to 65535 (verify_spi_info)', async () => {
  const low = await check('getspi 10.0.0.1 10.0.0.2 esp 1-300;\n');
  assert.deepEqual([low.code, low.diags], [0, ['c.conf:1:30: warning: the range 1-300 includes SPIs 1 to 255, which are reserved (RFC 4303 section 2.1); Linux may hand one out']]);
  assert.equal(low.msgs.length, 1);
  const cases: [string, string][] = [
    ['getspi 10.0.0.1 10.0.0.2 esp 0-300;', "c.conf:1:30: error: SPI range '0-300' starts at 0, which is never an SA's SPI (RFC 4303 section 2.1); expected MIN-MAX with 1 <= MIN <= MAX <= 4294967295"],
    ['getspi 10.0.0.1 10.0.0.2 ipcomp 300-70000;', "c.conf:1:33: error: SPI range '300-70000' goes beyond 65535; expected MIN-MAX with 1 <= MIN <= MAX <= 65535"],
    ['getspi 10.0.0.1 10.0.0.2 esp 400-300;', "c.conf:1:30: error: SPI range '400-300' starts above its end; expected MIN-MAX with 1 <= MIN <= MAX <= 4294967295"],
  ];
  for (const [stmt, want] of cases) assert.equal((await check(stmt + '\n')).diags[0], want, stmt);
});

test('GRE keys as a number (sport = n >> 16, dport = n & 0xffff), with or without the reference\'s trailing comma, byte for byte its messages', async () => {
  const want = '020e00000a000000000000000000000002001200010002000000000000000080030005002f200000020000010a0000010000000000000000030006002f200000020000020a0000020000000000000000';
  for (const key of ['65538', '65538,', '65538.', '0.1.0.2']) {
    const r = await check(`spdadd 10.0.0.1 10.0.0.2 gre ${key} -P out none;\n`);
    assert.deepEqual([r.code, r.diags, r.msgs], [0, [], [want]], key);
  }
  // the man page's own example (which the reference's lexer refused without a comma)
  const man = await check('spdadd 0.0.0.0 0.0.0.0 gre 1234 -P out ipsec esp/transport//require;\n');
  assert.deepEqual(man.msgs, ['020e00000c00000000000000000000000400120002000200000000000000008010003200010200000000000000000000030005002f20000002000000000000000000000000000000030006002f200000020004d2000000000000000000000000']);
  const top = await check('spdadd 10.0.0.1 10.0.0.2 47 4294967295, -P out none;\n');
  assert.deepEqual(top.msgs, ['020e00000a000000000000000000000002001200010002000000000000000080030005002f2000000200ffff0a0000010000000000000000030006002f2000000200ffff0a0000020000000000000000']);
  const bad: [string, string][] = [
    ['4294967296', "c.conf:1:30: error: GRE key 4294967296 does not fit in 32 bits; expected the GRE key as a number up to 4294967295, or as a dotted quad a.b.c.d"],
    ['300.0.0.0', "c.conf:1:30: error: GRE key '300.0.0.0' has a part above 255; expected the GRE key as a number up to 4294967295, or as a dotted quad a.b.c.d"],
    ['1.2', "c.conf:1:30: error: bad GRE key '1.2'; expected the GRE key as a number up to 4294967295, or as a dotted quad a.b.c.d"],
  ];
  for (const [key, msg] of bad) assert.equal((await check(`spdadd 10.0.0.1 10.0.0.2 gre ${key} -P out none;\n`)).diags[0], msg, key);
});

test('the dump of a GRE policy reads back: `gre 65538` as the dump prints it is a statement again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-gre-'));
  try {
    const store = join(dir, 'store');
    const a = await runCli(['--store', store, '-f', 'a.conf'], { files: { 'a.conf': 'spdadd 10.0.0.1 10.0.0.2 gre 65538 -P out none;\n' } });
    assert.equal(a.code, 0, a.stderr);
    const d = await runCli(['--store', store, '-DP']);
    assert.match(d.stdout, /^10\.0\.0\.1 10\.0\.0\.2 gre 65538\n/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("IPv4 addresses in inet_aton's other forms load as the reference read them, with a warning naming the address", async () => {
  const r = await check(`add 127.1 010.0.0.2 esp 0x1000 -E des-cbc ${DES};\n`);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.msgs, ['020300030e000000000000000000000002000900400000000123456789abcdef020001000000100000000002400000000200130000000000000000000000000003000500ff200000020000007f000001000000000000000003000600ff20000002000000080000020000000000000000']);
  assert.deepEqual(r.diags, [
    "c.conf:1:5: warning: '127.1' is read as 127.0.0.1 (inet_aton: its last part fills 3 bytes), as ipsec-tools read it; write 127.0.0.1",
    "c.conf:1:11: warning: '010.0.0.2' is read as 8.0.0.2 (inet_aton: a leading 0 makes a part octal), as ipsec-tools read it; write 8.0.0.2",
  ]);
  const tun = await check('spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/tunnel/10.1-10.2/unique:0;\n');
  assert.deepEqual(tun.msgs, ['020e00001000000000000000000000000800120002000200000000000000008030003200020300000000000000000000020000000a0000010000000000000000020000000a000002000000000000000003000500ff200000020000000a000001000000000000000003000600ff200000020000000a0000020000000000000000']);
  assert.deepEqual(tun.diags, [
    "c.conf:1:54: warning: '10.1' is read as 10.0.0.1 (inet_aton: its last part fills 3 bytes), as ipsec-tools read it; write 10.0.0.1",
    "c.conf:1:59: warning: '10.2' is read as 10.0.0.2 (inet_aton: its last part fills 3 bytes), as ipsec-tools read it; write 10.0.0.2",
    'c.conf:1:64: warning: unique:0 is plain unique: the kernel picks a reqid of its own',
  ]);
  // a number alone was no address for the reference either (its lexer's DECSTRING), nor is a bad octal digit
  assert.equal((await check(`add 1234 10.0.0.2 esp 0x1000 -E des-cbc ${DES};\n`)).code, 1);
  assert.equal((await check(`add 10.0.0.08 10.0.0.2 esp 0x1000 -E des-cbc ${DES};\n`)).code, 1);
  assert.equal((await check(`add -6 10.1 ::1 esp 0x1000 -E des-cbc ${DES};\n`)).diags[0], "c.conf:1:8: error: '10.1' is an IPv4 address but -6 was given; expected an IPv6 address");
});

test('unique:0 and unique ids the kernel does not keep are warnings (it picks its own reqid); beyond 32 bits an error', async () => {
  const big = await check('spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//unique:100000;\n');
  assert.equal(big.code, 0);
  assert.deepEqual(big.diags, ['c.conf:1:58: warning: a Linux kernel keeps unique ids up to 16383 only and picks a reqid of its own, so no SA added with -u 100000 is bound to this policy']);
  assert.deepEqual(big.msgs, ['020e00000c0000000000000000000000040012000200020000000000000000801000320001030000a08601000000000003000500ff200000020000000a000001000000000000000003000600ff200000020000000a0000020000000000000000']);
  assert.deepEqual((await check('spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//unique:16383;\n')).diags, []);
  assert.equal(
    (await check('spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//unique:4294967296;\n')).diags[0],
    'c.conf:1:58: error: unique id 4294967296 does not fit in 32 bits; expected unique:N with N from 1 to 16383',
  );
});

test('a policy of more than 6 requests loads with a warning: a Linux kernel refuses it (ELOOP)', async () => {
  const reqs = Array.from({ length: 7 }, () => 'esp/transport//require').join(' ');
  const r = await check(`spdadd 10.0.0.1 10.0.0.2 any -P out ipsec ${reqs};\n`, false);
  assert.equal(r.code, 0);
  assert.deepEqual(r.diags, ['c.conf:1:181: warning: 7 requests: a Linux kernel takes at most 6 and refuses this policy (ELOOP)']);
});

test('what loads now applies on the embedded engine: reserved SPIs and well-known CPIs are SAs like any other', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-compat-'));
  try {
    const store = join(dir, 'store');
    const conf = [`add 10.0.0.1 10.0.0.2 esp 100 -E des-cbc ${DES};`, 'add 10.0.0.1 10.0.0.2 ipcomp 2 -C deflate -R;', 'get 10.0.0.1 10.0.0.2 esp 100;', ''].join('\n');
    const a = await runCli(['--store', store, '-f', 'a.conf'], { files: { 'a.conf': conf } });
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /\tesp mode=transport spi=100\(0x00000064\)/);
    const d = await runCli(['--store', store, '-D']);
    assert.match(d.stdout, /\tipcomp mode=transport spi=2\(0x00000002\)/);
    assert.match(d.stdout, /\tesp mode=transport spi=100\(0x00000064\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
