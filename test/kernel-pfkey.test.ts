/**
 * The backend conformance suite on a real kernel's PF_KEY socket (Linux
 * af_key), never on the host's own tables: the file re-runs itself under
 * `unshare -n`, a fresh network namespace per case. The machines' own kernel
 * has no PF_KEY: there it checks the clear refusal; the VM (`npm run
 * test:kernel`, Debian's kernel with af_key) runs everything, and checks
 * that what one kernel interface installs reads the same over the other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PfkeyBackend } from '../src/backends/pfkey.js';
import { XfrmBackend } from '../src/backends/xfrm.js';
import type { Backend } from '../src/backends/backend.js';
import { conformance, compile } from './conformance.js';
import { GOLDEN, read, readBin, runCli } from './helpers.js';
import { INSIDE, freshNetns, rerunInNetns } from './netns.js';
import { DecodeError, decodeMessage, splitMessages } from '../src/pfkey/decode.js';
import { saOf } from '../src/pfkey/from-wire.js';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NO_POS, type Command } from '../src/model/command.js';

async function pfkeyOrWhy(): Promise<PfkeyBackend | string> {
  try {
    return await PfkeyBackend.open();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'EAFNOSUPPORT' || code === 'no-koffi') return `${(e as Error).message} (the VM suite, npm run test:kernel, runs this on Debian's kernel)`;
    throw e;
  }
}

if (!INSIDE) {
  rerunInNetns(import.meta.url, 'PF_KEY conformance in a private network namespace');
  test('pfkey: a kernel without PF_KEY is a clear error naming the xfrm backend, exit 1', { skip: process.platform === 'linux' ? false : 'Linux only' }, async (t) => {
    // opening a socket touches no table; this is the host's own answer
    const probe = await pfkeyOrWhy();
    if (typeof probe !== 'string') {
      await probe.close();
      t.skip('this kernel has PF_KEY (the suite above covers it)');
      return;
    }
    const r = await runCli(['--backend=pfkey', '-D']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /this kernel has no PF_KEY .*--backend=xfrm/);
  });
} else {
  const netns = await freshNetns();
  const first = typeof netns === 'string' ? netns : (netns(), await pfkeyOrWhy());
  if (typeof netns === 'string' || typeof first === 'string') {
    test('PF_KEY conformance', { skip: typeof netns === 'string' ? netns : (first as string) }, () => undefined);
  } else {
    await first.close();
    const fresh = async (): Promise<PfkeyBackend> => {
      netns();
      return PfkeyBackend.open();
    };

    conformance({
      name: 'pfkey',
      open: async () => {
        const backend = await fresh();
        return { backend, cli: (argv: string[]) => runCli(['--backend=pfkey', ...argv]), close: () => backend.close() };
      },
    });

    test('pfkey: -x shows another process\'s add as the kernel delivers it (X_PROMISC)', async () => {
      netns();
      const ac = new AbortController();
      let seen = '';
      const mon = runCli(['--backend=pfkey', '-x'], { signal: ac.signal, stdout: (t) => (seen += t) });
      // listening once the kernel's echo of X_PROMISC (twice, a bare date line each) is out
      const ready = Date.now() + 20000;
      while (!/^(\d\d:\d\d:\d\d\.\d{6} \n){2}/.test(seen) && Date.now() < ready) await new Promise((r) => setTimeout(r, 20));
      const setkey = fileURLToPath(new URL('../../bin/setkey', import.meta.url));
      const child = spawnSync(setkey, ['--backend=pfkey', '-c'], { input: 'spdadd 10.1.0.0/16 10.2.0.0/16 any -P out none;\n', encoding: 'utf8' });
      assert.equal(child.status, 0, child.stderr);
      const end = Date.now() + 20000;
      while ((seen.match(/type=14 /g) ?? []).length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      ac.abort();
      assert.equal((await mon).code, 0);
      // the request once, the SPDADD broadcast twice (a promiscuous socket gets broadcasts twice)
      assert.equal((seen.match(/sadb_msg\{ version=2 type=14 /g) ?? []).length, 3, seen);
    });

    test('pfkey: -D -l repeats the one-line dump every second until interrupted', async () => {
      netns();
      const b = await PfkeyBackend.open();
      await b.run(await compile('add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x00112233445566778899aabbccddeeff;'), { atomic: true, pid: 1 });
      const ac = new AbortController();
      let rounds = 0;
      const r = await runCli(['--backend=pfkey', '-D', '-l'], {
        signal: ac.signal,
        stdout: (t) => {
          if (t.startsWith('time ')) rounds++;
          if (rounds === 2) ac.abort();
        },
      });
      assert.equal(r.code, 0);
      assert.equal((r.stdout.match(/^\d{4} esp M 00001000 /gm) ?? []).length, 2);
      await b.close();
    });

    const text = async (b: Backend, what: 'dump' | 'spddump'): Promise<string> => {
      const r = await runCli([b.name === 'pfkey' ? '--backend=pfkey' : '--backend=xfrm', what === 'dump' ? '-D' : '-DP']);
      // refcnt is the kernel's reference count at that moment over PF_KEY; XFRM does not report it
      return r.stdout.replace(/refcnt=\d+/g, 'refcnt=N');
    };
    const conf = [
      'add 192.0.2.1 192.0.2.2 esp 0x1000 -m tunnel -u 7 -E aes-cbc 0x00112233445566778899aabbccddeeff -A hmac-sha1 0x00112233445566778899aabbccddeeff00112233;',
      'add 192.0.2.2 192.0.2.1 ah 0x1001 -A hmac-sha256 0x0011223344556677889900112233445566778899001122334455667788990011;',
      'add 2001:db8::1 2001:db8::2 esp 0x1002 -lh 3600 -ls 1800 -E 3des-cbc 0x00112233445566778899aabbccddeeff0011223344556677;',
      'add 192.0.2.1 192.0.2.3 ipcomp 0x2000 -C deflate;',
      'add 192.0.2.1[4500] 192.0.2.4[4501] esp-udp 0x3000 -m tunnel -E aes-cbc 0x00112233445566778899aabbccddeeff;',
      'spdadd 10.0.0.0/24[80] 10.0.1.0/24 tcp -P out prio def + 10 ipsec esp/tunnel/192.0.2.1-192.0.2.2/unique:7 ah/transport//use;',
      'spdadd 10.0.1.0/24 10.0.0.0/24 icmp 8,0 -P in discard;',
      'spdadd 2001:db8::/64 2001:db8:1::/64 any -P out none;',
    ].join('\n');

    for (const [from, to] of [
      ['pfkey', 'xfrm'],
      ['xfrm', 'pfkey'],
    ] as const) {
      test(`cross-backend: installed over ${from}, -D and -DP read the same over ${to}`, async () => {
        netns();
        const a: Backend = from === 'pfkey' ? await PfkeyBackend.open() : await XfrmBackend.open();
        const b: Backend = to === 'pfkey' ? await PfkeyBackend.open() : await XfrmBackend.open();
        const outs = await a.run(await compile(conf), { atomic: true, pid: process.pid });
        assert.ok(
          outs.every((o) => o.errno === 0),
          outs.map((o) => o.why).join(' '),
        );
        // a second apart, so that PF_KEY's dumps show settled policies
        await new Promise((r) => setTimeout(r, 1100));
        assert.equal(await text(b, 'dump'), await text(a, 'dump'));
        assert.equal(await text(b, 'spddump'), await text(a, 'spddump'));
        await a.close();
        await b.close();
      });
    }

    test('golden: SAs of the reference corpus, installed in the kernel, dump as the reference printed them where the kernel keeps the fields', async () => {
      // cases whose SAs a kernel takes as they are; what Linux does not keep (KAME flags, the SA2 sequence) and the times are normalised away
      for (const name of ['sad-esp-aes256-sha256', 'sad-esp-3des-sha1-reqid-replay', 'sad-ah-sha1', 'sad-esp-tunnel-v4']) {
        netns();
        const b = await PfkeyBackend.open();
        const cmds: Command[] = [];
        const bytes = readBin(join(GOLDEN, name, 'msg.bin'));
        for (const s of splitMessages(bytes)) {
          if (s instanceof DecodeError) break;
          cmds.push({ kind: 'add', pos: NO_POS, sa: saOf(decodeMessage(bytes.subarray(s.offset, s.offset + s.length))) });
        }
        const outs = await b.run(cmds.reverse(), { atomic: true, pid: 4242 });
        assert.ok(
          outs.every((o) => o.errno === 0),
          `${name}: ${outs.map((o) => o.why).join(' ')}`,
        );
        const r = await runCli(['--backend=pfkey', '-D']);
        const norm = (t: string): string =>
          t
            .replace(/flags=0x[0-9a-f]{8}/g, 'flags=F')
            .replace(/seq=0x[0-9a-f]{8}/g, 'seq=Q')
            .replace(/created: .*?\tcurrent: .*\n/g, 'created: T\n')
            .replace(/diff: \d+\(s\)/g, 'diff: D')
            .replace(/sadb_seq=\d+ pid=\d+ refcnt=\d+/g, 'sadb_seq=S');
        assert.equal(norm(r.stdout), norm(read(join(GOLDEN, name, 'out-sock-D.txt'))), name);
        await b.close();
      }
    });
  }
}

