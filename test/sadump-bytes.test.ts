// The SA text written as bytes (format/sadump-bytes.ts) against saDump through postproc, its definition:
// for any message and options, the same bytes or no answer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Platform } from '../src/model/algorithms.js';
import { serialize } from '../src/pfkey/serialize.js';
import type { SadbExt, SadbMsg } from '../src/pfkey/types.js';
import { dumpView } from '../src/pfkey/dump-view.js';
import { postproc, type PostprocOptions } from '../src/format/postproc.js';
import { SaTextWriter } from '../src/format/sadump-bytes.js';
import { localZone } from '../src/format/ctime.js';

const NOW = 1700000100;

function options(o: Partial<PostprocOptions> = {}): PostprocOptions {
  return { withPorts: false, all: false, short: false, now: NOW, tz: () => 0, ifName: () => undefined, protoName: () => undefined, platform: 'linux', ...o };
}

/** What the writer makes of one message: its text and the seq it returned, or undefined if it declined. */
function fast(m: Uint8Array, o: PostprocOptions): { text: string; seq: number } | undefined {
  const out: Uint8Array[] = [];
  const w = new SaTextWriter(o, (b) => out.push(b));
  const seq = w.take(m);
  w.flush();
  if (seq < 0) {
    assert.equal(out.length, 0, 'a declined message writes nothing');
    return undefined;
  }
  return { text: Buffer.concat(out).toString('latin1'), seq };
}

/** The writer's answer, if any, is saDump's; returns whether it answered. */
function agrees(m: Uint8Array, o: PostprocOptions): boolean {
  const f = fast(m, o);
  if (!f) return false;
  const v = dumpView(m, o.platform);
  assert.equal(f.text, postproc(v, o));
  assert.equal(f.seq, v.header.seq);
  return true;
}

const u64 = fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: BigInt(NOW) }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom((1n << 53n) - 1n, 1n << 53n, (1n << 64n) - 1n));
const lifetime = (kind: 'lifetime_current' | 'lifetime_hard' | 'lifetime_soft') =>
  fc.record({ allocations: fc.nat({ max: 0xffffffff }), bytes: u64, addtime: u64, usetime: u64 }).map((l) => ({ kind, ...l }) as SadbExt);
const v4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const address = (kind: 'address_src' | 'address_dst' | 'address_proxy', proto: number) =>
  fc.oneof(
    { weight: 6, arbitrary: v4.map((addr) => ({ family: 2, addr })) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((addr) => ({ family: 10, addr })) },
  ).map((a) => ({ kind, proto, prefixlen: 32, reserved: 0, sa: { family: a.family, port: 0, addr: a.addr, flowinfo: 0, scopeId: 0 } }) as SadbExt);
const key = (kind: 'key_auth' | 'key_encrypt') =>
  fc.integer({ min: 0, max: 80 }).chain((bytes) =>
    fc.record({ data: fc.uint8Array({ minLength: bytes, maxLength: bytes }), bits: fc.oneof({ weight: 5, arbitrary: fc.constant(bytes * 8) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: bytes * 8 + 16 }) }) }),
  ).map((k) => ({ kind, bits: k.bits, reserved: 0, data: k.data }) as SadbExt);

/** An SA dump entry as the engine or a kernel sends it, now and then with what the writer must decline. */
const message: fc.Arbitrary<SadbMsg> = fc
  .record({
    type: fc.oneof({ weight: 8, arbitrary: fc.constant(10) }, { weight: 1, arbitrary: fc.constantFrom(5, 3, 18) }),
    errno: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(2) }),
    satype: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(2, 3, 9) }, { weight: 1, arbitrary: fc.constantFrom(0, 1, 4, 11) }),
    seq: fc.oneof(fc.constant(0), fc.nat({ max: 0xffffffff })),
    pid: fc.nat({ max: 0xffffffff }),
    reserved: fc.nat({ max: 0xffff }),
    sa: fc.record({ spi: fc.nat({ max: 0xffffffff }), replay: fc.nat({ max: 255 }), state: fc.nat({ max: 4 }), auth: fc.constantFrom(0, 2, 3, 5, 6, 7, 250, 251, 99), encrypt: fc.constantFrom(0, 1, 2, 3, 11, 12, 20, 99), flags: fc.nat({ max: 0xffffffff }) }),
    sa2: fc.record({ mode: fc.nat({ max: 4 }), sequence: fc.nat({ max: 0xffffffff }), reqid: fc.nat({ max: 0xffffffff }) }),
    cur: fc.option(lifetime('lifetime_current'), { freq: 8 }),
    hard: fc.option(lifetime('lifetime_hard')),
    soft: fc.option(lifetime('lifetime_soft')),
    proto: fc.constantFrom(0, 0, 0, 6, 255),
    proto2: fc.constantFrom(0, 0, 0, 0, 6),
    proxy: fc.boolean(),
    akey: fc.option(key('key_auth')),
    ekey: fc.option(key('key_encrypt')),
    natt: fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(0, 2) }),
    shuffle: fc.nat(),
  })
  .chain((r) =>
    fc.tuple(fc.constant(r), address('address_src', r.proto), address('address_dst', r.proto === 0 ? r.proto2 : r.proto), address('address_proxy', 255)),
  )
  .map(([r, src, dst, proxy]) => {
    const exts: SadbExt[] = [{ kind: 'sa', ...r.sa }];
    for (const l of [r.hard, r.soft, r.cur]) if (l) exts.push(l);
    exts.push(src, dst);
    if (r.proxy) exts.push(proxy);
    if (r.akey) exts.push(r.akey);
    if (r.ekey) exts.push(r.ekey);
    exts.push({ kind: 'sa2', mode: r.sa2.mode, reserved1: 0, reserved2: 0, sequence: r.sa2.sequence, reqid: r.sa2.reqid });
    if (r.natt !== undefined) exts.push({ kind: 'nat_t_type', natType: r.natt }, { kind: 'nat_t_sport', port: 4500 }, { kind: 'nat_t_dport', port: 4500 });
    // the order of the extensions is the sender's: the text must not depend on it
    if (r.shuffle % 3 === 0) exts.reverse();
    return { header: { version: 2, type: r.type, errno: r.errno, satype: r.satype, reserved: r.reserved, seq: r.seq, pid: r.pid }, exts };
  });

const opts = fc.record({
  all: fc.boolean(),
  short: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  withPorts: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  platform: fc.oneof({ weight: 5, arbitrary: fc.constant<Platform>('linux') }, { weight: 1, arbitrary: fc.constantFrom<Platform>('freebsd', 'xnu') }),
  now: fc.oneof(fc.constant(NOW), fc.nat({ max: 2 ** 40 })),
  zone: fc.integer({ min: -14 * 3600, max: 14 * 3600 }),
});

describe('the SA text as bytes (format/sadump-bytes.ts)', () => {
  test('any SA dump entry, any options: saDump\'s text, or no answer; the common ones answered', () => {
    let answered = 0;
    let runs = 0;
    fc.assert(
      fc.property(message, opts, (m, x) => {
        runs++;
        const o = options({ all: x.all, short: x.short, withPorts: x.withPorts, platform: x.platform, now: x.now, tz: () => x.zone });
        if (agrees(serialize(m, 'linux'), o)) answered++;
      }),
      { numRuns: 3000 },
    );
    // most generated messages are of the common shape: the writer must have taken a good part of them
    assert.ok(answered > runs / 10, `answered ${answered} of ${runs}`);
  });

  test('damaged messages (bytes changed, cut, lengths wrong): saDump\'s text, or no answer', () => {
    fc.assert(
      fc.property(message, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }), fc.option(fc.nat()), (m, flips, cut) => {
        let b = serialize(m, 'linux');
        for (const [at, v] of flips) b[at % b.length] = v;
        if (cut !== null) b = b.subarray(0, cut % (b.length + 1));
        agrees(b, options({ all: true }));
      }),
      { numRuns: 3000 },
    );
  });

  test('a plain ESP SA in the local zone: answered, and as saDump prints it', () => {
    const m: SadbMsg = {
      header: { version: 2, type: 10, errno: 0, satype: 3, reserved: 0, seq: 0, pid: 4242 },
      exts: [
        { kind: 'sa', spi: 0x1234, replay: 0, state: 1, auth: 5, encrypt: 12, flags: 0 },
        { kind: 'lifetime_current', allocations: 0, bytes: 0n, addtime: BigInt(NOW - 10), usetime: 0n },
        { kind: 'address_src', proto: 0, prefixlen: 32, reserved: 0, sa: { family: 2, port: 0, addr: new Uint8Array([10, 0, 0, 1]), flowinfo: 0, scopeId: 0 } },
        { kind: 'address_dst', proto: 0, prefixlen: 32, reserved: 0, sa: { family: 2, port: 0, addr: new Uint8Array([10, 0, 0, 2]), flowinfo: 0, scopeId: 0 } },
        { kind: 'key_auth', bits: 256, reserved: 0, data: new Uint8Array(32).fill(0xab) },
        { kind: 'key_encrypt', bits: 128, reserved: 0, data: new Uint8Array(16).fill(0x01) },
        { kind: 'sa2', mode: 2, reserved1: 0, reserved2: 0, sequence: 0, reqid: 7 },
      ],
    };
    const o = options({ tz: localZone });
    assert.ok(agrees(serialize(m, 'linux'), o));
    const text = fast(serialize(m, 'linux'), o)!.text;
    assert.match(text, /^10\.0\.0\.1 10\.0\.0\.2 \n\tesp mode=tunnel spi=4660\(0x00001234\) reqid=7\(0x00000007\)\n\tE: aes-cbc  01010101 01010101 01010101 01010101\n/);
  });
});
