/**
 * Carrying out a plan. On the embedded engine the whole plan is one
 * transaction (all of it or nothing); a kernel has no transactions, so the
 * steps go in the plan's order (which never leaves a kept policy out of the
 * kernel) and the first refusal stops them: the result says what was done.
 */
import type { Backend } from '../backends/backend.js';
import type { Command } from '../model/command.js';
import type { Plan, Step } from './plan.js';

export interface Applied {
  /** the steps carried out whole */
  readonly done: readonly Step[];
  /** the step a backend refused, and why (nothing after it was sent) */
  readonly failed?: { readonly step: Step; readonly errno: number; readonly why?: string };
  /** requests sent */
  readonly requests: number;
  /** on a backend with transactions, a refusal undid everything */
  readonly undone: boolean;
}

export async function applyPlan(backend: Backend, plan: Plan, opts: { pid?: number; onRequest?: (done: number, total: number) => void } = {}): Promise<Applied> {
  const cmds: Command[] = [];
  const stepOf: Step[] = [];
  for (const s of plan.steps) {
    for (const c of s.cmds) {
      cmds.push(c);
      stepOf.push(s);
    }
  }
  if (cmds.length === 0) return { done: [], requests: 0, undone: false };
  let sent = 0;
  let failed: Applied['failed'];
  await backend.run(cmds, {
    atomic: true,
    pid: opts.pid ?? process.pid,
    quiet: true,
    onOutcome: (o) => {
      const step = stepOf[sent++]!;
      opts.onRequest?.(sent, cmds.length);
      if (o.errno !== 0 && !failed) failed = { step, errno: o.errno, ...(o.why ? { why: o.why } : {}) };
    },
  });
  if (!failed) return { done: plan.steps, requests: sent, undone: false };
  const undone = backend.capabilities.atomicBatches;
  const done = undone ? [] : plan.steps.slice(0, plan.steps.indexOf(failed.step));
  return { done, failed, requests: sent, undone };
}
