// The byte writer under serialize(): fields as the C structs hold them, and results that never share bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Writer } from '../src/pfkey/writer.js';
import { concat } from './capture-build.js';

type Field = { k: 'u8' | 'u16' | 'u16be' | 'u32' | 'u32be'; v: number } | { k: 'u64'; v: bigint } | { k: 'bytes'; v: Uint8Array } | { k: 'zeros'; v: number };

const field: fc.Arbitrary<Field> = fc.oneof(
  fc.record({ k: fc.constantFrom('u8', 'u16', 'u16be', 'u32', 'u32be') as fc.Arbitrary<'u8'>, v: fc.oneof(fc.integer({ min: -(2 ** 33), max: 2 ** 33 }), fc.constantFrom(0, -1, 0xffff, 0x10000, 0xffffffff)) }),
  fc.record({ k: fc.constant('u64' as const), v: fc.bigInt({ min: -(2n ** 65n), max: 2n ** 65n }) }),
  fc.record({ k: fc.constant('bytes' as const), v: fc.uint8Array({ maxLength: 200 }) }),
  fc.record({ k: fc.constant('zeros' as const), v: fc.nat(40) }),
);

/** The same fields written through a DataView: what the kernel's structs hold (modulo the field's width). */
function expected(fields: readonly Field[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of fields) {
    const width = { u8: 1, u16: 2, u16be: 2, u32: 4, u32be: 4, u64: 8 } as Record<string, number>;
    if (f.k === 'bytes') parts.push(f.v);
    else if (f.k === 'zeros') parts.push(new Uint8Array(f.v));
    else {
      const b = new Uint8Array(width[f.k]!);
      const d = new DataView(b.buffer);
      if (f.k === 'u8') d.setUint8(0, f.v & 0xff);
      if (f.k === 'u16') d.setUint16(0, f.v & 0xffff, true);
      if (f.k === 'u16be') d.setUint16(0, f.v & 0xffff, false);
      if (f.k === 'u32') d.setUint32(0, f.v >>> 0, true);
      if (f.k === 'u32be') d.setUint32(0, f.v >>> 0, false);
      if (f.k === 'u64') d.setBigUint64(0, BigInt.asUintN(64, f.v), true);
      parts.push(b);
    }
  }
  return concat(...parts);
}

test('Writer: every field as a DataView writes it (little-endian host order, network order where said, modulo its width)', () => {
  fc.assert(
    fc.property(fc.array(field, { maxLength: 60 }), fc.integer({ min: 1, max: 64 }), (fields, size) => {
      // a small first buffer makes it grow on the way
      const w = new Writer(size);
      for (const f of fields) (w[f.k] as (v: unknown) => Writer).call(w, f.v);
      assert.deepEqual(w.finish(), expected(fields));
    }),
  );
});

test('Writer: results are copies; one made later, or a writer reused, never changes an earlier one', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }), { minLength: 1, maxLength: 30 }), (msgs) => {
      const w = new Writer(16);
      const got = msgs.map((m) => w.reset().bytes(m).finish());
      got.forEach((g, i) => assert.deepEqual(g, msgs[i]));
      // writing into one result leaves the others as they were
      for (const g of got) g.fill(0xee);
      const again = msgs.map((m) => w.reset().bytes(m).finish());
      again.forEach((g, i) => assert.deepEqual(g, msgs[i]));
    }),
  );
});

test('Writer: patch16 overwrites a length in place; pad8 pads from a mark', () => {
  const w = new Writer(4);
  w.u16(0).u16(7).u8(1);
  w.pad8();
  w.patch16(0, w.length / 8);
  assert.deepEqual([...w.finish()], [1, 0, 7, 0, 1, 0, 0, 0]);
});
