/**
 * How a long apply to the engine sets V8's young generation
 * (src/sys/builtin.ts): contained, let grow up to a size, and contained
 * again at once when a long dump starts inside it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';

test('a long dump inside a long apply contains the young generation again (containYoungGeneration after youngGenerationUpTo)', async () => {
  const set = v8.setFlagsFromString;
  const flags: string[] = [];
  v8.setFlagsFromString = (f: string): void => {
    flags.push(f);
  };
  try {
    const { containYoungGeneration, youngGenerationUpTo } = await import('../src/sys/builtin.js');
    containYoungGeneration();
    containYoungGeneration();
    // an apply: growth allowed up to a size never reached here
    const check = youngGenerationUpTo(1 << 30);
    check();
    // a dump's output passes the long-dump mark (containPrinting calls this)
    containYoungGeneration();
    const growth = flags.filter((f) => f.startsWith('--semi-space-growth-factor='));
    assert.deepEqual(growth, ['--semi-space-growth-factor=1', '--semi-space-growth-factor=2', '--semi-space-growth-factor=1']);
  } finally {
    v8.setFlagsFromString = set;
  }
});
