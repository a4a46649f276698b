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
import { saScriptLine } from './sa-script-bytes.js';

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

/**
 * Where a script's lines wait for the end (a dump is newest first, a script
 * oldest first), each with two hashes (of a forward policy's text, of an
 * inbound policy's forward copy; NaN for none): in memory by default; the
 * CLI gives a file for a large dump, so that a million entries take no more
 * memory than a few.
 */
export interface LineStore {
  push(text: string, fwd: number, copy: number): void;
  readonly length: number;
  get(i: number): string;
  fwd(i: number): number;
  copy(i: number): number;
  /** let go of what it holds */
  close?(): void;
}

export class MemoryLines implements LineStore {
  private readonly lines: string[] = [];
  private readonly hashes: number[] = [];
  push(text: string, fwd: number, copy: number): void {
    this.lines.push(text);
    this.hashes.push(fwd, copy);
  }
  get length(): number {
    return this.lines.length;
  }
  get(i: number): string {
    return this.lines[i]!;
  }
  fwd(i: number): number {
    return this.hashes[2 * i]!;
  }
  copy(i: number): number {
    return this.hashes[2 * i + 1]!;
  }
}

/** A 53-bit hash of a line (two FNV-1a halves): what the end needs of lines, without keeping them. */
function lineHash(s: string): number {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return (a >>> 0) * 0x200000 + ((b >>> 0) & 0x1fffff);
}

/**
 * The statements for dump messages fed one at a time: each becomes its line
 * at once, kept in a LineStore with two hashes (of a forward policy's text,
 * of an inbound policy's forward copy), and the script is written at the
 * end, when it is known which inbound policies have their forward copies,
 * oldest first.
 */
export class StateScriptWriter {
  private readonly fwdTexts = new Set<number>();
  constructor(
    private readonly o: StateScriptOptions,
    private readonly lines: LineStore = new MemoryLines(),
  ) {}

  private add(text: string, fwd = NaN, copy = NaN): void {
    this.lines.push(text, fwd, copy);
  }

  /**
   * A message taken from its bytes alone when it is a common SA
   * (sa-script-bytes.ts): true; else false, and the caller pushes its view.
   */
  take(m: Uint8Array): boolean {
    if (this.o.platform !== 'linux') return false;
    const line = saScriptLine(m);
    if (line === undefined) return false;
    this.add(line);
    return true;
  }

  push(v: DumpView): void {
    const sa = v.header.errno === 0 && v.header.type === MsgType.DUMP && !this.o.all ? v.ext('sa') : undefined;
    if (sa && sa.state === SaState.DEAD) return;
    const c = entryCommand(v, this.o.platform);
    if (c === undefined) return;
    if (typeof c === 'string') return this.add(`# not recreated: ${c}`);
    try {
      const text = commandToScript(c);
      const copy = c.kind === 'spdadd' && c.policy.dir === Dir.IN ? lineHash(commandToScript(forwardCopy(c)!)) : NaN;
      const fwd = c.kind === 'spdadd' && c.policy.dir === Dir.FWD ? lineHash(text) : NaN;
      if (!Number.isNaN(fwd)) this.fwdTexts.add(fwd);
      this.add(text, fwd, copy);
    } catch (e) {
      if (!(e instanceof ScriptError)) throw e;
      this.add(`# not recreated: ${e.message}`);
    }
  }

  /** The script, a piece at a time (a large one need not be one string). */
  write(out: (s: string) => void): void {
    const n = this.lines.length;
    const copied = new Set<number>();
    let inbound = 0;
    for (let i = 0; i < n; i++) {
      const h = this.lines.copy(i);
      if (Number.isNaN(h)) continue;
      inbound++;
      if (this.fwdTexts.has(h)) copied.add(h);
    }
    // no inbound policy has its forward copy: the state was made in kernel mode (-k)
    const kernelMode = inbound > 0 && copied.size === 0;
    out('# SECRET: this file holds the keys of the SAs below; keep it private (mode 600), as the store and the kernel do\n');
    out(kernelMode ? '# setkey statements recreating this state; apply with: setkey -k -f FILE (kernel mode: no fwd copies)\n' : '# setkey statements recreating this state; apply with: setkey -f FILE (RFC mode, the default)\n');
    // a Linux dump lists the newest entry first: replaying it oldest first recreates the same
    // order (and the same kernel-generated policy ids and reqids on a fresh store)
    const linux = this.o.platform === 'linux';
    for (let j = 0; j < n; j++) {
      const i = linux ? n - 1 - j : j;
      if (!kernelMode) {
        // in RFC mode the copy of an inbound policy comes back with it
        if (copied.has(this.lines.fwd(i))) continue;
        const c = this.lines.copy(i);
        if (!Number.isNaN(c) && !this.fwdTexts.has(c)) out('# note: this inbound policy had no fwd copy; RFC mode will add one\n');
      }
      out(this.lines.get(i) + '\n');
    }
    this.lines.close?.();
  }

  end(): string {
    const parts: string[] = [];
    this.write((s) => parts.push(s));
    return parts.join('');
  }
}

/** The statements for a sequence of dump messages. */
export function stateScript(views: Iterable<DumpView>, o: StateScriptOptions): string {
  const w = new StateScriptWriter(o);
  for (const v of views) w.push(v);
  return w.end();
}
