// npm run build, last step: V8's code cache of the bundle, made by a short run of setkey (argument parsing,
// backend choice, the parser, the engine and its store, the dump printers), in a private temporary
// directory. See bin/bundle.js.
'use strict';
const { mkdtempSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const dir = mkdtempSync(join(tmpdir(), 'setkey-code-cache-'));
process.on('exit', () => {
  rmSync(dir, { recursive: true, force: true });
  // the cache is an optimisation: whatever happened, the build goes on (setkey then compiles at start)
  if (process.exitCode) process.stderr.write(`setkey build: no code cache (the warm-up run ended with status ${process.exitCode}); setkey starts a little slower\n`);
  process.exitCode = 0;
});
// the warm-up: a short file applied to a new store in the temporary directory, then dumped, so that the
// parser, the engine and the printers are all in the cache (a file of statements is what setkey is mostly given)
const warmup = join(dir, 'warmup.conf');
writeFileSync(
  warmup,
  [
    'add 192.0.2.1 192.0.2.2 esp 0x1000 -m tunnel -u 1 -E aes-cbc 0x00112233445566778899aabbccddeeff -A hmac-sha256 0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff;',
    'add 2001:db8::1 2001:db8::2 ah 0x1001 -A hmac-sha1 0x00112233445566778899aabbccddeeff00112233;',
    'spdadd 10.0.0.0/24 10.0.1.0/24 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;',
    'spdadd 10.0.1.0/24[any] 10.0.0.0/24[80] tcp -P in ipsec esp/transport//use;',
    'dump;',
    'spddump;',
    '',
  ].join('\n'),
);
process.argv = [process.argv[0], join(__dirname, 'setkey'), `--store=${join(dir, 'store')}`, '-f', warmup];
require('./bundle.js').makeCache(join(__dirname, '..', 'dist', 'setkey.cjs'));
