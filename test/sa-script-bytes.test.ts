// --format=script's SA line from bytes (format/sa-script-bytes.ts) against its definition, entryCommand then
// commandToScript through StateScriptWriter.push: for any message, the same line or no answer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { serialize } from '../src/pfkey/serialize.js';
import type { SadbMsg } from '../src/pfkey/types.js';
import { dumpView } from '../src/pfkey/dump-view.js';
import { MemoryLines, StateScriptWriter } from '../src/format/state-script.js';
import { saScriptLine } from '../src/format/sa-script-bytes.js';
import { commonSaMessage, damaged, saDumpMessage } from './sa-messages.js';

/** The lines the writer makes of one message the usual way (its view pushed). */
function slow(m: Uint8Array, all: boolean): string[] {
  const lines = new MemoryLines();
  new StateScriptWriter({ platform: 'linux', all }, lines).push(dumpView(m, 'linux'));
  return Array.from({ length: lines.length }, (_, i) => lines.get(i));
}

/** The shortcut's line, if any, is the usual one; returns whether it answered. */
function agrees(m: Uint8Array): boolean {
  const line = saScriptLine(m);
  if (line === undefined) return false;
  // a line the shortcut makes is an SA's add, the same with or without -a
  assert.deepEqual(slow(m, false), [line]);
  assert.deepEqual(slow(m, true), [line]);
  return true;
}

describe("--format=script's SA line as bytes (format/sa-script-bytes.ts)", () => {
  test("any SA dump entry: commandToScript's line, or no answer; the common ones answered", () => {
    let answered = 0;
    let runs = 0;
    fc.assert(
      fc.property(fc.oneof(saDumpMessage, commonSaMessage), (m) => {
        runs++;
        if (agrees(serialize(m, 'linux'))) answered++;
      }),
      { numRuns: 4000 },
    );
    assert.ok(answered > runs / 4, `answered ${answered} of ${runs}`);
  });

  test("damaged messages: commandToScript's line, or no answer", () => {
    fc.assert(
      fc.property(damaged(saDumpMessage), (b) => {
        agrees(b);
      }),
      { numRuns: 4000 },
    );
  });

  test('an SA with lifetimes, a reqid and a replay window: answered, every option in its place', () => {
    const addr = (kind: 'address_src' | 'address_dst', last: number) =>
      ({ kind, proto: 0, prefixlen: 32, reserved: 0, sa: { family: 2, port: 0, addr: new Uint8Array([192, 0, 2, last]), flowinfo: 0, scopeId: 0 } }) as const;
    const m: SadbMsg = {
      header: { version: 2, type: 10, errno: 0, satype: 3, reserved: 0, seq: 3, pid: 1 },
      exts: [
        { kind: 'sa', spi: 0x1000, replay: 32, state: 1, auth: 5, encrypt: 12, flags: 0 },
        { kind: 'lifetime_hard', allocations: 0, bytes: 5000n, addtime: 3600n, usetime: 0n },
        { kind: 'lifetime_soft', allocations: 0, bytes: 0n, addtime: 3000n, usetime: 0n },
        { kind: 'lifetime_current', allocations: 0, bytes: 0n, addtime: 1700000000n, usetime: 0n },
        addr('address_src', 1),
        addr('address_dst', 2),
        { kind: 'key_auth', bits: 256, reserved: 0, data: new Uint8Array(32).fill(0x22) },
        { kind: 'key_encrypt', bits: 128, reserved: 0, data: new Uint8Array(16).fill(0x11) },
        { kind: 'sa2', mode: 2, reserved1: 0, reserved2: 0, sequence: 0, reqid: 9 },
      ],
    };
    const b = serialize(m, 'linux');
    assert.ok(agrees(b));
    assert.equal(saScriptLine(b), `add 192.0.2.1 192.0.2.2 esp 0x1000 -m tunnel -u 9 -r 32 -f nocyclic-seq -lh 3600 -bh 5000 -ls 3000 -E aes-cbc 0x${'11'.repeat(16)} -A hmac-sha256 0x${'22'.repeat(32)};`);
  });
});
