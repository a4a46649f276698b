/**
 * --decrypt's whole pipeline on hostile captures (fast-check): valid captures
 * of several SAs, mutated (bytes flipped, cut, spliced, lengths rewritten),
 * read, dissected, opened and rebuilt. The only exception allowed is
 * CaptureError (a damaged file, which the CLI reports with the packet); the
 * output stays bounded and the counts consistent. SAs with the null cipher
 * and no ICV let mutated bytes reach the trailer parsing, the inner-packet
 * rebuild and the IPComp inflation, which a checked ICV would keep them from.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CaptureError, openCaptureBytes } from '../src/capture/index.js';
import { decryptRecords } from '../src/decrypt/run.js';
import { SaTable } from '../src/decrypt/sad.js';
import { deflateIpcomp, espSealer, isUnsupported, type EspSa, type EspSealer } from '../src/esp/index.js';
import type { SaParams } from '../src/model/sa.js';
import { concat, epb, ether, idb, ipv4, ipv6, pcapFile, shb, text, udp, v4 } from './capture-build.js';
import { openssl } from './crypto-provider.js';

const A = v4('10.0.0.1');
const B = v4('10.0.0.2');
const V4 = { src: '10.0.0.1', dst: '10.0.0.2' };
const key = (n: number, salt: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + salt) & 0xff);

function sa(satype: number, spi: number, mode: number, enc?: [string, Uint8Array], auth?: [string, Uint8Array], natt = false): SaParams {
  return {
    satype,
    src: { addr: { family: 4, bytes: A, scopeId: 0 }, port: natt ? 4500 : 0 },
    dst: { addr: { family: 4, bytes: B, scopeId: 0 }, port: natt ? 4500 : 0 },
    spi,
    mode,
    reqid: 0,
    replay: 32,
    flags: 0,
    esn: false,
    ...(enc ? { enc: { alg: enc[0], key: { bits: enc[1].length * 8, data: enc[1] } } } : {}),
    ...(auth ? { auth: { alg: auth[0], key: { bits: auth[1].length * 8, data: auth[1] } } } : {}),
    ...(natt ? { natt: { type: 2, sport: 4500, dport: 4500 } } : {}),
  };
}

const SAS: SaParams[] = [
  sa(3, 0x101, 1, ['aes-cbc', key(16, 1)], ['hmac-sha1', key(20, 2)]),
  sa(3, 0x102, 2, ['null', new Uint8Array(0)]),
  sa(3, 0x103, 1, ['null', new Uint8Array(0)]),
  sa(3, 0x104, 1, ['aes-gcm-16', key(20, 3)], undefined, true),
  sa(9, 0x105, 1, ['deflate', new Uint8Array(0)]),
  sa(2, 0x106, 1, undefined, ['hmac-sha256', key(32, 4)]),
];

function espOf(p: SaParams): EspSealer {
  const e: EspSa = { spi: p.spi, flags: 0, esn: false, ...(p.enc ? { enc: { name: String(p.enc.alg), key: p.enc.key!.data } } : {}), ...(p.auth ? { auth: { name: String(p.auth.alg), key: p.auth.key!.data } } : {}) };
  const s = espSealer(e);
  if (isUnsupported(s)) throw new Error(s.unsupported);
  return s;
}

/** One frame per SA and kind of payload, all of which open before mutation. */
function frames(): Uint8Array[] {
  const seg = udp(1000, 2000, text('fuzz payload '.repeat(5)), { src: A, dst: B });
  const inner = ipv4(17, seg, V4);
  const out: Uint8Array[] = [
    ether(0x0800, ipv4(50, espOf(SAS[0]!).seal(17, seg, 1), V4)),
    ether(0x0800, ipv4(50, espOf(SAS[1]!).seal(4, inner, 1), V4)),
    ether(0x0800, ipv4(50, espOf(SAS[2]!).seal(108, deflateIpcomp(17, 0x105, seg), 1), V4)),
    ether(0x0800, ipv4(17, udp(4500, 4500, espOf(SAS[3]!).seal(17, seg, 1)), V4)),
    ether(0x0800, ipv4(108, deflateIpcomp(17, 0x105, seg), V4)),
    ether(0x0800, ipv4(50, espOf(SAS[1]!).seal(41, ipv6(17, seg), 2), V4)),
    ether(0x0800, inner),
  ];
  return out;
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({ kind: fc.constant('word' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 0xffff }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(b: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let x: Uint8Array = b.slice();
  for (const m of ms) {
    if (x.length === 0) break;
    const at = m.at % x.length;
    if (m.kind === 'flip') x[at] = x[at]! ^ m.bits;
    else if (m.kind === 'cut') x = x.subarray(0, at);
    else if (m.kind === 'splice') x = concat(x.subarray(0, at), m.bytes, x.subarray(at));
    else if (at + 1 < x.length) [x[at], x[at + 1]] = [m.value >> 8, m.value & 0xff];
  }
  return x;
}

function run(file: Uint8Array): { ok: true; out: number; report: ReturnType<typeof decryptRecords> } | { ok: false; error: CaptureError } {
  let out = 0;
  try {
    const report = decryptRecords(openCaptureBytes(file, { borrow: true }), new SaTable(SAS), (b) => (out += b.length), undefined, openssl);
    return { ok: true, out, report };
  } catch (e) {
    if (e instanceof CaptureError) return { ok: false, error: e };
    throw e;
  }
}

test('decrypt fuzz: the unmutated captures open whole (the mutations start from packets that work)', () => {
  const fs = frames();
  const r = run(pcapFile(true, false, 1, fs.map((data) => ({ data }))));
  assert.ok(r.ok);
  assert.equal(r.report.opened, fs.length - 1, JSON.stringify([...r.report.sas.values()].map((s) => [s.sa.label, s.counts])));
});

test('decrypt fuzz: mutated packets in pcap and pcapng never throw but CaptureError; output bounded, counts consistent', () => {
  const fs = frames();
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat({ max: fs.length - 1 }), fc.array(mutation, { maxLength: 4 })), { minLength: 1, maxLength: 8 }), fc.boolean(), (picks, ng) => {
      const packets = picks.map(([i, ms]) => mutate(fs[i]!, ms));
      const file = ng ? concat(shb(true), idb(true, 1), ...packets.map((p) => epb(true, 0, 1n, p))) : pcapFile(true, false, 1, packets.map((data) => ({ data })));
      const r = run(file);
      if (!r.ok) return;
      // nothing grows without bound: an inflated payload is capped at 64 KiB a packet
      assert.ok(r.out <= file.length + packets.length * (65536 + 64) + 64);
      assert.ok(r.report.opened <= r.report.ipsec && r.report.ipsec <= r.report.packets);
      for (const s of r.report.sas.values()) assert.ok(s.counts.opened <= s.counts.packets);
    }),
    { numRuns: Number(process.env["FUZZ_RUNS"] ?? 1500), seed: Number(process.env["FUZZ_SEED"] ?? 1302) },
  );
});

test('decrypt fuzz: whole captures mutated (headers and record lengths too)', () => {
  const fs = frames();
  const base = pcapFile(false, true, 1, fs.map((data) => ({ data })));
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), (ms) => {
      run(mutate(base, ms));
    }),
    { numRuns: Number(process.env["FUZZ_RUNS"] ?? 1500), seed: Number(process.env["FUZZ_SEED"] ?? 1303) + 1 },
  );
});
