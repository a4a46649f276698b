/**
 * The netlink seam against the real kernel: XFRM requests and their acks,
 * extended acks, a datagram larger than the first buffer, a receive overrun,
 * datagrams from impostors. Whatever adds policies runs in a child process
 * in a network namespace of its own (unshare -n), never against the host's
 * tables; the rest (aborting, closing, refusals) needs no privilege.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { NETLINK_XFRM, NetlinkUnavailable, openNetlink } from '../src/xfrm/netlink-socket.js';
import { assertCloseRejects, assertRecvAborts, fixtureInNamespace, importWithoutKoffi, koffiMissing } from './socket-seam.js';

let namespaceReason: string | undefined | null = null;
/** Why no child can have a network namespace of its own here, if it cannot (checked once). */
async function noNamespace(): Promise<string | undefined> {
  if (namespaceReason !== null) return namespaceReason;
  if (process.platform !== 'linux') namespaceReason = 'netlink is Linux-only';
  else if (process.getuid?.() !== 0) namespaceReason = 'needs root, to add policies in a network namespace of its own';
  else {
    const r = spawnSync('unshare', ['-n', 'true'], { encoding: 'utf8' });
    namespaceReason = r.error ? `unshare is not available: ${r.error.message}` : r.status !== 0 ? `unshare -n fails here: ${r.stderr.trim()}` : await koffiMissing();
  }
  return namespaceReason;
}

/** Run the fixture in a fresh network namespace; its JSON result, or undefined when skipped. */
async function inNamespace(t: TestContext, ...args: string[]): Promise<Record<string, any> | undefined> {
  return fixtureInNamespace(t, await noNamespace(), 'netlink-xfrm.mjs', args, 60_000);
}

// These first: for a second or two after the fixture runs below, this process
// itself is busy (its own CPU time shows it, not the kernel's), which on a
// machine of one CPU (the VM) leaves the abort test's interval too few turns.
test('recv is aborted by its signal while nothing arrives, and the event loop runs meanwhile', async (t) => {
  const missing = await koffiMissing();
  if (missing) return t.skip(missing);
  await assertRecvAborts(await openNetlink(NETLINK_XFRM));
});

test('close() rejects a pending recv at once, and the socket refuses use after it', async (t) => {
  const missing = await koffiMissing();
  if (missing) return t.skip(missing);
  await assertCloseRejects(await openNetlink(NETLINK_XFRM, { extAck: false }));
});

test('a protocol the kernel lacks is NetlinkUnavailable with its errno name', async (t) => {
  const missing = await koffiMissing();
  if (missing) return t.skip(missing);
  if (process.platform !== 'linux') return t.skip('netlink is Linux-only');
  // past MAX_LINKS (32): refused without trying to load a module
  await assert.rejects(openNetlink(99), (e: unknown) => e instanceof NetlinkUnavailable && e.code === 'EPROTONOSUPPORT');
});

test('without koffi, opening is NetlinkUnavailable no-koffi', async (t) => {
  const copy = await importWithoutKoffi<typeof import('../src/xfrm/netlink-socket.js')>(t, 'xfrm/netlink-socket.js');
  if (!copy) return;
  if (process.platform !== 'linux') return t.skip('netlink is Linux-only');
  await assert.rejects(copy.openNetlink(NETLINK_XFRM), (e: unknown) => e instanceof copy.NetlinkUnavailable && e.code === 'no-koffi' && /koffi/.test((e as Error).message));
});

test('XFRM: a policy dump, an add acked with 0, the same add refused with EEXIST, and the policy in the next dump', async (t) => {
  const r = await inNamespace(t, 'policy');
  if (!r) return;
  assert.ok(r['portId'] > 0, 'the kernel assigned a port');
  assert.deepEqual(r['before'], [], 'a new namespace has no policies');
  assert.equal(r['add'].error, 0);
  assert.equal(r['again'].error, -17);
  assert.deepEqual(r['after'], [{ saddr: '10.0.0.1', daddr: '10.0.0.2', dir: 1, priority: 100 }]);
});

test('an invalid request brings the kernel\'s extended ack text; a reply larger than the first buffer arrives whole', async (t) => {
  const r = await inNamespace(t, 'extack');
  if (!r) return;
  assert.equal(r['badDir'].error, -22);
  assert.ok(r['badDir'].flags & 0x200, 'NLM_F_ACK_TLVS');
  assert.equal(r['badDir'].msg, 'Invalid policy direction');
  // the refusal echoes the 80 KiB request: more than the 64 KiB first buffer
  assert.ok(r['bigRequestBytes'] > 64 * 1024);
  assert.equal(r['big'].error, -22);
  assert.equal(r['big'].msg, 'Invalid policy direction');
  assert.ok(r['big'].datagramBytes > r['bigRequestBytes'], `${r['big'].datagramBytes} bytes`);
  assert.equal(r['afterBig'], 0);
});

test('a receive overrun is an ENOBUFS error, and the socket reads on after it', async (t) => {
  const r = await inNamespace(t, 'overrun');
  if (!r) return;
  assert.deepEqual(r['overrun'], { code: 'ENOBUFS', errno: -105, syscall: 'recvfrom' });
  assert.ok(r['received'] < r['sent']);
  assert.deepEqual(r['afterOverrun'], { type: 0x13, daddr: '10.0.0.9' });
});

test('a datagram another process sends to our port is not taken for the kernel\'s', async (t) => {
  const r = await inNamespace(t, 'spoof');
  if (!r) return;
  assert.equal(r['controlReceived'], 20, 'such datagrams do arrive');
  assert.equal(r['spoofSent'], 20);
  assert.equal(r['spoofed'], 'AbortError');
  assert.equal(r['dumped'], 0);
});

test('round trips: 1000 policies added one by one, dumped, and a waiting recv woken', async (t) => {
  const r = await inNamespace(t, 'bench', '1000');
  if (!r) return;
  assert.equal(r['policies'], 1000);
  t.diagnostic(`add with ack ${(r['addMsEach'] * 1000).toFixed(0)} µs each; dump of 1000 policies ${r['dumpMs'].toFixed(2)} ms in ${r['datagrams']} datagrams; waiting recv woken in ${(r['wakeMsMedian'] * 1000).toFixed(0)} µs (median), ${r['wakeMsMax'].toFixed(2)} ms (max)`);
});
