// npm run test:kernel: runs the kernel test suites (test/kernel-*.test.ts, built
// to dist/test/kernel-*.test.js) with `node --test`, as root in the VM (see
// lib.mjs), and exits with their status. Where the VM cannot run it prints
// "SKIP: <reason>" and exits 0.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { prepare, repoRoot, runInVm, Skip } from './lib.mjs';

const suites = (dir, ext) =>
  fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^kernel-.*\.test\./.test(f) && f.endsWith(ext)).sort() : [];
const distDir = path.join(repoRoot, 'dist/test');
const sources = suites(path.join(repoRoot, 'test'), '.ts');
let built = suites(distDir, '.js');
if (!sources.length && !built.length) {
  console.log('test:kernel: no kernel test suites yet (test/kernel-*.test.ts): nothing to run');
  process.exit(0);
}

try {
  prepare();
  if (!fs.existsSync(path.join(repoRoot, 'dist')) || sources.some((s) => !built.includes(s.replace(/\.ts$/, '.js')))) {
    console.log('test:kernel: building (npx tsc -p tsconfig.json)');
    const b = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: repoRoot, stdio: 'inherit' });
    if (b.status !== 0) process.exit(b.status || 1);
    built = suites(distDir, '.js');
  }
  const files = built.map((f) => `dist/test/${f}`);
  console.log(`test:kernel: ${files.length} suite(s) in the VM: ${files.join(' ')}`);
  const timeout = Number(process.env.SETKEY_VM_TIMEOUT) || 1800;
  process.exitCode = await runInVm(`node --test --test-reporter=spec ${files.join(' ')}`, { cwd: repoRoot, timeout });
} catch (e) {
  if (!(e instanceof Skip)) throw e;
  console.log(`SKIP: ${e.message}`);
}
