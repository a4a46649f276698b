/**
 * Properties: random valid commands -> setkey text -> parse gives the same
 * model; the model -> PF_KEY bytes -> decode -> model is the same again, on
 * the Linux and the FreeBSD layouts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Platform } from '../src/model/algorithms.js';
import type { Command } from '../src/model/command.js';
import { commandToScript } from '../src/format/script.js';
import { decodeMessage } from '../src/pfkey/decode.js';
import { wireToCommand } from '../src/pfkey/from-wire.js';
import { serialize } from '../src/pfkey/serialize.js';
import { commandToWire } from '../src/pfkey/to-wire.js';
import { parse } from '../src/syntax/parser.js';
import { command } from './arbitraries.js';
import { testSys } from './helpers.js';

/** Comparable form: no source positions, bytes as hex, bigints as text. */
export function canon(x: unknown): unknown {
  if (x instanceof Uint8Array) return 'hex:' + Buffer.from(x).toString('hex');
  if (typeof x === 'bigint') return 'big:' + x.toString();
  if (Array.isArray(x)) return x.map(canon);
  if (x && typeof x === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) if (k !== 'pos' && k !== 'fwdCopy' && v !== undefined) out[k] = canon(v);
    return out;
  }
  return x;
}

const RUNS = Number(process.env['PROPERTY_RUNS'] ?? 400);

for (const platform of ['linux', 'freebsd'] as Platform[]) {
  test(`${platform}: statement text -> parse -> same model`, () => {
    fc.assert(
      fc.property(command(platform), (c) => {
        const text = commandToScript(c);
        const r = parse(text, { file: 't', sys: testSys });
        assert.equal(r.errorCount, 0, `${text}\n${JSON.stringify(r.diagnostics)}`);
        assert.equal(r.statements.length, 1);
        assert.deepEqual(canon(r.statements[0]!.cmd), canon(c), text);
      }),
      { numRuns: RUNS },
    );
  });

  test(`${platform}: model -> PF_KEY -> decode -> same model`, () => {
    fc.assert(
      fc.property(command(platform), (c) => {
        const wire = commandToWire(c, { platform, pid: 4242 });
        assert.equal(wire.messages.length, 1);
        const bytes = serialize(wire.messages[0]!, platform);
        const back: Command = wireToCommand(decodeMessage(bytes, platform), platform);
        assert.deepEqual(canon(back), canon(c));
      }),
      { numRuns: RUNS },
    );
  });
}
