#!/usr/bin/env node
// npm run bench:decrypt: setkey --decrypt of a capture of BENCH_PACKETS (default
// 1,000,000) ESP packets of 1400 bytes, once with aes-gcm-16 and once with
// aes-cbc + hmac-sha256, against tshark (Debian's package) decrypting the same
// capture with the esp_sa file our --format=wireshark writes, alternating (A B
// A B ...), medians, peak RSS. Packets per second and the ratio; nothing asserted.
//   BENCH_PACKETS  BENCH_RUNS (default 3)
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needBuild, root, setkey, Table, versus, series } from './lib.mjs';

needBuild();
const { espSealer } = await import(join(root, 'dist/src/esp/index.js'));
const { espSaFile } = await import(join(root, 'dist/src/format/wireshark.js'));
const n = Number(process.env.BENCH_PACKETS ?? 1000000);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'setkey-decrypt-bench-'));
const haveTshark = spawnSync('tshark', ['--version']).status === 0;
const t = new Table();

const key = (bytes, salt) => Uint8Array.from({ length: bytes }, (_, i) => (i * 29 + salt) & 0xff);
const hex = (b) => Buffer.from(b).toString('hex');
const SRC = [10, 0, 0, 1];
const DST = [10, 0, 0, 2];
const SUITES = [
  { name: 'aes-gcm-16', spi: 0x2001, enc: { name: 'aes-gcm-16', key: key(20, 1) } },
  { name: 'aes-cbc + hmac-sha256', spi: 0x2002, enc: { name: 'aes-cbc', key: key(16, 2) }, auth: { name: 'hmac-sha256', key: key(32, 3) } },
];

function ipv4(proto, payload) {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h[8] = 64;
  h[9] = proto;
  h.set(SRC, 12);
  h.set(DST, 16);
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += h.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  h.writeUInt16BE(~s & 0xffff, 10);
  return Buffer.concat([h, payload]);
}

/** A pcap (Ethernet) of n ESP transport packets of 1400 bytes carrying UDP, written in pieces. */
function capture(file, suite) {
  const sealer = espSealer({ spi: suite.spi, flags: 0, esn: false, enc: suite.enc, ...(suite.auth ? { auth: suite.auth } : {}) });
  const probe = sealer.seal(17, Buffer.alloc(100), 1);
  const overhead = 20 + probe.length - 100; // IP header + ESP header, IV, trailer, ICV (padding aside)
  const udpLen = 1400 - overhead - 8; // keeps the IP packet at or just under 1400 bytes
  const udp = Buffer.alloc(udpLen);
  udp.writeUInt16BE(4000, 0);
  udp.writeUInt16BE(5000, 2);
  udp.writeUInt16BE(udpLen, 4);
  udp.fill(0x61, 8);
  const fd = openSync(file, 'w');
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(262144, 16);
  head.writeUInt32LE(1, 20);
  writeSync(fd, head);
  const eth = Buffer.from('020000000002020000000001', 'hex');
  let batch = [];
  for (let i = 1; i <= n; i++) {
    const frame = Buffer.concat([eth, Buffer.from([0x08, 0x00]), ipv4(50, sealer.seal(17, udp, i))]);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1700000000 + Math.floor(i / 1000), 0);
    rec.writeUInt32LE((i % 1000) * 1000, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    batch.push(rec, frame);
    if (batch.length >= 2048) {
      writeSync(fd, Buffer.concat(batch));
      batch = [];
    }
  }
  if (batch.length) writeSync(fd, Buffer.concat(batch));
  closeSync(fd);
}

const saParams = (s) => ({
  satype: 3,
  src: { addr: { family: 4, bytes: Uint8Array.from(SRC), scopeId: 0 }, port: 0 },
  dst: { addr: { family: 4, bytes: Uint8Array.from(DST), scopeId: 0 }, port: 0 },
  spi: s.spi,
  mode: 1,
  reqid: 0,
  replay: 0,
  flags: 0,
  esn: false,
  enc: { alg: s.enc.name, key: { bits: s.enc.key.length * 8, data: s.enc.key } },
  ...(s.auth ? { auth: { alg: s.auth.name, key: { bits: s.auth.key.length * 8, data: s.auth.key } } } : {}),
});

try {
  for (const s of SUITES) {
    const cap = join(dir, 'esp.pcap');
    capture(cap, s);
    const conf = join(dir, 'sad.conf');
    writeFileSync(conf, `add 10.0.0.1 10.0.0.2 esp 0x${s.spi.toString(16)} -m transport -E ${s.enc.name} 0x${hex(s.enc.key)}${s.auth ? ` -A ${s.auth.name} 0x${hex(s.auth.key)}` : ''};\n`);
    // a new output file each run: replacing one makes ext4 write the old file's successor out at the rename
    // (auto_da_alloc), seconds for a 1.4 GB capture that have nothing to do with decrypting
    const ours = (i) => [setkey, '--decrypt', cap, '-f', conf, '-o', join(dir, `open-${s.spi}-${i}.pcap`)];
    // tshark: the same SAD as an esp_sa file in a private configuration directory, decryption and ICV checks on
    const home = join(dir, 'home');
    mkdirSync(join(home, '.config', 'wireshark'), { recursive: true });
    writeFileSync(join(home, '.config', 'wireshark', 'esp_sa'), espSaFile([saParams(s)]));
    writeFileSync(join(home, '.config', 'wireshark', 'preferences'), 'esp.enable_encryption_decode: TRUE\nesp.enable_authentication_check: TRUE\n');
    const tshark = ['tshark', '-n', '-r', cap, '-T', 'fields', '-e', 'udp.dstport'];
    const work = `decrypt ${n.toLocaleString('en-US')} ESP packets of 1400 B, ${s.name}`;
    if (!haveTshark) {
      const r = series(runs, (i) => ours(i));
      t.row(work, r, undefined, 'tshark: not on this machine (Debian package tshark)', '>= 4x faster, flat memory');
      t.note(`${s.name}: ${Math.round(n / r.wall).toLocaleString('en-US')} packets/s`);
      continue;
    }
    // tshark must really open them: the inner UDP port shows in each line
    const check = spawnSync(tshark[0], [...tshark.slice(1, 4), '-c', '5', ...tshark.slice(4)], { encoding: 'utf8', env: { ...process.env, HOME: home } });
    if (!/^5000$/m.test(check.stdout)) t.note(`${s.name}: tshark did not decrypt (${check.stderr.trim().slice(0, 200)})`);
    const r = versus(runs, { argv: ours }, { argv: tshark, opts: { env: { HOME: home } } });
    t.row(work, r.a, r.b, 'tshark', '<= 0.25x (>= 4x faster), flat memory');
    t.note(`${s.name}: ours ${Math.round(n / r.a.wall).toLocaleString('en-US')} packets/s, tshark ${Math.round(n / r.b.wall).toLocaleString('en-US')} packets/s`);
    // the same work without writing the opened capture anywhere (tshark writes none): the decryption itself
    const d = versus(runs, { argv: [setkey, '--decrypt', cap, '-f', conf, '-o', '/dev/null'] }, { argv: tshark, opts: { env: { HOME: home } } });
    t.row(`${work}, output to /dev/null`, d.a, d.b, 'tshark', 'for comparison');
    rmSync(cap);
    for (let i = 0; i < runs; i++) rmSync(join(dir, `open-${s.spi}-${i}.pcap`), { force: true });
  }
  t.print(`setkey --decrypt benchmark (${runs} runs each, medians; A and B alternate; peak RSS)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
