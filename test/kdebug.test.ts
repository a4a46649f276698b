/**
 * kdebugSadb() against the reference's `setkey -v` output (golden corpus),
 * hand-made edge cases for the branches the corpus does not reach, and a
 * fuzz property (random bytes never throw, never read outside the message).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { kdebugSadb } from '../src/format/kdebug.js';
import { ipsecHexdump } from '../src/format/hexdump.js';
import { goldenCases, read, readBin, splitWire } from './helpers.js';

/**
 * Replace each key dump ("  key=" up to the line that ends in " }"; dumps of
 * 32+ bytes span lines) by a marker: the 0.8.2 reference dumps the bytes 64
 * past the extension's start instead of the key (see src/format/kdebug.ts).
 */
function maskKeys(text: string): string {
  const out: string[] = [];
  let inKey = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('  key=')) inKey = true;
    if (!inKey) out.push(line);
    else if (line.endsWith(' }')) {
      out.push('  key=<masked> }');
      inKey = false;
    }
  }
  return out.join('\n');
}

/** Our key dumps, one string per key (continuation lines included). */
function keyDumps(text: string): string[] {
  return [...text.matchAll(/^ {2}key=[^}]* \}$/gm)].map((m) => m[0]);
}

/** The key bytes of every KEY_AUTH/KEY_ENCRYPT extension, in message order. */
function realKeys(msg: Uint8Array): string[] {
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const keys: string[] = [];
  for (let o = 16; o + 8 <= msg.length; ) {
    const len = v.getUint16(o, true) * 8;
    const type = v.getUint16(o + 2, true);
    if (len === 0) break;
    if (type === 8 || type === 9) keys.push(`  key=${ipsecHexdump(msg, o + 8, v.getUint16(o + 4, true) >> 3)} }`);
    o += len;
  }
  return keys;
}

for (const dir of goldenCases('parse')) {
  test(`kdebug golden ${basename(dir)}: every sent message is in the -v output`, () => {
    const stdout = read(join(dir, 'f-v.stdout'));
    // the first message is SADB_REGISTER, sent before -v takes effect
    const msgs = splitWire(readBin(join(dir, 'sent.bin'))).slice(1);
    assert.ok(msgs.length > 0);
    for (const m of msgs) {
      const ours = kdebugSadb(m);
      assert.ok(maskKeys(stdout).includes(maskKeys(ours + '\n')), `not in f-v.stdout:\n${ours}`);
      assert.deepEqual(keyDumps(ours), realKeys(m));
    }
  });
}

/** A message: a 16-byte sadb_msg (ADD, ESP, pid 4242) whose len counts `exts`. */
function msgOf(...exts: number[][]): Uint8Array {
  const body = exts.flat();
  const b = new Uint8Array(16 + body.length);
  b.set([2, 3, 0, 3], 0);
  new DataView(b.buffer).setUint16(4, b.length / 8, true);
  new DataView(b.buffer).setUint32(12, 4242, true);
  b.set(body, 16);
  return b;
}

const le16 = (n: number): number[] => [n & 0xff, n >> 8];
const le32 = (n: number): number[] => [...le16(n & 0xffff), ...le16(n >>> 16)];
/** an extension header followed by `rest` (its len is derived, in 8-byte units) */
const ext = (type: number, rest: number[]): number[] => {
  assert.equal((rest.length + 4) % 8, 0, 'extensions are whole 8-byte units');
  return [...le16((rest.length + 4) / 8), ...le16(type), ...rest];
};
const sin = (a: number[], port: number): number[] => [2, 0, port >> 8, port & 0xff, ...a, 0, 0, 0, 0, 0, 0, 0, 0];
const HEAD = 'sadb_msg{ version=2 type=3 errno=0 satype=3\n';

test('kdebug: short messages and broken extension headers', () => {
  assert.equal(kdebugSadb(new Uint8Array(15)), 'kdebug_sadb: message truncated.\n');
  assert.equal(kdebugSadb(new Uint8Array(0)), 'kdebug_sadb: message truncated.\n');
  assert.equal(kdebugSadb(msgOf([0, 0, 1, 0, 0, 0, 0, 0])).split('\n').slice(2).join('\n'), 'sadb_ext{ len=0 type=1 }\nkdebug_sadb: invalid ext_len=0 was passed.\n');
  // len=3 is not > tlen=8 (units vs bytes, as in C) but 24 bytes run past the message
  assert.match(kdebugSadb(msgOf([3, 0, 1, 0, 0, 0, 0, 0])), /len=3 type=1 }\nkdebug_sadb: ext_len exceeds end of buffer\.\n$/);
  assert.match(kdebugSadb(msgOf([9, 0, 1, 0, 0, 0, 0, 0])), /kdebug_sadb: ext_len exceeds end of buffer\.\n$/);
  assert.match(kdebugSadb(msgOf(ext(24, [0, 0, 0, 0]))), /kdebug_sadb: invalid ext_type 24 was passed\.\n$/);
  // sadb_msg_len says more than there is: the second extension header is cut
  const cut = msgOf(ext(20, [2, 0, 0, 0]), [1, 0]);
  new DataView(cut.buffer).setUint16(4, 5, true);
  assert.match(kdebugSadb(cut), /sadb_x_nat_t_type\{ type=2 \}\nkdebug_sadb: sadb_ext truncated\.\n$/);
});

test('kdebug: short structures stop the dump', () => {
  assert.match(kdebugSadb(msgOf(ext(1, [0, 0, 0, 0]), ext(20, [2, 0, 0, 0]))), /type=1 }\nkdebug_sadb: sadb_sa truncated\.\n$/);
  assert.match(kdebugSadb(msgOf(ext(2, new Array(12).fill(0)))), /kdebug_sadb: sadb_lifetime truncated\.\n$/);
  // an address extension with no room for the sockaddr
  assert.match(kdebugSadb(msgOf(ext(5, [255, 32, 0, 0]))), /reserved=0x0000 }\nkdebug_sadb: sockaddr truncated\.\n$/);
});

test('kdebug: sa, lifetime, address, nat-t and sa2 fields', () => {
  const m = msgOf(
    ext(1, [0, 0, 0x10, 0x01, 4, 1, 3, 12, ...le32(0x40)]),
    ext(3, [...le32(7), ...le32(1000), 0, 0, 0, 0, ...le32(30), 0, 0, 0, 1, ...le32(9), 0, 0, 0, 0]),
    ext(5, [17, 24, 0xab, 0xcd, ...sin([10, 0, 0, 1], 500)]),
    ext(19, [2, 0, 0, 0, ...le32(5), ...le32(77)]),
    ext(21, [0x11, 0x94, 0, 0]),
  );
  const want = [
    'sadb_sa{ spi=4097 replay=4 state=1\n  auth=3 encrypt=12 flags=0x00000040 }',
    'sadb_lifetime{ alloc=7, bytes=1000\n  addtime=30, usetime=9 }',
    'sadb_address{ proto=17 prefixlen=24 reserved=0xabcd }\nsockaddr{ len=16 family=2 port=500\n 0a000001  }',
    'sadb_x_sa2{ mode=2 reqid=77\n  reserved1=0 reserved2=0 sequence=5 }',
    'sadb_x_nat_t_port{ port=4500 }',
  ];
  for (const w of want) assert.ok(kdebugSadb(m).includes(w + '\n'), w);
});

test('kdebug: the key itself is dumped, and a bits/len mismatch is reported', () => {
  const key = Array.from({ length: 40 }, (_, i) => i);
  const out = kdebugSadb(msgOf(ext(9, [...le16(320), 0, 0, ...key])));
  assert.ok(out.endsWith(`sadb_key{ bits=320 reserved=0\n  key=${ipsecHexdump(Uint8Array.from(key))} }\n`));
  assert.ok(out.includes('\n 20212223 '), 'a 40-byte key wraps after 32 bytes');
  const short = kdebugSadb(msgOf(ext(8, [...le16(128), 0, 0, 1, 2, 3, 4, 5, 6, 7, 8])));
  assert.ok(short.endsWith('  key=kdebug_sadb_key: key length mismatch, bit:16 len:8.\n 01020304 05060708 }\n'));
});

test('kdebug: inet6 sockaddr (Linux and FreeBSD layouts)', () => {
  const a6 = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1];
  const linux = [...le16(10), 0, 80, ...le32(0x12345), ...a6, ...le32(3)];
  assert.ok(kdebugSadb(msgOf(ext(6, [6, 128, 0, 0, ...linux, 0, 0, 0, 0]))).endsWith('sockaddr{ len=28 family=10 port=80\n  flowinfo=0x00012345, scope_id=0x00000003\n 20010db8 00000000 00000000 00000001  }\n'));
  const bsd = [28, 28, 0, 80, ...le32(0), ...a6, ...le32(0)];
  assert.ok(kdebugSadb(msgOf(ext(6, [6, 128, 0, 0, ...bsd, 0, 0, 0, 0])), 'freebsd').includes('sockaddr{ len=28 family=28 port=80\n'));
});

test('kdebug: policy requests, with and without endpoints, and broken lengths', () => {
  const pol = (reqs: number[]): number[] => ext(18, [...le16(2), 1, 0, ...le32(0x1a), ...le32(7), ...reqs]);
  const req = (len: number, rest: number[] = []): number[] => [...le16(len), ...le16(50), 2, 2, 0, 0, ...le32(3), 0, 0, 0, 0, ...rest];
  const tunnel = kdebugSadb(msgOf(pol(req(48, [...sin([1, 2, 3, 4], 0), ...sin([5, 6, 7, 8], 0)]))));
  assert.ok(tunnel.includes('sadb_x_policy{ type=2 dir=1 id=1a priority=7 }\n { len=48 proto=50 mode=2 level=2 reqid=3\nsockaddr{ len=16 family=2 port=0\n 01020304  }\nsockaddr{ len=16 family=2 port=0\n 05060708  }\n }\n'));
  // len 0: the C text, then kdebug_sadb goes on with the next extension
  const zero = kdebugSadb(msgOf(pol(req(0)), ext(20, [2, 0, 0, 0])));
  assert.match(zero, / }\nkdebug_sadb_x_policy: wrong policy struct\.\nsadb_ext\{ len=1 type=20 }\nsadb_x_nat_t_type\{ type=2 }\n$/);
  // a request longer than the extension (its endpoints fit): the C text, after the request
  const long = kdebugSadb(msgOf(pol(req(64, [...sin([1, 2, 3, 4], 0), ...sin([5, 6, 7, 8], 0)]))));
  assert.match(long, /05060708 {2}}\n }\ninvalid ipsec policy length\n$/);
  // 8 bytes left: no room for a 16-byte request header
  assert.match(kdebugSadb(msgOf(pol(new Array(8).fill(0)))), /priority=7 }\ninvalid ipsec policy length\n$/);
  // a request claiming endpoints that are not there
  assert.match(kdebugSadb(msgOf(pol(req(48)))), /reqid=3\nkdebug_sadb: sockaddr truncated\.\n$/);
  // FreeBSD's 8-byte request with a u16 reqid
  const bsd = kdebugSadb(msgOf(ext(18, [...le16(2), 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...le16(8), ...le16(51), 1, 3, ...le16(9)])), 'freebsd');
  assert.ok(bsd.includes(' { len=8 proto=51 mode=1 level=3 reqid=9\n }\n'));
});

test('kdebug: identity, proposal, supported, kmaddress', () => {
  const id = kdebugSadb(msgOf(ext(10, [...le16(2), 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, ...Array.from(Buffer.from('a"b\n')), 0, 0, 0, 0])));
  assert.ok(id.endsWith('sadb_ident_src{ type=2 id=5\n  str="a"b\\012" }\n'));
  const comb = [3, 12, ...le16(1), ...le16(160), ...le16(160), ...le16(128), ...le16(256), ...le32(0), ...le32(1), ...le32(2), ...new Array(48).fill(0)];
  const prop = kdebugSadb(msgOf(ext(13, [32, 0, 0, 0, ...comb])));
  assert.ok(prop.includes('sadb_prop{ replay=32\nsadb_comb{ auth=3 encrypt=12 flags=0x0001 reserved=0x00000000\n  auth_minbits=160 auth_maxbits=160 encrypt_minbits=128 encrypt_maxbits=256\n  soft_alloc=1 hard_alloc=2 soft_bytes=0 hard_bytes=0\n'));
  const sup = kdebugSadb(msgOf(ext(14, [0, 0, 0, 0, 2, 0, ...le16(128), ...le16(128), 0, 0])));
  assert.ok(sup.endsWith('sadb_sup{\n  { id=2 ivlen=0 min=128 max=128 }\n}\n'));
  const km = kdebugSadb(msgOf(ext(25, [1, 2, 3, 4, ...sin([1, 1, 1, 1], 0), ...[...le16(10), ...new Array(26).fill(0)], 0, 0, 0, 0])));
  assert.ok(km.includes('sadb_x_kmaddress{ reserved=0x01020304 }\nsockaddr{ len=16 family=2 port=0\n 01010101  }\nsockaddr{ len=28 family=10'));
  assert.ok(km.endsWith('kdebug_sadb_x_kmaddress:  !!!! Please, note the unexpected mismatch in address family.\n'));
  const kmShort = kdebugSadb(msgOf(ext(25, [0, 0, 0, 0, ...sin([1, 1, 1, 1], 0), 0, 0, 0, 0, 0, 0, 0, 0])));
  assert.ok(kmShort.endsWith('kdebug_sadb_x_kmaddress: not enough data to read second sockaddr.\n'));
  assert.ok(kdebugSadb(msgOf(ext(12, [0, 0, 0, 0]))).startsWith(HEAD));
});

/** Bytes biased towards lengths, families and types the printers branch on. */
const byte = fc.oneof(fc.constantFrom(0, 1, 2, 10, 16, 28, 30, 48), fc.integer({ min: 0, max: 255 }));
const body96 = fc.array(byte, { minLength: 96, maxLength: 96 }).map((a) => Uint8Array.from(a));
/** Random extensions with plausible headers: type 0..26, len matching their body. */
const extArb = fc.tuple(fc.integer({ min: 0, max: 26 }), fc.integer({ min: 0, max: 12 }), body96).map(([type, units, body]) => {
  const e = new Uint8Array(Math.max(units, 1) * 8);
  e.set(body.subarray(0, e.length - 4), 4);
  e.set([units & 0xff, 0, type, 0], 0);
  if (type === 18) e.set([2, 0], 4); // IPSEC_POLICY_IPSEC, so the requests get walked
  return e;
});
const headerMsg = fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.array(extArb, { maxLength: 6 }), fc.integer({ min: 0, max: 7 })).map(([head, exts, junk]) => {
  const body = Buffer.concat(exts);
  const b = new Uint8Array(16 + body.length + junk);
  b.set(head, 0);
  b[0] = 2; // PF_KEY_V2
  b.set(body, 16);
  new DataView(b.buffer).setUint16(4, (16 + body.length) / 8, true);
  return b;
});
const platform = fc.constantFrom('linux' as const, 'freebsd' as const, 'xnu' as const);

test('kdebug: never throws, ends in a newline, reads nothing outside the message', () => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), headerMsg), platform, fc.uint8Array({ minLength: 8, maxLength: 8 }), (msg, plat, pad) => {
      const out = kdebugSadb(msg, plat);
      assert.equal(typeof out, 'string');
      assert.ok(out === '' || out.endsWith('\n'));
      // the same bytes inside a larger buffer with other bytes around them print the same
      const big = new Uint8Array(msg.length + 16);
      big.set(pad, 0);
      big.set(msg, 8);
      big.set(pad, 8 + msg.length);
      assert.equal(kdebugSadb(big.subarray(8, 8 + msg.length), plat), out);
    }),
    { numRuns: 3000 },
  );
});

test('ipsecHexdump: a space before each 4-byte group, a bare newline before bytes 32, 64, ...; any offset and length (property)', () => {
  // libipsec's ipsec_hexdump() as a byte loop, the way the C does it
  const byByte = (b: Uint8Array, start: number, len: number): string => {
    let out = '';
    for (let i = 0; i < len; i++) {
      if (i !== 0 && i % 32 === 0) out += '\n';
      if (i % 4 === 0) out += ' ';
      out += b[start + i]!.toString(16).padStart(2, '0');
    }
    return out;
  };
  assert.equal(ipsecHexdump(Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 0x01])), ' deadbeef 01');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(), (b, s, l) => {
      const start = b.length ? s % b.length : 0;
      const len = b.length - start ? l % (b.length - start + 1) : 0;
      // a view that does not start its buffer: the offset must be the view's
      const view = new Uint8Array([9, ...b]).subarray(1);
      assert.equal(ipsecHexdump(view, start, len), byByte(b, start, len));
    }),
    { numRuns: 500 },
  );
  // past 1024 bytes the text is written into a buffer of its own (longer than any real key): both, and their border
  const b = Uint8Array.from({ length: 1200 }, (_, i) => (i * 37 + 11) & 255);
  for (const len of [31, 32, 33, 64, 65, 1023, 1024, 1025, 1100, 1195]) {
    for (const start of [0, 1, 5]) assert.equal(ipsecHexdump(b, start, len), byByte(b, start, len), `len ${len} at ${start}`);
  }
  assert.equal(ipsecHexdump(b.subarray(0, 9)), ' 0b30557a 9fc4e90e 33');
});
