/**
 * Make-before-break on a real kernel (issue 11): while `--sync` takes the
 * tables from one file of 1,000 entries to another (a third changed, a third
 * new, a third removed), a monitor of the kernel's events and a poller of
 * its SPD both watch: no policy that both files have is ever deleted or
 * missing. Over XFRM and, where the kernel has it, PF_KEY; each in a network
 * namespace of its own. On the machines' kernel (no ESP) the files hold
 * policies alone; in the VM (npm run test:kernel) SAs too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../src/backends/backend.js';
import { PfkeyBackend } from '../src/backends/pfkey.js';
import { XfrmBackend } from '../src/backends/xfrm.js';
import { applyPlan } from '../src/converge/apply.js';
import { declaredState } from '../src/converge/declare.js';
import { planSync, policyIdentity } from '../src/converge/plan.js';
import { readState, type SyncState } from '../src/converge/state.js';
import { decodeMessage } from '../src/pfkey/decode.js';
import { ruleOf, secCtxOf, selectorOf } from '../src/pfkey/from-wire.js';
import { findExt } from '../src/pfkey/types.js';
import { MsgType } from '../src/pfkey/constants.js';
import { compile } from './conformance.js';
import { testLookup, testSys } from './helpers.js';
import { INSIDE, freshNetns, rerunInNetns } from './netns.js';

const K16 = '0x00112233445566778899aabbccddeeff';
const K16B = '0xffeeddccbbaa99887766554433221100';
const DELETES: ReadonlySet<number> = new Set([MsgType.X_SPDDELETE, MsgType.X_SPDDELETE2, MsgType.X_SPDFLUSH]);

/** Entry i of a file: a policy (and, with SAs, an SA); `changed` alters it. */
function entry(i: number, withSas: boolean, changed: boolean): string {
  const a = `10.${(i >> 8) & 255}.${i & 255}`;
  const pol = `spdadd ${a}.0/24 172.16.${(i >> 8) & 255}.${i & 255}/32 any -P out prio def + ${changed ? 7 : 3} ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;`;
  if (!withSas) return pol;
  return `${pol}\nadd 192.0.2.1 192.0.2.2 esp ${0x10000 + i} -m tunnel -E aes-cbc ${changed ? K16B : K16};`;
}

/** The old and new files: N entries each; of the old, a third changed, a third kept, a third removed; a third new. */
function files(n: number, withSas: boolean): { before: string; after: string; kept: number[] } {
  const third = Math.floor(n / 3);
  const before: string[] = [];
  const after: string[] = [];
  const kept: number[] = [];
  for (let i = 0; i < n; i++) before.push(entry(i, withSas, false));
  for (let i = 0; i < 2 * third; i++) {
    after.push(entry(i, withSas, i < third));
    kept.push(i);
  }
  for (let i = n; i < n + third; i++) after.push(entry(i, withSas, false));
  return { before: before.join('\n'), after: after.join('\n'), kept };
}

async function declared(text: string): Promise<SyncState> {
  const d = await declaredState(text, { file: 'after.conf', sys: testSys, lookup: testLookup, rfcMode: false });
  assert.ok(d.state, d.diagnostics.map((x) => x.message).join('\n'));
  return d.state;
}

async function makeBeforeBreak(open: () => Promise<Backend>, withSas: boolean, n: number): Promise<{ polls: number; events: number }> {
  const { before, after } = files(n, withSas);
  const b = await open();
  const outs = await b.run(await compile(before, false), { atomic: true, pid: process.pid });
  assert.ok(
    outs.every((o) => o.errno === 0),
    'the old file is installed',
  );
  const want = await declared(after);
  const initial = await readState(b);
  const keptIds = new Set(initial.policies.map(policyIdentity).filter((id) => want.policies.some((p) => policyIdentity(p) === id)));
  assert.equal(keptIds.size, 2 * Math.floor(n / 3), 'two thirds of the policies are kept');
  const plan = planSync(initial, want);

  // a monitor of every event, and a poller of the SPD, while the sync runs
  const monitorBackend = await open();
  const watcher = await open();
  const stop = new AbortController();
  const deleted: string[] = [];
  let events = 0;
  const monitoring = monitorBackend.monitor(
    process.pid + 1,
    (m) => {
      events++;
      if (m.msg.length < 16 || !DELETES.has(m.msg[1]!)) return;
      if (m.msg[1] === MsgType.X_SPDFLUSH) {
        deleted.push('SPDFLUSH');
        return;
      }
      const msg = decodeMessage(m.msg);
      const selector = selectorOf(msg);
      const rule = findExt(msg, 'policy');
      const ctx = secCtxOf(findExt(msg, 'sec_ctx'));
      if (selector && rule) deleted.push(policyIdentity({ selector, rule: ruleOf(rule), ...(ctx ? { ctx } : {}) }));
    },
    stop.signal,
  );
  let polls = 0;
  let missing: string[] = [];
  let syncing = true;
  const polling = (async () => {
    while (syncing) {
      // a kernel answers a dump at once: let timers and the sync's own replies run between polls
      await new Promise((r) => setImmediate(r));
      const s = await readState(watcher);
      polls++;
      const ids = new Set(s.policies.map(policyIdentity));
      const gone = [...keptIds].filter((id) => !ids.has(id));
      if (gone.length && missing.length === 0) missing = gone;
    }
  })();
  // let the monitor join before the first request
  await new Promise((r) => setTimeout(r, 200));
  const r = await applyPlan(b, plan, { pid: process.pid });
  syncing = false;
  await polling;
  await new Promise((r) => setTimeout(r, 300));
  stop.abort();
  await monitoring;
  assert.equal(r.failed, undefined, JSON.stringify(r.failed));
  assert.deepEqual(missing, [], 'a poll found a kept policy missing');
  assert.deepEqual(
    deleted.filter((id) => id === 'SPDFLUSH' || keptIds.has(id)),
    [],
    'a kept policy was deleted',
  );
  assert.ok(events > 0, 'the monitor saw the sync');
  // and the tables are now the new file
  assert.deepEqual(planSync(await readState(b), want).steps, []);
  for (const x of [b, monitorBackend, watcher]) await x.close();
  return { polls, events };
}

if (!INSIDE) {
  rerunInNetns(import.meta.url, 'make-before-break on the kernel, in a private network namespace');
} else {
  const netns = await freshNetns();
  if (typeof netns === 'string') {
    test('make-before-break', { skip: netns }, () => undefined);
  } else {
    netns();
    const probe = await XfrmBackend.open();
    const [o] = await probe.run(await compile(`add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc ${K16};`), { atomic: false, pid: process.pid });
    await probe.close();
    const withSas = o!.errno === 0;
    const N = Number(process.env["SETKEY_SYNC_N"] ?? 999);
    test(`xfrm: --sync of ${N} entries (a third changed, new, removed) never leaves a kept policy out (${withSas ? 'SAs and policies' : 'policies alone: this kernel has no ESP'})`, async (t) => {
      netns();
      const r = await makeBeforeBreak(() => XfrmBackend.open(), withSas, N);
      t.diagnostic(`${r.polls} polls of the SPD and ${r.events} events during the sync: no kept policy missing`);
    });
    test(`pfkey: the same over PF_KEY`, async (t) => {
      netns();
      try {
        await (await PfkeyBackend.open()).close();
      } catch (e) {
        t.skip(`no PF_KEY here: ${(e as Error).message.split('\n')[0]}`);
        return;
      }
      const r = await makeBeforeBreak(() => PfkeyBackend.open(), withSas, N);
      t.diagnostic(`${r.polls} polls of the SPD and ${r.events} events during the sync: no kept policy missing`);
    });
  }
}
