/**
 * The backend conformance suite: one set of behaviours every backend must
 * show, run against each (embedded here; xfrm and pfkey on real kernels).
 * A backend that lacks a capability skips the case with the reason, never
 * silently (design.md §3, after hono's router tests).
 *
 * Cases are written in the setkey language and checked through dumps read
 * back over the same interface, so they say what a user would see.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend, Outcome } from '../src/backends/backend.js';
import type { Command } from '../src/model/command.js';
import { withForwardCopies } from '../src/model/rfc-mode.js';
import { decodeMessage } from '../src/pfkey/decode.js';
import { ruleOf, saOf, selectorOf } from '../src/pfkey/from-wire.js';
import { findExt, type SadbMsg } from '../src/pfkey/types.js';
import { parse } from '../src/syntax/parser.js';
import { resolveStatements } from '../src/syntax/resolve.js';
import { GOLDEN, read, readBin, testLookup, testSys, type CliRun } from './helpers.js';
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { errnoName } from '../src/model/errno.js';
import { formatIp } from '../src/model/address.js';
import { declaredState } from '../src/converge/declare.js';
import { readState, type SyncState } from '../src/converge/state.js';
import { planSync } from '../src/converge/plan.js';
import { applyPlan } from '../src/converge/apply.js';

export interface Harness {
  readonly backend: Backend;
  /** move the backend's clock forward; absent where time cannot be controlled (a real kernel) */
  readonly advance?: (seconds: number) => void;
  /** have the backend serve these PF_KEY messages as its dump (`sad`) or SPD dump (`spd`); only a userspace engine can */
  readonly serve?: (messages: Uint8Array, table: 'sad' | 'spd') => Promise<void>;
  /** run the setkey CLI against this backend */
  readonly cli: (argv: string[]) => Promise<CliRun>;
  /** why this backend's kernel can hold no SAs (no ESP/AH/IPComp), if it cannot: the SA cases skip */
  readonly noSas?: string;
  close(): Promise<void>;
}

export interface SuiteOptions {
  /** backend name, in test titles */
  readonly name: string;
  /** a fresh, empty backend for each case */
  readonly open: () => Promise<Harness>;
  /** case title -> why this backend cannot run it */
  readonly skip?: Readonly<Record<string, string>>;
}

const PID = 4242;

export async function compile(text: string, rfc = true): Promise<Command[]> {
  const r = parse(text, { file: 'case.conf', sys: testSys });
  assert.equal(r.errorCount, 0, r.diagnostics.map((d) => d.message).join('\n'));
  const res = await resolveStatements(r.statements, 'case.conf', testLookup);
  assert.equal(res.diagnostics.filter((d) => d.severity === 'error').length, 0);
  return rfc ? withForwardCopies(res.commands) : res.commands;
}

async function run(h: Harness, text: string, opts: { atomic?: boolean; rfc?: boolean } = {}): Promise<Outcome[]> {
  return h.backend.run(await compile(text, opts.rfc ?? true), { atomic: opts.atomic ?? false, pid: PID });
}

/** Run, and require every command to succeed. */
async function ok(h: Harness, text: string, opts: { atomic?: boolean; rfc?: boolean } = {}): Promise<Outcome[]> {
  const outs = await run(h, text, opts);
  outs.forEach((o, i) => assert.equal(o.errno, 0, `command ${i + 1} of ${JSON.stringify(text)}: ${errnoName(o.errno)} ${o.why ?? ''}`));
  return outs;
}

/** Run one command and return its errno's name ('OK' for 0). */
async function errnoOf(h: Harness, text: string, opts: { rfc?: boolean } = {}): Promise<string> {
  const outs = await run(h, text, opts);
  const bad = outs.find((o) => o.errno !== 0);
  return bad ? errnoName(bad.errno) : 'OK';
}

function replies(o: Outcome): SadbMsg[] {
  return o.exchanges.flatMap((x) => x.received.map((r) => decodeMessage(r))).filter((m) => m.header.errno === 0);
}

async function dumpSad(h: Harness, proto = ''): Promise<SadbMsg[]> {
  const [o] = await run(h, `dump ${proto};`);
  return replies(o!);
}

async function dumpSpd(h: Harness): Promise<SadbMsg[]> {
  const [o] = await run(h, 'spddump;');
  return replies(o!);
}

function spis(ms: SadbMsg[]): number[] {
  return ms.map((m) => findExt(m, 'sa')!.spi);
}

function policyLine(m: SadbMsg): string {
  const s = selectorOf(m)!;
  const r = ruleOf(findExt(m, 'policy')!);
  const reqs = r.requests.map((q) => `${q.proto}/${q.mode}/${q.level}:${q.reqid}${q.tunnel ? `/${formatIp(q.tunnel.src.addr)}-${formatIp(q.tunnel.dst.addr)}` : ''}`);
  return `${formatIp(s.src)}/${s.sprefix} ${formatIp(s.dst)}/${s.dprefix} ${s.proto} dir=${r.dir} action=${r.action} prio=${r.priority} [${reqs.join(' ')}]`;
}

const K16 = '0x00112233445566778899aabbccddeeff';
const K20 = '0x00112233445566778899aabbccddeeff00112233';
const esp = (src: string, dst: string, spi: number, extra = ''): string => `add ${src} ${dst} esp ${spi} ${extra} -E aes-cbc ${K16} -A hmac-sha1 ${K20};`;

type Case = (h: Harness) => Promise<void>;

/**
 * A file for the sync cases: SAs (where the kernel holds them) and policies;
 * `changed` is the same file with one of each kind of difference.
 */
function syncConf(h: Harness, o: { changed?: boolean }): string {
  const c = o.changed ?? false;
  const pol = [
    'spdadd 10.1.0.0/16 10.2.0.0/16 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;',
    `spdadd 10.2.0.0/16 10.1.0.0/16 any -P in ipsec esp/tunnel/192.0.2.2-192.0.2.1/${c ? 'unique:7' : 'require'};`,
    `spdadd 10.3.0.0/16 10.4.0.0/16 tcp -P out prio def ${c ? '+ 20' : '+ 10'} discard;`,
    c ? 'spdadd 10.5.0.0/16 10.6.0.0/16 any -P out none;' : 'spdadd 10.7.0.0/16 10.6.0.0/16 any -P out none;',
  ];
  if (h.noSas) return pol.join('\n');
  const sas = [
    esp('192.0.2.1', '192.0.2.2', 0x1001, '-m tunnel'),
    esp('192.0.2.2', '192.0.2.1', 0x1002, `-m tunnel ${c ? '-lh 3600 -ls 3000' : '-lh 7200 -ls 6000'}`),
    c ? `add 192.0.2.1 192.0.2.3 esp 0x1003 -E aes-cbc 0x${'77'.repeat(16)} -A hmac-sha1 ${K20};` : esp('192.0.2.1', '192.0.2.3', 0x1003),
    c ? esp('192.0.2.1', '192.0.2.4', 0x1004) : esp('192.0.2.1', '192.0.2.5', 0x1005),
  ];
  return [...sas, ...pol].join('\n');
}

async function declared(text: string): Promise<SyncState> {
  const d = await declaredState(text, { file: 'declared.conf', sys: testSys, lookup: testLookup });
  assert.ok(d.state, d.diagnostics.map((x) => x.message).join('\n'));
  return d.state;
}


const CASES: Record<string, Case> = {
  'add: the same (dst, protocol, SPI) again is EEXIST, and the first stays': async (h) => {
    await ok(h, esp('10.0.0.1', '10.0.0.2', 0x1000));
    assert.equal(await errnoOf(h, esp('10.0.0.1', '10.0.0.2', 0x1000)), 'EEXIST');
    // the source is not part of the identity
    assert.equal(await errnoOf(h, esp('10.9.9.9', '10.0.0.2', 0x1000)), 'EEXIST');
    // another protocol or destination is another SA
    await ok(h, `add 10.0.0.1 10.0.0.2 ah 0x1000 -A hmac-sha1 ${K20};`);
    await ok(h, esp('10.0.0.1', '10.0.0.3', 0x1000));
    assert.equal((await dumpSad(h)).length, 3);
  },

  'get returns the SA with its algorithms and keys; get and delete of a missing SA are ESRCH': async (h) => {
    await ok(h, esp('10.0.0.1', '10.0.0.2', 0x1000, '-m tunnel -u 7'));
    const [g] = await ok(h, 'get 10.0.0.1 10.0.0.2 esp 0x1000;');
    const [m] = replies(g!);
    const sa = saOf(m!);
    assert.equal(sa.spi, 0x1000);
    assert.equal(sa.mode, 2);
    assert.equal(sa.reqid, 7);
    assert.equal(sa.enc?.alg, 'aes-cbc');
    assert.equal(sa.auth?.alg, 'hmac-sha1');
    assert.equal(Buffer.from(sa.enc!.key!.data).toString('hex'), K16.slice(2));
    assert.equal(Buffer.from(sa.auth!.key!.data).toString('hex'), K20.slice(2));
    assert.equal(await errnoOf(h, 'get 10.0.0.1 10.0.0.2 esp 0x1001;'), 'ESRCH');
    assert.equal(await errnoOf(h, 'get 10.0.0.1 10.0.0.2 ah 0x1000;'), 'ESRCH');
    assert.equal(await errnoOf(h, 'delete 10.0.0.1 10.0.0.2 esp 0x1001;'), 'ESRCH');
  },

  'delete removes exactly the SA named': async (h) => {
    await ok(h, esp('10.0.0.1', '10.0.0.2', 0x1000) + esp('10.0.0.1', '10.0.0.2', 0x1001));
    await ok(h, 'delete 10.0.0.1 10.0.0.2 esp 0x1000;');
    assert.deepEqual(spis(await dumpSad(h)), [0x1001]);
    assert.equal(await errnoOf(h, 'delete 10.0.0.1 10.0.0.2 esp 0x1000;'), 'ESRCH');
  },

  'update: ESRCH without an SA; the larval SA from getspi becomes mature': async (h) => {
    assert.equal(await errnoOf(h, `update 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-cbc ${K16};`), 'ESRCH');
    const [g] = await ok(h, 'getspi 10.0.0.1 10.0.0.2 esp 0x2000;');
    const [larval] = replies(g!);
    assert.equal(findExt(larval!, 'sa')!.spi, 0x2000);
    assert.equal(findExt(larval!, 'sa')!.state, 0);
    await ok(h, `update 10.0.0.1 10.0.0.2 esp 0x2000 -E aes-cbc ${K16};`);
    const [m] = await dumpSad(h);
    assert.equal(findExt(m!, 'sa')!.state, 1);
    assert.equal(saOf(m!).enc?.alg, 'aes-cbc');
  },

  'getspi: a free SPI from the range, a larval SA; an exhausted range is ENOENT': async (h) => {
    const [g] = await ok(h, 'getspi 10.0.0.1 10.0.0.2 esp 0x3000-0x30ff;');
    const spi = findExt(replies(g!)[0]!, 'sa')!.spi;
    assert.ok(spi >= 0x3000 && spi <= 0x30ff, spi.toString(16));
    await ok(h, esp('10.0.0.1', '10.0.0.2', 0x4000));
    assert.equal(await errnoOf(h, 'getspi 10.0.0.1 10.0.0.2 esp 0x4000;'), 'ENOENT');
    const states = (await dumpSad(h)).map((m) => findExt(m, 'sa')!.state);
    assert.ok(states.includes(0), 'a larval SA is listed');
  },

  'deleteall removes every SA between the two addresses of that protocol, and only those': async (h) => {
    await ok(h, esp('10.0.0.1', '10.0.0.2', 0x1000) + esp('10.0.0.1', '10.0.0.2', 0x1001) + esp('10.0.0.1', '10.0.0.2', 0x1002));
    await ok(h, esp('10.0.0.2', '10.0.0.1', 0x1003) + `add 10.0.0.1 10.0.0.2 ah 0x1004 -A hmac-sha1 ${K20};`);
    await ok(h, 'deleteall 10.0.0.1 10.0.0.2 esp;');
    assert.deepEqual(spis(await dumpSad(h)).sort(), [0x1003, 0x1004]);
    // nothing left to delete is not an error
    await ok(h, 'deleteall 10.0.0.1 10.0.0.2 esp;');
  },

  'flush by protocol, then all; dump by protocol': async (h) => {
    await ok(h, esp('10.0.0.1', '10.0.0.2', 0x1000) + `add 10.0.0.1 10.0.0.2 ah 0x1001 -A hmac-sha1 ${K20};`);
    assert.deepEqual(spis(await dumpSad(h, 'ah')), [0x1001]);
    await ok(h, 'flush esp;');
    assert.deepEqual(spis(await dumpSad(h)), [0x1001]);
    await ok(h, 'flush;');
    assert.deepEqual(await dumpSad(h), []);
    const [o] = await run(h, 'dump;');
    assert.equal(errnoName(o!.errno), 'ENOENT', 'an empty dump answers ENOENT (No SAD entries.)');
    // flushing an empty table is fine
    await ok(h, 'flush;');
  },

  'dump: newest first, sadb_msg_seq 1..N-1 then 0': async (h) => {
    await ok(h, esp('10.0.0.1', '10.0.0.2', 0x1000) + esp('10.0.0.1', '10.0.0.2', 0x1001) + esp('10.0.0.1', '10.0.0.2', 0x1002));
    const all = await dumpSad(h);
    assert.deepEqual(spis(all), [0x1002, 0x1001, 0x1000]);
    assert.deepEqual(
      all.map((m) => m.header.seq),
      [1, 2, 0],
    );
  },

  'what Linux PF_KEY does to SA values: a replay window above 32 capped (or refused, naming xfrm), mode any as transport, setkey flags dropped, address ports dropped': async (h) => {
    const [first] = await run(h, esp('10.0.0.1[500]', '10.0.0.2[4500]', 0x1000, '-m any -r 64 -f random-pad'));
    let expectReplay = Math.min(64, h.backend.capabilities.replayMax);
    if (first!.errno !== 0) {
      // a kernel PF_KEY socket refuses what it would silently cap, before sending, and says where it fits
      assert.equal(errnoName(first!.errno), 'EINVAL');
      assert.match(first!.why ?? '', /xfrm backend/);
      await ok(h, esp('10.0.0.1[500]', '10.0.0.2[4500]', 0x1000, '-m any -r 32 -f random-pad'));
      expectReplay = 32;
    }
    const [m] = await dumpSad(h);
    const sa = findExt(m!, 'sa')!;
    assert.equal(sa.replay, expectReplay);
    assert.equal(findExt(m!, 'sa2')!.mode, 1);
    assert.equal(sa.flags, 0);
    assert.equal(findExt(m!, 'address_src')!.sa.port, 0);
    assert.equal(findExt(m!, 'address_dst')!.sa.port, 0);
  },

  'IPv6, IPComp and NAT-T SAs read back with their parameters': async (h) => {
    await ok(h, `add 2001:db8::1 2001:db8::2 esp 0x1000 -E aes-cbc ${K16};`);
    await ok(h, 'add 10.0.0.1 10.0.0.2 ipcomp 0x2000 -C deflate;');
    await ok(h, `add 10.0.0.1[4500] 10.0.0.2[4501] esp-udp 0x3000 -m tunnel -E aes-cbc ${K16} -A hmac-sha1 ${K20};`);
    const all = await dumpSad(h);
    const by = new Map(all.map((m) => [findExt(m, 'sa')!.spi, m]));
    assert.equal(formatIp(saOf(by.get(0x1000)!).dst.addr), '2001:db8::2');
    assert.equal(saOf(by.get(0x2000)!).enc?.alg, 'deflate');
    const natt = saOf(by.get(0x3000)!);
    assert.deepEqual([natt.natt?.type, natt.natt?.sport, natt.natt?.dport], [2, 4500, 4501]);
  },

  'AEAD ciphers: installed where the backend carries them, else refused': async (h) => {
    const text = `add 10.0.0.1 10.0.0.2 esp 0x1000 -E aes-gcm-16 0x${'11'.repeat(20)};`;
    if (h.backend.capabilities.aead) {
      await ok(h, text);
      assert.equal(saOf((await dumpSad(h))[0]!).enc?.alg, 'aes-gcm-16');
    } else {
      const [o] = await run(h, text);
      assert.equal(errnoName(o!.errno), 'ENOSYS');
      assert.match(o!.why ?? '', /xfrm backend/);
    }
  },

  'spdadd of an existing (selector, direction) is EEXIST, whatever its priority': async (h) => {
    const p = 'spdadd 10.0.0.0/24 10.0.1.0/24 any -P out ipsec esp/transport//require;';
    await ok(h, p);
    assert.equal(await errnoOf(h, p), 'EEXIST');
    assert.equal(await errnoOf(h, 'spdadd 10.0.0.0/24 10.0.1.0/24 any -P out prio 10 ipsec esp/transport//require;'), 'EEXIST');
    // another direction, prefix, address or port is another policy (addresses are not masked)
    await ok(h, 'spdadd 10.0.0.0/24 10.0.1.0/24 any -P in ipsec esp/transport//require;', { rfc: false });
    await ok(h, 'spdadd 10.0.0.1/24 10.0.1.0/24 any -P out ipsec esp/transport//require;');
    await ok(h, 'spdadd 10.0.0.0/24[80] 10.0.1.0/24 tcp -P out ipsec esp/transport//require;');
    assert.equal((await dumpSpd(h)).length, 4);
  },

  'policy ids: a generator stepping by 8, the direction in the low bits': async (h) => {
    await ok(h, 'spdadd 10.0.0.1 10.0.0.2 any -P out none;');
    await ok(h, 'spdadd 10.0.0.2 10.0.0.1 any -P in none;', { rfc: false });
    await ok(h, 'spdadd 10.0.0.3 10.0.0.1 any -P fwd none;');
    await ok(h, 'spdadd 10.0.0.4 10.0.0.1 any -P out none;');
    const ids = (await dumpSpd(h)).map((m) => findExt(m, 'policy')!.id);
    assert.deepEqual(ids, [25, 18, 8, 1]);
  },

  'spdupdate replaces the policy in place: same id, new content, front of the dump': async (h) => {
    await ok(h, 'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//require;');
    await ok(h, 'spdadd 10.0.0.3 10.0.0.4 any -P out none;');
    const before = await dumpSpd(h);
    const id = findExt(before[1]!, 'policy')!.id;
    await ok(h, 'spdupdate 10.0.0.1 10.0.0.2 any -P out prio 100 ipsec ah/transport//require;');
    const after = await dumpSpd(h);
    assert.equal(after.length, 2);
    assert.equal(findExt(after[0]!, 'policy')!.id, id);
    assert.match(policyLine(after[0]!), /\[51\/1\/2:0\]/);
    assert.notEqual(findExt(after[0]!, 'policy')!.priority, findExt(before[1]!, 'policy')!.priority);
    // spdupdate of a missing policy adds it
    await ok(h, 'spdupdate 10.0.0.5 10.0.0.6 any -P out none;');
    assert.equal((await dumpSpd(h)).length, 3);
  },

  'spddelete: ENOENT when missing; removes only its direction': async (h) => {
    assert.equal(await errnoOf(h, 'spddelete 10.0.0.1 10.0.0.2 any -P out;'), 'ENOENT');
    await ok(h, 'spdadd 10.0.0.1 10.0.0.2 any -P out none; spdadd 10.0.0.1 10.0.0.2 any -P in none;', { rfc: false });
    await ok(h, 'spddelete 10.0.0.1 10.0.0.2 any -P out;');
    const left = await dumpSpd(h);
    assert.deepEqual(
      left.map((m) => findExt(m, 'policy')!.dir),
      [1],
    );
  },

  'RFC mode: an in policy also installs a fwd copy, with unique made require': async (h) => {
    await ok(h, 'spdadd 10.0.1.0/24 10.0.0.0/24 any -P in ipsec esp/tunnel/192.0.2.2-192.0.2.1/unique:5;');
    const lines = (await dumpSpd(h)).map(policyLine);
    assert.deepEqual(lines, ['10.0.1.0/24 10.0.0.0/24 255 dir=3 action=2 prio=2147483648 [50/2/2:0/192.0.2.2-192.0.2.1]', '10.0.1.0/24 10.0.0.0/24 255 dir=1 action=2 prio=2147483648 [50/2/3:5/192.0.2.2-192.0.2.1]']);
    await ok(h, 'spdflush;');
    await ok(h, 'spdadd 10.0.1.0/24 10.0.0.0/24 any -P in none;', { rfc: false });
    assert.equal((await dumpSpd(h)).length, 1, '-k: no copy');
  },

  'templates: levels and reqids as Linux keeps them': async (h) => {
    await ok(h, 'spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//default ah/transport//use;');
    await ok(h, 'spdadd 10.0.0.3 10.0.0.4 any -P out ipsec esp/transport//unique:7 ah/transport//unique;');
    const [second, first] = (await dumpSpd(h)).map(policyLine);
    assert.match(first!, /\[50\/1\/2:0 51\/1\/1:0\]/, 'default reads back as require, use stays use');
    assert.match(second!, /\[50\/1\/3:7 51\/1\/3:(\d+)\]/);
    const auto = Number(/51\/1\/3:(\d+)/.exec(second!)![1]);
    assert.ok(auto >= 0x4000, `an automatic reqid from 0x4000 on, got ${auto}`);
  },

  'a policy takes at most 6 templates': async (h) => {
    const six = Array.from({ length: 6 }, () => 'esp/transport//require').join(' ');
    await ok(h, `spdadd 10.0.0.1 10.0.0.2 any -P out ipsec ${six};`);
    assert.equal(await errnoOf(h, `spdadd 10.0.0.3 10.0.0.4 any -P out ipsec ${six} ah/transport//require;`), 'ELOOP');
  },

  'policy actions: discard and none; entrust and bypass are refused by Linux': async (h) => {
    await ok(h, 'spdadd 10.0.0.1 10.0.0.2 any -P out discard; spdadd 10.0.0.3 10.0.0.4 any -P out none;');
    const actions = (await dumpSpd(h)).map((m) => findExt(m, 'policy')!.ptype);
    assert.deepEqual(actions, [1, 0]);
    assert.equal(await errnoOf(h, 'spdadd 10.0.0.5 10.0.0.6 any -P out bypass;'), 'EINVAL');
  },

  'spdflush empties the SPD; spddump of an empty SPD is ENOENT': async (h) => {
    await ok(h, 'spdadd 10.0.0.1 10.0.0.2 any -P out none; spdadd 10.0.0.3 10.0.0.4 any -P out none;');
    await ok(h, 'spdflush;');
    const [o] = await run(h, 'spddump;');
    assert.equal(errnoName(o!.errno), 'ENOENT');
  },

  'an atomic run stops at a refusal; where the backend has transactions nothing of it stays': async (h) => {
    await ok(h, esp('10.0.0.1', '10.0.0.2', 0x1000));
    const outs = await run(h, esp('10.0.0.1', '10.0.0.2', 0x2000) + 'spdadd 10.0.0.1 10.0.0.2 any -P out none;' + esp('10.0.0.1', '10.0.0.2', 0x1000) + esp('10.0.0.1', '10.0.0.2', 0x3000), { atomic: true });
    assert.deepEqual(
      outs.map((o) => o.errno),
      [0, 0, 17],
      'the run stops at the refusal (EEXIST)',
    );
    if (h.backend.capabilities.atomicBatches) {
      assert.deepEqual(spis(await dumpSad(h)), [0x1000]);
      assert.deepEqual(await dumpSpd(h), []);
    } else {
      // a kernel has no transactions: what came before the refusal stays, what came after was not sent
      assert.deepEqual(spis(await dumpSad(h)).sort(), [0x1000, 0x2000]);
      assert.equal((await dumpSpd(h)).length, 1);
    }
  },

  'sync: the difference between a state and itself is empty, and a sync of it sends nothing': async (h) => {
    const conf = syncConf(h, {});
    await ok(h, conf);
    const plan = planSync(await readState(h.backend, { pid: PID }), await declared(conf));
    assert.deepEqual(plan.steps, []);
    assert.equal((await applyPlan(h.backend, plan, { pid: PID })).requests, 0);
  },

  'sync: each kind of difference appears once, --sync removes it, and a second sync sends nothing': async (h) => {
    await ok(h, syncConf(h, {}));
    const want = syncConf(h, { changed: true });
    const plan = planSync(await readState(h.backend, { pid: PID }), await declared(want));
    const got = plan.steps.map((s) => `${s.kind} ${s.entry}: ${s.why}`).sort();
    const expected = [
      'add policy: missing',
      'delete policy: not declared',
      'update policy: differs in priority',
      'update policy: differs in templates',
      ...(h.noSas
        ? []
        : [
            'add sa: missing',
            'delete sa: not declared',
            'replace sa: differs in encryption key (an SA cannot change these in place: deleted, then added)',
            'update sa: differs in hard lifetime, soft lifetime',
          ]),
    ].sort();
    assert.deepEqual(got, expected);
    const applied = await applyPlan(h.backend, plan, { pid: PID });
    assert.equal(applied.failed, undefined, JSON.stringify(applied.failed));
    const after = planSync(await readState(h.backend, { pid: PID }), await declared(want));
    assert.deepEqual(after.steps.map((s) => `${s.kind} ${s.entry}: ${s.why}`), []);
    assert.equal((await applyPlan(h.backend, after, { pid: PID })).requests, 0);
  },

  'sync --scope=declared touches only the (source, destination) pairs the file names': async (h) => {
    // another peer's entries, as an IKE daemon would have installed them
    await ok(h, [`spdadd 10.8.0.0/16 10.9.0.0/16 any -P out ipsec esp/tunnel/192.0.2.8-192.0.2.9/require;`, h.noSas ? '' : esp('192.0.2.8', '192.0.2.9', 0x8888, '-m tunnel')].join('\n'));
    const want = syncConf(h, {});
    const mine = planSync(await readState(h.backend, { pid: PID }), await declared(want), { scope: 'declared' });
    assert.ok(mine.steps.every((s) => s.kind === 'add'), mine.steps.map((s) => s.why).join(', '));
    assert.deepEqual(mine.untouched, { sas: h.noSas ? 0 : 1, policies: 1 });
    await applyPlan(h.backend, mine, { pid: PID });
    const whole = planSync(await readState(h.backend, { pid: PID }), await declared(want));
    assert.deepEqual(whole.steps.map((s) => `${s.kind} ${s.entry}`).sort(), h.noSas ? ['delete policy'] : ['delete policy', 'delete sa']);
  },

  'lifetimes: soft add time makes the SA dying, hard deletes it': async (h) => {
    await ok(h, esp('10.0.0.1', '10.0.0.2', 0x1000, '-lh 100 -ls 50'));
    h.advance!(49);
    assert.equal(findExt((await dumpSad(h))[0]!, 'sa')!.state, 1);
    h.advance!(2);
    assert.equal(findExt((await dumpSad(h))[0]!, 'sa')!.state, 2);
    h.advance!(50);
    assert.deepEqual(await dumpSad(h), []);
  },

  'a larval SA from getspi expires after 30 seconds': async (h) => {
    await ok(h, 'getspi 10.0.0.1 10.0.0.2 esp 0x5000;');
    h.advance!(29);
    assert.equal((await dumpSad(h)).length, 1);
    h.advance!(2);
    assert.deepEqual(await dumpSad(h), []);
  },

};

const NEEDS_CLOCK = new Set(['lifetimes: soft add time makes the SA dying, hard deletes it', 'a larval SA from getspi expires after 30 seconds']);

/** The cases that need SAs (a kernel without ESP, AH and IPComp skips them). */
export const SA_CASES = new Set(
  Object.keys(CASES).filter((t) => !/^(spdadd|policy|spdupdate|spddelete|RFC mode|templates|a policy takes|spdflush|sync)/.test(t)),
);

export function conformance(o: SuiteOptions): void {
  goldenSocketDumps(o);
  for (const [title, body] of Object.entries(CASES)) {
    const reason = o.skip?.[title];
    const name = `conformance [${o.name}]: ${title}`;
    if (reason) {
      test(name, { skip: reason }, () => undefined);
      continue;
    }
    test(name, async (t) => {
      const h = await o.open();
      try {
        if (NEEDS_CLOCK.has(title) && !h.advance) {
          t.skip('the backend\'s clock cannot be moved (a real kernel): covered by waiting in the kernel suite');
          return;
        }
        if (h.noSas && SA_CASES.has(title)) {
          t.skip(h.noSas);
          return;
        }
        await body(h);
      } finally {
        await h.close();
      }
    });
  }
}

const SOCKET_VARIANTS: Record<string, string[]> = {
  'out-sock-D.txt': ['-D'],
  'out-sock-DH.txt': ['-D', '-H'],
  'out-sock-DP.txt': ['-DP'],
  'out-sock-DPp.txt': ['-DPp'],
};

/** The golden out-sock-* outputs: the reference's setkey -D/-DP over a kernel serving each case's messages. */
function goldenSocketDumps(o: SuiteOptions): void {
  const title = 'golden out-sock-* dumps: the messages served by the backend print as the reference printed them';
  const name = `conformance [${o.name}]: ${title}`;
  const reason = o.skip?.[title];
  if (reason) {
    test(name, { skip: reason }, () => undefined);
    return;
  }
  test(name, async (t) => {
    const cases = readdirSync(GOLDEN).filter((d) => /^s[ap]d-/.test(d));
    let checked = 0;
    for (const c of cases) {
      for (const [file, flags] of Object.entries(SOCKET_VARIANTS)) {
        const dir = join(GOLDEN, c);
        if (!existsSync(join(dir, file))) continue;
        const h = await o.open();
        try {
          if (!h.serve) {
            t.skip('the backend cannot serve arbitrary messages (a kernel keeps its own state): the golden dumps are checked where it can carry their fields');
            return;
          }
          await h.serve(readBin(join(dir, 'msg.bin')), basename(dir).startsWith('sad-') ? 'sad' : 'spd');
          const r = await h.cli(flags);
          assert.equal(r.stdout, read(join(dir, file)), `${c}/${file}`);
          assert.equal(r.code, 0);
          checked++;
        } finally {
          await h.close();
        }
      }
    }
    assert.ok(checked >= 30, `${checked} golden socket dumps`);
  });
}

export const CASE_TITLES = Object.keys(CASES);
