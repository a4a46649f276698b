/**
 * A dumped XFRM state printed from its fields (src/xfrm/state-fields.ts,
 * no PF_KEY message made) held to the definition: the state translated by
 * stateToPfkey + serialize, then printed by saDump through postproc. For
 * every state the kernel could send, alone or many through one writer, the
 * same text and seq, or no answer (the backend then makes the message).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MsgType } from '../src/pfkey/constants.js';
import { dumpView } from '../src/pfkey/dump-view.js';
import { SaFields, saFieldsOf } from '../src/pfkey/sa-fields.js';
import { postproc, type PostprocOptions } from '../src/format/postproc.js';
import { SaTextWriter } from '../src/format/sadump-bytes.js';
import { stateFields } from '../src/xfrm/state-fields.js';
import { stateDumpBytes } from '../src/xfrm/state-dump-bytes.js';
import { NOW } from './sa-messages.js';
import { definition, states } from './xfrm-states.js';

function options(o: Partial<PostprocOptions> = {}): PostprocOptions {
  return { withPorts: false, all: false, short: false, now: NOW, tz: () => 0, ifName: () => undefined, protoName: () => undefined, platform: 'linux', ...o };
}

/** The definition's text of payload `p` dumped as this seq and pid, or undefined where it throws. */
function defined(p: Uint8Array, seq: number, pid: number, o: PostprocOptions): string | undefined {
  const d = definition(p, MsgType.DUMP, seq, pid);
  return d instanceof Error ? undefined : postproc(dumpView(d.msg, 'linux'), o);
}

const opts = fc.record({
  all: fc.boolean(),
  now: fc.oneof(fc.constant(NOW), fc.nat({ max: 2 ** 40 })),
  zone: fc.integer({ min: -14 * 3600, max: 14 * 3600 }),
});

test("a dumped state's fields print what its translated message prints, or are declined", () => {
  let taken = 0;
  let declined = 0;
  fc.assert(
    fc.property(states, fc.nat(), fc.nat(), opts, (p, seq, pid, x) => {
      const o = options({ all: x.all, now: x.now, tz: () => x.zone });
      const f = new SaFields();
      const out: Uint8Array[] = [];
      const w = new SaTextWriter(o, (b) => out.push(Uint8Array.from(b)));
      if (!stateFields(p, seq, pid, f)) {
        declined++;
        // declined only where the message would be printed the long way too
        const d = stateDumpBytes(p, MsgType.DUMP, seq, pid);
        assert.ok(!d || !saFieldsOf(d.msg, new SaFields()), 'declined, but its message is printed from its fields');
        return;
      }
      const got = w.takeFields(f);
      w.flush();
      const want = defined(p, seq, pid, o);
      assert.notEqual(want, undefined, 'taken, but the definition throws');
      taken++;
      assert.equal(got, seq, 'the seq returned');
      assert.equal(Buffer.concat(out).toString('latin1'), want);
    }),
    { numRuns: 3000 },
  );
  // both sides are walked: IPv6, damaged and unusual states decline, the common ones are taken
  assert.ok(taken > 300 && declined > 600, `taken ${taken}, declined ${declined}`);
});

test('a dump of many states through one writer: each as the definition prints it (lifetimes alike from one to the next, or not)', () => {
  let copied = 0;
  fc.assert(
    fc.property(fc.array(states, { minLength: 1, maxLength: 12 }), fc.nat({ max: 3 }), (ps, twins) => {
      // states in a row with the same lifetimes, as a real dump has them: the writer's memo is walked
      const dump = ps.flatMap((p) => Array.from({ length: 1 + twins }, () => p));
      const o = options();
      const out: Uint8Array[] = [];
      const w = new SaTextWriter(o, (b) => out.push(Uint8Array.from(b)));
      const f = new SaFields();
      let want = '';
      dump.forEach((p, i) => {
        if (!stateFields(p, i + 1, 7, f)) return;
        assert.equal(w.takeFields(f), i + 1);
        const text = defined(p, i + 1, 7, o);
        assert.notEqual(text, undefined);
        if (i > 0 && dump[i - 1] === p) copied++;
        want += text;
      });
      w.flush();
      assert.equal(Buffer.concat(out).toString('latin1'), want);
    }),
    { numRuns: 300 },
  );
  assert.ok(copied > 100, `states after their twin: ${copied}`);
});

test('under options the writer does not take (-l, platform not Linux), fields are declined and nothing is written', () => {
  const p = fc.sample(states, { numRuns: 200, seed: 7 }).find((s) => stateFields(s, 1, 1, new SaFields()));
  assert.ok(p, 'a common state among the samples');
  const f = new SaFields();
  assert.ok(stateFields(p, 1, 1, f));
  for (const o of [options({ short: true }), options({ platform: 'freebsd' }), options({ withPorts: true })]) {
    const out: Uint8Array[] = [];
    const w = new SaTextWriter(o, (b) => out.push(b));
    assert.equal(w.takeFields(f), -1);
    w.flush();
    assert.equal(out.length, 0);
  }
});
