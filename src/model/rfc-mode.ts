/**
 * Linux "RFC mode" (setkey's default; `-k` turns it off): every inbound policy
 * also installs a forward copy, because Linux checks forwarded traffic against
 * FWD policies (ipsec-tools setkeymsg_spdaddr, HAVE_POLICY_FWD). In the copy a
 * `unique` level of the first request becomes `require` with reqid 0; like
 * the reference, later requests are copied unchanged.
 */
import type { Command, PolicyCommand } from './command.js';
import type { IpsecRequest } from './policy.js';
import { Dir, Level } from './tables.js';

export function forwardCopy(c: PolicyCommand): PolicyCommand | undefined {
  if (!c.selector || c.policy.dir !== Dir.IN) return undefined;
  const requests: IpsecRequest[] = c.policy.requests.map((r, i) => (i === 0 && r.level === Level.UNIQUE ? { ...r, level: Level.REQUIRE, reqid: 0 } : r));
  return { ...c, policy: { ...c.policy, dir: Dir.FWD, requests }, fwdCopy: true };
}

/** The commands with a forward copy after each inbound spdadd/spdupdate/spddelete. */
export function withForwardCopies(cmds: readonly Command[]): Command[] {
  const out: Command[] = [];
  for (const c of cmds) {
    out.push(c);
    if (c.kind === 'spdadd' || c.kind === 'spdupdate' || c.kind === 'spddelete') {
      const f = forwardCopy(c);
      if (f) out.push(f);
    }
  }
  return out;
}
