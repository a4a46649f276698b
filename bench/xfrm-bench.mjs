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
 *   BENCH_ENTRIES (default 10000)  BENCH_RUNS (default 3)
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

if (process.getuid?.() !== 0) {
  console.log('xfrm bench: SKIP (needs root for network namespaces)');
  process.exit(0);
}

const probe = spawnSync('unshare', ['-n', 'sh', '-c', "ip xfrm state add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 enc 'cbc(aes)' 0x00112233445566778899aabbccddeeff"], { encoding: 'utf8' });
const withSas = probe.status === 0;

const hex = (i, bytes) => (i.toString(16).padStart(8, '0') + '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff').slice(0, bytes * 2);
const ip4 = (a, i) => `${a}.${(i >> 8) & 255}.${i & 255}`;

const conf = [];
const batch = [];
for (let i = 0; i < n; i++) {
  const spi = 0x1000 + i;
  const src = ip4('10.1', i);
  const dst = ip4('10.2', i);
  const ek = hex(i, 16);
  const ak = hex(i, 32);
  if (withSas) {
    conf.push(`add ${src} ${dst} esp 0x${spi.toString(16)} -m transport -E aes-cbc 0x${ek} -A hmac-sha256 0x${ak};`);
    batch.push(`xfrm state add src ${src} dst ${dst} proto esp spi 0x${spi.toString(16)} reqid 0 mode transport enc 'cbc(aes)' 0x${ek} auth-trunc 'hmac(sha256)' 0x${ak} 96`);
  }
  const s = `${ip4('10.3', i)}.0/24`.replace(/^(\d+\.\d+\.\d+\.\d+)\.0\/24$/, '$1/32');
  const d = `${ip4('10.4', i)}.0/24`.replace(/^(\d+\.\d+\.\d+\.\d+)\.0\/24$/, '$1/32');
  conf.push(`spdadd ${s} ${d} any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;`);
  batch.push(`xfrm policy add src ${s} dst ${d} dir out priority 2147483648 tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid 0 mode tunnel`);
}

const dir = mkdtempSync(join(tmpdir(), 'setkey-xfrm-bench-'));
const confFile = join(dir, 'big.conf');
const batchFile = join(dir, 'big.batch');
writeFileSync(confFile, conf.join('\n') + '\n');
writeFileSync(batchFile, batch.join('\n') + '\n');

/** One run in a fresh namespace: wall seconds of the install alone, peak RSS (KiB), and the counts installed. */
function once(cmd) {
  const err = join(dir, 'err');
  const script = `T0=$(date +%s%N); /usr/bin/time -f 'RSS %M' ${cmd} >/dev/null 2>${err} || { cat ${err} >&2; exit 1; }; T1=$(date +%s%N); echo NS $((T1 - T0)); grep RSS ${err}; echo STATES $(ip xfrm state | grep -c '^src'); echo POLICIES $(ip xfrm policy | grep -c '^src')`;
  const r = spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const num = (k) => Number(new RegExp(`${k} (\\d+)`).exec(r.stdout)?.[1]);
  return { wall: num('NS') / 1e9, rss: num('RSS'), states: num('STATES'), policies: num('POLICIES') };
}

function series(cmd) {
  const xs = Array.from({ length: runs }, () => once(cmd));
  const walls = xs.map((x) => x.wall).sort((a, b) => a - b);
  return { median: walls[Math.floor(walls.length / 2)], min: walls[0], rss: Math.max(...xs.map((x) => x.rss)), states: xs[0].states, policies: xs[0].policies };
}

const ours = series(`${setkey} --backend=xfrm -f ${confFile}`);
const ip = series(`ip -batch ${batchFile}`);
const what = withSas ? `${n} SAs + ${n} policies` : `${n} policies (this kernel has no ESP: SAs left out; run it in the VM for both)`;
console.log(`xfrm install: ${what}, ${runs} runs each, fresh network namespace per run (wall: the install command alone)`);
for (const [name, s] of [
  ['setkey --backend=xfrm -f', ours],
  ['ip -batch', ip],
]) {
  console.log(`  ${name.padEnd(26)} wall median ${s.median.toFixed(3)} s, min ${s.min.toFixed(3)} s, peak RSS ${(s.rss / 1024).toFixed(1)} MiB, installed ${s.states} SAs / ${s.policies} policies`);
}
console.log(`  ratio setkey / ip -batch: ${(ours.median / ip.median).toFixed(2)}`);
rmSync(dir, { recursive: true, force: true });
if (ours.policies !== n || ip.policies !== n || (withSas && (ours.states !== n || ip.states !== n))) {
  console.log('  counts differ from what was asked: see above');
  process.exit(1);
}
