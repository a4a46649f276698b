/**
 * A damaged store is never read as success with less than was acknowledged
 * (issue 9): the format tells a torn, unacknowledged last write (dropped)
 * from damage (an error with the offset, and nothing written). Unit cases
 * of the journal rules, the reported repro through setkey, and a fuzzer:
 * random truncations, flipped bytes, overwritten length fields and zeroed
 * ranges on a store of many transactions; every trial either reads exactly
 * the acknowledged prefix that the damage allows, or fails with "damaged at"
 * and leaves every file byte for byte as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Store, StoreError } from '../src/engine/store.js';
import { encodeJournalHeader, encodeTransaction, FormatError, JOURNAL_HEADER, mapSink, replayFrames } from '../src/engine/store-format.js';
import { toMap, type KvReader } from '../src/engine/kv.js';
import { assertCleanFailure, setkey } from './spawn.js';
import { benchStatements } from './helpers.js';

const EXAMPLES = join(process.cwd(), 'examples');

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'setkey-damage-'));
}

const ops = (...kv: [string, string | null][]): { hidden: string[]; map: Map<string, Uint8Array | null> } => ({ hidden: [], map: new Map(kv.map(([k, v]) => [k, v === null ? null : Buffer.from(v)])) });

function replay(frames: Buffer[]): { map: Record<string, string>; end: number; torn: boolean } {
  const buf = Buffer.concat(frames);
  const m = new Map<string, Uint8Array>();
  const r = replayFrames(buf, JOURNAL_HEADER, 0, mapSink(m));
  return { map: Object.fromEntries([...m].map(([k, v]) => [k, Buffer.from(v).toString()])), end: r.end - JOURNAL_HEADER, torn: r.torn };
}

test('journal rules: a transaction counts with its commit marker; a torn tail is dropped; damage throws with its offset', () => {
  const t1 = encodeTransaction(1, ops(['a', '1']));
  // a transaction of several frames (the last one flagged COMMIT)
  const t2 = encodeTransaction(2, ops(['b', 'x'.repeat(100)], ['c', 'y'.repeat(100)], ['a', null]), 64);
  assert.ok(t2.length >= 2);
  const whole = replay([...t1, ...t2]);
  assert.deepEqual(whole.map, { b: 'x'.repeat(100), c: 'y'.repeat(100) });
  assert.equal(whole.torn, false);
  // the COMMIT frame never came: none of the transaction
  const open = replay([...t1, ...t2.slice(0, -1)]);
  assert.deepEqual(open.map, { a: '1' });
  assert.equal(open.torn, true);
  assert.equal(open.end, t1[0]!.length);
  // cut anywhere inside the last frame, or zeros where it should be: torn
  const last = Buffer.concat(t2);
  for (const cut of [1, 27, 28, 40, last.length - 20, last.length - 1]) assert.deepEqual(replay([...t1, last.subarray(0, cut)]).map, { a: '1' }, `cut at ${cut}`);
  assert.deepEqual(replay([...t1, Buffer.alloc(300)]).map, { a: '1' });
  // a frame after an unfinished transaction, a gap in the numbering, a bad header with bytes after it: damage
  const t3 = encodeTransaction(3, ops(['d', '4']));
  assert.throws(() => replay([...t1, t2[0]!, ...t3]), (e: unknown) => e instanceof FormatError && /transaction 3 where 2 was due/.test(e.message));
  assert.throws(() => replay([...t1, ...t3]), (e: unknown) => e instanceof FormatError && e.offset === JOURNAL_HEADER + t1[0]!.length);
  const badLen = Buffer.from(t1[0]!);
  badLen.writeUInt32LE(0x00ffffff, 16);
  assert.throws(() => replay([badLen, ...t2]), /header checksum/);
  // the last frame: a payload flipped while its commit marker is there is damage; a damaged marker is a tear
  const flipped = Buffer.from(t1[0]!);
  flipped[30] = flipped[30]! ^ 1;
  assert.throws(() => replay([flipped]), /checksum does not match its contents/);
  const noMarker = Buffer.from(t1[0]!);
  noMarker[noMarker.length - 3] = noMarker[noMarker.length - 3]! ^ 1;
  assert.deepEqual(replay([noMarker]).map, {});
});

interface Built {
  dir: string;
  files: string[];
  journal: string;
  /** the store's content after each acknowledged transaction, from the table's on */
  states: Record<string, string>[];
  /** the journal's size after each of those transactions */
  sizes: number[];
}

const snapshotOf = (r: KvReader): Record<string, string> => Object.fromEntries([...toMap(r)].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, Buffer.from(v).toString('hex')]));

/** A store with a table and a journal of many transactions of random puts and deletes. */
async function build(seed: number): Promise<Built> {
  const dir = join(tempDir(), 'store');
  const s = await Store.open(dir);
  let rnd = seed;
  const next = (n: number): number => {
    rnd = (Math.imul(rnd, 1103515245) + 12345) & 0x7fffffff;
    return rnd % n;
  };
  const tx = async (): Promise<void> => {
    await s.transact((t) => {
      const n = 1 + next(6);
      for (let i = 0; i < n; i++) {
        const k = `k${next(40)}`;
        if (next(4) === 0) t.delete(k);
        else t.put(k, Buffer.alloc(8 + next(200), next(256)));
      }
    });
  };
  for (let i = 0; i < 12; i++) await tx();
  await s.compactNow();
  const gen = readFileSync(join(dir, 'HEAD'), 'latin1').trim();
  const journal = `journal-${gen}`;
  const states = [snapshotOf(s.read())];
  const sizes = [readFileSync(join(dir, journal)).length];
  for (let i = 0; i < 30; i++) {
    await tx();
    states.push(snapshotOf(s.read()));
    sizes.push(readFileSync(join(dir, journal)).length);
  }
  s.close();
  return { dir, files: readdirSync(dir).filter((f) => !f.startsWith('lock.')), journal, states, sizes };
}

type Damage = { kind: 'truncate'; file: string; at: number } | { kind: 'flip'; file: string; at: number[]; xor: number[] } | { kind: 'length'; file: string; at: number; value: number } | { kind: 'zero'; file: string; from: number; to: number };

function damageArb(b: Built): fc.Arbitrary<Damage> {
  const jlen = b.sizes[b.sizes.length - 1]!;
  const table = b.files.find((f) => f.startsWith('table-'))!;
  const tlen = readFileSync(join(b.dir, table)).length;
  const frameStarts = b.sizes.slice(0, -1);
  return fc.oneof(
    fc.integer({ min: 0, max: jlen - 1 }).map((at): Damage => ({ kind: 'truncate', file: b.journal, at })),
    fc.integer({ min: 0, max: tlen - 1 }).map((at): Damage => ({ kind: 'truncate', file: table, at })),
    fc.array(fc.tuple(fc.integer({ min: 0, max: jlen - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }).map((p): Damage => ({ kind: 'flip', file: b.journal, at: p.map((x) => x[0]), xor: p.map((x) => x[1]) })),
    fc.array(fc.tuple(fc.integer({ min: 0, max: tlen - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 2 }).map((p): Damage => ({ kind: 'flip', file: table, at: p.map((x) => x[0]), xor: p.map((x) => x[1]) })),
    // a frame's length field (16 bytes into its header) overwritten, as in the reported case
    fc.tuple(fc.constantFrom(...frameStarts), fc.oneof(fc.constant(0x00ffffff), fc.integer({ min: 0, max: 0xffffffff }))).map(([start, value]): Damage => ({ kind: 'length', file: b.journal, at: start + 16, value })),
    fc.tuple(fc.integer({ min: 0, max: jlen - 1 }), fc.integer({ min: 1, max: 400 })).map(([from, n]): Damage => ({ kind: 'zero', file: b.journal, from, to: Math.min(jlen, from + n) })),
  );
}

function apply(dir: string, d: Damage): void {
  const p = join(dir, d.file);
  if (d.kind === 'truncate') return truncateSync(p, d.at);
  const b = readFileSync(p);
  if (d.kind === 'flip') d.at.forEach((at, i) => (b[at] = b[at]! ^ d.xor[i]!));
  else if (d.kind === 'length') b.writeUInt32LE(d.value >>> 0, d.at);
  else b.fill(0, d.from, d.to);
  writeFileSync(p, b);
}

/** What a read may give after this damage: the acknowledged prefixes it allows (empty: only an error). */
function allowed(b: Built, d: Damage): number[] {
  const last = b.sizes.length - 1;
  if (d.file !== b.journal) return [];
  const committedBefore = (x: number): number => {
    let k = -1;
    for (let i = 0; i <= last; i++) if (b.sizes[i]! <= x) k = i;
    return k;
  };
  const lastStart = b.sizes[last - 1]!;
  switch (d.kind) {
    case 'truncate': {
      // a cut is indistinguishable from a write that never finished: the prefix before it
      const k = committedBefore(d.at);
      return k < 0 ? [] : [k];
    }
    case 'zero':
      // in the last transaction, as any damage there; to the end of the file from a frame's start,
      // blocks a crash left unwritten (read as a tear); anywhere else damage
      if (d.from >= lastStart) return [last - 1];
      return d.to === b.sizes[last] && d.from >= b.sizes[0]! ? [committedBefore(d.from)] : [];
    case 'flip':
    case 'length':
      // only the last transaction's own bytes can read as a tear (its commit marker damaged)
      return (d.kind === 'flip' ? Math.min(...d.at) : d.at) >= lastStart ? [last - 1] : [];
  }
}

const fileBytes = (dir: string): Record<string, string> => Object.fromEntries(readdirSync(dir).sort().filter((f) => !f.startsWith('lock.')).map((f) => [f, readFileSync(join(dir, f)).toString('hex')]));

test('store damage fuzzer: an acknowledged prefix, or "damaged at" with every file left as it was', async (t) => {
  const built = await build(20261201);
  const trials = Number(process.env['SETKEY_STORE_FUZZ'] ?? 1500);
  const work = tempDir();
  let n = 0;
  const outcome = { prefix: 0, full: 0, damaged: 0 };
  await fc.assert(
    fc.asyncProperty(damageArb(built), async (d) => {
      const dir = join(work, `t${n++}`);
      mkdirSync(dir, { mode: 0o700 });
      for (const f of built.files) copyFileSync(join(built.dir, f), join(dir, f));
      const pristine = fileBytes(dir);
      apply(dir, d);
      const damaged = fileBytes(dir);
      // a "damage" that changed no byte (zeros over zeros) leaves the whole store
      const ok = JSON.stringify(damaged) === JSON.stringify(pristine) ? [built.states.length - 1] : allowed(built, d);
      let s: Store | undefined;
      try {
        s = await Store.open(dir, { create: false });
        const got = snapshotOf(s.read());
        // states are compared by content: two transactions may leave the same state
        const same = (k: number): boolean => JSON.stringify(built.states[k]) === JSON.stringify(got);
        assert.ok(
          ok.some(same),
          `read state ${built.states.findIndex((_, k) => same(k))} after ${JSON.stringify(d)}; allowed: ${JSON.stringify(ok)}`,
        );
        if (same(built.states.length - 1)) outcome.full++;
        else outcome.prefix++;
        // the next writer may cut the torn tail, and then works on top of that prefix
        await s.transact((tx) => tx.put('after', Buffer.from('x')));
        const again = await Store.open(dir, { create: false });
        assert.deepEqual(snapshotOf(again.read()), { ...got, after: '78' });
        again.close();
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assert.ok(e instanceof StoreError, `not a StoreError: ${String(e)}`);
        assert.ok(e.code === 'corrupt' && /is damaged at byte \d+|is missing|does not name/.test(e.message), e.message);
        outcome.damaged++;
        // a writer that reads it is refused as well, and nothing was written (table blocks are checked when read)
        await assert.rejects(async () => {
          const w = await Store.open(dir, { create: false });
          await w.transact((tx) => {
            toMap(tx);
            tx.put('after', Buffer.from('x'));
          });
        }, StoreError);
        assert.deepEqual(fileBytes(dir), damaged, 'a damaged store was written to');
      } finally {
        s?.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: trials, seed: 9 },
  );
  t.diagnostic(`${trials} trials: ${outcome.damaged} damaged (error, untouched), ${outcome.prefix} torn tail dropped (acknowledged prefix), ${outcome.full} read whole`);
  rmSync(work, { recursive: true, force: true });
  rmSync(built.dir, { recursive: true, force: true });
});

test('the reported case: a length field overwritten in the journal of gateway-tunnel.conf is damage, through setkey', async () => {
  const store = join(tempDir(), 'store');
  const r0 = await setkey(['--store', store, '-f', join(EXAMPLES, 'gateway-tunnel.conf')]);
  assert.equal(r0.code, 0, r0.stderr);
  for (const at of [12, JOURNAL_HEADER + 16]) {
    const copy = join(tempDir(), 'store');
    mkdirSync(copy, { mode: 0o700 });
    for (const f of readdirSync(store)) copyFileSync(join(store, f), join(copy, f));
    const p = join(copy, 'journal-0');
    const b = readFileSync(p);
    Buffer.from([0xff, 0xff, 0xff, 0x00]).copy(b, at);
    writeFileSync(p, b);
    const before = fileBytes(copy);
    for (const argv of [['-D'], ['-DP'], ['-F'], ['-f', join(EXAMPLES, '00-host-to-host.conf')]]) {
      const r = await setkey(['--store', copy, ...argv]);
      assert.equal(r.code, 1, `${argv.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, /journal-0 is damaged at byte \d+/);
      assert.doesNotMatch(r.stdout, /No SAD entries/);
      assertCleanFailure(r.stderr);
      assert.deepEqual(fileBytes(copy), before, `${argv.join(' ')} wrote to a damaged store`);
    }
  }
  void encodeJournalHeader;
});

test('a table whose blocks a bulk load placed in any order, damaged anywhere (a byte changed, cut short, a range zeroed): read whole as it was, or "damaged at" with nothing written', async (t) => {
  const work = tempDir();
  try {
    // a file large enough to be loaded as it is checked: its records' blocks placed in the next table (spool.ts)
    const conf = join(work, 'load.conf');
    writeFileSync(conf, benchStatements(2000));
    const built = join(work, 'built');
    const r = await setkey(['--store', built, '-f', conf]);
    assert.equal(r.code, 0, r.stderr);
    const table = readdirSync(built).find((f) => f.startsWith('table-'))!;
    const bytes = readFileSync(join(built, table));
    assert.equal(bytes.subarray(0, 8).toString('latin1'), 'SKTABLE\x03', 'a table of placed blocks');
    const s0 = await Store.open(built, { create: false });
    const whole = snapshotOf(s0.read());
    s0.close();
    let n = 0;
    const outcome = { damaged: 0, whole: 0 };
    const damage = fc.oneof(
      fc.record({ kind: fc.constant('byte' as const), at: fc.nat({ max: bytes.length - 1 }), xor: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat({ max: bytes.length - 1 }) }),
      fc.record({ kind: fc.constant('zero' as const), at: fc.nat({ max: bytes.length - 1 }), len: fc.integer({ min: 1, max: 4096 }) }),
    );
    await fc.assert(
      fc.asyncProperty(damage, async (d) => {
        const dir = join(work, `t${n++}`);
        mkdirSync(dir, { mode: 0o700 });
        for (const f of readdirSync(built).filter((x) => !x.startsWith('lock.'))) copyFileSync(join(built, f), join(dir, f));
        const b = Buffer.from(bytes);
        if (d.kind === 'byte') b[d.at]! ^= d.xor;
        else if (d.kind === 'zero') b.fill(0, d.at, Math.min(b.length, d.at + d.len));
        writeFileSync(join(dir, table), d.kind === 'cut' ? b.subarray(0, d.at) : b);
        const damaged = fileBytes(dir);
        let s: Store | undefined;
        try {
          s = await Store.open(dir, { create: false });
          // every byte of such a table is under a checksum: read at all, it is read as it was
          assert.deepEqual(snapshotOf(s.read()), whole, JSON.stringify(d));
          outcome.whole++;
        } catch (e) {
          if (e instanceof assert.AssertionError) throw e;
          assert.ok(e instanceof StoreError && e.code === 'corrupt' && /is damaged at byte \d+/.test(e.message), `${JSON.stringify(d)}: ${String(e)}`);
          outcome.damaged++;
          assert.deepEqual(fileBytes(dir), damaged, 'a damaged store was written to');
        } finally {
          s?.close();
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: Number(process.env['SETKEY_STORE_FUZZ'] ?? 300) / 3, seed: 12 },
    );
    t.diagnostic(`placed table: ${outcome.damaged} damaged (error, untouched), ${outcome.whole} read whole`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
