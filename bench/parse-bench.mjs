#!/usr/bin/env node
// Benchmark (issue 2): `setkey -n -f` over 100,000 statements (50k add with
// rijndael-cbc + hmac-sha256 keys, 50k spdadd with tunnel templates).
// Prints wall time and peak RSS of the whole process, against `node -e 0`.
// Figures only; nothing here asserts on time.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { statements } from './gen-statements.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const setkey = join(root, 'bin', 'setkey');
const runs = Number(process.env.BENCH_RUNS ?? 7);
const count = Number(process.env.BENCH_STATEMENTS ?? 100000);

if (!existsSync(join(root, 'dist', 'src', 'cli', 'run.js'))) {
  console.error('build first: npm run build');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'setkey-bench-'));
const file = join(dir, 'bench.conf');
writeFileSync(file, statements(count));

const haveTime = existsSync('/usr/bin/time');

/** One run: wall seconds and peak RSS in KiB (from GNU time, or from the child's own report). */
function measure(argv) {
  if (haveTime) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', '%M', ...argv], { encoding: 'utf8' });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
    return { wall, rssKiB: Number(r.stderr.trim().split('\n').pop()) };
  }
  const report = join(dir, 'rss.cjs');
  writeFileSync(report, "process.on('exit', () => process.stderr.write('\\nRSS ' + process.resourceUsage().maxRSS + '\\n'));");
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--require', report, ...argv.slice(1)], { encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
  return { wall, rssKiB: Number(/RSS (\d+)/.exec(r.stderr)?.[1]) };
}

function series(argv) {
  const all = Array.from({ length: runs }, () => measure(argv));
  const walls = all.map((x) => x.wall).sort((a, b) => a - b);
  return { min: walls[0], median: walls[Math.floor(walls.length / 2)], rssMiB: Math.max(...all.map((x) => x.rssKiB)) / 1024 };
}

const node = series([process.execPath, '-e', '0']);
const check = series([process.execPath, join(root, 'dist', 'src', 'cli', 'run.js'), '-n', '-f', file]);
const viaBin = series([setkey, '-n', '-f', file]);
rmSync(dir, { recursive: true, force: true });

const fmt = (s) => `wall min ${s.min.toFixed(3)} s, median ${s.median.toFixed(3)} s, peak RSS ${s.rssMiB.toFixed(1)} MiB`;
console.log(`setkey -n -f: ${count} statements (${count / 2} add rijndael-cbc+hmac-sha256, ${count / 2} spdadd tunnel), ${runs} runs`);
console.log(`  bin/setkey -n -f   ${fmt(viaBin)}`);
console.log(`  node run.js -n -f  ${fmt(check)}`);
console.log(`  node -e 0          ${fmt(node)}`);
console.log(`  reference (ipsec-tools 0.8.2, issue 2): 0.28-0.35 s, 37 MiB; limit 150 MiB`);
