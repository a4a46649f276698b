/**
 * setkey --decrypt end to end, without a kernel: captures written by our own
 * encoder (src/esp sealers, test/capture-build.ts frames) for the SAs of a
 * config file, opened by the command; every opened packet must be exactly
 * the packet the sender had (transport: the original IP packet; tunnel: the
 * inner one), everything else byte for byte as it was. The kernel's own ESP
 * is the VM suite's (test/kernel-decrypt.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ahSealer, deflateIpcomp, espSealer, isUnsupported, type EspSa } from '../src/esp/index.js';
import { concat, ether, ipv4, ipv6, parsePcap, pcapFile, sll, text, udp, v4 } from './capture-build.js';

const SETKEY = fileURLToPath(new URL('../setkey.cjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'setkey-decrypt-'));

const hex = (n: number, salt: number): string => Buffer.from(Array.from({ length: n }, (_, i) => (i * 13 + salt) & 0xff)).toString('hex');
const K = {
  cbc: hex(16, 1),
  sha1: hex(20, 2),
  gcm: hex(20, 3),
  sha256: hex(32, 4),
  ahsha256: hex(32, 5),
  natcbc: hex(16, 6),
  natsha1: hex(20, 7),
  compcbc: hex(16, 8),
  compsha1: hex(20, 9),
};
const CONF = `
add 10.0.0.1 10.0.0.2 esp 0x1001 -m transport -E aes-cbc 0x${K.cbc} -A hmac-sha1 0x${K.sha1};
add 2001:db8::1 2001:db8::2 esp 0x1002 -m tunnel -E aes-gcm-16 0x${K.gcm};
add 10.0.0.1 10.0.0.2 ah 0x1003 -m transport -A hmac-sha256 0x${K.ahsha256};
add 10.0.0.1 10.0.0.2 esp 0x1004 -m transport -esn -r 64 -E aes-cbc 0x${K.cbc} -A hmac-sha256 0x${K.sha256};
add 10.0.0.1[4500] 10.0.0.2[4500] esp-udp 0x1005 -m transport -E aes-cbc 0x${K.natcbc} -A hmac-sha1 0x${K.natsha1};
add 10.0.0.1 10.0.0.2 ipcomp 0x105 -m transport -C deflate;
add 10.0.0.1 10.0.0.2 esp 0x1006 -m transport -E aes-cbc 0x${K.compcbc} -A hmac-sha1 0x${K.compsha1};
add 10.0.0.1 10.0.0.2 esp 0x1007 -m transport -E twofish-cbc 0x${K.cbc} -A hmac-sha1 0x${K.sha1};
`;

const b = (h: string): Uint8Array => Buffer.from(h, 'hex');
const sealer = (sa: EspSa) => {
  const s = espSealer(sa);
  assert.ok(!isUnsupported(s));
  return s;
};
const S = { src: v4('10.0.0.1'), dst: v4('10.0.0.2') };
const V4 = { src: '10.0.0.1', dst: '10.0.0.2' };
const seg = (k: number): Uint8Array => udp(1000 + k, 2000, text(`payload ${k} `.repeat(k + 1)), S);

interface Frame {
  readonly sent: Uint8Array;
  /** what --decrypt must write: the receiver's packet (undefined: the frame unchanged) */
  readonly want?: Uint8Array;
}

function frames(wrongSha1 = false): Frame[] {
  const out: Frame[] = [];
  const sha1 = wrongSha1 ? hex(20, 99) : K.sha1;
  const esp1 = sealer({ spi: 0x1001, flags: 0, esn: false, enc: { name: 'aes-cbc', key: b(K.cbc) }, auth: { name: 'hmac-sha1', key: b(sha1) } });
  for (let k = 0; k < 3; k++) out.push({ sent: ether(0x0800, ipv4(50, esp1.seal(17, seg(k), k + 1), V4)), want: ether(0x0800, ipv4(17, seg(k), V4)) });
  // tunnel over IPv6, an IPv4 packet inside: the link header's type follows the inner packet
  const gcm = sealer({ spi: 0x1002, flags: 0, esn: false, enc: { name: 'aes-gcm-16', key: b(K.gcm) } });
  const inner = ipv4(17, seg(7), V4);
  out.push({ sent: ether(0x86dd, ipv6(50, gcm.seal(4, inner, 1), { src: '2001:db8::1', dst: '2001:db8::2' })), want: ether(0x0800, inner) });
  // AH over IPv4: the packet as it was before AH went in
  const ah = ahSealer({ spi: 0x1003, flags: 0, esn: false, auth: { name: 'hmac-sha256', key: b(K.ahsha256) } });
  assert.ok(!isUnsupported(ah));
  const plain = ipv4(17, seg(3), V4);
  out.push({ sent: ether(0x0800, ah.seal(plain, 4, 20, 1)), want: ether(0x0800, plain) });
  // ESN across the 2^32 boundary: the high half is inferred (RFC 4303 appendix A)
  const esn = sealer({ spi: 0x1004, flags: 0, esn: true, enc: { name: 'aes-cbc', key: b(K.cbc) }, auth: { name: 'hmac-sha256', key: b(K.sha256) } });
  for (const [low, high] of [[0xfffffffe, 0], [0xffffffff, 0], [0, 1], [1, 1]] as const) {
    out.push({ sent: ether(0x0800, ipv4(50, esn.seal(17, seg(4), low, high), V4)), want: ether(0x0800, ipv4(17, seg(4), V4)) });
  }
  // NAT-T: ESP in UDP 4500, the UDP header removed and the inner checksum recomputed
  const nat = sealer({ spi: 0x1005, flags: 0, esn: false, enc: { name: 'aes-cbc', key: b(K.natcbc) }, auth: { name: 'hmac-sha1', key: b(K.natsha1) } });
  out.push({ sent: ether(0x0800, ipv4(17, udp(4500, 4500, nat.seal(17, seg(5), 1)), V4)), want: ether(0x0800, ipv4(17, seg(5), V4)) });
  // IPComp inside ESP
  const comp = sealer({ spi: 0x1006, flags: 0, esn: false, enc: { name: 'aes-cbc', key: b(K.compcbc) }, auth: { name: 'hmac-sha1', key: b(K.compsha1) } });
  const big = seg(40);
  out.push({ sent: ether(0x0800, ipv4(50, comp.seal(108, deflateIpcomp(17, 0x105, big), 1), V4)), want: ether(0x0800, ipv4(17, big, V4)) });
  // unknown SPI, an SA we cannot decrypt, and plain traffic: copied as they were
  out.push({ sent: ether(0x0800, ipv4(50, concat(b('0000dead00000001'), new Uint8Array(40)), V4)) });
  out.push({ sent: ether(0x0800, ipv4(50, concat(b('0000100700000001'), new Uint8Array(48)), V4)) });
  out.push({ sent: ether(0x0800, ipv4(17, seg(9), V4)) });
  return out;
}

function decrypt(args: string[]): { status: number | null; stderr: string; stdout: Buffer } {
  const r = spawnSync(process.execPath, [SETKEY, ...args], { cwd: dir, maxBuffer: 64 << 20 });
  return { status: r.status, stderr: r.stderr.toString(), stdout: r.stdout };
}

writeFileSync(join(dir, 'sad.conf'), CONF);

test('--decrypt opens ESP (transport, tunnel, ESN, NAT-T, IPComp) and AH, and copies the rest', () => {
  const fs = frames();
  writeFileSync(join(dir, 'in.pcap'), pcapFile(true, false, 1, fs.map((f) => ({ data: f.sent }))));
  const r = decrypt(['--decrypt', 'in.pcap', '-f', 'sad.conf', '-o', 'out.pcap']);
  // the twofish SA is not tried (said), so not every packet opened: 2
  assert.equal(r.status, 2, r.stderr);
  const got = parsePcap(readFileSync(join(dir, 'out.pcap'))).records;
  assert.equal(got.length, fs.length);
  fs.forEach((f, i) => assert.deepEqual(Buffer.from(got[i]!.data), Buffer.from(f.want ?? f.sent), `packet ${i + 1}`));
  assert.equal(statSync(join(dir, 'out.pcap')).mode & 0o777, 0o600, 'the opened capture is the owner’s only');
  assert.match(r.stderr, /14 packets read, 13 IPsec, 11 opened; written to out\.pcap/);
  assert.match(r.stderr, /esp 10\.0\.0\.1->10\.0\.0\.2 spi 0x00001004: 4 packets, .*4 opened, 0 ICV failures, 0 bad padding, 0 sequence gaps, 0 replays/);
  assert.match(r.stderr, /spi 0x00001007: 1 packet, .*1 not tried: cannot decrypt twofish-cbc/);
  assert.match(r.stderr, /unknown SPI: esp 10\.0\.0\.1->10\.0\.0\.2 spi 0x0000dead: 1 packet/);
  assert.doesNotMatch(r.stderr, new RegExp(K.cbc), 'no key in the summary');
});

test('--decrypt: one wrong key gives ICV failures for that SA only; JSON summary; exit 2', () => {
  const fs = frames(true).slice(0, 10);
  writeFileSync(join(dir, 'bad.pcap'), pcapFile(false, true, 1, fs.map((f) => ({ data: f.sent }))));
  const r = decrypt(['--decrypt', 'bad.pcap', '-f', 'sad.conf', '-o', 'bad-out.pcap', '--format=json']);
  assert.equal(r.status, 2, r.stderr);
  const doc = JSON.parse(r.stderr) as { sas: { spi: number; packets: number; opened: number; icvFailures: number }[] };
  for (const s of doc.sas) {
    if (s.spi === 0x1001) assert.deepEqual([s.packets, s.opened, s.icvFailures], [3, 0, 3]);
    else assert.deepEqual([s.opened, s.icvFailures], [s.packets, 0], `spi ${s.spi.toString(16)}`);
  }
  // the failed packets are as they were
  const got = parsePcap(readFileSync(join(dir, 'bad-out.pcap'))).records;
  for (let i = 0; i < 3; i++) assert.deepEqual(Buffer.from(got[i]!.data), Buffer.from(fs[i]!.sent));
});

test('--decrypt: every packet of known SAs opened is exit 0; Linux cooked capture; to standard output', () => {
  const fs = frames().slice(0, 3);
  const cooked = fs.map((f) => ({ data: sll(0x0800, f.sent.subarray(14)) }));
  writeFileSync(join(dir, 'sll.pcap'), pcapFile(true, false, 113, cooked));
  const r = decrypt(['--decrypt', 'sll.pcap', '-f', 'sad.conf']);
  assert.equal(r.status, 0, r.stderr);
  const got = parsePcap(r.stdout).records;
  fs.forEach((f, i) => assert.deepEqual(Buffer.from(got[i]!.data), Buffer.from(sll(0x0800, f.want!.subarray(14)))));
});

test('--decrypt refuses what it cannot do, leaving nothing behind', () => {
  writeFileSync(join(dir, 'junk.pcap'), 'this is not a capture at all');
  let r = decrypt(['--decrypt', 'junk.pcap', '-f', 'sad.conf', '-o', 'junk-out.pcap']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^setkey: junk\.pcap: .*not a pcap or pcapng file.*; nothing written\n$/);
  assert.ok(!existsSync(join(dir, 'junk-out.pcap')));
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.setkey-')), [], 'no temporary file left');
  // a capture cut in the middle of its last record (a writer stopped mid-packet): the packets before it, said, exit 2
  const fs3 = frames().slice(0, 3);
  const whole = pcapFile(true, false, 1, fs3.map((f) => ({ data: f.sent })));
  writeFileSync(join(dir, 'cut.pcap'), whole.subarray(0, whole.length - 10));
  r = decrypt(['--decrypt', 'cut.pcap', '-f', 'sad.conf', '-o', 'cut-out.pcap']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /the capture is cut short: packet 3 at byte \d+: .*; the packets before it were written/);
  const cut = parsePcap(readFileSync(join(dir, 'cut-out.pcap'))).records;
  assert.deepEqual(cut.map((c) => Buffer.from(c.data)), fs3.slice(0, 2).map((f) => Buffer.from(f.want!)));
  // damage that is not a cut end: an error, nothing written
  const bad = whole.slice();
  new DataView(bad.buffer).setUint32(24 + 8, 0x7fffffff, true);
  writeFileSync(join(dir, 'bad-len.pcap'), bad);
  r = decrypt(['--decrypt', 'bad-len.pcap', '-f', 'sad.conf', '-o', 'bad-len-out.pcap']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /packet 1 at byte 24/);
  assert.ok(!existsSync(join(dir, 'bad-len-out.pcap')));
  r = decrypt(['--decrypt', 'in.pcap', '-f', 'sad.conf', '-o', 'in.pcap']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /is the capture being read/);
  // a directory as OUT: said before anything is read, no temporary file left beside it
  mkdirSync(join(dir, 'outdir'), { recursive: true });
  r = decrypt(['--decrypt', 'in.pcap', '-f', 'sad.conf', '-o', 'outdir']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /-o outdir is a directory/);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.setkey-')), []);
  r = decrypt(['--decrypt', 'missing.pcap', '-f', 'sad.conf', '-o', 'x.pcap']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot read missing\.pcap: no such file or directory/);
  writeFileSync(join(dir, 'broken.conf'), 'add 10.0.0.1 10.0.0.2 esp 0x1 -E aes-cbc 0x00;\n');
  r = decrypt(['--decrypt', 'in.pcap', '-f', 'broken.conf', '-o', 'x.pcap']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /broken\.conf:1:\d+: .*\n[^]*nothing decrypted/);
  r = decrypt(['-o', 'x.pcap', '-D']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /invalid option -- 'o'/);
});

test('--format=wireshark: the SAD as an esp_sa file, an SA Wireshark cannot take as a comment', () => {
  // what PF_KEY can carry (the engine has af_key's semantics: no AEAD there)
  const conf = [
    `add 10.0.0.1 10.0.0.2 esp 0x1001 -m transport -E aes-cbc 0x${K.cbc} -A hmac-sha1 0x${K.sha1};`,
    `add 2001:db8::1 2001:db8::2 esp 0x1002 -E camellia-cbc 0x${K.cbc} -A hmac-sha256 0x${K.sha256};`,
    `add 10.0.0.1 10.0.0.2 ah 0x1003 -m transport -A hmac-sha256 0x${K.ahsha256};`,
  ];
  writeFileSync(join(dir, 'ws.conf'), conf.join('\n'));
  const r = spawnSync(process.execPath, [SETKEY, '--store', join(dir, 'store'), '-f', join(dir, 'ws.conf')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const w = spawnSync(process.execPath, [SETKEY, '--store', join(dir, 'store'), '-D', '--format=wireshark'], { encoding: 'utf8' });
  assert.equal(w.status, 0, w.stderr);
  const lines = w.stdout.split('\n');
  assert.equal(lines[0], '# This file is automatically generated, DO NOT MODIFY.');
  assert.ok(lines.includes(`"IPv4","10.0.0.1","10.0.0.2","0x00001001","AES-CBC [RFC3602]","0x${K.cbc}","HMAC-SHA-1-96 [RFC2404]","0x${K.sha1}"`), w.stdout);
  assert.ok(lines.includes('# esp 2001:db8::1->2001:db8::2 spi 0x00001002: Wireshark cannot decrypt camellia-cbc'), w.stdout);
  assert.ok(lines.some((l) => /^# ah 10\.0\.0\.1->10\.0\.0\.2 spi 0x00001003: /.test(l)));
});

test('--decrypt: Blowfish and CAST, which Node keeps in OpenSSL’s legacy provider, are opened (setkey runs itself again with it)', () => {
  const esp = fileURLToPath(new URL('../src/esp/index.js', import.meta.url));
  // the sealer needs the provider too: a child node that has it writes the ESP packets
  const seal = `
    const { espSealer } = await import(${JSON.stringify(esp)});
    const out = [];
    for (const [spi, name, bits] of [[0x3001, 'blowfish-cbc', 16], [0x3002, 'cast128-cbc', 16]]) {
      const s = espSealer({ spi, flags: 0, esn: false, enc: { name, key: Buffer.alloc(bits, spi & 0xff) }, auth: { name: 'hmac-sha1', key: Buffer.alloc(20, 7) } });
      if (s.unsupported) throw new Error(s.unsupported);
      out.push(Buffer.from(s.seal(17, Buffer.from(process.argv.at(-1), 'hex'), 1)).toString('hex'));
    }
    console.log(out.join(' '));`;
  const inner = seg(2);
  const r = spawnSync(process.execPath, ['--openssl-legacy-provider', '--input-type=module', '-e', seal, Buffer.from(inner).toString('hex')], { encoding: 'utf8' });
  if (r.status !== 0) return assert.fail(`sealing with the legacy provider: ${r.stderr}`);
  const sealed = r.stdout.trim().split(' ').map((h) => Buffer.from(h, 'hex'));
  writeFileSync(join(dir, 'bf.pcap'), pcapFile(true, false, 1, sealed.map((e) => ({ data: ether(0x0800, ipv4(50, e, V4)) }))));
  writeFileSync(
    join(dir, 'bf.conf'),
    `add 10.0.0.1 10.0.0.2 esp 0x3001 -m transport -E blowfish-cbc 0x${'01'.repeat(16)} -A hmac-sha1 0x${'07'.repeat(20)};\n` +
      `add 10.0.0.1 10.0.0.2 esp 0x3002 -m transport -E cast128-cbc 0x${'02'.repeat(16)} -A hmac-sha1 0x${'07'.repeat(20)};\n`,
  );
  const d = decrypt(['--decrypt', 'bf.pcap', '-f', 'bf.conf', '-o', 'bf-out.pcap']);
  assert.equal(d.status, 0, d.stderr);
  const got = parsePcap(readFileSync(join(dir, 'bf-out.pcap'))).records;
  for (const g of got) assert.deepEqual(Buffer.from(g.data), Buffer.from(ether(0x0800, ipv4(17, inner, V4))));
});

test('--decrypt without -f: the SAs of the backend (a store), read with their keys', () => {
  const store = join(dir, 'store2');
  writeFileSync(join(dir, 'store2.conf'), `add 10.0.0.1 10.0.0.2 esp 0x1001 -m transport -E aes-cbc 0x${K.cbc} -A hmac-sha1 0x${K.sha1};\n`);
  const a = spawnSync(process.execPath, [SETKEY, '--store', store, '-f', join(dir, 'store2.conf')], { encoding: 'utf8' });
  assert.equal(a.status, 0, a.stderr);
  const fs = frames().slice(0, 3);
  writeFileSync(join(dir, 'st.pcap'), pcapFile(true, false, 1, fs.map((f) => ({ data: f.sent }))));
  const r = decrypt(['--decrypt', 'st.pcap', '--store', store, '-o', 'st-out.pcap']);
  assert.equal(r.status, 0, r.stderr);
  const got = parsePcap(readFileSync(join(dir, 'st-out.pcap'))).records;
  fs.forEach((f, i) => assert.deepEqual(Buffer.from(got[i]!.data), Buffer.from(f.want!)));
  // a store that does not exist is not created by reading it: nothing to open with
  const none = decrypt(['--decrypt', 'st.pcap', '--store', join(dir, 'no-store'), '-o', 'none.pcap']);
  // no packet of a known SA failed (there is none): 0, with the warning and the unknown SPIs said
  assert.equal(none.status, 0, none.stderr);
  assert.match(none.stderr, /holds no ESP, AH or IPComp SA/);
  assert.match(none.stderr, /unknown SPI: esp 10\.0\.0\.1->10\.0\.0\.2 spi 0x00001001: 3 packets/);
  assert.ok(!existsSync(join(dir, 'no-store')));
});

test('--decrypt: IP fragments are copied as they were and counted (reassembly is not done)', () => {
  const f = frames()[0]!.sent;
  const ip = f.subarray(14);
  // the first half of the ESP packet as a first fragment (MF set), then the rest
  const firstPart = ipv4(50, ip.subarray(20, 20 + 48), { ...V4, more: true });
  const rest = ipv4(50, ip.subarray(20 + 48), { ...V4, fragOffset: 48 });
  writeFileSync(join(dir, 'frag.pcap'), pcapFile(true, false, 1, [{ data: ether(0x0800, firstPart) }, { data: ether(0x0800, rest) }]));
  const r = decrypt(['--decrypt', 'frag.pcap', '-f', 'sad.conf', '-o', 'frag-out.pcap']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /2 packets read, 0 IPsec, 0 opened/);
  assert.match(r.stderr, /2 IP fragments copied as they were/);
  const got = parsePcap(readFileSync(join(dir, 'frag-out.pcap'))).records;
  assert.deepEqual(Buffer.from(got[0]!.data), Buffer.from(ether(0x0800, firstPart)));
});

test('--decrypt: ESN whose high half is past 0 from the first packet on (RFC 4303 A2.2: the next high half is tried)', () => {
  const esn = sealer({ spi: 0x1004, flags: 0, esn: true, enc: { name: 'aes-cbc', key: b(K.cbc) }, auth: { name: 'hmac-sha256', key: b(K.sha256) } });
  const fs = [5, 6, 7].map((low) => ({ sent: ether(0x0800, ipv4(50, esn.seal(17, seg(low), low, 1), V4)), want: ether(0x0800, ipv4(17, seg(low), V4)) }));
  writeFileSync(join(dir, 'esn1.pcap'), pcapFile(true, false, 1, fs.map((f) => ({ data: f.sent }))));
  const r = decrypt(['--decrypt', 'esn1.pcap', '-f', 'sad.conf', '-o', 'esn1-out.pcap']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /spi 0x00001004: 3 packets, .*3 opened, 0 ICV failures, 0 bad padding, 0 sequence gaps/);
  const got = parsePcap(readFileSync(join(dir, 'esn1-out.pcap'))).records;
  fs.forEach((f, i) => assert.deepEqual(Buffer.from(got[i]!.data), Buffer.from(f.want)));
});

test('--decrypt -o /dev/null (or any device or FIFO) writes to it as it is: nothing is renamed over it', () => {
  const before = statSync('/dev/null');
  const r = decrypt(['--decrypt', 'in.pcap', '-f', 'sad.conf', '-o', '/dev/null']);
  assert.equal(r.status, 2, r.stderr);
  const after = statSync('/dev/null');
  assert.ok(after.isCharacterDevice(), '/dev/null is still the device');
  assert.equal(after.rdev, before.rdev);
  assert.deepEqual(readdirSync('/dev').filter((f) => f.includes('.setkey-')), [], 'no temporary file in /dev');
});

test('--decrypt: an output of many write buffers (written behind the decryption) is whole and in order, to a file and to a pipe', () => {
  // 12,000 packets of ~1.2 KB: about 15 MB out, several of the 4 MiB buffers written by another thread
  const esp = sealer({ spi: 0x1001, flags: 0, esn: false, enc: { name: 'aes-cbc', key: b(K.cbc) }, auth: { name: 'hmac-sha1', key: b(K.sha1) } });
  const n = 12000;
  const sent: Uint8Array[] = [];
  const want: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    // each payload names its packet, so a buffer written twice or out of order shows
    const u = udp(1000 + (i % 50000), 2000, text(`packet ${i} `.padEnd(1200, '.')), S);
    sent.push(ether(0x0800, ipv4(50, esp.seal(17, u, i + 1), V4)));
    want.push(ether(0x0800, ipv4(17, u, V4)));
  }
  writeFileSync(join(dir, 'many.pcap'), pcapFile(true, false, 1, sent.map((data) => ({ data }))));
  const toFile = decrypt(['--decrypt', 'many.pcap', '-f', 'sad.conf', '-o', 'many-out.pcap']);
  assert.equal(toFile.status, 0, toFile.stderr);
  const file = readFileSync(join(dir, 'many-out.pcap'));
  assert.ok(file.length > 3 * (4 << 20), `${file.length} bytes: more than three write buffers`);
  const got = parsePcap(file).records;
  assert.equal(got.length, n);
  for (let i = 0; i < n; i++) assert.deepEqual(Buffer.from(got[i]!.data), Buffer.from(want[i]!), `packet ${i + 1}`);
  const toPipe = decrypt(['--decrypt', 'many.pcap', '-f', 'sad.conf']);
  assert.equal(toPipe.status, 0, toPipe.stderr);
  assert.ok(toPipe.stdout.equals(file), 'standard output carries the same bytes');
});

test('--decrypt: a write that fails (-o /dev/full) is one line and exit 1', () => {
  if (!existsSync('/dev/full')) return;
  const r = decrypt(['--decrypt', 'many.pcap', '-f', 'sad.conf', '-o', '/dev/full']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^setkey: write: no space left on the device \(ENOSPC\)\n$/);
});

test('--decrypt ended by a signal (SIGTERM, Ctrl-C) leaves no temporary file beside OUT, and ends by that signal', async () => {
  const { spawn } = await import('node:child_process');
  const esp = sealer({ spi: 0x1001, flags: 0, esn: false, enc: { name: 'aes-cbc', key: b(K.cbc) }, auth: { name: 'hmac-sha1', key: b(K.sha1) } });
  const u = udp(1000, 2000, text('x'.repeat(1300)), S);
  // ~80 MB: long enough to be caught while writing
  const frames = Array.from({ length: 60000 }, (_, i) => ({ data: ether(0x0800, ipv4(50, esp.seal(17, u, i + 1), V4)) }));
  writeFileSync(join(dir, 'long.pcap'), pcapFile(true, false, 1, frames));
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    const child = spawn(process.execPath, [SETKEY, '--decrypt', 'long.pcap', '-f', 'sad.conf', '-o', 'long-out.pcap'], { cwd: dir, stdio: 'ignore' });
    const tmp = join(dir, `.long-out.pcap.setkey-${child.pid}`);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    // wait for the temporary file, then end the run while it is being written
    let seen = false;
    for (let i = 0; i < 2000 && !seen; i++) {
      seen = existsSync(tmp);
      if (!seen) await new Promise((r) => setTimeout(r, 2));
    }
    assert.ok(seen, 'the temporary file appeared');
    child.kill(sig);
    const end = await exited;
    assert.equal(end.signal, sig, `ended by ${sig} (status ${end.code})`);
    assert.equal(existsSync(tmp), false, 'the temporary file is gone');
    assert.equal(existsSync(join(dir, 'long-out.pcap')), false, 'nothing at OUT');
  }
});
