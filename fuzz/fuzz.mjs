#!/usr/bin/env node
/**
 * Fuzzer for the PF_KEY decoder and the dump printers.
 *
 *   node fuzz/fuzz.mjs [--count N] [--seed S] [--jobs J] [--hang-ms MS] [--max-seconds T]
 *   node fuzz/fuzz.mjs --seed S --replay I       (show input #I of run S and run it)
 *
 * Needs the compiled project (npx tsc -p .). Every input is fed to every
 * decode/print entry point (on its platform):
 *   splitMessages, indexLenient, indexMessage, checkMessage, readExt,
 *   decodeMessage                    may throw only DecodeError;
 *   wireToCommand(decodeMessage())   may throw only DecodeError or WireModelError;
 *   dumpView, postproc, saDump, spDump, shortDump, kdebugSadb   must not throw
 *                                    (and the printers must return strings).
 * Anything else is a crash; a call that takes more than --hang-ms (2000) is a
 * hang, and so is a call that never returns (a watchdog in the main thread
 * notices that a worker stopped making calls, kills it and restarts it after
 * the input). Inputs are reproducible: input #i of seed S depends only on S,
 * i and the seed corpus (test/golden and fast-check samples of seed S).
 * Exit status: 0 when there were no crashes and no hangs, 1 otherwise.
 */
import { isMainThread, Worker, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { existsSync, realpathSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { extsOf, fixLength, loadSeeds, makeInput } from './mutate.mjs';

const SELF = fileURLToPath(import.meta.url);
export const ROOT = resolve(dirname(SELF), '..');

export const ENTRIES = ['splitMessages', 'indexLenient', 'indexMessage', 'checkMessage', 'readExt', 'decodeMessage', 'wireToCommand', 'dumpView', 'postproc', 'saDump', 'spDump', 'shortDump', 'kdebugSadb'];
const E = Object.fromEntries(ENTRIES.map((n, i) => [n, i]));

// ---------------------------------------------------------------- the code under test

/** Import the compiled entry points; kdebugSadb is optional (skipped with a note). */
export async function loadTargets(root = ROOT) {
  const dist = join(root, 'dist', 'src');
  if (!existsSync(join(dist, 'pfkey', 'decode.js'))) throw new Error(`${dist} has no compiled sources: run npx tsc -p . first`);
  const load = (p) => import(pathToFileURL(join(dist, p)).href);
  const decode = await load('pfkey/decode.js');
  const { dumpView } = await load('pfkey/dump-view.js');
  const { postproc } = await load('format/postproc.js');
  const { saDump } = await load('format/sadump.js');
  const { spDump } = await load('format/spdump.js');
  const { shortDump } = await load('format/shortdump.js');
  const { wireToCommand, WireModelError } = await load('pfkey/from-wire.js');
  const notes = [];
  // the optional cached str_time() printers may be given (DumpOptions.time)
  let cachedStrTime = null;
  try {
    const c = await load('format/ctime.js');
    if (typeof c.cachedStrTime === 'function') cachedStrTime = c.cachedStrTime;
  } catch {
    // older tree: no cache
  }
  let kdebugSadb = null;
  try {
    const k = await load('format/kdebug.js');
    if (typeof k.kdebugSadb !== 'function') notes.push('kdebugSadb skipped: format/kdebug.js exports no kdebugSadb function');
    else {
      // the signature we expect: (bytes, platform) -> string
      const probe = k.kdebugSadb(new Uint8Array([2, 10, 0, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 'linux');
      if (typeof probe !== 'string') notes.push(`kdebugSadb skipped: it returned ${typeof probe}, not a string`);
      else kdebugSadb = k.kdebugSadb;
    }
  } catch (e) {
    notes.push(`kdebugSadb skipped: ${e.message.split('\n')[0]}`);
  }
  return { ...decode, dumpView, postproc, saDump, spDump, shortDump, wireToCommand, WireModelError, kdebugSadb, cachedStrTime, notes };
}

// ---------------------------------------------------------------- one input through every entry point

const TZS = [() => 0, () => 3600, () => -18000, () => 50400];
const IFNAMES = [() => undefined, (i) => (i === 1 ? 'lo' : i === 2 ? 'eth0' : undefined)];
const PROTO_NAMES = { 0: 'ip', 1: 'icmp', 6: 'tcp', 17: 'udp', 41: 'ipv6', 47: 'gre', 50: 'esp', 58: 'ipv6-icmp', 135: 'mobility-header' };
const PROTOS = [() => undefined, (n) => PROTO_NAMES[n]];
const FAILED = Symbol('failed');

export function optionsFor(rng, platform, cachedStrTime = null) {
  const tz = TZS[rng.int(TZS.length)];
  const o = {
    withPorts: rng.chance(0.5),
    all: rng.chance(0.5),
    short: rng.chance(0.5),
    now: 1700000100,
    tz,
    ifName: IFNAMES[rng.int(IFNAMES.length)],
    protoName: PROTOS[rng.int(PROTOS.length)],
    platform,
  };
  return cachedStrTime && rng.chance(0.3) ? { ...o, time: cachedStrTime(tz) } : o;
}

function describeOptions(o) {
  return `withPorts=${o.withPorts} all=${o.all} short=${o.short} now=${o.now} tz=${o.tz(0)}${o.time ? ' time=cachedStrTime' : ''} ifName=${o.ifName(1) ?? 'none'} protoName=${o.protoName(6) ?? 'none'} platform=${o.platform}`;
}

class ContractError extends Error {}

/**
 * Runs entry points and sorts their failures. `onCrash(entry, error)` and
 * `onHang(entry, ms)` are called for each bad call; `hb` (an Int32Array on
 * shared memory, or a plain one) is the watchdog's heartbeat:
 * [input index, entry id, calls made].
 */
export class Harness {
  constructor(t, { hangMs = 2000, hb = new Int32Array(3), onCrash, onHang }) {
    this.t = t;
    this.hangMs = hangMs;
    this.hb = hb;
    this.onCrash = onCrash;
    this.onHang = onHang;
    this.calls = 0;
    this.maxMs = 0;
    this.maxEntry = '';
    const D = t.DecodeError;
    const W = t.WireModelError;
    this.decodeOnly = (e) => e instanceof D;
    this.decodeOrModel = (e) => e instanceof D || e instanceof W;
    this.nothing = () => false;
  }

  call(id, fn, allowed) {
    const hb = this.hb;
    Atomics.store(hb, 1, id);
    Atomics.add(hb, 2, 1);
    this.calls++;
    const t0 = performance.now();
    let r;
    let err;
    let threw = false;
    try {
      r = fn();
    } catch (e) {
      threw = true;
      err = e;
    }
    const dt = performance.now() - t0;
    if (dt > this.maxMs) {
      this.maxMs = dt;
      this.maxEntry = ENTRIES[id];
    }
    if (dt > this.hangMs) this.onHang(ENTRIES[id], dt);
    if (threw) {
      if (!allowed(err)) this.onCrash(ENTRIES[id], err);
      return FAILED;
    }
    return r;
  }

  printed(id, fn) {
    const r = this.call(id, fn, this.nothing);
    if (r !== FAILED && typeof r !== 'string') this.onCrash(ENTRIES[id], new ContractError(`${ENTRIES[id]} returned ${typeof r}, not a string`));
  }

  /** One message (or any bytes) through the per-message entry points. */
  message(m, p, o) {
    const t = this.t;
    const lenient = this.call(E.indexLenient, () => t.indexLenient(m, p), this.decodeOnly);
    this.call(E.indexMessage, () => t.indexMessage(m, p), this.decodeOnly);
    if (lenient !== FAILED && lenient) {
      const ix = lenient.ix;
      this.call(E.checkMessage, () => t.checkMessage(ix), this.decodeOnly);
      const order = ix.order.length > 40 ? ix.order.slice(0, 40) : ix.order;
      for (const span of order) this.call(E.readExt, () => t.readExt(ix, span), this.decodeOnly);
    }
    const msg = this.call(E.decodeMessage, () => t.decodeMessage(m, p), this.decodeOnly);
    if (msg !== FAILED) this.call(E.wireToCommand, () => t.wireToCommand(msg, p), this.decodeOrModel);
    const view = this.call(E.dumpView, () => t.dumpView(m, p), this.nothing);
    if (view !== FAILED) {
      this.printed(E.postproc, () => t.postproc(view, o));
      this.printed(E.saDump, () => t.saDump(view, o));
      this.printed(E.spDump, () => t.spDump(view, o));
      this.printed(E.shortDump, () => t.shortDump(view, o));
      // a fresh view, so that postproc's other form (-l or not) decodes on its own too
      const v2 = this.call(E.dumpView, () => t.dumpView(m, p), this.nothing);
      if (v2 !== FAILED) this.printed(E.postproc, () => t.postproc(v2, { ...o, short: !o.short, all: !o.all }));
    }
    if (t.kdebugSadb) this.printed(E.kdebugSadb, () => t.kdebugSadb(m, p));
  }

  /** A whole input: split it, then run the message entry points on it and on each message found. */
  input(bytes, p, o) {
    const t = this.t;
    const spans = this.call(
      E.splitMessages,
      () => {
        const out = [];
        for (const s of t.splitMessages(bytes)) {
          if (s instanceof t.DecodeError) continue;
          if (!(s.offset >= 0 && s.length >= 16 && s.offset + s.length <= bytes.length)) throw new ContractError(`splitMessages yielded offset ${s.offset} length ${s.length} for ${bytes.length} bytes`);
          out.push(s);
          if (out.length > 64) break;
        }
        return out;
      },
      this.decodeOnly,
    );
    this.message(bytes, p, o);
    if (spans !== FAILED) {
      for (const s of spans.slice(0, 4)) if (s.length !== bytes.length) this.message(bytes.subarray(s.offset, s.offset + s.length), p, o);
    }
  }
}

// ---------------------------------------------------------------- crash signatures and minimisation

export function signature(entry, err) {
  const name = err?.constructor?.name ?? typeof err;
  const msg = String(err?.message ?? err).replace(/\d+/g, 'N').slice(0, 120);
  const line = String(err?.stack ?? '').split('\n').find((l) => /^\s+at /.test(l) && /dist[\\/]src/.test(l)) ?? '';
  // "at fn (file:///x/dist/src/a/b.js:1:2)" -> "fn (dist/src/a/b.js)": the function and file, not the line
  const frame = line.trim().replace(/^at /, '').replace(/:\d+:\d+\)?$/, '').replace(/(^|\()[^()]*?(dist[\\/]src[\\/])/, '$1$2') + (line.includes('(') ? ')' : '');
  return `${entry} ${name}: ${msg} @ ${frame}`;
}

function hex(b) {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Hex for a report line: long inputs are cut (--replay shows them whole). */
function shortHex(h) {
  return h.length <= 8192 ? h : `${h.slice(0, 8192)}... (cut; --replay prints it all)`;
}

/** Shrink `bytes` while running them still gives the crash `sig` (removals, then zeroed bytes). */
export function minimize(t, bytes, platform, opts, sig, budget = 4000) {
  let tries = 0;
  const probe = (cand) => {
    tries++;
    let hit = false;
    const h = new Harness(t, {
      hangMs: Infinity,
      onCrash: (entry, err) => {
        if (signature(entry, err) === sig) hit = true;
      },
      onHang: () => {},
    });
    h.input(cand, platform, opts);
    return hit;
  };
  let cur = Uint8Array.prototype.slice.call(bytes);
  if (!probe(cur)) return cur; // not reproducible alone (should not happen)
  // structure first: drop whole extensions (keeping the message length right), trailing bytes
  for (let again = true; again && tries < budget; ) {
    again = false;
    const ex = extsOf(cur);
    for (let k = ex.length - 1; k >= 0 && tries < budget; k--) {
      const e = ex[k];
      const cand = new Uint8Array(cur.length - e.len);
      cand.set(cur.subarray(0, e.off));
      cand.set(cur.subarray(e.off + e.len), e.off);
      for (const c of [fixLength(cand), cand]) {
        if (probe(c)) {
          cur = c;
          again = true;
          break;
        }
      }
      if (again) break;
    }
  }
  for (let chunk = 1 << Math.floor(Math.log2(Math.max(1, cur.length))); chunk >= 1 && tries < budget; chunk >>= 1) {
    for (let i = 0; i < cur.length && tries < budget; ) {
      const cand = new Uint8Array(cur.length - Math.min(chunk, cur.length - i));
      cand.set(cur.subarray(0, i));
      cand.set(cur.subarray(i + chunk), i);
      if (probe(cand)) cur = cand;
      else i += chunk;
    }
  }
  for (let i = 0; i < cur.length && tries < budget; i++) {
    if (cur[i] === 0) continue;
    const cand = cur.slice();
    cand[i] = 0;
    if (probe(cand)) cur = cand;
  }
  return cur;
}

// ---------------------------------------------------------------- worker

async function workerMain() {
  const { root, seed, count, from, step, offset, hangMs, hbBuffer, selfTestHang } = workerData;
  const hb = new Int32Array(hbBuffer);
  const t = await loadTargets(root);
  const { seeds, goldenCount, goldenFiles, generated } = await loadSeeds(root, { seed });
  parentPort.postMessage({ type: 'ready', notes: t.notes, seeds: seeds.length, goldenCount, goldenFiles, generated });
  const seen = new Set();
  let crashes = 0;
  let hangs = 0;
  let messages = 0;
  let current;
  const h = new Harness(t, {
    hangMs,
    hb,
    onCrash: (entry, err) => {
      crashes++;
      const sig = signature(entry, err);
      if (seen.has(sig)) {
        parentPort.postMessage({ type: 'crash-again', sig });
        return;
      }
      seen.add(sig);
      const min = minimize(t, current.bytes, current.platform, current.opts, sig);
      parentPort.postMessage({
        type: 'crash',
        sig,
        entry,
        index: current.index,
        how: current.how,
        platform: current.platform,
        options: describeOptions(current.opts),
        hex: hex(current.bytes),
        minHex: hex(min),
        error: `${err?.constructor?.name ?? typeof err}: ${err?.message ?? String(err)}`,
        stack: String(err?.stack ?? err),
      });
    },
    onHang: (entry, ms) => {
      hangs++;
      parentPort.postMessage({ type: 'hang', entry, ms, index: current.index, how: current.how, platform: current.platform, options: describeOptions(current.opts), hex: hex(current.bytes) });
    },
  });
  let lastCalls = 0;
  let lastMessages = 0;
  const report = () => {
    parentPort.postMessage({ type: 'progress', messages: messages - lastMessages, calls: h.calls - lastCalls, crashes, hangs, maxMs: h.maxMs, maxEntry: h.maxEntry });
    lastCalls = h.calls;
    lastMessages = messages;
    crashes = 0;
    hangs = 0;
  };
  let first = from + ((offset - (from % step) + step) % step);
  for (let i = first; i < count; i += step) {
    Atomics.store(hb, 0, i);
    const inp = makeInput(seed, i, seeds);
    current = { index: i, bytes: inp.bytes, platform: inp.platform, how: inp.how, opts: optionsFor(inp.rng, inp.platform, t.cachedStrTime) };
    if (i === selfTestHang) {
      // --self-test-hang: checks the watchdog with a call that never returns
      h.call(E.decodeMessage, () => {
        for (;;);
      }, h.nothing);
    }
    h.input(current.bytes, current.platform, current.opts);
    messages++;
    if ((messages & 1023) === 0) report();
  }
  report();
  parentPort.postMessage({ type: 'done' });
}

// ---------------------------------------------------------------- main thread

function parseArgs(argv) {
  const o = { count: 1_000_000, seed: 1, jobs: Math.max(1, Math.min(availableParallelism(), 8)), hangMs: 2000, maxSeconds: 1800, replay: undefined, selfTestHang: -1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined || !/^-?\d+(\.\d+)?$/.test(v)) throw new Error(`${a} needs a number`);
      return Number(v);
    };
    if (a === '--count') o.count = val();
    else if (a === '--seed') o.seed = val() | 0;
    else if (a === '--jobs') o.jobs = Math.max(1, val());
    else if (a === '--hang-ms') o.hangMs = val();
    else if (a === '--max-seconds') o.maxSeconds = val();
    else if (a === '--replay') o.replay = val();
    else if (a === '--self-test-hang') o.selfTestHang = val();
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node fuzz/fuzz.mjs [--count N] [--seed S] [--jobs J] [--hang-ms MS] [--max-seconds T] [--replay I]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.count > 2 ** 31 - 1) throw new Error('--count is limited to 2^31-1');
  return o;
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');

/**
 * Run the fuzzer: `count` inputs of run `seed` spread over `jobs` worker
 * threads. Resolves to { messages, calls, crashes, hangs, signatures, aborted, seconds }.
 */
export async function fuzz({ count = 1_000_000, seed = 1, jobs = 2, hangMs = 2000, maxSeconds = 1800, selfTestHang = -1, root = ROOT, log = (s) => process.stdout.write(s) } = {}) {
  const started = performance.now();
  const watchdogMs = Math.max(5000, 2.5 * hangMs);
  const totals = { messages: 0, calls: 0, crashes: 0, hangs: 0, maxMs: 0, maxEntry: '' };
  const signatures = new Map(); // sig -> { count, first report }
  let aborted = false;
  let seedsForReport = null;
  const notes = new Set();
  let readyPrinted = false;
  const workers = new Set();
  jobs = Math.max(1, Math.min(jobs, count || 1));

  const printCrash = (c) => {
    log(
      `\nCRASH in ${c.entry} (${c.platform}): ${c.error}\n` +
        `  signature: ${c.sig}\n` +
        `  input #${c.index} (${c.how}), ${c.hex.length / 2} bytes: ${shortHex(c.hex)}\n` +
        `  minimized, ${c.minHex.length / 2} bytes: ${shortHex(c.minHex)}\n` +
        `  options: ${c.options}\n` +
        `  replay: node fuzz/fuzz.mjs --seed ${seed} --replay ${c.index}\n` +
        `  stack:\n${c.stack
          .split('\n')
          .map((l) => '    ' + l)
          .join('\n')}\n\n`,
    );
  };
  const printHang = (hg) => {
    log(
      `\nHANG in ${hg.entry} (${hg.platform}): ${hg.ms === undefined ? `no return after ${watchdogMs} ms (worker killed)` : `${hg.ms.toFixed(0)} ms`}\n` +
        `  input #${hg.index} (${hg.how}), ${hg.hex.length / 2} bytes: ${shortHex(hg.hex)}\n` +
        (hg.options ? `  options: ${hg.options}\n` : '') +
        `  replay: node fuzz/fuzz.mjs --seed ${seed} --replay ${hg.index}\n\n`,
    );
  };

  await new Promise((resolveAll) => {
    let lastProgress = performance.now();
    let pending = 0;
    const finishOne = () => {
      if (--pending === 0) resolveAll();
    };
    const start = (offset, from) => {
      const hbBuffer = new SharedArrayBuffer(12);
      const hb = new Int32Array(hbBuffer);
      Atomics.store(hb, 0, from);
      const w = new Worker(SELF, { workerData: { fuzzWorker: true, root, seed, count, from, step: jobs, offset, hangMs, hbBuffer, selfTestHang } });
      const first = from + ((offset - (from % jobs) + jobs) % jobs);
      const state = { w, hb, first, reportedMessages: 0, reportedCalls: 0, lastCalls: -1, lastChange: performance.now(), ready: false, finished: false };
      workers.add(state);
      pending++;
      w.on('message', (m) => {
        switch (m.type) {
          case 'ready':
            state.ready = true;
            state.lastChange = performance.now();
            for (const n of m.notes) notes.add(n);
            if (!readyPrinted) {
              readyPrinted = true;
              log(`seeds: ${m.seeds} (${m.goldenCount} messages from ${m.goldenFiles} golden files, those files whole, ${m.generated} messages encoded from random commands)\n`);
              for (const n of m.notes) log(`note: ${n}\n`);
            }
            break;
          case 'progress': {
            totals.messages += m.messages;
            totals.calls += m.calls;
            state.reportedMessages += m.messages;
            state.reportedCalls += m.calls;
            totals.crashes += m.crashes;
            totals.hangs += m.hangs;
            if (m.maxMs > totals.maxMs) {
              totals.maxMs = m.maxMs;
              totals.maxEntry = m.maxEntry;
            }
            const now = performance.now();
            if (now - lastProgress > 5000) {
              lastProgress = now;
              const s = (now - started) / 1000;
              log(`progress: ${fmt(totals.messages)}/${fmt(count)} messages, ${fmt(totals.calls)} calls, ${totals.crashes} crashes, ${totals.hangs} hangs, ${fmt(totals.messages / s)} messages/s\n`);
            }
            break;
          }
          case 'crash': {
            if (m.index < 0) totals.crashes++; // the worker itself failed (and stopped)
            const s = signatures.get(m.sig);
            if (s) s.count++;
            else {
              signatures.set(m.sig, { count: 1, first: m });
              printCrash(m);
            }
            break;
          }
          case 'crash-again': {
            const s = signatures.get(m.sig);
            if (s) s.count++;
            break;
          }
          case 'hang':
            printHang(m);
            break;
          case 'done':
            state.finished = true;
            break;
        }
      });
      w.on('error', (e) => {
        log(`worker error: ${e?.stack ?? e}\n`);
        totals.crashes++;
        signatures.set(`worker error ${e?.message}`, { count: 1, first: { entry: 'worker', error: String(e?.message ?? e) } });
      });
      w.on('exit', () => {
        workers.delete(state);
        clearInterval(state.timer);
        finishOne();
      });
      // the watchdog: a worker that makes no call for watchdogMs is stuck in one
      state.timer = setInterval(async () => {
        if (state.finished) return;
        const calls = Atomics.load(hb, 2);
        const now = performance.now();
        if (calls !== state.lastCalls) {
          state.lastCalls = calls;
          state.lastChange = now;
          return;
        }
        if (!state.ready || now - state.lastChange < watchdogMs) return;
        clearInterval(state.timer);
        const index = Atomics.load(hb, 0);
        const entry = ENTRIES[Atomics.load(hb, 1)];
        state.finished = true;
        totals.hangs++;
        // what the worker did since its last report (the stuck input included) would be lost with it
        totals.messages += (index - state.first) / jobs + 1 - state.reportedMessages;
        totals.calls += Atomics.load(hb, 2) - state.reportedCalls;
        // the replacement starts after the stuck input (started before this one ends, so the run does not end here)
        if (index + 1 < count) start(offset, index + 1);
        await w.terminate();
        if (!seedsForReport) seedsForReport = (await loadSeeds(root, { seed })).seeds;
        const inp = makeInput(seed, index, seedsForReport);
        printHang({ entry, index, how: inp.how, platform: inp.platform, hex: hex(inp.bytes) });
      }, 250);
    };
    for (let k = 0; k < jobs; k++) start(k, 0);
    // the total run guard
    const guard = setTimeout(async () => {
      aborted = true;
      log(`\nABORTED: the run took more than ${maxSeconds} s\n`);
      for (const s of [...workers]) {
        s.finished = true;
        await s.w.terminate();
      }
    }, maxSeconds * 1000);
    guard.unref();
    const wait = setInterval(() => {
      if (pending === 0) clearInterval(wait);
    }, 1000);
    wait.unref();
  });

  const seconds = (performance.now() - started) / 1000;
  return { ...totals, signatures, aborted, seconds, notes: [...notes] };
}

async function replay(o) {
  const t = await loadTargets(ROOT);
  for (const n of t.notes) process.stdout.write(`note: ${n}\n`);
  const { seeds } = await loadSeeds(ROOT, { seed: o.seed });
  const inp = makeInput(o.seed, o.replay, seeds);
  const opts = optionsFor(inp.rng, inp.platform, t.cachedStrTime);
  process.stdout.write(`input #${o.replay} of seed ${o.seed} (${inp.how}), ${inp.platform}, ${inp.bytes.length} bytes:\n${hex(inp.bytes)}\noptions: ${describeOptions(opts)}\n`);
  let bad = 0;
  const h = new Harness(t, {
    hangMs: o.hangMs,
    onCrash: (entry, err) => {
      bad++;
      process.stdout.write(`CRASH in ${entry}: ${err?.stack ?? err}\n`);
    },
    onHang: (entry, ms) => {
      bad++;
      process.stdout.write(`HANG in ${entry}: ${ms.toFixed(0)} ms\n`);
    },
  });
  h.input(inp.bytes, inp.platform, opts);
  process.stdout.write(`${h.calls} calls, ${bad} problems\n`);
  return bad ? 1 : 0;
}

async function cliMain() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`fuzz: ${e.message}\n`);
    return 2;
  }
  if (o.replay !== undefined) return replay(o);
  process.stdout.write(`fuzz: seed ${o.seed}, ${fmt(o.count)} messages, ${o.jobs} worker(s), hang limit ${o.hangMs} ms per call, run limit ${o.maxSeconds} s\n`);
  const r = await fuzz(o);
  process.stdout.write(
    `\n=== fuzz summary (seed ${o.seed}) ===\n` +
      `messages: ${r.messages}\n` +
      `calls: ${r.calls}\n` +
      `crashes: ${r.crashes}\n` +
      `hangs: ${r.hangs}\n` +
      `slowest call: ${r.maxMs.toFixed(1)} ms (${r.maxEntry})\n` +
      `distinct crash signatures: ${r.signatures.size}\n` +
      [...r.signatures].map(([sig, s]) => `  ${s.count} x ${sig}\n`).join('') +
      (r.notes.length ? r.notes.map((n) => `note: ${n}\n`).join('') : '') +
      `wall: ${r.seconds.toFixed(1)} s (${fmt(r.messages / r.seconds)} messages/s, ${fmt(r.calls / r.seconds)} calls/s)\n` +
      (r.aborted ? 'result: ABORTED (run time limit)\n' : `result: ${r.crashes || r.hangs ? 'FAIL' : 'OK'}\n`),
  );
  const byEntry = {};
  for (const [, sg] of r.signatures) byEntry[sg.first.entry] = (byEntry[sg.first.entry] ?? 0) + sg.count;
  const json = { seed: o.seed, entries: ENTRIES, messages: r.messages, calls: r.calls, crashes: r.crashes, hangs: r.hangs, aborted: r.aborted, seconds: Number(r.seconds.toFixed(2)), crashesByEntry: byEntry, signatures: [...r.signatures].map(([sig, sg]) => ({ sig, count: sg.count, entry: sg.first.entry, minHex: sg.first.minHex?.slice(0, 8192) })), notes: r.notes };
  process.stdout.write(`FUZZ-RESULT ${JSON.stringify(json)}\n`);
  return r.crashes || r.hangs || r.aborted || r.messages < o.count ? 1 : 0;
}

function invokedDirectly() {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(SELF);
  } catch {
    return false;
  }
}

if (!isMainThread && workerData?.fuzzWorker) {
  workerMain().catch((e) => {
    parentPort.postMessage({ type: 'crash', sig: `fuzzer internal error: ${e?.message}`, entry: 'fuzzer itself', index: -1, how: '-', platform: '-', options: '-', hex: '', minHex: '', error: String(e?.message ?? e), stack: String(e?.stack ?? e) });
  });
} else if (isMainThread && invokedDirectly()) {
  cliMain().then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`fuzz: ${e?.stack ?? e}\n`);
      process.exitCode = 2;
    },
  );
}
