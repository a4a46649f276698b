/**
 * The PF_KEY seam against the real kernel. Where the kernel has no af_key
 * (this project's own machines), opening is PfkeyUnavailable EAFNOSUPPORT;
 * where it has (the VM: npm run vm -- 'node --test dist/test/pfkey-socket.test.js'),
 * REGISTER and DUMP round trips, a message larger than the first buffer, a
 * dump paced by a small receive buffer, aborting and closing. Whatever talks
 * to the kernel's SAD runs in a child process in a network namespace of its
 * own (unshare -n): PF_KEY state is per namespace, so the machine's own
 * tables are never touched.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PfkeyUnavailable, openPfkey } from '../src/pfkey/pfkey-socket.js';
import { assertCloseRejects, assertRecvAborts, fixtureInNamespace, importWithoutKoffi, koffiMissing } from './socket-seam.js';

let pfkeyReason: string | undefined | null = null;
/** Why this process cannot open a PF_KEY socket, if it cannot (checked once). */
async function noPfkey(): Promise<string | undefined> {
  if (pfkeyReason !== null) return pfkeyReason;
  pfkeyReason = await koffiMissing();
  if (!pfkeyReason) {
    try {
      (await openPfkey()).close();
    } catch (e) {
      if (!(e instanceof PfkeyUnavailable)) throw e;
      pfkeyReason = e.code === 'EAFNOSUPPORT' ? 'this kernel has no af_key (socket(AF_KEY) is EAFNOSUPPORT)' : `no PF_KEY socket here: ${e.message}`;
    }
  }
  return pfkeyReason;
}

let namespaceReason: string | undefined | null = null;
/** Why no child can have PF_KEY in a network namespace of its own here, if it cannot (checked once). */
async function noNamespace(): Promise<string | undefined> {
  if (namespaceReason !== null) return namespaceReason;
  namespaceReason = await noPfkey();
  if (!namespaceReason) {
    const r = spawnSync('unshare', ['-n', 'true'], { encoding: 'utf8' });
    if (r.error) namespaceReason = `unshare is not available: ${r.error.message}`;
    else if (r.status !== 0) namespaceReason = `unshare -n fails here: ${r.stderr.trim()}`;
  }
  return namespaceReason;
}

/** Run the fixture in a fresh network namespace; its JSON result, or undefined when skipped. */
async function inNamespace(t: TestContext, ...args: string[]): Promise<Record<string, any> | undefined> {
  return fixtureInNamespace(t, await noNamespace(), 'pfkey.mjs', args, 120_000);
}

const SADB_EXT_SUPPORTED_AUTH = 14;
const SADB_EXT_SUPPORTED_ENCRYPT = 15;
const ENOENT = 2;

test('where the kernel has no af_key, opening is PfkeyUnavailable EAFNOSUPPORT, naming the xfrm backend', async (t) => {
  const missing = await koffiMissing();
  if (missing) return t.skip(missing);
  if (process.platform !== 'linux') return t.skip('PF_KEY is reached on Linux only');
  let s;
  try {
    s = await openPfkey();
  } catch (e) {
    if (e instanceof PfkeyUnavailable && (e.code === 'EPERM' || e.code === 'EACCES')) {
      assert.match(e.message, /CAP_NET_ADMIN/);
      return t.skip(`not privileged: ${e.message}`);
    }
    assert.ok(e instanceof PfkeyUnavailable, `not a PfkeyUnavailable: ${String(e)}`);
    assert.equal(e.name, 'PfkeyUnavailable');
    assert.equal(e.code, 'EAFNOSUPPORT');
    assert.match(e.message, /PF_KEY is not in this kernel/);
    assert.match(e.message, /CONFIG_NET_KEY/);
    assert.match(e.message, /af_key/);
    assert.match(e.message, /--backend=xfrm/);
    t.diagnostic(e.message);
    return;
  }
  s.close();
  t.skip('this kernel has af_key (the VM): the tests below use it');
});

test('recv is aborted by its signal while nothing arrives, and the event loop runs meanwhile', async (t) => {
  const reason = await noPfkey();
  if (reason) return t.skip(reason);
  // a socket that is neither registered nor promiscuous: nothing is sent to it unless the SAD changes
  await assertRecvAborts(await openPfkey());
});

test('close() rejects a pending recv at once, and the socket refuses use after it', async (t) => {
  const reason = await noPfkey();
  if (reason) return t.skip(reason);
  await assertCloseRejects(await openPfkey({ rcvbufBytes: 65536 }));
});

test('without koffi, opening is PfkeyUnavailable no-koffi', async (t) => {
  const copy = await importWithoutKoffi<typeof import('../src/pfkey/pfkey-socket.js')>(t, 'pfkey/pfkey-socket.js');
  if (!copy) return;
  if (process.platform !== 'linux') return t.skip('PF_KEY is reached on Linux only');
  await assert.rejects(copy.openPfkey(), (e: unknown) => e instanceof copy.PfkeyUnavailable && e.code === 'no-koffi' && /koffi/.test((e as Error).message));
});

test('REGISTER brings the supported algorithms; DUMP of an empty SAD is ENOENT; a header the kernel refuses fails in send()', async (t) => {
  const r = await inNamespace(t, 'basic');
  if (!r) return;
  const reg = r['register'];
  assert.equal(reg.version, 2);
  assert.equal(reg.type, 7);
  assert.equal(reg.errno, 0);
  assert.equal(reg.satype, 3);
  assert.equal(reg.seq, 1);
  assert.equal(reg.len * 8, reg.bytes, 'sadb_msg_len counts the whole message');
  const types = reg.exts.map((e: { type: number }) => e.type);
  assert.ok(types.includes(SADB_EXT_SUPPORTED_AUTH), `extensions ${types}`);
  assert.ok(types.includes(SADB_EXT_SUPPORTED_ENCRYPT), `extensions ${types}`);
  assert.equal(reg.exts.reduce((n: number, e: { bytes: number }) => n + e.bytes, 16), reg.bytes);
  for (const dump of [r['dump'], r['dumpAgain']]) {
    assert.equal(dump.type, 10);
    assert.equal(dump.errno, ENOENT);
    assert.equal(dump.len, 2);
    assert.equal(dump.bytes, 16);
    assert.deepEqual(dump.exts, []);
  }
  assert.equal(r['dump'].seq, 2);
  assert.equal(r['dumpAgain'].seq, 4);
  assert.deepEqual(r['badVersion'], { code: 'EINVAL', errno: -22, syscall: 'send', message: 'PF_KEY send: Invalid argument (EINVAL)' });
  assert.deepEqual(r['skipped'], [], 'nothing else arrived');
  t.diagnostic(`REGISTER reply: ${reg.bytes} bytes, extensions ${JSON.stringify(reg.exts)}`);
});

test('a message larger than the first 64 KiB buffer arrives whole, and the socket reads on after it', async (t) => {
  const r = await inNamespace(t, 'big');
  if (!r) return;
  assert.equal(r['promisc'].errno, 0);
  assert.ok(r['sentBytes'] > 64 * 1024);
  assert.equal(r['copy'].bytes, r['sentBytes']);
  assert.ok(r['copyEqual'], 'the promiscuous copy is the message sent, byte for byte');
  assert.equal(r['senderReply'].type, 5);
  assert.equal(r['senderReply'].errno, 22);
  assert.deepEqual(r['promiscReply'], r['senderReply']);
  // af_key sends the X_PROMISC reply to everyone, and again to promiscuous sockets, which the sender now is
  assert.deepEqual(r['skipped'], [{ type: 11, seq: 1, errno: 0, bytes: 16 }]);
});

test('round trips: SAs added one by one, then dumped whole through a small receive buffer and decoded', async (t) => {
  const n = 1000;
  const r = await inNamespace(t, 'bench', String(n));
  if (!r) return;
  assert.equal(r['dumped'], n);
  assert.equal(r['dumpMessages'], n);
  assert.equal(r['decodeErrors'], 0);
  assert.ok(r['spisRight']);
  t.diagnostic(
    `REGISTER round trip ${(r['registerMsMedian'] * 1000).toFixed(0)} µs (median); ADD with its reply ${(r['addMsEach'] * 1000).toFixed(0)} µs each; ` +
      `dump of ${n} SAs ${r['dumpMs'].toFixed(2)} ms; waiting recv woken in ${(r['wakeMsMedian'] * 1000).toFixed(0)} µs (median), ${r['wakeMsMax'].toFixed(2)} ms (max)`,
  );
});
