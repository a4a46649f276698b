// npm run build, last step: V8's code cache of the bundle, made by running `setkey -D` on a store that does
// not exist (argument parsing, backend choice, the store's reader, the dump printer: what short commands
// use), in a private temporary directory. See bin/bundle.js.
'use strict';
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const dir = mkdtempSync(join(tmpdir(), 'setkey-code-cache-'));
process.on('exit', () => {
  rmSync(dir, { recursive: true, force: true });
  // the cache is an optimisation: whatever happened, the build goes on (setkey then compiles at start)
  if (process.exitCode) process.stderr.write(`setkey build: no code cache (the warm-up run ended with status ${process.exitCode}); setkey starts a little slower\n`);
  process.exitCode = 0;
});
process.argv = [process.argv[0], join(__dirname, 'setkey'), `--store=${join(dir, 'none')}`, '-D'];
require('./bundle.js').makeCache(join(__dirname, '..', 'dist', 'setkey.cjs'));
