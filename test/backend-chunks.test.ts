// Commands handed to a backend in chunks: gathered() joins a large file's small chunks into pipelines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { gathered } from '../src/backends/backend.js';
import type { Command } from '../src/model/command.js';

// stand-ins: gathered() only moves commands, never looks into them
const cmd = (i: number): Command => ({ kind: 'flush', pos: { file: 'x', line: i, col: 1 } }) as unknown as Command;

async function* asChunks(sizes: readonly number[]): AsyncGenerator<readonly Command[]> {
  let i = 0;
  for (const k of sizes) yield Array.from({ length: k }, () => cmd(i++));
}

test('gathered: every command once, in order; each chunk but the last holds at least n', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat(300), { maxLength: 40 }), fc.integer({ min: 1, max: 200 }), async (sizes, n) => {
      const out: (readonly Command[])[] = [];
      for await (const c of gathered(asChunks(sizes), n)) out.push(c);
      const lines = out.flat().map((c) => c.pos.line);
      const total = sizes.reduce((a, b) => a + b, 0);
      assert.deepEqual(lines, Array.from({ length: total }, (_, i) => i));
      out.slice(0, -1).forEach((c) => assert.ok(c.length >= n, `a chunk of ${c.length} before the last, n = ${n}`));
      assert.ok(out.every((c) => c.length > 0), 'no empty chunk');
    }),
  );
});
