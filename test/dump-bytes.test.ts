/**
 * The dump's shortcuts for XFRM states and policies
 * (src/xfrm/state-dump-bytes.ts, policy-dump-bytes.ts) held to their
 * definitions, stateToPfkey / policyToPfkey + serialize: for every entry
 * the kernel could send (any SA or policy through saToXfrm / policyToXfrm,
 * with the attributes the kernel adds to a dump, lifetimes of any value or
 * none, a state's selector of its own, flags, stray and damaged
 * attributes, cut payloads) they write the same bytes and the same JSON
 * extras, or decline.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MsgType } from '../src/pfkey/constants.js';
import { withHeader } from '../src/pfkey/reply.js';
import { XSize, Xfrma } from '../src/xfrm/constants.js';
import { buildMessage, parseAttrs } from '../src/xfrm/netlink.js';
import { saToXfrm, XfrmTranslateError } from '../src/xfrm/sa.js';
import { stateDumpBytes } from '../src/xfrm/state-dump-bytes.js';
import * as S from '../src/xfrm/structs.js';
import { policyRule, secCtx, selector } from './arbitraries.js';
import { current, definition, lifetimes, payload, states, u32 } from './xfrm-states.js';
import { policyToPfkey, policyToXfrm } from '../src/xfrm/policy.js';
import { policyDumpBytes } from '../src/xfrm/policy-dump-bytes.js';
import type { PolicyCommand } from '../src/model/command.js';

test('a dumped state: the shortcut writes what stateToPfkey + serialize write, extras alike, or declines', () => {
  let taken = 0;
  let declined = 0;
  fc.assert(
    fc.property(states, fc.constantFrom(MsgType.DUMP, MsgType.GET, MsgType.GETSPI), fc.nat(), fc.nat(), (p, type, seq, pid) => {
      const fast = stateDumpBytes(p, type, seq, pid);
      const def = definition(p, type, seq, pid);
      if (!fast) {
        declined++;
        return;
      }
      taken++;
      assert.ok(!(def instanceof Error), `taken, but the definition throws: ${def instanceof Error ? def.message : ''}`);
      assert.deepEqual([...fast.msg], [...def.msg]);
      const want = (def.extras as { authTruncBits?: number }).authTruncBits;
      assert.deepEqual(def.extras, want === undefined ? {} : { authTruncBits: want }, 'a taken state has no other extras');
      assert.equal(fast.authTruncBits, want);
    }),
    { numRuns: 3000 },
  );
  // both sides of the shortcut are walked (damaged and unusual states decline, plain ones are taken)
  assert.ok(taken > 600 && declined > 600, `taken ${taken}, declined ${declined}`);
  if (process.env.SHOW) console.log(taken, declined);
});

test("the kernel's common dumped state is taken: ESP cbc(aes) + hmac(sha256), with ALG_AUTH, REPLAY_VAL and LASTUSED beside", () => {
  const x = saToXfrm({ satype: 3, src: { addr: { family: 4, bytes: Uint8Array.of(10, 0, 0, 1), scopeId: 0 }, port: 0 }, dst: { addr: { family: 4, bytes: Uint8Array.of(10, 0, 0, 2), scopeId: 0 }, port: 0 }, spi: 0x1000, mode: 1, reqid: 0, replay: 0, flags: 0, esn: false, enc: { alg: 'aes-cbc', key: { bits: 128, data: new Uint8Array(16).fill(1) } }, auth: { alg: 'hmac-sha256', key: { bits: 256, data: new Uint8Array(32).fill(2) } } });
  const a = S.readAlgo(x.attrs.find((q) => q.type === Xfrma.ALG_AUTH_TRUNC)!.value, true);
  const p = payload({ ...x.info, curlft: { bytes: 0n, packets: 0n, addTime: 1700000000n, useTime: 0n } }, [
    { type: Xfrma.ALG_AUTH, value: S.encodeAlgo({ name: a.name, keyBits: a.keyBits, key: a.key }, false) },
    ...x.attrs,
    { type: Xfrma.REPLAY_VAL, value: new Uint8Array(12) },
  ]);
  const fast = stateDumpBytes(p, MsgType.DUMP, 3, 77);
  assert.ok(fast, 'taken');
  const def = definition(p, MsgType.DUMP, 3, 77);
  assert.ok(!(def instanceof Error));
  assert.deepEqual([...fast.msg], [...def.msg]);
  assert.equal(fast.authTruncBits, 96);
});

/** a payload damaged now and then (one in four): cut short, or a byte changed */
const damage = fc.record({
  cut: fc.oneof({ weight: 7, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat() }),
  flip: fc.oneof({ weight: 7, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })) }),
});

function damaged(b: Uint8Array, d: { cut: number | undefined; flip: [number, number] | undefined }): Uint8Array {
  let p = new Uint8Array(b);
  if (d.flip) p[d.flip[0] % p.length]! ^= d.flip[1];
  if (d.cut !== undefined) p = p.subarray(0, d.cut % (p.length + 1));
  return p;
}

/** a policy as a dump shows it: the request, what the kernel keeps and adds (index, lifetimes, attributes), maybe damaged */
const policies = fc
  .record({
    sel: selector,
    rule: fc.constantFrom<4 | 6>(4, 6).chain((f) => policyRule(f)),
    ctx: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: secCtx }),
    index: fc.nat({ max: 0xffffffff }),
    lft: fc.option(lifetimes, { nil: undefined }),
    curlft: current,
    block: fc.boolean(),
    extras: fc.array(
      fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(0, 1).map((t) => ({ type: Xfrma.POLICY_TYPE, value: Uint8Array.of(t, 0, 0, 0, 0, 0) })) },
        { weight: 1, arbitrary: fc.nat({ max: 0xffffffff }).map((v: number) => ({ type: Xfrma.MARK, value: Uint8Array.of(...u32(v), ...u32(~v)) })) },
        { weight: 1, arbitrary: fc.nat({ max: 0xffffffff }).map((v: number) => ({ type: Xfrma.IF_ID, value: u32(v) })) },
        { weight: 1, arbitrary: fc.record({ type: fc.integer({ min: 0, max: 0x3fff }), value: fc.uint8Array({ maxLength: 40 }) }) },
      ),
      { maxLength: 2 },
    ),
    reversed: fc.boolean(),
    damage,
  })
  .map((r) => {
    // the rule's family is the selector's: a rule for the other family has its tunnel ends in it (a mixed template)
    const c: PolicyCommand = { kind: 'spdadd', pos: { file: 't', line: 1, col: 1, endLine: 1 }, selector: r.sel, policy: r.rule, ...(r.ctx ? { ctx: r.ctx } : {}) };
    let x;
    let next = 0x4000;
    try {
      x = policyToXfrm(c, () => next++);
    } catch (e) {
      if (e instanceof XfrmTranslateError) return undefined;
      throw e;
    }
    const info: S.UserpolicyInfo = { ...x.info, index: r.index, curlft: r.curlft, ...(r.lft ? { lft: r.lft } : {}), ...(r.block ? { action: 1 } : {}) };
    const attrs = [...x.attrs, ...r.extras];
    if (r.reversed) attrs.reverse();
    return damaged(buildMessage({ type: 0, flags: 0, seq: 0, pid: 0 }, S.encodeUserpolicyInfo(info), attrs).subarray(16), r.damage);
  })
  .filter((p): p is Uint8Array => p !== undefined);

test('a dumped policy: the shortcut writes what policyToPfkey + serialize write, with no extras, or declines', () => {
  let taken = 0;
  let declined = 0;
  fc.assert(
    fc.property(policies, fc.nat(), fc.nat(), (p, seq, pid) => {
      const fast = policyDumpBytes(p, MsgType.X_SPDDUMP, seq, pid);
      let def: { msg: Uint8Array; extras: object } | Error;
      try {
        const t = policyToPfkey(S.readUserpolicyInfo(p), parseAttrs(p, XSize.userpolicyInfo));
        def = { msg: withHeader(t.msg, { type: MsgType.X_SPDDUMP, seq, pid }), extras: t.extras };
      } catch (e) {
        def = e as Error;
      }
      if (!fast) {
        declined++;
        return;
      }
      taken++;
      assert.ok(!(def instanceof Error), `taken, but the definition throws: ${def instanceof Error ? def.message : ''}`);
      assert.deepEqual([...fast], [...def.msg]);
      assert.deepEqual(def.extras, {}, 'a taken policy has no extras');
    }),
    { numRuns: 3000 },
  );
  assert.ok(taken > 600 && declined > 600, `taken ${taken}, declined ${declined}`);
  if (process.env.SHOW) console.log(taken, declined);
});
