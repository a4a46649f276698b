/**
 * Hostile input: random bytes and mutated valid captures through the reader
 * (nothing but CaptureError is ever thrown, the walk ends, a record is never
 * larger than the bound, and whatever is accepted copies back byte for byte),
 * random frames through dissection and rebuild (never a throw, offsets in
 * bounds), a 4 GiB length refused without allocating, and a stream read in
 * chunks, never whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CaptureError, captureWriter, dissect, LINK_LAYERS, openCaptureBytes, openSource, rebuildTransport, rebuildTunnel, stripAh, type CaptureRecord } from '../src/capture/index.js';
import * as B from './capture-build.js';

const SEED = 20250301;
const MAX_RECORD = 4096;

/** Read everything; returns the records, or the CaptureError that stopped it. Anything else fails the test. */
function drain(bytes: Uint8Array): { records: CaptureRecord[]; error?: CaptureError; header: number } {
  const records: CaptureRecord[] = [];
  let header = 0;
  try {
    const r = openCaptureBytes(bytes, { maxRecord: MAX_RECORD, chunk: 256 });
    header = r.format.kind === 'pcap' ? 24 : 0;
    // every record takes at least 12 bytes, so more calls than this would be a loop
    for (let i = 0; i <= bytes.length / 12 + 1; i++) {
      const rec = r.next();
      if (rec === null) return { records, header };
      assert.ok(rec.raw.length <= MAX_RECORD, 'a record beyond the bound');
      records.push(rec);
    }
    assert.fail('the reader did not end');
  } catch (e) {
    if (e instanceof CaptureError) {
      assert.equal(typeof e.code, 'string');
      assert.ok(Number.isInteger(e.packet) && Number.isInteger(e.offset) && e.offset <= bytes.length);
      assert.equal(e.message.includes('\n'), false);
      return { records, error: e, header };
    }
    throw e;
  }
}

/** Accepted input copies back exactly. */
function copyBack(bytes: Uint8Array): void {
  const { records, error, header } = drain(bytes);
  if (error) return;
  const r = openCaptureBytes(bytes);
  const parts: Uint8Array[] = [];
  const w = captureWriter(r.format, (b) => parts.push(b.slice()));
  for (const rec of records) w.copy(rec);
  assert.equal(header === 0 || parts[0]!.length === header, true);
  assert.deepEqual(B.concat(...parts), bytes);
}

const packetArb = fc.uint8Array({ maxLength: 300 });
const captureArb = fc.oneof(
  fc.record({ le: fc.boolean(), nano: fc.boolean(), lt: fc.constantFrom(0, 1, 101, 113, 276, 0x04000000 | (2 << 28) | 1), pkts: fc.array(packetArb, { maxLength: 8 }) }).map(({ le, nano, lt, pkts }) =>
    B.pcapFile(le, nano, lt, pkts.map((data) => ({ data }))),
  ),
  fc
    .record({
      sections: fc.array(
        fc.record({
          le: fc.boolean(),
          blocks: fc.array(fc.tuple(fc.constantFrom('epb', 'spb', 'pb', 'custom', 'isb'), packetArb, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })), { maxLength: 6 }),
        }),
        { minLength: 1, maxLength: 3 },
      ),
    })
    .map(({ sections }) =>
      B.concat(
        ...sections.flatMap(({ le, blocks }) => [
          B.shb(le, [B.option(le, 4, B.text('fuzz'))]),
          B.idb(le, 1, 0, [B.option(le, 9, B.bytes(9))]),
          B.idb(le, 276, 128),
          ...blocks.map(([kind, data, ts]) =>
            kind === 'epb' ? B.epb(le, Number(ts & 1n), ts, data, [B.option(le, 1, B.text('c'))]) : kind === 'pb' ? B.pb(le, 1, 3, ts, data) : kind === 'spb' ? B.spb(le, data) : B.block(le, kind === 'custom' ? 0xbad : 5, data),
          ),
        ]),
      ),
    ),
);

type Mutation = { at: number; op: 'set'; v: number } | { at: number; op: 'set32'; v: number } | { at: number; op: 'cut' } | { at: number; op: 'insert'; bytes: Uint8Array } | { at: number; op: 'delete'; n: number };
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ at: fc.nat(), op: fc.constant('set' as const), v: fc.nat(255) }),
  fc.record({ at: fc.nat(), op: fc.constant('set32' as const), v: fc.constantFrom(0, 1, 11, 12, 13, 16, 0x7fffffff, 0xfffffffc, 0xffffffff, 0x1a2b3c4d, 0x0a0d0d0a) }),
  fc.record({ at: fc.nat(), op: fc.constant('cut' as const) }),
  fc.record({ at: fc.nat(), op: fc.constant('insert' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 9 }) }),
  fc.record({ at: fc.nat(), op: fc.constant('delete' as const), n: fc.integer({ min: 1, max: 9 }) }),
);

function mutate(file: Uint8Array, ms: Mutation[]): Uint8Array {
  let b: Uint8Array = file.slice();
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.op === 'set') b[at] = m.v;
    else if (m.op === 'set32' && at + 4 <= b.length) new DataView(b.buffer).setUint32(at, m.v, (m.at & 1) === 1);
    else if (m.op === 'cut') b = b.slice(0, at);
    else if (m.op === 'insert') b = B.concat(b.subarray(0, at), m.bytes, b.subarray(at));
    else if (m.op === 'delete') b = B.concat(b.subarray(0, at), b.subarray(at + m.n));
  }
  return b;
}

test('random bytes (bare, or behind a pcap magic or a section header) give records or a CaptureError', () => {
  const prefixes = [new Uint8Array(0), B.bytes(0xd4, 0xc3, 0xb2, 0xa1), B.bytes(0xa1, 0xb2, 0x3c, 0x4d), B.shb(true).subarray(0, 12), B.shb(false).subarray(0, 12), B.shb(true)];
  fc.assert(
    fc.property(fc.constantFrom(...prefixes), fc.uint8Array({ maxLength: 2000 }), (prefix, tail) => {
      copyBack(B.concat(prefix, tail));
    }),
    { numRuns: 1500, seed: SEED },
  );
});

test('valid captures copy back exactly; mutated ones give records or a CaptureError, and copy back exactly when accepted', () => {
  fc.assert(
    fc.property(captureArb, (file) => {
      const { error } = drain(file);
      assert.equal(error, undefined, error?.message);
      copyBack(file);
    }),
    { numRuns: 300, seed: SEED },
  );
  fc.assert(
    fc.property(captureArb, fc.array(mutationArb, { minLength: 1, maxLength: 5 }), (file, ms) => {
      copyBack(mutate(file, ms));
    }),
    { numRuns: 2000, seed: SEED },
  );
});

test('a record claiming 4 GiB is refused without allocating it (pcap and pcapng)', () => {
  const pcap = B.concat(B.pcapHeader(true, false, 1), B.pcapRecord(true, { data: B.filler(8), caplen: 0xfffffff0 }));
  const block = B.epb(false, 0, 0n, B.filler(8));
  new DataView(block.buffer).setUint32(4, 0xfffffff0, false);
  const ng = B.concat(B.shb(false), B.idb(false, 1), block);
  for (const file of [pcap, ng]) {
    const before = process.memoryUsage().arrayBuffers;
    const r = openCaptureBytes(file);
    assert.throws(
      () => {
        while (r.next() !== null);
      },
      (e) => e instanceof CaptureError && e.code === 'too-large',
    );
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 << 20, 'no large allocation');
  }
});

test('a stream is read in chunks: ten records of an endless capture read about one chunk', () => {
  const rec = B.pcapRecord(true, { data: B.filler(1000) });
  let served = 0;
  const endless = {
    read(into: Uint8Array, offset: number, length: number): number {
      const head = served === 0 ? B.pcapHeader(true, false, 101) : new Uint8Array(0);
      const n = Math.min(length, 64 << 10);
      const src = B.concat(head, ...Array.from({ length: Math.ceil(n / rec.length) + 1 }, () => rec));
      const skip = served === 0 ? 0 : (served - 24) % rec.length;
      into.set(src.subarray(skip, skip + n), offset);
      served += n;
      return n;
    },
  };
  const r = openSource(endless, { chunk: 1 << 16 });
  for (let i = 1; i <= 10; i++) {
    const p = r.next();
    assert.ok(p && p.kind === 'packet' && p.number === i && p.data.length === 1000);
  }
  assert.ok(served <= 2 << 16, `read ${served} bytes for 10 records`);
});

const linkTypes = LINK_LAYERS.map((l) => l.linkType);

test('dissection and rebuild never throw on random or mutated frames; offsets stay in bounds', () => {
  const esp = B.esp(1, 1);
  const seeds = [
    B.ether(0x0800, B.ipv4(50, esp), [0x8100]),
    B.ether(0x86dd, B.ipv6(50, esp, { ext: [B.hopByHop(), B.fragment(0, false)] })),
    B.sll(0x0800, B.ipv4(17, B.udp(4500, 4500, esp))),
    B.sll2(0x86dd, B.ipv6(51, B.concat(B.ahHeader(1, 1, 12).raw, esp))),
    B.nullLink(2, true, B.ipv4(108, B.filler(20))),
    B.ipv4(51, B.concat(B.ahHeader(1, 1, 12).raw, esp)),
  ];
  const frameArb = fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.tuple(fc.constantFrom(...seeds), fc.array(mutationArb, { maxLength: 4 })).map(([f, ms]) => mutate(f, ms)));
  fc.assert(
    fc.property(frameArb, fc.constantFrom(...linkTypes, 9999), fc.uint8Array({ maxLength: 100 }), fc.nat(255), (frame, lt, payload, nh) => {
      const r = dissect(frame, lt, { natTPorts: [4501] });
      if (!r.ok) {
        assert.ok(['not-ip', 'fragment', 'truncated', 'not-ipsec'].includes(r.reason));
        return;
      }
      assert.ok(r.ipOffset < r.offset && r.offset < r.end && r.end <= frame.length && r.ipEnd <= frame.length);
      assert.ok(r.nextHeaderOffset >= r.ipOffset && r.nextHeaderOffset < r.offset);
      if (r.udp) assert.ok(r.udp.offset + 8 === r.offset);
      const t = rebuildTransport(frame, r, payload, nh);
      if (t.ok) assert.equal(t.frame.length, (r.udp?.offset ?? r.offset) + payload.length);
      rebuildTunnel(frame, r, lt, payload);
      if (r.protocol === 'ah') {
        assert.ok(r.offset + r.ahLength! <= r.end);
        stripAh(frame, r);
      }
    }),
    { numRuns: 5000, seed: SEED },
  );
});
