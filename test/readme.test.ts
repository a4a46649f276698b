/**
 * Every `ts` code block of the README runs as it is shown (importing
 * 'setkey' from this build): the library's examples cannot rot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SETKEY } from './spawn.js';

const ROOT = join(SETKEY, '..', '..');
const INDEX = pathToFileURL(join(ROOT, 'dist', 'src', 'index.js')).href;
const blocks = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

test('the README has library examples', () => {
  assert.ok(blocks.length >= 2, `${blocks.length} ts blocks`);
});

blocks.forEach((code, i) => {
  const first = code.split('\n').find((l) => l.trim() && !l.startsWith('import')) ?? '';
  test(`README ts block ${i + 1} runs (${first.trim().slice(0, 60)})`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'setkey-readme-'));
    const file = join(dir, `block${i + 1}.mjs`);
    // the blocks are written in the part of TypeScript that is also JavaScript
    writeFileSync(file, code.replace(/from 'setkey'/g, `from '${INDEX}'`));
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, `block ${i + 1} failed:\n${r.stderr}`);
    assert.equal(r.stderr, '');
  });
});
