/**
 * The PF_KEY fuzzer (fuzz/fuzz.mjs), short run: 20,000 random and mutated
 * messages through every decode/print entry point, plus two direct fast-check
 * properties. One test per entry point, so that a failure names the contract
 * that broke (the full run is `node fuzz/fuzz.mjs`, 1,000,000 messages).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type { Platform } from '../src/model/algorithms.js';
import { decodeMessage, DecodeError, indexLenient } from '../src/pfkey/decode.js';
import { dumpView } from '../src/pfkey/dump-view.js';
import { postproc, type PostprocOptions } from '../src/format/postproc.js';
import { spDump } from '../src/format/spdump.js';

const here = dirname(fileURLToPath(import.meta.url));
/** the project root: dist/test/.. /.. when compiled, test/.. when run from source */
const ROOT = [join(here, '..', '..'), join(here, '..')].find((p) => existsSync(join(p, 'fuzz', 'fuzz.mjs')))!;

const COUNT = 20_000;
const SEED = 20240611;

/** The entry points and what each may throw (besides nothing). */
const CONTRACT: ReadonlyArray<readonly [string, string]> = [
  ['splitMessages', 'DecodeError'],
  ['indexLenient', 'DecodeError'],
  ['indexMessage', 'DecodeError'],
  ['checkMessage', 'DecodeError'],
  ['readExt', 'DecodeError'],
  ['decodeMessage', 'DecodeError'],
  ['wireToCommand', 'DecodeError or WireModelError'],
  ['dumpView', 'nothing'],
  ['postproc', 'nothing'],
  ['saDump', 'nothing'],
  ['spDump', 'nothing'],
  ['shortDump', 'nothing'],
  ['kdebugSadb', 'nothing'],
];

interface FuzzResult {
  entries: string[];
  messages: number;
  calls: number;
  crashes: number;
  hangs: number;
  aborted: boolean;
  seconds: number;
  crashesByEntry: Record<string, number>;
  signatures: { sig: string; count: number; entry: string; minHex?: string }[];
  notes: string[];
}

describe(`fuzz: ${COUNT} PF_KEY messages (node fuzz/fuzz.mjs --count ${COUNT} --seed ${SEED})`, () => {
  let status: number | null = null;
  let stdout = '';
  let result: FuzzResult | undefined;

  before(() => {
    const r = spawnSync(process.execPath, [join(ROOT, 'fuzz', 'fuzz.mjs'), '--count', String(COUNT), '--seed', String(SEED), '--jobs', '2'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 240_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    status = r.status;
    stdout = r.stdout ?? '';
    const line = stdout.split('\n').find((l) => l.startsWith('FUZZ-RESULT '));
    if (line) result = JSON.parse(line.slice('FUZZ-RESULT '.length)) as FuzzResult;
    else stdout += `\n[stderr]\n${r.stderr ?? ''}\n[error] ${r.error?.message ?? ''}`;
  });

  /** The fuzzer's report of one entry point's crashes, for the assertion message. */
  const report = (entry: string): string => {
    const sigs = (result?.signatures ?? []).filter((s) => s.entry === entry);
    const blocks = stdout.split('\nCRASH in ').filter((b) => b.startsWith(`${entry} `));
    return sigs.map((s) => `${s.count} x ${s.sig}\n  minimized input: ${s.minHex}`).join('\n') + '\n\n' + blocks.map((b) => 'CRASH in ' + b.split('\n\n')[0]).join('\n\n');
  };

  test('the run completes: every message generated and fed, within the time limit', () => {
    assert.ok(result, `no FUZZ-RESULT line in the output:\n${stdout.slice(-4000)}`);
    assert.equal(result.aborted, false);
    assert.equal(result.messages, COUNT);
    assert.deepEqual(result.entries, CONTRACT.map(([e]) => e));
    // every message goes through at least a dozen entry points
    assert.ok(result.calls >= COUNT * 12, `only ${result.calls} calls`);
  });

  test('no hangs (no call over 2000 ms, none that never returns)', () => {
    assert.ok(result);
    assert.equal(result.hangs, 0, stdout.split('\n').filter((l) => l.startsWith('HANG') || l.startsWith('  input')).join('\n'));
  });

  for (const [entry, allowed] of CONTRACT) {
    test(`${entry} throws ${allowed === 'nothing' ? 'nothing' : `only ${allowed}`}`, (t) => {
      assert.ok(result);
      if (entry === 'kdebugSadb') {
        const skipped = result.notes.find((n) => n.startsWith('kdebugSadb skipped'));
        if (skipped) {
          t.skip(skipped);
          return;
        }
      }
      assert.equal(result.crashesByEntry[entry] ?? 0, 0, `${entry} crashed:\n${report(entry)}`);
    });
  }

  test('fuzz.mjs reports 0 crashes and 0 hangs and exits with status 0', () => {
    assert.ok(result);
    const summary = `fuzz.mjs exited ${status}: ${result.crashes} crashes, ${result.hangs} hangs`;
    assert.ok(/^crashes: 0$/m.test(stdout), summary);
    assert.ok(/^hangs: 0$/m.test(stdout), summary);
    assert.equal(status, 0, summary);
  });
});

const PLATFORMS: Platform[] = ['linux', 'freebsd', 'xnu'];
const options = (platform: Platform, withPorts = false, all = false, short = false): PostprocOptions => ({
  withPorts,
  all,
  short,
  now: 1700000100,
  tz: () => 0,
  ifName: () => undefined,
  protoName: () => undefined,
  platform,
});

describe('fuzz: direct properties', () => {  /** raw bytes, or a header whose length field matches (types postproc prints biased in) and a random body */
  const framed = fc
    .tuple(
      fc.constantFrom(2, 2, 2, 1),
      fc.oneof(fc.constantFrom(5, 10, 16, 18), fc.integer({ min: 0, max: 255 })),
      fc.constantFrom(0, 0, 0, 2, 17),
      fc.constantFrom(0, 1, 2, 3, 9, 11, 255),
      fc.integer({ min: 0, max: 40 }).chain((n) => fc.uint8Array({ minLength: n * 8, maxLength: n * 8 })),
    )
    .map(([version, type, errno, satype, body]) => {
      const b = new Uint8Array(16 + body.length);
      b.set([version, type, errno, satype, ((16 + body.length) / 8) & 0xff, (16 + body.length) / 8 >> 8], 0);
      b.set(body, 16);
      return b;
    });
  const bytes = fc.oneof(fc.uint8Array({ maxLength: 300 }), framed);

  const neverThrows = (arb: fc.Arbitrary<Uint8Array>) =>
    fc.property(arb, fc.constantFrom(...PLATFORMS), fc.boolean(), fc.boolean(), fc.boolean(), (b, platform, withPorts, all, short) => {
      const out = postproc(dumpView(b, platform), options(platform, withPorts, all, short));
      assert.equal(typeof out, 'string');
    });

  test('dumpView + postproc never throw on arbitrary bytes', () => {
    fc.assert(neverThrows(bytes), { numRuns: 3000, seed: SEED });
  });

  test('dumpView + postproc never throw on arbitrary bytes of at least a header (what splitMessages hands out)', () => {
    fc.assert(neverThrows(bytes.filter((b) => b.length >= 16)), { numRuns: 3000, seed: SEED });
  });

  test('decodeMessage throws nothing but DecodeError on arbitrary bytes', () => {
    fc.assert(
      fc.property(bytes, fc.constantFrom(...PLATFORMS), (b, platform) => {
        try {
          decodeMessage(b, platform);
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
        }
      }),
      { numRuns: 3000, seed: SEED },
    );
  });
});

/** Minimal inputs for what the fuzzer found; each test states the contract (they fail until the code is fixed). */
describe('fuzz: findings, minimal inputs', () => {
  const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

  test('dumpView and indexLenient on fewer than 16 bytes: no RangeError', () => {
    for (const platform of PLATFORMS) {
      for (let n = 0; n < 16; n++) {
        const b = new Uint8Array(n);
        assert.doesNotThrow(() => postproc(dumpView(b, platform), options(platform)), `dumpView(${n} bytes, ${platform})`);
        try {
          indexLenient(b, platform);
        } catch (e) {
          assert.ok(e instanceof DecodeError, `indexLenient(${n} bytes, ${platform}) threw ${String(e)}`);
        }
      }
    }
  });

  // SPDDUMP, policy ext last: one ipsec request of 32 bytes = 16-byte header + ONE sockaddr_in (the tunnel's dst is missing)
  const linuxOneSockaddr = hex(`
    02120000 08000000 00000000 00000000
    06001200 02000100 00000000 00000000
    20003200 01010000 00000000 00000000
    02000000 7f000001 00000000 00000000`);
  // FreeBSD SPDDUMP: a request whose two sockaddrs say family inet with sa_len 4
  const bsdShortSaLen = hex(`
    02120000 06000000 00000000 00000000
    04001200 02000100 00000000 00000000
    10003200 01010000 04020000 04020000`);

  for (const [name, platform, b] of [
    ['Linux: a tunnel request with one sockaddr, ending the message', 'linux', linuxOneSockaddr],
    ['FreeBSD: a tunnel request whose inet sockaddrs have sa_len 4', 'freebsd', bsdShortSaLen],
  ] as const) {
    test(`spDump and postproc do not throw: ${name}`, () => {
      assert.doesNotThrow(() => spDump(dumpView(b, platform), options(platform)));
      assert.doesNotThrow(() => postproc(dumpView(b, platform), options(platform)));
    });
  }
});
