/**
 * bin/setkey loads the one-file build with the V8 code cache `npm run build`
 * made (bin/bundle.js): this node takes the cache, and a cache that is not
 * this bundle's (damaged, stale, another build) is refused by V8 and the
 * bundle runs as compiled from its source, with the same output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bundle = join(root, 'dist', 'setkey.cjs');
const have = existsSync(bundle) && existsSync(`${bundle}.cache`);
const skip = have ? false : 'no one-file build with its cache (npm run build makes them)';
const loader = createRequire(import.meta.url)(join(root, 'bin', 'bundle.js')) as {
  compile(file: string, source: Buffer, cached?: Uint8Array): { cachedDataRejected?: boolean };
  checkedCache(bytes: Buffer, source: Buffer): Uint8Array | undefined;
};

test('the code cache the build made passes its own check and is taken by this node', { skip }, () => {
  const source = readFileSync(bundle);
  const cache = loader.checkedCache(readFileSync(`${bundle}.cache`), source);
  assert.ok(cache, 'the header matches the bundle and the cache');
  assert.equal(loader.compile(bundle, source, cache).cachedDataRejected, false);
});

test('a cache that is not the bundle’s is refused, and setkey runs the same without it', { skip }, () => {
  // a copy of bin/ and the bundle, with a damaged cache and with another build's cache
  const dir = mkdtempSync(join(tmpdir(), 'setkey-cache-'));
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'dist'));
  for (const f of ['setkey', 'bundle.js', 'package.json']) copyFileSync(join(root, 'bin', f), join(dir, 'bin', f));
  const copy = join(dir, 'dist', 'setkey.cjs');
  copyFileSync(bundle, copy);
  const store = join(dir, 'store');
  const run = (env: Record<string, string> = {}): string => {
    const r = spawnSync(process.execPath, [join(dir, 'bin', 'setkey'), `--store=${store}`, '-D'], { encoding: 'utf8', env: { ...process.env, ...env } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    return r.stdout;
  };
  const plain = run({ SETKEY_CODE_CACHE: '0' });
  assert.equal(plain, 'No SAD entries.\n');
  const good = readFileSync(`${bundle}.cache`);
  // damaged (V8 itself would crash on it: its own check is the source length alone): refused by ours
  const damaged = Buffer.from(good);
  for (let i = 64; i < damaged.length; i += 97) damaged[i]! ^= 0x5a;
  writeFileSync(`${copy}.cache`, damaged);
  assert.equal(loader.checkedCache(damaged, readFileSync(copy)), undefined);
  assert.equal(run(), plain);
  // cut short
  writeFileSync(`${copy}.cache`, good.subarray(0, good.length >> 1));
  assert.equal(run(), plain);
  // the right cache for other source of the same length (a bundle changed after the build): refused
  const changed = readFileSync(bundle, 'utf8').replace('"No SAD entries"', '"No SAD entrieZ"');
  assert.notEqual(changed, readFileSync(bundle, 'utf8'));
  writeFileSync(copy, changed);
  writeFileSync(`${copy}.cache`, good);
  assert.equal(loader.checkedCache(good, readFileSync(copy)), undefined);
  assert.equal(run(), 'No SAD entrieZ.\n');
});
