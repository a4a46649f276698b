/**
 * The quick check (src/syntax/quick.ts) against the parser: it may say yes
 * only where the parser takes the statement with nothing to say, and a check
 * with it reports exactly what a check without it reports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parse, StatementReader } from '../src/syntax/parser.js';
import { QuickCheck } from '../src/syntax/quick.js';
import { StreamParser } from '../src/syntax/stream.js';
import { benchStatements, goldenCases, read, testSys } from './helpers.js';
import { saStatement, spdStatement } from './statement-arbitraries.js';


const quick = QuickCheck.for(testSys);

/** The quick check's answer for a text holding one statement from index 0. */
function quickSays(src: string): boolean {
  const start = src.search(/\S/);
  const semi = src.indexOf(';', start);
  return start >= 0 && semi >= 0 && quick.clean(src, start, semi);
}

/** The parser takes the text up to its first ';' with nothing to say: one statement, no diagnostic, no host name. */
function parserTakes(src: string): boolean {
  const semi = src.indexOf(';');
  if (semi < 0) return false;
  const r = parse(src.slice(0, semi + 1), { file: 't', sys: testSys });
  return r.diagnostics.length === 0 && r.statements.length === 1 && r.statements[0]!.hosts === undefined;
}

test('the quick check says yes only where the parser takes the statement with nothing to say', () => {
  let yes = 0;
  let runs = 0;
  fc.assert(
    fc.property(fc.oneof(saStatement, spdStatement), (src) => {
      runs++;
      if (!quickSays(src)) return;
      yes++;
      assert.ok(parserTakes(src), `the quick check took ${JSON.stringify(src)}, the parser does not`);
    }),
    { numRuns: Number(process.env.QUICK_RUNS ?? 6000) },
  );
  // (the generator reaches the yes side often enough for this to mean something)
  assert.ok(yes > runs / 20, `only ${yes} of ${runs} statements were clean`);
});

test('the quick check takes the common shapes, IPv4, in every algorithm and policy form of the tables', () => {
  const good = [
    'add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x00112233445566778899aabbccddeeff -A hmac-sha1 0x00112233445566778899aabbccddeeff00112233;',
    'update 192.168.1.1 192.168.1.2 esp 4096 -m tunnel -u 5 -r 32 -f random-pad -lh 3600 -bs 1000 -esn -E aes-gcm-16 0x' + '00'.repeat(36) + ';',
    'add 10.0.0.1 10.0.0.2 ah 256 -A hmac-sha256 0x' + 'ab'.repeat(32) + ';',
    'add 10.0.0.1 10.0.0.2 ipcomp 0x100 -C deflate -R;',
    'add\n  10.0.0.1\t10.0.0.2 esp 0xffffffff\n  -E blowfish-cbc 0x' + '01'.repeat(7) + ' ;',
    'spdadd 10.0.0.0/24 10.0.1.0/24 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;',
    'spdadd 10.0.0.1[500] 10.0.0.2[any] udp -P in none;',
    'spdupdate 10.0.0.1/32[4500] 10.0.0.2/32 6 -P fwd ipsec esp/transport//unique:16383 ah/transport/10.0.0.1-10.0.0.2/use ipcomp/transport/;',
    'spddelete 0.0.0.0/0 0.0.0.0/0 icmp6 -P out;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec\n  esp / tunnel / 10.0.0.1 - 10.0.0.2 / require ;',
  ];
  for (const s of good) {
    assert.ok(parserTakes(s), s);
    assert.ok(quickSays(s), s);
  }
  // right, but left to the parser: IPv6, names, ports on SAs, priorities, me-any, quotes, comments, flags
  const left = [
    'add 2001:db8::1 2001:db8::2 esp 0x1000 -E aes-cbc 0x00112233445566778899aabbccddeeff;',
    'add 10.0.0.1[500] 10.0.0.2 esp 0x1000 -E aes-cbc 0x00112233445566778899aabbccddeeff;',
    'add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc "0123456789abcdef";',
    'add -4 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x00112233445566778899aabbccddeeff;',
    'add 10.0.0.1 10.0.0.2 esp 0x1000 # note\n -E aes-cbc 0x00112233445566778899aabbccddeeff;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out prio 10 ipsec esp/transport//require;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport/me-any/require;',
    'spdadd 10.0.0.1 10.0.0.2 icmp 8,0 -P out none;',
    'spdadd 10.0.0.1[isakmp] 10.0.0.2 udp -P out none;',
  ];
  for (const s of left) {
    assert.ok(parserTakes(s), s);
    assert.equal(quickSays(s), false, s);
  }
});

/** A whole text read with the quick check and without: the same diagnostics, and every statement either yielded or checked. */
function sameReading(src: string): void {
  const full = new StatementReader(src, { file: 't', sys: testSys });
  const built = [...full];
  const checked = new StatementReader(src, { file: 't', sys: testSys, checkOnly: true });
  const some = [...checked];
  assert.deepEqual(checked.result().diagnostics, full.result().diagnostics);
  assert.equal(some.length + checked.checked, built.length);
  assert.equal(checked.result().stoppedAt, full.result().stoppedAt);
  // what the check yields is what the parser builds for those statements (their positions say which)
  const at = new Map(built.map((s) => [`${s.cmd.pos.line}:${s.cmd.pos.col}`, s]));
  for (const s of some) assert.deepEqual(s, at.get(`${s.cmd.pos.line}:${s.cmd.pos.col}`));
}

test('a text read with the quick check reports what it reports without, at the same lines and columns', () => {
  const text = fc.array(fc.tuple(fc.oneof(saStatement, spdStatement, fc.constantFrom('flush;', 'spdflush;', '# c\n', 'exit;', '"open')), fc.constantFrom('\n', ' ', '\n\n', '')), { maxLength: 12 });
  fc.assert(
    fc.property(
      text.map((ps) => ps.map(([s, sep]) => s + sep).join('')),
      (src) => sameReading(src),
    ),
    { numRuns: Math.ceil(Number(process.env.QUICK_RUNS ?? 6000) / 4) },
  );
});

test('read in pieces, the quick check reports what the parser reports', () => {
  const src = benchStatements(400).replace(/\n(?=add 10\.0\.0\.7 )/, '\nadd 10.0.0.7 bad esp;\n').replace('-u 9 ', '-u 9 -r 5000 ');
  const read = (checkOnly: boolean, piece: number): { diags: unknown; n: number } => {
    let n = 0;
    const p = new StreamParser({ file: 'b', sys: testSys, checkOnly }, () => n++);
    for (let i = 0; i < src.length; i += piece) p.push(src.slice(i, i + piece));
    p.end();
    return { diags: p.sink.list, n: n + p.checked };
  };
  const want = read(false, 1 << 20);
  // 401 statements, two of them wrong
  assert.equal(want.n, 399);
  assert.equal((want.diags as unknown[]).length, 2);
  for (const piece of [97, 1000, 4096]) assert.deepEqual(read(true, piece), want);
});

test('every statement of the benchmark generator is checked without being built', () => {
  const src = benchStatements(2000);
  const r = new StatementReader(src, { file: 'b', sys: testSys, checkOnly: true });
  assert.equal([...r].length, 0);
  assert.equal(r.checked, 2000);
});

test('the golden inputs read the same with the quick check', () => {
  let n = 0;
  for (const dir of [...goldenCases('parse'), ...goldenCases('errors')]) {
    let src: string;
    try {
      src = read(`${dir}/in.conf`);
    } catch {
      continue;
    }
    sameReading(src);
    n++;
  }
  assert.ok(n > 50, `${n} golden inputs`);
});

test('hostile statements: long blank runs and long words (a pattern that backtracked badly would hang here)', () => {
  for (const s of [
    `spdadd 10.0.0.1${' '.repeat(1900)}10.0.0.2 any -P out ipsec esp/transport/${' '.repeat(1900)};`,
    `add 10.0.0.1 10.0.0.2 esp 0x1000${' -esn'.repeat(400)} -E aes-cbc 0x${'0'.repeat(1900)};`,
    `spdadd 10.0.0.1 10.0.0.2 any -P out ipsec ${'esp/transport/ '.repeat(130)};`,
  ]) {
    quickSays(s);
    sameReading(s);
  }
});
