/**
 * The decoder and printers follow the per-platform tables: messages in the
 * FreeBSD and xnu layouts (sa_len sockaddrs, their algorithm and extension
 * numbers, 8-byte ipsec requests) print like their Linux equivalents.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Platform } from '../src/model/algorithms.js';
import { MsgType } from '../src/pfkey/constants.js';
import { serialize } from '../src/pfkey/serialize.js';
import { commandToWire } from '../src/pfkey/to-wire.js';
import { parse } from '../src/syntax/parser.js';
import { runCli, testSys } from './helpers.js';

function dumpBytes(src: string, platform: Platform): string {
  const r = parse(src, { file: 't', sys: testSys });
  assert.equal(r.errorCount, 0);
  const parts = r.statements.map((s) => {
    const m = commandToWire(s.cmd, { platform }).messages[0]!;
    m.header.type = s.cmd.kind === 'add' ? MsgType.DUMP : MsgType.X_SPDDUMP;
    for (const e of m.exts) if (e.kind === 'sa') e.state = 1;
    return serialize(m, platform);
  });
  return Buffer.concat(parts).toString('latin1');
}

const SRC = [
  `add 2001:db8::1 2001:db8::2 esp 0x1000 -m tunnel -u 7 -E des-cbc 0x0123456789abcdef -A hmac-sha1 0x${'11'.repeat(20)};`,
  'spdadd 10.0.0.0/8 10.1.0.0/16 tcp -P out ipsec esp/tunnel/192.0.2.1-198.51.100.2/unique:5 ah/transport//require;',
].join('\n');

for (const platform of ['freebsd', 'xnu'] as Platform[]) {
  test(`${platform} layout prints as the Linux one`, async () => {
    const linux = await runCli(['m.bin'], { files: { 'm.bin': dumpBytes(SRC, 'linux') } });
    const other = await runCli([`--platform=${platform}`, 'm.bin'], { files: { 'm.bin': dumpBytes(SRC, platform) } });
    assert.equal(linux.stderr, '');
    assert.equal(other.stderr, '');
    assert.match(linux.stdout, /E: des-cbc  01234567 89abcdef/);
    assert.match(linux.stdout, /esp\/tunnel\/192\.0\.2\.1-198\.51\.100\.2\/unique:5/);
    assert.equal(other.stdout, linux.stdout);
  });
}

test('a Linux message read with the xnu tables is not mistaken for a valid one', async () => {
  const r = await runCli(['--platform=xnu', 'm.bin'], { files: { 'm.bin': dumpBytes(SRC, 'linux') } });
  assert.notEqual(r.stdout, (await runCli(['m.bin'], { files: { 'm.bin': dumpBytes(SRC, 'linux') } })).stdout);
});
