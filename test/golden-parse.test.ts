/**
 * Every valid statement of the golden corpus encodes to the bytes the
 * reference sent (sent.bin), and `-n -H` prints the reference's hexdump.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename, join } from 'node:path';
import { withForwardCopies } from '../src/model/rfc-mode.js';
import { serialize } from '../src/pfkey/serialize.js';
import { commandToWire } from '../src/pfkey/to-wire.js';
import { parse } from '../src/syntax/parser.js';
import { resolveStatements } from '../src/syntax/resolve.js';
import { goldenCases, hexMessages, maskSeqPid, read, readBin, runCli, splitWire, testLookup, testSys } from './helpers.js';

for (const dir of goldenCases('parse')) {
  const name = basename(dir);
  const kflag = /^f-H\s.*setkey -k /m.test(read(join(dir, 'rc.txt')));

  test(`golden parse ${name}: messages equal sent.bin`, async () => {
    const src = read(join(dir, 'in.conf'));
    const r = parse(src, { file: 'in.conf', sys: testSys });
    assert.equal(r.errorCount, 0, JSON.stringify(r.diagnostics));
    const resolved = await resolveStatements(r.statements, 'in.conf', testLookup);
    assert.deepEqual(resolved.diagnostics, []);
    const cmds = kflag ? resolved.commands : withForwardCopies(resolved.commands);
    const ours = cmds.flatMap((c) => commandToWire(c, { pid: 4242 }).messages.map((m) => maskSeqPid(serialize(m))));
    // the reference's first message is always SADB_REGISTER (algorithm list); statements follow
    const theirs = splitWire(readBin(join(dir, 'sent.bin')))
      .slice(1)
      .map(maskSeqPid);
    assert.deepEqual(ours, theirs);
  });

  test(`golden parse ${name}: -n -H prints the reference's hexdump`, async () => {
    const r = await runCli([...(kflag ? ['-k'] : []), '-n', '-H', '-f', 'in.conf'], { files: { 'in.conf': read(join(dir, 'in.conf')) } });
    assert.equal(r.code, 0, r.stderr);
    const want = hexMessages(read(join(dir, 'f-H.stdout'))).map(maskSeqPid);
    assert.deepEqual(hexMessages(r.stdout).map(maskSeqPid), want);
    // and the hexdump lines themselves are byte for byte the reference's format
    const lines = (s: string): string[] => s.split('\n').filter((l) => /^[0-9a-f]{8}: /.test(l)).map((l) => l.slice(0, 10) + l.slice(10).replace(/^(.{24})(.{12})/, '$1000000000000'));
    assert.deepEqual(lines(r.stdout).length, lines(read(join(dir, 'f-H.stdout'))).length);
  });
}
