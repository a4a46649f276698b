/**
 * --diff and --sync: the tables a file declares against the backend's, the
 * plan between them printed (re-readable statements, or JSON), and with
 * --sync carried out without the window `flush; spdflush;` opens
 * (src/converge/ says how). Exit status of --diff as diff(1): 0 the same,
 * 2 different, 1 trouble.
 */
import type { Backend } from '../backends/backend.js';
import { applyPlan } from '../converge/apply.js';
import { DeclareError, declaredStateOf } from '../converge/declare.js';
import { planSync } from '../converge/plan.js';
import { entryName, planJson, planText } from '../converge/print.js';
import { readState, type SyncState } from '../converge/state.js';
import { errnoName, strerror } from '../model/errno.js';
import { formatDiagnostic } from '../syntax/diagnostics.js';
import { escapeControls } from '../syntax/redact.js';
import type { Options } from './args.js';
import type { Io } from './io.js';
import { startProgress } from './progress.js';
import { declarationChunks, type ScriptInput } from './script.js';

/** The state the file declares, or undefined (said on stderr). Its commands are let go on return: only the state is kept. */
async function declared(io: Io, o: Options, input: ScriptInput): Promise<SyncState | undefined> {
  const cmds = await declarationChunks(io, o, input);
  if (!cmds) return undefined;
  try {
    return await declaredStateOf(cmds);
  } catch (e) {
    if (!(e instanceof DeclareError)) throw e;
    io.stderr(formatDiagnostic({ severity: 'error', code: 'declaration', file: e.pos.file, line: e.pos.line, col: e.pos.col, message: e.message }));
    io.stderr(`setkey: ${escapeControls(input.file)} does not declare a state; nothing compared\n`);
    return undefined;
  }
}

export async function runConverge(io: Io, o: Options, input: ScriptInput, backend: Backend): Promise<number> {
  const target = await declared(io, o, input);
  if (!target) return 1;
  const reading = startProgress(io.progress, `reading the ${backend.name} tables`);
  let current;
  try {
    current = await readState(backend, { pid: io.pid, ...(o.platform ? { platform: o.platform } : {}), ...(reading ? { onEntry: () => reading.step() } : {}) });
  } finally {
    reading?.end();
  }
  const plan = planSync(current, target, o.scope ? { scope: o.scope } : {});
  const print = (p: typeof plan): string => (o.format === 'json' ? planJson : planText)(p, { showKeys: o.showKeys, target: escapeControls(input.file) });
  if (o.converge === 'diff') {
    io.stdout(print(plan));
    return plan.steps.length ? 2 : 0;
  }
  const applying = startProgress(io.progress, `syncing to ${escapeControls(input.file)}`, { total: plan.steps.reduce((n, s) => n + s.cmds.length, 0) });
  let r;
  try {
    r = await applyPlan(backend, plan, { pid: io.pid, ...(applying ? { onRequest: () => applying.step() } : {}) });
  } finally {
    applying?.end();
  }
  if (!r.failed) {
    io.stdout(print(plan));
    return 0;
  }
  const f = r.failed;
  io.stderr(`setkey: --sync stopped at ${entryName((f.step.current ?? f.step.declared)!)} (${f.step.kind}): ${f.why ? `${f.why} ` : ''}(${errnoName(f.errno)}, ${strerror(f.errno)})\n`);
  io.stderr(
    r.undone
      ? `setkey: nothing of the sync was applied (the ${backend.name} backend applies it whole or not at all)\n`
      : `setkey: ${r.done.length} of ${plan.steps.length} changes were applied before it (the kernel has no transactions); setkey --diff shows what remains\n`,
  );
  return 1;
}
