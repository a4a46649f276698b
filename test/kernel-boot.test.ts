/**
 * What systemd/setkey.service runs at start and stop, against the real
 * kernel (issue 10), each time in a network namespace of its own: the
 * ExecStart and ExecStop command lines are taken from the unit itself, with
 * the configuration, the binary and the flush setting given through the
 * variables /etc/default/setkey may set. On the machines' kernel (no ESP)
 * the configuration holds policies; in the VM (npm run test:kernel) SAs too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot, run, SETKEY } from './spawn.js';

const UNIT = join(SETKEY, '..', '..', 'systemd', 'setkey.service');

/** The shell command of an Exec line, as systemd would hand it to /bin/sh ($$ is a literal $). */
function execLine(key: 'ExecStart' | 'ExecStop'): string {
  const line = readFileSync(UNIT, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${key}=`))!;
  const m = /^Exec\w+=\/bin\/sh -c '(.*)'$/.exec(line);
  assert.ok(m, `${key} runs /bin/sh -c '...'`);
  return m[1]!.replace(/\$\$/g, '$');
}

const K = '0x00112233445566778899aabbccddeeff';

test('the unit applies /etc/ipsec-tools.conf then ipsec-tools.d/*.conf at start, fails on an error, and flushes at stop unless told not to', async (t) => {
  const why = needsRoot(['unshare', 'ip']);
  if (why) return t.skip(why);
  const espProbe = await run('unshare', ['-n', 'ip', 'xfrm', 'state', 'add', 'src', '10.0.0.1', 'dst', '10.0.0.2', 'proto', 'esp', 'spi', '0x1000', 'enc', 'cbc(aes)', K]);
  const withSas = espProbe.code === 0;
  t.diagnostic(withSas ? 'the kernel holds ESP SAs: SAs and policies' : 'the kernel has no ESP: policies only');
  const dir = mkdtempSync(join(tmpdir(), 'setkey-boot-'));
  const conf = join(dir, 'ipsec-tools.conf');
  const confDir = join(dir, 'ipsec-tools.d');
  mkdirSync(confDir);
  writeFileSync(conf, ['flush;', 'spdflush;', 'spdadd 10.1.0.0/16 10.2.0.0/16 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;', withSas ? `add 192.0.2.1 192.0.2.2 esp 0x2001 -m tunnel -E aes-cbc ${K};` : ''].join('\n'));
  writeFileSync(join(confDir, '10-more.conf'), 'spdadd 10.3.0.0/16 10.4.0.0/16 any -P out discard;\n');
  writeFileSync(join(confDir, '20-last.conf'), withSas ? `add 192.0.2.2 192.0.2.1 esp 0x2002 -m tunnel -E aes-cbc ${K};\n` : 'spdadd 10.5.0.0/16 10.6.0.0/16 any -P out discard;\n');
  const env = { SETKEY: SETKEY, SETKEY_CONF: conf, SETKEY_CONF_DIR: confDir, SETKEY_BACKEND: 'xfrm' };
  const start = execLine('ExecStart');
  const stop = execLine('ExecStop');
  const script = (stopEnv: string): string =>
    [`sh -c '${start.replace(/'/g, `'\\''`)}'; echo "start=$?"`, 'ip xfrm policy; ip xfrm state', `${stopEnv} sh -c '${stop.replace(/'/g, `'\\''`)}'; echo "stop=$?"`, 'echo AFTER; ip xfrm policy; ip xfrm state'].join('\n');
  let r = await run('unshare', ['-n', 'sh', '-c', script('')], { env });
  assert.match(r.stdout, /start=0/, r.stderr);
  assert.match(r.stdout, /setkey: loading .*ipsec-tools\.conf\nsetkey: loading .*10-more\.conf\nsetkey: loading .*20-last\.conf/);
  const [during, after] = r.stdout.split('AFTER');
  assert.match(during!, /src 10\.1\.0\.0\/16 dst 10\.2\.0\.0\/16/);
  assert.match(during!, /src 10\.3\.0\.0\/16 dst 10\.4\.0\.0\/16/);
  if (withSas) assert.match(during!, /proto esp spi 0x00002001[\s\S]*proto esp spi 0x00002002|proto esp spi 0x00002002[\s\S]*proto esp spi 0x00002001/);
  assert.match(r.stdout, /stop=0/);
  assert.doesNotMatch(after!, /src 10\./, 'stop flushed both tables');
  // SETKEY_FLUSH_ON_STOP=no keeps them
  r = await run('unshare', ['-n', 'sh', '-c', script('SETKEY_FLUSH_ON_STOP=no')], { env });
  assert.match(r.stdout, /stop=0/);
  assert.match(r.stdout.split('AFTER')[1]!, /src 10\.1\.0\.0\/16 dst 10\.2\.0\.0\/16/);
  // an error in any file fails the start
  writeFileSync(join(confDir, '15-bad.conf'), 'spdadd 10.7.0.0/16 10.8.0.0/16 any -P sideways discard;\n');
  r = await run('unshare', ['-n', 'sh', '-c', script('')], { env });
  assert.match(r.stdout, /start=1/);
  assert.match(r.stderr, /15-bad\.conf:1:\d+: error/);
  assert.doesNotMatch(r.stdout, /loading .*20-last\.conf/, 'nothing after the failing file is applied');
  rmSync(dir, { recursive: true, force: true });
});
