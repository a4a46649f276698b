/**
 * Converging a host to a file (issue 11) through setkey and the library:
 * --diff's plan and exit status, --sync's order and idempotence, keys hidden
 * unless asked, declarations that are not, and a property: from any current
 * state to any declared state, a sync leaves exactly the declared state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { EmbeddedBackend } from '../src/backends/embedded.js';
import { applyPlan } from '../src/converge/apply.js';
import { declaredState } from '../src/converge/declare.js';
import { planSync, type Plan } from '../src/converge/plan.js';
import { stateScriptText } from '../src/converge/render.js';
import { readState, type PolicyEntry, type SaEntry, type SyncState } from '../src/converge/state.js';
import { entryCommand } from '../src/format/state-script.js';
import { NO_POS } from '../src/model/command.js';
import { SaState } from '../src/model/tables.js';
import { MsgType } from '../src/pfkey/constants.js';
import { dumpView } from '../src/pfkey/dump-view.js';
import { compile } from './conformance.js';
import { runCli, testLookup, testSys } from './helpers.js';

const K16 = '00112233445566778899aabbccddeeff';
const K20 = '00112233445566778899aabbccddeeff00112233';

function tempStore(): string {
  return join(mkdtempSync(join(tmpdir(), 'setkey-sync-')), 'store');
}

const BASE = [
  `add 10.0.0.1 10.0.0.2 esp 0x1001 -m tunnel -lh 3600 -ls 3000 -E aes-cbc 0x${K16} -A hmac-sha1 0x${K20};`,
  `add 10.0.0.2 10.0.0.1 esp 0x1002 -m tunnel -E aes-cbc 0x${K16} -A hmac-sha1 0x${K20};`,
  'spdadd 10.1.0.0/16 10.2.0.0/16 any -P out ipsec esp/tunnel/10.0.0.1-10.0.0.2/require;',
  'spdadd 10.2.0.0/16 10.1.0.0/16 any -P in ipsec esp/tunnel/10.0.0.2-10.0.0.1/require;',
].join('\n');

test('--diff: 2 and the plan when the tables differ, 0 when they do not; it never creates a store', async () => {
  const store = tempStore();
  let r = await runCli(['--store', store, '--diff', '-f', 'a.conf'], { files: { 'a.conf': BASE } });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stdout, /^# 5 changes to reach a\.conf \(5 to add\); 0 SAs and 0 policies already as declared\n/);
  assert.match(r.stdout, /# SA esp 0x1001 10\.0\.0\.1 > 10\.0\.0\.2: missing\nadd 10\.0\.0\.1 10\.0\.0\.2 esp 0x1001 -m tunnel .*-E aes-cbc <128-bit key hidden> -A hmac-sha1 <160-bit key hidden>;\n/);
  assert.match(r.stdout, /# policy fwd 10\.2\.0\.0\/16 > 10\.1\.0\.0\/16 any: missing\nspdadd 10\.2\.0\.0\/16 10\.1\.0\.0\/16 any -P fwd ipsec esp\/tunnel\/10\.0\.0\.2-10\.0\.0\.1\/require;/);
  assert.ok(!r.stdout.includes(K16), 'keys are hidden');
  assert.equal((await runCli(['--store', store, '-D'])).stdout, 'No SAD entries.\n');
  // --show-keys shows them, and says the plan is secret
  r = await runCli(['--store', store, '--diff', '--show-keys', '-f', 'a.conf'], { files: { 'a.conf': BASE } });
  assert.match(r.stdout, /# SECRET/);
  assert.ok(r.stdout.includes(`0x${K16}`));
  // sync, then nothing differs
  r = await runCli(['--store', store, '--sync', '-f', 'a.conf'], { files: { 'a.conf': BASE } });
  assert.equal(r.code, 0, r.stderr);
  r = await runCli(['--store', store, '--diff', '-f', 'a.conf'], { files: { 'a.conf': BASE } });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, '# no difference to reach a.conf: 2 SAs and 3 policies already as declared\n');
});

test('--sync: a second run prints no change and sends no request; the plan of a change in place keeps the policy', async () => {
  const store = tempStore();
  assert.equal((await runCli(['--store', store, '--sync', '-f', 'a.conf'], { files: { 'a.conf': BASE } })).code, 0);
  const again = await runCli(['--store', store, '--sync', '-v', '-f', 'a.conf'], { files: { 'a.conf': BASE } });
  assert.equal(again.code, 0);
  assert.match(again.stdout, /^# no difference/);
  // -v prints every request: a sync with nothing to do sends only its two dumps
  assert.equal((again.stdout.match(/sadb_msg\{ version=2 type=(\d+)/g) ?? []).filter((m) => !/type=(10|18) /.test(m + ' ')).length, 0, again.stdout);
  const changed = BASE.replace('-lh 3600 -ls 3000', '-lh 7200 -ls 6000').replace('10.0.0.2-10.0.0.1/require', '10.0.0.2-10.0.0.1/unique:9');
  const d = await runCli(['--store', store, '--diff', '-f', 'b.conf', '--format=json'], { files: { 'b.conf': changed } });
  assert.equal(d.code, 2);
  const plan = JSON.parse(d.stdout) as { schema: string; steps: { kind: string; entry: string; fields: string[] }[] };
  assert.equal(plan.schema, 'setkey-plan/1');
  assert.deepEqual(
    plan.steps.map((s) => `${s.kind} ${s.entry} ${s.fields.join('+')}`),
    // the in policy's template changed; its RFC-mode fwd copy, whose unique reads as require, did not
    ['update sa hard lifetime+soft lifetime', 'update policy templates'],
  );
  assert.equal((await runCli(['--store', store, '--sync', '-f', 'b.conf'], { files: { 'b.conf': changed } })).code, 0);
  assert.equal((await runCli(['--store', store, '--diff', '-f', 'b.conf'], { files: { 'b.conf': changed } })).code, 0);
});

test('a declaration holds no questions, and nothing is compared when it has errors', async () => {
  const store = tempStore();
  for (const [text, msg] of [
    ['get 10.0.0.1 10.0.0.2 esp 0x1000;', /a\.conf:1:1: error: 'get' asks the tables a question/],
    ['spddump;', /'spddump' asks the tables a question/],
    [`add 10.0.0.1 10.0.0.2 esp 0x1000 -E null;\nadd 10.0.0.1 10.0.0.2 esp 0x1000 -E null;`, /a\.conf:2:1: error: add on the declared tables: .*\(EEXIST, File exists\)/],
    ['bogus;', /a\.conf:1:1: error: unknown command 'bogus'/],
  ] as const) {
    const r = await runCli(['--store', store, '--diff', '-f', 'a.conf'], { files: { 'a.conf': text } });
    assert.equal(r.code, 1, text);
    assert.match(r.stderr, msg);
    assert.match(r.stderr, /nothing compared/);
  }
  // usage: a file is needed, and -n reads no backend
  assert.equal((await runCli(['--store', store, '--diff', '-D'])).code, 1);
  assert.match((await runCli(['--store', store, '--sync', '-n', '-f', 'a.conf'], { files: { 'a.conf': BASE } })).stderr, /-n touches no backend/);
  assert.match((await runCli(['--diff', '--sync', '-f', 'a.conf'])).stderr, /give one of them/);
  // -c: all of standard input is the declaration
  const c = await runCli(['--store', store, '--diff', '-c'], { stdin: BASE });
  assert.equal(c.code, 2);
  assert.match(c.stdout, /to reach <stdin>/);
});

test('--sync on the engine is one transaction: a refusal applies nothing and says so', async () => {
  const store = tempStore();
  assert.equal((await runCli(['--store', store, '-f', 'a.conf'], { files: { 'a.conf': BASE } })).code, 0);
  // a declared policy with seven templates: the engine refuses it (ELOOP), after the SA steps
  const seven = Array.from({ length: 7 }, () => 'esp/transport//require').join(' ');
  const bad = `${BASE.replace('0x1002', '0x1003')}\nspdadd 10.9.0.0/16 10.8.0.0/16 any -P out ipsec ${seven};`;
  const before = (await runCli(['--store', store, '-D', '--format=script'])).stdout;
  const r = await runCli(['--store', store, '--sync', '-f', 'c.conf'], { files: { 'c.conf': bad } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--sync stopped at|does not declare a state/);
  assert.equal((await runCli(['--store', store, '-D', '--format=script'])).stdout, before, 'nothing was applied');
});

/** Random statements over small pools, so that states overlap and differ in every way. */
const stateArb = fc
  .record({
    sas: fc.uniqueArray(
      fc.record({
        spi: fc.integer({ min: 0x1000, max: 0x1007 }),
        dst: fc.constantFrom('10.0.0.2', '10.0.0.3'),
        mode: fc.constantFrom('transport', 'tunnel'),
        key: fc.constantFrom(K16, 'ffeeddccbbaa99887766554433221100'),
        life: fc.constantFrom('', '-lh 3600 -ls 3000', '-lh 600 -ls 500'),
      }),
      { selector: (s) => `${s.spi}/${s.dst}`, maxLength: 6 },
    ),
    pols: fc.uniqueArray(
      fc.record({
        net: fc.integer({ min: 1, max: 6 }),
        dir: fc.constantFrom('in', 'out'),
        prio: fc.constantFrom('', 'prio def + 5 ', 'prio high '),
        act: fc.constantFrom('none', 'discard', 'ipsec esp/transport//require', 'ipsec esp/tunnel/10.0.0.1-10.0.0.2/unique'),
      }),
      { selector: (p) => `${p.net}/${p.dir}`, maxLength: 6 },
    ),
  })
  .map(({ sas, pols }) =>
    [
      ...sas.map((s) => `add 10.0.0.1 ${s.dst} esp ${s.spi} -m ${s.mode} ${s.life} -E aes-cbc 0x${s.key};`),
      ...pols.map((p) => `spdadd 10.${p.net}.0.0/16 10.99.0.0/16 any -P ${p.dir} ${p.prio}${p.act};`),
    ].join('\n'),
  );

async function declaredOf(text: string): Promise<SyncState> {
  const d = await declaredState(text, { sys: testSys, lookup: testLookup });
  assert.ok(d.state, d.diagnostics.map((x) => x.message).join('\n'));
  return d.state;
}

const lines = (s: string): string[] =>
  s
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    // kernel-chosen reqids differ with history; they are not part of what was declared
    .map((l) => l.replace(/unique:\d+/g, 'unique'))
    .sort();

test('property: from any current state, --sync leaves exactly the declared state (and a second plan is empty)', async () => {
  await fc.assert(
    fc.asyncProperty(stateArb, stateArb, async (current, wanted) => {
      const b = EmbeddedBackend.memory();
      await b.run(await compile(current), { atomic: true, pid: 1 });
      const declared = await declaredOf(wanted);
      const plan = planSync(await readState(b), declared);
      const r = await applyPlan(b, plan);
      assert.equal(r.failed, undefined, JSON.stringify(r.failed?.why));
      const after = await readState(b);
      assert.deepEqual(lines(await stateScriptText(after, { now: 1700000000 })), lines(await stateScriptText(declared, { now: 1700000000 })));
      assert.deepEqual(planSync(after, declared).steps, []);
    }),
    { numRuns: 150 },
  );
});

/**
 * The typed state a backend holds, decoded from its dump messages as they
 * are (no compact entries: what state.ts did before them), as the
 * reference the compact entries must plan alike with.
 */
async function typedStateOf(b: EmbeddedBackend): Promise<SyncState> {
  const sas: SaEntry[] = [];
  const policies: PolicyEntry[] = [];
  const skipped: string[] = [];
  const take = (m: Uint8Array): void => {
    const v = dumpView(m, 'linux');
    if (v.header.errno !== 0 || (v.header.type === MsgType.DUMP && v.ext('sa')?.state === SaState.DEAD)) return;
    const c = entryCommand(v, 'linux');
    if (c === undefined) return;
    if (typeof c === 'string') skipped.push(c);
    else if (c.kind === 'add') sas.push({ sa: c.sa });
    else if (c.kind === 'getspi') sas.push({ sa: c.sa, larval: true });
    else if (c.kind === 'spdadd' && c.selector) policies.push({ selector: c.selector, rule: c.policy, ...(c.ctx ? { ctx: c.ctx } : {}) });
  };
  const outs = await b.run([{ kind: 'dump', pos: NO_POS, satype: 0 }, { kind: 'spddump', pos: NO_POS }], { atomic: false, pid: 1, quiet: true, onDumped: take });
  for (const o of outs) for (const x of o.exchanges) x.received.forEach(take);
  return { sas, policies, skipped };
}

const planText = (p: Plan): string =>
  JSON.stringify(
    p.steps.map((x) => [x.kind, x.entry, x.why, x.fields, x.cmds]),
    (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : typeof v === 'bigint' ? `${v}n` : v),
  ) + JSON.stringify([p.unchanged, p.untouched]);

test('property: dumped entries, compared by their messages where equal, plan exactly as their typed copies do', async () => {
  await fc.assert(
    fc.asyncProperty(stateArb, stateArb, fc.constantFrom<'all' | 'declared'>('all', 'declared'), async (current, wanted, scope) => {
      const b = EmbeddedBackend.memory();
      await b.run(await compile(current), { atomic: true, pid: 1 });
      // the declaration over it, so that kernel-chosen reqids and policy ids differ from the declaration's own
      await b.run(await compile(wanted), { atomic: false, pid: 1 });
      const d = EmbeddedBackend.memory();
      await d.run(await compile(wanted), { atomic: true, pid: 1 });
      const compact = planSync(await readState(b), await readState(d), { scope });
      assert.equal(planText(compact), planText(planSync(await typedStateOf(b), await typedStateOf(d), { scope })));
    }),
    { numRuns: 150 },
  );
});

test('--diff and --sync of a large declaration (read again from the file in chunks, never held whole as commands)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-sync-large-'));
  const store = join(dir, 'store');
  const file = join(dir, 'large.conf');
  // more statements than a check keeps (20,000): the declaration is read again from the file
  const n = 25000;
  const sa = (i: number, key = K16): string => `add 10.0.${i >> 8}.${i & 255} 10.9.0.1 esp ${0x10000 + i} -m tunnel -E aes-cbc 0x${key} -A hmac-sha1 0x${K20};`;
  const text = Array.from({ length: n }, (_, i) => sa(i)).join('\n') + '\nspdadd 10.1.0.0/16 10.2.0.0/16 any -P out ipsec esp/tunnel/10.0.0.1-10.0.0.2/require;\n';
  writeFileSync(file, text);
  let r = await runCli(['--store', store, '--sync', '-f', file]);
  assert.equal(r.code, 0, r.stderr);
  r = await runCli(['--store', store, '--diff', '-f', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`no difference to reach .*large\\.conf: ${n} SAs and 1 policy already as declared`));
  // one key changed in the middle of the file: exactly that SA differs
  const other = 'ffeeddccbbaa99887766554433221100';
  writeFileSync(file, text.replace(sa(12345), sa(12345, other)));
  r = await runCli(['--store', store, '--diff', '-f', file]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stdout, /^# 1 change to reach /);
  assert.match(r.stdout, /# SA esp 0x13039 10\.0\.48\.57 > 10\.9\.0\.1: differs in encryption key/);
});
