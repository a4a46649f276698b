/**
 * XFRM dumps without a kernel: a fake transport answers a dump in several
 * datagrams. Printing streams them (an entry handed on as its datagram comes,
 * numbered as Linux numbers a PF_KEY dump), and reads what the collected dump
 * reads; a dump the kernel marks interrupted is walked again when collected,
 * and said to be interrupted when streamed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XfrmBackend } from '../src/backends/xfrm.js';
import type { AddCommand, Command, PolicyCommand } from '../src/model/command.js';
import { NlmF, Nlmsg, XfrmMsg } from '../src/xfrm/constants.js';
import type { Transport } from '../src/xfrm/conn.js';
import { buildMessage, splitDatagram } from '../src/xfrm/netlink.js';
import { policyToXfrm } from '../src/xfrm/policy.js';
import { saToXfrm } from '../src/xfrm/sa.js';
import { dumpView } from '../src/pfkey/dump-view.js';
import { postproc, type PostprocOptions } from '../src/format/postproc.js';
import { DumpTextWriter } from '../src/format/dump-text-bytes.js';
import * as S from '../src/xfrm/structs.js';
import { compile } from './conformance.js';

const PID = 4242;

/** NEWPOLICY messages of `n` distinct policies (the kernel's dump answers). */
async function policies(n: number): Promise<Uint8Array[]> {
  const text = Array.from({ length: n }, (_, i) => `spdadd 10.0.${i >> 8}.${i & 255} 10.1.0.0/16 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;`).join('\n');
  const cmds = (await compile(text, false)) as PolicyCommand[];
  return cmds.map((c, i) => {
    const x = policyToXfrm(c, () => 0);
    return buildMessage({ type: XfrmMsg.NEWPOLICY, flags: NlmF.MULTI, seq: 0, pid: 0 }, S.encodeUserpolicyInfo({ ...x.info, index: 8 * i + 1 }), x.attrs);
  });
}

interface Fake {
  readonly transport: Transport;
  /** dump requests received */
  dumps: number;
  /** datagrams received by the backend */
  taken: number;
}

/**
 * A kernel that answers every dump with `entries`, `perDatagram` to a
 * datagram, then NLMSG_DONE; the first `intr` dumps carry NLM_F_DUMP_INTR on
 * their second datagram. A stray message of another sequence number comes first.
 */
function fakeKernel(entries: readonly Uint8Array[], perDatagram: number, intr = 0, onRecv?: (f: Fake) => void): Fake {
  const queue: Uint8Array[] = [];
  const f: Fake = {
    dumps: 0,
    taken: 0,
    transport: {
      portId: 99,
      send(d: Uint8Array) {
        for (const m of splitDatagram(d)) {
          const seq = m.header.seq;
          const interrupted = f.dumps++ < intr;
          const withSeq = (b: Uint8Array, flags = 0): Uint8Array => {
            const c = new Uint8Array(b);
            const v = new DataView(c.buffer);
            v.setUint32(8, seq, true);
            v.setUint16(6, v.getUint16(6, true) | flags, true);
            return c;
          };
          queue.push(buildMessage({ type: XfrmMsg.NEWPOLICY, flags: NlmF.MULTI, seq: seq + 1000, pid: 0 }, new Uint8Array(8)));
          for (let i = 0; i < entries.length; i += perDatagram) {
            const part = entries.slice(i, i + perDatagram).map((e) => withSeq(e, interrupted && i === perDatagram ? NlmF.DUMP_INTR : 0));
            if (i + perDatagram >= entries.length) part.push(withSeq(buildMessage({ type: Nlmsg.DONE, flags: NlmF.MULTI, seq: 0, pid: 0 }, new Uint8Array(4))));
            const size = part.reduce((a, p) => a + p.length, 0);
            const dg = new Uint8Array(size);
            let at = 0;
            for (const p of part) {
              dg.set(p, at);
              at += p.length;
            }
            queue.push(dg);
          }
          if (entries.length === 0) queue.push(withSeq(buildMessage({ type: Nlmsg.DONE, flags: NlmF.MULTI, seq: 0, pid: 0 }, new Uint8Array(4))));
        }
      },
      async recv() {
        const d = queue.shift();
        if (!d) throw new Error('the fake kernel has nothing more to say');
        f.taken++;
        onRecv?.(f);
        return d;
      },
      close() {},
    },
  };
  return f;
}

const noOpen = (): Promise<Transport> => Promise.reject(new Error('no second socket here'));
const SPDDUMP: Command = { kind: 'spddump', pos: { file: 't', line: 1, col: 1, endLine: 1 } };

test('a printed XFRM dump is handed on as it comes, numbered 1, 2, ... 0, and reads as the collected one', async () => {
  const entries = await policies(50);
  const collected = await XfrmBackend.over(fakeKernel(entries, 8).transport, noOpen).run([SPDDUMP], { atomic: false, pid: PID });
  assert.equal(collected[0]!.errno, 0);
  const want = collected[0]!.exchanges[0]!.received;
  assert.equal(want.length, 50);

  const got: Uint8Array[] = [];
  // when each datagram is taken, the entries of the ones before it (but the last one, held back) are out already
  const fake = fakeKernel(entries, 8, 0, (f) => assert.ok(got.length >= Math.max(0, (f.taken - 2) * 8 - 1), `${got.length} handed on at datagram ${f.taken}`));
  const [out] = await XfrmBackend.over(fake.transport, noOpen).run([SPDDUMP], { atomic: false, pid: PID, onDumped: (m) => got.push(m) });
  assert.equal(out!.errno, 0);
  assert.equal(out!.interrupted, undefined);
  assert.deepEqual(got, want);
  const seqs = got.map((m) => new DataView(m.buffer, m.byteOffset).getUint32(8, true));
  assert.deepEqual(seqs, [...Array.from({ length: 49 }, (_, i) => i + 1), 0]);
});

test('an interrupted XFRM dump is walked again when collected, and said to be interrupted when streamed', async () => {
  const entries = await policies(30);
  const fake = fakeKernel(entries, 8, 1);
  const [collected] = await XfrmBackend.over(fake.transport, noOpen).run([SPDDUMP], { atomic: false, pid: PID });
  assert.equal(fake.dumps, 2);
  assert.equal(collected!.interrupted, undefined);
  assert.equal(collected!.exchanges[0]!.received.length, 30);

  const streamed = fakeKernel(entries, 8, 1);
  let n = 0;
  const [out] = await XfrmBackend.over(streamed.transport, noOpen).run([SPDDUMP], { atomic: false, pid: PID, onDumped: () => n++ });
  assert.equal(streamed.dumps, 1);
  assert.equal(out!.interrupted, true);
  assert.equal(n, 30);
});

test('an empty XFRM table answers ENOENT, streamed or not', async () => {
  for (const onDumped of [undefined, () => assert.fail('nothing to hand on')]) {
    const [out] = await XfrmBackend.over(fakeKernel([], 8).transport, noOpen).run([SPDDUMP], { atomic: false, pid: PID, ...(onDumped ? { onDumped } : {}) });
    assert.equal(out!.errno, 2);
  }
});

/** NEWSA messages of these SA statements, as a dump of the kernel's answers (created at `added`). */
async function states(text: string, added: bigint): Promise<Uint8Array[]> {
  const cmds = await compile(text, false);
  return cmds.map((c) => {
    assert.equal(c.kind, 'add');
    const x = saToXfrm((c as AddCommand).sa);
    return buildMessage({ type: XfrmMsg.NEWSA, flags: NlmF.MULTI, seq: 0, pid: 0 }, S.encodeUsersaInfo({ ...x.info, curlft: { bytes: 0n, packets: 0n, addTime: added, useTime: 0n } }), x.attrs);
  });
}

test("a streamed state dump taken as fields (no message made) prints what the collected dump's messages print, the rest made into messages", async () => {
  const lines: string[] = [];
  for (let i = 0; i < 40; i++) {
    const k = (i + 1).toString(16).padStart(2, '0').repeat(16);
    if (i % 10 === 3) lines.push(`add 2001:db8::${i} 2001:db8::1:${i} esp 0x${(0x100 + i).toString(16)} -E aes-cbc 0x${k} -A hmac-sha256 0x${k}${k};`);
    else if (i % 10 === 7) lines.push(`add 10.0.0.${i} 10.0.1.${i} esp 0x${(0x100 + i).toString(16)} -E aes-gcm-16 0x${k}01020304;`);
    else lines.push(`add 10.0.0.${i} 10.0.1.${i} ${i % 5 === 1 ? 'ah' : 'esp'} 0x${(0x100 + i).toString(16)} -m tunnel ${i % 5 === 1 ? '' : `-E aes-cbc 0x${k}`} -A hmac-sha1 0x${(k + k).slice(0, 40)};`);
  }
  const entries = await states(lines.join('\n'), 1700000000n);
  const DUMP: Command = { kind: 'dump', pos: { file: 't', line: 1, col: 1, endLine: 1 }, satype: 0 };
  const o: PostprocOptions = { withPorts: false, all: false, short: false, now: 1700000100, tz: () => 0, ifName: () => undefined, protoName: () => undefined, platform: 'linux' };
  const [collected] = await XfrmBackend.over(fakeKernel(entries, 8).transport, noOpen).run([DUMP], { atomic: false, pid: PID });
  const want = collected!.exchanges[0]!.received.map((m) => postproc(dumpView(m, 'linux'), o)).join('');

  const out: Uint8Array[] = [];
  const w = new DumpTextWriter(o, (b) => out.push(Uint8Array.from(b)));
  let asFields = 0;
  let asMessages = 0;
  const [streamed] = await XfrmBackend.over(fakeKernel(entries, 8).transport, noOpen).run([DUMP], {
    atomic: false,
    pid: PID,
    onDumpedSa: (f) => (asFields++, w.takeFields(f) >= 0),
    onDumped: (m) => {
      asMessages++;
      if (w.take(m) >= 0) return;
      w.flush();
      out.push(Buffer.from(postproc(dumpView(m, 'linux'), o), 'latin1'));
    },
  });
  w.flush();
  assert.equal(streamed!.errno, 0);
  assert.equal(Buffer.concat(out).toString('latin1'), want);
  // IPv4 states are taken as fields; IPv6 and AEAD ones (not the text writer's shape) as messages
  assert.equal(asFields, 32);
  assert.equal(asMessages, 8);
});
