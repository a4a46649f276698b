// The policy text written as bytes (format/spdump-bytes.ts) against spDump through postproc, its definition:
// for any policy dump entry and options, the same bytes or no answer; through one writer, a dump of many.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Platform } from '../src/model/algorithms.js';
import { serialize } from '../src/pfkey/serialize.js';
import type { SadbExt, SadbMsg, SockAddr } from '../src/pfkey/types.js';
import { dumpView } from '../src/pfkey/dump-view.js';
import { postproc, type PostprocOptions } from '../src/format/postproc.js';
import { PolicyTextWriter } from '../src/format/spdump-bytes.js';
import { commonSaMessage, damaged, NOW, saDumpMessage, writerAgrees } from './sa-messages.js';
import { DumpTextWriter } from '../src/format/dump-text-bytes.js';

const PROTO_NAMES: Record<number, string> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'ipv6-icmp', 47: 'gre', 255: 'any' };

function options(o: Partial<PostprocOptions> = {}): PostprocOptions {
  return { withPorts: false, all: false, short: false, now: NOW, tz: () => 0, ifName: () => undefined, protoName: (n) => PROTO_NAMES[n], platform: 'linux', ...o };
}

const u64 = fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: BigInt(NOW) }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
const lifetime = (kind: 'lifetime_current' | 'lifetime_hard' | 'lifetime_soft') => fc.record({ allocations: fc.nat({ max: 0xffffffff }), bytes: u64, addtime: u64, usetime: u64 }).map((l) => ({ kind, ...l }) as SadbExt);
const sockaddr = (ports: boolean): fc.Arbitrary<SockAddr> =>
  fc
    .tuple(
      fc.oneof({ weight: 8, arbitrary: fc.uint8Array({ minLength: 4, maxLength: 4 }).map((addr) => ({ family: 2, addr })) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((addr) => ({ family: 10, addr })) }),
      ports ? fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 65535 }) }) : fc.constant(0),
    )
    .map(([a, port]) => ({ family: a.family, port, addr: a.addr, flowinfo: 0, scopeId: 0 }));
const request = fc
  .record({
    proto: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(50, 51, 108) }, { weight: 1, arbitrary: fc.constantFrom(0, 6, 255) }),
    mode: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(0, 1, 2) }, { weight: 1, arbitrary: fc.constant(3) }),
    level: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(0, 1, 2, 3) }, { weight: 1, arbitrary: fc.constant(4) }),
    reqid: fc.oneof(fc.constant(0), fc.constantFrom(0x3fff, 0x4000), fc.integer({ min: 1, max: 0x3fff }), fc.integer({ min: 0x4000, max: 0xffffffff })),
    ends: fc.option(fc.tuple(sockaddr(false), sockaddr(false)), { nil: undefined }),
  })
  .map((r) => ({ proto: r.proto, mode: r.mode, level: r.level, reqid: r.reqid, ...(r.ends ? { src: r.ends[0], dst: r.ends[1] } : {}) }));

/** A policy dump entry as the engine or a kernel sends it, now and then with what the writer must decline. */
const policyMessage: fc.Arbitrary<SadbMsg> = fc
  .record({
    type: fc.oneof({ weight: 8, arbitrary: fc.constant(18) }, { weight: 1, arbitrary: fc.constantFrom(16, 14, 10) }),
    errno: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(2) }),
    satype: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(3, 1) }),
    refcnt: fc.constantFrom(1, 2, 3),
    seq: fc.nat({ max: 0xffffffff }),
    pid: fc.nat({ max: 0xffffffff }),
    src: sockaddr(true),
    dst: sockaddr(true),
    sprefix: fc.oneof(fc.constant(32), fc.integer({ min: 0, max: 128 })),
    dprefix: fc.oneof(fc.constant(32), fc.integer({ min: 0, max: 128 })),
    upper: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(255, 6, 17, 1, 58, 47, 135) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
    upperDst: fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
    ptype: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(0, 1, 2, 2, 2) }, { weight: 1, arbitrary: fc.constantFrom(3, 4, 5) }),
    dir: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(1, 2, 3) }, { weight: 1, arbitrary: fc.constantFrom(0, 4, 5, 6) }),
    // a socket's policy (the id's low bits 3 and up) now and then
    id: fc.oneof({ weight: 6, arbitrary: fc.tuple(fc.nat({ max: 0x1fffffff }), fc.constantFrom(0, 1, 2)).map(([n, d]) => n * 8 + d) }, { weight: 1, arbitrary: fc.nat({ max: 0xffffffff }) }),
    priority: fc.oneof(fc.constant(0x80000000), fc.constant(0), fc.nat({ max: 0xffffffff })),
    requests: fc.array(request, { maxLength: 4 }),
    hard: fc.option(lifetime('lifetime_hard'), { nil: undefined }),
    soft: fc.option(lifetime('lifetime_soft'), { nil: undefined }),
    cur: fc.oneof({ weight: 5, arbitrary: lifetime('lifetime_current') }, { weight: 1, arbitrary: fc.constant(undefined) }),
    ctx: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    shuffle: fc.boolean(),
  })
  .map((r): SadbMsg => {
    const exts: SadbExt[] = [
      { kind: 'address_src', proto: r.upper, prefixlen: r.sprefix, reserved: 0, sa: r.src },
      { kind: 'address_dst', proto: r.upperDst ?? r.upper, prefixlen: r.dprefix, reserved: 0, sa: r.dst },
      ...(r.hard ? [r.hard] : []),
      ...(r.soft ? [r.soft] : []),
      ...(r.cur ? [r.cur] : []),
      { kind: 'policy', ptype: r.ptype, dir: r.dir, reserved: 0, id: r.id, priority: r.priority, requests: r.requests },
      ...(r.ctx ? [{ kind: 'sec_ctx', alg: 1, doi: 1, ctxLen: 4, ctx: Uint8Array.of(97, 98, 99, 0) } as SadbExt] : []),
    ];
    if (r.shuffle) exts.reverse();
    return { header: { version: 2, type: r.type, errno: r.errno, satype: r.satype, reserved: r.refcnt, seq: r.seq, pid: r.pid }, exts };
  });

/** The writer's answer, if any, is the definition's; returns whether it answered. */
const agrees = (m: Uint8Array, o: PostprocOptions): boolean => writerAgrees((x, sink) => new PolicyTextWriter(x, sink), m, o);

const opts = fc.record({
  withPorts: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  platform: fc.oneof({ weight: 5, arbitrary: fc.constant<Platform>('linux') }, { weight: 1, arbitrary: fc.constantFrom<Platform>('freebsd', 'xnu') }),
  zone: fc.integer({ min: -14 * 3600, max: 14 * 3600 }),
});

test("any policy dump entry, any options: spDump's text, or no answer; the common ones answered", () => {
  let answered = 0;
  let runs = 0;
  fc.assert(
    fc.property(policyMessage, opts, (m, x) => {
      runs++;
      if (agrees(serialize(m, 'linux'), options({ withPorts: x.withPorts, platform: x.platform, tz: () => x.zone }))) answered++;
    }),
    { numRuns: 4000 },
  );
  // (each of a dozen unusual things declines on its own: about one in six is the common shape whole)
  assert.ok(answered > runs / 10, `answered ${answered} of ${runs}`);
});

test("damaged policy messages (bytes changed, cut, lengths wrong): spDump's text, or no answer", () => {
  fc.assert(
    fc.property(damaged(policyMessage), (b) => {
      agrees(b, options());
    }),
    { numRuns: 3000 },
  );
});

test('a dump of many policies through one writer: each as spDump prints it', () => {
  fc.assert(
    fc.property(fc.array(policyMessage, { minLength: 2, maxLength: 10 }), (ms) => {
      const o = options();
      const out: Uint8Array[] = [];
      const w = new PolicyTextWriter(o, (b) => out.push(Uint8Array.from(b)));
      let want = '';
      for (const m of ms) {
        const b = serialize(m, 'linux');
        if (w.take(b) >= 0) want += postproc(dumpView(b, 'linux'), o);
      }
      w.flush();
      assert.equal(Buffer.concat(out).toString('latin1'), want);
    }),
    { numRuns: 500 },
  );
});

test('SAs and policies mixed through one DumpTextWriter (as a dump or a file prints them): in order, in buffers, not a write an entry', () => {
  const message = fc.oneof(policyMessage, commonSaMessage, saDumpMessage);
  fc.assert(
    fc.property(fc.array(message, { minLength: 1, maxLength: 12 }), (ms) => {
      const o = options();
      const out: string[] = [];
      let writes = 0;
      const w = new DumpTextWriter(o, (b) => {
        writes++;
        out.push(Buffer.from(b).toString('latin1'));
      });
      let want = '';
      let switches = 0;
      let last = -1;
      for (const m of ms) {
        const b = serialize(m, 'linux');
        const text = postproc(dumpView(b, 'linux'), o);
        want += text;
        if (w.take(b) >= 0) {
          if (last !== b[1]) switches++;
          last = b[1]!;
          continue;
        }
        // what neither takes is printed the long way, after what is written so far
        w.flush();
        out.push(text);
        last = -1;
      }
      w.flush();
      assert.equal(out.join(''), want);
      // a write when the writer changes (or the long way comes between), not one an entry
      assert.ok(writes <= switches, `${writes} writes for ${switches} runs of one kind`);
    }),
    { numRuns: 800 },
  );
});

test("an SA's lifetimes text copied from the last SA's survives the writer's buffer being flushed between them (found by the property above, seed -1918620961)", () => {
  const o = options();
  const v4 = (a: number[]): SockAddr => ({ family: 2, port: 0, addr: Uint8Array.from(a), flowinfo: 0, scopeId: 0 }) as SockAddr;
  const sa = (dst: number[]): SadbMsg =>
    ({
      header: { version: 2, type: 10, errno: 0, satype: 2, reserved: 0, seq: 0, pid: 0 },
      exts: [
        { kind: 'sa', spi: 0x1000, replay: 0, state: 1, auth: 0, encrypt: 0, flags: 0 },
        { kind: 'lifetime_current', allocations: 0, bytes: 0n, addtime: 0n, usetime: 0n },
        { kind: 'address_src', proto: 0, prefixlen: 32, reserved: 0, sa: v4([10, 0, 0, 1]) },
        { kind: 'address_dst', proto: 0, prefixlen: 32, reserved: 0, sa: v4(dst) },
        { kind: 'sa2', mode: 0, reserved1: 0, reserved2: 0, sequence: 0, reqid: 0 },
      ],
    }) as unknown as SadbMsg;
  const out: string[] = [];
  let want = '';
  const w = new DumpTextWriter(o, (b) => out.push(Buffer.from(b).toString('latin1')));
  // (the second a char longer before its lifetimes: its text runs over where the first's lifetimes lay)
  for (const m of [sa([10, 0, 0, 2]), sa([10, 0, 0, 20]), sa([10, 0, 0, 200])]) {
    const b = serialize(m, 'linux');
    want += postproc(dumpView(b, 'linux'), o);
    assert.ok(w.take(b) >= 0);
    // what a dump does when something the writer does not take comes between: flushed, the buffer written over
    w.flush();
  }
  assert.equal(out.join(''), want);
});

test('a dump longer than the writer\'s buffer, its SAs\' lifetimes all alike: every SA\'s text is its own, the last lines included', () => {
  const o = options();
  const v4 = (a: number[]): SockAddr => ({ family: 2, port: 0, addr: Uint8Array.from(a), flowinfo: 0, scopeId: 0 }) as SockAddr;
  const out: string[] = [];
  let want = '';
  const w = new DumpTextWriter(o, (b) => out.push(Buffer.from(b).toString('latin1')));
  // ~400 bytes of text each: the buffer fills and is written over several times
  for (let i = 0; i < 2000; i++) {
    const m = {
      header: { version: 2, type: 10, errno: 0, satype: 3, reserved: 0, seq: i, pid: 7 },
      exts: [
        { kind: 'sa', spi: 0x1000 + i, replay: 0, state: 1, auth: 0, encrypt: 12, flags: 0 },
        { kind: 'lifetime_current', allocations: 0, bytes: 0n, addtime: BigInt(NOW - 5), usetime: 0n },
        { kind: 'address_src', proto: 0, prefixlen: 32, reserved: 0, sa: v4([10, 0, i >> 8, i & 0xff]) },
        { kind: 'address_dst', proto: 0, prefixlen: 32, reserved: 0, sa: v4([172, 16, i % 7, (i * 37) % 251]) },
        { kind: 'key_encrypt', bits: 128, reserved: 0, data: new Uint8Array(16).fill(i & 0xff) },
        { kind: 'sa2', mode: 2, reserved1: 0, reserved2: 0, sequence: 0, reqid: i },
      ],
    } as unknown as SadbMsg;
    const b = serialize(m, 'linux');
    want += postproc(dumpView(b, 'linux'), o);
    assert.ok(w.take(b) >= 0);
  }
  w.flush();
  assert.ok(want.length > 8 * 65536);
  assert.equal(out.join(''), want);
});
