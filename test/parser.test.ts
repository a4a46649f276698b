/** The setkey language: every statement form, option and check the issue lists. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddCommand, Command, PolicyCommand, SaRefCommand } from '../src/model/command.js';
import { Action, Dir, Level, Mode, SaFlag, SaType } from '../src/model/tables.js';
import { formatIp } from '../src/model/address.js';
import { parse } from '../src/syntax/parser.js';
import { resolveStatements } from '../src/syntax/resolve.js';
import { testLookup, testSys } from './helpers.js';

function one(src: string): Command {
  const r = parse(src, { file: 't.conf', sys: testSys });
  assert.equal(r.errorCount, 0, JSON.stringify(r.diagnostics));
  assert.equal(r.statements.length, 1);
  return r.statements[0]!.cmd;
}

function add(src: string): AddCommand {
  const c = one(src);
  assert.ok(c.kind === 'add' || c.kind === 'update');
  return c as AddCommand;
}

function policy(src: string): PolicyCommand {
  const c = one(src);
  assert.ok(c.kind.startsWith('spd'));
  return c as PolicyCommand;
}

/** The first error: [line, col, code]. */
function error(src: string): [number, number, string, string] {
  const r = parse(src, { file: 't.conf', sys: testSys });
  const d = r.diagnostics.find((x) => x.severity === 'error');
  assert.ok(d, `expected an error for: ${src}`);
  return [d.line, d.col, d.code, d.message];
}

function warnings(src: string): string[] {
  const r = parse(src, { file: 't.conf', sys: testSys });
  assert.equal(r.errorCount, 0, JSON.stringify(r.diagnostics));
  return r.diagnostics.filter((d) => d.severity === 'warning').map((d) => d.code);
}

const DES = '0x0123456789abcdef';
const SHA1 = '0x00112233445566778899aabbccddeeff00112233';

test('add: every extension option lands in the model', () => {
  const c = add(`add 10.0.0.1 10.0.0.2 esp 0x12345678 -m tunnel -u 5 -r 4 -f random-pad -f nocyclic-seq -lh 3600 -ls 2880 -bh 1000000 -bs 800000 -ctx 1 2 "lbl" -esn -E 3des-cbc 0x${'01'.repeat(24)} -A hmac-sha1 ${SHA1};`);
  const sa = c.sa;
  assert.equal(sa.satype, SaType.ESP);
  assert.equal(sa.spi, 0x12345678);
  assert.equal(sa.mode, Mode.TUNNEL);
  assert.equal(sa.reqid, 5);
  assert.equal(sa.replay, 4);
  assert.equal(sa.flags, SaFlag.PRAND); // cyclic sequence cleared
  assert.equal(sa.esn, true);
  assert.deepEqual(sa.hard, { allocations: 0, bytes: 1000000n, addtime: 3600n, usetime: 0n });
  assert.deepEqual(sa.soft, { allocations: 0, bytes: 800000n, addtime: 2880n, usetime: 0n });
  assert.deepEqual(sa.ctx, { doi: 1, alg: 2, ctx: 'lbl' });
  assert.equal(sa.enc?.alg, '3des-cbc');
  assert.equal(sa.enc?.key?.bits, 192);
  assert.equal(sa.auth?.alg, 'hmac-sha1');
});

test('statements span lines and take comments; quoted keys keep ; and #', () => {
  const r = parse(`# a comment\nadd 10.0.0.1\n  10.0.0.2 ah 0x1000 # trailing\n  -A hmac-md5 "0123456;89a#cdef";\nflush;`, { file: 't', sys: testSys });
  assert.equal(r.errorCount, 0);
  assert.equal(r.statements.length, 2);
  const c = r.statements[0]!.cmd as AddCommand;
  assert.equal(Buffer.from(c.sa.auth!.key!.data).toString(), '0123456;89a#cdef');
  assert.equal(c.pos.line, 2);
  assert.equal(c.pos.endLine, 4);
});

test('protocols: esp-old/ah-old set OLD, esp-udp adds NAT-T with 4500 defaults and an OA', () => {
  assert.equal(add(`add 10.0.0.1 10.0.0.2 esp-old 0x1000 -E des-cbc ${DES};`).sa.flags, SaFlag.CYCSEQ | SaFlag.OLD);
  assert.equal(add(`add 10.0.0.1 10.0.0.2 ah-old 0x1000 -A hmac-md5 0x${'00'.repeat(16)};`).sa.flags, SaFlag.CYCSEQ | SaFlag.OLD);
  const n = add(`add 192.0.2.1 198.51.100.1[4501] esp-udp 10.0.0.5 0x3000 -E aes-cbc 0x${'00'.repeat(16)};`).sa.natt!;
  assert.equal(n.type, 2);
  assert.equal(n.sport, 4500);
  assert.equal(n.dport, 4501);
  assert.equal(formatIp(n.oa!), '10.0.0.5');
  const ipc = add('add 10.0.0.1 10.0.0.2 ipcomp 0x1001 -C lzs -R;');
  assert.equal(ipc.sa.satype, SaType.IPCOMP);
  assert.equal(ipc.sa.enc?.alg, 'lzs');
  assert.equal(ipc.sa.flags & SaFlag.RAWCPI, SaFlag.RAWCPI);
  // names of Object's own properties are no protocols (the reference: syntax error)
  for (const w of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    assert.equal(error(`add 10.0.0.1 10.0.0.2 ${w} 0x1000 -E aes-cbc 0x${'00'.repeat(16)};`)[2], 'unknown-protocol', w);
  }
});

test('SPI: decimal and hex; 0 reserved, 1-255 a warning, beyond 32 bits rejected; CPI is 16 bits', () => {
  assert.equal(add(`add 10.0.0.1 10.0.0.2 esp 4096 -E des-cbc ${DES};`).sa.spi, 4096);
  assert.equal(add(`add 10.0.0.1 10.0.0.2 esp 0xffffffff -E des-cbc ${DES};`).sa.spi, 0xffffffff);
  assert.equal(add(`add 10.0.0.1 10.0.0.2 esp 256 -E des-cbc ${DES};`).sa.spi, 256);
  assert.deepEqual(warnings(`add 10.0.0.1 10.0.0.2 esp 255 -E des-cbc ${DES};`), ['spi-reserved']);
  assert.equal(error(`add 10.0.0.1 10.0.0.2 esp 0 -E des-cbc ${DES};`)[2], 'spi-reserved');
  assert.equal(error(`add 10.0.0.1 10.0.0.2 esp 0x100000000 -E des-cbc ${DES};`)[2], 'spi-range');
  assert.equal(error(`add 10.0.0.1 10.0.0.2 esp 99999999999999999999999 -E des-cbc ${DES};`)[2], 'spi-range');
  assert.equal(error('add 10.0.0.1 10.0.0.2 ipcomp 0x10000 -C deflate;')[2], 'spi-range');
});

test('key lengths are checked per algorithm, including AES sizes and AEAD salts', () => {
  for (const bits of [128, 192, 256]) add(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x${'00'.repeat(bits / 8)};`);
  assert.equal(error(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x${'00'.repeat(17)};`)[2], 'key-length');
  add(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-gcm-16 0x${'00'.repeat(20)};`);
  assert.equal(error(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-gcm-16 0x${'00'.repeat(16)};`)[2], 'key-length');
  add(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E chacha20-poly1305 0x${'00'.repeat(36)};`);
  add(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E blowfish-cbc 0x${'00'.repeat(5)};`);
  assert.equal(error(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E blowfish-cbc 0x${'00'.repeat(57)};`)[2], 'key-length');
  const [line, col, code, msg] = error(`add 10.0.0.1 10.0.0.2 esp 0x1000\n  -E des-cbc 0x0123456789abcd;`);
  assert.deepEqual([line, col, code], [2, 14, 'key-length']);
  assert.doesNotMatch(msg, /0123/);
});

test('AEAD refuses -A; the RFC 4868 spelling and aliases resolve in the registry', () => {
  assert.equal(error(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-gcm-16 0x${'00'.repeat(20)} -A hmac-sha1 ${SHA1};`)[2], 'aead-with-auth');
  assert.equal(add(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E rijndael-cbc 0x${'00'.repeat(16)} -A hmac-sha2-256 0x${'00'.repeat(32)};`).sa.auth?.alg, 'hmac-sha256');
  assert.equal(add(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x${'00'.repeat(16)} -A hmac-sha256-128 0x${'00'.repeat(32)};`).sa.auth?.alg, 'hmac-sha256-128');
  assert.equal(add(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x${'00'.repeat(16)};`).sa.enc?.alg, 'aes-cbc');
  assert.equal(error('add 10.0.0.1 10.0.0.2 esp 0x1000 -E null 0x00;')[2], 'unexpected-key');
});

test('replay with *-old is refused; TCP-MD5 needs protocol tcp and SPI 0x1000', () => {
  assert.equal(error(`add 10.0.0.1 10.0.0.2 esp-old 0x1000 -r 4 -E des-cbc ${DES};`)[2], 'replay-old');
  assert.equal(add('add 10.0.0.1 10.0.0.2 tcp 0x1000 -A tcp-md5 "secret";').sa.satype, SaType.TCP);
  assert.equal(error('add 10.0.0.1 10.0.0.2 tcp 0x1001 -A tcp-md5 "secret";')[2], 'tcp-md5-spi');
  assert.equal(error(`add 10.0.0.1 10.0.0.2 esp 0x1000 -A tcp-md5 "secret";`)[2], 'tcp-md5-protocol');
});

test('addresses: -4 -6 -n combine; zones; families must match; prefixes refused on SAs', () => {
  const c = add('add -6n fe80::1%eth0 fe80::2%2 esp 0x1000 -E null;');
  assert.equal(c.sa.src.addr.scopeId, 2);
  assert.equal(c.sa.dst.addr.scopeId, 2);
  assert.equal(error('add -4 2001:db8::1 2001:db8::2 esp 0x1000 -E null;')[2], 'family-flag');
  assert.equal(error('add -n localhost 10.0.0.2 esp 0x1000 -E null;')[2], 'numeric-only');
  assert.equal(error('add 10.0.0.1 2001:db8::2 esp 0x1000 -E null;')[2], 'family-mismatch');
  assert.equal(error('add 10.0.0.1 10.0.0.2[70000] esp 0x1000 -E null;')[2], 'port-range');
  assert.equal(error('add fe80::1%nosuch fe80::2 esp 0x1000 -E null;')[2], 'unknown-zone');
});

test('host names resolve into every same-family pair, one command each', async () => {
  const r = parse('add dual.example dual.example esp 0x1000 -E null;\nspdadd -4 dual.example 10.1.0.0/16 any -P out none;', { file: 't', sys: testSys });
  assert.equal(r.errorCount, 0);
  const res = await resolveStatements(r.statements, 't', testLookup);
  assert.deepEqual(res.diagnostics, []);
  const adds = res.commands.filter((c) => c.kind === 'add') as AddCommand[];
  assert.deepEqual(adds.map((c) => `${formatIp(c.sa.src.addr)} ${formatIp(c.sa.dst.addr)}`), ['192.0.2.10 192.0.2.10', '2001:db8::10 2001:db8::10']);
  const sp = res.commands.find((c) => c.kind === 'spdadd') as PolicyCommand;
  assert.equal(formatIp(sp.selector!.src), '192.0.2.10');
  assert.equal(sp.selector!.sprefix, 32);
  const bad = await resolveStatements(parse('add nosuch.example 10.0.0.1 esp 0x1000 -E null;\nspdadd two4.example 10.0.0.1 any -P out none;', { file: 't', sys: testSys }).statements, 't', testLookup);
  assert.deepEqual(bad.diagnostics.map((d) => [d.line, d.code]), [
    [1, 'unresolved-host'],
    [2, 'multiple-addresses'],
  ]);
});

test('get/delete/deleteall/getspi/flush/dump', () => {
  const g = one('get 10.0.0.1 10.0.0.2 esp 0x1000;') as SaRefCommand;
  assert.equal(g.kind, 'get');
  assert.equal(one('deleteall 10.0.0.1 10.0.0.2 ah;').kind, 'deleteall');
  assert.equal(error('deleteall 10.0.0.1[500] 10.0.0.2 ah;')[2], 'port-not-allowed');
  const s = one('getspi 10.0.0.1 10.0.0.2 esp 0x1000-0x2000 -m tunnel -u 7;') as SaRefCommand;
  assert.deepEqual(s.spiRange, { min: 0x1000, max: 0x2000 });
  assert.equal(s.sa.reqid, 7);
  assert.equal((one('getspi 10.0.0.1 10.0.0.2 esp;') as SaRefCommand).spiRange, undefined);
  assert.deepEqual((one('getspi 10.0.0.1 10.0.0.2 esp 0x4000;') as SaRefCommand).spiRange, { min: 0x4000, max: 0x4000 });
  assert.deepEqual(one('flush ipcomp;'), { kind: 'flush', pos: { file: 't.conf', line: 1, col: 1, endLine: 1 }, satype: SaType.IPCOMP });
  assert.equal((one('dump;') as { satype: number }).satype, 0);
  assert.deepEqual(warnings('delete 10.0.0.1 10.0.0.2 esp 0x1000 -m transport;'), ['mode-obsolete']);
});

test('selectors: prefixes, ports, upper protocols by name and number, icmp type/code, gre key', () => {
  const p = policy('spdadd 10.0.0.0/24[80] 10.0.1.0/24[any] tcp -P out none;');
  assert.deepEqual([p.selector!.sprefix, p.selector!.dprefix, p.selector!.sport, p.selector!.dport, p.selector!.proto], [24, 24, 80, 0, 6]);
  assert.equal(policy('spdadd 10.0.0.1 10.0.0.2 udp -P out none;').selector!.proto, 17);
  assert.equal(policy('spdadd 10.0.0.1 10.0.0.2 50 -P out none;').selector!.proto, 50);
  assert.equal(policy('spdadd ::1 ::2 icmp6 135,0 -P out none;').selector!.sport, 135);
  assert.equal(policy('spdadd 10.0.0.1 10.0.0.2 ip4 -P out none;').selector!.proto, 4);
  assert.equal(policy('spdadd 10.0.0.1[domain] 10.0.0.2 udp -P out none;').selector!.sport, 53);
  const g = policy('spdadd 10.0.0.1 10.0.0.2 gre 0.1.0.2 -P out none;').selector!;
  assert.deepEqual([g.sport, g.dport], [1, 2]);
  assert.equal(error('spdadd 10.0.0.0/33 10.0.1.0/24 any -P out none;')[2], 'prefix-range');
  assert.equal(error('spdadd ::/129 ::/0 any -P out none;')[2], 'prefix-range');
  assert.equal(error('spdadd 10.0.0.1 10.0.0.2 256 -P out none;')[2], 'upper-range');
  assert.equal(error('spdadd 10.0.0.1 10.0.0.2 bogus -P out none;')[2], 'unknown-upper');
  assert.equal(error('spdadd 10.0.0.1 10.0.0.2 icmp 256,0 -P out none;')[2], 'bad-type-code');
});

test('policies: directions, actions, levels, unique ids, priorities', () => {
  const p = policy('spdadd 10.0.0.1 10.0.0.2 any -P in prio high + 5 ipsec esp/transport//default ah/tunnel/192.0.2.1-198.51.100.1/use ipcomp/transport//unique:42;').policy;
  assert.equal(p.dir, Dir.IN);
  assert.equal(p.action, Action.IPSEC);
  assert.equal(p.priority, 0x40000000 - 5);
  assert.deepEqual(p.requests.map((r) => [r.mode, r.level, r.reqid]), [
    [Mode.TRANSPORT, Level.DEFAULT, 0],
    [Mode.TUNNEL, Level.USE, 0],
    [Mode.TRANSPORT, Level.UNIQUE, 42],
  ]);
  const prio = (s: string): number => policy(`spdadd 10.0.0.1 10.0.0.2 any -P out ${s} none;`).policy.priority;
  assert.equal(prio('prio 100'), 0x80000000 - 100);
  assert.equal(prio('prio -100'), 0x80000000 + 100);
  assert.equal(prio('priority low - 3'), 0xc0000003);
  assert.equal(prio('prio def'), 0x80000000);
  assert.equal(prio('prio high + 1073741824'), 0);
  assert.equal(prio('prio low - 1073741823'), 0xffffffff);
  assert.equal(prio('prio 2147483648'), 0);
  assert.equal(error('spdadd 10.0.0.1 10.0.0.2 any -P out prio high + 1073741825 none;')[2], 'priority-range');
  assert.equal(error('spdadd 10.0.0.1 10.0.0.2 any -P out prio low - 1073741824 none;')[2], 'priority-range');
  assert.equal(error('spdadd 10.0.0.1 10.0.0.2 any -P out prio -2147483648 none;')[2], 'priority-range');
  assert.deepEqual(warnings('spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//unique:0;'), ['unique-auto']);
  assert.deepEqual(warnings('spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//unique:32768;'), ['unique-auto']);
  assert.equal(error('spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//unique:4294967296;')[2], 'unique-range');
  assert.equal(error('spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/tunnel//require;')[2], 'tunnel-endpoints');
  const d = policy('spdadd 10.0.0.1 10.0.0.2 any -P fwd;').policy;
  assert.deepEqual([d.dir, d.action, d.priority], [Dir.FWD, Action.DISCARD, 0]);
  const nat = policy('spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/tunnel/192.0.2.1[4500]-198.51.100.1[4500]/require;').policy.requests[0]!;
  assert.equal(nat.tunnel!.src.port, 4500);
  assert.equal(error('spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/tunnel/192.0.2.1[4500]-198.51.100.1/require;')[2], 'policy-endpoint');
  assert.equal(policy('spdadd 10.0.0.1 10.0.0.2 any -P in ipsec esp/transport/any-me/require;').policy.requests.length, 1);
  assert.equal(policy('spdadd tagged "t1" -P out none;').tag, 't1');
});

test('errors in the policy text point at the offending word, across lines', () => {
  assert.deepEqual(error('spdadd 10.0.0.1 10.0.0.2 any -P out ipsec\n  esp/transport//require\n  ah/transport//sometimes;').slice(0, 3), [3, 17, 'policy-level']);
});

test('all errors are reported, each on its line, bounded', () => {
  const src = ['add 10.0.0.1 10.0.0.2 esp 0 -E null;', 'flush;', 'bogus;', 'add 10.0.0.1 10.0.0.2 esp 0x1000 -E des-cbc 0x00;', 'spdadd 10.0.0.1 10.0.0.2 any -P sideways none;'].join('\n');
  const r = parse(src, { file: 't', sys: testSys });
  assert.deepEqual(
    r.diagnostics.map((d) => [d.line, d.code]),
    [
      [1, 'spi-reserved'],
      [3, 'unknown-command'],
      [4, 'key-length'],
      [5, 'policy-direction'],
    ],
  );
  const many = parse('bogus;\n'.repeat(200), { file: 't', sys: testSys, maxErrors: 10 });
  assert.equal(many.errorCount, 200);
  assert.equal(many.diagnostics.length, 11);
  assert.equal(many.diagnostics[10]!.code, 'too-many-errors');
});

test('exit, quit and bye stop parsing; a missing final ; is an error at the statement', () => {
  for (const w of ['exit', 'quit', 'bye']) {
    const r = parse(`flush;\n${w};\nthis is not parsed`, { file: 't', sys: testSys });
    assert.equal(r.errorCount, 0);
    assert.equal(r.exited, true);
    assert.equal(r.statements.length, 1);
  }
  assert.deepEqual(error('flush;\nadd 10.0.0.1 10.0.0.2 esp 0x1000 -E null\n').slice(0, 3), [2, 41, 'missing-semicolon']);
  assert.equal(error('add 10.0.0.1 10.0.0.2 esp 0x1000 -A hmac-md5 "unterminated;\n')[2], 'unterminated-string');
  assert.equal(error(';')[2], 'empty-statement');
});

test('warnings: obsolete algorithms, odd hex keys, missing protocol; none of them fail', () => {
  assert.deepEqual(warnings('add 10.0.0.1 10.0.0.2 esp 0x1000 -E simple;'), ['obsolete-algorithm']);
  assert.deepEqual(warnings('add 10.0.0.1 10.0.0.2 esp 0x1000 -E des-cbc 0x123456789abcdef;'), ['odd-hex-key']);
  assert.deepEqual(warnings(`add 10.0.0.1 10.0.0.2 0x1000 -E des-cbc ${DES};`), ['no-protocol']);
});

test('a policy text repeated: each statement has its rule, its warnings and its errors at its own lines', () => {
  const text = 'esp/tunnel/192.0.2.1-192.0.2.2/unique:0';
  const src = [`spdadd 10.0.0.1 10.0.0.2 any -P out ipsec ${text};`, `spdadd 10.0.0.3 10.0.0.4 any -P out ipsec ${text};`, '', `spdadd 10.0.0.5 10.0.0.6 any\n  -P out ipsec ${text};`].join('\n');
  const r = parse(src, { file: 't.conf', sys: testSys });
  assert.equal(r.errorCount, 0);
  const rules = r.statements.map((s) => (s.cmd as PolicyCommand).policy);
  assert.equal(rules.length, 3);
  for (const p of rules) {
    assert.deepEqual(
      p.requests.map((q) => [q.proto, q.mode, q.level, q.reqid, formatIp(q.tunnel!.src.addr), formatIp(q.tunnel!.dst.addr)]),
      [[50, Mode.TUNNEL, Level.UNIQUE, 0, '192.0.2.1', '192.0.2.2']],
    );
  }
  // the warning of the text (unique:0), once per statement, where each statement has it
  const w = r.diagnostics.filter((d) => d.code === 'unique-auto').map((d) => [d.line, d.col]);
  const col = `spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/`.length + 1;
  assert.deepEqual(w, [
    [1, col],
    [2, col],
    [5, col - 'spdadd 10.0.0.5 10.0.0.6 any\n'.length + 2],
  ]);
  // a bad text repeated: an error at each statement's own place
  const bad = 'esp/tunnel/192.0.2.1/require';
  const e = parse(`spdadd 10.0.0.1 10.0.0.2 any -P out ipsec ${bad};\n  spdadd 10.0.0.1 10.0.0.2 any -P out ipsec ${bad};`, { file: 't.conf', sys: testSys });
  assert.equal(e.errorCount, 2);
  assert.deepEqual(
    e.diagnostics.map((d) => [d.line, d.code]),
    [
      [1, e.diagnostics[0]!.code],
      [2, e.diagnostics[0]!.code],
    ],
  );
  assert.equal(e.diagnostics[1]!.col, e.diagnostics[0]!.col + 2);
});
