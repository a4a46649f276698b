#!/usr/bin/env node
/**
 * Installing N SAs and N policies in the kernel over XFRM: `setkey
 * --backend=xfrm -f` against `ip -batch` of the same entries, each in a fresh
 * network namespace (never the host's own tables), in the same run. Prints
 * wall time, peak RSS and the ratio; asserts nothing about time.
 *
 * As root. Where the kernel has no ESP (the machines' own kernel), only the
 * policies are installed and it says so; `npm run vm -- 'node
 * bench/xfrm-bench.mjs'` measures the whole thing on Debian's kernel.
 * Then the dumps, on a table of their own: BENCH_DUMP_ENTRIES states (the
 * issue's 100k; installed by ip -batch) and as many policies, `setkey -D`
 * against `ip xfrm state` and `-DP` against `ip xfrm policy`, alternating.
 *   BENCH_ENTRIES (default 10000)  BENCH_DUMP_ENTRIES (default 100000)  BENCH_RUNS (default 3)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const setkey = join(root, 'bin', 'setkey');
const n = Number(process.env.BENCH_ENTRIES ?? 10000);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const dumpN = Number(process.env.BENCH_DUMP_ENTRIES ?? 100000);

if (process.getuid?.() !== 0) {
  console.log('xfrm bench: SKIP (needs root for network namespaces)');
  process.exit(0);
}

const probe = spawnSync('unshare', ['-n', 'sh', '-c', "ip xfrm state add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 enc 'cbc(aes)' 0x00112233445566778899aabbccddeeff"], { encoding: 'utf8' });
const withSas = probe.status === 0;

const hex = (i, bytes) => (i.toString(16).padStart(8, '0') + '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff').slice(0, bytes * 2);
// 24 bits of the index in the address: distinct entries past 65,536
const ip4 = (a, i) => `${a}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** the same N SAs and N policies as a setkey file and as an ip -batch file */
function entries(n) {
  const conf = [];
  const batch = [];
  for (let i = 0; i < n; i++) {
    const spi = 0x1000 + i;
    const src = ip4('10', i);
    const dst = ip4('11', i);
    const ek = hex(i, 16);
    const ak = hex(i, 32);
    if (withSas) {
      conf.push(`add ${src} ${dst} esp 0x${spi.toString(16)} -m transport -E aes-cbc 0x${ek} -A hmac-sha256 0x${ak};`);
      batch.push(`xfrm state add src ${src} dst ${dst} proto esp spi 0x${spi.toString(16)} reqid 0 mode transport enc 'cbc(aes)' 0x${ek} auth-trunc 'hmac(sha256)' 0x${ak} 96`);
    }
    const s = `${ip4('12', i)}/32`;
    const d = `${ip4('13', i)}/32`;
    conf.push(`spdadd ${s} ${d} any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;`);
    batch.push(`xfrm policy add src ${s} dst ${d} dir out priority 2147483648 tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid 0 mode tunnel`);
  }
  return { conf: conf.join('\n') + '\n', batch: batch.join('\n') + '\n' };
}

const dir = mkdtempSync(join(tmpdir(), 'setkey-xfrm-bench-'));
const confFile = join(dir, 'big.conf');
const batchFile = join(dir, 'big.batch');
const install = entries(n);
writeFileSync(confFile, install.conf);
writeFileSync(batchFile, install.batch);
const dumpBatch = join(dir, 'dump.batch');
writeFileSync(dumpBatch, entries(dumpN).batch);

/** `echo NAME <ns>` of one command's wall time, its output thrown away. */
const timed = (name, cmd) => `A=$(date +%s%N); ${cmd} >/dev/null || exit 1; B=$(date +%s%N); echo ${name} $((B - A));`;

/**
 * One run in a fresh namespace: wall seconds of the install alone, peak RSS
 * (KiB), the counts installed.
 */
function once(cmd) {
  const err = join(dir, 'err');
  const script = `T0=$(date +%s%N); /usr/bin/time -f 'RSS %M' ${cmd} >/dev/null 2>${err} || { cat ${err} >&2; exit 1; }; T1=$(date +%s%N); echo NS $((T1 - T0)); grep RSS ${err}; echo STATES $(ip xfrm state | grep -c '^src'); echo POLICIES $(ip xfrm policy | grep -c '^src');`;
  const r = spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const num = (k) => Number(new RegExp(`${k} (\\d+)`).exec(r.stdout)?.[1]);
  return { wall: num('NS') / 1e9, rss: num('RSS'), states: num('STATES'), policies: num('POLICIES') };
}

/**
 * The dumps, in one fresh namespace holding `dumpN` SAs and policies
 * (installed by ip -batch): each dump by setkey and by ip, alternating,
 * `runs` times; the median seconds of each, and the entries each printed.
 */
function dumps() {
  let script = `ip -batch ${dumpBatch} || exit 1; echo STATES $(ip xfrm state | grep -c '^src');`;
  for (let r = 0; r < runs; r++) script += timed('DOURS', `${setkey} --backend=xfrm -D`) + timed('DIP', 'ip xfrm state') + timed('POURS', `${setkey} --backend=xfrm -DP`) + timed('PIP', 'ip xfrm policy');
  const r = spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`the dumps failed: ${r.stderr}`);
  const all = (k) => [...r.stdout.matchAll(new RegExp(`^${k} (\\d+)$`, 'gm'))].map((m) => Number(m[1]) / 1e9);
  return { states: Number(/STATES (\d+)/.exec(r.stdout)?.[1]), sa: [median(all('DOURS')), median(all('DIP'))], sp: [median(all('POURS')), median(all('PIP'))] };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function summary(xs) {
  const walls = xs.map((x) => x.wall).sort((a, b) => a - b);
  return { median: walls[Math.floor(walls.length / 2)], min: walls[0], rss: Math.max(...xs.map((x) => x.rss)), states: xs[0].states, policies: xs[0].policies };
}

// the two alternate, run by run: in the emulated VM the same install took ip -batch 10.4 s in one
// series and 6.8 s in another, so a series of ours, then one of ip's, compared two moments of the host
// both programs read once before (a VM reads its files over 9p the first time)
spawnSync(setkey, ['-V']);
spawnSync('ip', ['-V']);
const oursRuns = [];
const ipRuns = [];
for (let r = 0; r < runs; r++) {
  oursRuns.push(once(`${setkey} --backend=xfrm -f ${confFile}`));
  ipRuns.push(once(`ip -batch ${batchFile}`));
}
const ours = summary(oursRuns);
const ip = summary(ipRuns);
const what = withSas ? `${n} SAs + ${n} policies` : `${n} policies (this kernel has no ESP: SAs left out; run it in the VM for both)`;
console.log(`xfrm install: ${what}, ${runs} runs each, alternating, fresh network namespace per run (wall: the install command alone)`);
for (const [name, s] of [
  ['setkey --backend=xfrm -f', ours],
  ['ip -batch', ip],
]) {
  console.log(`  ${name.padEnd(26)} wall median ${s.median.toFixed(3)} s, min ${s.min.toFixed(3)} s, peak RSS ${(s.rss / 1024).toFixed(1)} MiB, installed ${s.states} SAs / ${s.policies} policies`);
}
console.log(`  ratio setkey / ip -batch: ${(ours.median / ip.median).toFixed(2)}`);
const dumped = dumps();
if (withSas) console.log(`xfrm dump of ${dumpN} SAs: setkey -D ${dumped.sa[0].toFixed(3)} s, ip xfrm state ${dumped.sa[1].toFixed(3)} s (output to /dev/null; medians of ${runs}, alternating): ratio ${(dumped.sa[0] / dumped.sa[1]).toFixed(2)}`);
console.log(`xfrm dump of ${dumpN} policies: setkey -DP ${dumped.sp[0].toFixed(3)} s, ip xfrm policy ${dumped.sp[1].toFixed(3)} s: ratio ${(dumped.sp[0] / dumped.sp[1]).toFixed(2)}`);
rmSync(dir, { recursive: true, force: true });
if (ours.policies !== n || ip.policies !== n || (withSas && (ours.states !== n || ip.states !== n || dumped.states !== dumpN))) {
  console.log('  counts differ from what was asked: see above');
  process.exit(1);
}
