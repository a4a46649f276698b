/**
 * A state printed as `setkey -D` and `-DP` would print it, as JSON, or as a
 * re-readable script: the state is installed on the engine in memory (kernel
 * mode: forward copies are entries of their own) and dumped, so every
 * printer serves it exactly as it serves a backend.
 */
import { EmbeddedBackend } from '../backends/embedded.js';
import { NO_POS, type Command } from '../model/command.js';
import { cachedStrTime, localZone } from '../format/ctime.js';
import type { DumpOptions } from '../format/dump-common.js';
import { dumpJson } from '../format/json.js';
import { postproc } from '../format/postproc.js';
import { stateScript } from '../format/state-script.js';
import { dumpView, type DumpView } from '../pfkey/dump-view.js';
import { typedPolicy, type SyncState } from './state.js';

export interface StatePrintOptions {
  /** seconds since the epoch for the dumps' times (default: now) */
  readonly now?: number;
  /** JSON: keys included */
  readonly showKeys?: boolean;
  /** getprotobynumber() for upper-layer protocol names (default: numbers) */
  readonly protoName?: (n: number) => string | undefined;
}

function commandsOf(state: SyncState): Command[] {
  const out: Command[] = [];
  // each entry made typed once (a dumped one decodes its message at each read: state.ts)
  for (const e of state.sas) {
    const sa = e.sa;
    out.push(e.larval ? { kind: 'getspi', pos: NO_POS, sa, spiRange: { min: sa.spi, max: sa.spi } } : { kind: 'add', pos: NO_POS, sa });
  }
  for (const entry of state.policies) {
    const p = typedPolicy(entry);
    out.push({ kind: 'spdadd', pos: NO_POS, selector: p.selector, policy: p.rule, ...(p.ctx ? { ctx: p.ctx } : {}) });
  }
  return out;
}

/** The dump messages of a state: the SAD's, then the SPD's. */
async function views(state: SyncState, o: StatePrintOptions): Promise<{ sad: DumpView[]; spd: DumpView[] }> {
  const now = BigInt(o.now ?? Math.floor(Date.now() / 1000)) * 1000000n;
  const b = EmbeddedBackend.memory({ clock: () => now });
  await b.run(commandsOf(state), { atomic: true, pid: 0, quiet: true });
  const [sad, spd] = await b.run(
    [
      { kind: 'dump', pos: NO_POS, satype: 0 },
      { kind: 'spddump', pos: NO_POS },
    ],
    { atomic: false, pid: 0, quiet: true },
  );
  const of = (out: typeof sad): DumpView[] => out!.exchanges.flatMap((x) => x.received.map((r) => dumpView(r)));
  return { sad: of(sad), spd: of(spd) };
}

function dumpOptions(o: StatePrintOptions): DumpOptions {
  return {
    withPorts: false,
    all: false,
    now: o.now ?? Math.floor(Date.now() / 1000),
    tz: localZone,
    time: cachedStrTime(localZone),
    ifName: () => undefined,
    protoName: o.protoName ?? (() => undefined),
    platform: 'linux',
  };
}

/** `setkey -D` then `setkey -DP` of the state (keys shown, as setkey shows them). */
export async function stateText(state: SyncState, o: StatePrintOptions = {}): Promise<string> {
  const v = await views(state, o);
  const po = { ...dumpOptions(o), short: false };
  return [...v.sad, ...v.spd].map((x) => postproc(x, po)).join('');
}

/** The state as `--format=json` prints a dump (schema setkey-json/1; keys only with showKeys). */
export async function stateJson(state: SyncState, o: StatePrintOptions = {}): Promise<string> {
  const v = await views(state, o);
  return dumpJson([...v.sad, ...v.spd].filter((x) => x.header.errno === 0), { ...dumpOptions(o), showKeys: o.showKeys ?? false });
}

/** The state as setkey statements that recreate it (`--format=script`). */
export async function stateScriptText(state: SyncState, o: StatePrintOptions = {}): Promise<string> {
  const v = await views(state, o);
  return stateScript([...v.sad, ...v.spd].filter((x) => x.header.errno === 0), { platform: 'linux', all: false });
}
