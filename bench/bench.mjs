#!/usr/bin/env node
// npm run bench: every figure of issue 12 against its yardstick, measured in
// the same run (A and B alternate): the reference (ipsec-tools 0.8.2 on a fake
// PF_KEY kernel, ../shared/oracle/setkey) where this machine has it, else the
// row says why it is missing. Figures only; nothing here asserts on time.
//   BENCH_ENTRIES (default 100000)  BENCH_RUNS (default 5)
//   BENCH_MILLION=1: also the 1M-entry rows (minutes; peak memory is the point)
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dumpFile } from './gen-dump.mjs';
import { statements } from './gen-statements.mjs';
import { haveReference, needBuild, reference, run, series, setkey, Table, versus } from './lib.mjs';

needBuild();
const n = Number(process.env.BENCH_ENTRIES ?? 100000);
const runs = Number(process.env.BENCH_RUNS ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'setkey-bench-'));
const k = (x) => (x >= 1e6 ? `${x / 1e6}M` : `${x / 1000}k`);
const noRef = 'reference: not on this machine';
const t = new Table();

const p = (name) => join(dir, name);
writeFileSync(p('n.conf'), statements(n)); // n/2 SAs + n/2 policies
writeFileSync(p('sad.bin'), dumpFile(n, 'sad')); // n SAs as a kernel dumps them
writeFileSync(p('spd.bin'), dumpFile(n, 'spd')); // n policies
writeFileSync(p('engine.conf'), statements(2 * n)); // n SAs + n policies

function vsReference(work, ours, refArgv, refEnv, goal) {
  if (!haveReference) return t.row(work, series(runs, ours), undefined, noRef, goal);
  const r = versus(runs, { argv: ours }, { argv: refArgv, opts: { env: refEnv } });
  t.row(work, r.a, r.b, 'reference', goal);
}

try {
  // the language: check a file
  vsReference(`-n -f, ${k(n)} statements`, [setkey, '-n', '-f', p('n.conf')], [reference, '-n', '-f', p('n.conf')], {}, '<= 1.0x wall, <= 2x memory');

  // printing: file mode against the reference's -D of the same messages
  for (const fmt of ['setkey', 'json', 'script', 'wireshark']) {
    vsReference(`print ${k(n)} SAs (file mode${fmt === 'setkey' ? '' : `, --format=${fmt}`})`, [setkey, `--format=${fmt}`, p('sad.bin')], [reference, '-D'], { FAKEPFKEY_SAD: p('sad.bin'), FAKE_TIME: '1700000100' }, '<= 1.0x, flat memory');
  }
  vsReference(`print ${k(n)} policies (file mode)`, [setkey, p('spd.bin')], [reference, '-DP'], { FAKEPFKEY_SPD: p('spd.bin'), FAKE_TIME: '1700000100' }, '<= 1.0x, flat memory');

  // the embedded engine
  // each apply into a fresh store, alternating with the check (one sample of a load on two threads was at the
  // mercy of whatever else the machine ran); the first store serves the rows after
  const store = p('store');
  const applied = versus(runs, { argv: (i) => [setkey, '--store', i === 0 ? store : p(`store-${i}`), '-f', p('engine.conf')] }, { argv: [setkey, '-n', '-f', p('engine.conf')] });
  for (let i = 1; i < runs; i++) rmSync(p(`store-${i}`), { recursive: true, force: true });
  t.row(`apply ${k(n)} SAs + ${k(n)} policies (fresh store)`, applied.a, applied.b, 'our -n -f of it', '<= 3x');
  const du = (d) => readdirSync(d).reduce((s, f) => s + statSync(join(d, f)).size, 0);
  t.note(`store after the apply: ${(du(store) / 1e6).toFixed(1)} MB`);
  const empty = p('empty');
  run([setkey, '--store', empty, '-f', '/dev/null']);
  const adds = [];
  const addFile = (i) => {
    const f = p(`add${i}.conf`);
    writeFileSync(f, `add 198.18.0.1 198.18.0.2 esp 0x${(0x7f000000 + i).toString(16)} -E rijndael-cbc 0x00112233445566778899aabbccddeeff;\n`);
    return f;
  };
  for (let i = 0; i < runs; i++) adds.push(addFile(i));
  // each run adds another SA
  const add = versus(runs, { argv: (i) => [setkey, '--store', store, '-f', adds[i]] }, { argv: [setkey, '--store', empty, '-D'] });
  t.row(`add 1 SA to the ${k(n)} store`, add.a, add.b, '-D on an empty store', '<= 1.5x');
  if (haveReference) {
    // every output format against the reference's one (setkey's text: it has no other)
    for (const fmt of ['setkey', 'json', 'script', 'wireshark']) {
      const f = fmt === 'setkey' ? [] : [`--format=${fmt}`];
      const d = versus(runs, { argv: [setkey, '--store', store, '-D', ...f] }, { argv: [reference, '-D'], opts: { env: { FAKEPFKEY_SAD: p('sad.bin'), FAKE_TIME: '1700000100' } } });
      t.row(`-D ${f.join(' ')}${f.length ? ' ' : ''}of ${k(n)} SAs from the store`, d.a, d.b, 'reference -D', '<= 1.0x');
    }
    for (const fmt of ['setkey', 'json', 'script']) {
      const f = fmt === 'setkey' ? [] : [`--format=${fmt}`];
      const dp = versus(runs, { argv: [setkey, '--store', store, '-DP', ...f] }, { argv: [reference, '-DP'], opts: { env: { FAKEPFKEY_SPD: p('spd.bin'), FAKE_TIME: '1700000100' } } });
      t.row(`-DP ${f.join(' ')}${f.length ? ' ' : ''}of ${k(n)} policies from the store`, dp.a, dp.b, 'reference -DP', '<= 1.0x');
    }
  } else {
    t.row(`-D of ${k(n)} SAs from the store`, series(runs, [setkey, '--store', store, '-D']), undefined, noRef, '<= 1.0x');
  }
  const start = versus(Math.max(runs, 9), { argv: [setkey, '--store', empty, '-D'] }, { argv: [process.execPath, '-e', '0'] });
  t.row('-D on an empty store (startup)', start.a, start.b, 'node -e 0', '<= 1.5x');
  t.row(`flush ${k(n)} SAs (-F)`, series(1, [setkey, '--store', store, '-F']), undefined, '-', '1M: <= 2 s');

  if (process.env.BENCH_MILLION === '1') {
    const m = 1000000;
    writeFileSync(p('m.conf'), statements(2 * m));
    const ms = p('mstore');
    t.row('1M SAs + 1M policies: apply', series(1, [setkey, '--store', ms, '-f', p('m.conf')]), undefined, '-', '<= 300 MiB');
    // printing: the peak for 1M entries against the same command's on a store of 10k (flat memory: ratio ~1)
    const small = p('10kstore');
    writeFileSync(p('10k.conf'), statements(2 * 10000));
    run([setkey, '--store', small, '-f', p('10k.conf')]);
    for (const argv of [['-D'], ['-DP'], ['-D', '--format=json'], ['-D', '--format=script'], ['-DP', '--format=script']]) {
      t.row(`1M: ${argv.join(' ')}`, series(1, [setkey, '--store', ms, ...argv]), series(3, [setkey, '--store', small, ...argv]), 'the same of 10k', '<= 300 MiB, flat', 'memory');
    }
    t.row('1M: add one SA', series(1, [setkey, '--store', ms, '-f', addFile(runs)]), undefined, '-', '<= 300 MiB');
    t.row('1M: -n -H of 2M statements', series(1, [setkey, '-n', '-H', '-f', p('m.conf')]), undefined, '-', '<= 300 MiB');
    t.row('1M: flush (-F)', series(1, [setkey, '--store', ms, '-F']), undefined, '-', '<= 2 s, <= 300 MiB');
  }
} catch (e) {
  t.note(`FAILED: ${e.message}`);
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
t.print(`setkey benchmarks (${runs} runs each, medians; A and B alternate; peak RSS of the process)`);
