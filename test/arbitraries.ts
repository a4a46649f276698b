/** fast-check generators of valid model commands (what the parser can produce). */
import fc from 'fast-check';
import { ALGORITHMS, keyBitsAllowed, type Algorithm, type Platform } from '../src/model/algorithms.js';
import type { Endpoint, IpAddress } from '../src/model/address.js';
import type { Command, SourcePos } from '../src/model/command.js';
import type { IpsecRequest, PolicyRule, Selector } from '../src/model/policy.js';
import type { Lifetime, SaParams, SecCtx } from '../src/model/sa.js';
import { Action, Dir, IpProto, Level, Mode, SaFlag, SaType } from '../src/model/tables.js';

const POS: SourcePos = { file: 't', line: 1, col: 1, endLine: 1 };

export const ipv4: fc.Arbitrary<IpAddress> = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((bytes) => ({ family: 4, bytes, scopeId: 0 }));
export const ipv6: fc.Arbitrary<IpAddress> = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes): IpAddress => ({ family: 6, bytes, scopeId: 0 })),
  // link-local with a numeric zone
  fc.tuple(fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.integer({ min: 1, max: 64 })).map(([tail, scopeId]): IpAddress => ({ family: 6, bytes: Uint8Array.from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, ...tail]), scopeId })),
);
const port = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 65535 }));

function pair<T>(a: fc.Arbitrary<T>): fc.Arbitrary<[T, T]> {
  return fc.tuple(a, a);
}

const addrPair: fc.Arbitrary<[IpAddress, IpAddress]> = fc.oneof(pair(ipv4), pair(ipv6));

function keyFor(a: Algorithm): fc.Arbitrary<Uint8Array> {
  const sizes: number[] = [];
  for (let b = 0; b <= 640; b += 8) if (keyBitsAllowed(a.keyBits, b)) sizes.push(b / 8);
  return fc.constantFrom(...sizes).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));
}

function algs(kind: 'enc' | 'auth' | 'comp', platform: Platform): Algorithm[] {
  return ALGORITHMS.filter((a) => a.kind === kind && a.ids[platform] !== undefined && a.name !== 'tcp-md5');
}

const u64 = fc.bigInt({ min: 0n, max: 0xffffffffffffffffn });
const lifetime: fc.Arbitrary<Lifetime | undefined> = fc.option(
  fc.tuple(u64, u64).filter(([a, b]) => a !== 0n || b !== 0n).map(([addtime, bytes]) => ({ allocations: 0, bytes, addtime, usetime: 0n })),
  { nil: undefined },
);
export const secCtx: fc.Arbitrary<SecCtx | undefined> = fc.option(
  fc.record({ doi: fc.integer({ min: 1, max: 255 }), alg: fc.integer({ min: 0, max: 255 }), ctx: fc.stringMatching(/^[a-z_:0-9]{0,40}$/) }),
  { nil: undefined },
);

function opt<K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };
}

/** An SA as `add` can state it. */
export function saParams(platform: Platform): fc.Arbitrary<SaParams> {
  const kind = fc.constantFrom('esp', 'esp-old', 'esp-udp', 'ah', 'ah-old', 'ipcomp');
  return fc
    .record({
      kind,
      addrs: addrPair,
      sport: port,
      dport: port,
      mode: fc.constantFrom(Mode.ANY, Mode.TRANSPORT, Mode.TUNNEL),
      reqid: fc.integer({ min: 0, max: 0xffffffff }),
      replay: fc.integer({ min: 0, max: 255 }),
      cyc: fc.boolean(),
      pad: fc.constantFrom(0, SaFlag.PZERO, SaFlag.PRAND),
      hard: lifetime,
      soft: lifetime,
      ctx: platform === 'linux' ? secCtx : fc.constant(undefined),
      esn: platform === 'freebsd' ? fc.boolean() : fc.constant(false),
      oa: fc.option(ipv4, { nil: undefined }),
      raw: fc.boolean(),
      encAlg: fc.constantFrom(...algs('enc', platform)),
      authAlg: fc.option(fc.constantFrom(...algs('auth', platform)), { nil: undefined }),
      compAlg: fc.constantFrom(...algs('comp', platform)),
      seed: fc.integer(),
    })
    .chain((r) => {
      const old = r.kind.endsWith('-old');
      const satype = r.kind.startsWith('esp') ? SaType.ESP : r.kind.startsWith('ah') ? SaType.AH : SaType.IPCOMP;
      const spi = satype === SaType.IPCOMP ? fc.integer({ min: 256, max: 0xffff }) : fc.integer({ min: 256, max: 0xffffffff });
      const encKey = keyFor(r.encAlg);
      const authAlg = satype === SaType.AH ? (r.authAlg ?? algs('auth', platform)[0]!) : r.encAlg.aead ? undefined : r.authAlg;
      const authKey = authAlg && !authAlg.noKey ? keyFor(authAlg) : fc.constant(undefined);
      return fc.tuple(spi, encKey, authKey).map(([spiV, ek, ak]): SaParams => {
        let flags = (r.cyc ? SaFlag.CYCSEQ : 0) | r.pad | (old ? SaFlag.OLD : 0);
        const src: Endpoint = { addr: r.addrs[0], port: r.sport };
        const dst: Endpoint = { addr: r.addrs[1], port: r.dport };
        const base = { satype, src, dst, spi: spiV, mode: r.mode, reqid: r.reqid, replay: old ? 0 : r.replay, esn: r.esn, ...opt('hard', r.hard), ...opt('soft', r.soft), ...opt('ctx', r.ctx) };
        if (satype === SaType.IPCOMP) {
          if (r.raw) flags |= SaFlag.RAWCPI;
          return { ...base, flags, enc: { alg: r.compAlg.name } };
        }
        const auth = authAlg ? { auth: ak ? { alg: authAlg.name, key: { bits: ak.length * 8, data: ak } } : { alg: authAlg.name } } : {};
        if (satype === SaType.AH) return { ...base, flags, ...auth };
        const natt = r.kind === 'esp-udp' ? { natt: { type: 2, sport: r.sport || 4500, dport: r.dport || 4500, ...opt('oa', r.oa) } } : {};
        return { ...base, flags, enc: { alg: r.encAlg.name, key: { bits: ek.length * 8, data: ek } }, ...auth, ...natt };
      });
    });
}

function requestArb(family: 4 | 6): fc.Arbitrary<IpsecRequest> {
  const a = family === 4 ? ipv4 : ipv6;
  return fc
    .record({
      proto: fc.constantFrom(IpProto.ESP, IpProto.AH, IpProto.IPCOMP),
      tunnel: fc.boolean(),
      hasEnds: fc.boolean(),
      ends: fc.tuple(a, a, fc.boolean(), port, port),
      level: fc.constantFrom(Level.DEFAULT, Level.USE, Level.REQUIRE, Level.UNIQUE),
      reqid: fc.integer({ min: 1, max: 32767 }),
      withReqid: fc.boolean(),
    })
    .map((r): IpsecRequest => {
      const mode = r.tunnel ? Mode.TUNNEL : Mode.TRANSPORT;
      const reqid = r.level === Level.UNIQUE && r.withReqid ? r.reqid : 0;
      // tunnel mode always has its endpoints; transport may
      if (!r.tunnel && !r.hasEnds) return { proto: r.proto, mode, level: r.level, reqid };
      const [s, d, withPorts, sp, dp] = r.ends;
      return { proto: r.proto, mode, level: r.level, reqid, tunnel: { src: { addr: s, port: withPorts ? sp : 0 }, dst: { addr: d, port: withPorts ? dp : 0 } } };
    });
}

export function policyRule(family: 4 | 6): fc.Arbitrary<PolicyRule> {
  return fc.oneof(
    fc.record({
      dir: fc.constantFrom(Dir.IN, Dir.OUT, Dir.FWD),
      action: fc.constant(Action.IPSEC),
      priority: fc.integer({ min: 0, max: 0xffffffff }),
      requests: fc.array(requestArb(family), { maxLength: 4 }),
    }),
    fc.record({
      dir: fc.constantFrom(Dir.IN, Dir.OUT, Dir.FWD),
      action: fc.constantFrom(Action.DISCARD, Action.NONE, Action.ENTRUST, Action.BYPASS),
      priority: fc.integer({ min: 0, max: 0xffffffff }),
      requests: fc.constant([]),
    }),
  );
}

export const selector: fc.Arbitrary<Selector> = fc
  .record({ addrs: addrPair, sp: fc.integer({ min: 0, max: 128 }), dp: fc.integer({ min: 0, max: 128 }), proto: fc.constantFrom(255, 6, 17, 1, 58, 135, 47, 0, 132), sport: port, dport: port })
  .map(({ addrs, sp, dp, proto, sport, dport }): Selector => {
    const full = addrs[0].family === 4 ? 32 : 128;
    const typed = proto === 1 || proto === 58 || proto === 135;
    return { src: addrs[0], dst: addrs[1], sprefix: sp % (full + 1), dprefix: dp % (full + 1), sport: typed ? sport & 0xff : sport, dport: typed ? dport & 0xff : dport, proto };
  });

/** Any command a statement can state (addresses resolved). */
export function command(platform: Platform): fc.Arbitrary<Command> {
  const sa = saParams(platform);
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom('add' as const, 'update' as const), sa).map(([kind, s]): Command => ({ kind, pos: POS, sa: s })) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom('get' as const, 'delete' as const), sa).map(([kind, s]): Command => {
        const { enc: _e, auth: _a, hard: _h, soft: _s, ctx: _c, natt: _n, ...rest } = s;
        return { kind, pos: POS, sa: { ...rest, flags: rest.flags & ~SaFlag.RAWCPI } };
      }),
    },
    {
      weight: 3,
      arbitrary: selector.chain((sel) =>
        fc.tuple(fc.constantFrom('spdadd' as const, 'spdupdate' as const, 'spddelete' as const), policyRule(sel.src.family), platform === 'linux' ? secCtx : fc.constant(undefined)).map(([kind, policy, ctx]): Command => ({ kind, pos: POS, selector: sel, policy, ...opt('ctx', ctx) })),
      ),
    },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('flush' as const, 'dump' as const), fc.constantFrom(0, SaType.ESP, SaType.AH, SaType.IPCOMP)).map(([kind, satype]): Command => ({ kind, pos: POS, satype })) },
    { weight: 1, arbitrary: fc.constantFrom('spdflush' as const, 'spddump' as const).map((kind): Command => ({ kind, pos: POS })) },
  );
}
