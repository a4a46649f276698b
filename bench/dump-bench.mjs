#!/usr/bin/env node
// Benchmark (issue 3): print a 100,000-entry PF_KEY message file (50k SAs with
// keys and lifetimes, 50k tunnel policies) with `setkey FILE`, in the classic
// dump format and as JSON/script; wall time and peak RSS. Figures only.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dumpFile } from './gen-dump.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.BENCH_RUNS ?? 5);
const count = Number(process.env.BENCH_ENTRIES ?? 100000);
const dir = mkdtempSync(join(tmpdir(), 'setkey-dump-bench-'));
const file = join(dir, 'dump.bin');
writeFileSync(file, dumpFile(count));
const haveTime = existsSync('/usr/bin/time');

function once(args) {
  const argv = [process.execPath, join(root, 'dist', 'src', 'cli', 'run.js'), ...args, file];
  const t0 = process.hrtime.bigint();
  const r = haveTime
    ? spawnSync('/usr/bin/time', ['-f', '%M', ...argv], { encoding: 'latin1', maxBuffer: 1 << 30 })
    : spawnSync(argv[0], argv.slice(1), { encoding: 'latin1', maxBuffer: 1 << 30 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`setkey ${args.join(' ')} failed: ${r.stderr.slice(-500)}`);
  return { wall, rss: haveTime ? Number(r.stderr.trim().split('\n').pop()) / 1024 : NaN, bytes: r.stdout.length };
}

function series(args) {
  const all = Array.from({ length: runs }, () => once(args));
  const w = all.map((x) => x.wall).sort((a, b) => a - b);
  return `wall min ${w[0].toFixed(3)} s, median ${w[Math.floor(w.length / 2)].toFixed(3)} s, peak RSS ${Math.max(...all.map((x) => x.rss)).toFixed(1)} MiB, output ${(all[0].bytes / 1e6).toFixed(1)} MB`;
}

console.log(`setkey FILE: ${count} entries (${count / 2} SAs, ${count / 2} policies), ${runs} runs`);
console.log(`  setkey FILE                ${series([])}`);
console.log(`  setkey -p FILE             ${series(['-p'])}`);
console.log(`  setkey -l FILE             ${series(['-l'])}`);
console.log(`  setkey --format=script     ${series(['--format=script'])}`);
rmSync(dir, { recursive: true, force: true });
