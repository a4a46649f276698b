// Loading the one-file build with V8's code cache (CommonJS: bin/package.json).
//
// Compiling the bundle is most of what setkey adds to Node's start-up (and far more under an emulated CPU,
// as in the test VM). `npm run build` runs a short command through this loader and keeps V8's cache of what
// it compiled beside the bundle (dist/setkey.cjs.cache, as trusted as the bundle: same place, same owner;
// never written at run time).
//
// V8 checks a cache only against its own version, its flags and the source's LENGTH, and a damaged cache
// crashes it (a fatal error, not an exception). So the file carries its own check: "SKC2", the CRC-32 of
// the bundle it was made for and that of the cache, both verified before V8 sees it; any mismatch, and the
// bundle is compiled as usual. The CRC is zlib's, in C (Node >= 20.15): the hash in JS it replaced ran once,
// so never compiled: 2.2 ms of each start here, ~0.2 s in the test VM's emulated CPU (0.58 of 4.7 s
// profiled). Where zlib has no crc32 (older Node), that hash is the check ("SKC1").
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname } = require('node:path');
const vm = require('node:vm');

const HEADER = 12;

/** A 32-bit hash of the bytes (word-wise multiply-xor; for damage and staleness, not against an adversary). */
function jsHash32(b) {
  let h = 0x811c9dc5 ^ b.length;
  const words = b.length >>> 2;
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < words; i++) h = Math.imul(h ^ dv.getInt32(i * 4, true), 0x01000193) ^ (h >>> 15);
  for (let i = words * 4; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h >>> 0;
}

// the check of this Node, and its magic ("SKC2" / "SKC1" little-endian): a cache made by one is refused by the other
const { crc32 } = require('node:zlib');
const hash32 = typeof crc32 === 'function' ? (b) => crc32(b) >>> 0 : jsHash32;
const MAGIC = typeof crc32 === 'function' ? 0x32434b53 : 0x31434b53;

/** The bundle at `file` as a vm.Script, with `cachedData` if given (script.cachedDataRejected says whether V8 took it). */
function compile(file, source, cachedData) {
  // the CommonJS module wrapper: the bundle sees what require() would give it; it makes no import() (a
  // vm.Script has no loader for one): its built-ins and koffi come through require
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source.toString('utf8')}\n})`;
  return new vm.Script(wrapped, { filename: file, cachedData });
}

function run(script, file) {
  const module = { exports: {}, filename: file };
  script.runInThisContext().call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
}

/** The cache in `bytes` if it was made for `source` and is whole, else undefined. */
function checkedCache(bytes, source) {
  if (bytes.length <= HEADER) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, HEADER);
  const payload = bytes.subarray(HEADER);
  if (dv.getUint32(0, true) !== MAGIC || dv.getUint32(4, true) !== hash32(source) || dv.getUint32(8, true) !== hash32(payload)) return undefined;
  return payload;
}

/** Run the bundle at `file`, with its code cache when there is a good one. */
function runBundle(file) {
  const source = readFileSync(file);
  let cached;
  try {
    if (process.env.SETKEY_CODE_CACHE !== '0') cached = checkedCache(readFileSync(`${file}.cache`), source);
  } catch {
    // no cache: compiled as usual
  }
  run(compile(file, source, cached), file);
}

/** Run the bundle (argv as given) and write its checked V8 cache to `${file}.cache` when it exits. */
function makeCache(file) {
  const source = readFileSync(file);
  const script = compile(file, source, undefined);
  process.once('exit', () => {
    const payload = script.createCachedData();
    const head = Buffer.alloc(HEADER);
    head.writeUInt32LE(MAGIC, 0);
    head.writeUInt32LE(hash32(source), 4);
    head.writeUInt32LE(hash32(payload), 8);
    writeFileSync(`${file}.cache`, Buffer.concat([head, payload]));
  });
  run(script, file);
}

module.exports = { runBundle, makeCache, compile, checkedCache };
