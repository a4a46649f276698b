/**
 * File mode prints every golden dump case exactly as the reference did:
 * out-D.txt (setkey msg.bin), out-Dp.txt (-p), out-Da.txt (-a), out-Dl.txt (-l),
 * at the reference run's frozen clock (1700000100) in UTC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { GOLDEN, read, readBin, runCli } from './helpers.js';
import { readdirSync } from 'node:fs';

const VARIANTS: Record<string, string[]> = { 'out-D.txt': [], 'out-Dp.txt': ['-p'], 'out-Da.txt': ['-a'], 'out-Dl.txt': ['-l'] };
// `%lo` in that case comes from the reference machine's interface 1 (ours: the test database's lo = 1)
const cases = readdirSync(GOLDEN).filter((d) => /^s[ap]d-/.test(d)).map((d) => join(GOLDEN, d));

for (const dir of cases) {
  for (const [file, flags] of Object.entries(VARIANTS)) {
    if (!existsSync(join(dir, file))) continue;
    test(`golden dump ${basename(dir)} ${file}`, async () => {
      const bin = readBin(join(dir, 'msg.bin'));
      const r = await runCli([...flags, 'msg.bin'], { files: { 'msg.bin': Buffer.from(bin).toString('latin1') } });
      assert.equal(r.stderr, '');
      assert.equal(r.code, 0);
      assert.equal(r.stdout, read(join(dir, file)));
    });
  }
}

test('file mode: short file, missing file, -D with a file still reads the file', async () => {
  const short = await runCli(['short.bin'], { files: { 'short.bin': 'abc' } });
  assert.deepEqual([short.code, short.stderr], [1, 'setkey: short.bin: Invalid argument\n']);
  const missing = await runCli(['/nonexistent/x.bin']);
  assert.deepEqual([missing.code, missing.stderr], [1, 'setkey: /nonexistent/x.bin: No such file or directory\n']);
  const dir = join(GOLDEN, 'cli', 'file-and-D');
  const r = await runCli(['-D', 'msg.bin'], { files: { 'msg.bin': Buffer.from(readBin(join(dir, 'msg.bin'))).toString('latin1') } });
  assert.equal(r.stdout, read(join(dir, 'stdout')));
});

test('file mode: a message of length 0, or running past the file, is reported, not looped on', async () => {
  const zero = Buffer.alloc(32);
  zero[0] = 2;
  zero[1] = 10;
  const r = await runCli(['z.bin'], { files: { 'z.bin': zero.toString('latin1') } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /z\.bin: byte 0: message length 0 is shorter than its header/);
  const past = Buffer.alloc(16);
  past[0] = 2;
  past[4] = 9;
  const p = await runCli(['p.bin'], { files: { 'p.bin': past.toString('latin1') } });
  assert.equal(p.code, 1);
  assert.match(p.stderr, /runs past the end/);
});
