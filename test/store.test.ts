/**
 * The embedded engine's store: durable, all-or-nothing transactions, no lost
 * updates between processes, owner-only files, clear errors for damaged or
 * foreign directories (which are never written to).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store, StoreError } from '../src/engine/store.js';
import { toMap } from '../src/engine/kv.js';
import { crc32, encodeTable, TABLE_MAGIC } from '../src/engine/store-format.js';
import fc from 'fast-check';

const here = dirname(fileURLToPath(import.meta.url));
const WRITER = join(here, '..', '..', 'test', 'fixtures', 'store-writer.mjs');

function tempStore(): string {
  return join(mkdtempSync(join(tmpdir(), 'setkey-store-')), 'store');
}

const text = (b: Uint8Array | undefined): string | undefined => (b ? Buffer.from(b).toString() : undefined);

test('transactions commit, survive reopening, and roll back when they throw', async () => {
  const dir = tempStore();
  const s = await Store.open(dir);
  await s.transact((tx) => {
    tx.put('a', Buffer.from('1'));
    tx.put('b', Buffer.from('2'));
  });
  await assert.rejects(
    s.transact((tx) => {
      tx.put('c', Buffer.from('3'));
      throw new Error('no');
    }),
  );
  await s.transact((tx) => tx.delete('a'));
  const again = await Store.open(dir);
  const m = toMap(again.read());
  assert.deepEqual([...m.keys()].sort(), ['b']);
  assert.equal(text(m.get('b')), '2');
});

test('files are owner-only and the directory is 0700', async () => {
  const dir = tempStore();
  const s = await Store.open(dir);
  await s.transact((tx) => {
    tx.put('k', Buffer.from('secret'));
    // while a writer holds it, its lock socket too
    const socks = readdirSync(dir).filter((f) => f.endsWith('.sock'));
    assert.equal(socks.length, 1);
    for (const f of socks) assert.equal(statSync(join(dir, f)).mode & 0o077, 0, f);
  });
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  for (const f of readdirSync(dir)) assert.equal(statSync(join(dir, f)).mode & 0o077, 0, f);
  chmodSync(dir, 0o755);
  await assert.rejects(Store.open(dir), (e: unknown) => e instanceof StoreError && e.code === 'perm');
});

test('a damaged or foreign directory is a clear error and is left untouched', async () => {
  const foreign = join(mkdtempSync(join(tmpdir(), 'setkey-foreign-')), 'x');
  mkdirSync(foreign, { mode: 0o700 });
  writeFileSync(join(foreign, 'notes.txt'), 'mine');
  await assert.rejects(Store.open(foreign), (e: unknown) => e instanceof StoreError && e.code === 'foreign');
  assert.deepEqual(readdirSync(foreign), ['notes.txt']);

  const dir = tempStore();
  const s = await Store.open(dir);
  await s.transact((tx) => tx.put('k', Buffer.from('v')));
  const snap = readdirSync(dir).find((f) => f.startsWith('table-'))!;
  const bytes = readFileSync(join(dir, snap));
  bytes[bytes.length - 8] = bytes[bytes.length - 8]! ^ 0xff;
  writeFileSync(join(dir, snap), bytes);
  const before = readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('hex')]);
  await assert.rejects(Store.open(dir), (e: unknown) => e instanceof StoreError && e.code === 'corrupt' && /damaged/.test(e.message));
  assert.deepEqual(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('hex')]), before);

  writeFileSync(join(dir, 'FORMAT'), JSON.stringify({ format: 'setkey-store', version: 99 }));
  await assert.rejects(Store.open(dir), (e: unknown) => e instanceof StoreError && e.code === 'version');
});

test('a torn record at the end of the journal is not part of the store, and is cut by the next writer', async () => {
  const dir = tempStore();
  const s = await Store.open(dir);
  await s.transact((tx) => tx.put('a', Buffer.from('1')));
  const journal = join(dir, readdirSync(dir).find((f) => f.startsWith('journal-'))!);
  // the start of a frame (its magic, 'SKF2', and a few header bytes), as a writer killed mid-write leaves it
  appendFileSync(journal, Buffer.from([0x53, 0x4b, 0x46, 0x32, 0xff, 0, 0, 0, 1, 2]));
  const r = await Store.open(dir);
  assert.deepEqual([...toMap(r.read()).keys()], ['a']);
  await r.transact((tx) => tx.put('b', Buffer.from('2')));
  assert.deepEqual([...toMap((await Store.open(dir)).read()).keys()].sort(), ['a', 'b']);
});

test('8 processes incrementing one counter lose no update', async () => {
  const dir = tempStore();
  await Store.open(dir);
  const runs = Array.from({ length: 8 }, () => new Promise<number>((resolve) => spawn(process.execPath, [WRITER, dir, 'inc', 'n', '25'], { stdio: 'inherit' }).on('exit', (c) => resolve(c ?? 1))));
  assert.deepEqual(await Promise.all(runs), [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(text(toMap((await Store.open(dir)).read()).get('n')), '200');
});

test('kill -9 during a large transaction leaves all of it or none of it', async () => {
  const dir = tempStore();
  await Store.open(dir);
  const seen = new Set<string>();
  for (let round = 0; round < 6; round++) {
    const tag = `t${round}`;
    const child = spawn(process.execPath, [WRITER, dir, 'big', tag, '60000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((r) => child.on('exit', r));
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const delay = 40 + Math.floor(Math.random() * 400);
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    await exited;
    const m = toMap((await Store.open(dir)).read());
    const n = [...m.keys()].filter((k) => k.startsWith(`${tag}:`)).length;
    assert.ok(n === 0 || n === 60000, `round ${round} (killed after ${delay} ms): ${n} of 60000 entries`);
    if (out.includes('committed')) assert.equal(n, 60000, 'an acknowledged transaction was lost');
    seen.add(n === 0 ? 'none' : 'all');
    process.stdout.write(`# round ${round}: killed after ${delay} ms, ${n === 0 ? 'none' : 'all'} of it\n`);
    // the next writer works on top of whatever the killed one left
    const s = await Store.open(dir);
    await s.transact((tx) => tx.put(`after${round}`, Buffer.from('x')));
  }
  const final = toMap((await Store.open(dir)).read());
  for (let round = 0; round < 6; round++) assert.ok(final.has(`after${round}`));
  void seen;
});

test('the journal is folded into a new table once it is a fair part of it; adding one entry rewrites nothing', async () => {
  const dir = tempStore();
  const s = await Store.open(dir);
  const value = Buffer.alloc(200, 1);
  // a large transaction (12 MB) into an empty store: folded into table-1 at once, an empty journal after it
  await s.transact((tx) => {
    for (let i = 0; i < 60000; i++) tx.put(`k${i}`, value);
  });
  assert.equal(readFileSync(join(dir, 'HEAD'), 'latin1').trim(), '1');
  assert.ok(!readdirSync(dir).includes('journal-0'), 'the old generation is removed');
  const table = statSync(join(dir, 'table-1'));
  const journalBefore = statSync(join(dir, 'journal-1')).size;
  for (let i = 0; i < 10; i++) await s.transact((tx) => tx.put(`one-more${i}`, value));
  // adding one entry appends one small record, and the table is not rewritten
  assert.ok(statSync(join(dir, 'journal-1')).size - journalBefore < 10 * 400);
  assert.equal(statSync(join(dir, 'table-1')).mtimeMs, table.mtimeMs);
  // overwriting everything makes the journal a fair part of the table: folded again
  await s.transact((tx) => {
    for (let i = 0; i < 60000; i++) tx.put(`k${i}`, Buffer.alloc(200, 3));
  });
  const gen = readFileSync(join(dir, 'HEAD'), 'latin1').trim();
  assert.equal(gen, '2');
  const m = toMap((await Store.open(dir)).read());
  assert.equal(m.size, 60010);
  assert.equal(m.get('k5')![0], 3);
  void spawnSync;
});

/** Version 1 files, as setkey 0.1 wrote them (the format is in src/engine/store-format-v1.ts). */
function v1Store(dir: string, inSnapshot: [string, Uint8Array][], inJournal: [string, Uint8Array][]): void {
  const entry = (k: string, v: Uint8Array): Buffer => {
    const b = Buffer.alloc(8 + k.length + v.length);
    b.writeUInt32LE(k.length, 0);
    b.write(k, 4, 'latin1');
    b.writeUInt32LE(v.length, 4 + k.length);
    b.set(v, 8 + k.length);
    return b;
  };
  const count = Buffer.alloc(4);
  count.writeUInt32LE(inSnapshot.length);
  const body = Buffer.concat([Buffer.from('SKSNAP\x00\x01', 'latin1'), count, ...inSnapshot.map(([k, v]) => entry(k, v))]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(body));
  const nops = Buffer.alloc(4);
  nops.writeUInt32LE(inJournal.length);
  const payload = Buffer.concat([nops, ...inJournal.map(([k, v]) => Buffer.concat([Buffer.from([1]), entry(k, v)]))]);
  const rec = Buffer.alloc(12);
  rec.writeUInt32LE(0x314a4b53, 0);
  rec.writeUInt32LE(payload.length, 4);
  rec.writeUInt32LE(crc32(payload), 8);
  mkdirSync(dir, { mode: 0o700 });
  const put = (name: string, data: Uint8Array | string): void => writeFileSync(join(dir, name), data, { mode: 0o600 });
  put('snapshot-3', Buffer.concat([body, crc]));
  put('journal-3', Buffer.concat([Buffer.from('SKJRNL\x00\x01', 'latin1'), rec, payload]));
  put('CURRENT', '3\n');
  put('FORMAT', JSON.stringify({ format: 'setkey-store', version: 1 }) + '\n');
}

test('a version 1 store is read as it is (dumps write nothing), and its first writer migrates it to version 2 with nothing lost', async () => {
  const base = mkdtempSync(join(tmpdir(), 'setkey-v1-'));
  const v2 = join(base, 'v2');
  const conf = readFileSync(join(here, '..', '..', 'examples', 'gateway-tunnel.conf'), 'latin1');
  const { runCli } = await import('./helpers.js');
  assert.equal((await runCli(['--store', v2, '-f', 'g.conf'], { files: { 'g.conf': conf } })).code, 0);
  const s = await Store.open(v2);
  const all = [...toMap(s.read())];
  s.close();
  const v1 = join(base, 'v1');
  v1Store(v1, all.slice(0, Math.floor(all.length / 2)), all.slice(Math.floor(all.length / 2)));
  const files = (): string[] => readdirSync(v1).sort();
  // a reader of the library reads version 1 as it is, and writes nothing
  const r = await Store.open(v1);
  assert.deepEqual([...toMap(r.read())].map(([k, v]) => [k, Buffer.from(v).toString('hex')]).sort(), all.map(([k, v]) => [k, Buffer.from(v).toString('hex')]).sort());
  r.close();
  assert.deepEqual(files(), ['CURRENT', 'FORMAT', 'journal-3', 'snapshot-3']);
  // setkey's dumps read it as it is (they take no lock and write nothing)
  const dumps = async (store: string): Promise<string> => (await runCli(['--store', store, '-D'])).stdout + (await runCli(['--store', store, '-DP'])).stdout;
  const expected = await dumps(v2);
  assert.equal(await dumps(v1), expected);
  assert.deepEqual(files(), ['CURRENT', 'FORMAT', 'journal-3', 'snapshot-3']);
  // its first writer migrates it; nothing changes for the user
  assert.equal((await runCli(['--store', v1, '-f', 'x.conf'], { files: { 'x.conf': 'add 10.9.9.1 10.9.9.2 esp 0x9999 -E null;\n' } })).code, 0);
  assert.deepEqual(files(), ['FORMAT', 'HEAD', 'journal-4', 'table-4']);
  assert.match(readFileSync(join(v1, 'FORMAT'), 'latin1'), /"version":2/);
  assert.equal((await runCli(['--store', v1, '-DP'])).stdout, (await runCli(['--store', v2, '-DP'])).stdout);
  const sas = async (store: string): Promise<number> => ((await runCli(['--store', store, '-D'])).stdout.match(/^\tesp mode=/gm) ?? []).length;
  assert.equal(await sas(v1), (await sas(v2)) + 1);
  rmSync(base, { recursive: true, force: true });
});

/** A put, a deletion or a prefix deletion done to a transaction and to its Map model alike; false for any other op. */
function changeBoth(tx: { put(k: string, v: Uint8Array): void; delete(k: string): void; deletePrefix(p: string): void }, model: Map<string, number>, key: (k: number) => string, o: { kind: string; k?: number; v?: number; p?: string }): boolean {
  if (o.kind === 'put') {
    tx.put(key(o.k!), Uint8Array.of(o.v!));
    model.set(key(o.k!), o.v!);
  } else if (o.kind === 'del') {
    tx.delete(key(o.k!));
    model.delete(key(o.k!));
  } else if (o.kind === 'prefix') {
    tx.deletePrefix(o.p!);
    for (const k of [...model.keys()]) if (k.startsWith(o.p!)) model.delete(k);
  } else return false;
  return true;
}

test('property: a transaction put aside in runs (a tiny spill size) reads and commits exactly as one held in memory', async () => {
  const fc = (await import('fast-check')).default;
  const op = fc.oneof(
    fc.record({ k: fc.integer({ min: 0, max: 60 }), v: fc.integer({ min: 0, max: 255 }), kind: fc.constant('put' as const) }),
    fc.record({ k: fc.integer({ min: 0, max: 60 }), kind: fc.constant('del' as const) }),
    fc.record({ p: fc.constantFrom('a/', 'b/', 'a/1'), kind: fc.constant('prefix' as const) }),
    fc.record({ kind: fc.constant('check' as const) }),
  );
  const key = (k: number): string => `${k % 2 ? 'a' : 'b'}/${k}`;
  let spilled = 0;
  let merged = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 30 }), fc.array(fc.array(op, { minLength: 2, maxLength: 12 }), { minLength: 10, maxLength: 40 }), async (before, requests) => {
      const dir = tempStore();
      const s = await Store.open(dir, { spillBytes: 100 });
      const model = new Map<string, number>();
      await s.transact((tx) => {
        for (const k of before) {
          tx.put(key(k), Uint8Array.of(k));
          model.set(key(k), k);
        }
      });
      const seen = (tx: { scan(p: string, r?: boolean): Iterable<[string, Uint8Array]> }, p: string, r = false): string => JSON.stringify([...tx.scan(p, r)].map(([k, v]) => [k, v[0]]));
      const want = (p: string, r = false): string => {
        const e = [...model].filter(([k]) => k.startsWith(p)).sort(([a], [b]) => (a < b ? -1 : 1));
        return JSON.stringify(r ? e.reverse() : e);
      };
      await s.transact((tx) => {
        for (const req of requests) {
          // a request starts with a checkpoint: that is where a transaction is put aside
          tx.checkpoint();
          for (const o of req) {
            if (!changeBoth(tx, model, key, o)) {
              assert.equal(seen(tx, ''), want(''));
              assert.equal(seen(tx, 'a/', true), want('a/', true));
              for (let k = 0; k <= 60; k++) assert.equal(tx.get(key(k))?.[0], model.get(key(k)));
            }
          }
        }
        assert.equal(seen(tx, ''), want(''));
        spilled += tx.runs.length;
        merged += tx.runs.filter((r) => r.level > 0).length;
      });
      // committed whole, and no run left behind
      const again = await Store.open(dir);
      assert.equal(seen(again.read(), ''), want(''));
      assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.run-')), []);
      again.close();
      s.close();
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }),
    { numRuns: 60 },
  );
  assert.ok(spilled > 20, `the transactions were put aside ${spilled} times`);
  assert.ok(merged > 0, 'runs were merged into the next level');
});

test('property: a merge on bytes (raw-merge.ts) hands out what the merge of strings (merge.ts) does, keys of any latin1 byte included', async () => {
  const { openSync } = await import('node:fs');
  const { Changes } = await import('../src/engine/kv.js');
  const { mergeLayers } = await import('../src/engine/merge.js');
  const { ChangesCursor, TableCursor, mergeRaw } = await import('../src/engine/raw-merge.js');
  const { TableReader } = await import('../src/engine/table-reader.js');
  const dir = tempStore();
  mkdirSync(dir, { recursive: true });
  // keys over a few characters on both sides of 0x80, prefixes of one another included
  const key = fc.string({ unit: fc.constantFrom('a', 'b', '/', '\x7f', '\x80', '\xe9', '\xff'), minLength: 1, maxLength: 6 });
  const op = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(fc.constant('put' as const), key, fc.integer({ min: 0, max: 255 })) },
    { weight: 2, arbitrary: fc.tuple(fc.constant('del' as const), key, fc.constant(0)) },
    { weight: 1, arbitrary: fc.tuple(fc.constant('prefix' as const), key, fc.constant(0)) },
  );
  let n = 0;
  fc.assert(
    fc.property(fc.array(fc.array(op, { maxLength: 30 }), { minLength: 1, maxLength: 5 }), fc.array(fc.tuple(key, fc.integer({ min: 0, max: 255 })), { maxLength: 40 }), (layerOps, tableEntries) => {
      // newest first, as both merges take them
      const layers = layerOps.map((ops) => {
        const c = new Changes();
        for (const [kind, k, v] of ops) {
          if (kind === 'put') c.put(k, Uint8Array.of(v, v ^ 0x55));
          else if (kind === 'del') c.del(k);
          else c.delPrefix(k);
        }
        return c;
      });
      const table = new Map(tableEntries.map(([k, v]) => [k, Uint8Array.of(v)] as const));
      const file = join(dir, `t${n++}`);
      writeFileSync(file, encodeTable(table, 1, 0));
      const reader = new TableReader(openSync(file, 'r'));
      try {
        const tableLayer = { hidden: [] as string[], own: (k: string) => table.get(k), *ownScan() { yield* [...table].sort(([a], [b]) => (a < b ? -1 : 1)); } };
        const want = [...mergeLayers([...layers, tableLayer], '', false)].map(([k, v]) => [k, v ? [...v] : null]);
        const got: [string, number[] | null][] = [];
        const cursors = [...layers.map((c) => ({ cursor: new ChangesCursor(c), hidden: c.hidden })), { cursor: new TableCursor(reader, false), hidden: [] }];
        mergeRaw(cursors, (c) => got.push([Buffer.from(c.kb.subarray(c.ks, c.ks + c.kl)).toString('latin1'), c.del ? null : [...c.vb.subarray(c.vs, c.vs + c.vl)]]));
        assert.deepEqual(got, want);
      } finally {
        reader.close();
      }
    }),
    { numRuns: 300 },
  );
  rmSync(join(dir, '..'), { recursive: true, force: true });
});

test("property: a bulk load's IPv4 keys (saKeyV4, policyKeyV4) are the generic keys' text", async () => {
  const { saKey, saKeyV4, policyKey, policyKeyV4 } = await import('../src/engine/records.js');
  const v4 = (n: number) => ({ family: 4, bytes: Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff), scopeId: 0, flowInfo: 0 }) as never;
  const u32 = fc.nat({ max: 0xffffffff });
  const small = fc.oneof(fc.nat({ max: 12 }), fc.nat({ max: 255 }), fc.nat({ max: 65535 }), fc.nat({ max: 0x7fffffff }));
  fc.assert(
    fc.property(small, u32, u32, (satype, dst, spi) => {
      assert.equal(saKeyV4(satype, dst, spi), saKey(satype, v4(dst), spi));
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.tuple(small, u32, small, u32, small, small, small, small), ([dir, src, sprefix, dst, dprefix, proto, sport, dport]) => {
      const sel = { family: 4, src: v4(src) as unknown as { bytes: Uint8Array }, dst: v4(dst) as unknown as { bytes: Uint8Array }, sprefix, dprefix, proto, sport, dport };
      assert.equal(policyKeyV4(dir, src, sprefix, dst, dprefix, proto, sport, dport), policyKey(dir, { ...sel, src: sel.src.bytes, dst: sel.dst.bytes }, undefined));
    }),
    { numRuns: 1000 },
  );
});

test('property: a numbered key\'s hex digits (writeHexDigits) are the number\'s, fixed width, so key order is the numbers\' order', async () => {
  const { hexDigits } = await import('../src/engine/store-format.js');
  fc.assert(
    fc.property(fc.oneof(fc.nat({ max: 0xffffffff }).map((n) => [n, 8] as const), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }).map((n) => [n, 16] as const)), fc.nat({ max: 0xffffffff }), ([n, digits], m) => {
      assert.equal(hexDigits(n, digits), n.toString(16).padStart(digits, '0'));
      const other = digits === 8 ? m : m * 0x200000 + (n % 0x200000);
      assert.equal(hexDigits(n, digits) < hexDigits(other, digits), n < other);
    }),
    { numRuns: 2000 },
  );
});

test('property: blocks placed in one file by writers of blocks only, interleaved, then linked between entries, make a table read as the one written all at once', async () => {
  const { openSync } = await import('node:fs');
  const { TableWriter, TABLE_MAGIC_PLACED } = await import('../src/engine/store-format.js');
  const { TableReader } = await import('../src/engine/table-reader.js');
  const dir = tempStore();
  mkdirSync(dir, { recursive: true });
  let n = 0;
  // sorted distinct keys cut into ranges, each written directly or ahead (values of any size: blocks of one entry, of many)
  const entries = fc.uniqueArray(fc.tuple(fc.string({ unit: fc.constantFrom('a', 'b', 'c', '/', '\xe9'), minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 70000 })), { selector: ([k]) => k, maxLength: 60 });
  fc.assert(
    fc.property(entries, fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 6 }), fc.nat(), (list, ahead, cuts, seed) => {
      const sorted = list.sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, size]) => [k, new Uint8Array(size % 3 === 0 ? size : size % 97).fill(k.length)] as const);
      const bounds = [...new Set(cuts.map((c) => (sorted.length ? c % (sorted.length + 1) : 0)))].sort((a, b) => a - b);
      const ranges: (readonly (readonly [string, Uint8Array])[])[] = [];
      let at = 0;
      for (const b of [...bounds, sorted.length]) {
        ranges.push(sorted.slice(at, b));
        at = b;
      }
      // one file: the magic, then each block where it is placed
      const file = Buffer.alloc(8 << 20);
      TABLE_MAGIC_PLACED.copy(file, 0);
      let end = TABLE_MAGIC_PLACED.length;
      const place = (length: number): number => ((end += length), end - length);
      const sink = (b: Buffer, where: number): void => void b.copy(file, where);
      // the ranges written ahead: their entries put in turns (their blocks interleave in the file), by `seed`
      const spools = ranges.map((r, i) => (ahead[i % ahead.length] ? { r, w: new TableWriter(sink, { keeps: false, blocksOnly: true, place }), next: 0 } : undefined));
      let live = spools.filter((x) => x !== undefined && x.r.length > 0);
      for (let k = seed; live.length > 0; k = (k * 31 + 7) % 1000003) {
        const x = live[k % live.length]!;
        x.w.add(x.r[x.next]![0], x.r[x.next]![1]);
        if (++x.next === x.r.length) live = live.filter((y) => y !== x);
      }
      const w = new TableWriter(sink, { keeps: false, place });
      ranges.forEach((r, i) => {
        const spool = spools[i];
        if (spool) w.linkBlocks(spool.w);
        else for (const [k, v] of r) w.add(k, v);
      });
      const size = w.finish(3, 4);
      const path = join(dir, `t${n++}`);
      writeFileSync(path, file.subarray(0, size));
      const reader = new TableReader(openSync(path, 'r'));
      try {
        assert.deepEqual([...reader.scan('')].map(([k, v]) => [k, v.length]), sorted.map(([k, v]) => [k, v.length]));
        assert.equal(reader.entries, sorted.length);
      } finally {
        reader.close();
      }
      // a range ahead that does not come after what was written is refused
      if (sorted.length >= 2) {
        const w2 = new TableWriter(() => undefined, { place });
        w2.add(sorted[1]![0], sorted[1]![1]);
        const s = new TableWriter(() => undefined, { blocksOnly: true, place });
        s.add(sorted[0]![0], sorted[0]![1]);
        assert.throws(() => w2.linkBlocks(s), /out of order/);
      }
    }),
    { numRuns: 200 },
  );
  rmSync(join(dir, '..'), { recursive: true, force: true });
});

test('a table whose blocks are placed in any order is refused where they overlap or leave bytes outside them', async () => {
  const { openSync } = await import('node:fs');
  const { TableWriter, TABLE_MAGIC_PLACED } = await import('../src/engine/store-format.js');
  const { TableReader } = await import('../src/engine/table-reader.js');
  const dir = tempStore();
  mkdirSync(dir, { recursive: true });
  // two writers' blocks interleaved, then the table's own
  const make = (gap: number, overlap: number): Buffer => {
    const file = Buffer.alloc(1 << 20);
    TABLE_MAGIC_PLACED.copy(file, 0);
    let end = TABLE_MAGIC_PLACED.length;
    let blocks = 0;
    const place = (length: number): number => {
      // the second block placed `gap` bytes further, or `overlap` bytes back over the first
      const at = ++blocks === 2 ? end + gap - overlap : end;
      end = at + length;
      return at;
    };
    const sink = (b: Buffer, at: number): void => void b.copy(file, at);
    const a = new TableWriter(sink, { keeps: false, blocksOnly: true, place });
    const b = new TableWriter(sink, { keeps: false, blocksOnly: true, place });
    for (let i = 0; i < 3; i++) {
      a.add(`a${i}`, new Uint8Array(40000).fill(i));
      b.add(`b${i}`, new Uint8Array(40000).fill(i));
    }
    const w = new TableWriter(sink, { keeps: false, place });
    w.linkBlocks(a);
    w.linkBlocks(b);
    w.add('c', new Uint8Array(3));
    return file.subarray(0, w.finish(1, 1));
  };
  const read = (t: Buffer): string[] => {
    const path = join(dir, 'x');
    writeFileSync(path, t);
    const r = new TableReader(openSync(path, 'r'));
    try {
      return [...r.scan('')].map(([k]) => k);
    } finally {
      r.close();
    }
  };
  try {
    assert.deepEqual(read(make(0, 0)), ['a0', 'a1', 'a2', 'b0', 'b1', 'b2', 'c']);
    assert.throws(() => read(make(16, 0)), /bytes outside its blocks/);
    assert.throws(() => read(make(0, 16)), /overlap/);
  } finally {
    rmSync(join(dir, '..'), { recursive: true, force: true });
  }
});

test('property: a table is laid out as store-format.ts documents it: blocks of entries in key order, each with its crc, any entry size', () => {
  const entry = fc.tuple(fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 40 }), fc.uint8Array({ maxLength: 600 }));
  // now and then a key or a value larger than a 64 KiB block
  const big = fc.tuple(fc.string({ minLength: 70000, maxLength: 70001 }), fc.uint8Array({ minLength: 70000, maxLength: 70001 }));
  fc.assert(
    fc.property(fc.array(fc.oneof({ weight: 50, arbitrary: entry }, { weight: 1, arbitrary: big }), { maxLength: 400 }), (list) => {
      const want = new Map(list.map(([k, v]) => [k, v] as const));
      const t = encodeTable(want, 5, 11);
      assert.deepEqual(t.subarray(0, 8), TABLE_MAGIC);
      const dv = new DataView(t.buffer, t.byteOffset, t.byteLength);
      // the footer says where the index is; the index says where each block is
      const idxOff = Number(dv.getBigUint64(t.length - 48 + 32, true));
      assert.equal(Number(dv.getBigUint64(t.length - 48 + 24, true)), want.size, 'entries in the footer');
      const got: [string, Uint8Array][] = [];
      let at = 8;
      while (at < idxOff) {
        const count = dv.getUint32(at, true);
        let o = at + 4;
        for (let i = 0; i < count; i++) {
          const klen = dv.getUint32(o, true);
          const key = t.subarray(o + 4, o + 4 + klen).toString('latin1');
          const vlen = dv.getUint32(o + 4 + klen, true);
          got.push([key, new Uint8Array(t.subarray(o + 8 + klen, o + 8 + klen + vlen))]);
          o += 8 + klen + vlen;
        }
        assert.equal(dv.getUint32(o, true), crc32(t.subarray(at, o)), `crc of the block at ${at}`);
        // a block is cut once it reaches 64 KiB: only its last entry goes past
        assert.ok(count === 1 || o - at - (8 + (got.at(-1)![0].length + got.at(-1)![1].length)) < 64 << 10, `block at ${at} too long`);
        at = o + 4;
      }
      assert.equal(at, idxOff, 'the blocks end where the index begins');
      const sorted = [...want].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      assert.deepEqual(got, sorted);
    }),
    { numRuns: 60 },
  );
});

test('property: reads inside a transaction follow its puts, deletions and undos, a key asked for again and again included', async () => {
  // the transaction remembers keys it found absent (store.ts Tx.get): a put, a prefix deletion and an undo must all be seen
  const op = fc.oneof(
    fc.record({ kind: fc.constant('put' as const), k: fc.integer({ min: 0, max: 9 }), v: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('del' as const), k: fc.integer({ min: 0, max: 9 }) }),
    fc.record({ kind: fc.constant('prefix' as const), p: fc.constantFrom('a/', 'b/') }),
    fc.record({ kind: fc.constant('get' as const), k: fc.integer({ min: 0, max: 9 }) }),
    fc.record({ kind: fc.constant('undo' as const) }),
  );
  const key = (k: number): string => `${k % 2 ? 'a' : 'b'}/${k}`;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 6 }), fc.array(fc.array(op, { minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 30 }), fc.boolean(), async (before, requests, spills) => {
      const dir = tempStore();
      const s = await Store.open(dir, spills ? { spillBytes: 50 } : {});
      let model = new Map<string, number>();
      await s.transact((tx) => {
        for (const k of before) {
          tx.put(key(k), Uint8Array.of(k));
          model.set(key(k), k);
        }
      });
      await s.transact((tx) => {
        for (const req of requests) {
          tx.checkpoint();
          const atCheckpoint = new Map(model);
          for (const o of req) {
            if (!changeBoth(tx, model, key, o) && o.kind === 'undo') {
              tx.restore();
              model = new Map(atCheckpoint);
            }
            // every key, after every step: the absent ones twice
            for (let k = 0; k <= 9; k++) {
              assert.equal(tx.get(key(k))?.[0], model.get(key(k)), `${key(k)} after ${o.kind}`);
              assert.equal(tx.has(key(k)), model.has(key(k)));
            }
          }
        }
      });
      const again = await Store.open(dir);
      assert.deepEqual(new Map([...toMap(again.read())].map(([k, v]) => [k, v[0]])), model);
      again.close();
      s.close();
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }),
    { numRuns: 150 },
  );
});

test('property: a range is handed out a checked block at a time: a damaged block yields none of its entries, only those of the blocks before it', async () => {
  const { openSync } = await import('node:fs');
  const { TableReader } = await import('../src/engine/table-reader.js');
  const { FormatError } = await import('../src/engine/store-format.js');
  const dir = tempStore();
  mkdirSync(dir, { recursive: true });
  let damaged = 0;
  fc.assert(
    fc.property(fc.integer({ min: 150, max: 400 }), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), (n, whichBlock, whichByte, flip, reverse) => {
      // ~1 KB values: blocks of about 60 entries
      const entries = new Map(Array.from({ length: n }, (_, i) => [`k/${String(i).padStart(5, '0')}`, new Uint8Array(1000).fill(i & 255)] as const));
      const t = Buffer.from(encodeTable(entries, 1, 0));
      const file = join(dir, 'table');
      writeFileSync(file, t);
      // where the blocks are: the reader's index (private fields, read for the test)
      const clean = new TableReader(openSync(file, 'r')) as unknown as { offsets: number[]; lengths: number[]; counts: number[]; close(): void };
      const blocks = clean.offsets.map((off, i) => ({ off, len: clean.lengths[i]!, count: clean.counts[i]! }));
      clean.close();
      assert.ok(blocks.length >= 3);
      // one byte of one block's body changed, and its checksum made to match: only the block's own checks can tell
      const bi = whichBlock % blocks.length;
      const b = blocks[bi]!;
      const at = b.off + (whichByte % (b.len - 4));
      t[at] = t[at]! ^ flip;
      t.writeUInt32LE(crc32(t.subarray(b.off, b.off + b.len - 4)), b.off + b.len - 4);
      writeFileSync(file, t);
      const fd = openSync(file, 'r');
      const r = new TableReader(fd);
      const got: string[] = [];
      let error: unknown;
      try {
        for (const [k] of r.scan('', reverse)) got.push(k);
      } catch (e) {
        error = e;
      } finally {
        r.close();
      }
      if (error === undefined) return; // a value byte: nothing a table can check
      damaged++;
      assert.ok(error instanceof FormatError, String(error));
      const keys = [...entries.keys()];
      const before = blocks.slice(0, bi).reduce((s, x) => s + x.count, 0);
      const after = blocks.slice(bi + 1).reduce((s, x) => s + x.count, 0);
      // forward: every entry of the blocks before the damaged one, and none of its own; backward, those after it
      assert.deepEqual(got, reverse ? keys.slice(n - after).reverse() : keys.slice(0, before));
    }),
    { numRuns: 80 },
  );
  assert.ok(damaged > 5, `only ${damaged} damaged blocks were seen`);
  rmSync(join(dir, '..'), { recursive: true, force: true });
});

test('counts held in memory (cells): written at the commit, taken back by an undo, zeroed by a prefix deletion, unwritten when unchanged', async () => {
  const dir = tempStore();
  const s = await Store.open(dir);
  const u64 = (b: Uint8Array | undefined): bigint | undefined => (b ? new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true) : undefined);
  await s.transact((tx) => {
    tx.checkpoint();
    tx.setCell('m/n/x', tx.cell('m/n/x') + 3);
    tx.setCell('m/n/y', 2);
    // not in the transaction's changes until the commit
    assert.equal(tx.get('m/n/x'), undefined);
    tx.checkpoint();
    tx.setCell('m/n/x', tx.cell('m/n/x') + 5);
    tx.setCell('m/n/z', 1);
    tx.restore();
    assert.equal(tx.cell('m/n/x'), 3);
    assert.equal(tx.cell('m/n/z'), 0);
  });
  let m = toMap(s.read());
  assert.equal(u64(m.get('m/n/x')), 3n);
  assert.equal(u64(m.get('m/n/y')), 2n);
  assert.equal(m.has('m/n/z'), false);
  // a count back to what is stored writes nothing: no transaction at all
  const journal = (): number => statSync(join(dir, readdirSync(dir).find((f) => f.startsWith('journal-'))!)).size;
  const before = journal();
  await s.transact((tx) => {
    tx.setCell('m/n/x', tx.cell('m/n/x') + 1);
    tx.setCell('m/n/x', tx.cell('m/n/x') - 1);
  });
  assert.equal(journal(), before);
  // a prefix deletion takes the counts under it; an undo brings them back; 0 is no entry
  await s.transact((tx) => {
    assert.equal(tx.cell('m/n/y'), 2);
    tx.checkpoint();
    tx.deletePrefix('m/n/');
    assert.equal(tx.cell('m/n/x'), 0);
    assert.equal(tx.cell('m/n/y'), 0);
    tx.restore();
    assert.equal(tx.cell('m/n/y'), 2);
    tx.checkpoint();
    tx.deletePrefix('m/n/');
    tx.setCell('m/n/y', 7);
  });
  m = toMap((await Store.open(dir)).read());
  assert.equal(m.has('m/n/x'), false);
  assert.equal(u64(m.get('m/n/y')), 7n);
});
