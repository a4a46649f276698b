/**
 * Wire layouts pinned by hand-written bytes: every fixed struct's size and
 * field order on Linux, and the BSD/xnu differences (sa_len sockaddrs,
 * 8-byte ipsecrequest, platform algorithm numbers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Size } from '../src/pfkey/constants.js';
import { decodeMessage, DecodeError, indexMessage } from '../src/pfkey/decode.js';
import { serialize } from '../src/pfkey/serialize.js';
import { commandToWire } from '../src/pfkey/to-wire.js';
import { header, type SadbExt } from '../src/pfkey/types.js';
import { parse } from '../src/syntax/parser.js';
import { testSys } from './helpers.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function extBytes(e: SadbExt, platform: 'linux' | 'freebsd' = 'linux'): string {
  return hex(serialize({ header: header(3, 3), exts: [e] }, platform).slice(16));
}

test('fixed struct sizes (Linux x86-64)', () => {
  const sizes: [SadbExt, number][] = [
    [{ kind: 'sa', spi: 1, replay: 0, state: 0, auth: 0, encrypt: 0, flags: 0 }, Size.sadb_sa],
    [{ kind: 'lifetime_hard', allocations: 0, bytes: 0n, addtime: 0n, usetime: 0n }, Size.sadb_lifetime],
    [{ kind: 'sa2', mode: 0, reserved1: 0, reserved2: 0, sequence: 0, reqid: 0 }, Size.sadb_x_sa2],
    [{ kind: 'spirange', min: 0, max: 0, reserved: 0 }, Size.sadb_spirange],
    [{ kind: 'nat_t_type', natType: 2 }, Size.sadb_x_nat_t_type],
    [{ kind: 'nat_t_sport', port: 4500 }, Size.sadb_x_nat_t_port],
    [{ kind: 'policy', ptype: 0, dir: 1, reserved: 0, id: 0, priority: 0, requests: [] }, Size.sadb_x_policy],
    [{ kind: 'address_src', proto: 255, prefixlen: 32, reserved: 0, sa: { family: 2, port: 0, addr: new Uint8Array(4), flowinfo: 0, scopeId: 0 } }, 24],
    [{ kind: 'address_src', proto: 255, prefixlen: 128, reserved: 0, sa: { family: 10, port: 0, addr: new Uint8Array(16), flowinfo: 0, scopeId: 0 } }, 40],
    [{ kind: 'key_auth', bits: 160, reserved: 0, data: new Uint8Array(20) }, 32],
    [{ kind: 'key_encrypt', bits: 0, reserved: 0, data: new Uint8Array(0) }, 8],
  ];
  for (const [e, size] of sizes) assert.equal(extBytes(e).length / 2, size, e.kind);
});

test('sadb_msg and sadb_sa field order and byte order', () => {
  const b = serialize({ header: { version: 2, type: 3, errno: 0, satype: 3, reserved: 0x0102, seq: 0x03040506, pid: 0x0708090a }, exts: [{ kind: 'sa', spi: 0x12345678, replay: 4, state: 1, auth: 3, encrypt: 12, flags: 0x40 }] });
  // version type errno satype | len (host order) | reserved | seq | pid
  assert.equal(hex(b.slice(0, 16)), '0203000304000201060504030a090807');
  // len exttype | spi (network order) | replay state auth encrypt | flags (host order)
  assert.equal(hex(b.slice(16)), '0200010012345678040103 0c40000000'.replace(/ /g, ''));
});

test('Linux ipsecrequest: 16 bytes, len in bytes, reqid 32-bit, tunnel sockaddrs unpadded', () => {
  const r = parse('spdadd 10.0.0.0/8 10.1.0.0/16 any -P out ipsec esp/tunnel/192.0.2.1-198.51.100.2/unique:5;', { file: 't', sys: testSys });
  const m = commandToWire(r.statements[0]!.cmd, { pid: 0 }).messages[0]!;
  const b = serialize(m);
  const policy = hex(b.slice(16, 16 + 64));
  assert.equal(
    policy,
    '0800' + '1200' + '0200' + '02' + '00' + '00000000' + '00000080' + // sadb_x_policy: len 8, type ipsec, dir out, id 0, prio 0x80000000
      '3000' + '3200' + '02' + '03' + '0000' + '05000000' + '00000000' + // request: len 48, esp, tunnel, unique, reqid 5
      '0200' + '0000' + 'c0000201' + '0000000000000000' + // sockaddr_in 192.0.2.1
      '0200' + '0000' + 'c6336402' + '0000000000000000', // sockaddr_in 198.51.100.2
  );
});

test('BSD layouts: sa_len sockaddrs, 8-byte requests with 16-bit reqid, FreeBSD numbers', () => {
  const r = parse('spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/tunnel/192.0.2.1-198.51.100.2/unique:5;\nadd 2001:db8::1 2001:db8::2 esp 0x1000 -E aes-cbc 0x' + '00'.repeat(16) + ' -A hmac-sha256-128 0x' + '00'.repeat(32) + ';', { file: 't', sys: testSys });
  const [sp, add] = r.statements.map((s) => serialize(commandToWire(s.cmd, { platform: 'freebsd' }).messages[0]!, 'freebsd'));
  const policy = hex(sp!.slice(16, 16 + 56));
  assert.equal(
    policy,
    '0700' + '1200' + '0200' + '02' + '00' + '00000000' + '00000080' + // len 7 units
      '2800' + '3200' + '02' + '03' + '0500' + // request: len 40, esp, tunnel, unique, reqid 5 (u16)
      '10' + '02' + '0000' + 'c0000201' + '0000000000000000' + // sa_len 16, AF_INET
      '10' + '02' + '0000' + 'c6336402' + '0000000000000000',
  );
  const m = decodeMessage(add!, 'freebsd');
  const sa = m.exts.find((e) => e.kind === 'sa')!;
  assert.ok(sa.kind === 'sa' && sa.auth === 5 && sa.encrypt === 12);
  const src = m.exts.find((e) => e.kind === 'address_src')!;
  assert.ok(src.kind === 'address_src' && src.sa.family === 28);
  // FreeBSD AF_INET6 is 28, and the sockaddr starts with sa_len 28
  const span = indexMessage(add!, 'freebsd').byType.get(5)!;
  assert.deepEqual([...add!.slice(span.offset + 8, span.offset + 10)], [28, 28]);
});

test('xnu numbering differs: des-cbc is 1, hmac-sha1 is 2', () => {
  const r = parse(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E des-cbc 0x0123456789abcdef -A hmac-sha1 0x${'00'.repeat(20)};`, { file: 't', sys: testSys });
  const m = commandToWire(r.statements[0]!.cmd, { platform: 'xnu' }).messages[0]!;
  const sa = m.exts.find((e) => e.kind === 'sa')!;
  assert.ok(sa.kind === 'sa' && sa.encrypt === 1 && sa.auth === 2);
});

test('the decoder refuses what does not add up, with the offset', () => {
  const ok = serialize({ header: header(3, 3), exts: [{ kind: 'sa', spi: 0x1000, replay: 0, state: 1, auth: 0, encrypt: 2, flags: 0 }] });
  const cases: [Uint8Array, string][] = [];
  const v1 = Uint8Array.from(ok);
  v1[0] = 1;
  cases.push([v1, 'version']);
  const dup = serialize({ header: header(3, 3), exts: [{ kind: 'sa', spi: 1, replay: 0, state: 0, auth: 0, encrypt: 0, flags: 0 }, { kind: 'sa', spi: 1, replay: 0, state: 0, auth: 0, encrypt: 0, flags: 0 }] });
  cases.push([dup, 'exttype']);
  const over = Uint8Array.from(ok);
  over[16] = 3;
  cases.push([over, 'sadbmsg']);
  const zero = Uint8Array.from(ok);
  zero[16] = 0;
  cases.push([zero, 'sadbmsg']);
  cases.push([ok.slice(0, 10), 'short']);
  for (const [b, code] of cases) {
    assert.throws(() => decodeMessage(b), (e: unknown) => e instanceof DecodeError && e.code === code, code);
  }
  assert.equal(decodeMessage(ok).exts.length, 1);
});
