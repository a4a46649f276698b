/**
 * `--format=script`: the SAD/SPD a dump shows, as setkey statements that
 * recreate it when applied (in RFC mode, setkey's default) to an empty store.
 * FreeBSD ships a Perl regex over the text dump for this (scriptdump.pl);
 * here it is a printer over the decoded messages.
 *
 * - mature/dying SAs become `add`, larval ones `getspi` with their SPI;
 * - dead SAs are left out unless -a (they would come back alive);
 * - the forward copy of an inbound policy is left out, since applying the
 *   inbound `spdadd` in RFC mode creates it again;
 * - what the language cannot state (per-socket policies, foreign flags,
 *   allocation limits) becomes a `#` comment saying so.
 */
import type { Platform } from '../model/algorithms.js';
import type { Command, PolicyCommand, SourcePos } from '../model/command.js';
import { forwardCopy } from '../model/rfc-mode.js';
import { Dir, SaState, SaType } from '../model/tables.js';
import { MsgType } from '../pfkey/constants.js';
import { DecodeError, decodeMessage } from '../pfkey/decode.js';
import type { DumpView } from '../pfkey/dump-view.js';
import { ruleOf, saOf, secCtxOf, selectorOf, WireModelError } from '../pfkey/from-wire.js';
import { findExt } from '../pfkey/types.js';
import { commandToScript, ScriptError } from './script.js';

const POS: SourcePos = { file: '<dump>', line: 0, col: 0, endLine: 0 };

export interface StateScriptOptions {
  readonly platform: Platform;
  /** -a: dead SAs too */
  readonly all: boolean;
}

/** The command that recreates the entry a dump message shows, or a reason it cannot. */
export function entryCommand(v: DumpView, platform: Platform): Command | string | undefined {
  const h = v.header;
  if (h.errno !== 0) return undefined;
  const isSa = h.type === MsgType.DUMP || h.type === MsgType.GET;
  const isSp = h.type === MsgType.X_SPDDUMP || h.type === MsgType.X_SPDGET;
  if (!isSa && !isSp) return undefined;
  try {
    const m = decodeMessage(v.ix.bytes, platform);
    if (isSa) {
      const sa = saOf(m, platform);
      if (![SaType.ESP, SaType.AH, SaType.IPCOMP, SaType.TCP].includes(sa.satype as 2)) return `SA type ${sa.satype} has no setkey protocol`;
      const st = findExt(m, 'sa')!.state;
      const lifetimes = [sa.hard, sa.soft].filter((l) => l && (l.allocations || l.usetime));
      if (lifetimes.length) return 'allocation and use-time limits have no setkey option';
      const clean = { ...sa, ...(sa.hard && !sa.hard.addtime && !sa.hard.bytes ? { hard: undefined } : {}), ...(sa.soft && !sa.soft.addtime && !sa.soft.bytes ? { soft: undefined } : {}) };
      if (st === SaState.LARVAL) return { kind: 'getspi', pos: POS, sa: { ...clean, enc: undefined, auth: undefined }, spiRange: { min: sa.spi, max: sa.spi } } as Command;
      if (!clean.enc && !clean.auth) return `SA 0x${(sa.spi >>> 0).toString(16)} has no algorithms, which add needs`;
      return { kind: 'add', pos: POS, sa: clean };
    }
    const p = findExt(m, 'policy');
    if (!p) return 'no policy extension';
    const selector = selectorOf(m);
    if (!selector || p.id % 8 >= 3) return 'a per-socket policy (set by an application, not by setkey)';
    const ctx = secCtxOf(findExt(m, 'sec_ctx'));
    return { kind: 'spdadd', pos: POS, selector, policy: ruleOf(p), ...(ctx ? { ctx } : {}) };
  } catch (e) {
    if (e instanceof DecodeError || e instanceof WireModelError) return e.message;
    throw e;
  }
}

function samePolicy(a: PolicyCommand, b: PolicyCommand): boolean {
  return commandToScriptSafe(a) === commandToScriptSafe(b);
}

function commandToScriptSafe(c: Command): string {
  try {
    return commandToScript(c);
  } catch {
    return '';
  }
}

/** The statements for a sequence of dump messages. */
export function stateScript(views: Iterable<DumpView>, o: StateScriptOptions): string {
  const lines = ['# setkey statements recreating this state; apply with: setkey -f FILE (RFC mode, the default)'];
  const inbound: PolicyCommand[] = [];
  const entries: (Command | string)[] = [];
  for (const v of views) {
    const sa = v.header.errno === 0 && v.header.type === MsgType.DUMP && !o.all ? v.ext('sa') : undefined;
    if (sa && sa.state === SaState.DEAD) continue;
    const c = entryCommand(v, o.platform);
    if (c === undefined) continue;
    entries.push(c);
    if (typeof c !== 'string' && c.kind === 'spdadd' && c.policy.dir === Dir.IN) inbound.push(c);
  }
  const policies = entries.filter((c): c is PolicyCommand => typeof c !== 'string' && c.kind === 'spdadd');
  const isCopyOf = (f: PolicyCommand, i: PolicyCommand): boolean => f.policy.dir === Dir.FWD && samePolicy(forwardCopy(i)!, f);
  const uncopied = inbound.filter((i) => !policies.some((f) => isCopyOf(f, i)));
  if (uncopied.length > 0 && uncopied.length === inbound.length) {
    // no inbound policy has its forward copy: the state was made in kernel mode
    lines[0] = '# setkey statements recreating this state; apply with: setkey -k -f FILE (kernel mode: no fwd copies)';
  }
  const rfc = uncopied.length < inbound.length || inbound.length === 0;
  for (const c of entries) {
    if (typeof c === 'string') {
      lines.push(`# not recreated: ${c}`);
      continue;
    }
    // in RFC mode the copy of an inbound policy comes back with it
    if (rfc && c.kind === 'spdadd' && inbound.some((i) => isCopyOf(c, i))) continue;
    if (rfc && c.kind === 'spdadd' && uncopied.includes(c)) lines.push('# note: this inbound policy had no fwd copy; RFC mode will add one');
    try {
      lines.push(commandToScript(c));
    } catch (e) {
      if (!(e instanceof ScriptError)) throw e;
      lines.push(`# not recreated: ${e.message}`);
    }
  }
  return lines.join('\n') + '\n';
}
