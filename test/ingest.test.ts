/**
 * The bulk load (src/ingest/, engine/bulk-load.ts) against the usual apply:
 * whatever it takes, it stores byte for byte what the statements' requests
 * store one by one; whatever it does not take, it declines with nothing
 * kept. The CLI then applies the file the usual way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBackend } from '../src/backends/embedded.js';
import { Engine } from '../src/engine/engine.js';
import { toMap } from '../src/engine/kv.js';
import { loadText } from '../src/ingest/bulk.js';
import { saWorkers } from '../src/ingest/sa-offload.js';
import type { SaOffloadFactory } from '../src/engine/bulk-load.js';
import { QuickCheck } from '../src/syntax/quick.js';
import { withForwardCopies } from '../src/model/rfc-mode.js';
import type { Command } from '../src/model/command.js';
import { parse } from '../src/syntax/parser.js';
import { benchStatements, runCli, testSys } from './helpers.js';
import { commonPolicy, commonSa, file, statement } from './statement-arbitraries.js';


const NOW = 1700000000n * 1000000n;
const clock = (): bigint => NOW;

/** The commands of a text the parser takes without an error, or undefined. */
function commandsOf(text: string, rfcMode: boolean): Command[] | undefined {
  const r = parse(text, { file: 't', sys: testSys });
  if (r.diagnostics.some((d) => d.severity === 'error') || r.statements.some((s) => s.hosts)) return undefined;
  const cmds = r.statements.map((s) => s.cmd as Command);
  return rfcMode ? withForwardCopies(cmds) : cmds;
}

/** The usual apply of `cmds` (atomic, as -f): whether every request was taken. */
async function usual(b: EmbeddedBackend, cmds: readonly Command[]): Promise<boolean> {
  const outs = await b.run(cmds, { atomic: true, pid: 1, quiet: true });
  return outs.every((o) => o.errno === 0);
}

function hex(m: Map<string, Uint8Array>): Map<string, string> {
  return new Map([...m].map(([k, v]) => [k, Buffer.from(v).toString('hex')]));
}

/** Two engines from `before` (applied the usual way to both); then `text` loaded into one and applied to the other. */
async function compare(before: string, text: string, opts: { rfcMode: boolean; pieces?: number[] }): Promise<'done' | 'declined' | 'skipped'> {
  const first = commandsOf(before, opts.rfcMode);
  const cmds = commandsOf(text, opts.rfcMode);
  if (!first || !cmds) return 'skipped';
  const loaded = EmbeddedBackend.memory({ clock, random: () => 0.5 });
  const applied = EmbeddedBackend.memory({ clock, random: () => 0.5 });
  if (!(await usual(loaded, first)) || !(await usual(applied, first))) return 'skipped';
  const stored = hex(toMap(loaded.engine.store.read()));
  // the text in pieces, cut where `pieces` says (a statement or a comment across two chunks)
  const chunks: string[] = [];
  let at = 0;
  for (const p of opts.pieces ?? []) {
    const cut = Math.min(text.length, at + p);
    chunks.push(text.slice(at, cut));
    at = cut;
  }
  chunks.push(text.slice(at));
  const r = await loaded.engine.bulk((load) => loadText(chunks, load, testSys, { rfcMode: opts.rfcMode }));
  const ok = await usual(applied, cmds);
  if (r === 'declined') {
    assert.deepEqual(hex(toMap(loaded.engine.store.read())), stored, 'a declined load keeps nothing');
    return r;
  }
  assert.ok(ok, `the load took what the usual apply refuses:\n${text}`);
  assert.deepEqual(hex(toMap(loaded.engine.store.read())), hex(toMap(applied.engine.store.read())), `the stores differ for:\n${before}\n---\n${text}`);
  return r;
}

test('a bulk load stores what the usual apply stores, or declines and keeps nothing (statements near the common shapes)', async () => {
  const seen = { done: 0, declined: 0, skipped: 0 };
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.constant(''), file), file, fc.boolean(), fc.array(fc.nat(120), { maxLength: 4 }), async (before, text, rfcMode, pieces) => {
      seen[await compare(before, text, { rfcMode, pieces })]++;
    }),
    { numRuns: Number(process.env.INGEST_RUNS ?? 600) },
  );
  // (the generator reaches a load that is taken often enough for this to mean something)
  if (process.env.INGEST_SHOW) console.log(seen);
  assert.ok(seen.done >= seen.declined / 4 && seen.done >= 60, JSON.stringify(seen));
});

/** Statements the load must take: every algorithm and policy form of the common case. */
const COMMON = [
  'add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x00112233445566778899aabbccddeeff -A hmac-sha1 0x00112233445566778899aabbccddeeff00112233;',
  'add 10.0.0.1 10.0.0.3 esp 4096 -m tunnel -u 5 -r 32 -f random-pad -E rijndael-cbc 0x' + '00'.repeat(32) + ' -A hmac-sha512 0x' + '11'.repeat(64) + ';',
  'add 10.0.0.1 10.0.0.2 ah 256 -A hmac-sha256 0x' + 'ab'.repeat(32) + ';',
  'add 0.0.0.0 10.0.0.2 ah 257 -m transport -A aes-xcbc-mac 0x' + 'ab'.repeat(16) + ';',
  'add\n  10.0.0.1\t10.0.0.2 esp 0xffffffff\n  -E blowfish-cbc 0x' + '01'.repeat(7) + ' ;',
  'add 10.0.0.5 10.0.0.6 esp 300 -r 255 -f nocyclic-seq -f zero-pad -E 3des-cbc 0x' + '01'.repeat(24) + ' -A hmac-md5 0x' + '02'.repeat(16) + ';',
  'spdadd 10.0.0.0/24 10.0.1.0/24 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;',
  'spdadd 10.0.0.1[500] 10.0.0.2[any] any -P in none;',
  'spdadd 10.0.0.1/32[4500] 10.0.0.2/32 6 -P fwd ipsec esp/transport//unique:16383 ah/transport/10.0.0.1-10.0.0.2/use ipcomp/transport/;',
  'spdadd 0.0.0.0/0 0.0.0.0/0 any -P out;',
  'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec\n  esp / tunnel / 10.0.0.1 - 10.0.0.2 / require ;',
  'spdadd 10.0.0.3 10.0.0.4 17 -P in ipsec esp/tunnel/1.1.1.1-2.2.2.2/unique esp/transport//unique ah/transport//default;',
  'spdadd 10.0.0.5 10.0.0.6 any -P in discard;',
];

test('the common statements are all taken, in RFC mode and without, and stored as the usual apply stores them', async () => {
  for (const rfcMode of [true, false]) {
    assert.equal(await compare('', COMMON.join('\n'), { rfcMode }), 'done');
    assert.equal(await compare('', benchStatements(3000), { rfcMode }), 'done');
    // into a store that holds some already (counters, indexes and counts go on from theirs)
    assert.equal(await compare(COMMON.slice(0, 4).join('\n'), COMMON.slice(4).join('\n') + '\n' + benchStatements(200), { rfcMode }), 'done');
  }
});

test('what the load does not take is declined with nothing kept: other statements, conflicts, refusals', async () => {
  const sa = 'add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x00112233445566778899aabbccddeeff;';
  const pol = 'spdadd 10.0.0.1 10.0.0.2 any -P out none;';
  const cases: [string, string][] = [
    ['', `${sa}\n${sa}`], // the same SA twice
    ['', `${pol}\n${pol}`],
    [sa, sa], // one the store holds
    [pol, pol],
    ['', `flush;\n${sa}`],
    ['', `${sa}\nspdadd ::1 ::2 any -P out;`],
    ['', `${sa}\nadd 10.0.0.1 10.0.0.3 esp 0x1000 -E aes-gcm-16 0x${'00'.repeat(20)};`], // AEAD: not through PF_KEY
    ['', `${sa}\nadd 10.0.0.1 10.0.0.3 esp 0x1000 -lh 10 -E aes-cbc 0x${'00'.repeat(16)};`], // lifetimes
    ['', `${sa}\nadd 10.0.0.1 10.0.0.3 ipcomp 0x1000 -C deflate;`],
    ['', `${sa}\nupdate 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x00112233445566778899aabbccddeeff;`],
    ['', `${sa}\nspdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/tunnel/1.1.1.1-2.2.2.2/use;`], // refused by Linux
    ['', `${sa}\nadd 10.0.0.1 10.0.0.4 esp 0x1000 -r 300 -E aes-cbc 0x${'00'.repeat(16)};`], // replay beyond PF_KEY's byte
    ['', `${sa}\nexit;`],
  ];
  for (const [before, text] of cases) assert.equal(await compare(before, text, { rfcMode: true }), 'declined', text);
  // a statement without its ';' at the end (the check reports it; the load never takes it)
  const e = Engine.memory({ clock });
  assert.equal(await e.bulk((load) => loadText([`${sa}\n${sa.replace('0x1000', '0x1001').slice(0, -1)}`], load, testSys, { rfcMode: true })), 'declined');
  assert.equal(toMap(e.store.read()).size, 0);
  // a trailing comment and blank lines are no statement
  assert.equal(await compare('', `${sa}\n# the end`, { rfcMode: true }), 'done');
  assert.equal(await compare('', `\n\n# a\n${sa}\n\n`, { rfcMode: true }), 'done');
});

test('a load in pieces cut anywhere stores what it stores in one', async () => {
  const text = `# head; comment\n${COMMON.join('\n# between;\n')}\n`;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat(text.length), { maxLength: 6 }), async (cuts) => {
      const pieces = [...cuts].sort((a, b) => a - b).map((c, i, all) => c - (i ? all[i - 1]! : 0));
      assert.equal(await compare('', text, { rfcMode: true, pieces }), 'done');
    }),
    { numRuns: 200 },
  );
});

test('a load onto a store on disk: the next generation, read back as the usual apply leaves it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-ingest-'));
  try {
    const text = COMMON.join('\n') + '\n' + benchStatements(2000);
    const a = await EmbeddedBackend.open(join(dir, 'a'), { clock });
    const b = await EmbeddedBackend.open(join(dir, 'b'), { clock });
    // some entries before, the usual way, in both
    const first = commandsOf('add 10.9.9.9 10.9.9.8 esp 999 -E aes-cbc 0x' + '00'.repeat(16) + ';\nspdadd 10.9.9.9 10.9.9.8 any -P in none;', true)!;
    assert.ok(await usual(a, first));
    assert.ok(await usual(b, first));
    assert.equal(await a.engine.bulk((load) => loadText([text], load, testSys, { rfcMode: true })), 'done');
    assert.ok(await usual(b, commandsOf(text, true)!));
    await a.close();
    await b.close();
    // read back from the files, by engines that did not write them
    const ra = await Engine.open(join(dir, 'a'), { clock, create: false });
    const rb = await Engine.open(join(dir, 'b'), { clock, create: false });
    assert.deepEqual(hex(toMap(ra.store.read())), hex(toMap(rb.store.read())));
    ra.close();
    rb.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('-f of a large file: the same store with the bulk load as without it (SETKEY_BULK=0), and the same report of a refusal', async () => {
  // read whole then loaded (a file read by readFile), and loaded as the check reads it (a file opened: checkAndLoad)
  for (const openFiles of [false, true]) {
    const dir = mkdtempSync(join(tmpdir(), 'setkey-ingest-cli-'));
    try {
      const good = join(dir, 'good.conf');
      writeFileSync(good, COMMON.join('\n') + '\n' + benchStatements(1200));
      const dumps = async (env: Record<string, string>, store: string, flags: string[] = []): Promise<string> => {
        const r = await runCli(['--store', store, ...flags, '-f', good], { env, openFiles });
        assert.equal(r.code, 0, r.stderr);
        const d = await runCli(['--store', store, '-D'], { env });
        const p = await runCli(['--store', store, '-DP'], { env });
        // times aside (the two runs are not in the same second)
        return (d.stdout + p.stdout).replace(/(created|current|diff|lastuse|lifetime).*\n/g, '');
      };
      const loaded = await dumps({}, join(dir, 's1'));
      assert.equal(loaded, await dumps({ SETKEY_BULK: '0' }, join(dir, 's2')));
      // without RFC mode's forward copies (-k) too
      assert.equal(await dumps({}, join(dir, 'k1'), ['-k']), await dumps({ SETKEY_BULK: '0' }, join(dir, 'k2'), ['-k']));
      assert.ok(loaded.split('\n').length > 3600);
      // what the load does not take (a duplicate at the end, an update among them, an error), on a store that holds something:
      // the load declines, the usual apply reports it where it is, and the store is left as the usual apply leaves it
      const cases = [
        benchStatements(1200) + COMMON[0] + '\n' + COMMON[0] + '\n',
        benchStatements(600) + 'update 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x00112233445566778899aabbccddeeff;\n' + benchStatements(600),
        benchStatements(1200) + 'add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x0011;\n',
        // policies past the first 1000 statements (their check left to the load) the parser reports: an error, a warning
        benchStatements(1200) + 'spdadd 10.1.0.0/33 10.2.0.0/16 any -P out ipsec esp/tunnel/10.0.0.1-10.0.0.2/require;\n',
        benchStatements(1200) + 'spdadd 10.1.0.0/16 10.2.0.0/16 any -P out ipsec esp/tunnel/10.0.0.1-10.0.0.2/unique:0;\n' + benchStatements(10),
      ];
      for (const [i, text] of cases.entries()) {
        const bad = join(dir, `bad${i}.conf`);
        writeFileSync(bad, text);
        const [a, b] = [join(dir, `a${i}`), join(dir, `b${i}`)];
        for (const store of [a, b]) assert.equal((await runCli(['--store', store, '-f', '-'], { stdin: COMMON[1] + '\n' })).code, 0);
        const with_ = await runCli(['--store', a, '-f', bad], { openFiles });
        const without = await runCli(['--store', b, '-f', bad], { env: { SETKEY_BULK: '0' }, openFiles });
        assert.equal(with_.code, without.code, `case ${i}`);
        assert.equal(with_.stdout, without.stdout);
        // (the stores' whole paths: the temporary folder's random name may hold `a${i}` too)
        assert.equal(with_.stderr.replaceAll(a, b), without.stderr);
        const dump = async (store: string): Promise<string> => (await runCli(['--store', store, '-D'])).stdout + (await runCli(['--store', store, '-DP'])).stdout;
        assert.equal(await dump(a), await dump(b), `case ${i}`);
        assert.deepEqual(readdirSync(a).filter((f) => f.endsWith('.tmp')), []);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('a sorted layer answers a key and a range as a map of its entries would (sorted ahead at any point, or not; put in order, or not)', async () => {
  const { SortedLayerBuilder } = await import('../src/engine/sorted-layer.js');
  await fc.assert(
    fc.property(fc.uniqueArray(fc.tuple(fc.constantFrom('R/S/', 'i/', 's/'), fc.stringMatching(/^[0-9a-f]{1,3}$/)), { selector: ([p, k]) => p + k, maxLength: 40 }), fc.constantFrom('', 'R/', 'R/S/', 'i/', 's/1', 'x'), fc.boolean(), fc.option(fc.nat(40)), fc.boolean(), (given, prefix, reverse, aheadAt, presorted) => {
      // (put in key order: a stream that needs no sort)
      const entries = presorted ? [...given].sort(([a, x], [b, y]) => (a + x < b + y ? -1 : 1)) : given;
      const b = new SortedLayerBuilder();
      const streams = new Map(['R/S/', 'i/', 's/'].map((p) => [p, b.stream(p, false)]));
      // sortAhead() after some of the entries (a stream that gets more after it is sorted again at seal)
      entries.forEach(([p, k], i) => {
        if (i === aheadAt) b.sortAhead();
        streams.get(p)!.put(p + k, Buffer.from(k));
      });
      if (aheadAt !== null && aheadAt >= entries.length) b.sortAhead();
      const layer = b.seal();
      assert.ok(!('duplicate' in layer));
      const want = entries.map(([p, k]) => p + k).sort();
      assert.deepEqual([...layer.entries()].map(([k, v]) => [k, Buffer.from(v).toString()]), want.map((k) => [k, k.slice(k.indexOf('/', 2) + 1 || k.lastIndexOf('/') + 1)]));
      const under = want.filter((k) => k.startsWith(prefix));
      assert.deepEqual([...layer.ownScan(prefix, reverse)].map(([k]) => k), reverse ? under.reverse() : under);
      for (const k of [...want, 'R/S/zz', 'i/']) assert.equal(layer.own(k) === undefined, !want.includes(k));
    }),
  );
  // a key twice, right after itself, in a stream put in order so far: found
  for (const ahead of [false, true]) {
    const b = new SortedLayerBuilder();
    const st = b.stream('p/', false);
    for (const k of ['p/1', 'p/2', 'p/2']) st.put(k, Buffer.from(k));
    if (ahead) b.sortAhead();
    assert.deepEqual(b.seal(), { duplicate: 'p/2' });
  }
});

test('-f of a large file with one statement changed: what the bulk load leaves to the usual apply is reported as without the load', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-ingest-one-'));
  try {
    const lines = benchStatements(1100).trimEnd().split('\n');
    const samples = fc.sample(fc.oneof(statement, commonSa, commonPolicy), { numRuns: 10, seed: 7 });
    for (const [i, s] of samples.entries()) {
      const text = [...lines];
      // the statement goes in the middle, or in place of the last (its SA or policy may repeat an earlier one)
      text.splice(i % 2 ? 550 : text.length - 1, i % 2 ? 0 : 1, s);
      const f = join(dir, `f${i}.conf`);
      writeFileSync(f, text.join('\n') + '\n');
      const b = await runCli(['--store', join(dir, `b${i}`), '-f', f], { env: { SETKEY_BULK: '0' } });
      const db = await runCli(['--store', join(dir, `b${i}`), '-D', '-P']);
      // loaded after the check, and as the check reads it with the SAs loaded by a worker
      for (const [tag, opts] of [['a', {}], ['w', { env: { SETKEY_BULK_WORKER: '1' }, openFiles: true }]] as const) {
        const a = await runCli(['--store', join(dir, `${tag}${i}`), '-f', f], opts);
        // (the stores' whole paths: the temporary folder's random name may hold `a${i}` too)
        assert.deepEqual([a.code, a.stdout, a.stderr.replaceAll(join(dir, `${tag}${i}`), join(dir, `b${i}`))], [b.code, b.stdout, b.stderr], `${tag}: ${s}`);
        const da = await runCli(['--store', join(dir, `${tag}${i}`), '-D', '-P']);
        assert.equal(da.stdout.replace(/(created|current|diff|lastuse|lifetime).*\n/g, ''), db.stdout.replace(/(created|current|diff|lastuse|lifetime).*\n/g, ''));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a statement read by the regular expression of its shape reads as it does word by word', async () => {
  const { scanStatement, bulkSa, bulkPolicy } = await import('../src/ingest/scan.js');
  const { QuickCheck } = await import('../src/syntax/quick.js');
  const quick = QuickCheck.for(testSys);
  /** what matters of a struct: a key's digits as text, not where they lie */
  const norm = (kind: string | false, sa: ReturnType<typeof bulkSa>, p: ReturnType<typeof bulkPolicy>): unknown =>
    kind === 'sa'
      ? { ...sa, etext: sa.etext.slice(sa.ekeyAt, sa.ekeyAt + sa.ekeyDigits), atext: sa.atext.slice(sa.akeyAt, sa.akeyAt + sa.akeyDigits), ekeyAt: 0, akeyAt: 0 }
      : kind === 'policy'
        ? { ...p, templates: p.templates.slice(0, p.count).map((t) => ({ ...t, keptLevel: 0, keptReqid: 0, ...(t.ends ? {} : { src: 0, dst: 0 }) })) }
        : kind;
  let both = 0;
  const common = { sa: 0, policy: 0 };
  fc.assert(
    fc.property(fc.oneof({ weight: 4, arbitrary: commonSa }, { weight: 4, arbitrary: commonPolicy }, { weight: 1, arbitrary: statement }), (text) => {
      const start = text.search(/\S/);
      const semi = text.indexOf(';', start);
      const a = [bulkSa(), bulkPolicy()] as const;
      const b = [bulkSa(), bulkPolicy()] as const;
      const ka = scanStatement(quick, text, start, semi, a[0], a[1]);
      const kb = scanStatement(quick, text, start, semi, b[0], b[1], { wordsOnly: true });
      assert.equal(ka, kb, text);
      if (ka) both++;
      assert.deepEqual(norm(ka, a[0], a[1]), norm(kb, b[0], b[1]), text);
      // and by the expression alone, where it reads it
      const c = [bulkSa(), bulkPolicy()] as const;
      const kc = scanStatement(quick, text, start, semi, c[0], c[1], { commonOnly: true });
      if (kc) {
        common[kc]++;
        assert.equal(kc, kb, text);
        assert.deepEqual(norm(kc, c[0], c[1]), norm(kb, b[0], b[1]), text);
      }
    }),
    { numRuns: 2000 },
  );
  assert.ok(both > 800, `${both} statements read`);
  // (the expressions read most of the common shapes: not all left to the words)
  assert.ok(common.sa > 300 && common.policy > 300, `read by the expressions: ${JSON.stringify(common)}`);
});

test('a load larger than its memory puts parts aside: the same store; a key in two parts declines it, nothing kept, no file left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-ingest-parts-'));
  try {
    const text = benchStatements(3000) + COMMON.join('\n') + '\n';
    // parts of ~64 KiB: a dozen of them
    const a = await EmbeddedBackend.open(join(dir, 'a'), { clock, spillBytes: 64 << 10 });
    const b = await EmbeddedBackend.open(join(dir, 'b'), { clock });
    assert.equal(await a.engine.bulk((load) => loadText([text], load, testSys, { rfcMode: true })), 'done');
    assert.ok(await usual(b, commandsOf(text, true)!));
    assert.deepEqual(hex(toMap(a.engine.store.read())), hex(toMap(b.engine.store.read())));
    const files = (d: string): string[] => readdirSync(d).filter((f) => f.endsWith('.tmp'));
    assert.deepEqual(files(join(dir, 'a')), []);
    // the same SA at the start and the end: in two parts, found as the store is written
    const c = await EmbeddedBackend.open(join(dir, 'c'), { clock, spillBytes: 64 << 10 });
    const before = hex(toMap(c.engine.store.read()));
    const twice = COMMON[0] + '\n' + benchStatements(3000) + COMMON[0] + '\n';
    assert.equal(await c.engine.bulk((load) => loadText([twice], load, testSys, { rfcMode: true })), 'declined');
    assert.deepEqual(hex(toMap(c.engine.store.read())), before);
    assert.deepEqual(files(join(dir, 'c')), []);
    // and the store is as it was for the next session (the usual apply reports the duplicate)
    assert.equal(await usual(c, commandsOf(twice, true)!), false);
    assert.deepEqual(hex(toMap(c.engine.store.read())), before);
    await a.close();
    await b.close();
    await c.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a load into an empty store on disk writes its records as table blocks as they come: the same table, and nothing left when it is given up', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-ingest-spool-'));
  const temps = (d: string): string[] => readdirSync(d).filter((f) => f.endsWith('.tmp'));
  try {
    const text = benchStatements(3000) + COMMON.join('\n') + '\n';
    // with parts put aside too (the identities), and without
    for (const spillBytes of [64 << 10, undefined]) {
      const tag = String(spillBytes);
      const a = await EmbeddedBackend.open(join(dir, `a${tag}`), { clock, ...(spillBytes ? { spillBytes } : {}) });
      const b = await EmbeddedBackend.open(join(dir, `b${tag}`), { clock });
      let during: string[] = [];
      assert.equal(
        await a.engine.bulk(async (load) => {
          await loadText([text], load, testSys, { rfcMode: true });
          during = temps(join(dir, `a${tag}`)).map((f) => readFileSync(join(dir, `a${tag}`, f)).subarray(0, 8).toString('latin1'));
        }),
        'done',
      );
      // the records went to one file while the load ran (SAs' and policies': the next table's; the others are parts put aside), which became the table
      assert.equal(during.filter((magic) => magic === 'SKTABLE\x03').length, 1, `spools while loading: ${during.length}`);
      assert.deepEqual(temps(join(dir, `a${tag}`)), []);
      const head = readFileSync(join(dir, `a${tag}`, `table-${readFileSync(join(dir, `a${tag}`, 'HEAD'), 'latin1').trim()}`)).subarray(0, 8);
      assert.equal(head.toString('latin1'), 'SKTABLE\x03', 'a table of placed blocks');
      assert.ok(await usual(b, commandsOf(text, true)!));
      await a.close();
      await b.close();
      const ra = await Engine.open(join(dir, `a${tag}`), { clock, create: false });
      const rb = await Engine.open(join(dir, `b${tag}`), { clock, create: false });
      assert.deepEqual(hex(toMap(ra.store.read())), hex(toMap(rb.store.read())));
      ra.close();
      rb.close();
    }
    // given up at its last statement (one the load does not read), and by a key made twice: no spool left, the store as it was
    for (const tail of ['spdflush;\n', COMMON[0] + '\n']) {
      const c = await EmbeddedBackend.open(join(dir, 'c'), { clock });
      const before = hex(toMap(c.engine.store.read()));
      assert.equal(await c.engine.bulk((load) => loadText([COMMON[0] + '\n' + benchStatements(2000) + tail], load, testSys, { rfcMode: false })), 'declined');
      assert.deepEqual(hex(toMap(c.engine.store.read())), before);
      assert.deepEqual(temps(join(dir, 'c')), []);
      await c.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a load file damaged on disk before the commit is found when the table is read: the damaged block refused by its checksum, never read silently', async () => {
  const { openSync, writeSync, closeSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'setkey-ingest-damaged-'));
  try {
    const a = await EmbeddedBackend.open(join(dir, 'a'), { clock });
    const load = a.engine.bulk(async (l) => {
      await loadText([benchStatements(3000)], l, testSys, { rfcMode: false });
      // the load's file (the next table), one byte changed in its first block
      const spool = readdirSync(join(dir, 'a')).filter((f) => f.endsWith('.tmp'))[0]!;
      const fd = openSync(join(dir, 'a', spool), 'r+');
      writeSync(fd, Buffer.from([0x5a]), 0, 1, 100);
      closeSync(fd);
    });
    assert.equal(await load, 'done');
    await a.close();
    const r = await Engine.open(join(dir, 'a'), { clock, create: false });
    try {
      assert.throws(() => toMap(r.store.read()), /checksum does not match/);
    } finally {
      r.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a policy index that wraps past 2^32 in a load (its stream out of order) declines it: nothing kept, and the usual apply stores it', async () => {
  const { setCounter } = await import('../src/engine/context.js');
  const dir = mkdtempSync(join(tmpdir(), 'setkey-ingest-wrap-'));
  try {
    const text = benchStatements(2000);
    // in memory (the stream sorted at the end) and on disk (written as it comes)
    for (const open of [() => Promise.resolve(EmbeddedBackend.memory({ clock })), () => EmbeddedBackend.open(join(dir, 'a'), { clock })]) {
      const a = await open();
      // a few policies before the counter wraps
      await a.engine.store.transact((tx) => setCounter(tx, 'polidx', 0x100000000n - 8n * 50n));
      const before = hex(toMap(a.engine.store.read()));
      assert.equal(await a.engine.bulk((load) => loadText([text], load, testSys, { rfcMode: false })), 'declined');
      assert.deepEqual(hex(toMap(a.engine.store.read())), before);
      assert.ok(await usual(a, commandsOf(text, false)!));
      assert.ok([...toMap(a.engine.store.read()).keys()].some((k) => k === 'i/00000008' || k === 'i/00000009' || k === 'i/0000000a'));
      await a.close();
    }
    assert.deepEqual(readdirSync(join(dir, 'a')).filter((f) => f.endsWith('.tmp')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a comment line of megabytes between statements is skipped chunk by chunk, not gathered', async () => {
  const lines = benchStatements(600).trimEnd().split('\n');
  lines.splice(300, 0, `# ${'x; '.repeat(1 << 20)}`);
  const text = lines.join('\n') + '\n# and a last one, unended';
  const pieces = Array.from({ length: Math.ceil(text.length / 65536) }, () => 65536);
  assert.equal(await compare('', text, { rfcMode: true, pieces }), 'done');
});

test('the check counts the statements a bulk load reads: in pieces or whole, checked only or parsed too', async () => {
  const { StreamParser } = await import('../src/syntax/stream.js');
  const text = benchStatements(300) + 'update 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x00112233445566778899aabbccddeeff;\n' + COMMON.join('\n') + '\nflush;\nspdadd ::1 ::2 any -P out;\n';
  for (const checkOnly of [true, false]) {
    for (const piece of [97, 4096, 1 << 20]) {
      let yielded = 0;
      const taken: string[] = [];
      let others = 0;
      const p = new StreamParser({ file: 't', sys: testSys, checkOnly, countClean: true, onClean: (src, start, semi) => taken.push(src.slice(start, semi + 1)), onUnclean: () => others++ }, () => yielded++);
      for (let i = 0; i < text.length; i += piece) p.push(text.slice(i, i + piece));
      p.end();
      assert.equal(p.cleanAdds, 300 + COMMON.length, `checkOnly ${checkOnly}, pieces of ${piece}`);
      // each handed over once, in order, whole (a load fed by the check reads them there)
      assert.deepEqual(taken, [...benchStatements(300).trimEnd().split('\n'), ...COMMON]);
      // and each of the others told (the update, the flush, the IPv6 policy), once
      assert.equal(others, 3);
      assert.equal(yielded + p.checked, 300 + COMMON.length + 3);
    }
  }
});

test('statements handed over unchecked (deferred): the same statements, counts and diagnostics, lines and columns, as checked', async () => {
  const { StreamParser } = await import('../src/syntax/stream.js');
  // runs of clean adds and spdadds (blank lines, tabs, a statement over lines, comments between) among statements the
  // load does not take and errors, whose lines and columns come after the runs
  const lines = benchStatements(400).trimEnd().split('\n');
  const parts: string[] = [];
  lines.forEach((l, i) => {
    parts.push(i % 7 === 3 ? l.replace(' esp ', '\n\tesp ') : l, i % 11 === 5 ? '\n\n\t ' : i % 13 === 6 ? '\n# a note; with a semicolon\n' : i % 17 === 2 ? ' ' : '\n');
    // (a deferred statement that is not clean is the load's to find: none here)
    if (i % 50 === 49) parts.push('update 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x0011;\n', 'flush;\n', 'bogus 1 2;\n', `delete 10.0.0.9 10.0.0.8 esq 0x${(0x9000 + i).toString(16)};\n`);
  });
  const text = parts.join('');
  for (const piece of [61, 4096, 1 << 20]) {
    const run = (defer: boolean): unknown => {
      const taken: string[] = [];
      let others = 0;
      const p = new StreamParser(
        { file: 't', sys: testSys, checkOnly: true, countClean: true, onClean: (src, start, semi) => taken.push(src.slice(start, semi + 1)), onUnclean: () => others++, ...(defer ? { deferAdds: () => true, deferSpdadds: () => true } : {}) },
        () => undefined,
      );
      for (let i = 0; i < text.length; i += piece) p.push(text.slice(i, i + piece));
      p.end();
      const diags = p.sink.list.map((d) => `${d.line}:${d.col} ${d.severity} ${d.message}`);
      assert.ok(taken.every(quickClean));
      return { taken, others, diags, counted: p.cleanAdds, checkedOnly: p.checked };
    };
    const checked = run(false);
    assert.deepEqual(run(true), checked, `pieces of ${piece}`);
    assert.ok((checked as { diags: string[] }).diags.length >= 16, 'the errors are reported');
    assert.equal((checked as { counted: number }).counted, 400);
  }
});

const quickClean = (t: string): boolean => QuickCheck.for(testSys).clean(t, 0, t.length - 1);

/**
 * A load as a check feeds it (EmbeddedBackend.loadChecking, as cli/script.ts checkAndLoad does): paced, then
 * each piece's text told, then each of its statements, all found clean by the quick check. Pieces are whole statements.
 */
async function loadChecked(b: EmbeddedBackend, pieces: readonly string[], opts: { rfcMode: boolean; offloadSas?: SaOffloadFactory; deferSas?: boolean; deferPolicies?: boolean; noBytes?: boolean }): Promise<boolean> {
  const quick = QuickCheck.for(testSys);
  return b.loadChecking(
    async (take, text, paced, defers) => {
      for (const piece of pieces) {
        // (paced between pieces, as the CLI's check is)
        await paced();
        // (its bytes too, as the CLI's check tells them, unless `noBytes`: policies then read from the text)
        text(piece, opts.noBytes ? undefined : Buffer.from(piece, 'latin1'));
        for (let i = 0; ; ) {
          while (/\s/.test(piece[i] ?? '')) i++;
          const semi = piece.indexOf(';', i);
          if (semi < 0) break;
          // `deferSas`, `deferPolicies`: handed over unchecked where the load checks them (as cli/script.ts does)
          const unchecked = (opts.deferSas === true && defers.adds && piece.startsWith('add', i)) || (opts.deferPolicies === true && defers.spdadds && piece.startsWith('spdadd', i));
          if (!unchecked) assert.ok(quick.clean(piece, i, semi), piece.slice(i, semi));
          take(piece, i, semi, unchecked);
          i = semi + 1;
        }
      }
      return true;
    },
    { sys: testSys, rfcMode: opts.rfcMode, ...(opts.offloadSas ? { offloadSas: opts.offloadSas } : {}) },
  );
}

/** `text` cut into `n` pieces at statement ends (after a ';': a statement may span lines). */
function piecesOf(text: string, n: number): string[] {
  const statements = text.split(/(?<=;)/).filter((x) => x.trim());
  const size = Math.ceil(statements.length / n);
  return Array.from({ length: n }, (_, i) => statements.slice(i * size, (i + 1) * size).join('') + '\n').filter((p) => p.trim());
}

const worker = saWorkers({ SETKEY_BULK_WORKER: '1' })!;

/** The descriptors this process has open (Linux; elsewhere -1: not compared). */
function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}

test('SAs loaded by a worker thread (and batches of them taken back by the main thread): the same store, byte for byte, as loaded by the main thread; no file left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-ingest-worker-'));
  const temps = (d: string): string[] => readdirSync(d).filter((f) => f.endsWith('.tmp'));
  try {
    // (a few batches of SAs: 2048 each; what is taken back is a run of them to the last)
    const text = benchStatements(12000) + COMMON.join('\n') + '\n';
    for (const [rfcMode, deferSas, takeFrom] of [[true, false, undefined], [false, false, undefined], [false, true, undefined], [false, true, 0], [true, false, 1], [false, false, 2]] as const) {
      const offloadSas = takeFrom === undefined ? worker : saWorkers({ SETKEY_BULK_WORKER: '1' }, { takeFrom })!;
      for (const n of [1, 7]) {
        const tag = `${rfcMode}${deferSas}${takeFrom}${n}`;
        const fds = openFds();
        const a = await EmbeddedBackend.open(join(dir, `a${tag}`), { clock });
        const b = await EmbeddedBackend.open(join(dir, `b${tag}`), { clock });
        // (deferSas: the SAs handed over unchecked, the worker checks them; takeFrom: the batches from that one on loaded by the main thread)
        assert.equal(await loadChecked(a, piecesOf(text, n), { rfcMode, offloadSas, deferSas }), true);
        assert.equal(await loadChecked(b, piecesOf(text, n), { rfcMode }), true);
        assert.deepEqual(temps(join(dir, `a${tag}`)), []);
        await a.close();
        await b.close();
        // (the load's file and its second descriptor, for the worker's syncs: both closed)
        assert.equal(openFds(), fds, 'descriptors left open');
        const ra = await Engine.open(join(dir, `a${tag}`), { clock, create: false });
        const rb = await Engine.open(join(dir, `b${tag}`), { clock, create: false });
        const [ma, mb] = [hex(toMap(ra.store.read())), hex(toMap(rb.store.read()))];
        assert.ok(ma.size > 24000);
        assert.deepEqual(ma, mb);
        ra.close();
        rb.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('batches taken back by the main thread from the start stay its own past the text kept for taking back (6 MiB): the same store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-ingest-take-'));
  try {
    // ~40k SAs: ~7 MB of their text
    const text = benchStatements(80000);
    const a = await EmbeddedBackend.open(join(dir, 'a'), { clock });
    const b = await EmbeddedBackend.open(join(dir, 'b'), { clock });
    const taking = saWorkers({ SETKEY_BULK_WORKER: '1' }, { takeFrom: 1 })!;
    assert.equal(await loadChecked(a, piecesOf(text, 9), { rfcMode: false, offloadSas: taking, deferSas: true }), true);
    assert.equal(await loadChecked(b, piecesOf(text, 9), { rfcMode: false }), true);
    assert.deepEqual(hex(toMap(a.engine.store.read())), hex(toMap(b.engine.store.read())));
    await a.close();
    await b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a load whose SAs a worker declines (an SA twice, one it does not read) is given up: nothing kept, no file left; the worker is gone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-ingest-worker-no-'));
  try {
    const body = benchStatements(2000);
    const firstSa = body.split('\n').find((l) => l.startsWith('add'))!;
    const firstPolicy = body.split('\n').find((l) => l.startsWith('spdadd'))!;
    // an SA twice (the worker's sort finds it), a policy twice (the main thread's), an IPComp SA (the worker does not read it)
    // and, handed over unchecked, an SA that is not clean (a comment in it; a key one digit short)
    const cases = [body + firstSa + '\n', body + firstPolicy + '\n', body + 'add 10.9.9.1 10.9.9.2 ipcomp 0x1000 -C deflate;\n'];
    const unclean = [firstSa.replace(' esp ', ' esp # a comment\n '), firstSa.replace(/0x([0-9a-f]+);$/, (_, k: string) => `0x${k.slice(1)};`)].map((sa) => body.replace(firstSa, sa.replace('10.0.0.0 ', '10.9.0.0 ')));
    // and policies handed over unchecked that are not clean: a comment in one, a prefix too long, a level the parser warns of
    const policies = [firstPolicy.replace(' any ', ' any # a comment\n '), firstPolicy.replace('/24 ', '/33 '), firstPolicy.replace(/\/require;$/, '/unique:0;')];
    assert.ok(policies.every((p) => p !== firstPolicy));
    const uncleanPolicies = policies.map((p) => body.replace(firstPolicy, p.replace('10.0.0.0/', '10.9.0.0/')));
    for (const [i, text] of [...cases, ...unclean, ...uncleanPolicies].entries()) {
      const deferSas = i >= cases.length;
      const fds = openFds();
      const a = await EmbeddedBackend.open(join(dir, `a${i}`), { clock });
      // a store that holds a policy (an SA would keep the worker out: its identities are asked of the store then)
      assert.ok(await usual(a, commandsOf(COMMON[12]!, false)!));
      const before = hex(toMap(a.engine.store.read()));
      let made = 0;
      // (the odd cases: the main thread takes back every batch, and finds the conflict itself)
      const using = i % 2 ? saWorkers({ SETKEY_BULK_WORKER: '1' }, { takeFrom: 0 })! : worker;
      const counting: SaOffloadFactory = (spools, now, syncAhead) => (made++, using(spools, now, syncAhead));
      assert.equal(await loadChecked(a, piecesOf(text, 3), { rfcMode: false, offloadSas: counting, deferSas, deferPolicies: deferSas }), false, `case ${i}`);
      assert.equal(made, 1, `case ${i}: the worker was used`);
      assert.deepEqual(hex(toMap(a.engine.store.read())), before);
      assert.deepEqual(readdirSync(join(dir, `a${i}`)).filter((f) => f.endsWith('.tmp')), []);
      // the usual apply then reports the file as ever; the store works on
      assert.ok(await usual(a, commandsOf(COMMON[0]!, false)!));
      await a.close();
      assert.equal(openFds(), fds, `case ${i}: descriptors left open`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker that cannot write its spool fails the load as the store: one line, nothing applied, no file left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-ingest-worker-io-'));
  try {
    const a = await EmbeddedBackend.open(join(dir, 'a'), { clock });
    const before = hex(toMap(a.engine.store.read()));
    // the load file's descriptor swapped for one that is not open (EBADF, as a full disk's ENOSPC: an error writing)
    const broken: SaOffloadFactory = (spools, now) => worker({ file: { ...spools.file, fd: 1 << 20, shown: 'the spool' } }, now);
    await assert.rejects(loadChecked(a, piecesOf(benchStatements(3000), 2), { rfcMode: false, offloadSas: broken }), (e: Error) => e.name === 'StoreError' || /cannot write the spool/.test(e.message));
    assert.deepEqual(hex(toMap(a.engine.store.read())), before);
    assert.deepEqual(readdirSync(join(dir, 'a')).filter((f) => f.endsWith('.tmp')), []);
    await a.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('-f of a large file with SAs loaded by a worker and without: the same store and the same reports', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-ingest-worker-cli-'));
  try {
    const strip = (s: string): string => s.replace(/(created|current|diff|lastuse|lifetime).*\n/g, '');
    // and an SA past the first 1000 statements (its check left to the worker) that is wrong, or right but not what the quick check reads
    const lines = benchStatements(3000).split('\n');
    const mid = lines.findIndex((l, i) => i > 1200 && l.startsWith('add '));
    const withSa = (sa: string): string => [...lines.slice(0, mid), sa, ...lines.slice(mid + 1)].join('\n');
    const texts = [
      benchStatements(1500),
      benchStatements(1500) + COMMON[0] + '\n' + COMMON[0] + '\n',
      withSa(lines[mid]!.replace(' esp ', ' esq ')),
      withSa(lines[mid]!.replace(' esp ', ' esp # a comment\n')),
    ];
    for (const [i, text] of texts.entries()) {
      const f = join(dir, `f${i}.conf`);
      writeFileSync(f, text);
      const out: string[] = [];
      for (const w of ['1', '0']) {
        const store = join(dir, `s${i}${w}`);
        const r = await runCli(['--store', store, '-f', f], { env: { SETKEY_BULK_WORKER: w }, openFiles: true });
        const d = await runCli(['--store', store, '-D', '-P']);
        out.push(`${r.code}\n${r.stdout}\n${r.stderr.replaceAll(store, 'S')}\n${strip(d.stdout)}`);
        assert.deepEqual(readdirSync(store).filter((x) => x.endsWith('.tmp')), []);
      }
      assert.equal(out[0], out[1], `file ${i}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker started ahead is the next load\'s (told its load in its first message); one whose thread ended before is not: the load starts its own', async () => {
  const { prestartSaWorker, waitingSaWorker } = await import('../src/ingest/sa-offload.js');
  const dir = mkdtempSync(join(tmpdir(), 'setkey-ingest-ahead-'));
  try {
    const text = benchStatements(3000);
    const b = await EmbeddedBackend.open(join(dir, 'b'), { clock });
    assert.equal(await loadChecked(b, piecesOf(text, 5), { rfcMode: false }), true);
    for (const gone of [false, true]) {
      prestartSaWorker({ SETKEY_BULK_WORKER: '1' });
      const ahead = waitingSaWorker();
      assert.ok(ahead, 'started');
      if (gone) await ahead.terminate();
      const a = await EmbeddedBackend.open(join(dir, `a${gone}`), { clock });
      assert.equal(await loadChecked(a, piecesOf(text, 5), { rfcMode: false, offloadSas: worker, deferSas: true, deferPolicies: true }), true);
      assert.equal(waitingSaWorker(), undefined, 'taken by the load');
      assert.deepEqual(hex(toMap(a.engine.store.read())), hex(toMap(b.engine.store.read())));
      await a.close();
    }
    await b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker gone in the middle of a load (its thread ended) gives the load up at once: nothing kept, no file left, no wait', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-ingest-worker-gone-'));
  try {
    const a = await EmbeddedBackend.open(join(dir, 'a'), { clock });
    const before = hex(toMap(a.engine.store.read()));
    // the worker's thread ended as soon as it is made: the main thread, 128 messages ahead, must not wait out its patience
    const gone: SaOffloadFactory = (spools, now) => {
      const w = worker(spools, now);
      void w.stop();
      return w;
    };
    const t0 = Date.now();
    assert.equal(await loadChecked(a, piecesOf(benchStatements(20000), 400), { rfcMode: false, offloadSas: gone }), false);
    assert.ok(Date.now() - t0 < 20_000, `${Date.now() - t0} ms`);
    assert.deepEqual(hex(toMap(a.engine.store.read())), before);
    assert.deepEqual(readdirSync(join(dir, 'a')).filter((f) => f.endsWith('.tmp')), []);
    await a.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('property: SAs of any common shape load through the worker as through the main thread (or both decline), byte for byte', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-ingest-worker-prop-'));
  const quick = QuickCheck.for(testSys);
  const clean = (s: string): boolean => quick.clean(s, 0, s.lastIndexOf(';'));
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(commonSa.filter(clean), { minLength: 1, maxLength: 30 }), fc.array(commonPolicy.filter(clean), { maxLength: 10 }), fc.integer({ min: 1, max: 4 }), async (sas, policies, n) => {
        const text = [...sas, ...policies].join('\n') + '\n';
        const [a, b] = [join(dir, `a${run}`), join(dir, `b${run++}`)];
        const wa = await EmbeddedBackend.open(a, { clock });
        const wb = await EmbeddedBackend.open(b, { clock });
        try {
          // (one with its policies' checks left to the load and read from the bytes, the other's read from the text)
          const done = await loadChecked(wa, piecesOf(text, n), { rfcMode: true, offloadSas: worker, deferSas: true, deferPolicies: true });
          assert.equal(done, await loadChecked(wb, piecesOf(text, n), { rfcMode: true, noBytes: true }), text);
          assert.deepEqual(hex(toMap(wa.engine.store.read())), hex(toMap(wb.engine.store.read())), text);
          assert.deepEqual(readdirSync(a).filter((f) => f.endsWith('.tmp')), []);
        } finally {
          await wa.close();
          await wb.close();
        }
      }),
      { numRuns: 15 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SAs sorted ahead while the worker is idle: the same identities as sorted at the end; an SA twice across the sort is still found', async () => {
  const { openSync, closeSync, readFileSync: read } = await import('node:fs');
  const { SaLoader } = await import('../src/ingest/sa-loader.js');
  const dir = mkdtempSync(join(tmpdir(), 'setkey-ingest-idle-'));
  try {
    const text = benchStatements(12000);
    const adds: number[] = [];
    for (let at = 0; (at = text.indexOf('add ', at)) >= 0; ) {
      // (each statement on its line: benchStatements)
      if (at === 0 || text[at - 1] === '\n') adds.push(at, text.indexOf(';', at));
      at += 4;
    }
    assert.ok(adds.length / 2 >= 5000, 'enough SAs to be sorted ahead');
    const triples = (pairs: number[], first: number): Float64Array => Float64Array.from(pairs.flatMap((v, i) => (i % 2 ? [v, first + (i - 1) / 2] : [v])));
    let n = 0;
    /** a loader on a file of its own; `idleAfter`: batches after which it is idle; `settledAfter`: after which it has been idle a while */
    const run = (batches: Float64Array[], idleAfter: Set<number>, settledAfter = new Set<number>()): { bytes: Buffer; blocks: unknown } | { conflict: string } => {
      const path = join(dir, `f${n++}`);
      const fd = openSync(path, 'w+');
      const file = { fd, shown: path, end: new BigInt64Array(new SharedArrayBuffer(8)) };
      try {
        const l = new SaLoader({ file }, 1000n);
        batches.forEach((b, i) => {
          l.load(text, b);
          if (idleAfter.has(i)) l.idle();
          if (settledAfter.has(i)) l.settled();
        });
        // (what the main thread is told: where each block lies)
        const blocks = l.end();
        return { bytes: read(path), blocks };
      } catch (e) {
        return { conflict: (e as Error).message };
      } finally {
        closeSync(fd);
      }
    };
    const all = triples(adds, 10);
    const half = all.length / 2 - ((all.length / 2) % 3);
    const parts = [all.subarray(0, half), all.subarray(half)];
    const plain = run(parts, new Set());
    assert.ok('bytes' in plain);
    // idle after the first part (sorted then, again at the end), after both (the sort taken as it is), after each
    for (const idle of [[0], [1], [0, 1]]) assert.deepEqual(run(parts, new Set(idle)), plain, `idle after ${idle}`);
    // the identities' blocks made ahead: after the first part (made again at the end), after both (placed as made), after each;
    // the same file, byte for byte
    for (const settled of [[0], [1], [0, 1]]) assert.deepEqual(run(parts, new Set(settled), new Set(settled)), plain, `settled after ${settled}`);
    for (const settled of [[0], [1]]) assert.deepEqual(run(parts, new Set(), new Set(settled)), plain, `settled, not idle, after ${settled}`);
    // an SA of the first part again, after the first part was sorted ahead
    const again = triples([adds[0]!, adds[1]!], 10 + adds.length / 2);
    const twice = run([all, again], new Set([0]));
    assert.ok('conflict' in twice && /put twice/.test(twice.conflict), JSON.stringify(twice).slice(0, 200));
    // and across blocks made ahead, or among them
    for (const settled of [[0], [1]]) {
      const r = run([all, again], new Set(), new Set(settled));
      assert.ok('conflict' in r && /put twice/.test(r.conflict), `settled after ${settled}: ${JSON.stringify(r).slice(0, 200)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
