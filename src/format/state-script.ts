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
import type { Command, SourcePos } from '../model/command.js';
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

interface Line {
  /** the statement, or a comment */
  text: string;
  /** for inbound policies: the statement of their RFC-mode forward copy */
  copy?: string;
  fwd?: boolean;
}

/**
 * The statements for dump messages fed one at a time: each becomes its line
 * at once (only text is kept), and the script is made at the end, when it is
 * known which inbound policies have their forward copies and the order can
 * be turned to oldest first.
 */
export class StateScriptWriter {
  private readonly lines: Line[] = [];
  private readonly fwdTexts = new Set<string>();
  constructor(private readonly o: StateScriptOptions) {}

  push(v: DumpView): void {
    const sa = v.header.errno === 0 && v.header.type === MsgType.DUMP && !this.o.all ? v.ext('sa') : undefined;
    if (sa && sa.state === SaState.DEAD) return;
    const c = entryCommand(v, this.o.platform);
    if (c === undefined) return;
    if (typeof c === 'string') {
      this.lines.push({ text: `# not recreated: ${c}` });
      return;
    }
    try {
      const line: Line = { text: commandToScript(c) };
      if (c.kind === 'spdadd' && c.policy.dir === Dir.IN) line.copy = commandToScript(forwardCopy(c)!);
      if (c.kind === 'spdadd' && c.policy.dir === Dir.FWD) {
        line.fwd = true;
        this.fwdTexts.add(line.text);
      }
      this.lines.push(line);
    } catch (e) {
      if (!(e instanceof ScriptError)) throw e;
      this.lines.push({ text: `# not recreated: ${e.message}` });
    }
  }

  end(): string {
    const { lines, fwdTexts } = this;
    const inbound = lines.filter((l) => l.copy !== undefined);
    const copied = new Set(inbound.filter((l) => fwdTexts.has(l.copy!)).map((l) => l.copy!));
    // no inbound policy has its forward copy: the state was made in kernel mode (-k)
    const kernelMode = inbound.length > 0 && copied.size === 0;
    const out = [
      '# SECRET: this file holds the keys of the SAs below; keep it private (mode 600), as the store and the kernel do',
      kernelMode
        ? '# setkey statements recreating this state; apply with: setkey -k -f FILE (kernel mode: no fwd copies)'
        : '# setkey statements recreating this state; apply with: setkey -f FILE (RFC mode, the default)',
    ];
    // a Linux dump lists the newest entry first: replaying it oldest first recreates the same
    // order (and the same kernel-generated policy ids and reqids on a fresh store)
    if (this.o.platform === 'linux') lines.reverse();
    for (const l of lines) {
      if (!kernelMode) {
        // in RFC mode the copy of an inbound policy comes back with it
        if (l.fwd && copied.has(l.text)) continue;
        if (l.copy !== undefined && !fwdTexts.has(l.copy)) out.push('# note: this inbound policy had no fwd copy; RFC mode will add one');
      }
      out.push(l.text);
    }
    return out.join('\n') + '\n';
  }
}

/** The statements for a sequence of dump messages. */
export function stateScript(views: Iterable<DumpView>, o: StateScriptOptions): string {
  const w = new StateScriptWriter(o);
  for (const v of views) w.push(v);
  return w.end();
}
