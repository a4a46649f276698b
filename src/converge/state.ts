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
import { NO_POS, type AddCommand, type Command, type PolicyCommand, type SaRefCommand } from '../model/command.js';
import type { PolicyRule, Selector } from '../model/policy.js';
import type { SaParams, SecCtx } from '../model/sa.js';
import { SaState } from '../model/tables.js';
import { MsgType } from '../pfkey/constants.js';
import { dumpView, type DumpView } from '../pfkey/dump-view.js';
import { entryCommand } from '../format/state-script.js';
import { pool } from '../pfkey/pool.js';
import { policyIdentity, policyPair, saIdentity, saPair } from './identity.js';

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
 * An entry as a dump showed it, kept compact: its message with what never
 * counts zeroed, its identity and its scope pair. Its typed form (1.3 KB of
 * objects: addresses, keys, lifetimes) is made again from the message each
 * time it is asked for, which the plan does only for the entries that are
 * not the same on both sides: 100k entries a side typed took 130 MB each
 * (--diff of 100k, 526 MiB). Two entries whose messages are equal are the
 * same entry without a look at either (decoding is deterministic); two that
 * are not are compared field by field, as entries made by hand are.
 */
abstract class Dumped {
  constructor(
    /** the message, its sequence, pid, reference count, current lifetime and policy id zeroed */
    readonly message: Uint8Array,
    readonly id: string,
    readonly pair: string,
    protected readonly platform: Platform,
  ) {}

  protected command(): Command {
    const c = entryCommand(dumpView(this.message, this.platform), this.platform);
    if (c === undefined || typeof c === 'string') throw new Error(`a dumped entry no longer reads back: ${c ?? 'not an entry'}`);
    return c;
  }
}

class DumpedSa extends Dumped implements SaEntry {
  readonly larval?: boolean;
  constructor(message: Uint8Array, id: string, pair: string, platform: Platform, larval: boolean) {
    super(message, id, pair, platform);
    if (larval) this.larval = true;
  }
  get sa(): SaParams {
    return (this.command() as AddCommand | SaRefCommand).sa;
  }
}

class DumpedPolicy extends Dumped implements PolicyEntry {
  typed(): PolicyEntry {
    const c = this.command() as PolicyCommand;
    return { selector: c.selector!, rule: c.policy, ...(c.ctx ? { ctx: c.ctx } : {}) };
  }
  get selector(): Selector {
    return this.typed().selector;
  }
  get rule(): PolicyRule {
    return this.typed().rule;
  }
  get ctx(): SecCtx | undefined {
    return this.typed().ctx;
  }
}

/** What a dumped entry carries (the plan's quick answers); undefined for an entry made by hand. */
export function compactOf(e: SaEntry | PolicyEntry): { readonly id: string; readonly pair: string; readonly message: Uint8Array } | undefined {
  return e instanceof Dumped ? e : undefined;
}

/** A policy's typed parts, made once (a dumped one decodes its message for each). */
export function typedPolicy(p: PolicyEntry): PolicyEntry {
  return p instanceof DumpedPolicy ? p.typed() : p;
}

/** Entries' messages are cut from shared buffers (one ArrayBuffer each would be an allocation outside the heap per entry). */
const slab = pool(1 << 20);

/**
 * A copy of a dump message without what is not the entry's: the header's
 * sequence, pid and reserved field (a policy's reference count), the
 * current lifetime (counters), a policy's id. The typed form made from it
 * is the one made from the message (entryCommand reads none of these).
 */
function normalized(v: DumpView): Uint8Array {
  const src = v.ix.bytes;
  const out = slab(src.length);
  out.set(src);
  out.fill(0, 6, 16);
  const cur = v.span('lifetime_current');
  if (cur) out.fill(0, cur.offset + 4, cur.offset + cur.length);
  // sadb_x_policy: len, exttype, type u16, dir u8, reserved u8, id u32
  const pol = v.span('policy');
  if (pol && pol.length >= 12) out.fill(0, pol.offset + 8, pol.offset + 12);
  return out;
}

/**
 * The state that dump messages show (dead SAs and per-socket policies are not
 * part of it: they are not setkey's to declare), built a message at a time:
 * a message is a compact entry once it is added, so a dump of any size is
 * never held as messages and typed entries both.
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
      else if (c.kind === 'add' || c.kind === 'getspi') sas.push(new DumpedSa(normalized(v), saIdentity(c.sa), saPair(c.sa), platform, c.kind === 'getspi'));
      else if (c.kind === 'spdadd' && c.selector) policies.push(new DumpedPolicy(normalized(v), policyIdentity({ selector: c.selector, rule: c.policy, ctx: c.ctx }), policyPair(c.selector), platform));
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
