/**
 * The SAD and SPD as typed data: what a backend holds (readState) and what
 * a file declares (declare.ts), in the model's types, so that they can be
 * compared (plan.ts) and printed. Entries come from dump messages through
 * the same decoding the dump printers use, so every backend's state is
 * seen as af_key would show it, and a state read back compares equal to the
 * state that was written.
 */
import type { Platform } from '../model/algorithms.js';
import type { Backend } from '../backends/backend.js';
import { NO_POS, type Command } from '../model/command.js';
import type { PolicyRule, Selector } from '../model/policy.js';
import type { SaParams, SecCtx } from '../model/sa.js';
import { SaState } from '../model/tables.js';
import { MsgType } from '../pfkey/constants.js';
import { dumpView } from '../pfkey/dump-view.js';
import { entryCommand } from '../format/state-script.js';

/** An SA as the SAD holds it. */
export interface SaEntry {
  readonly sa: SaParams;
  /** a larval SA (getspi) holds an SPI and nothing else yet */
  readonly larval?: boolean;
}

/** A policy as the SPD holds it. */
export interface PolicyEntry {
  readonly selector: Selector;
  readonly rule: PolicyRule;
  readonly ctx?: SecCtx;
}

export interface SyncState {
  readonly sas: readonly SaEntry[];
  readonly policies: readonly PolicyEntry[];
  /** what a dump showed that the language cannot state (per-socket policies...): never touched */
  readonly skipped: readonly string[];
}

/**
 * The state that dump messages show (dead SAs and per-socket policies are not
 * part of it: they are not setkey's to declare), built a message at a time:
 * a message is typed data once it is added, so a dump of any size is never
 * held as messages and entries both.
 */
export function stateBuilder(platform: Platform): { add(bytes: Uint8Array): void; state(): SyncState } {
  const sas: SaEntry[] = [];
  const policies: PolicyEntry[] = [];
  const skipped: string[] = [];
  return {
    add(bytes) {
      const v = dumpView(bytes, platform);
      if (v.header.errno !== 0) return;
      if (v.header.type === MsgType.DUMP && v.ext('sa')?.state === SaState.DEAD) return;
      const c = entryCommand(v, platform);
      if (c === undefined) return;
      if (typeof c === 'string') skipped.push(c);
      else if (c.kind === 'add') sas.push({ sa: c.sa });
      else if (c.kind === 'getspi') sas.push({ sa: c.sa, larval: true });
      else if (c.kind === 'spdadd' && c.selector) policies.push({ selector: c.selector, rule: c.policy, ...(c.ctx ? { ctx: c.ctx } : {}) });
    },
    state: () => ({ sas, policies, skipped }),
  };
}

/** The state of a list of dump messages (stateBuilder over them). */
export function stateOfMessages(messages: Iterable<Uint8Array>, platform: Platform): SyncState {
  const b = stateBuilder(platform);
  for (const m of messages) b.add(m);
  return b.state();
}

/** Everything a backend holds, read with its keys (a DUMP and an SPDDUMP). */
export async function readState(backend: Backend, opts: { pid?: number; platform?: Platform; onEntry?: () => void } = {}): Promise<SyncState> {
  const platform = opts.platform ?? (backend as { platform?: Platform }).platform ?? 'linux';
  const cmds: Command[] = [
    { kind: 'dump', pos: NO_POS, satype: 0 },
    { kind: 'spddump', pos: NO_POS },
  ];
  const built = stateBuilder(platform);
  const onEntry = opts.onEntry;
  const outs = await backend.run(cmds, {
    atomic: false,
    pid: opts.pid ?? process.pid,
    quiet: true,
    // a backend that streams hands each entry on as it comes, typed at once; the others keep them in the outcome
    onDumped: (m: Uint8Array) => {
      built.add(m);
      onEntry?.();
    },
  });
  for (const o of outs) {
    // an empty table answers ENOENT: nothing to read, not a failure
    if (o.errno !== 0 && o.errno !== 2) throw new Error(`the ${backend.name} backend refused to dump its tables (errno ${o.errno}${o.why ? `: ${o.why}` : ''})`);
    // a plan made from a torn reading could add what is there or leave what is not: nothing is changed
    if (o.interrupted) throw new Error(`the ${backend.name} tables changed while they were read; nothing was changed: run it again`);
    for (const x of o.exchanges) for (const m of x.received) built.add(m);
  }
  return built.state();
}
