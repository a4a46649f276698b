/**
 * A long dump collects its own garbage (src/sys/builtin.ts collectPrinted):
 * what it made and dropped in V8's old generation is gone at the next check
 * once it passes the threshold, not left for V8's own floor. Run in a
 * process of its own (node --test runs each file in one), since it turns on
 * the printing flags for the whole process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapSpaceStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { collectPrinted, containPrinting } from '../src/sys/builtin.js';

function oldGeneration(): number {
  let n = 0;
  for (const s of getHeapSpaceStatistics()) if (s.space_name === 'old_space' || s.space_name === 'large_object_space') n += s.space_used_size;
  return n;
}

/** Arrays too large for the young generation (V8 puts them in the old one at once), `mb` MB in all, dropped. */
function oldGarbage(mb: number): void {
  const keep: number[][] = [];
  for (let i = 0; i < mb * 4; i++) keep.push(new Array<number>(32768).fill(i));
  assert.equal(keep.length, mb * 4);
}

test('before a dump is long, a check collects nothing', () => {
  oldGarbage(8);
  const before = oldGeneration();
  collectPrinted();
  assert.ok(oldGeneration() >= before - (1 << 20), 'nothing was collected');
});

test('in a long dump, old garbage past the threshold is collected at the next check', () => {
  containPrinting();
  // the first check after containment: whatever lay there (the test above's garbage) is collected now or was
  collectPrinted();
  const floor = oldGeneration();
  oldGarbage(8);
  const grown = oldGeneration();
  assert.ok(grown > floor + (6 << 20), `8 MB of garbage in the old generation (${floor} -> ${grown})`);
  collectPrinted();
  assert.ok(oldGeneration() < floor + (1 << 20), `collected (${grown} -> ${oldGeneration()})`);
});

test('a check with little garbage leaves it for later (no collection at every check)', () => {
  containPrinting();
  collectPrinted();
  oldGarbage(8);
  collectPrinted();
  // (containPrinting exposed V8's collector to new contexts)
  const gc = runInNewContext('gc') as () => void;
  // 1 MB made old for sure (kept through two collections), then dropped: well under the threshold
  let keep: number[][] | undefined = [];
  for (let i = 0; i < 4; i++) keep.push(new Array<number>(32768).fill(i));
  gc();
  gc();
  const floor = oldGeneration();
  assert.equal(keep.length, 4);
  keep = undefined;
  collectPrinted();
  assert.ok(oldGeneration() >= floor - (256 << 10), `left in place (${floor} -> ${oldGeneration()})`);
  // and collected once more comes
  oldGarbage(4);
  collectPrinted();
  assert.ok(oldGeneration() < floor - (768 << 10), `collected with the rest (${floor} -> ${oldGeneration()})`);
});
