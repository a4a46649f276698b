/**
 * Dumped XFRM states as the kernel could send them, for the tests that hold
 * the dump's shortcuts to their definition (dump-bytes.test.ts,
 * state-fields.test.ts): any SA through saToXfrm, with the attributes the
 * kernel adds to a dump, lifetimes of any value or none, a state's
 * selector of its own, flags, stray and damaged attributes, cut payloads.
 */
import fc from 'fast-check';
import { withHeader } from '../src/pfkey/reply.js';
import { XSize, Xfrma, XFRM_INF } from '../src/xfrm/constants.js';
import { buildMessage, parseAttrs, type Attr } from '../src/xfrm/netlink.js';
import { saToXfrm, stateToPfkey, XfrmTranslateError } from '../src/xfrm/sa.js';
import * as S from '../src/xfrm/structs.js';
import { saParams } from './arbitraries.js';

/** what the definition makes of a payload: the message and its extras, or the error it throws */
export function definition(p: Uint8Array, type: number, seq: number, pid: number): { msg: Uint8Array; extras: object } | Error {
  try {
    const t = stateToPfkey(S.readUsersaInfo(p), parseAttrs(p, XSize.usersaInfo));
    return { msg: withHeader(t.msg, { type, seq, pid }), extras: t.extras };
  } catch (e) {
    return e as Error;
  }
}

export function payload(info: S.UsersaInfo, attrs: readonly Attr[]): Uint8Array {
  return buildMessage({ type: 0, flags: 0, seq: 0, pid: 0 }, S.encodeUsersaInfo(info), attrs).subarray(16);
}

const u64 = fc.oneof(fc.constant(0n), fc.constant(XFRM_INF), fc.bigInt({ min: 0n, max: XFRM_INF }), fc.bigInt({ min: 0n, max: 1n << 40n }));
export const lifetimes = fc.record({
  softByteLimit: u64,
  hardByteLimit: u64,
  softPacketLimit: u64,
  hardPacketLimit: u64,
  softAddExpires: u64,
  hardAddExpires: u64,
  softUseExpires: u64,
  hardUseExpires: u64,
});
export const current = fc.record({ bytes: u64, packets: u64, addTime: u64, useTime: u64 });
export const u32 = (v: number): Uint8Array => Uint8Array.of(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24);
const addr16 = fc.uint8Array({ minLength: 16, maxLength: 16 });

/** what the kernel puts in a dump beside the SA's own attributes, and what it might one day */
const extra: fc.Arbitrary<Attr> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ type: Xfrma.REPLAY_VAL, value: new Uint8Array(12) }) },
  { weight: 3, arbitrary: fc.bigInt({ min: 1n, max: 1n << 40n }).map((t) => ({ type: Xfrma.LASTUSED, value: new Uint8Array(new BigUint64Array([t]).buffer) })) },
  { weight: 1, arbitrary: fc.nat({ max: 0xffffffff }).map((v: number) => ({ type: Xfrma.SA_EXTRA_FLAGS, value: u32(v) })) },
  { weight: 1, arbitrary: fc.nat({ max: 0xffffffff }).map((v: number) => ({ type: Xfrma.IF_ID, value: u32(v) })) },
  { weight: 1, arbitrary: fc.nat({ max: 0xffffffff }).map((v: number) => ({ type: Xfrma.MTIMER_THRESH, value: u32(v) })) },
  { weight: 1, arbitrary: fc.constant({ type: Xfrma.OFFLOAD_DEV, value: new Uint8Array(8) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.integer({ min: 0, max: 0x3fff }), value: fc.uint8Array({ maxLength: 40 }) }) },
);

/** a state as a dump shows it: the SA's request, what the kernel keeps and adds, maybe damaged */
export const states = fc
  .record({
    sa: saParams('linux'),
    lft: fc.option(lifetimes, { nil: undefined }),
    curlft: current,
    // the selector's source: the SA's (no proxy) or another
    selSource: fc.option(addr16, { nil: undefined }),
    selProto: fc.constantFrom(0, 6, 17, 255),
    selPrefix: fc.integer({ min: 0, max: 128 }),
    flags: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.constantFrom(1, 2, 4, 7, 8, 0x7f) }, { weight: 1, arbitrary: fc.constantFrom(0x80, 0xff) }),
    // the kernel answers auth-trunc states with a plain XFRMA_ALG_AUTH too (copy_to_user_auth)
    plainAuthToo: fc.boolean(),
    // the arbitrary SA has a security context or an ESN window more often than real ones do: kept in one of four
    keepRare: fc.nat(3).map((n) => n === 0),
    extras: fc.array(extra, { maxLength: 2 }),
    extrasFirst: fc.boolean(),
    reversed: fc.boolean(),
    // damage now and then (a state in four)
    cut: fc.oneof({ weight: 7, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat() }),
    flip: fc.oneof({ weight: 7, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })) }),
  })
  .map((r) => {
    let x;
    try {
      x = saToXfrm(r.sa);
    } catch (e) {
      if (e instanceof XfrmTranslateError) return undefined;
      throw e;
    }
    const sel = { ...x.info.sel, proto: r.selProto, prefixlenS: r.selPrefix, ...(r.selSource ? { saddr: r.selSource } : {}) };
    const info: S.UsersaInfo = { ...x.info, sel, curlft: r.curlft, flags: r.flags, ...(r.lft ? { lft: r.lft } : {}) };
    const rare: number[] = [Xfrma.SEC_CTX, Xfrma.REPLAY_ESN_VAL];
    let attrs = r.keepRare ? [...x.attrs] : x.attrs.filter((a) => !rare.includes(a.type));
    const trunc = attrs.find((a) => a.type === Xfrma.ALG_AUTH_TRUNC);
    if (trunc && r.plainAuthToo) {
      const a = S.readAlgo(trunc.value, true);
      attrs.push({ type: Xfrma.ALG_AUTH, value: S.encodeAlgo({ name: a.name, keyBits: a.keyBits, key: a.key }, false) });
    }
    attrs = r.extrasFirst ? [...r.extras, ...attrs] : [...attrs, ...r.extras];
    if (r.reversed) attrs.reverse();
    let p: Uint8Array = new Uint8Array(payload(info, attrs));
    if (r.flip) p[r.flip[0] % p.length]! ^= r.flip[1];
    if (r.cut !== undefined) p = p.subarray(0, r.cut % (p.length + 1));
    return p;
  })
  .filter((p): p is Uint8Array => p !== undefined);

