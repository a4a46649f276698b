/**
 * A file installed over XFRM as its check reads it (src/ingest/xfrm-load.ts)
 * held to the usual apply: every request it holds is, byte for byte, the one
 * the XFRM backend sends for the parser's command (saToXfrm / policyToXfrm
 * and the structs' encoders), RFC mode's forward copies included; whatever it
 * does not write, it declines (nothing sent). Through the backend over a fake
 * kernel: all sent in order, or, at the first refusal, everything done taken
 * back and the file left to the usual apply.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { XfrmBackend } from '../src/backends/xfrm.js';
import { BulkConflict } from '../src/engine/sorted-layer.js';
import { loadText } from '../src/ingest/bulk.js';
import { MAX_LOAD_TEXT, XfrmLoad } from '../src/ingest/xfrm-load.js';
import type { AddCommand, Command, PolicyCommand } from '../src/model/command.js';
import { withForwardCopies } from '../src/model/rfc-mode.js';
import { parse } from '../src/syntax/parser.js';
import { QuickCheck } from '../src/syntax/quick.js';
import { NlmF, Nlmsg, XfrmMsg } from '../src/xfrm/constants.js';
import type { Transport } from '../src/xfrm/conn.js';
import { buildMessage, splitDatagram } from '../src/xfrm/netlink.js';
import { policyToXfrm } from '../src/xfrm/policy.js';
import { saToXfrm, XfrmTranslateError } from '../src/xfrm/sa.js';
import { encodeUserpolicyInfo, encodeUsersaInfo } from '../src/xfrm/structs.js';
import { testSys } from './helpers.js';
import { commonPolicy, commonSa, file } from './statement-arbitraries.js';

/** The commands of a text the parser takes without an error (RFC mode's copies after their policies), or undefined. */
function commandsOf(text: string, rfcMode: boolean): Command[] | undefined {
  const r = parse(text, { file: 't', sys: testSys });
  if (r.diagnostics.some((d) => d.severity === 'error') || r.statements.some((s) => s.hosts)) return undefined;
  const cmds = r.statements.map((s) => s.cmd as Command);
  return rfcMode ? withForwardCopies(cmds) : cmds;
}

/** What the backend sends for a command (backends/xfrm.ts prepare): its type and payload; undefined where it refuses to translate it. */
function usualRequest(c: Command): { type: number; payload: Uint8Array } | undefined {
  try {
    if (c.kind === 'add') {
      const r = saToXfrm((c as AddCommand).sa);
      return { type: XfrmMsg.NEWSA, payload: buildMessage({ type: 0, flags: 0, seq: 0, pid: 0 }, encodeUsersaInfo(r.info), r.attrs).subarray(16) };
    }
    if (c.kind !== 'spdadd') return undefined;
    const r = policyToXfrm(c as PolicyCommand, () => 0);
    return { type: XfrmMsg.NEWPOLICY, payload: buildMessage({ type: 0, flags: 0, seq: 0, pid: 0 }, encodeUserpolicyInfo(r.info), r.attrs).subarray(16) };
  } catch (e) {
    if (e instanceof XfrmTranslateError) return undefined;
    throw e;
  }
}

/** The requests a load of `text` holds, or 'declined'. */
async function loaded(text: string, rfcMode: boolean): Promise<{ type: number; payload: Uint8Array }[] | 'declined'> {
  const load = new XfrmLoad();
  try {
    await loadText([text], load, testSys, { rfcMode });
  } catch (e) {
    if (e instanceof BulkConflict) return 'declined';
    throw e;
  }
  return Array.from({ length: load.count }, (_, i) => load.request(i));
}

test('a file loaded for XFRM holds, request by request, what the usual apply sends; or declines', async () => {
  let taken = 0;
  let declined = 0;
  await fc.assert(
    fc.asyncProperty(file, fc.boolean(), async (text, rfcMode) => {
      const cmds = commandsOf(text, rfcMode);
      const got = await loaded(text, rfcMode);
      if (got === 'declined') {
        declined++;
        return;
      }
      taken++;
      assert.ok(cmds, `taken, but the parser refuses:\n${text}`);
      assert.equal(got.length, cmds.length);
      cmds.forEach((c, i) => {
        const want = usualRequest(c);
        assert.ok(want, `taken, but the backend does not translate:\n${text}`);
        assert.equal(got[i]!.type, want.type);
        assert.deepEqual([...got[i]!.payload], [...want.payload], `request ${i} of:\n${text}`);
      });
    }),
    { numRuns: 1500 },
  );
  assert.ok(taken > 300 && declined > 100, `taken ${taken}, declined ${declined}`);
});

test('each common statement alone: the same request, or declined only where XFRM or the load would not take it', async () => {
  let taken = 0;
  await fc.assert(
    fc.asyncProperty(fc.oneof(commonSa, commonPolicy), async (text) => {
      const got = await loaded(text, false);
      const cmds = commandsOf(text, false);
      const want = cmds?.length === 1 ? usualRequest(cmds[0]!) : undefined;
      if (got === 'declined') {
        // declined: the backend would not translate it, or it is one the load leaves to the usual apply
        const c = cmds?.[0];
        const unique = c?.kind === 'spdadd' && (c as PolicyCommand).policy.requests.some((q) => q.level === 3 && !(q.reqid > 0 && q.reqid <= 0x3fff));
        const clean = QuickCheck.for(testSys).clean(text, 0, text.indexOf(';'));
        assert.ok(want === undefined || unique || !clean || /ipcomp/.test(text), `declined:\n${text}`);
        return;
      }
      taken++;
      assert.ok(want);
      assert.deepEqual([...got[0]!.payload], [...want.payload], text);
    }),
    { numRuns: 1500 },
  );
  assert.ok(taken > 700, `taken ${taken}`);
});

/** A kernel that answers each datagram's requests: a refusal (EEXIST) for the `refuse`d ones (by NEW* order), an ack for the last. */
function fakeKernel(refuse: ReadonlySet<number>): { transport: Transport; sent: { type: number; payload: Uint8Array }[] } {
  const queue: Uint8Array[] = [];
  const sent: { type: number; payload: Uint8Array }[] = [];
  let news = 0;
  return {
    sent,
    transport: {
      portId: 7,
      send(d: Uint8Array) {
        const ms = splitDatagram(d);
        const out: Uint8Array[] = [];
        ms.forEach((m, i) => {
          sent.push({ type: m.header.type, payload: Uint8Array.from(m.payload) });
          const isNew = m.header.type === XfrmMsg.NEWSA || m.header.type === XfrmMsg.NEWPOLICY;
          const errno = isNew && refuse.has(news++) ? 17 : 0;
          if (errno || i === ms.length - 1) {
            const e = new Uint8Array(4 + 16);
            new DataView(e.buffer).setInt32(0, -errno, true);
            out.push(buildMessage({ type: Nlmsg.ERROR, flags: NlmF.CAPPED, seq: m.header.seq, pid: 0 }, e));
          }
        });
        queue.push(Buffer.concat(out));
      },
      async recv() {
        const d = queue.shift();
        if (!d) throw new Error('nothing to answer');
        return d;
      },
      close() {},
    },
  };
}

const noOpen = (): Promise<Transport> => Promise.reject(new Error('no second socket here'));

/** A file of n SAs and n policies of the common shape. */
function bigFile(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = `10.${(i >> 8) & 255}.${i & 255}`;
    lines.push(`add ${a}.1 ${a}.2 esp 0x${(0x1000 + i).toString(16)} -m tunnel -E aes-cbc 0x${i.toString(16).padStart(32, '0')} -A hmac-sha256 0x${i.toString(16).padStart(64, '0')};`);
    lines.push(`spdadd ${a}.3/32 ${a}.4/32 any -P out ipsec esp/tunnel/${a}.1-${a}.2/require;`);
  }
  return lines.join('\n') + '\n';
}

test('through the backend: a load is sent in order, whole (held in more than one chunk)', async () => {
  const text = bigFile(2000);
  const k = fakeKernel(new Set());
  const ok = await XfrmBackend.over(k.transport, noOpen).load([text], { sys: testSys, rfcMode: false });
  assert.equal(ok, true);
  const want = commandsOf(text, false)!.map((c) => usualRequest(c)!);
  assert.ok(want.reduce((n, r) => n + r.payload.length, 0) > 1 << 20, 'more than a chunk of requests');
  assert.equal(k.sent.length, 4000);
  k.sent.forEach((s, i) => {
    assert.equal(s.type, want[i]!.type);
    assert.deepEqual([...s.payload], [...want[i]!.payload]);
  });
});

test('through the backend: at the first refusal everything done is taken back, and the load says false (the usual apply follows)', async () => {
  const text = bigFile(300);
  // refused: the 451st request (a datagram's middle); after it, the rest of its datagram was done by the kernel
  const k = fakeKernel(new Set([450]));
  const ok = await XfrmBackend.over(k.transport, noOpen).load([text], { sys: testSys, rfcMode: false });
  assert.equal(ok, false);
  const news = k.sent.filter((s) => s.type === XfrmMsg.NEWSA || s.type === XfrmMsg.NEWPOLICY);
  // sent up to the end of the refused one's datagram (128 a datagram), nothing after
  assert.equal(news.length, 512);
  const dels = k.sent.filter((s) => s.type === XfrmMsg.DELSA || s.type === XfrmMsg.DELPOLICY);
  // every one the kernel did, taken back: all but the refused one
  assert.equal(dels.length, 511);
  // each DELSA names its SA (daddr, spi, family, proto), each DELPOLICY its selector and direction
  const done = news.filter((_, i) => i !== 450);
  done.forEach((n, i) => {
    const d = dels[i]!;
    if (n.type === XfrmMsg.NEWSA) {
      assert.equal(d.type, XfrmMsg.DELSA);
      assert.deepEqual([...d.payload.subarray(0, 20)], [...n.payload.subarray(56, 76)]);
      assert.deepEqual([...d.payload.subarray(20, 22)], [...n.payload.subarray(212, 214)]);
      assert.equal(d.payload[22], n.payload[76]);
    } else {
      assert.equal(d.type, XfrmMsg.DELPOLICY);
      assert.deepEqual([...d.payload.subarray(0, 56)], [...n.payload.subarray(0, 56)]);
      assert.equal(d.payload[60], n.payload[160]);
    }
  });
});

test('through the backend: a file with a statement the load does not write sends nothing', async () => {
  const k = fakeKernel(new Set());
  const text = bigFile(10) + 'add 2001:db8::1 2001:db8::2 esp 0x999 -E aes-cbc 0x00112233445566778899aabbccddeeff;\n';
  assert.equal(await XfrmBackend.over(k.transport, noOpen).load([text], { sys: testSys, rfcMode: false }), false);
  assert.equal(k.sent.length, 0);
});

test('a load that would hold more than its bound declines (nothing sent: the usual apply follows), and memory stays bounded', async () => {
  const text = bigFile(200);
  const small = new XfrmLoad(16 << 10);
  await assert.rejects(loadText([text], small, testSys, { rfcMode: false }), BulkConflict);
  assert.ok(small.count * 200 <= 16 << 10, `held ${small.count} requests under a 16 KiB bound`);
  // the same file under the default bound is held whole
  const whole = new XfrmLoad();
  await loadText([text], whole, testSys, { rfcMode: false });
  assert.equal(whole.count, 400);
});

test('a file too large for its requests to be held is checked only: nothing taken, nothing sent, the usual apply follows', async () => {
  const k = fakeKernel(new Set());
  const b = XfrmBackend.over(k.transport, noOpen);
  const text = bigFile(20);
  let taken = 0;
  const check = async (take: (src: string, start: number, semi: number, unchecked: boolean) => void): Promise<boolean> => {
    // the statements as the check hands them over
    let at = 0;
    for (let semi = text.indexOf(';'); semi >= 0; semi = text.indexOf(';', at)) {
      take(text, at, semi, false);
      taken++;
      at = semi + 2;
    }
    return true;
  };
  assert.equal(await b.loadChecking(check, { sys: testSys, rfcMode: false, size: MAX_LOAD_TEXT + 1 }), false);
  assert.equal(k.sent.length, 0);
  // the same file of a size that can be held: loaded and sent
  assert.equal(await b.loadChecking(check, { sys: testSys, rfcMode: false, size: text.length }), true);
  assert.equal(k.sent.length, 40);
  assert.equal(taken, 80);
});
