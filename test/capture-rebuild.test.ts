/**
 * The packet the receiver would have: transport mode (ESP, ESP in UDP, AH)
 * with lengths, checksums and next header checked by recomputation, tunnel
 * mode with the link header's protocol field rewritten for the inner version,
 * and the checksum helpers against RFC 1071 and an independent sum.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dissect, internetChecksum, ipv4HeaderChecksum, rebuildTransport, rebuildTunnel, stripAh, transportChecksum, transportChecksumOk, type IpsecFound, type Rebuilt, type RebuildProblem } from '../src/capture/index.js';
import * as B from './capture-build.js';

const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const u32 = (b: Uint8Array, at: number, le = false) => new DataView(b.buffer, b.byteOffset).getUint32(at, le);

function found(frame: Uint8Array, linkType: number): IpsecFound {
  const r = dissect(frame, linkType);
  assert.ok(r.ok, r.ok ? '' : r.detail);
  return r;
}
function ok(r: Rebuilt | RebuildProblem): Uint8Array {
  assert.ok(r.ok, r.ok ? '' : `${r.reason}: ${r.detail}`);
  return r.frame;
}
/** an IPv4 header is right when its one's-complement sum is all ones */
const v4HeaderValid = (b: Uint8Array, at: number) => internetChecksum(b, at, at + (b[at]! & 15) * 4) === 0;

test('checksums: RFC 1071 section 3 example, odd lengths, and agreement with an independent sum', () => {
  // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (one's complement)
  assert.equal(internetChecksum(B.bytes(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7)), ~0xddf2 & 0xffff);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), (b) => {
      assert.equal(internetChecksum(b), B.cksum(b));
    }),
    { numRuns: 200 },
  );
  const seg = B.udp(1, 2, B.filler(33), { src: B.v4('10.0.0.1'), dst: B.v4('10.0.0.2') });
  assert.equal(transportChecksum(B.v4('10.0.0.1'), B.v4('10.0.0.2'), 17, seg, 0, seg.length), u16(seg, 6));
  assert.ok(transportChecksumOk(B.v4('10.0.0.1'), B.v4('10.0.0.2'), 17, seg, 0, seg.length));
  const seg6 = B.tcp(1, 2, B.filler(7), { src: B.v6('2001:db8::1'), dst: B.v6('2001:db8::2') });
  assert.ok(transportChecksumOk(B.v6('2001:db8::1'), B.v6('2001:db8::2'), 6, seg6, 0, seg6.length));
  const ip = B.ipv4(50, B.filler(8));
  assert.equal(ipv4HeaderChecksum(ip, 0), u16(ip, 10));
});

test('transport ESP over IPv4 (Ethernet, padded, FCS): header kept, protocol, total length and checksum redone, trailer dropped', () => {
  const ip = B.ipv4(50, B.esp(1, 1, B.filler(64)), { options: B.bytes(1, 1, 1, 0) });
  const frame = B.concat(B.ether(0x0800, ip, [0x8100]), B.bytes(0xde, 0xad, 0xbe, 0xef));
  const f = found(frame, 1);
  const inner = B.tcp(80, 1234, B.filler(11), { src: f.src, dst: f.dst });
  const out = ok(rebuildTransport(frame, f, inner, 6));
  assert.equal(out.length, 18 + 24 + inner.length);
  assert.deepEqual(out.subarray(0, 18), frame.subarray(0, 18), 'link header as it was');
  assert.equal(out[18 + 9], 6);
  assert.equal(u16(out, 18 + 2), 24 + inner.length);
  assert.ok(v4HeaderValid(out, 18));
  assert.deepEqual(out.subarray(18 + 20, 18 + 24), B.bytes(1, 1, 1, 0), 'options kept');
  assert.deepEqual(out.subarray(42), inner, 'no NAT-T: the payload is as decrypted');
  assert.equal(dissect(out, 1).ok, false);
});

test('transport ESP over IPv6 with extension headers: the last next header set, payload length redone', () => {
  const ext = [B.hopByHop(), B.destOpts(1)];
  const frame = B.sll2(0x86dd, B.ipv6(50, B.esp(2, 2, B.filler(40)), { ext }));
  const f = found(frame, 276);
  const inner = B.udp(53, 53, B.filler(9));
  const out = ok(rebuildTransport(frame, f, inner, 17));
  const ip = 20;
  assert.equal(u16(out, ip + 4), 8 + 16 + inner.length);
  assert.equal(out[ip + 6], 0, 'first next header still hop-by-hop');
  assert.equal(out[ip + 40], 60, 'hop-by-hop still names the destination options');
  assert.equal(out[ip + 48], 17, 'destination options now name UDP');
  assert.deepEqual(out.subarray(ip + 64), inner);
});

test('NAT-T transport (RFC 3948 section 3.1.2): UDP header removed, inner TCP/UDP checksum valid for the addresses the packet carries', () => {
  const src = B.v4('203.0.113.9');
  const dst = B.v4('198.51.100.2');
  const pre = { src: B.v4('10.1.1.1'), dst: B.v4('10.2.2.2') };
  for (const [proto, inner] of [
    [6, B.tcp(22, 5000, B.filler(17), pre)],
    [17, B.udp(1000, 2000, B.filler(5), pre)],
  ] as const) {
    const frame = B.ether(0x0800, B.ipv4(17, B.udp(4500, 4500, B.esp(3, 3, B.filler(50)), { src, dst }), { src: '203.0.113.9' }));
    const f = found(frame, 1);
    assert.equal(transportChecksumOk(src, dst, proto, inner, 0, inner.length), false, 'computed for the pre-NAT addresses');
    const out = ok(rebuildTransport(frame, f, inner, proto));
    assert.equal(out.length, 34 + inner.length);
    assert.equal(out[23], proto);
    assert.equal(u16(out, 16), 20 + inner.length);
    assert.ok(v4HeaderValid(out, 14));
    assert.ok(transportChecksumOk(src, dst, proto, out, 34, out.length));
  }
  // an IPv4 UDP checksum of 0 (none sent) stays 0
  const none = B.udp(1, 2, B.filler(4));
  const frame = B.ipv4(17, B.udp(4500, 4500, B.esp(3, 3)));
  const out = ok(rebuildTransport(frame, found(frame, 101), none, 17));
  assert.equal(u16(out, 26), 0);
  // IPv6: the checksum is mandatory and recomputed
  const f6 = B.ipv6(17, B.udp(4500, 4500, B.esp(3, 3)));
  const in6 = B.udp(7, 8, B.filler(3));
  const o6 = ok(rebuildTransport(f6, found(f6, 101), in6, 17));
  assert.equal(u16(o6, 4), in6.length);
  assert.ok(transportChecksumOk(B.v6('2001:db8::1'), B.v6('2001:db8:0:1::2'), 17, o6, 40, o6.length));
  assert.notEqual(u16(o6, 46), 0);
});

test('AH transport: the AH header removed and its next header put in its place; ESP behind AH is found next', () => {
  const esp = B.esp(0x77, 1);
  const ah = B.ahHeader(0x55, 1, 12);
  ah.raw[0] = 50;
  const frame = B.ether(0x0800, B.ipv4(51, B.concat(ah.raw, esp)));
  const f = found(frame, 1);
  const out = ok(stripAh(frame, f));
  assert.equal(out[23], 50);
  assert.equal(u16(out, 16), 20 + esp.length);
  assert.ok(v4HeaderValid(out, 14));
  const g = found(out, 1);
  assert.deepEqual([g.protocol, g.spi, g.offset], ['esp', 0x77, 34]);
  const ah6 = B.ahHeader(0x56, 1, 16);
  const frame6 = B.ipv6(6, B.tcp(1, 2, B.filler(3)), { ext: [B.hopByHop(), ah6] });
  const out6 = ok(stripAh(frame6, found(frame6, 229)));
  assert.equal(out6[40], 6, 'hop-by-hop now names TCP');
  assert.equal(u16(out6, 4), 8 + 23);
  assert.deepEqual(out6.subarray(48), B.tcp(1, 2, B.filler(3)));
});

test('tunnel mode: link header kept, protocol field rewritten when the inner version differs, trailer dropped', () => {
  const inner4 = B.ipv4(6, B.tcp(1, 2, B.filler(3)), { src: '10.0.0.1', dst: '10.0.0.2' });
  const inner6 = B.ipv6(17, B.udp(1, 2, B.filler(3)));
  const outer4 = B.ipv4(50, B.esp(1, 1));
  const outer6 = B.ipv6(50, B.esp(1, 1));
  const trailer = B.bytes(1, 2, 3, 4);
  const cases: [number, (ip: Uint8Array, v: 4 | 6) => Uint8Array, (out: Uint8Array) => number, Record<4 | 6, number>][] = [
    [1, (ip, v) => B.concat(B.ether(v === 4 ? 0x0800 : 0x86dd, ip, [0x88a8, 0x8100]), trailer), (o) => u16(o, 20), { 4: 0x0800, 6: 0x86dd }],
    [113, (ip, v) => B.sll(v === 4 ? 0x0800 : 0x86dd, ip), (o) => u16(o, 14), { 4: 0x0800, 6: 0x86dd }],
    [276, (ip, v) => B.sll2(v === 4 ? 0x0800 : 0x86dd, ip), (o) => u16(o, 0), { 4: 0x0800, 6: 0x86dd }],
    [0, (ip, v) => B.nullLink(v === 4 ? 2 : 30, true, ip), (o) => u32(o, 0, true), { 4: 2, 6: 24 }],
    [0, (ip, v) => B.nullLink(v === 4 ? 2 : 28, false, ip), (o) => u32(o, 0), { 4: 2, 6: 24 }],
    [108, (ip, v) => B.nullLink(v === 4 ? 2 : 24, false, ip), (o) => u32(o, 0), { 4: 2, 6: 24 }],
  ];
  for (const [lt, frameOf, field, want] of cases) {
    for (const [outer, ov] of [[outer4, 4], [outer6, 6]] as const) {
      for (const [inner, iv] of [[inner4, 4], [inner6, 6]] as const) {
        const frame = frameOf(outer, ov);
        const f = found(frame, lt);
        const out = ok(rebuildTunnel(frame, f, lt, inner));
        assert.equal(out.length, f.ipOffset + inner.length, `link ${lt}`);
        assert.deepEqual(out.subarray(f.ipOffset), inner);
        const expect = iv === ov ? field(frame) : want[iv];
        assert.equal(field(out), expect, `link ${lt}: IPv${ov} outer, IPv${iv} inner`);
        assert.ok(found(B.concat(out.subarray(0, f.ipOffset), iv === 4 ? B.ipv4(50, B.esp(1, 1)) : B.ipv6(50, B.esp(1, 1))), lt).ok);
      }
    }
  }
  // the capture's own AF_INET6 numbering, when the caller learnt it
  const n = B.nullLink(2, true, outer4);
  assert.equal(u32(ok(rebuildTunnel(n, found(n, 0), 0, inner6, { inet6Family: 30 })), 0, true), 30);
  for (const lt of [101, 12, 14]) assert.deepEqual(ok(rebuildTunnel(outer4, found(outer4, lt), lt, inner6)), inner6);
  assert.deepEqual(ok(rebuildTunnel(outer4, found(outer4, 228), 228, inner4)), inner4);
  const no = rebuildTunnel(outer4, found(outer4, 228), 228, inner6);
  assert.deepEqual(no.ok ? undefined : no.reason, 'link-cannot-carry');
  const no6 = rebuildTunnel(outer6, found(outer6, 229), 229, inner4);
  assert.deepEqual(no6.ok ? undefined : no6.reason, 'link-cannot-carry');
  const bad = rebuildTunnel(outer4, found(outer4, 101), 101, B.bytes(0x10, 0));
  assert.deepEqual(bad.ok ? undefined : bad.reason, 'inner-not-ip');
});

test('transport: a payload that no IPv4 total length can say is refused', () => {
  const frame = B.ipv4(50, B.esp(1, 1));
  const r = rebuildTransport(frame, found(frame, 101), new Uint8Array(65516), 6);
  assert.deepEqual(r.ok ? undefined : r.reason, 'too-long');
  assert.ok(rebuildTransport(frame, found(frame, 101), new Uint8Array(65515), 6).ok);
});
