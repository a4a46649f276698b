/**
 * The plan that takes the tables from one state to another without the
 * window `flush; spdflush;` opens: what "the same" means, what differs, and
 * the order that never leaves a kept policy out of the kernel.
 *
 * The same entry: an SA is (destination, protocol, SPI), as the kernel finds
 * it; a policy is (direction, selector, security context), as the kernel
 * finds it (priority is not part of it: it is a compared field, as are the
 * action and the templates). Runtime fields never count: counters, the
 * current lifetime, dying (soft-expired), policy ids, and the reqids the
 * kernel chose itself for `unique` (0x4000 and up, af_key's gen_reqid).
 * Both states come from dumps through the same decoding, so what a backend
 * cannot read back (the KAME flags Linux drops, ports of SA addresses) is
 * missing from both and never shows as a difference.
 *
 * The order (issue 11): new SAs; SAs that differ (in place when only
 * lifetimes differ, or when the kernel's is larval: UPDATE; else delete then
 * add, as an SA cannot change its keys in place); policies that differ, in
 * place (SPDUPDATE: the kernel swaps them under its lock, so the policy is
 * never absent); new policies; then what is no longer declared, policies
 * before SAs, so that no kept policy ever points at nothing.
 */
import type { Command } from '../model/command.js';
import { NO_POS } from '../model/command.js';
import type { IpAddress } from '../model/address.js';
import type { IpsecRequest, PolicyRule, Selector } from '../model/policy.js';
import type { Lifetime, SaKey, SaParams, SecCtx } from '../model/sa.js';
import { IPSEC_MANUAL_REQID_MAX, Level } from '../model/tables.js';
import { compactOf, typedPolicy, type PolicyEntry, type SaEntry, type SyncState } from './state.js';
import { hex, policyIdentity, policyPair, saIdentity, saPair } from './identity.js';

export type StepKind = 'add' | 'update' | 'replace' | 'delete';

export interface Step {
  readonly kind: StepKind;
  readonly entry: 'sa' | 'policy';
  /** why: 'missing', 'not declared', or the fields that differ */
  readonly why: string;
  /** the fields that differ (update, replace) */
  readonly fields: readonly string[];
  /** the requests that carry it out, in order */
  readonly cmds: readonly Command[];
  /** the entry as the tables hold it now (update, replace, delete) */
  readonly current?: SaEntry | PolicyEntry;
  /** the entry as declared (add, update, replace) */
  readonly declared?: SaEntry | PolicyEntry;
}

export interface Plan {
  readonly steps: readonly Step[];
  /** entries that are the same on both sides */
  readonly unchanged: { readonly sas: number; readonly policies: number };
  /** entries of the current state left alone: out of scope, or not setkey's (per-socket policies...) */
  readonly untouched: { readonly sas: number; readonly policies: number };
}

export interface PlanOptions {
  /**
   * 'all' (default): the whole SAD and SPD, as `flush; spdflush;` would;
   * 'declared': only entries whose (source, destination) pair occurs in the
   * declaration, so that SAs an IKE daemon installed for other peers stay.
   */
  readonly scope?: 'all' | 'declared';
}

export { saIdentity, policyIdentity };

function sameAddr(a: IpAddress | undefined, b: IpAddress | undefined): boolean {
  if (!a || !b) return a === b;
  return a.family === b.family && hex(a.bytes) === hex(b.bytes);
}

function sameKey(a: SaKey | undefined, b: SaKey | undefined): boolean {
  if (!a || !b) return a === b;
  return a.bits === b.bits && hex(a.data) === hex(b.data);
}

function sameLifetime(a: Lifetime | undefined, b: Lifetime | undefined): boolean {
  const z = (l: Lifetime | undefined): string => (l ? `${l.allocations}/${l.bytes}/${l.addtime}/${l.usetime}` : '0/0/0/0');
  return z(a) === z(b);
}

function sameCtx(a: SecCtx | undefined, b: SecCtx | undefined): boolean {
  if (!a || !b) return a === b;
  return a.doi === b.doi && a.alg === b.alg && a.ctx === b.ctx;
}

/** The fields in which two SAs of the same identity differ (names a person reads). */
export function saDifferences(cur: SaEntry, dec: SaEntry): string[] {
  if (cur.larval && !dec.larval) return ['larval (an SPI was reserved, the SA not installed)'];
  const a = cur.sa;
  const b = dec.sa;
  const out: string[] = [];
  if (!sameAddr(a.src.addr, b.src.addr)) out.push('source');
  if (a.mode !== b.mode) out.push('mode');
  if (a.reqid >>> 0 !== b.reqid >>> 0) out.push('reqid');
  if (a.replay !== b.replay) out.push('replay window');
  if (a.flags !== b.flags) out.push('flags');
  if (a.esn !== b.esn) out.push('esn');
  const alg = (x: SaParams['enc']): string => (x ? String(x.alg) : '-');
  if (alg(a.enc) !== alg(b.enc)) out.push('encryption algorithm');
  else if (!sameKey(a.enc?.key, b.enc?.key)) out.push('encryption key');
  if (alg(a.auth) !== alg(b.auth)) out.push('authentication algorithm');
  else if (!sameKey(a.auth?.key, b.auth?.key)) out.push('authentication key');
  if (!sameLifetime(a.hard, b.hard)) out.push('hard lifetime');
  if (!sameLifetime(a.soft, b.soft)) out.push('soft lifetime');
  const nat = (n: SaParams['natt']): string => (n ? `${n.type}/${n.sport}/${n.dport}` : '-');
  if (nat(a.natt) !== nat(b.natt)) out.push('NAT-T');
  if (!sameCtx(a.ctx, b.ctx)) out.push('security context');
  return out;
}

function sameRequest(a: IpsecRequest, b: IpsecRequest): boolean {
  if (a.proto !== b.proto || a.mode !== b.mode || a.level !== b.level) return false;
  // a reqid the kernel chose for `unique` (above af_key's IPSEC_MANUAL_REQID_MAX) is its own business on both sides
  const auto = (r: IpsecRequest): boolean => r.level === Level.UNIQUE && r.reqid >>> 0 > IPSEC_MANUAL_REQID_MAX;
  if (!(auto(a) && auto(b)) && a.reqid >>> 0 !== b.reqid >>> 0) return false;
  if (!a.tunnel || !b.tunnel) return a.tunnel === b.tunnel;
  return sameAddr(a.tunnel.src.addr, b.tunnel.src.addr) && sameAddr(a.tunnel.dst.addr, b.tunnel.dst.addr) && a.tunnel.src.port === b.tunnel.src.port && a.tunnel.dst.port === b.tunnel.dst.port;
}

/** The fields in which two policies of the same identity differ. */
export function policyDifferences(cur: PolicyEntry, dec: PolicyEntry): string[] {
  const out: string[] = [];
  // each read once: a dumped entry's typed form is made again at each read (state.ts)
  const x = cur.rule;
  const y = dec.rule;
  if (x.priority >>> 0 !== y.priority >>> 0) out.push('priority');
  if (x.action !== y.action) out.push('action');
  const a = x.requests;
  const b = y.requests;
  if (a.length !== b.length || a.some((r, i) => !sameRequest(r, b[i]!))) out.push('templates');
  return out;
}

/** An entry's identity, scope pair and sameness, from what a dumped entry carries where it does (state.ts), else from its typed form. */
const saId = (e: SaEntry): string => compactOf(e)?.id ?? saIdentity(e.sa);
const policyId = (p: PolicyEntry): string => compactOf(p)?.id ?? policyIdentity(p);
const saPairOf = (e: SaEntry): string => compactOf(e)?.pair ?? saPair(e.sa);
const policyPairOf = (p: PolicyEntry): string => compactOf(p)?.pair ?? policyPair(p.selector);
/** the same message but for what never counts: the same entry, without decoding either (most of a large state) */
function sameMessage(a: SaEntry | PolicyEntry, b: SaEntry | PolicyEntry): boolean {
  const x = compactOf(a);
  const y = compactOf(b);
  return x !== undefined && y !== undefined && Buffer.compare(x.message, y.message) === 0;
}

function saCmd(kind: 'add' | 'update' | 'delete', sa: SaParams): Command {
  return { kind, pos: NO_POS, sa };
}

function policyCmd(kind: 'spdadd' | 'spdupdate' | 'spddelete', entry: PolicyEntry): Command {
  // a dumped entry made typed once for its three parts
  const p = typedPolicy(entry);
  const selector: Selector = p.selector;
  const policy: PolicyRule = p.rule;
  return { kind, pos: NO_POS, selector, policy, ...(p.ctx ? { ctx: p.ctx } : {}) };
}

/** The steps that take `current` to `declared`, in the order that keeps every kept policy in place. */
export function planSync(current: SyncState, declared: SyncState, opts: PlanOptions = {}): Plan {
  const scoped = opts.scope === 'declared';
  const saPairs = scoped ? new Set(declared.sas.map(saPairOf)) : undefined;
  const polPairs = scoped ? new Set(declared.policies.map(policyPairOf)) : undefined;
  const inScopeSa = (e: SaEntry): boolean => saPairs === undefined || saPairs.has(saPairOf(e));
  const inScopePolicy = (p: PolicyEntry): boolean => polPairs === undefined || polPairs.has(policyPairOf(p));

  const curSas = new Map(current.sas.map((e) => [saId(e), e]));
  const curPols = new Map(current.policies.map((p) => [policyId(p), p]));
  const decSaIds = new Set<string>();
  const decPolIds = new Set<string>();
  const adds: Step[] = [];
  const saChanges: Step[] = [];
  const polChanges: Step[] = [];
  const polAdds: Step[] = [];
  let sameSas = 0;
  let samePols = 0;

  for (const d of declared.sas) {
    const id = saId(d);
    decSaIds.add(id);
    const c = curSas.get(id);
    if (!c) {
      adds.push({ kind: 'add', entry: 'sa', why: 'missing', fields: [], cmds: [saCmd('add', d.sa)], declared: d });
      continue;
    }
    const fields = sameMessage(c, d) ? [] : saDifferences(c, d);
    if (fields.length === 0) {
      sameSas++;
      continue;
    }
    // UPDATE changes a mature SA's lifetimes only (af_key, xfrm_state_update), and installs over a larval one
    const inPlace = c.larval || fields.every((f) => f.endsWith('lifetime'));
    saChanges.push(
      inPlace
        ? { kind: 'update', entry: 'sa', why: `differs in ${fields.join(', ')}`, fields, cmds: [saCmd('update', d.sa)], current: c, declared: d }
        : { kind: 'replace', entry: 'sa', why: `differs in ${fields.join(', ')} (an SA cannot change these in place: deleted, then added)`, fields, cmds: [saCmd('delete', c.sa), saCmd('add', d.sa)], current: c, declared: d },
    );
  }
  for (const d of declared.policies) {
    const id = policyId(d);
    decPolIds.add(id);
    const c = curPols.get(id);
    if (!c) {
      polAdds.push({ kind: 'add', entry: 'policy', why: 'missing', fields: [], cmds: [policyCmd('spdadd', d)], declared: d });
      continue;
    }
    const fields = sameMessage(c, d) ? [] : policyDifferences(c, d);
    if (fields.length === 0) samePols++;
    else polChanges.push({ kind: 'update', entry: 'policy', why: `differs in ${fields.join(', ')}`, fields, cmds: [policyCmd('spdupdate', d)], current: c, declared: d });
  }
  const polDeletes: Step[] = [];
  const saDeletes: Step[] = [];
  let untouchedSas = 0;
  let untouchedPols = 0;
  for (const [id, c] of curPols) {
    if (decPolIds.has(id)) continue;
    if (!inScopePolicy(c)) untouchedPols++;
    else polDeletes.push({ kind: 'delete', entry: 'policy', why: 'not declared', fields: [], cmds: [policyCmd('spddelete', c)], current: c });
  }
  for (const [id, c] of curSas) {
    if (decSaIds.has(id)) continue;
    if (!inScopeSa(c)) untouchedSas++;
    else saDeletes.push({ kind: 'delete', entry: 'sa', why: 'not declared', fields: [], cmds: [saCmd('delete', c.sa)], current: c });
  }
  return {
    steps: [...adds, ...saChanges, ...polChanges, ...polAdds, ...polDeletes, ...saDeletes],
    unchanged: { sas: sameSas, policies: samePols },
    untouched: { sas: untouchedSas, policies: untouchedPols + current.skipped.length },
  };
}

/** How many requests carrying out the plan sends. */
export function planRequests(plan: Plan): number {
  let n = 0;
  for (const s of plan.steps) n += s.cmds.length;
  return n;
}
