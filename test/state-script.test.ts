/**
 * --format=script: what a dump shows comes back as statements that parse,
 * and that state the same SAs and policies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { viewsOf } from '../src/cli/filemode.js';
import { stateScript, entryCommand, StateScriptWriter } from '../src/format/state-script.js';
import { SpillLines } from '../src/cli/spill-lines.js';
import type { Command } from '../src/model/command.js';
import type { Platform } from '../src/model/algorithms.js';
import { MsgType } from '../src/pfkey/constants.js';
import { DecodeError } from '../src/pfkey/decode.js';
import { dumpView } from '../src/pfkey/dump-view.js';
import { serialize } from '../src/pfkey/serialize.js';
import { commandToWire } from '../src/pfkey/to-wire.js';
import { parse } from '../src/syntax/parser.js';
import { command } from './arbitraries.js';
import { GOLDEN, readBin, testSys } from './helpers.js';
import { canon } from './roundtrip.test.js';

test('every golden dump becomes statements that parse without errors', () => {
  for (const dir of readdirSync(GOLDEN).filter((d) => /^s[ap]d-/.test(d))) {
    const problems: DecodeError[] = [];
    const views = viewsOf(readBin(join(GOLDEN, dir, 'msg.bin')), 'linux', problems);
    const text = stateScript(views, { platform: 'linux', all: false });
    const r = parse(text, { file: dir, sys: testSys });
    assert.equal(r.errorCount, 0, `${dir}:\n${text}\n${JSON.stringify(r.diagnostics)}`);
  }
});

test('an SA or policy in a dump comes back as the same model', () => {
  fc.assert(
    fc.property(command('linux'), (c) => {
      if (c.kind !== 'add' && c.kind !== 'spdadd') return;
      const m = commandToWire(c).messages[0]!;
      // the kernel's dump of it: same extensions, a DUMP/SPDDUMP header, a mature SA
      m.header.type = c.kind === 'add' ? MsgType.DUMP : MsgType.X_SPDDUMP;
      for (const e of m.exts) if (e.kind === 'sa') e.state = 1;
      const v = dumpView(serialize(m));
      const back = entryCommand(v, 'linux');
      assert.ok(back && typeof back !== 'string', String(back));
      const text = stateScript([v], { platform: 'linux', all: false });
      const r = parse(text, { file: 't', sys: testSys });
      assert.equal(r.errorCount, 0, text);
      if (c.kind === 'spdadd' && c.policy.dir === 1) return; // an inbound policy's statement is the same; its fwd copy is RFC mode's
      assert.deepEqual(canon(r.statements[0]!.cmd), canon(back), text);
    }),
    { numRuns: 300 },
  );
});

test('forward copies are left to RFC mode; a state without them asks for -k', () => {
  const dumpOf = (src: string): Uint8Array[] => {
    const r = parse(src, { file: 't', sys: testSys });
    return r.statements.map((s) => {
      const m = commandToWire(s.cmd).messages[0]!;
      m.header.type = MsgType.X_SPDDUMP;
      return serialize(m);
    });
  };
  const withCopy = dumpOf('spdadd 10.0.0.2 10.0.0.1 any -P in ipsec esp/transport//unique:5;\nspdadd 10.0.0.2 10.0.0.1 any -P fwd ipsec esp/transport//require;');
  const a = stateScript(withCopy.map((b) => dumpView(b)), { platform: 'linux', all: false });
  assert.match(a, /RFC mode/);
  assert.equal(a.split('\n').filter((l) => l.startsWith('spdadd')).length, 1);
  const noCopy = dumpOf('spdadd 10.0.0.2 10.0.0.1 any -P in ipsec esp/transport//unique:5;');
  const b = stateScript(noCopy.map((x) => dumpView(x)), { platform: 'linux', all: false });
  assert.match(b, /setkey -k -f FILE/);
});

test('a script kept in files (a large dump) is the script kept in memory, windows read both ways', () => {
  const dumped = (c: Command): Uint8Array | undefined => {
    if (c.kind !== 'add' && c.kind !== 'spdadd') return undefined;
    const m = commandToWire(c).messages[0]!;
    m.header.type = c.kind === 'add' ? MsgType.DUMP : MsgType.X_SPDDUMP;
    for (const e of m.exts) if (e.kind === 'sa') e.state = 1;
    return serialize(m);
  };
  // inbound policies with and without their fwd copies, so that both hashes matter
  const inFwd = parse('spdadd 10.0.0.2 10.0.0.1 any -P in ipsec esp/transport//unique:5;\nspdadd 10.0.0.2 10.0.0.1 any -P fwd ipsec esp/transport//require;\nspdadd 10.0.0.3 10.0.0.1 any -P in none;', { file: 't', sys: testSys }).statements.map((s) => s.cmd);
  fc.assert(
    fc.property(fc.array(fc.oneof(command('linux'), fc.constantFrom(...inFwd)), { maxLength: 60 }), fc.nat(20), fc.constantFrom(16, 100, 1000, 1 << 18), fc.constantFrom<Platform>('linux', 'freebsd'), (cmds, inMemory, window, platform) => {
      const views = cmds.map(dumped).filter((b): b is Uint8Array => b !== undefined).map((b) => dumpView(b));
      const want = stateScript(views, { platform, all: false });
      const spill = new SpillLines(inMemory, window);
      const w = new StateScriptWriter({ platform, all: false }, spill);
      for (const v of views) w.push(v);
      const parts: string[] = [];
      w.write((s) => parts.push(s));
      assert.equal(parts.join(''), want);
    }),
    { numRuns: 200 },
  );
});
