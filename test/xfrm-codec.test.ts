/**
 * The XFRM codec without a kernel: struct layouts pinned at their offsets,
 * netlink framing, and the translation of SAs and policies. The strongest
 * check: an SA installed through XFRM reads back as the PF_KEY message the
 * embedded engine (which follows af_key) produces for the same statement.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { commandToWire, EncodeError } from '../src/pfkey/to-wire.js';
import { serialize } from '../src/pfkey/serialize.js';
import { decodeMessage } from '../src/pfkey/decode.js';
import { parseRequest } from '../src/engine/request.js';
import { buildSa } from '../src/engine/sa-state.js';
import { KernelError } from '../src/engine/context.js';
import { XSize, Xfrma, XfrmMsg, NlmF } from '../src/xfrm/constants.js';
import { buildMessage, parseAttrs, readAck, splitDatagram, attr } from '../src/xfrm/netlink.js';
import { saToXfrm, stateToPfkey } from '../src/xfrm/sa.js';
import { policyToPfkey, policyToXfrm } from '../src/xfrm/policy.js';
import * as S from '../src/xfrm/structs.js';
import { saParams } from './arbitraries.js';
import { compile } from './conformance.js';
import type { PolicyCommand } from '../src/model/command.js';
import { findExt } from '../src/pfkey/types.js';

test('struct layouts: fields at the offsets of include/uapi/linux/xfrm.h (64-bit ABI)', () => {
  const sel: S.Selector = { ...S.emptySelector(2), daddr: Uint8Array.of(10, 0, 0, 2), saddr: Uint8Array.of(10, 0, 0, 1), dport: 0x1234, dportMask: 0xffff, sport: 80, sportMask: 0xffff, prefixlenD: 24, prefixlenS: 16, proto: 6, ifindex: -1, user: 7 };
  const b = new Uint8Array(XSize.selector);
  S.writeSelector(b, 0, sel);
  assert.deepEqual([...b.subarray(0, 4)], [10, 0, 0, 2]);
  assert.deepEqual([...b.subarray(16, 20)], [10, 0, 0, 1]);
  assert.deepEqual([...b.subarray(32, 34)], [0x12, 0x34], 'dport is big-endian');
  assert.equal(b[40], 2);
  assert.deepEqual([b[42], b[43], b[44]], [24, 16, 6]);
  assert.deepEqual([...b.subarray(48, 52)], [0xff, 0xff, 0xff, 0xff]);
  assert.deepEqual(S.readSelector(b), { ...sel, daddr: Uint8Array.from([10, 0, 0, 2, ...new Array(12).fill(0)]), saddr: Uint8Array.from([10, 0, 0, 1, ...new Array(12).fill(0)]) });
  const sa = saToXfrm({ satype: 3, src: { addr: { family: 4, bytes: Uint8Array.of(1, 2, 3, 4), scopeId: 0 }, port: 0 }, dst: { addr: { family: 4, bytes: Uint8Array.of(5, 6, 7, 8), scopeId: 0 }, port: 0 }, spi: 0x01020304, mode: 2, reqid: 9, replay: 16, flags: 0, esn: false, enc: { alg: 'aes-cbc', key: { bits: 128, data: new Uint8Array(16) } } });
  const info = S.encodeUsersaInfo(sa.info);
  assert.equal(info.length, 224);
  assert.deepEqual([...info.subarray(56, 60)], [5, 6, 7, 8], 'id.daddr');
  assert.deepEqual([...info.subarray(72, 76)], [1, 2, 3, 4], 'id.spi, network order');
  assert.equal(info[76], 50, 'id.proto');
  assert.deepEqual([...info.subarray(80, 84)], [1, 2, 3, 4], 'saddr');
  assert.equal(new DataView(info.buffer, info.byteOffset).getUint32(208, true), 9, 'reqid');
  assert.deepEqual([info[212], info[214], info[215]], [2, 1, 16], 'family, mode tunnel = 1, replay');
  assert.deepEqual(S.readUsersaInfo(info), sa.info);
  const tmpl: S.UserTmpl = { id: { daddr: Uint8Array.of(9, 9, 9, 9), spi: 0, proto: 50 }, family: 2, saddr: Uint8Array.of(8, 8, 8, 8), reqid: 0x4000, mode: 1, share: 0, optional: 1, aalgos: ~0 >>> 0, ealgos: ~0 >>> 0, calgos: ~0 >>> 0 };
  const tb = S.encodeTmpls([tmpl]);
  assert.equal(tb.length, 64);
  assert.deepEqual([tb[24], tb[28], tb[44], tb[45], tb[48], tb[50]], [2, 8, 0, 0x40, 1, 1]);
  const pi = S.encodeUserpolicyInfo({ sel, lft: S.infiniteLifetime(), curlft: S.zeroCur(), priority: 0x80000000, index: 25, dir: 1, action: 1, flags: 0, share: 0 });
  assert.equal(pi.length, 168);
  assert.deepEqual([pi[155], pi[156], pi[160], pi[161]], [0x80, 25, 1, 1]);
  const algo = S.encodeAlgo({ name: 'hmac(sha256)', keyBits: 256, key: new Uint8Array(32).fill(7), extraBits: 128 }, true);
  assert.equal(algo.length, 72 + 32);
  assert.deepEqual(S.readAlgo(algo, true), { name: 'hmac(sha256)', keyBits: 256, key: new Uint8Array(32).fill(7), extraBits: 128 });
});

test('netlink framing: messages, attributes padded to 4, acks with the extended-ack text', () => {
  const m = buildMessage({ type: XfrmMsg.NEWSA, flags: NlmF.REQUEST | NlmF.ACK, seq: 7, pid: 0 }, new Uint8Array(5), [{ type: Xfrma.TFCPAD, value: S.encodeU32(99) }, { type: Xfrma.PROTO, value: Uint8Array.of(50) }]);
  assert.equal(m.length, 16 + 8 + 8 + 8);
  const [one] = splitDatagram(m);
  assert.equal(one!.header.type, XfrmMsg.NEWSA);
  const attrs = parseAttrs(one!.payload, 5);
  assert.equal(S.readU32(attr(attrs, Xfrma.TFCPAD)!), 99);
  assert.deepEqual([...attr(attrs, Xfrma.PROTO)!], [50]);
  // an NLMSG_ERROR with ACK_TLVS|CAPPED: errno -22, the request's header, then NLMSGERR_ATTR_MSG
  const text = Buffer.from('Invalid policy direction\0');
  const err = new Uint8Array(16 + 4 + 16 + 4 + 28);
  const v = new DataView(err.buffer);
  v.setUint32(0, err.length, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, NlmF.ACK_TLVS | NlmF.CAPPED, true);
  v.setUint32(8, 7, true);
  v.setInt32(16, -22, true);
  v.setUint32(20, 64, true);
  v.setUint32(28, 7, true);
  v.setUint16(36, 4 + text.length, true);
  v.setUint16(38, 1, true);
  err.set(text, 40);
  const ack = readAck(splitDatagram(err)[0]!);
  assert.deepEqual(ack, { errno: 22, message: 'Invalid policy direction', seq: 7 });
  assert.throws(() => splitDatagram(m.subarray(0, 20)), /does not fit/);
});

test('an SA through XFRM reads back as the engine (af_key) shows it, for every SA PF_KEY can carry', () => {
  fc.assert(
    fc.property(saParams('linux'), (sa) => {
      let bytes: Uint8Array;
      let built;
      try {
        bytes = serialize(commandToWire({ kind: 'add', pos: { file: 't', line: 1, col: 1, endLine: 1 }, sa }, { platform: 'linux' }).messages[0]!);
        built = buildSa(parseRequest(bytes), 1700000000n);
      } catch (e) {
        if (e instanceof EncodeError || e instanceof KernelError) return;
        throw e;
      }
      const x = saToXfrm(sa);
      // what the kernel reports: our request, with the add time it keeps
      const info = { ...x.info, curlft: { ...x.info.curlft, addTime: 1700000000n } };
      const back = stateToPfkey(S.readUsersaInfo(S.encodeUsersaInfo(info)), parseAttrs(buildMessage({ type: 0, flags: 0, seq: 0, pid: 0 }, new Uint8Array(0), x.attrs).subarray(16), 0)).msg;
      // both agree field for field, but for the replay window: af_key caps it at 32, XFRM keeps it
      const xs = decodeMessage(serialize(back)).exts;
      const es = decodeMessage(serialize(built.msg)).exts;
      const xsa = xs.find((e) => e.kind === 'sa') as { replay: number };
      assert.equal(xsa.replay, Math.min(sa.replay, 255));
      xsa.replay = Math.min(xsa.replay, 32);
      assert.deepEqual(xs, es);
    }),
    { numRuns: 300 },
  );
});

test('policies: setkey policy -> XFRM -> the PF_KEY form af_key dumps (levels, reqids, tunnel endpoints, ports)', async () => {
  const [c] = (await compile('spdadd 10.0.0.0/24[80] 10.0.1.0/24[any] tcp -P out prio def + 10 ipsec esp/tunnel/192.0.2.1[4500]-192.0.2.2[4500]/unique ah/transport//use ipcomp/transport//require;')) as PolicyCommand[];
  let next = 0x4000;
  const x = policyToXfrm(c!, () => next++);
  const tb = attr(x.attrs, Xfrma.TMPL)!;
  const t = S.readTmpls(tb);
  assert.deepEqual(
    t.map((q) => [q.id.proto, q.mode, q.reqid, q.optional]),
    [
      [50, 1, 0x4000, 0],
      [51, 0, 0, 1],
      [108, 0, 0, 0],
    ],
  );
  assert.deepEqual([x.info.sel.sport, x.info.sel.sportMask, x.info.sel.dport, x.info.sel.dportMask, x.info.sel.proto], [80, 0xffff, 0, 0, 6]);
  const back = policyToPfkey(S.readUserpolicyInfo(S.encodeUserpolicyInfo({ ...x.info, index: 1 })), x.attrs).msg;
  const p = findExt(back, 'policy')!;
  assert.deepEqual(
    p.requests.map((r) => [r.proto, r.mode, r.level, r.reqid, r.src?.port ?? null]),
    [
      [50, 2, 3, 0x4000, 0],
      [51, 1, 1, 0, null],
      [108, 1, 2, 0, null],
    ],
  );
  assert.equal(p.priority, 0x80000000 - 10);
  assert.equal(p.dir, 2);
  assert.equal(findExt(back, 'address_src')!.sa.port, 80);
  // entrust/bypass and a 7th template are refused as af_key refuses them
  const [bypass] = (await compile('spdadd 10.0.0.1 10.0.0.2 any -P out bypass;')) as PolicyCommand[];
  assert.throws(() => policyToXfrm(bypass!, () => 0), (e: { errno?: number }) => e.errno === 22);
  const seven = Array.from({ length: 7 }, () => 'esp/transport//require').join(' ');
  const [deep] = (await compile(`spdadd 10.0.0.1 10.0.0.2 any -P out ipsec ${seven};`)) as PolicyCommand[];
  assert.throws(() => policyToXfrm(deep!, () => 0), (e: { errno?: number }) => e.errno === 40);
});

test('XFRM-only SAs: AEAD with its ICV, ESN, a 1024-packet replay window, RFC 4868 truncation', async () => {
  const [gcm] = await compile(`add 10.0.0.1 10.0.0.2 esp 0x1000 -m tunnel -esn -r 1024 -E aes-gcm-16 0x${'11'.repeat(20)};`);
  const x = saToXfrm((gcm as { sa: Parameters<typeof saToXfrm>[0] }).sa);
  const aead = S.readAlgo(attr(x.attrs, Xfrma.ALG_AEAD)!, true);
  assert.deepEqual([aead.name, aead.keyBits, aead.extraBits], ['rfc4106(gcm(aes))', 160, 128]);
  const esn = S.readReplayEsn(attr(x.attrs, Xfrma.REPLAY_ESN_VAL)!);
  assert.deepEqual([esn.replayWindow, esn.bmp.length, x.info.replayWindow, x.info.flags & 128], [1024, 32, 0, 128]);
  const { extras } = stateToPfkey(x.info, x.attrs);
  assert.deepEqual([extras.replayWindow, extras.esn, extras.aead?.icvBits], [1024, true, 128]);
  for (const [name, bits] of [
    ['hmac-sha256', 96],
    ['hmac-sha256-128', 128],
    ['hmac-sha512', 256],
  ] as const) {
    const [c] = await compile(`add 10.0.0.1 10.0.0.2 ah 0x1000 -A ${name} 0x${'22'.repeat(name === 'hmac-sha512' ? 64 : 32)};`);
    const a = S.readAlgo(attr(saToXfrm((c as { sa: Parameters<typeof saToXfrm>[0] }).sa).attrs, Xfrma.ALG_AUTH_TRUNC)!, true);
    assert.equal(a.extraBits, bits, name);
  }
});

test('policies sharing one policy text: templates by each selector family, a fresh reqid for each unique one', async () => {
  const cmds = (await compile('spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//require;\nspdadd 2001:db8::1 2001:db8::2 any -P out ipsec esp/transport//require;\nspdadd 10.0.0.3 10.0.0.4 any -P out ipsec esp/transport//require;\nspdadd 10.0.1.1 10.0.1.2 any -P out ipsec esp/transport//unique;\nspdadd 10.0.1.3 10.0.1.4 any -P out ipsec esp/transport//unique;', false)) as PolicyCommand[];
  // the parser gives the statements of one text one rule: what the encoding may keep
  assert.equal(cmds[0]!.policy, cmds[1]!.policy);
  let next = 0x4000;
  const tmpl = (c: PolicyCommand) => S.readTmpls(attr(policyToXfrm(c, () => next++).attrs, Xfrma.TMPL)!)[0]!;
  assert.deepEqual([cmds[0], cmds[1], cmds[2], cmds[0]].map((c) => tmpl(c!).family), [2, 10, 2, 2]);
  assert.deepEqual([cmds[3], cmds[4], cmds[3]].map((c) => tmpl(c!).reqid), [0x4000, 0x4001, 0x4002]);
});
