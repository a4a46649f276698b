/**
 * Finding the IPsec header in frames built by test/capture-build.ts: every
 * link type of the table, IPv4 options and fragments, IPv6 extension
 * headers, AH/ESP/IPComp, ESP in UDP (RFC 3948) and what is not ESP on the
 * NAT-T port, link padding and truncation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dissect, linkFamily, locateIp, type IpsecFound, type IpsecNotFound } from '../src/capture/index.js';
import * as B from './capture-build.js';

const ESP = B.esp(0x01020304, 7, B.filler(48, 3));

function found(r: IpsecFound | IpsecNotFound): IpsecFound {
  assert.ok(r.ok, `expected IPsec, got ${r.ok ? '' : `${r.reason}: ${r.detail}`}`);
  return r;
}
function missing(r: IpsecFound | IpsecNotFound, reason: string, detail?: RegExp): void {
  assert.equal(r.ok, false, 'expected no IPsec');
  if (!r.ok) {
    assert.equal(r.reason, reason, r.detail);
    if (detail) assert.match(r.detail, detail);
  }
}

test('Ethernet + IPv4 + ESP: offsets, addresses, SPI, the protocol byte', () => {
  const frame = B.ether(0x0800, B.ipv4(50, ESP));
  const f = found(dissect(frame, 1));
  assert.equal(f.version, 4);
  assert.equal(f.ipOffset, 14);
  assert.equal(f.offset, 34);
  assert.equal(f.end, frame.length);
  assert.equal(f.ipEnd, frame.length);
  assert.equal(f.nextHeaderOffset, 14 + 9);
  assert.equal(frame[f.nextHeaderOffset], 50);
  assert.equal(f.protocol, 'esp');
  assert.equal(f.spi, 0x01020304);
  assert.equal(f.srcText, '192.0.2.1');
  assert.equal(f.dstText, '198.51.100.2');
  assert.deepEqual(f.src, B.v4('192.0.2.1'));
  assert.equal(f.udp, undefined);
});

test('Ethernet padding and FCS lie beyond the IP total length', () => {
  const ip = B.ipv4(50, B.esp(9, 1, B.filler(4)));
  const frame = B.concat(B.ether(0x0800, ip), new Uint8Array(60 - 14 - ip.length), B.bytes(0xde, 0xad, 0xbe, 0xef));
  const f = found(dissect(frame, 1));
  assert.equal(f.end, 14 + ip.length);
  assert.equal(f.ipEnd, 14 + ip.length);
  assert.ok(frame.length > f.end);
});

test('IPv4 options: the IPsec header starts after IHL*4 bytes', () => {
  const options = B.bytes(0x94, 4, 0, 0, 1, 1, 1, 0); // router alert, NOPs, end of options
  const f = found(dissect(B.ipv4(50, ESP, { options }), 101));
  assert.equal(f.offset, 28);
  assert.equal(f.nextHeaderOffset, 9);
});

test('VLAN tags, single and stacked (802.1ad outer, 802.1Q inner), before IPv4 and IPv6', () => {
  for (const vlans of [[0x8100], [0x88a8, 0x8100], [0x9100, 0x8100, 0x8100]]) {
    const f4 = found(dissect(B.ether(0x0800, B.ipv4(50, ESP), vlans), 1));
    assert.equal(f4.ipOffset, 14 + 4 * vlans.length);
    const f6 = found(dissect(B.ether(0x86dd, B.ipv6(50, ESP), vlans), 1));
    assert.equal(f6.ipOffset, 14 + 4 * vlans.length);
    assert.equal(f6.offset, f6.ipOffset + 40);
    assert.deepEqual(locateIp(1, B.ether(0x86dd, B.ipv6(50, ESP), vlans)), { ipOffset: 14 + 4 * vlans.length, claimed: 6 });
  }
  missing(dissect(B.ether(0x0806, B.filler(28)), 1), 'not-ip', /0x0806/);
  missing(dissect(B.ether(0x8100, new Uint8Array(0)).subarray(0, 15), 1), 'truncated');
  missing(dissect(B.ether(0x86dd, B.ipv4(50, ESP)), 1), 'not-ip', /says IPv6, packet is IPv4/);
});

test('Linux cooked captures v1 and v2', () => {
  const a = found(dissect(B.sll(0x0800, B.ipv4(50, ESP)), 113));
  assert.equal(a.ipOffset, 16);
  const b = found(dissect(B.sll(0x86dd, B.ipv6(51, B.ahHeader(5, 1, 12).raw)), 113));
  assert.equal(b.protocol, 'ah');
  const c = found(dissect(B.sll2(0x86dd, B.ipv6(50, ESP)), 276));
  assert.equal(c.ipOffset, 20);
  const d = found(dissect(B.sll2(0x0800, B.ipv4(50, ESP)), 276));
  assert.equal(d.offset, 40);
  missing(dissect(B.sll(0x0003, B.filler(30)), 113), 'not-ip');
  missing(dissect(B.filler(10), 276), 'truncated');
});

test('DLT_NULL in both host byte orders and every AF_INET6 value; DLT_LOOP in network order', () => {
  for (const le of [true, false]) {
    assert.equal(found(dissect(B.nullLink(2, le, B.ipv4(50, ESP)), 0)).ipOffset, 4);
    for (const fam of [10, 24, 28, 30]) {
      assert.equal(found(dissect(B.nullLink(fam, le, B.ipv6(50, ESP)), 0)).version, 6);
      assert.equal(linkFamily(0, B.nullLink(fam, le, B.ipv6(50, ESP))), fam);
    }
    missing(dissect(B.nullLink(7, le, B.ipv4(50, ESP)), 0), 'not-ip', /family 7/);
  }
  assert.equal(found(dissect(B.nullLink(2, false, B.ipv4(50, ESP)), 108)).version, 4);
  assert.equal(found(dissect(B.nullLink(24, false, B.ipv6(50, ESP)), 108)).version, 6);
  // DLT_LOOP is network byte order only: a little-endian 24 is family 0x18000000
  missing(dissect(B.nullLink(24, true, B.ipv6(50, ESP)), 108), 'not-ip', /family 402653184/);
  missing(dissect(B.bytes(2, 0), 0), 'truncated');
});

test('raw IP link types: 101, 12, 14 either version; 228 IPv4 only; 229 IPv6 only', () => {
  for (const lt of [101, 12, 14]) {
    assert.equal(found(dissect(B.ipv4(50, ESP), lt)).ipOffset, 0);
    assert.equal(found(dissect(B.ipv6(50, ESP), lt)).version, 6);
  }
  assert.equal(found(dissect(B.ipv4(50, ESP), 228)).version, 4);
  assert.equal(found(dissect(B.ipv6(50, ESP), 229)).version, 6);
  missing(dissect(B.ipv6(50, ESP), 228), 'not-ip');
  missing(dissect(B.ipv4(50, ESP), 229), 'not-ip');
  missing(dissect(B.ipv4(50, ESP), 147), 'not-ip', /link type 147 is not supported/);
  missing(dissect(B.bytes(0x50, 1, 2), 101), 'not-ip', /version 5/);
  missing(dissect(new Uint8Array(0), 101), 'truncated');
});

test('IPv6 extension headers are walked; the protocol byte is the last one that named the next header', () => {
  const ext = [B.hopByHop(1), B.routing(), B.fragment(0, false), B.destOpts()];
  const pkt = B.ipv6(50, ESP, { ext });
  const f = found(dissect(pkt, 101));
  const extLen = 16 + 24 + 8 + 8;
  assert.equal(f.offset, 40 + extLen);
  assert.equal(f.nextHeaderOffset, 40 + 16 + 24 + 8, 'the destination options header names ESP');
  assert.equal(pkt[f.nextHeaderOffset], 50);
  assert.equal(f.srcText, '2001:db8::1');
  assert.equal(f.dstText, '2001:db8:0:1::2');
  assert.equal(found(dissect(B.ipv6(50, ESP), 101)).nextHeaderOffset, 6);
  // AH as a header: reported with its own next header
  const ah = B.ahHeader(0xaabbccdd, 3, 12);
  const withAh = B.ipv6(50, B.concat(ah.raw, ESP), { ext: [B.hopByHop(), ah] });
  const a = found(dissect(withAh, 101));
  assert.equal(a.protocol, 'ah');
  assert.equal(a.offset, 48);
  assert.equal(a.ahNextHeader, 50);
  assert.equal(a.ahLength, 24);
  assert.equal(a.spi, 0xaabbccdd);
  assert.equal(a.nextHeaderOffset, 40);
  missing(dissect(B.ipv6(59, new Uint8Array(0), { ext: [B.destOpts()] }), 101), 'not-ipsec', /protocol 59/);
});

test('fragments are reported, not dissected (IPv4 MF or offset; IPv6 unless atomic)', () => {
  missing(dissect(B.ipv4(50, ESP, { more: true }), 101), 'fragment', /more fragments/);
  missing(dissect(B.ipv4(50, ESP, { fragOffset: 1480 }), 101), 'fragment', /offset 1480/);
  missing(dissect(B.ipv6(50, ESP, { ext: [B.fragment(0, true)] }), 101), 'fragment');
  missing(dissect(B.ipv6(50, ESP, { ext: [B.fragment(1480, false)] }), 101), 'fragment', /offset 1480/);
  assert.equal(found(dissect(B.ipv6(50, ESP, { ext: [B.fragment(0, false)] }), 101)).offset, 48);
});

test('AH and IPComp over IPv4', () => {
  const ah = B.ahHeader(0x100, 1, 12);
  ah.raw[0] = 6;
  const a = found(dissect(B.ipv4(51, B.concat(ah.raw, B.tcp(1, 2, B.filler(5)))), 101));
  assert.deepEqual([a.protocol, a.ahNextHeader, a.ahLength, a.spi, a.offset], ['ah', 6, 24, 0x100, 20]);
  const c = found(dissect(B.ipv4(108, B.concat(B.bytes(4, 0, 0x12, 0x34), B.filler(30))), 101));
  assert.deepEqual([c.protocol, c.spi], ['ipcomp', 0x1234]);
  missing(dissect(B.ipv4(51, B.filler(8)), 101), 'truncated');
  const longAh = B.ahHeader(1, 1, 12).raw;
  longAh[1] = 200;
  missing(dissect(B.ipv4(51, longAh), 101), 'truncated', /AH needs 808 bytes/);
});

test('ESP in UDP (RFC 3948): port 4500 either way, extra NAT-T ports when given; IKE and keepalives are not ESP', () => {
  const src = B.v4('192.0.2.1');
  const dst = B.v4('198.51.100.2');
  const frame = B.ether(0x0800, B.ipv4(17, B.udp(4500, 4500, ESP, { src, dst })));
  const f = found(dissect(frame, 1));
  assert.deepEqual(f.udp, { offset: 34, srcPort: 4500, dstPort: 4500 });
  assert.equal(f.offset, 42);
  assert.equal(f.protocol, 'esp');
  assert.equal(f.spi, 0x01020304);
  assert.equal(f.nextHeaderOffset, 23);
  assert.equal(found(dissect(B.ipv4(17, B.udp(4500, 1025, ESP)), 101)).udp?.dstPort, 1025);
  assert.equal(found(dissect(B.ipv6(17, B.udp(33000, 4500, ESP)), 101)).offset, 48);
  missing(dissect(B.ipv4(17, B.udp(4501, 4502, ESP)), 101), 'not-ipsec', /UDP 4501 -> 4502/);
  assert.equal(found(dissect(B.ipv4(17, B.udp(4501, 4502, ESP)), 101, { natTPorts: [4502] })).udp?.srcPort, 4501);
  assert.equal(found(dissect(B.ipv4(17, B.udp(4501, 4502, ESP)), 101, { natTPorts: new Set([4501]) })).offset, 28);
  missing(dissect(B.ipv4(17, B.udp(4500, 4500, B.concat(new Uint8Array(4), B.filler(40)))), 101), 'not-ipsec', /IKE \(non-ESP marker\)/);
  missing(dissect(B.ipv4(17, B.udp(4500, 4500, B.bytes(0xff))), 101), 'not-ipsec', /keepalive/);
  missing(dissect(B.ipv4(17, B.udp(500, 500, B.filler(40))), 101), 'not-ipsec');
  missing(dissect(B.ipv4(17, B.udp(4500, 4500, B.bytes(1, 2, 3))), 101), 'not-ipsec');
  // a UDP length shorter than the IP payload bounds the ESP packet
  const u = B.udp(4500, 4500, ESP);
  const padded = B.ipv4(17, B.concat(u, B.filler(6)));
  assert.equal(found(dissect(padded, 101)).end, 20 + u.length);
});

test('truncated captures and other protocols', () => {
  const pkt = B.ether(0x0800, B.ipv4(50, ESP));
  missing(dissect(pkt.subarray(0, 40), 1), 'truncated', /captured 26 of 76 bytes/);
  missing(dissect(pkt.subarray(0, 30), 1), 'truncated', /IPv4 header cut/);
  missing(dissect(B.ipv6(50, ESP).subarray(0, 39), 101), 'truncated');
  missing(dissect(B.ipv6(50, ESP, { ext: [B.hopByHop(2)] }).subarray(0, 50), 101), 'truncated');
  missing(dissect(B.ipv4(6, B.tcp(1, 2, B.filler(3))), 101), 'not-ipsec', /protocol 6/);
  missing(dissect(B.ipv4(50, B.filler(4)), 101), 'truncated', /ESP needs 8 bytes/);
  const bad = B.ipv4(50, ESP);
  bad[0] = 0x44;
  missing(dissect(bad, 101), 'not-ip', /header length 16/);
  missing(dissect(B.ipv4(50, ESP, { totalLength: 12 }), 101), 'not-ip', /total length 12/);
  // segmentation offload leaves total length 0: the frame's end is the packet's
  assert.equal(found(dissect(B.ipv4(50, ESP, { totalLength: 0 }), 101)).end, 20 + ESP.length);
  assert.equal(found(dissect(B.ipv6(50, ESP, { payloadLength: 0 }), 101)).end, 40 + ESP.length);
});

test('IPv6 addresses in RFC 5952 text: the longest (then first) zero run compressed, none for a single zero word, lower case', () => {
  const text = (a: string) => {
    const f = dissect(B.ipv6(50, ESP, { src: a, dst: '::1' }), 229);
    assert.ok(f.ok);
    return [f.srcText, f.dstText];
  };
  assert.deepEqual(text('2001:db8:0:0:1:0:0:1'), ['2001:db8::1:0:0:1', '::1']);
  assert.deepEqual(text('2001:0:0:1:0:0:0:1'), ['2001:0:0:1::1', '::1']);
  assert.deepEqual(text('2001:db8:0:1:1:1:1:1'), ['2001:db8:0:1:1:1:1:1', '::1']);
  assert.deepEqual(text('2001:DB8:AAAA::'), ['2001:db8:aaaa::', '::1']);
  assert.deepEqual(text('::ffff:c000:201'), ['::ffff:192.0.2.1', '::1']);
});
