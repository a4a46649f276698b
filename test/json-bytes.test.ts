/**
 * The JSON printer's two results cannot drift apart: the bytes the CLI
 * writes (JsonBytes, JsonDumpWriter) are exactly stringifyJson's text of
 * the objects the library builds (messageJson, dumpJson), latin1-encoded as
 * setkey's output is: for generic values (hostile strings, odd numbers,
 * bigints past 2^64), for every golden dump case, for entries that fail
 * half-way, for times across the whole ISO range, and through the real
 * binary's stdout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { JsonBytes } from '../src/format/json-bytes.js';
import { keyOf, type Json } from '../src/format/json-sink.js';
import { dumpJson, JsonDumpWriter, messageJson, stringifyJson, type JsonOptions, type JsonSa } from '../src/format/json.js';
import { dumpView, type DumpView } from '../src/pfkey/dump-view.js';
import { GOLDEN, JSON_OPTIONS, readBin, runCli, splitWire } from './helpers.js';

const O: JsonOptions = JSON_OPTIONS;

/** What JsonBytes writes for one value, as bytes; small chunks, so that several are sent. */
function bytesOf(write: (w: JsonBytes) => void, chunk = 16): Buffer {
  const parts: Buffer[] = [];
  // the sink must be done with the bytes when it returns: keep a copy
  const w = new JsonBytes((b) => parts.push(Buffer.from(b)), chunk);
  write(w);
  w.flush();
  return Buffer.concat(parts);
}

/** stringifyJson's text as setkey writes it. */
const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

function sameAsStringify(v: Json): void {
  assert.deepEqual(bytesOf((w) => w.value(null, v)), latin1(stringifyJson(v)));
}

const HOSTILE_STRINGS = [
  '',
  'plain',
  'a"b',
  'back\\slash',
  '\u0000\u0001\u0007\b\t\n\u000b\f\r\u001b\u001f',
  '\u007f\u0080\u00a0\u00e9\u00ff',
  // past latin1: written as their low byte, as Buffer's latin1 encoding does
  '\u0100\u0141\u2028\u2029\ufeff\uffff',
  // lone and paired surrogates
  '\ud800',
  '\udfff',
  'x\ud800y',
  '\udc00\ud800',
  '\ud83d\ude00',
  'x'.repeat(70000),
  `${'y'.repeat(40)}"${'z'.repeat(40)}`,
];

const ODD_NUMBERS = [0, -0, 1, 9, 10, 99, 100, 12345, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 2 ** 64, -1, -(2 ** 31), -(2 ** 53), 1.5, -0.25, 1e21, 1e-7, 5e-324, Number.MAX_VALUE, NaN, Infinity, -Infinity];

const ODD_BIGINTS = [0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n + 1n, 2n ** 200n, -1n, -(2n ** 70n)];

test('JsonBytes writes hostile strings as stringifyJson does, and they read back', () => {
  for (const s of HOSTILE_STRINGS) {
    sameAsStringify(s);
    sameAsStringify({ [s]: s });
    // within latin1 the text is JSON that gives the string back
    if (!/[^\u0000-\u00ff]/.test(s)) assert.equal(JSON.parse(bytesOf((w) => w.str(null, s)).toString('latin1')), s);
  }
});

test('JsonBytes writes numbers and bigints as stringifyJson does', () => {
  for (const n of ODD_NUMBERS) sameAsStringify({ n, a: [n] });
  for (const b of ODD_BIGINTS) sameAsStringify({ b, a: [b] });
  // big() also takes a safe integer as a number: the same digits as the bigint
  for (const n of [0, 7, 2 ** 32 + 5, 2 ** 53 - 1]) assert.deepEqual(bytesOf((w) => w.big(null, n)), bytesOf((w) => w.big(null, BigInt(n))));
  assert.equal(bytesOf((w) => w.big(null, 2n ** 64n - 1n)).toString(), '18446744073709551615');
});

test('JsonBytes matches stringifyJson on arbitrary values, bigints included', () => {
  const withBig = fc.letrec<{ v: Json }>((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      fc.jsonValue() as fc.Arbitrary<Json>,
      fc.bigInt(),
      fc.string({ unit: 'binary' }),
      fc.double(),
      fc.array(tie('v'), { maxLength: 4 }),
      fc.dictionary(fc.string({ unit: 'binary' }), tie('v'), { maxKeys: 4 }),
    ),
  })).v;
  fc.assert(fc.property(withBig, sameAsStringify), { numRuns: 2000 });
  fc.assert(fc.property(fc.jsonValue(), (v) => assert.equal(bytesOf((w) => w.value(null, v as Json)).toString('latin1'), JSON.stringify(v, null, 2))));
});

test('JsonBytes: empty containers, nesting, and rewind to a mark', () => {
  sameAsStringify({ a: {}, b: [], c: [{}, [], [[]]], d: { e: { f: null } } });
  const k = keyOf('k');
  const text = bytesOf((w) => {
    w.openArray(null);
    w.num(null, 1);
    w.mark();
    w.open(null);
    w.str(k, 'taken back');
    w.openArray(k);
    w.rewind();
    w.num(null, 2);
    w.closeArray();
  }).toString('latin1');
  assert.equal(text, '[\n  1,\n  2\n]');
});

// ---------------------------------------------------------------- whole dumps

/** The writer's bytes for a sequence of messages. */
function writerBytes(views: readonly DumpView[], o: JsonOptions, extras?: (v: DumpView) => { readonly [k: string]: Json } | undefined): Buffer {
  const parts: Buffer[] = [];
  const w = new JsonDumpWriter(o, (b) => parts.push(Buffer.from(b)), extras);
  for (const v of views) w.push(v);
  w.end();
  return Buffer.concat(parts);
}

function sameDump(views: readonly DumpView[], o: JsonOptions, extras?: (v: DumpView) => { readonly [k: string]: Json } | undefined): void {
  assert.deepEqual(writerBytes(views, o, extras).toString('latin1'), latin1(dumpJson(views, o, extras)).toString('latin1'));
}

const CASES = readdirSync(GOLDEN).filter((d) => /^s[ap]d-/.test(d));
const caseViews = (name: string): DumpView[] => splitWire(readBin(join(GOLDEN, name, 'msg.bin'))).map((m) => dumpView(m, 'linux'));

test('every golden dump: the written bytes are dumpJson text, with and without keys, -a, extras', () => {
  assert.ok(CASES.length > 20);
  const extras = (v: DumpView): { readonly [k: string]: Json } => ({
    replayWindow: v.header.seq,
    esn: true,
    mark: { value: 2n ** 64n - 1n, mask: -0 },
    odd: HOSTILE_STRINGS.slice(0, 12).join('|'),
    nested: [[], {}, [1.5, null, NaN]],
  });
  for (const name of CASES) {
    const views = caseViews(name);
    for (const o of [O, { ...O, showKeys: true }, { ...O, all: true }]) sameDump(views, o);
    sameDump(views, O, extras);
  }
  // many entries at once: the text crosses many chunks
  sameDump(CASES.flatMap(caseViews), { ...O, showKeys: true });
});

test('an empty dump, and one whose every entry is hidden, is the whole empty document', () => {
  sameDump([], O);
  // DEAD SAs: shown only with -a
  const dead = CASES.flatMap(caseViews).filter((v) => messageJson(v, O) === undefined && messageJson(v, { ...O, all: true }) !== undefined);
  assert.ok(dead.length > 0);
  assert.equal(JSON.parse(writerBytes(dead, O).toString()).entries.length, 0);
  sameDump(dead, O);
  sameDump(dead, { ...O, all: true });
});

test('an entry that fails half-way is taken back and reported, as messageJson reports it', () => {
  const views = CASES.filter((n) => n.startsWith('spd-')).flatMap(caseViews);
  // the protocol name is asked for in the middle of a policy entry
  const o: JsonOptions = {
    ...O,
    protoName: () => {
      throw new Error('lookup broke');
    },
  };
  sameDump(views, o);
  const doc = JSON.parse(writerBytes(views, o).toString('latin1'));
  assert.ok(doc.entries.some((e: { code?: string; message?: string }) => e.code === 'internal' && e.message === 'internal error: lookup broke'));
});

// ---------------------------------------------------------------- times

/** The golden SA with a current lifetime, its addtime and usetime set to `t`. */
function saAt(t: bigint): DumpView {
  const m = Buffer.from(splitWire(readBin(join(GOLDEN, 'sad-esp-tunnel-v4', 'msg.bin')))[0]!);
  const v = dumpView(m, 'linux');
  const span = v.span('lifetime_current')!;
  m.writeBigUInt64LE(BigInt.asUintN(64, t), span.offset + 16);
  m.writeBigUInt64LE(BigInt.asUintN(64, t), span.offset + 24);
  return dumpView(m, 'linux');
}

/** The times as the text dump reads them (a signed time_t) and Date writes them; null outside years 1..9999. */
function isoOracle(t: bigint): string | null {
  const s = BigInt.asIntN(64, t);
  if (s === 0n || s < -62135596800n || s > 253402300799n) return null;
  return new Date(Number(s) * 1000).toISOString().replace('.000Z', 'Z');
}

test('created, lastUsed and diff: Date.toISOString and the unsigned difference, over the whole range', () => {
  const edges = [0n, 1n, -1n, 86399n, 86400n, 951782400n, 951868799n, 1700000000n, 1700000100n, 1700000101n, -62135596800n, -62135596801n, 253402300799n, 253402300800n];
  const wide = [2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 63n, -(2n ** 53n), -(2n ** 53n) - 1n, 2n ** 64n - 1n];
  const check = (t: bigint): void => {
    const v = saAt(t);
    const e = messageJson(v, O) as JsonSa;
    const c = e.lifetimes.current!;
    assert.equal(c.created, isoOracle(t), `created ${t}`);
    assert.equal(c.lastUsed, isoOracle(t), `lastUsed ${t}`);
    assert.equal(c.addtime, BigInt.asUintN(64, t));
    const diff = BigInt.asUintN(64, t) === 0n ? 0n : BigInt.asUintN(64, BigInt(O.now) - BigInt.asIntN(64, t));
    assert.equal(c.diff, diff, `diff ${t}`);
    sameDump([v], O);
  };
  for (const t of [...edges, ...wide]) check(t);
  fc.assert(fc.property(fc.bigInt({ min: -62135596900n, max: 253402300900n }), check), { numRuns: 500 });
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), check), { numRuns: 200 });
});

// ---------------------------------------------------------------- the binary

test('setkey --format=json FILE writes the in-process text, byte for byte, through its byte path', async () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const bundle = join(here, '..', 'setkey.cjs');
  const dir = mkdtempSync(join(tmpdir(), 'setkey-json-'));
  const file = join(dir, 'many.bin');
  // enough entries for many output chunks
  const one = Buffer.concat(CASES.filter((n) => n.startsWith('sad-')).map((n) => readBin(join(GOLDEN, n, 'msg.bin'))));
  writeFileSync(file, Buffer.concat(new Array<Buffer>(40).fill(one)));
  const clock = 'data:text/javascript,Date.now=()=>1700000100000';
  for (const args of [['--format=json', file], ['--format=json', '-a', file]]) {
    const r = spawnSync(process.execPath, ['--import', clock, bundle, ...args], { maxBuffer: 1 << 28 });
    assert.equal(r.status, 0, r.stderr.toString());
    const inProcess = await runCli(args);
    assert.ok(r.stdout.length > 1 << 17);
    assert.equal(r.stdout.toString('latin1'), inProcess.stdout);
  }
});
