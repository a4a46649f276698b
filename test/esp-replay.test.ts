/**
 * Sequence tracking (src/esp/replay.ts): RFC 4303 Appendix A2.1's inference
 * of the ESN high half, gaps, replays and reordering within the window.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_WINDOW, SeqTracker, UNKNOWN_WINDOW, seqWindow } from '../src/esp/replay.js';

test('the window: the SA replay size, 32 when it has none, 64 when it is not known', () => {
  assert.equal(seqWindow(undefined), UNKNOWN_WINDOW);
  assert.equal(UNKNOWN_WINDOW, 64);
  assert.equal(seqWindow(0), DEFAULT_WINDOW);
  assert.equal(DEFAULT_WINDOW, 32);
  assert.equal(seqWindow(128), 128);
  assert.equal(seqWindow(2 ** 31), 1 << 20);
  assert.equal(new SeqTracker({ esn: false, replay: 10 }).window, 10);
});

test('in order: no gaps, no replays', () => {
  const t = new SeqTracker({ esn: false, replay: 32 });
  for (let i = 1; i <= 100; i++) assert.equal(t.record(i), 'new');
  assert.deepEqual(t.stats(), { packets: 100, gaps: 0, replays: 0, stale: 0, topHigh: 0, topLow: 100 });
});

test('a skipped number is a gap until it arrives within the window; a second copy is a replay; below the window it is stale', () => {
  const t = new SeqTracker({ esn: false, replay: 32 });
  for (let i = 1; i <= 10; i++) t.record(i);
  t.record(13);
  assert.equal(t.stats().gaps, 2);
  assert.equal(t.record(11), 'new');
  assert.equal(t.stats().gaps, 1);
  assert.equal(t.record(11), 'replay');
  assert.equal(t.record(13), 'replay');
  assert.equal(t.record(12), 'new');
  for (let i = 14; i <= 100; i++) t.record(i);
  assert.equal(t.record(50), 'stale');
  assert.equal(t.record(69), 'replay'); // 100 - 69 = 31: still in the window, and seen
  assert.deepEqual(t.stats(), { packets: 101, gaps: 0, replays: 3, stale: 1, topHigh: 0, topLow: 100 });
});

test('the window edge: top - (W - 1) is inside, top - W is stale', () => {
  const t = new SeqTracker({ esn: false, replay: 32 });
  t.record(100);
  assert.equal(t.record(69), 'new');
  assert.equal(t.record(68), 'stale');
});

test('a capture starting mid-stream counts nothing before its first packet as missing', () => {
  const t = new SeqTracker({ esn: false });
  t.record(5000);
  t.record(5002);
  assert.equal(t.record(4990), 'new'); // sent before the first one captured, arriving late: no gap it could fill
  assert.equal(t.stats().gaps, 1);
  assert.equal(t.record(5001), 'new');
  assert.equal(t.stats().gaps, 0);
});

test('a jump wider than the window clears it: numbers in the old window are then stale', () => {
  const t = new SeqTracker({ esn: false, replay: 32 });
  t.record(1);
  t.record(1000);
  assert.equal(t.stats().gaps, 998);
  assert.equal(t.record(999), 'new');
  assert.equal(t.record(1), 'stale');
  assert.equal(t.stats().gaps, 997);
});

test('RFC 4303 Appendix A2.1 cases A and B around a wrap of the low half', () => {
  const t = new SeqTracker({ esn: true, replay: 64 });
  assert.equal(t.inferHigh(0xfffffff0), 0); // nothing seen: the initial high half
  t.record(0xfffffff0, 0);
  // Case A (Tl >= W - 1): within the window stays in this subspace, lower wraps into the next
  assert.equal(t.inferHigh(0xfffffff5), 0);
  assert.equal(t.inferHigh(0xffffffb1), 0); // Tl - W + 1: the window's bottom
  assert.equal(t.inferHigh(3), 1);
  assert.equal(t.record(3, 1), 'new');
  assert.equal(t.stats().gaps, 18); // 0xfffffff1 .. 0xffffffff, 0 .. 2
  // Case B (Tl < W - 1): the window spans the end of subspace 0 and the start of subspace 1
  assert.equal(t.inferHigh(0xfffffff8), 0);
  assert.equal(t.inferHigh(10), 1);
  assert.equal(t.inferHigh(0xffffffc4), 0); // Tl - W + 1 mod 2^32 = 0xffffffc4
  assert.equal(t.inferHigh(0xffffffc3), 1); // below the window: taken as ahead
  assert.equal(t.record(0xfffffff8, 0), 'new');
  assert.equal(t.stats().gaps, 17);
  assert.equal(t.record(0xfffffff8, 0), 'replay');
});

test('without ESN the high half is always 0', () => {
  const t = new SeqTracker({ esn: false });
  t.record(0xfffffff0, 7);
  assert.equal(t.inferHigh(3), 0);
  assert.deepEqual([t.stats().topHigh, t.stats().topLow], [0, 0xfffffff0]);
});

test('inferHigh recovers the high half of every packet of a reordered, lossy stream across wraps (property)', () => {
  const stream = fc.record({
    high: fc.nat(1000),
    low: fc.nat(0xffffffff),
    window: fc.constantFrom(32, 64, 128),
    steps: fc.array(fc.record({ advance: fc.integer({ min: 1, max: 5 }), swap: fc.boolean(), drop: fc.boolean() }), { minLength: 1, maxLength: 300 }),
  });
  fc.assert(
    fc.property(stream, ({ high, low, window, steps }) => {
      // the sender's 64-bit counter, started near a wrap of its low half
      let n = high * 2 ** 32 + Math.max(low, 0xffffff00);
      const sent: number[] = [];
      for (const s of steps) {
        n += s.advance;
        if (!s.drop) sent.push(n);
        const last = sent.length - 1;
        if (s.swap && last > 0) [sent[last - 1], sent[last]] = [sent[last]!, sent[last - 1]!];
      }
      if (sent.length === 0) return;
      // swaps can carry a packet back past several others: beyond the window, RFC 4303 appendix A takes it
      // for the next subspace (as a receiver must), which is not what this property is about
      let top = -Infinity;
      for (const seq of sent) {
        fc.pre(seq > top - window);
        top = Math.max(top, seq);
      }
      const t = new SeqTracker({ esn: true, replay: window, initialHigh: Math.floor(sent[0]! / 2 ** 32) });
      for (const seq of sent) {
        const hi = Math.floor(seq / 2 ** 32);
        const lo = seq % 2 ** 32;
        assert.equal(t.inferHigh(lo), hi);
        assert.equal(t.record(lo, hi), 'new');
      }
      // every number between the first and the last that was not sent is a gap
      const sorted = [...sent].sort((a, b) => a - b);
      const first = sent[0]!;
      const expectGaps = sorted[sorted.length - 1]! - first + 1 - sorted.filter((s) => s >= first).length;
      assert.equal(t.stats().gaps, expectGaps);
      assert.equal(t.stats().replays, 0);
    }),
    { numRuns: 200 },
  );
});

test('replays are counted exactly, however the copies are interleaved within the window (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 80 }), (dups) => {
      const t = new SeqTracker({ esn: false, replay: 64 });
      for (let i = 1; i <= 40; i++) t.record(i);
      for (const d of dups) assert.equal(t.record(d), 'replay');
      assert.deepEqual([t.stats().replays, t.stats().gaps, t.stats().packets], [dups.length, 0, 40]);
    }),
  );
});
