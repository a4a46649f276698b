/**
 * The progress line: only on a terminal stderr, only past ~2 s, erased when
 * the work ends, never in stdout or in the messages on stderr. A fake
 * terminal with a clock that moves 50 ms each time it is read stands in for
 * a slow run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Progress, startProgress, type ProgressTerminal } from '../src/cli/progress.js';
import { runCli } from './helpers.js';

function terminal(opts: { msPerRead?: number; stdoutIsTerminal?: boolean; columns?: number } = {}): ProgressTerminal & { out: string[] } {
  let t = 0;
  const out: string[] = [];
  return {
    out,
    columns: () => opts.columns ?? 100,
    write: (s) => void out.push(s),
    now: () => (t += opts.msPerRead ?? 50),
    stdoutIsTerminal: opts.stdoutIsTerminal ?? false,
  };
}

const ERASE = '\r\x1b[K';

function sas(n: number): string {
  let text = '';
  for (let i = 0; i < n; i++) text += `add 10.0.${i >> 8}.${i & 255} 10.1.0.1 esp ${0x1000 + i} -E aes-cbc 0x${'11'.repeat(16)};\n`;
  return text;
}

function tempStore(): { store: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'setkey-progress-'));
  return { store: join(dir, 'store'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('Progress: nothing before 2 s, then done / total, rate and elapsed, redrawn at most every 250 ms, erased at the end', () => {
  let now = 0;
  const out: string[] = [];
  const term: ProgressTerminal = { columns: () => 80, write: (s) => void out.push(s), now: () => now, stdoutIsTerminal: false };
  const p = new Progress(term, 'applying a.conf', 10_000);
  now = 1999;
  p.step(1000);
  assert.deepEqual(out, []);
  now = 2000;
  p.step(1000);
  assert.deepEqual(out, [`\rsetkey: applying a.conf: 2,000 / 10,000 (20%), 1,000/s, 2.0 s\x1b[K`]);
  assert.equal(term.active, p);
  now = 2100;
  p.step(1000);
  assert.equal(out.length, 1, 'not redrawn within 250 ms');
  now = 2300;
  p.step(1000);
  assert.equal(out.length, 2);
  assert.match(out[1]!, /4,000 \/ 10,000 \(40%\)/);
  p.end();
  assert.equal(out.at(-1), ERASE);
  assert.equal(term.active, undefined);
  now = 9000;
  p.step(1000);
  assert.equal(out.at(-1), ERASE, 'nothing after the end');
});

test('Progress: the line is cut to the terminal width; no total shows the count alone', () => {
  let now = 5000;
  const out: string[] = [];
  const term: ProgressTerminal = { columns: () => 30, write: (s) => void out.push(s), now: () => now, stdoutIsTerminal: false };
  const p = new Progress(term, 'dumping SAs');
  now = 10_000;
  p.step(64);
  assert.equal(out.length, 1);
  const line = out[0]!.slice(1, -'\x1b[K'.length);
  assert.equal(line.length, 29);
  assert.equal(line, 'setkey: dumping SAs: 64, 13/s');
});

test('startProgress: none without a terminal, none for a dump when stdout is the terminal', () => {
  assert.equal(startProgress(undefined, 'x'), undefined);
  assert.equal(startProgress(terminal({ stdoutIsTerminal: true }), 'x', { printsToStdout: true }), undefined);
  assert.ok(startProgress(terminal({ stdoutIsTerminal: true }), 'x'));
  assert.ok(startProgress(terminal(), 'x', { printsToStdout: true }));
});

test('a long apply shows progress on the terminal, then the store phase, and erases it; stdout and stderr are as without', async () => {
  const a = tempStore();
  const b = tempStore();
  try {
    const files = { 'a.conf': sas(6000) };
    const term = terminal();
    const r = await runCli(['--store', a.store, '-f', 'a.conf'], { files, progress: term });
    const plain = await runCli(['--store', b.store, '-f', 'a.conf'], { files });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([r.stdout, r.stderr], [plain.stdout, plain.stderr]);
    const drawn = term.out.join('');
    assert.match(drawn, /\rsetkey: applying a\.conf: [\d,]+ \/ 6,000 \(\d+%\), [\d,]+\/s, [\d.]+ s\x1b\[K/);
    assert.match(drawn, /\rsetkey: writing the store: [\d.]+ s\x1b\[K/);
    assert.equal(term.out.at(-1), ERASE);
    assert.equal(term.active, undefined);
    // the same store as without
    assert.equal((await runCli(['--store', a.store, '-D'])).stdout, (await runCli(['--store', b.store, '-D'])).stdout);
  } finally {
    a.done();
    b.done();
  }
});

test('a long dump to a file shows progress; to the terminal itself, or a short one, it does not', async () => {
  const a = tempStore();
  try {
    assert.equal((await runCli(['--store', a.store, '-f', 'a.conf'], { files: { 'a.conf': sas(4000) } })).code, 0);
    const plain = await runCli(['--store', a.store, '-D']);
    const term = terminal();
    const r = await runCli(['--store', a.store, '-D'], { progress: term });
    assert.equal(r.stdout, plain.stdout);
    assert.equal(r.stderr, '');
    assert.match(term.out.join(''), /\rsetkey: dumping SAs: [\d,]+, [\d,]+\/s, [\d.]+ s\x1b\[K/);
    assert.equal(term.out.at(-1), ERASE);
    const onTerminal = terminal({ stdoutIsTerminal: true });
    assert.equal((await runCli(['--store', a.store, '-D'], { progress: onTerminal })).stdout, plain.stdout);
    assert.deepEqual(onTerminal.out, []);
    const quick = terminal({ msPerRead: 0 });
    await runCli(['--store', a.store, '-D'], { progress: quick });
    await runCli(['--store', a.store, '-f', 'b.conf'], { files: { 'b.conf': 'flush;\n' + sas(4000) }, progress: quick });
    assert.deepEqual(quick.out, [], 'work under 2 s shows nothing');
  } finally {
    a.done();
  }
});

test('--sync shows the reading and the applying, erased, with the plan printed as without', async () => {
  const a = tempStore();
  const b = tempStore();
  try {
    const files = { 'a.conf': sas(3000), 'b.conf': sas(6000) };
    for (const s of [a.store, b.store]) assert.equal((await runCli(['--store', s, '-f', 'a.conf'], { files })).code, 0);
    const term = terminal();
    const r = await runCli(['--store', a.store, '--sync', '-f', 'b.conf'], { files, progress: term });
    const plain = await runCli(['--store', b.store, '--sync', '-f', 'b.conf'], { files });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([r.stdout, r.stderr], [plain.stdout, plain.stderr]);
    const drawn = term.out.join('');
    assert.match(drawn, /setkey: reading the embedded tables: /);
    assert.match(drawn, /setkey: syncing to b\.conf: [\d,]+ \/ 3,000 /);
    assert.equal(term.out.at(-1), ERASE);
  } finally {
    a.done();
    b.done();
  }
});
