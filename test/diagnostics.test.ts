/**
 * Issue 10, section 3: diagnostics a person can act on. A missing ';' is
 * reported where it is missing and does not swallow the next statement; a
 * host name that does not resolve is reported with the other errors; a
 * misspelt word names the nearest valid one. Exact lines, columns and texts,
 * through the CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parse } from '../src/syntax/parser.js';
import { StreamParser } from '../src/syntax/stream.js';
import { hexMessages, runCli, testSys } from './helpers.js';

const AES = '0x00112233445566778899aabbccddeeff';

async function nf(src: string, extra: string[] = []): Promise<{ code: number; stderr: string; stdout: string }> {
  return runCli(['-n', ...extra, '-f', 'c.conf'], { files: { 'c.conf': src } });
}

/** The FILE:LINE:COL lines and the summary of stderr (the echo left out). */
function diagLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /^c\.conf:\d+:\d+: |^setkey: /.test(l));
}

test("a missing ';' is reported just after the statement's last token, named by what it is; the next statement is not swallowed", async () => {
  const src = [
    'flush;',
    `add 10.0.0.1 10.0.0.2 esp 0x1001 -E aes-cbc ${AES}`,
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec',
    '    esp/transport//require',
    'spdadd 10.0.0.3 10.0.0.4 any -P sideways none;',
    'get 10.0.0.1 10.0.0.2 esp 0x1001',
    'spdflush',
    'deleteall 10.0.0.1 10.0.0.2',
    'add 10.0.0.1 10.0.0.2 ipcomp 0x1003 -C deflate -R',
    '',
  ].join('\n');
  const r = await nf(src);
  assert.equal(r.code, 1);
  assert.deepEqual(diagLines(r.stderr), [
    'c.conf:2:79: error: expected \';\' after the key of aes-cbc',
    "c.conf:4:27: error: expected ';' after 'spdadd ... -P out ipsec esp/transport//require'",
    // the statement after a missing ';' is parsed: its own error is in the same run
    "c.conf:5:33: error: unknown policy direction 'sideways'; expected in, out or fwd",
    "c.conf:6:33: error: expected ';' after the SPI 0x1001",
    "c.conf:7:9: error: expected ';' after 'spdflush'",
    "c.conf:8:28: error: expected ';' after 'deleteall 10.0.0.1 10.0.0.2'",
    "c.conf:9:50: error: expected ';' after '-C deflate -R'",
    'setkey: 7 errors in c.conf; nothing applied',
  ]);
  // the echo shows the line the ';' belongs to, the caret just after its last token, and no key
  assert.ok(r.stderr.includes(`c.conf:2:79: error: expected ';' after the key of aes-cbc\n  add 10.0.0.1 10.0.0.2 esp 0x1001 -E aes-cbc 0x${'*'.repeat(32)}\n  ${' '.repeat(78)}^\n`), r.stderr);
  assert.ok(r.stderr.includes("\n      esp/transport//require\n  " + ' '.repeat(26) + '^\n'), r.stderr);
  assert.ok(!r.stderr.includes('00112233'), 'key leaked');
});

test("a missing ';' before a statement on the same line, after a quoted key, and at the end of the input", async () => {
  const same = await nf('spdflush spddump;\nadd 10.0.0.1 10.0.0.2 ah 0x1002 -A hmac-md5 "0123456789abcdef" flush;\n');
  assert.deepEqual(diagLines(same.stderr), [
    "c.conf:1:9: error: expected ';' after 'spdflush'",
    "c.conf:2:63: error: expected ';' after the key of hmac-md5",
    'setkey: 2 errors in c.conf; nothing applied',
  ]);
  assert.ok(!same.stderr.includes('0123456789abcdef'), 'key leaked');
  const eof = await nf('flush;\nspdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//require\n');
  assert.deepEqual(diagLines(eof.stderr), ["c.conf:2:65: error: expected ';' after 'spdadd ... -P out ipsec esp/transport//require'", 'setkey: 1 error in c.conf; nothing applied']);
  const key = await nf(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc ${AES}`);
  assert.deepEqual(diagLines(key.stderr), ["c.conf:1:79: error: expected ';' after the key of aes-cbc", 'setkey: 1 error in c.conf; nothing applied']);
  // a statement cut short before what it needs says what it needed, after what
  const cut = await nf('add 10.0.0.1 10.0.0.2 esp 0x1000 -E des-cbc\nspdadd 10.0.0.1 10.0.0.2 any\nflush;\n');
  assert.deepEqual(diagLines(cut.stderr), [
    'c.conf:1:44: error: expected the key for des-cbc, as 0x... hexadecimal or a "quoted string" after \'-E des-cbc\'',
    "c.conf:2:29: error: expected -P and a policy after 'spdadd 10.0.0.1 10.0.0.2 any'",
    'setkey: 2 errors in c.conf; nothing applied',
  ]);
});

test("a policy whose text runs into the next statement: the policy's own error, and the next statement parsed", async () => {
  const r = await nf('spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/tunnel\nspdadd 10.0.0.1 10.0.0.2 any -P in bogus;\n');
  assert.deepEqual(diagLines(r.stderr), [
    'c.conf:1:47: error: tunnel mode needs its endpoints; expected esp/tunnel/SRC-DST/level',
    "c.conf:2:36: error: unknown policy action 'bogus'; expected discard, none, ipsec, entrust or bypass",
    'setkey: 2 errors in c.conf; nothing applied',
  ]);
});

test("-c: a statement without its ';' is reported, and the one after it still runs", async () => {
  const r = await runCli(['-n', '-H', '-c'], { stdin: 'spdflush\nspddump;\nadd 10.0.0.1 10.0.0.2 esp 0x1000 -E null\n' });
  assert.equal(r.code, 1);
  assert.deepEqual(
    hexMessages(r.stdout).map((m) => m[1]),
    [18],
  ); // SPDDUMP
  assert.deepEqual(
    r.stderr.split('\n').filter((l) => l.startsWith('<stdin>')),
    ["<stdin>:1:9: error: expected ';' after 'spdflush'", "<stdin>:3:41: error: expected ';' after '-E null'"],
  );
});

test('a host name that does not resolve is reported in the same run as the syntax errors, and the summary counts them all', async () => {
  const src = [
    'spdadd 10.0.0.1 nowhere.example any -P out none;',
    'add 10.0.0.1 10.0.0.2 esp 0x1000 -E des-cbc 0x00;',
    'add localhost gone.example esp 0x1001 -E null;',
    'bogus;',
    '',
  ].join('\n');
  const r = await nf(src);
  assert.equal(r.code, 1);
  assert.deepEqual(diagLines(r.stderr), [
    "c.conf:1:17: error: cannot resolve 'nowhere.example': Name or service not known; expected a resolvable host name or a numeric address",
    'c.conf:2:45: error: the key for des-cbc is 8 bits long; expected a key of 64 bits',
    "c.conf:3:15: error: cannot resolve 'gone.example': Name or service not known; expected a resolvable host name or a numeric address",
    "c.conf:4:1: error: unknown command 'bogus'; expected a command: add, update, get, getspi, delete, deleteall, flush, dump, spdadd, spdupdate, spddelete, spdflush, spddump or exit",
    'setkey: 4 errors in c.conf; nothing applied',
  ]);
  // only a name that does not resolve: the summary still gives the count, on -n and on a backend alike
  const one = await nf('spdadd 10.0.0.1 nowhere.example any -P out none;\n');
  assert.deepEqual(diagLines(one.stderr).slice(1), ['setkey: 1 error in c.conf; nothing applied']);
  const eng = await runCli(['--backend=embedded', '--store', '/nonexistent-never-created/x', '-f', 'c.conf'], { files: { 'c.conf': 'flush;\nspdadd 10.0.0.1 nowhere.example any -P out none;\nadd localhost gone.example esp 0x1001 -E null;\n' } });
  assert.equal(eng.code, 1);
  assert.deepEqual(
    eng.stderr.split('\n').filter((l) => /^c\.conf|^setkey: \d/.test(l)),
    [
      "c.conf:2:17: error: cannot resolve 'nowhere.example': Name or service not known; expected a resolvable host name or a numeric address",
      "c.conf:3:15: error: cannot resolve 'gone.example': Name or service not known; expected a resolvable host name or a numeric address",
      'setkey: 2 errors in c.conf; nothing applied',
    ],
  );
});

test('"did you mean": a misspelt word names the nearest valid one, and the message stays short', async () => {
  const cases: [string, string][] = [
    [`add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbcc ${AES};`, "c.conf:1:37: error: unknown encryption algorithm 'aes-cbcc'; did you mean 'aes-cbc'?"],
    ['add 10.0.0.1 10.0.0.2 ah 0x1000 -A hmac-sha265 0x00;', "c.conf:1:36: error: unknown authentication algorithm 'hmac-sha265'; did you mean 'hmac-sha256'?"],
    ['add 10.0.0.1 10.0.0.2 ah 0x1000 -A sha1 0x00;', "c.conf:1:36: error: unknown authentication algorithm 'sha1'; did you mean 'hmac-sha1'?"],
    [`add 10.0.0.1 10.0.0.2 esp 0x1000 -E 3des ${AES};`, "c.conf:1:37: error: unknown encryption algorithm '3des'; did you mean '3des-cbc'?"],
    ['add 10.0.0.1 10.0.0.2 ipcomp 0x1000 -C deflat;', "c.conf:1:40: error: unknown compression algorithm 'deflat'; did you mean 'deflate'?"],
    ['add 10.0.0.1 10.0.0.2 eps 0x1000 -E null;', "c.conf:1:23: error: unknown protocol 'eps'; did you mean 'esp'?"],
    ['flush esp-od;', "c.conf:1:7: error: unknown protocol 'esp-od'; did you mean 'esp-old'?"],
    ['add 10.0.0.1 10.0.0.2 esp 0x1000 -m tunel -E null;', "c.conf:1:37: error: unknown mode 'tunel'; did you mean 'tunnel'?"],
    ['add 10.0.0.1 10.0.0.2 esp 0x1000 -f zero-pd -E null;', "c.conf:1:37: error: unknown flag 'zero-pd'; did you mean 'zero-pad'?"],
    ['spdad 10.0.0.1 10.0.0.2 any -P out none;', "c.conf:1:1: error: unknown command 'spdad'; did you mean 'spdadd'?"],
    ['spdadd 10.0.0.1 10.0.0.2 tpc -P out none;', "c.conf:1:26: error: unknown upper-layer protocol 'tpc'; did you mean 'tcp'?"],
    ['spdadd 10.0.0.1 10.0.0.2 any -P ot none;', "c.conf:1:33: error: unknown policy direction 'ot'; did you mean 'out'?"],
    ['spdadd 10.0.0.1 10.0.0.2 any -P out ipsc esp/transport//require;', "c.conf:1:37: error: unknown policy action 'ipsc'; did you mean 'ipsec'?"],
    ['spdadd 10.0.0.1 10.0.0.2 any -P out ipsec exp/transport//require;', "c.conf:1:43: error: unexpected 'exp' in policy; did you mean 'esp'?"],
    ['spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/trasnport//require;', "c.conf:1:47: error: unknown mode 'trasnport'; did you mean 'transport'?"],
    ['spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//requre;', "c.conf:1:58: error: unknown level 'requre'; did you mean 'require'?"],
    ['spdadd 10.0.0.1 10.0.0.2 any -P out prio hihg none;', "c.conf:1:42: error: unknown priority 'hihg'; did you mean 'high'?"],
    [`add 10.0.0.1 10.0.0.2 esp 0x1000 -E AES-CBC ${AES};`, "c.conf:1:37: error: unknown encryption algorithm 'AES-CBC'; did you mean 'aes-cbc'?"],
  ];
  for (const [src, want] of cases) {
    const r = await nf(src + '\n');
    assert.deepEqual(diagLines(r.stderr), [want, 'setkey: 1 error in c.conf; nothing applied'], src);
  }
  // nothing near: a few common names, not the twenty of the registry
  const far = await nf(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E twofsh-ctr-xyz ${AES};\n`);
  assert.equal(diagLines(far.stderr)[0], "c.conf:1:37: error: unknown encryption algorithm 'twofsh-ctr-xyz'; expected an encryption algorithm such as aes-cbc or aes-gcm-16 (setkey(8) lists all 17)");
});

test('"did you mean" never comes from a key: a key where an algorithm goes is described by its shape only', async () => {
  const r = await nf(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E ${AES};\nadd 10.0.0.1 10.0.0.2 esp 0x1000 -E "des-cbc";\n`);
  const lines = diagLines(r.stderr);
  assert.equal(lines[0], "c.conf:1:37: error: unknown encryption algorithm '0x...' (34 characters); expected an encryption algorithm such as aes-cbc or aes-gcm-16 (setkey(8) lists all 17)");
  assert.equal(lines[1], 'c.conf:2:37: error: unexpected quoted string; expected an encryption algorithm');
  assert.ok(!r.stderr.includes('00112233'), 'key leaked');
  assert.ok(!r.stderr.includes('did you mean'));
});

test('options after the algorithms are named as misplaced, not taken for a key', async () => {
  const r = await nf(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc ${AES} -m tunnel;\n`);
  assert.deepEqual(diagLines(r.stderr)[0], "c.conf:1:80: error: -m after the algorithms; expected ';' (options such as -m go before -E, -A and -C)");
});

/** Pieces that stress a missing ';': statements without one before a command, a policy running into the next line. */
const FRAGMENTS = [
  'flush;',
  'spdflush\n',
  'add 10.0.0.1 10.0.0.2 esp 0x1000 -E des-cbc 0x0123456789abcdef\n',
  'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec\n esp/transport//require\n',
  'spdadd 10.0.0.1 10.0.0.2 any -P out none;',
  'get 10.0.0.1 10.0.0.2 esp 0x1000',
  'add 10.0.0.1 10.0.0.2 esp 100 -E null;',
  'bogus',
  '# spdadd in a comment;\n',
  '"quoted; add"',
  ';',
  '\n',
  ' ',
];

test('property: with missing semicolons, a text parsed in pieces (as -f reads it) gives the statements and diagnostics of the whole text', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 6 }), (parts, cuts) => {
      const text = parts.join('');
      const whole = parse(text, { file: 'p', sys: testSys });
      const got: unknown[] = [];
      const sp = new StreamParser({ file: 'p', sys: testSys }, (s) => got.push(s.cmd));
      const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
      let prev = 0;
      for (const p of [...points, text.length]) {
        sp.push(text.slice(prev, p));
        prev = p;
      }
      sp.end();
      assert.deepEqual(got, whole.statements.map((s) => s.cmd));
      assert.deepEqual(sp.sink.list, whole.diagnostics);
      assert.equal(sp.parsed.join(''), text);
    }),
    { numRuns: 500 },
  );
});

test('property: every statement a missing semicolon is followed by is still parsed', () => {
  const stmts = ['flush', 'spdflush', 'dump esp', 'get 10.0.0.1 10.0.0.2 esp 0x1000', 'spdadd 10.0.0.1 10.0.0.2 any -P out none', 'add 10.0.0.1 10.0.0.2 esp 0x1000 -E null'];
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom(...stmts), fc.boolean(), fc.constantFrom('\n', ' ', '\n\n  ')), { minLength: 1, maxLength: 10 }), (list) => {
      const text = list.map(([s, semi, sep]) => s + (semi ? ';' : '') + sep).join('');
      const r = parse(text, { file: 'p', sys: testSys });
      // each statement either parsed or was reported as lacking its ';' (the last one too, at the end)
      const missing = list.filter(([, semi]) => !semi).length;
      assert.equal(r.statements.length, list.length - missing, text);
      assert.equal(r.errorCount, missing, text);
      assert.ok(r.diagnostics.every((d) => d.code === 'missing-semicolon'), JSON.stringify(r.diagnostics));
    }),
    { numRuns: 300 },
  );
});
