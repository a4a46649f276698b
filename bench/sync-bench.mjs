#!/usr/bin/env node
// Benchmark: converging a store to a file (`setkey --diff` / `--sync`).
// The store holds N entries (N/2 SAs + N/2 policies, default N = 100,000);
// the declared file is the same with 1% of the entries changed: a quarter of
// them keys (SA replaced), a quarter lifetimes (SA updated in place), a
// quarter policy priorities (updated in place), and a quarter new policies
// in place of removed ones. Prints wall time, peak RSS, and the requests the
// sync sent (the statements of the plan it printed: the changes, not the
// table). Figures only; nothing here asserts on time.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const setkey = join(root, 'bin', 'setkey');
const n = Number(process.env.BENCH_ENTRIES ?? 100000);
if (!existsSync(join(root, 'dist', 'src', 'cli', 'run.js'))) {
  console.error('build first: npm run build');
  process.exit(2);
}

const hex = (i, bytes) => i.toString(16).padStart(8, '0').repeat(bytes / 4);

/** The file: SAs and policies with distinct identities past 65,536; `changed` alters 1% of them. */
function file(changed) {
  const half = n / 2;
  const every = 100; // 1%
  const out = [];
  for (let i = 0; i < half; i++) {
    const c = changed && i % every === 0;
    const key = c && i % (4 * every) === 0 ? hex(i + 1, 16) : hex(i, 16);
    const life = c && i % (4 * every) === every ? '-lh 7200 -ls 7000' : '-lh 3600 -ls 3000';
    out.push(`add 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255} 172.16.${(i >> 8) & 255}.${i & 255} esp 0x${(0x10000 + i).toString(16)} -m tunnel ${life} -E rijndael-cbc 0x${key} -A hmac-sha256 0x${hex(i + 7, 32)};`);
  }
  for (let i = 0; i < half; i++) {
    const c = changed && i % every === 0;
    const prio = c && i % (2 * every) === 0 ? 'prio def + 5 ' : '';
    // a changed policy that is not a priority change is removed, and one not in the old file takes its place
    const j = c && i % (2 * every) === every ? half + i : i;
    out.push(`spdadd 10.${(j >> 16) & 255}.${(j >> 8) & 255}.${j & 255}/32 192.${168 + (j >> 16)}.${(j >> 8) & 255}.${j & 255}/32 any -P out ${prio}ipsec esp/tunnel/198.51.100.1-203.0.113.1/require;`);
  }
  return out.join('\n') + '\n';
}

function measure(argv, keep = false) {
  const out = keep ? 'pipe' : openSync('/dev/null', 'w');
  try {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', '%M', ...argv], { stdio: ['ignore', out, 'pipe'], encoding: 'latin1', maxBuffer: 1 << 30 });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.error) throw r.error;
    return { wall, rssMiB: Number(r.stderr.trim().split('\n').pop()) / 1024, status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    if (typeof out === 'number') closeSync(out);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'setkey-sync-bench-'));
const store = join(dir, 'store');
const before = join(dir, 'before.conf');
const after = join(dir, 'after.conf');
writeFileSync(before, file(false));
writeFileSync(after, file(true));
const rows = [];
const notes = [];
let failed = false;
try {
  const a = measure([setkey, '--store', store, '-f', before]);
  rows.push([`apply the ${n / 1000}k-entry file (fresh store)`, a]);
  const d = measure([setkey, '--store', store, '--diff', '-f', after], true);
  rows.push([`--diff against 1% changed`, d]);
  const planned = d.stdout.split('\n').filter((l) => l && !l.startsWith('#')).length;
  notes.push(`--diff exit ${d.status} (2: differences); ${/^# (\d+) changes/.exec(d.stdout)?.[1]} changes, ${planned} requests planned`);
  const s = measure([setkey, '--store', store, '--sync', '-f', after], true);
  rows.push([`--sync to it`, s]);
  const sent = s.stdout.split('\n').filter((l) => l && !l.startsWith('#')).length;
  notes.push(`--sync exit ${s.status}; requests sent: ${sent} (+2 dumps) for ${n} entries`);
  const again = measure([setkey, '--store', store, '--diff', '-f', after], true);
  rows.push([`--diff again (nothing to do)`, again]);
  notes.push(`second --diff exit ${again.status}: ${again.stdout.trim().split('\n')[0]}`);
  if (d.status !== 2 || s.status !== 0 || again.status !== 0) failed = true;
} catch (e) {
  failed = true;
  notes.push(`FAILED: ${e.message}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const w = Math.max(...rows.map((r) => r[0].length));
console.log(`converge (embedded store): ${n / 2} SAs + ${n / 2} policies, 1% of the entries changed`);
for (const [name, m] of rows) console.log(`  ${name.padEnd(w)}  ${m.wall.toFixed(2).padStart(6)} s  ${m.rssMiB.toFixed(1).padStart(7)} MiB`);
for (const x of notes) console.log(`  ${x}`);
if (failed) process.exitCode = 1;
