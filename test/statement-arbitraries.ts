/**
 * Statements near the common shapes (syntax/quick.ts): each part mostly
 * right, sometimes wrong in one of the ways the parser knows. The quick
 * check's tests and the bulk load's (ingest.test.ts) draw from them.
 */
import fc from 'fast-check';
import { ALGORITHMS, keyBitsAllowed, VARIANTS } from '../src/model/algorithms.js';
import { parse } from '../src/syntax/parser.js';
import { testSys } from './helpers.js';

/** Mostly a right value, sometimes a wrong one (a statement has ~10 parts: about half come out right throughout). */
const mostly = <T>(right: fc.Arbitrary<T>, wrong: fc.Arbitrary<T>): fc.Arbitrary<T> => fc.oneof({ weight: 16, arbitrary: right }, { weight: 1, arbitrary: wrong });
const hex = (digits: number): fc.Arbitrary<string> => fc.stringMatching(new RegExp(`^[0-9a-fA-F]{${digits}}$`));
const blank = mostly(fc.constantFrom(' ', ' ', ' ', '  ', '\t', '\n', ' \n ', '\r\n', '\v', '\f'), fc.constantFrom(' # note\n', ''));
export const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
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

export const saStatement = joined(
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
export const spdStatement = joined(
  fc.tuple(mostly(fc.constantFrom('spdadd', 'spdupdate', 'spddelete'), fc.constant('spdadd tagged "x"')), selectorSide, selectorSide, upper, mostly(fc.constant('-P'), fc.constantFrom('-Pout', '-ctx 1 1 "x" -P', '8,0 -P')), policy, end),
);

// The bulk loads' statements (ingest.test.ts, xfrm-load.test.ts)
/** A statement near the common shapes that the parser takes (an error stops a file before any apply). */
export const statement = fc.oneof(saStatement, spdStatement).filter((s) => {
  const r = parse(s, { file: 't', sys: testSys });
  return r.statements.length === 1 && !r.statements[0]!.hosts && !r.diagnostics.some((d) => d.severity === 'error');
});
/** Statements of the common case the load takes, in their variety (and some conflicts: few addresses, few SPIs). */
const commonBlank = fc.constantFrom(' ', ' ', ' ', '  ', '\t', '\n', ' \r\n ');
const words = (parts: fc.Arbitrary<string[]>): fc.Arbitrary<string> =>
  parts.chain((ps) => fc.array(commonBlank, { minLength: ps.length, maxLength: ps.length }).map((bs) => ps.map((p, i) => (i === 0 ? p : bs[i]! + p)).join('')));
const commonHost = fc.constantFrom('10.0.0.1', '10.0.0.2', '10.0.0.3', '192.168.7.4', '0.0.0.0', '255.255.255.255');
const keyOf = (a: (typeof ALGORITHMS)[number]): fc.Arbitrary<string> => {
  const sizes: number[] = [];
  for (let bits = 8; bits <= 512; bits += 8) if (keyBitsAllowed(a.keyBits, bits)) sizes.push(bits / 8);
  return fc
    .tuple(
      fc.constantFrom(...sizes).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
      fc.boolean(),
    )
    .map(([b, upper]) => `0x${upper ? Buffer.from(b).toString('hex').toUpperCase() : Buffer.from(b).toString('hex')}`);
};
const keyed = (kind: 'enc' | 'auth', flag: string): fc.Arbitrary<string> =>
  fc.constantFrom(...ALGORITHMS.filter((a) => a.kind === kind && !a.noKey && !a.aead && a.ids.linux !== undefined && a.name !== 'tcp-md5')).chain((a) =>
    fc.tuple(fc.constantFrom(a.name, ...a.aliases), keyOf(a)).map(([n, k]) => `${flag} ${n} ${k}`),
  );
const saOption = fc.oneof(
  fc.constantFrom('transport', 'tunnel', 'any').map((m) => `-m ${m}`),
  fc.constantFrom(0, 1, 7, 16383, 16384, 999999999).map((n) => `-u ${n}`),
  fc.constantFrom(0, 4, 32, 33, 255).map((n) => `-r ${n}`),
  fc.constantFrom('zero-pad', 'random-pad', 'seq-pad', 'nocyclic-seq').map((f) => `-f ${f}`),
);
export const commonSa = words(
  fc
    .tuple(commonHost, commonHost, fc.constantFrom('esp', 'esp', 'ah'), fc.constantFrom('256', '0x100', '4096', '0x10000', '4294967295', '0xFFFFFFFF'), fc.array(saOption, { maxLength: 3 }), keyed('enc', '-E'), fc.option(keyed('auth', '-A')), keyed('auth', '-A'))
    .map(([a, b, p, spi, opts, e, ea, ah]) => ['add', a, b, p, spi, ...opts, ...(p === 'esp' ? [e, ...(ea ? [ea] : [])] : [ah]), ';']),
);
const side = fc.tuple(commonHost, fc.constantFrom('', '/0', '/24', '/32', ' / 16'), fc.constantFrom('', '[any]', '[500]', '[ 4500 ]'));
const commonLevel = fc.constantFrom('', '/require', '/use', '/default', '/unique', '/unique:1', '/unique:16383', '/');
const commonRequest = fc
  .tuple(fc.constantFrom('esp', 'ah', 'ipcomp'), fc.constantFrom('transport', 'tunnel'), fc.constantFrom('', '10.1.1.1-10.1.1.2', '10.1.1.3 - 10.1.1.4'), commonLevel, fc.boolean())
  .map(([p, m, e, l, dbl]) => (m === 'tunnel' || e ? `${p}/${m}/${e || '10.9.9.1-10.9.9.2'}${l}` : dbl && l.length > 1 ? `${p}/${m}/${l}` : `${p}/${m}${l}`));
export const commonPolicy = words(
  fc
    .tuple(side, side, fc.constantFrom('any', 'any', '6', '17', '0'), fc.constantFrom('in', 'out', 'fwd'), fc.constantFrom('', 'none', 'discard', 'ipsec', 'ipsec'), fc.array(commonRequest, { maxLength: 3 }))
    .map(([s, d, u, dir, act, reqs]) => ['spdadd', s.join(''), d.join(''), u, '-P', dir, ...(act ? [act] : []), ...(act === 'ipsec' ? reqs : []), ';']),
);
export const file = fc.array(fc.tuple(fc.oneof({ weight: 12, arbitrary: fc.oneof(commonSa, commonPolicy) }, { weight: 1, arbitrary: statement }), fc.constantFrom('\n', ' ', '\n\n', '\n# note; with a semicolon\n', '')), { minLength: 1, maxLength: 6 }).map((ps) => ps.map(([s, sep]) => s + sep).join(''));
