/**
 * The byte readers of SAs and policies (src/ingest/scan-bytes.ts) are
 * checks as well as readers: they must never say yes where the quick check
 * does not (the load would take a statement the parser reports on), and
 * what they read must be what scan.ts reads from the text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readPolicyBytes, readSaBytes } from '../src/ingest/scan-bytes.js';
import { bulkPolicy, bulkSa, scanStatement } from '../src/ingest/scan.js';
import { QuickCheck } from '../src/syntax/quick.js';
import { testSys } from './helpers.js';
import { commonPolicy, commonSa, saStatement, spdStatement, statement } from './statement-arbitraries.js';

const quick = QuickCheck.for(testSys);

/** what matters of a policy struct: its first `count` templates (endpoints only where given) */
function norm(p: ReturnType<typeof bulkPolicy>): unknown {
  return { ...p, templates: p.templates.slice(0, p.count).map((t) => ({ ...t, keptLevel: 0, keptReqid: 0, ...(t.ends ? {} : { src: 0, dst: 0 }) })) };
}

/** The words and marks of policies, run together at random: mostly not statements at all, some nearly. */
const soup = fc
  .array(
    fc.constantFrom(
      'spdadd', 'spdadd ', ' ', '  ', '\t', '\n', '\r', '\v', '\f', '10.0.0.1', '192.168.1.255', '0.0.0.0', '256.0.0.1', '01.2.3.4', '1.2.3', '/', '24', '32', '33', '0', '00',
      '[', ']', 'any', '500', '65535', '65536', 'any ', '-P', '-Pout', 'out', 'in', 'fwd', 'inbound', 'ipsec', 'none', 'discard', 'bypass', 'esp', 'ah', 'ipcomp', 'tunnel',
      'transport', '-', 'require', 'use', 'default', 'unique', 'unique:', ':', '1', '16383', '16384', '#', ',', '.', '%', 'x', 'tcp', '6', '255', '256',
    ),
    { maxLength: 40 },
  )
  .map((ws) => ws.join('') + ';');

/** A statement's text at an offset in a larger buffer, as the load sees it. */
function check(text: string): 'read' | 'left' {
  const start = Math.max(0, text.search(/\S/));
  const semi = text.indexOf(';', start);
  if (semi < 0) return 'left';
  const pad = 'add 1.2.3.4 5.6.7.8 esp 999 -E null;\n';
  const bytes = Buffer.from(pad + text + pad, 'latin1');
  const p = bulkPolicy();
  if (!readPolicyBytes(bytes, pad.length + start, pad.length + semi, p)) return 'left';
  assert.ok(quick.clean(text, start, semi), `read, but the quick check does not find it clean: ${JSON.stringify(text)}`);
  const q = bulkPolicy();
  assert.equal(scanStatement(quick, text, start, semi, bulkSa(), q), 'policy', JSON.stringify(text));
  assert.deepEqual(norm(p), norm(q), JSON.stringify(text));
  return 'read';
}

test('the byte reader says yes only where the quick check does, and reads what the text readers read', () => {
  let read = 0;
  let common = 0;
  fc.assert(
    fc.property(fc.oneof({ weight: 4, arbitrary: commonPolicy }, { weight: 2, arbitrary: spdStatement }, { weight: 1, arbitrary: statement }, { weight: 3, arbitrary: soup }), (text) => {
      if (check(text) === 'read') read++;
    }),
    { numRuns: 6000 },
  );
  // the common shapes, read by it (not all left to the usual way): those with an upper-layer protocol by number or any
  fc.assert(
    fc.property(commonPolicy, (text) => {
      const start = text.search(/\S/);
      if (quick.clean(text, start, text.indexOf(';', start)) && check(text) === 'read') common++;
    }),
    { numRuns: 1000 },
  );
  assert.ok(read > 1500, `${read} read`);
  assert.ok(common > 900, `${common} of 1000 common policies read`);
});

test('the byte reader: edges of the numbers and words it takes, each against the quick check', () => {
  const cases = [
    'spdadd 10.0.0.1 10.0.0.2 any -P out;',
    'spdadd 10.0.0.1/0[0] 10.0.0.2/32[65535] 255 -P in none;',
    'spdadd 10.0.0.1 / 8 [ any ] 10.0.0.2 [500] 6 -P fwd discard ;',
    'spdadd 10.0.0.1/33 10.0.0.2 any -P out;',
    'spdadd 10.0.0.1/024 10.0.0.2 any -P out;',
    'spdadd 10.0.0.1[65536] 10.0.0.2 any -P out;',
    'spdadd 10.0.0.1[00] 10.0.0.2 any -P out;',
    'spdadd 10.0.0.1 10.0.0.2 256 -P out;',
    'spdadd 10.0.0.1 10.0.0.2 006 -P out;',
    'spdadd 10.0.0.1 10.0.0.2 any -P\vout;',
    'spdadd\v10.0.0.1\f10.0.0.2 any -P out;',
    'spdadd 10.0.0.1 10.0.0.2 any -Pout;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out none esp/transport//require;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//require ah/transport//use ipcomp/transport/;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport/ ah/transport;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport/1.2.3.4-5.6.7.8/unique:16383;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport/1.2.3.4-5.6.7.8/unique:16384;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport/1.2.3.4-5.6.7.8/unique:0;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport/1.2.3.4-5.6.7.8/unique:01;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/tunnel/1.2.3.4 - 5.6.7.8 / unique ;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/tunnel//require;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/tunnel/1.2.3.4-5.6.7.8/ ah/transport//require;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//users;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//require ah/transport//require esp/transport//require ah/transport//require esp/transport//require ah/transport//require;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//require ah/transport//require esp/transport//require ah/transport//require esp/transport//require ah/transport//require esp/transport//require;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/tunnel/1.2.3.4-5.6.7.8%1/require;',
    'spdadd 10.0.0.1 10.0.0.2 tcp -P out;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out # x\n;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out prio 5 ipsec;',
    'spdadd 10.0.0.1, 10.0.0.2 any -P out;',
    'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec\tesp\n/\rtunnel / 1.2.3.4\n-\n5.6.7.8\r/\tdefault\n;',
  ];
  let read = 0;
  for (const t of cases) {
    const start = 0;
    const semi = t.indexOf(';');
    const r = check(t);
    if (r === 'read') read++;
    // (and where the check finds it clean, this reads it, but for a protocol by name)
    else if (quick.clean(t, start, semi)) assert.match(t, / tcp /, `clean, but not read: ${JSON.stringify(t)}`);
  }
  assert.ok(read >= 12, `${read} read`);
});

/** what matters of an SA struct: its keys' digits as text, not where they lie */
function normSa(sa: ReturnType<typeof bulkSa>): unknown {
  // (as hex digits, lowercase: the byte reader decodes them as it reads them)
  const digits = (text: string, at: number, n: number): string => (sa.keyRaw ? Buffer.from(sa.keyRaw.subarray(at, at + n / 2)).toString('hex') : text.slice(at, at + n).toLowerCase());
  return { ...sa, etext: digits(sa.etext, sa.ekeyAt, sa.ekeyDigits), atext: digits(sa.atext, sa.akeyAt, sa.akeyDigits), ekeyAt: 0, akeyAt: 0, keyRaw: undefined };
}

/** The words of SAs run together at random. */
const saSoup = fc
  .array(
    fc.constantFrom(
      'add', 'add ', 'update ', ' ', '  ', '\t', '\n', '\v', '\f', '10.0.0.1', '0.0.0.0', '256.0.0.1', '01.2.3.4', 'esp', 'ah', 'ipcomp', '0x100', '0x0100', '0xff', '0x', '256', '255',
      '999999999', '1000000000', '0x100000000', '-m', 'tunnel', 'transport', 'any', '-u', '7', '1234567890', '-r', '4096', '4097', '0032', '5000', '-f', 'zero-pad', 'nocyclic-seq',
      '-lh', '-esn', '-E', '-A', 'aes-cbc', 'rijndael-cbc', 'des-cbc', 'null', 'hmac-sha1', 'hmac-sha256', 'aes-gcm-16', 'chacha20-poly1305', '0x00112233445566778899aabbccddeeff',
      '0x0011223344556677', '0x00112233445566778899aabbccddeeff00112233', '0x001', 'g', '#', ',',
    ),
    { maxLength: 30 },
  )
  .map((ws) => ws.join('') + ';');

function checkSa(text: string): 'read' | 'left' {
  const start = Math.max(0, text.search(/\S/));
  const semi = text.indexOf(';', start);
  if (semi < 0) return 'left';
  const pad = 'spdadd 1.2.3.4 5.6.7.8 any -P out;\n';
  const bytes = Buffer.from(pad + text + pad, 'latin1');
  const sa = bulkSa();
  if (!readSaBytes(bytes, pad.length + start, pad.length + semi, sa)) return 'left';
  assert.ok(quick.clean(text, start, semi), `read, but the quick check does not find it clean: ${JSON.stringify(text)}`);
  const q = bulkSa();
  assert.equal(scanStatement(quick, text, start, semi, q, bulkPolicy()), 'sa', JSON.stringify(text));
  assert.deepEqual(normSa(sa), normSa(q), JSON.stringify(text));
  return 'read';
}

test('the SA byte reader says yes only where the quick check does, and reads what the text readers read', () => {
  let read = 0;
  let common = 0;
  fc.assert(
    fc.property(fc.oneof({ weight: 4, arbitrary: commonSa }, { weight: 2, arbitrary: saStatement }, { weight: 1, arbitrary: statement }, { weight: 3, arbitrary: saSoup }), (text) => {
      if (checkSa(text) === 'read') read++;
    }),
    { numRuns: 6000 },
  );
  // the common shapes the text readers read, read by it too
  fc.assert(
    fc.property(commonSa, (text) => {
      const start = text.search(/\S/);
      const semi = text.indexOf(';', start);
      if (quick.clean(text, start, semi) && scanStatement(quick, text, start, semi, bulkSa(), bulkPolicy()) === 'sa') {
        assert.equal(checkSa(text), 'read', JSON.stringify(text));
        common++;
      }
    }),
    { numRuns: 1000 },
  );
  assert.ok(read > 1500, `${read} read`);
  assert.ok(common > 500, `${common} of 1000 common SAs read`);
});

test('the SA byte reader: edges of the numbers and words it takes, each against the quick check', () => {
  const key = '0x00112233445566778899aabbccddeeff';
  const cases = [
    `add 10.0.0.1 10.0.0.2 esp 0x100 -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 0xff -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 0x000100 -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 0xffffffff -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 0x100000000 -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 256 -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 255 -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 0256 -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 999999999 -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 1000000000 -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -m tunnel -u 123456789 -r 0032 -f zero-pad -f nocyclic-seq -E aes-cbc ${key} -A hmac-sha1 0x0011223344556677889900112233445566778899;`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -u 1234567890 -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -r 4096 -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -r 4097 -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -r 3999 -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -m tunnel, -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -lh 10 -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -esn -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -E aes-cbc ${key}0;`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -E aes-cbc ${key}00;`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -E aes-cbc ${key}g;`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -E aes-cbc 0X${key.slice(2).toUpperCase()};`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -E aes-gcm-16 ${key}00112233;`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -E aes-gcm-16 ${key}00112233 -A hmac-sha1 0x0011223344556677889900112233445566778899;`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -E null;`,
    `add 10.0.0.1 10.0.0.2 ah 4096 -A hmac-sha256 ${key}${key.slice(2)};`,
    `add 10.0.0.1 10.0.0.2 ah 4096 -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -A hmac-sha1 0x0011223344556677889900112233445566778899;`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -E aes-cbc ${key} # x\n;`,
    `add\v10.0.0.1\f10.0.0.2\tesp\n4096\r-E  aes-cbc\n${key}\n;`,
    `add 10.0.0.1 10.0.0.2 esp 4096 -E aes-cbc ${key}-A hmac-sha1 0x0011223344556677889900112233445566778899;`,
    `update 10.0.0.1 10.0.0.2 esp 4096 -E aes-cbc ${key};`,
    `add 10.0.0.1 10.0.0.2 ipcomp 4096 -C deflate;`,
  ];
  let read = 0;
  for (const t of cases) if (checkSa(t) === 'read') read++;
  assert.ok(read >= 12, `${read} read`);
});
