// The SA text written as bytes (format/sadump-bytes.ts) against saDump through postproc, its definition:
// for any message and options, the same bytes or no answer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Platform } from '../src/model/algorithms.js';
import { serialize } from '../src/pfkey/serialize.js';
import type { SadbMsg } from '../src/pfkey/types.js';
import { dumpView } from '../src/pfkey/dump-view.js';
import { postproc, type PostprocOptions } from '../src/format/postproc.js';
import { SaTextWriter } from '../src/format/sadump-bytes.js';
import { localZone } from '../src/format/ctime.js';
import { commonSaMessage, damaged, NOW, saDumpMessage, writerAgrees } from './sa-messages.js';

const message = fc.oneof(saDumpMessage, commonSaMessage);


function options(o: Partial<PostprocOptions> = {}): PostprocOptions {
  return { withPorts: false, all: false, short: false, now: NOW, tz: () => 0, ifName: () => undefined, protoName: () => undefined, platform: 'linux', ...o };
}

/** The writer's answer, if any, is the definition's; returns whether it answered. */
const agrees = (m: Uint8Array, o: PostprocOptions): boolean => writerAgrees((x, sink) => new SaTextWriter(x, sink), m, o);

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
    assert.ok(answered > runs / 5, `answered ${answered} of ${runs}`);
  });

  test('damaged messages (bytes changed, cut, lengths wrong): saDump\'s text, or no answer', () => {
    fc.assert(
      fc.property(damaged(message), (b) => {
        agrees(b, options({ all: true }));
      }),
      { numRuns: 3000 },
    );
  });

  test('a dump of many SAs through one writer (lifetimes alike from one to the next, or not): each as saDump prints it', () => {
    const LIFETIMES = new Set(['lifetime_current', 'lifetime_hard', 'lifetime_soft']);
    // each SA takes the one before's lifetimes (those both have) now and then, or all but one field of one of them:
    // the writer's memo of them is walked every way
    const FIELDS = ['allocations', 'bytes', 'addtime', 'usetime'] as const;
    const change = fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...LIFETIMES), fc.constantFrom(...FIELDS), fc.nat({ max: 0xffff })) });
    const dump = fc.array(fc.tuple(message, fc.boolean(), change), { minLength: 2, maxLength: 12 }).map((xs) => {
      const out: SadbMsg[] = [];
      xs.forEach(([m, same, near], i) => {
        const prev = out[i - 1];
        if (!same || !prev) return out.push(m);
        const exts = m.exts.map((e) => {
          if (!LIFETIMES.has(e.kind)) return e;
          const p = prev.exts.find((q) => q.kind === e.kind) ?? e;
          if (!near || near[0] !== e.kind) return p;
          const [, field, v] = near;
          return { ...p, [field]: field === 'allocations' ? v : BigInt(v) } as typeof p;
        });
        // the one before's pid too (one pid a dump: the writer's memo of the text after the seq), its refcnt now and then another
        return out.push({ ...m, header: { ...m.header, pid: prev.header.pid, reserved: near ? m.header.reserved : prev.header.reserved }, exts });
      });
      return out;
    });
    let copied = 0;
    fc.assert(
      fc.property(dump, opts, (ms, x) => {
        const o = options({ all: x.all, platform: 'linux', now: x.now, tz: () => x.zone });
        const out: Uint8Array[] = [];
        const w = new SaTextWriter(o, (b) => out.push(Uint8Array.from(b)));
        let want = '';
        let last = '';
        for (const m of ms) {
          const b = serialize(m, 'linux');
          if (w.take(b) < 0) continue;
          const text = postproc(dumpView(b, 'linux'), o);
          const lt = /\tcreated:[^]*\tallocated:.*\n/.exec(text)?.[0];
          if (lt !== undefined && lt === last) copied++;
          last = lt ?? '';
          want += text;
        }
        w.flush();
        assert.equal(Buffer.concat(out).toString('latin1'), want);
      }),
      { numRuns: 1000 },
    );
    assert.ok(copied > 150, `an SA's lifetimes were the one before's ${copied} times`);
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
    const out: Uint8Array[] = [];
    const w = new SaTextWriter(o, (b) => out.push(Uint8Array.from(b)));
    w.take(serialize(m, 'linux'));
    w.flush();
    const text = Buffer.concat(out).toString('latin1');
    assert.match(text, /^10\.0\.0\.1 10\.0\.0\.2 \n\tesp mode=tunnel spi=4660\(0x00001234\) reqid=7\(0x00000007\)\n\tE: aes-cbc  01010101 01010101 01010101 01010101\n/);
  });
});
