#!/usr/bin/env node
// Benchmark: the embedded key engine on a durable store (`setkey --store DIR`).
//   1. apply 100,000 SAs + 100,000 policies from one file to a fresh store (-f);
//   2. add one SA to that store (-c, one statement on stdin) and how much the
//      store directory grows (the cost should be the change's, not the store's);
//   3. dump the 100k SAs (-D) and the 100k policies (-DP) to /dev/null;
//   4. -D on an empty store against bare `node -e 0`.
// Wall time and peak RSS of each child process (GNU time, or the child's own
// resource usage). Figures only; nothing here asserts on time.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { statements } from './gen-statements.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const setkey = join(root, 'bin', 'setkey');
const runs = Number(process.env.BENCH_RUNS ?? 5);
const count = Number(process.env.BENCH_ENTRIES ?? 100000); // SAs, and as many policies

if (!existsSync(join(root, 'dist', 'src', 'cli', 'run.js'))) {
  console.error('build first: npm run build');
  process.exit(2);
}

/**
 * The input: `count` SAs and `count` policies. The SAs are gen-statements'
 * (add rijndael-cbc + hmac-sha256, tunnel mode, distinct SPIs, so distinct
 * (dst, spi)). Its policies repeat their selectors past 65,536 (the third
 * address octet wraps), which the engine would refuse as duplicates, so the
 * policies are made here, same shape, with a selector of their own each.
 */
function input(n) {
  const sas = statements(2 * n)
    .split('\n')
    .filter((l) => l.startsWith('add '));
  const out = sas.slice(0, n);
  for (let i = 0; i < n; i++) {
    const s = `10.${(i >> 8) & 255}.${i & 255}.0/24`;
    const d = `192.${168 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
    out.push(`spdadd ${s} ${d} any -P out ipsec esp/tunnel/198.51.100.${i & 255}-203.0.113.${(i >> 8) & 255}/require;`);
  }
  return out.join('\n') + '\n';
}

const dir = mkdtempSync(join(tmpdir(), 'setkey-engine-bench-'));
const file = join(dir, 'big.conf');
writeFileSync(file, input(count));
const store = join(dir, 'store'); // created by the first apply
const empty = join(dir, 'empty'); // created (empty) by the first -D
const haveTime = existsSync('/usr/bin/time');
const rssHook = join(dir, 'rss.cjs');
writeFileSync(rssHook, "process.on('exit', () => process.stderr.write('\\nRSS ' + process.resourceUsage().maxRSS + '\\n'));");

/**
 * One run of argv: wall seconds and peak RSS in KiB. `stdin` is a string to
 * feed; `stdout` is 'null' (to /dev/null) or 'keep' (returned).
 */
function measure(argv, { stdin, stdout = 'null' } = {}) {
  const out = stdout === 'null' ? openSync('/dev/null', 'w') : 'pipe';
  try {
    let cmd;
    if (haveTime) cmd = ['/usr/bin/time', '-f', '%M', ...argv];
    else if (argv[0] === setkey) cmd = [process.execPath, '--require', rssHook, join(root, 'dist', 'src', 'cli', 'run.js'), ...argv.slice(1)];
    else cmd = [process.execPath, '--require', rssHook, ...argv.slice(1)];
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd[0], cmd.slice(1), {
      stdio: [stdin === undefined ? 'ignore' : 'pipe', out, 'pipe'],
      input: stdin,
      encoding: 'latin1',
      maxBuffer: 1 << 30,
    });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`${argv.map((a) => a.replace(root + '/', '')).join(' ')} exited ${r.status}: ${r.stderr.trim().slice(-2000)}`);
    const rssKiB = haveTime ? Number(r.stderr.trim().split('\n').pop()) : Number(/RSS (\d+)/.exec(r.stderr)?.[1]);
    return { wall, rssKiB, stdout: r.stdout };
  } finally {
    if (typeof out === 'number') closeSync(out);
  }
}

/** `n` runs (one argv each, from `argvOf(i)`): median and min wall, peak RSS over all. */
function series(n, argvOf, opts) {
  const all = Array.from({ length: n }, (_, i) => {
    const o = typeof opts === 'function' ? opts(i) : opts;
    return measure(argvOf(i), o);
  });
  const w = all.map((x) => x.wall).sort((a, b) => a - b);
  return { runs: n, min: w[0], median: w[Math.floor(w.length / 2)], rssMiB: Math.max(...all.map((x) => x.rssKiB)) / 1024 };
}

/** Bytes of every file under `d`. */
function du(d) {
  let total = 0;
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    total += e.isDirectory() ? du(p) : statSync(p).size;
  }
  return total;
}

const countLines = (text, re) => text.split('\n').filter((l) => re.test(l)).length;
const rows = [];
const notes = [];
let failed = false;

try {
  // 1. the big apply, once, to a fresh store
  const apply = measure([setkey, '--store', store, '-f', file]);
  rows.push(['apply -f: ' + count + ' SAs + ' + count + ' policies (fresh store)', { runs: 1, min: apply.wall, median: apply.wall, rssMiB: apply.rssKiB / 1024 }]);
  const storeBytes = du(store);

  // counts: one extra run of each dump, output kept (the timed runs below go to /dev/null)
  const sad = measure([setkey, '--store', store, '-D'], { stdout: 'keep' }).stdout;
  const spd = measure([setkey, '--store', store, '-DP'], { stdout: 'keep' }).stdout;
  const saCount = countLines(sad, /^\s*esp mode=/);
  const spCount = countLines(spd, /^\s*spid=/);
  notes.push(`apply exit 0; -D shows ${saCount} esp SAs, -DP shows ${spCount} policies (expected ${count} each)${saCount === count && spCount === count ? '' : '  <-- MISMATCH'}`);
  notes.push(`dump output: -D ${(sad.length / 1e6).toFixed(1)} MB, -DP ${(spd.length / 1e6).toFixed(1)} MB; store after apply: ${(storeBytes / 1e6).toFixed(1)} MB`);
  if (saCount !== count || spCount !== count) failed = true;

  // 2. one more SA at a time, on stdin with -c; a new SPI each run
  const growth = [];
  const addStmt = (i) => `add 198.18.0.1 198.18.0.2 esp 0x${(0x7f000000 + i).toString(16)} -m tunnel -u ${200000 + i} -E rijndael-cbc 0x00112233445566778899aabbccddeeff -A hmac-sha256 0x${'0123456789abcdef'.repeat(4)};\n`;
  const adds = Array.from({ length: runs }, (_, i) => {
    const before = du(store);
    const m = measure([setkey, '--store', store, '-c'], { stdin: addStmt(i) });
    growth.push(du(store) - before);
    return m;
  });
  const aw = adds.map((x) => x.wall).sort((a, b) => a - b);
  rows.push([`add 1 SA to the ${count / 1000}k store (-c, stdin)`, { runs, min: aw[0], median: aw[Math.floor(aw.length / 2)], rssMiB: Math.max(...adds.map((x) => x.rssKiB)) / 1024 }]);
  notes.push(`store growth per added SA: ${growth.join(', ')} bytes (store ${(du(store) / 1e6).toFixed(1)} MB)`);
  const after = countLines(measure([setkey, '--store', store, '-D'], { stdout: 'keep' }).stdout, /^\s*esp mode=/);
  notes.push(`after the adds -D shows ${after} esp SAs (expected ${count + runs})${after === count + runs ? '' : '  <-- MISMATCH'}`);
  if (after !== count + runs) failed = true;

  // 3. dumps to /dev/null
  rows.push([`-D  > /dev/null (${count / 1000}k SAs)`, series(runs, () => [setkey, '--store', store, '-D'])]);
  rows.push([`-DP > /dev/null (${count / 1000}k policies)`, series(runs, () => [setkey, '--store', store, '-DP'])]);

  // 4. startup: -D on an empty store (the first run creates it) against bare node
  const startRuns = Math.max(runs, 7);
  rows.push(['-D on an empty store', series(startRuns, () => [setkey, '--store', empty, '-D'])]);
  rows.push(['node -e 0', series(startRuns, () => [process.execPath, '-e', '0'])]);
} catch (e) {
  failed = true;
  notes.push(`FAILED: ${e.message}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const w = Math.max(...rows.map((r) => r[0].length));
console.log(`embedded engine (--store): ${count} SAs + ${count} policies; RSS from ${haveTime ? '/usr/bin/time' : 'process.resourceUsage()'}`);
console.log(`  ${'step'.padEnd(w)}  runs  wall median  wall min  peak RSS`);
for (const [name, s] of rows) {
  console.log(`  ${name.padEnd(w)}  ${String(s.runs).padStart(4)}  ${s.median.toFixed(3).padStart(9)} s  ${s.min.toFixed(3).padStart(6)} s  ${s.rssMiB.toFixed(1).padStart(6)} MiB`);
}
for (const n of notes) console.log(`  ${n}`);
if (failed) process.exitCode = 1;
