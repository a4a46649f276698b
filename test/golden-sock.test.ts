/**
 * The golden CLI cases that ran against the reference's kernel (empty dumps,
 * -H, -v, served dumps, flushes), through the embedded engine, which serves
 * loaded messages verbatim, numbered Linux-style 1..N-1, 0. (The per-case
 * out-sock-* dumps are a case of the backend conformance suite.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../src/engine/engine.js';
import { GOLDEN, read, readBin, runCli } from './helpers.js';

async function served(msgBin: string | undefined, table: 'sad' | 'spd'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-golden-'));
  const store = join(dir, 'store');
  const e = await Engine.open(store);
  if (msgBin) await e.load(readBin(msgBin), table);
  return store;
}

/** cli/<case>: argv, and the message file its kernel served */
const CLI: Record<string, { argv: string[]; sad?: string; spd?: string }> = {
  'dump-empty': { argv: ['-D'] },
  'dump-policy-empty': { argv: ['-DP'] },
  'dump-H': { argv: ['-D', '-H'] },
  'dump-v': { argv: ['-D', '-v'] },
  'dump-satype-served': { argv: ['-D'], sad: 'sad-states' },
  'dump-p-served': { argv: ['-Dp'], sad: 'sad-natt-esp' },
  'spddump-served': { argv: ['-DP'], spd: 'spd-multi-dump-seq' },
  flush: { argv: ['-F'] },
  'flush-policy': { argv: ['-FP'] },
};

for (const [name, c] of Object.entries(CLI)) {
  test(`golden cli ${name} through the embedded engine`, async () => {
    const dir = join(GOLDEN, 'cli', name);
    const store = await served(c.sad ? join(GOLDEN, c.sad, 'msg.bin') : c.spd ? join(GOLDEN, c.spd, 'msg.bin') : undefined, c.spd ? 'spd' : 'sad');
    try {
      const r = await runCli(['--store', store, ...c.argv]);
      assert.equal(r.stdout, read(join(dir, 'stdout')));
      // -v also names the backend and where the state lives, on stderr, before anything else (our addition)
      const ours = c.argv.includes('-v') ? `setkey: backend embedded: the embedded engine's store at ${store}\n` : '';
      assert.equal(r.stderr, ours + read(join(dir, 'stderr')));
      assert.equal(String(r.code), read(join(dir, 'rc.txt')).trim());
    } finally {
      rmSync(join(store, '..'), { recursive: true, force: true });
    }
  });
}
