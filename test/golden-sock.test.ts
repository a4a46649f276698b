/**
 * The golden `out-sock-*` outputs: what the reference printed for `setkey -D`
 * / `-DP` when a kernel served the case's messages. The embedded engine serves
 * them (loaded verbatim, numbered Linux-style 1..N-1, 0) and setkey must print
 * the same bytes; also the CLI cases that ran against that kernel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Engine } from '../src/engine/engine.js';
import { GOLDEN, read, readBin, runCli } from './helpers.js';

const VARIANTS: Record<string, string[]> = {
  'out-sock-D.txt': ['-D'],
  'out-sock-DH.txt': ['-D', '-H'],
  'out-sock-DP.txt': ['-DP'],
  'out-sock-DPp.txt': ['-DPp'],
};

async function served(msgBin: string | undefined, table: 'sad' | 'spd'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-golden-'));
  const store = join(dir, 'store');
  const e = await Engine.open(store);
  if (msgBin) await e.load(readBin(msgBin), table);
  return store;
}

const cases = readdirSync(GOLDEN).filter((d) => /^s[ap]d-/.test(d)).map((d) => join(GOLDEN, d));

for (const dir of cases) {
  for (const [file, flags] of Object.entries(VARIANTS)) {
    if (!existsSync(join(dir, file))) continue;
    test(`golden socket dump ${basename(dir)} ${file} (embedded engine)`, async () => {
      const store = await served(join(dir, 'msg.bin'), basename(dir).startsWith('sad-') ? 'sad' : 'spd');
      try {
        const r = await runCli(['--store', store, ...flags]);
        assert.equal(r.stderr, '');
        assert.equal(r.code, 0);
        assert.equal(r.stdout, read(join(dir, file)));
      } finally {
        rmSync(join(store, '..'), { recursive: true, force: true });
      }
    });
  }
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
      assert.equal(r.stderr, read(join(dir, 'stderr')));
      assert.equal(String(r.code), read(join(dir, 'rc.txt')).trim());
    } finally {
      rmSync(join(store, '..'), { recursive: true, force: true });
    }
  });
}
