/**
 * The quick check (src/syntax/quick.ts) against the parser: it may say yes
 * only where the parser takes the statement with nothing to say, and a check
 * with it reports exactly what a check without it reports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ALGORITHMS, keyBitsAllowed, VARIANTS } from '../src/model/algorithms.js';
import { parse, StatementReader } from '../src/syntax/parser.js';
import { QuickCheck } from '../src/syntax/quick.js';
import { StreamParser } from '../src/syntax/stream.js';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { goldenCases, read, testSys } from './helpers.js';

// the benchmark's own generator (bench/ beside dist/)
const here = dirname(fileURLToPath(import.meta.url));
const genPath = [join(here, '..', '..', 'bench', 'gen-statements.mjs'), join(here, '..', 'bench', 'gen-statements.mjs')].find((p) => existsSync(p))!;
const { statements: benchStatements } = (await import(pathToFileURL(genPath).href)) as { statements: (n: number) => string };

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

// ---- statements near the common shapes: each part mostly right, sometimes wrong in one of the ways the parser knows ----

/** Mostly a right value, sometimes a wrong one (a statement has ~10 parts: about half come out right throughout). */
const mostly = <T>(right: fc.Arbitrary<T>, wrong: fc.Arbitrary<T>): fc.Arbitrary<T> => fc.oneof({ weight: 16, arbitrary: right }, { weight: 1, arbitrary: wrong });
const hex = (digits: number): fc.Arbitrary<string> => fc.stringMatching(new RegExp(`^[0-9a-fA-F]{${digits}}$`));
const blank = mostly(fc.constantFrom(' ', ' ', ' ', '  ', '\t', '\n', ' \n ', '\r\n', '\v', '\f'), fc.constantFrom(' # note\n', ''));
const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const addr = mostly(
  v4,
  fc.constantFrom('256.1.1.1', '1.2.3.01', '1.00.2.3', '10.1', '1.2.3', '010.0.0.1', '0x0a.0.0.1', '1.2.3.4.5', '1.2.3.4,', '::1', '2001:db8::1', 'fe80::1%2', 'fe80::1%eth0', 'localhost', 'host.example', '-4', '10.0.0.1%1', 'add', '1.2.3.4x'),
);
/** A number in decimal or 0x hexadecimal, sometimes with leading zeros (right, but the parser's to read). */
const number = (values: readonly number[]): fc.Arbitrary<string> =>
  fc.tuple(fc.constantFrom(...values), fc.constantFrom('dec', 'hex', 'dec', 'hex', 'HEX', 'zeros', 'hexzeros')).map(([v, f]) =>
    f === 'dec' ? String(v) : f === 'hex' ? `0x${v.toString(16)}` : f === 'HEX' ? `0X${v.toString(16).toUpperCase()}` : f === 'zeros' ? `00${v}` : `0x00${v.toString(16)}`,
  );
const spi = mostly(number([256, 257, 999, 1000, 4095, 4096, 65535, 65536, 999999999, 1000000000, 0xffffffff]), fc.oneof(number([0, 1, 255, 0x100000000]), fc.constantFrom('0x', '0xg1', 'abc', '1e3', '-1')));
const decimal = (right: readonly number[], wrong: readonly string[]): fc.Arbitrary<string> =>
  mostly(fc.constantFrom(...right).map(String), fc.constantFrom('007', 'x', '-1', '', ...wrong));
const option = fc.oneof(
  mostly(fc.constantFrom('transport', 'tunnel', 'any'), fc.constantFrom('TUNNEL', 'bogus', 'add')).map((m) => `-m ${m}`),
  decimal([0, 1, 5, 16383, 999999999, 1000000000, 4294967295], ['4294967296', '99999999999999999999']).map((n) => `-u ${n}`),
  decimal([0, 4, 32, 64, 999, 1000, 3999, 4000, 4089, 4090, 4096], ['4097', '5000', '99999']).map((n) => `-r ${n}`),
  mostly(fc.constantFrom('zero-pad', 'random-pad', 'seq-pad', 'nocyclic-seq'), fc.constantFrom('nopad', 'zero')).map((f) => `-f ${f}`),
  fc.tuple(fc.constantFrom('-lh', '-ls', '-bh', '-bs'), decimal([0, 1, 3600, 100000, 1234567890123456789], ['18446744073709551615', '18446744073709551616', '99999999999999999999'])).map(([o, n]) => `${o} ${n}`),
  mostly(fc.constant('-esn'), fc.constantFrom('-ctx 1 1 "system_u"', '-ctx 0 1 "x"', '-x', '-m')),
);

const spellings = (kind: 'enc' | 'auth' | 'comp', keyed: boolean): string[] =>
  ALGORITHMS.filter((a) => a.kind === kind && (kind === 'comp' || !a.noKey === keyed) && a.name !== 'tcp-md5').flatMap((a) => [a.name, ...a.aliases]);
const WRONG_NAMES = {
  enc: [...spellings('enc', false), ...VARIANTS.filter((v) => v.kind === 'enc').map((v) => v.spelling), 'aes', 'AES-CBC', 'tcp-md5'],
  auth: [...spellings('auth', false), 'tcp-md5', 'sha1', 'hmac-sha3'],
};
/** A key for an algorithm spelt `name`: mostly of a length it takes, else of any length, odd, quoted or none. */
function keyFor(kind: 'enc' | 'auth', name: string): fc.Arbitrary<string> {
  const alg = ALGORITHMS.find((a) => a.kind === kind && (a.name === name || a.aliases.includes(name)));
  const good: number[] = [];
  if (alg) for (let b = 8; b <= 640; b += 8) if (keyBitsAllowed(alg.keyBits, b)) good.push(b / 4);
  const wrong = fc.oneof(fc.integer({ min: 0, max: 70 }).chain(hex).map((h) => `0x${h}`), fc.constantFrom('"12345678"', '0X0011', '0x0g', 'deadbeef', '0x', ''));
  return good.length ? mostly(fc.constantFrom(...good).chain(hex).map((h) => `0x${h}`), wrong) : wrong;
}
const algorithm = (kind: 'enc' | 'auth'): fc.Arbitrary<string> =>
  mostly(fc.constantFrom(...spellings(kind, true)), fc.constantFrom(...WRONG_NAMES[kind])).chain((n) => keyFor(kind, n).map((k) => `${kind === 'enc' ? '-E' : '-A'} ${n} ${k}`));
const comp = fc.tuple(mostly(fc.constantFrom(...spellings('comp', false)), fc.constantFrom('zlib', 'aes-cbc')), mostly(fc.constantFrom('', ' -R'), fc.constantFrom(' -r', ' 0x00'))).map(([c, r]) => `-C ${c}${r}`);

/** The protocol and the algorithms, mostly as they go together (ESP -E [-A], AH -A, IPComp -C). */
const protoAlgs = mostly(
  fc.oneof(
    fc.tuple(fc.constant('esp'), fc.oneof(algorithm('enc'), fc.tuple(algorithm('enc'), algorithm('auth')).map(([e, a]) => `${e} ${a}`))),
    fc.tuple(fc.constant('ah'), algorithm('auth')),
    fc.tuple(fc.constant('ipcomp'), comp),
  ),
  fc.tuple(
    fc.constantFrom('esp', 'ah', 'ipcomp', 'esp-old', 'ah-old', 'esp-udp', 'tcp', 'constructor', 'ESP'),
    fc.oneof(algorithm('enc'), algorithm('auth'), comp, fc.constantFrom('', '-E', '-A hmac-sha1', 'bogus')),
  ),
);

/** Parts joined by blanks (sometimes none, and the words run together, as in the lexer). */
const joined = (parts: fc.Arbitrary<string[]>): fc.Arbitrary<string> =>
  parts.chain((ps) => fc.array(blank, { minLength: ps.length, maxLength: ps.length }).map((bs) => ps.map((p, i) => (i === 0 ? p : bs[i]! + p)).join('')));
const end = mostly(fc.constantFrom(';', ' ;', '\n;'), fc.constantFrom('', ' ;;', ' #c\n;', ' x;'));

const saStatement = joined(
  fc
    .tuple(mostly(fc.constantFrom('add', 'update'), fc.constantFrom('get', 'delete')), addr, addr, protoAlgs, spi, fc.array(option, { maxLength: 3 }), end)
    .map(([cmd, a, b, [proto, algs], s, opts, e]) => [cmd, a, b, proto, s, ...opts, algs, e].filter((x) => x !== '')),
);

const prefix = mostly(fc.oneof(fc.constant(''), fc.nat(32).map((n) => `/${n}`)), fc.constantFrom('/33', '/128', '/024', '/', '/x'));
const port = mostly(fc.oneof(fc.constant(''), fc.constantFrom('any', '0', '500', '4500', '65535').map((p) => `[${p}]`)), fc.constantFrom('[65536]', '[00]', '[isakmp]', '[bogus]', '[]', '[500'));
const selectorSide = fc.tuple(addr, prefix, port).map((t) => t.join(''));
const upper = mostly(fc.constantFrom('any', '0', '6', '17', '255', 'tcp', 'udp', 'icmp', 'icmp6', 'ip4', 'ipv6-icmp', 'esp'), fc.constantFrom('256', '006', 'bogus', 'add', '-P', 'gre 1.2.3.4'));
const level = mostly(fc.constantFrom('require', 'use', 'default', 'unique', 'unique:1', 'unique:16383'), fc.constantFrom('unique:16384', 'unique:0', 'unique:', 'unique:01', 'default:5', 'bogus', ''));
const ends = mostly(
  fc.tuple(v4, v4).map(([a, b]) => `${a}-${b}`),
  fc.oneof(fc.tuple(addr, addr).map(([a, b]) => `${a}-${b}`), fc.constantFrom('me-any', 'any-me', '10.0.0.1[500]-10.0.0.2[500]', '10.0.0.1 - 10.0.0.2', '10.0.0.1', '10.0.0.1-::1', '')),
);
const request = fc
  .tuple(mostly(fc.constantFrom('esp', 'ah', 'ipcomp'), fc.constantFrom('ESP', 'bogus')), mostly(fc.constantFrom('transport', 'tunnel'), fc.constantFrom('any', 'bogus')), fc.nat(4), ends, level)
  .map(([p, m, shape, e, l]) => (m === 'tunnel' && shape < 3 ? [`${p}/${m}/${e}`, `${p}/${m}/${e}/`, `${p}/${m}/${e}/${l}`][shape]! : [`${p}/${m}`, `${p}/${m}/`, `${p}/${m}/${e}`, `${p}/${m}/${e}/${l}`, `${p}/${m}//${l}`][shape]!));
const policy = fc
  .tuple(
    mostly(fc.constantFrom('in', 'out', 'fwd'), fc.constantFrom('any', 'OUT', '')),
    mostly(fc.constant(''), fc.constantFrom('prio 10', 'priority def', 'prio low + 1')),
    mostly(fc.constantFrom('ipsec', 'ipsec', 'none', 'discard', 'bypass', 'entrust', ''), fc.constantFrom('IPSEC', 'permit')),
    fc.array(request, { maxLength: 7 }),
    mostly(fc.constantFrom(' ', '  ', '\n', '\t', ' \r\n '), fc.constantFrom('\v', '')),
  )
  .map(([d, pr, a, rs, sep]) => [d, pr, a, ...(a === 'ipsec' || rs.length > 6 ? rs : [])].filter((x) => x !== '').join(sep));
const spdStatement = joined(
  fc.tuple(mostly(fc.constantFrom('spdadd', 'spdupdate', 'spddelete'), fc.constant('spdadd tagged "x"')), selectorSide, selectorSide, upper, mostly(fc.constant('-P'), fc.constantFrom('-Pout', '-ctx 1 1 "x" -P', '8,0 -P')), policy, end),
);

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
