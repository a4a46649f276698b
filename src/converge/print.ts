/**
 * A plan as a person reads it (`--diff`): re-readable setkey statements,
 * each preceded by a comment saying what it is and why; and as data
 * (`--format=json`, schema setkey-plan/1). Keys are shown only when asked
 * (--show-keys); otherwise each is a placeholder no parser takes for a key,
 * so a plan printed without them cannot be applied by mistake.
 */
import { formatIp } from '../model/address.js';
import { dirTable, IpProto, nameOf, saProtoTable } from '../model/tables.js';
import { commandToScript, ScriptError } from '../format/script.js';
import { stringifyJson, type Json } from '../format/json.js';
import type { Plan, Step } from './plan.js';
import type { PolicyEntry, SaEntry } from './state.js';

export interface PlanPrintOptions {
  readonly showKeys?: boolean;
  /** what the plan reaches (a file name), for the header */
  readonly target?: string;
}

/** Upper-layer protocol words for entry names, from the one table of protocol numbers. */
const UPPER: ReadonlyMap<number, string> = new Map(Object.entries(IpProto).map(([k, v]) => [v, k.toLowerCase()]));

function isSa(e: SaEntry | PolicyEntry): e is SaEntry {
  return 'sa' in e;
}

/** A short name for an entry: `SA esp 0x1000 10.0.0.1 > 10.0.0.2`, `policy out 10.1.0.0/16 > 10.2.0.0/16 any`. */
export function entryName(e: SaEntry | PolicyEntry): string {
  // each part read once: a dumped entry makes its typed form at each read (state.ts)
  if (isSa(e)) {
    const sa = e.sa;
    const proto = nameOf(saProtoTable, sa.satype) ?? `satype ${sa.satype}`;
    return `SA ${proto} 0x${(sa.spi >>> 0).toString(16)} ${formatIp(sa.src.addr)} > ${formatIp(sa.dst.addr)}`;
  }
  const s = e.selector;
  const dir = e.rule.dir;
  const upper = UPPER.get(s.proto) ?? String(s.proto);
  // ICMP type and code, and GRE key halves, ride in the ports
  const typed = s.proto === IpProto.ICMP || s.proto === IpProto.ICMPV6 || s.proto === IpProto.MH || s.proto === IpProto.GRE;
  const port = (p: number): string => (p && !typed ? `[${p}]` : '');
  const misc = typed && (s.sport || s.dport) ? ` ${s.sport},${s.dport}` : '';
  return `policy ${nameOf(dirTable, dir) ?? dir} ${formatIp(s.src)}/${s.sprefix}${port(s.sport)} > ${formatIp(s.dst)}/${s.dprefix}${port(s.dport)} ${upper}${misc}`;
}

function statements(step: Step, showKeys: boolean): string[] {
  return step.cmds.map((c) => {
    try {
      return commandToScript(c, { hideKeys: !showKeys });
    } catch (e) {
      if (!(e instanceof ScriptError)) throw e;
      return `# (no setkey statement can say this: ${e.message})`;
    }
  });
}

function counts(plan: Plan): string {
  const n = (k: Step['kind']): number => plan.steps.filter((s) => s.kind === k).length;
  const parts = [
    [n('add'), 'to add'],
    [n('update'), 'to update in place'],
    [n('replace'), 'to replace'],
    [n('delete'), 'to delete'],
  ]
    .filter(([k]) => k)
    .map(([k, w]) => `${k} ${w}`);
  return parts.join(', ');
}

/** The plan as setkey statements with a comment before each. */
export function planText(plan: Plan, o: PlanPrintOptions = {}): string {
  const target = o.target ? ` to reach ${o.target}` : '';
  const same = `${plan.unchanged.sas} SA${plan.unchanged.sas === 1 ? '' : 's'} and ${plan.unchanged.policies} polic${plan.unchanged.policies === 1 ? 'y' : 'ies'} already as declared`;
  const untouched = plan.untouched.sas || plan.untouched.policies ? `; ${plan.untouched.sas} SAs and ${plan.untouched.policies} policies out of scope, left alone` : '';
  if (plan.steps.length === 0) return `# no difference${target}: ${same}${untouched}\n`;
  const out = [
    `# ${plan.steps.length} change${plan.steps.length === 1 ? '' : 's'}${target} (${counts(plan)}); ${same}${untouched}`,
    '# in this order no policy that stays is ever missing; apply with: setkey -k -f FILE (policies are listed as the kernel holds them, fwd copies included)',
  ];
  if (!o.showKeys) out.push('# keys are hidden (--show-keys shows them)');
  else out.push('# SECRET: this plan holds keys; keep it private (mode 600)');
  for (const s of plan.steps) {
    const e = (s.current ?? s.declared)!;
    out.push(`# ${entryName(e)}: ${s.why}`);
    out.push(...statements(s, o.showKeys ?? false));
  }
  return out.join('\n') + '\n';
}

/** The plan as data. */
export function planJson(plan: Plan, o: PlanPrintOptions = {}): string {
  const doc: Json = {
    schema: 'setkey-plan/1',
    target: o.target ?? null,
    keysShown: o.showKeys ?? false,
    changes: plan.steps.length,
    unchanged: { sas: plan.unchanged.sas, policies: plan.unchanged.policies },
    untouched: { sas: plan.untouched.sas, policies: plan.untouched.policies },
    steps: plan.steps.map((s) => ({
      kind: s.kind,
      entry: s.entry,
      name: entryName((s.current ?? s.declared)!),
      why: s.why,
      fields: [...s.fields],
      statements: statements(s, o.showKeys ?? false),
    })),
  };
  return stringifyJson(doc) + '\n';
}
