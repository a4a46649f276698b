/**
 * The backend conformance suite on the real kernel over XFRM netlink, never
 * on the host's own tables: the file re-runs itself under `unshare -n`, and
 * every case gets a network namespace of its own (fresh tables, fresh policy
 * index generator). Where the kernel has no ESP/AH/IPComp (the machines'
 * own kernel), the SA cases skip with that reason and the kernel's refusal
 * is checked instead; in the VM (`npm run test:kernel`, Debian's kernel) they
 * all run. `ip xfrm` is the independent oracle.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XfrmBackend } from '../src/backends/xfrm.js';
import { conformance, compile } from './conformance.js';
import { runCli } from './helpers.js';
import { INSIDE, freshNetns, rerunInNetns } from './netns.js';

if (!INSIDE) {
  rerunInNetns(import.meta.url, 'XFRM conformance in a private network namespace');
} else {
  const netns = await freshNetns();
  if (typeof netns === 'string') {
    test('XFRM conformance', { skip: netns }, () => undefined);
  } else {
    /** A fresh network namespace for this thread, and an XFRM backend in it. */
    const fresh = async (): Promise<XfrmBackend> => {
      netns();
      return XfrmBackend.open();
    };
    const probe = await fresh();
    const [o] = await probe.run(await compile('add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x00112233445566778899aabbccddeeff;'), { atomic: false, pid: process.pid });
    await probe.close();
    const noSas = o!.errno === 0 ? undefined : `this kernel cannot hold ESP SAs (${o!.why ?? `errno ${o!.errno}`}); the VM suite (npm run test:kernel) runs them on Debian's kernel`;

    conformance({
      name: 'xfrm',
      open: async () => {
        const backend = await fresh();
        return {
          backend,
          cli: (argv: string[]) => runCli(['--backend=xfrm', ...argv]),
          ...(noSas ? { noSas } : {}),
          close: () => backend.close(),
        };
      },
    });

    test('xfrm: what setkey installs shows in ip xfrm as it was meant (the independent oracle)', async () => {
      const b = await fresh();
      const conf = [
        'spdadd 10.0.0.0/24[80] 10.0.1.0/24 tcp -P out prio def + 10 ipsec esp/tunnel/192.0.2.1-192.0.2.2/unique:7 ah/transport//use;',
        'spdadd 10.0.1.0/24 10.0.0.0/24 icmp 8,0 -P in discard;',
      ];
      if (!noSas) {
        conf.push(
          'add 192.0.2.1 192.0.2.2 esp 0x1000 -m tunnel -u 7 -E aes-cbc 0x00112233445566778899aabbccddeeff -A hmac-sha256 0x0011223344556677889900112233445566778899001122334455667788990011;',
          'add 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-cbc 0x00112233445566778899aabbccddeeff -A hmac-sha256-128 0x0011223344556677889900112233445566778899001122334455667788990011;',
          `add 192.0.2.1 192.0.2.2 esp 0x1002 -esn -r 1024 -E aes-gcm-16 0x${'ab'.repeat(20)};`,
        );
      }
      const outs = await b.run(await compile(conf.join('\n')), { atomic: true, pid: process.pid });
      assert.ok(
        outs.every((x) => x.errno === 0),
        outs.map((x) => x.why).join(' '),
      );
      const pol = spawnSync('ip', ['xfrm', 'policy'], { encoding: 'utf8' }).stdout;
      assert.match(pol, /src 10\.0\.0\.0\/24 dst 10\.0\.1\.0\/24 proto tcp sport 80 \n\tdir out priority 2147483638 ptype main \n\ttmpl src 192\.0\.2\.1 dst 192\.0\.2\.2\n\t\tproto esp reqid 7 mode tunnel\n\ttmpl src 0\.0\.0\.0 dst 0\.0\.0\.0\n\t\tproto ah reqid 0 mode transport\n\t\tlevel use/);
      // ICMP type and code ride in the ports; a code of 0 has no mask, as af_key does it (any code)
      assert.match(pol, /src 10\.0\.1\.0\/24 dst 10\.0\.0\.0\/24 proto icmp type 8 \n\tdir in action block priority 2147483648/);
      // the RFC-mode forward copy
      assert.match(pol, /dir fwd action block priority 2147483648/);
      if (!noSas) {
        const st = spawnSync('ip', ['xfrm', 'state'], { encoding: 'utf8' }).stdout;
        assert.match(st, /proto esp spi 0x00001000 reqid 7 mode tunnel[\s\S]*?auth-trunc hmac\(sha256\) 0x0011223344556677889900112233445566778899001122334455667788990011 96\n\tenc cbc\(aes\) 0x00112233445566778899aabbccddeeff/);
        assert.match(st, /proto esp spi 0x00001001 [\s\S]*?auth-trunc hmac\(sha256\) 0x[0-9a-f]{64} 128/);
        assert.match(st, /proto esp spi 0x00001002 [\s\S]*?replay-window 0 flag esn\n\taead rfc4106\(gcm\(aes\)\) 0x(ab){20} 128[\s\S]*?anti-replay esn context:[\s\S]*?replay_window 1024/);
      }
      await b.close();
    });

    test('xfrm: -x shows another process\'s changes as PF_KEY messages, as they happen', async () => {
      await fresh();
      const ac = new AbortController();
      let seen = '';
      const mon = runCli(['--backend=xfrm', '-x'], { signal: ac.signal, stdout: (t) => (seen += t) });
      // listening once its X_PROMISC echo (two bare date lines) is out
      const ready = Date.now() + 20000;
      while (!/^(\d\d:\d\d:\d\d\.\d{6} \n){2}/.test(seen) && Date.now() < ready) await new Promise((r) => setTimeout(r, 20));
      const setkey = fileURLToPath(new URL('../../bin/setkey', import.meta.url));
      const child = spawnSync(setkey, ['--backend=xfrm', '-c'], { input: 'spdadd 10.1.0.0/16 10.2.0.0/16 any -P out none;\nspdflush;\n', encoding: 'utf8' });
      assert.equal(child.status, 0, child.stderr);
      const end = Date.now() + 20000;
      while (!/type=19 /.test(seen) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      ac.abort();
      assert.equal((await mon).code, 0);
      // SPDADD (14) with the policy, then SPDFLUSH (19), each after a time stamp
      assert.match(seen, /^\d\d:\d\d:\d\d\.\d{6} \nsadb_msg\{ version=2 type=14 errno=0 satype=0/m);
      assert.match(seen, /sadb_x_policy\{ type=1 dir=2 /);
      assert.match(seen, /type=19 /);
    });

    test('xfrm: a file stops at its first refusal even inside a pipelined run of adds', async () => {
      await fresh();
      const lines = ['spdadd 10.0.0.1 10.0.0.2 any -P out none;', 'spdadd 10.0.0.3 10.0.0.4 any -P out none;', 'spdadd 10.0.0.1 10.0.0.2 any -P out none;', 'spdadd 10.0.0.5 10.0.0.6 any -P out none;', 'spdadd 10.0.0.7 10.0.0.8 any -P out none;'];
      const r = await runCli(['--backend=xfrm', '-f', 'a.conf'], { files: { 'a.conf': lines.join('\n') + '\n' } });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /a\.conf:3:1: error: spdadd 10\.0\.0\.1 10\.0\.0\.2 any -P out: .*\(EEXIST, File exists\)/);
      assert.match(r.stderr, /stopped at the first refusal; the statements before it were applied/);
      const pol = spawnSync('ip', ['xfrm', 'policy'], { encoding: 'utf8' }).stdout;
      assert.deepEqual(
        [...pol.matchAll(/^src (\S+) dst (\S+)/gm)].map((m) => m[1]).sort(),
        ['10.0.0.1/32', '10.0.0.3/32'],
        'what came after the refusal was taken back',
      );
    });

    test('xfrm: a large file installed as it is checked leaves the tables, the output and the exit of the usual apply, a refusal in it too', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'setkey-xfrm-load-'));
      const lines: string[] = [];
      for (let i = 0; i < 1600; i++) {
        const a = `10.${(i >> 8) & 255}.${i & 255}`;
        if (!noSas) lines.push(`add ${a}.1 ${a}.2 esp 0x${(0x1000 + i).toString(16)} -m tunnel -E aes-cbc 0x${i.toString(16).padStart(32, '0')} -A hmac-sha1 0x${i.toString(16).padStart(40, '0')};`);
        lines.push(`spdadd ${a}.3/32 ${a}.4/24[${i % 7 === 0 ? 80 : 'any'}] ${i % 3 ? 'any' : '6'} -P ${['in', 'out', 'fwd'][i % 3]} ipsec esp/tunnel/${a}.1-${a}.2/${i % 2 ? 'require' : 'unique:7'};`);
      }
      const tables = (): string => spawnSync('sh', ['-c', 'ip xfrm state; ip xfrm policy'], { encoding: 'utf8' }).stdout;
      const apply = async (text: string, env: Record<string, string>): Promise<{ code: number; stderr: string; tables: string }> => {
        await fresh();
        const path = join(dir, 'big.conf');
        writeFileSync(path, text);
        const r = await runCli(['--backend=xfrm', '-f', path], { env, openFiles: true });
        return { code: r.code, stderr: r.stderr.replaceAll(dir, 'DIR'), tables: tables() };
      };
      try {
        const whole = lines.join('\n') + '\n';
        const loaded = await apply(whole, {});
        const usual = await apply(whole, { SETKEY_BULK: '0' });
        assert.equal(loaded.code, 0, loaded.stderr);
        assert.deepEqual(loaded, usual);
        // each inbound policy with its forward copy (RFC mode, Linux's default)
        const inbound = lines.filter((l) => / -P in /.test(l)).length;
        assert.equal([...loaded.tables.matchAll(/^src /gm)].length, 1600 + inbound + (noSas ? 0 : 1600));
        // a policy again, after 1500 statements: the kernel refuses it (EEXIST)
        const refused = [...lines.slice(0, 1500), lines[noSas ? 10 : 21]!, ...lines.slice(1500)].join('\n') + '\n';
        const loadedBad = await apply(refused, {});
        const usualBad = await apply(refused, { SETKEY_BULK: '0' });
        assert.equal(loadedBad.code, 1);
        assert.match(loadedBad.stderr, /big\.conf:1501:1: error: spdadd .*\(EEXIST, File exists\)/);
        assert.deepEqual(loadedBad, usualBad);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test('xfrm: the kernel refuses an SA it cannot hold with a clear error and exit 1', { skip: noSas ? false : 'this kernel holds SAs' }, async () => {
      await fresh();
      const r = await runCli(['--backend=xfrm', '-f', 'a.conf'], { files: { 'a.conf': 'add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc 0x00112233445566778899aabbccddeeff;\n' } });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /a\.conf:1:1: error: add 10\.0\.0\.1 10\.0\.0\.2 esp 0x1000: .*\(EPROTONOSUPPORT, Protocol not supported\)/);
    });

    test('xfrm: real-time lifetimes: soft expiry makes the SA dying, hard expiry removes it', { skip: noSas ?? false }, async () => {
      const b = await fresh();
      const [a] = await b.run(await compile('add 10.0.0.1 10.0.0.2 esp 0x1000 -lh 3 -ls 1 -E aes-cbc 0x00112233445566778899aabbccddeeff;'), { atomic: false, pid: 1 });
      assert.equal(a!.errno, 0, a!.why);
      await new Promise((r) => setTimeout(r, 4500));
      const [d] = await b.run(await compile('dump;'), { atomic: false, pid: 1 });
      assert.equal(d!.errno, 2, 'gone after its hard lifetime');
      await b.close();
    });
  }
}
