/**
 * pcap and pcapng through the streaming reader and the writer: a read-and-copy
 * reproduces the file byte for byte (both byte orders, both pcap resolutions,
 * several pcapng sections, SPB, PB, options, custom blocks), replace() writes
 * correct lengths and padding, and bad input gives a CaptureError naming the
 * packet and the byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { CaptureError, captureWriter, openCapture, openCaptureBytes, timestampText, type CaptureReader, type CaptureRecord, type PacketRecord, type ReaderOptions } from '../src/capture/index.js';
import * as B from './capture-build.js';

function readAll(r: CaptureReader): CaptureRecord[] {
  const out: CaptureRecord[] = [];
  for (let rec = r.next(); rec !== null; rec = r.next()) out.push(rec);
  return out;
}

/** read every record and write it back, replacing those `change` returns bytes for */
function rewrite(file: Uint8Array, change: (p: PacketRecord) => Uint8Array | undefined = () => undefined, opts: ReaderOptions = {}): Uint8Array {
  const r = openCaptureBytes(file, opts);
  const parts: Uint8Array[] = [];
  const w = captureWriter(r.format, (b) => parts.push(b.slice()));
  for (let rec = r.next(); rec !== null; rec = r.next()) {
    const nb = rec.kind === 'packet' ? change(rec) : undefined;
    if (nb && rec.kind === 'packet') w.replace(rec, nb);
    else w.copy(rec);
  }
  return B.concat(...parts);
}

function throwsCapture(f: () => unknown, code: string, re?: RegExp): CaptureError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof CaptureError, `expected CaptureError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected CaptureError ${code}`);
}

const frames = [B.filler(60, 1), B.filler(1), B.filler(0), B.filler(1514, 3), B.filler(3, 4)];

test('pcap: both byte orders and resolutions read field by field and copy byte for byte', () => {
  for (const le of [true, false]) {
    for (const nano of [false, true]) {
      const ltField = 1 | 0x04000000 | (2 << 28); // Ethernet with a 4-byte FCS (P bit, 2 words)
      const file = B.pcapFile(le, nano, ltField, frames.map((data, i) => ({ sec: 1700000000 + i, frac: nano ? 999999999 - i : 999999 - i, data, orig: data.length + i })), 65535);
      const r = openCaptureBytes(file);
      assert.deepEqual(r.format, { kind: 'pcap', littleEndian: le, nanosecond: nano, versionMajor: 2, versionMinor: 4, thiszone: 0, sigfigs: 0, snaplen: 65535, linkTypeField: ltField, linkType: 1, fcsLength: 4 });
      const recs = readAll(r) as PacketRecord[];
      assert.equal(recs.length, frames.length);
      recs.forEach((p, i) => {
        assert.equal(p.number, i + 1);
        assert.equal(p.linkType, 1);
        assert.deepEqual(p.data, frames[i]);
        assert.equal(p.originalLength, frames[i]!.length + i);
        assert.deepEqual(p.timestamp, { seconds: BigInt(1700000000 + i), fraction: BigInt(nano ? 999999999 - i : 999999 - i), unitsPerSecond: nano ? 1_000_000_000n : 1_000_000n });
      });
      assert.equal(recs[1]!.offset, 24 + 16 + 60);
      assert.equal(timestampText(recs[0]!.timestamp!), nano ? '1700000000.999999999' : '1700000000.999999');
      assert.deepEqual(rewrite(file), file);
    }
  }
});

test('pcap: replace writes the new length as captured and original length, timestamp kept; an independent parser agrees', () => {
  for (const le of [true, false]) {
    const file = B.pcapFile(le, true, 101, frames.map((data) => ({ data, orig: 9000 })));
    const out = rewrite(file, (p) => (p.number % 2 === 1 ? B.filler(p.number * 11, 9) : undefined));
    const parsed = B.parsePcap(out);
    assert.equal(parsed.le, le);
    assert.equal(parsed.nano, true);
    assert.equal(parsed.linkTypeField, 101);
    assert.equal(parsed.snaplen, 262144);
    assert.equal(parsed.records.length, frames.length);
    parsed.records.forEach((r, i) => {
      const n = i + 1;
      const want = n % 2 === 1 ? B.filler(n * 11, 9) : frames[i]!;
      assert.deepEqual(r.data, want);
      assert.equal(r.caplen, want.length);
      assert.equal(r.orig, n % 2 === 1 ? want.length : 9000);
      assert.equal(r.sec, 1700000000);
      assert.equal(r.frac, 123456);
    });
  }
});

/** tcpdump -xx output back into packets */
function tcpdumpPackets(out: string): { line: string; bytes: Uint8Array }[] {
  const pkts: { line: string; bytes: number[] }[] = [];
  for (const line of out.split('\n')) {
    const hex = /^\s+0x[0-9a-f]+:\s+((?:[0-9a-f]{2,4}\s?)+)/.exec(line);
    if (hex) pkts.at(-1)!.bytes.push(...(hex[1]!.replace(/\s+/g, '').match(/../g) ?? []).map((h) => parseInt(h, 16)));
    else if (line.trim()) pkts.push({ line, bytes: [] });
  }
  return pkts.map((p) => ({ line: p.line, bytes: Uint8Array.from(p.bytes) }));
}

test('written files are read by tcpdump (libpcap) when it is installed: pcap both orders and resolutions, pcapng both orders', (t) => {
  const which = spawnSync('tcpdump', ['--version'], { encoding: 'utf8' });
  if (which.error || which.status !== 0) {
    t.skip('tcpdump is not installed here: the independent parser in the test above checks the written file instead');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'capture-'));
  try {
    const pkt = B.ipv4(17, B.udp(1234, 9, B.filler(20)));
    const small = B.ipv4(17, B.udp(5555, 7, B.filler(3)), { src: '203.0.113.5' });
    const files: [string, Uint8Array, string][] = [];
    for (const le of [true, false]) {
      for (const nano of [false, true]) {
        const frac = nano ? 123456789 : 123456;
        files.push([`pcap le=${le} nano=${nano}`, B.pcapFile(le, nano, 101, [{ data: pkt, frac }, { data: pkt, frac }, { data: pkt, frac }]), nano ? '1700000000.123456789' : '1700000000.123456']);
      }
      const opt = (c: number, v: Uint8Array) => B.option(le, c, v);
      const ng = B.concat(
        B.shb(le, [opt(4, B.text('test')), B.endOfOptions()]),
        B.idb(le, 101, 0, [opt(9, B.bytes(9))]),
        B.epb(le, 0, 1_700_000_000_123_456_789n, pkt, [opt(1, B.text('comment')), B.endOfOptions()]),
        B.block(le, 0xbad, B.concat(B.bytes(0, 0, 0x7e, 0x3b), B.filler(5))),
        B.spb(le, pkt),
        B.pb(le, 0, 2, 1_700_000_000_123_456_789n, pkt, [opt(1, B.text('x'))]),
      );
      files.push([`pcapng le=${le}`, ng, '1700000000.123456789']);
    }
    for (const [name, file, stamp] of files) {
      const out = rewrite(file, (p) => (p.number === 1 || p.number === 3 ? small : undefined));
      const path = join(dir, 'x');
      writeFileSync(path, out);
      const nano = stamp.length > 17 ? ['--time-stamp-precision=nano'] : [];
      const r = spawnSync('tcpdump', ['-ttnqxx', ...nano, '-r', path], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      const got = tcpdumpPackets(r.stdout);
      assert.equal(got.length, 3, `${name}: ${r.stdout}`);
      assert.deepEqual(got.map((g) => g.bytes), [small, pkt, small], name);
      assert.match(got[0]!.line, new RegExp(`^${stamp.replace('.', '\\.')} IP 203\\.0\\.113\\.5\\.5555 > 198\\.51\\.100\\.2\\.7: UDP, length 3$`), name);
      assert.match(got[1]!.line, /IP 192\.0\.2\.1\.1234 > 198\.51\.100\.2\.9: UDP, length 20$/, name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function pcapngSample(le: boolean, le2: boolean): Uint8Array {
  const opt = (c: number, v: Uint8Array) => B.option(le, c, v);
  return B.concat(
    B.shb(le, [opt(4, B.text('capture test')), B.endOfOptions()]),
    B.idb(le, 1, 65535, [opt(2, B.text('eth0')), opt(9, B.bytes(9)), B.endOfOptions()]),
    B.idb(le, 101, 0, [opt(9, B.bytes(0x80 | 20)), opt(14, B.bytes(...(le ? [10, 0, 0, 0, 0, 0, 0, 0] : [0, 0, 0, 0, 0, 0, 0, 10])))]),
    B.epb(le, 0, 1_700_000_000_123_456_789n, B.filler(61), [opt(1, B.text('a comment')), opt(2, B.bytes(0, 0, 0, 1)), B.endOfOptions()]),
    B.epb(le, 1, (5n << 20n) | 3n, B.filler(1)),
    B.spb(le, B.filler(70), 70),
    B.pb(le, 0, 7, 2_000_000_000n, B.filler(5), [opt(1, B.text('old'))]),
    B.block(le, 0xbad, B.concat(B.bytes(0, 0, 0x7e, 0x3b), B.text('custom data'))),
    B.block(le, 4, B.bytes(1, 0, 8, 0, 192, 0, 2, 1, 0x61, 0, 0, 0, 0, 0, 0, 0)),
    B.block(le, 5, B.concat(new Uint8Array(12))),
    // a second section, possibly of the other byte order; its interfaces are new
    B.shb(le2),
    B.idb(le2, 113, 128),
    B.epb(le2, 0, 42n, B.filler(17)),
    B.spb(le2, B.filler(200), 300),
  );
}

test('pcapng: several sections, both byte orders, EPB/SPB/PB, options and other blocks copy byte for byte', () => {
  for (const [le, le2] of [[true, false], [false, true], [true, true], [false, false]] as const) {
    const file = pcapngSample(le, le2);
    const r = openCaptureBytes(file, { chunk: 64 });
    assert.deepEqual(r.format, { kind: 'pcapng', littleEndian: le });
    const recs = readAll(r);
    assert.deepEqual(recs.map((x) => (x.kind === 'packet' ? `p${x.number}` : `b${x.type}`)), ['b168627466', 'b1', 'b1', 'p1', 'p2', 'p3', 'p4', 'b2989', 'b4', 'b5', 'b168627466', 'b1', 'p5', 'p6']);
    const p = recs.filter((x): x is PacketRecord => x.kind === 'packet');
    assert.deepEqual(p[0]!.timestamp, { seconds: 1_700_000_000n, fraction: 123_456_789n, unitsPerSecond: 1_000_000_000n });
    assert.equal(timestampText(p[0]!.timestamp!), '1700000000.123456789');
    assert.deepEqual(p[1]!.timestamp, { seconds: 5n + 10n, fraction: 3n, unitsPerSecond: 1n << 20n }, 'if_tsresol 2^-20 and if_tsoffset 10');
    assert.equal(timestampText(p[1]!.timestamp!), '15.000002861', 'binary fractions as nanoseconds, truncated');
    assert.equal(p[1]!.linkType, 101);
    assert.equal(p[0]!.linkType, 1);
    assert.equal(p[2]!.timestamp, undefined, 'an SPB has no timestamp');
    assert.deepEqual(p[2]!.data, B.filler(70));
    assert.equal(p[3]!.interfaceId, 0);
    assert.deepEqual(p[3]!.data, B.filler(5));
    assert.deepEqual(p[3]!.timestamp, { seconds: 2n, fraction: 0n, unitsPerSecond: 1_000_000_000n });
    assert.equal(p[4]!.linkType, 113);
    assert.equal(p[4]!.number, 5);
    assert.equal(p[5]!.data.length, 128, 'SPB captured length: the original length cut to the snaplen');
    assert.equal(p[5]!.originalLength, 300);
    assert.deepEqual(rewrite(file), file);
    assert.deepEqual(rewrite(file, undefined, { chunk: 7 }), file, 'a tiny read chunk changes nothing');
  }
});

test('pcapng: replace updates captured and original length, pads to 32 bits, keeps options and byte order', () => {
  for (const le of [true, false]) {
    const file = pcapngSample(le, !le);
    const news = new Map<number, Uint8Array>([
      [1, B.filler(3, 2)],
      [3, B.filler(9, 3)],
      [4, B.filler(4, 4)],
      [5, B.filler(0)],
      [6, B.filler(100, 6)],
    ]);
    const out = rewrite(file, (p) => news.get(p.number));
    const back = readAll(openCaptureBytes(out));
    const before = readAll(openCaptureBytes(file));
    assert.equal(back.length, before.length);
    back.forEach((rec, i) => {
      const old = before[i]!;
      if (rec.kind !== 'packet' || !news.has(rec.number)) return assert.deepEqual(rec.raw, old.raw);
      const o = old as PacketRecord;
      const want = news.get(rec.number)!;
      assert.deepEqual(rec.data, want);
      assert.equal(rec.originalLength, want.length);
      assert.equal(rec.raw.length % 4, 0);
      assert.deepEqual(rec.timestamp, o.timestamp);
      assert.equal(rec.interfaceId, o.interfaceId);
      assert.equal(rec.layout.kind, o.layout.kind);
      assert.equal(rec.layout.littleEndian, o.layout.littleEndian);
      if (rec.layout.kind === 'epb' || rec.layout.kind === 'pb') {
        assert.deepEqual(rec.layout.options, (o.layout as typeof rec.layout).options, 'options kept');
        const dv = new DataView(rec.raw.buffer, rec.raw.byteOffset);
        assert.equal(dv.getUint32(20, rec.layout.littleEndian), want.length);
        assert.equal(dv.getUint32(24, rec.layout.littleEndian), want.length);
        assert.deepEqual([...rec.raw.subarray(28 + want.length, 28 + ((want.length + 3) & ~3))].filter((x) => x !== 0), [], 'zero padding');
        if (rec.layout.kind === 'pb') assert.deepEqual(rec.raw.subarray(8, 12), o.raw.subarray(8, 12), 'interface and drops count kept');
      }
    });
  }
});

test('replace: a packet longer than the snapshot length is refused (readers would cut it)', () => {
  const file = B.pcapFile(true, false, 1, [{ data: B.filler(60) }], 100);
  const r = openCaptureBytes(file);
  const w = captureWriter(r.format, () => {});
  const p = r.next() as PacketRecord;
  throwsCapture(() => w.replace(p, B.filler(101)), 'cannot-write', /^packet 1 at byte 24: new packet of 101 bytes exceeds the snapshot length 100$/);
  w.replace(p, B.filler(100));
});

test('reading from a file descriptor in small chunks gives the same records', () => {
  const dir = mkdtempSync(join(tmpdir(), 'capture-'));
  try {
    const file = pcapngSample(false, true);
    const path = join(dir, 'x.pcapng');
    writeFileSync(path, file);
    const fd = openSync(path, 'r');
    try {
      const recs = readAll(openCapture(fd, { chunk: 13 }));
      assert.deepEqual(B.concat(...recs.map((r) => r.raw)), file);
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('errors: stable code, packet number, byte offset, one line; they stay', () => {
  throwsCapture(() => openCaptureBytes(B.text('GET / HTTP/1.1\r\n\r\n')), 'not-capture', /^at byte 0: not a pcap or pcapng file$/);
  throwsCapture(() => openCaptureBytes(new Uint8Array(0)), 'not-capture', /empty file/);
  throwsCapture(() => openCaptureBytes(B.pcapHeader(true, false, 1).subarray(0, 20)), 'truncated-header');

  const good = B.pcapFile(true, false, 1, [{ data: B.filler(100) }, { data: B.filler(50) }]);
  const cut = good.subarray(0, good.length - 10);
  const r = openCaptureBytes(cut);
  assert.equal((r.next() as PacketRecord).number, 1);
  const e = throwsCapture(() => r.next(), 'truncated', /^packet 2 at byte 140: truncated record: 50 bytes captured, 40 in the file$/);
  assert.equal(e.packet, 2);
  assert.equal(e.offset, 140);
  assert.equal(e.message.includes('\n'), false);
  assert.throws(() => r.next(), (x) => x === e, 'the error stays');
  throwsCapture(() => readAll(openCaptureBytes(good.subarray(0, 24 + 116 + 5))), 'truncated', /packet 2 at byte 140: truncated record header: 5 of 16 bytes/);

  // 4 GiB claimed: refused from the header alone
  const huge = B.concat(B.pcapHeader(false, false, 1), B.pcapRecord(false, { data: B.filler(10), caplen: 0xffffffff }));
  throwsCapture(() => readAll(openCaptureBytes(huge)), 'too-large', /^packet 1 at byte 24: captured length 4294967295 exceeds the limit of/);

  const le = true;
  const sec = B.concat(B.shb(le), B.idb(le, 1));
  throwsCapture(() => readAll(openCaptureBytes(B.concat(sec, B.epb(le, 3, 0n, B.filler(4))))), 'bad-interface', /^packet 1 at byte 48: packet on interface 3, but the section describes 1$/);
  const badTrailer = B.epb(le, 0, 0n, B.filler(4));
  badTrailer[badTrailer.length - 4] = badTrailer[badTrailer.length - 4]! ^ 4;
  throwsCapture(() => readAll(openCaptureBytes(B.concat(sec, badTrailer))), 'bad-block', /trailing length/);
  const odd = B.epb(le, 0, 0n, B.filler(4));
  new DataView(odd.buffer).setUint32(4, 0xfffffffe, le);
  throwsCapture(() => readAll(openCaptureBytes(B.concat(sec, odd))), 'bad-block', /not a multiple of 4/);
  const big = B.epb(le, 0, 0n, B.filler(4));
  new DataView(big.buffer).setUint32(4, 0xfffffffc, le);
  throwsCapture(() => readAll(openCaptureBytes(B.concat(sec, big))), 'too-large', /block length 4294967292 \(type 6\) exceeds/);
  const v2 = B.shb(le);
  v2[12] = 2;
  throwsCapture(() => readAll(openCaptureBytes(v2)), 'unsupported-version');
  const badBom = B.shb(le);
  badBom[8] = 0;
  throwsCapture(() => openCaptureBytes(badBom), 'not-capture');
  throwsCapture(() => readAll(openCaptureBytes(B.concat(sec, badBom))), 'bad-block', /byte-order magic/);
  throwsCapture(() => readAll(openCaptureBytes(B.concat(B.shb(le), B.spb(le, B.filler(4))))), 'bad-interface');
  const bigCap = B.epb(le, 0, 0n, B.filler(8));
  new DataView(bigCap.buffer).setUint32(20, 9, le);
  throwsCapture(() => readAll(openCaptureBytes(B.concat(sec, bigCap))), 'bad-block', /captured length 9 does not fit/);
  throwsCapture(() => readAll(openCaptureBytes(B.concat(sec, B.epb(le, 0, 0n, B.filler(8)).subarray(0, 30)))), 'truncated', /^packet 1 at byte 48: truncated block \(type 6\): 40 bytes long, 30 in the file$/);
  // a smaller limit applies to blocks that are not packets too
  throwsCapture(() => readAll(openCaptureBytes(B.concat(sec, B.block(le, 0xbad, B.filler(200))), { maxRecord: 128 })), 'too-large');
});
