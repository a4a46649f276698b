/**
 * Installing and booting as ipsec-tools did (issue 10): the package installs
 * `setkey` on PATH with its man page, the systemd unit passes
 * `systemd-analyze verify`, `--version` follows the GNU convention while
 * `-V` keeps the reference's, and a script dump says it holds keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers.js';
import { run, SETKEY } from './spawn.js';

const ROOT = join(SETKEY, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

test('--version names the version and exits 0; -V keeps the reference line and status 1', async () => {
  const v = await runCli(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, new RegExp(`^setkey \\(setkey-ts\\) ${pkg.version.replace(/\./g, '\\.')}\\n`));
  assert.doesNotMatch(v.stdout, /https?:/, 'no address that does not exist');
  const V = await runCli(['-V']);
  assert.equal(V.code, 1);
  assert.match(V.stdout, new RegExp(`^setkey @\\(#\\) setkey-ts ${pkg.version.replace(/\./g, '\\.')} \\(ipsec-tools 0\\.8\\.2 compatible\\)\\n$`));
  assert.equal((await runCli(['--version=1'])).code, 1);
});

test('--format=script starts by saying that it holds keys', async () => {
  const store = join(mkdtempSync(join(tmpdir(), 'setkey-install-')), 'store');
  const conf = 'add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x00112233445566778899aabbccddeeff;\n';
  assert.equal((await runCli(['--store', store, '-f', 'a.conf'], { files: { 'a.conf': conf } })).code, 0);
  const s = await runCli(['--store', store, '-D', '--format=script']);
  assert.match(s.stdout.split('\n')[0]!, /^# SECRET: this file holds the keys/);
  assert.match(s.stdout, /0x00112233445566778899aabbccddeeff/);
});

test('the systemd unit passes systemd-analyze verify', async (t) => {
  const probe = await run('sh', ['-c', 'command -v systemd-analyze']);
  if (probe.code !== 0) return t.skip('needs systemd-analyze (Debian package systemd)');
  const r = await run('systemd-analyze', ['verify', '--man=no', join(ROOT, 'systemd', 'setkey.service')]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(r.stderr.trim(), '');
});

test('npm install -g of the package gives setkey on PATH and its man page', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-pack-'));
  // the package as npm publishes it (dist is built by the test command's tsc)
  const pack = await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { timeoutMs: 120000 });
  if (pack.code !== 0) return t.skip(`npm pack failed here: ${pack.stderr.trim().split('\n')[0]}`);
  const tgz = join(dir, pack.stdout.trim().split('\n').pop()!);
  const prefix = join(dir, 'prefix');
  // no registry needed: the optional koffi is left out, and nothing else is a runtime dependency
  const inst = await run('npm', ['install', '-g', '--prefix', prefix, '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', '--offline', tgz], { timeoutMs: 120000 });
  assert.equal(inst.code, 0, inst.stderr);
  assert.doesNotMatch(inst.stderr, /npm warn/i, 'npm install prints no warning of ours');
  assert.ok(existsSync(join(prefix, 'share', 'man', 'man8', 'setkey.8')), 'the man page is installed');
  const v = await run(join(prefix, 'bin', 'setkey'), ['--version']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^setkey \(setkey-ts\)/);
  const n = await run(join(prefix, 'bin', 'setkey'), ['-n', '-f', '-'], { input: 'spdadd 10.0.0.0/24 10.0.1.0/24 any -P out none;\n' });
  assert.equal(n.code, 0, n.stderr);
  const unit = join(prefix, 'lib', 'node_modules', 'setkey', 'systemd', 'setkey.service');
  assert.ok(existsSync(unit), 'the systemd unit ships in the package');
  rmSync(dir, { recursive: true, force: true });
});
