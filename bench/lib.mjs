// What the benchmarks share: running a command as a whole process (wall time
// from here, peak RSS from GNU time), several runs alternating with its
// yardstick so that a drifting machine hurts both alike, medians, and the
// table they print. Figures only: nothing asserts on time.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const setkey = join(root, 'bin', 'setkey');
/** The reference (ipsec-tools 0.8.2 on a fake PF_KEY kernel), where this workplace has it. */
export const reference = join(root, '..', 'shared', 'oracle', 'setkey');
export const haveReference = existsSync(reference) && process.platform === 'linux' && process.arch === 'x64';
const haveTime = existsSync('/usr/bin/time');

export function needBuild() {
  if (!existsSync(join(root, 'dist', 'src', 'cli', 'run.js'))) {
    console.error('build first: npm run build');
    process.exit(2);
  }
}

/**
 * One run: { wall (s), rssMiB, status, stdout? }. `stdin`: a file to read;
 * `keep`: return stdout (else it goes to /dev/null); `env`: extra variables.
 */
export function run(argv, { stdin, keep = false, env } = {}) {
  const out = keep ? 'pipe' : openSync('/dev/null', 'w');
  const inp = stdin ? openSync(stdin, 'r') : 'ignore';
  try {
    const cmd = haveTime ? ['/usr/bin/time', '-f', '%M', ...argv] : argv;
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd[0], cmd.slice(1), { stdio: [inp, out, 'pipe'], encoding: 'latin1', maxBuffer: 1 << 30, env: { ...process.env, ...env } });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.error) throw r.error;
    const last = r.stderr.trim().split('\n').pop();
    return { wall, rssMiB: haveTime ? Number(last) / 1024 : NaN, status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    if (typeof out === 'number') closeSync(out);
    if (typeof inp === 'number') closeSync(inp);
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** `runs` runs of a command (a function of the run number, or argv), each checked to exit `expect`. */
export function series(runs, argvOf, opts = {}) {
  const xs = [];
  for (let i = 0; i < runs; i++) {
    const argv = typeof argvOf === 'function' ? argvOf(i) : argvOf;
    const r = run(argv, typeof opts === 'function' ? opts(i) : opts);
    const expect = (typeof opts === 'function' ? opts(i) : opts).expect ?? 0;
    if (r.status !== expect) throw new Error(`${argv.map((a) => a.replace(root + '/', '')).join(' ')} exited ${r.status}: ${r.stderr.trim().slice(-800)}`);
    xs.push(r);
  }
  return { wall: median(xs.map((x) => x.wall)), rssMiB: Math.max(...xs.map((x) => x.rssMiB)), runs };
}

/** A command and its yardstick (argv, or a function of the run number), run alternately (A B A B ...): medians of each. */
export function versus(runs, a, b) {
  const as = [];
  const bs = [];
  const argv = (x, i) => (typeof x.argv === 'function' ? x.argv(i) : x.argv);
  for (let i = 0; i < runs; i++) {
    as.push(series(1, argv(a, i), a.opts ?? {}));
    bs.push(series(1, argv(b, i), b.opts ?? {}));
  }
  const pick = (xs) => ({ wall: median(xs.map((x) => x.wall)), rssMiB: Math.max(...xs.map((x) => x.rssMiB)), runs });
  return { a: pick(as), b: pick(bs) };
}

/** The table: work, ours, yardstick, ratio, goal. */
export class Table {
  rows = [];
  notes = [];
  /** `by`: what the ratio compares, 'wall' time (default) or peak 'memory' */
  row(work, ours, yard, yardName, goal, by = 'wall') {
    this.rows.push({ work, ours, yard, yardName, goal, by });
  }
  note(s) {
    this.notes.push(s);
  }
  print(title) {
    const fmt = (m) => (m ? `${m.wall.toFixed(3)} s, ${Number.isNaN(m.rssMiB) ? '?' : m.rssMiB.toFixed(0)} MiB` : '-');
    const lines = this.rows.map((r) => [r.work, fmt(r.ours), r.yard ? `${r.yardName}: ${fmt(r.yard)}` : r.yardName ?? '-', r.yard ? (r.by === 'memory' ? `${(r.ours.rssMiB / r.yard.rssMiB).toFixed(2)} (memory)` : `${(r.ours.wall / r.yard.wall).toFixed(2)}`) : '-', r.goal ?? '']);
    const w = [0, 1, 2, 3].map((i) => Math.max(...lines.map((l) => l[i].length), ['work', 'ours', 'yardstick', 'ratio'][i].length));
    console.log(title);
    console.log(`  ${'work'.padEnd(w[0])} | ${'ours'.padEnd(w[1])} | ${'yardstick'.padEnd(w[2])} | ${'ratio'.padStart(w[3])} | goal`);
    for (const l of lines) console.log(`  ${l[0].padEnd(w[0])} | ${l[1].padEnd(w[1])} | ${l[2].padEnd(w[2])} | ${l[3].padStart(w[3])} | ${l[4]}`);
    for (const n of this.notes) console.log(`  ${n}`);
  }
}
