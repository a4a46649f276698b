/**
 * A bulk load's policies' identities gathered as numbers by its worker
 * (src/ingest/policy-ids.ts): written in their keys' order (the table's
 * writer refuses any other), each with its order, and one twice found.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { packPolicy, PolicyIdentities, POLICY_WORDS } from '../src/ingest/policy-ids.js';
import { policyKeyV4 } from '../src/engine/records.js';
import { BulkConflict } from '../src/engine/sorted-layer.js';
import { readU64 } from '../src/engine/u64.js';

type Id = readonly [dir: number, src: number, sprefix: number, dst: number, dprefix: number, proto: number, sport: number, dport: number];

/** Fields near one another's (few addresses, prefixes and ports that begin each other's digits: 3, 30, 32), and anywhere. */
const u32 = fc.oneof(fc.constantFrom(0, 1, 0x0a000000, 0x0a000001, 0xffffffff), fc.nat({ max: 0xffffffff }));
const prefix = fc.oneof(fc.constantFrom(0, 3, 30, 32, 1, 10, 2, 24), fc.nat(32));
const small = (max: number): fc.Arbitrary<number> => fc.oneof(fc.constantFrom(0, 1, 5, 50, 500, 5000, 50000, 6, 65, 655, 6553, 65535).filter((v) => v <= max), fc.nat(max));
const id: fc.Arbitrary<Id> = fc.tuple(fc.integer({ min: 1, max: 3 }), u32, prefix, u32, prefix, small(255), small(65535), small(65535));

/** The identities given in batches of `batch`, orders from `first` on: the keys and orders written. */
function written(ids: readonly Id[], batch: number, first: number): [string, number][] {
  const p = new PolicyIdentities();
  for (let s = 0; s < ids.length; s += batch) {
    const part = ids.slice(s, s + batch);
    const words = new Uint32Array(POLICY_WORDS * part.length);
    part.forEach((x, i) => packPolicy(words, POLICY_WORDS * i, ...x, first + s + i, first + s));
    p.add(words, part.length, first + s);
  }
  const out: [string, number][] = [];
  p.write((kb, kl, order) => out.push([Buffer.from(kb.subarray(0, kl)).toString('latin1'), Number(readU64(order))]));
  return out;
}

test('policies\' identities are written in their keys\' order, each with its order', () => {
  fc.assert(
    fc.property(fc.uniqueArray(id, { selector: (x) => x.join(','), maxLength: 60 }), fc.integer({ min: 1, max: 7 }), fc.nat(1000), (ids, batch, first) => {
      const want = ids.map((x, i) => [policyKeyV4(...x), first + i] as [string, number]).sort(([a], [b]) => (Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'))));
      assert.deepEqual(written(ids, batch, first), want);
    }),
    { numRuns: 500 },
  );
});

test('a policy\'s identity twice is a conflict (the load given up), wherever the two stand', () => {
  fc.assert(
    fc.property(fc.uniqueArray(id, { selector: (x) => x.join(','), minLength: 1, maxLength: 20 }), fc.nat(), fc.nat(), (ids, a, b) => {
      const twice = [...ids];
      twice.splice(b % (twice.length + 1), 0, ids[a % ids.length]!);
      assert.throws(() => written(twice, 3, 1), (e: Error) => e instanceof BulkConflict && /put twice/.test(e.message));
    }),
    { numRuns: 200 },
  );
});

test('a field beyond an IPv4 selector\'s is a conflict, not a wrong key', () => {
  const words = new Uint32Array(POLICY_WORDS);
  const bads: Id[] = [[1, 0, 33, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 256, 0, 0], [1, 0, 0, 0, 0, 0, 65536, 0], [10, 0, 0, 0, 0, 0, 0, 0]];
  for (const bad of bads) {
    assert.throws(() => packPolicy(words, 0, ...bad, 1, 0), BulkConflict);
  }
});
