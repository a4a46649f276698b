/**
 * Running commands as PF_KEY exchanges, for every backend that speaks PF_KEY
 * (the embedded engine and a kernel's PF_KEY socket): a command becomes the
 * messages setkey sends, each is exchanged, and the outcome is the first
 * refusal or success.
 */
import type { Platform } from '../model/algorithms.js';
import { fullPrefix, sameAddress } from '../model/address.js';
import type { Command, DeleteAllCommand } from '../model/command.js';
import { IpProto } from '../model/tables.js';
import { MsgType } from '../pfkey/constants.js';
import { dumpView } from '../pfkey/dump-view.js';
import { addressOf } from '../pfkey/from-wire.js';
import { serialize } from '../pfkey/serialize.js';
import { commandToWire, EncodeError, sockaddrOf } from '../pfkey/to-wire.js';
import { header, type SadbMsg } from '../pfkey/types.js';
import type { Exchange, Outcome } from './backend.js';

const ENOENT = 2;
const EINVAL = 22;

export interface Answer {
  readonly errno: number;
  readonly why?: string;
  /** what the requesting socket read for this request */
  readonly replies: Uint8Array[];
}

/** One request, one answer: an engine session (synchronous) or a kernel socket. */
export interface Exchanger {
  readonly platform: Platform;
  /** `quiet`: the caller reads only answers, not the request's notifications */
  exchange(msg: Uint8Array, quiet: boolean): Answer;
}

export interface AsyncExchanger {
  readonly platform: Platform;
  exchange(msg: Uint8Array, quiet: boolean): Promise<Answer>;
}

/** A request to make, and (by the driver) the answer it got. */
interface Ask {
  readonly msg: Uint8Array;
  readonly quiet: boolean;
}

type Steps = Generator<Ask, Outcome, Answer>;

function refused(r: Answer, exchanges: Exchange[]): Outcome {
  return { errno: r.errno, ...(r.why ? { why: r.why } : {}), exchanges };
}

/**
 * deleteall on Linux, as setkey does it (Linux has no DELETE without SPI):
 * dump the SA type, then DELETE each SA between the two addresses. setkey's
 * own loop stops after the first match (docs/linux-pfkey-semantics.md §4.3);
 * this one deletes them all, which is what the statement says.
 */
function* deleteAllLinux(c: DeleteAllCommand, pid: number): Steps {
  const exchanges: Exchange[] = [];
  const req = serialize({ header: header(MsgType.DUMP, c.satype, pid), exts: [] });
  const dump = yield { msg: req, quiet: false };
  exchanges.push({ sent: req, received: dump.replies });
  if (dump.errno === ENOENT) return { errno: 0, exchanges };
  if (dump.errno) return refused(dump, exchanges);
  const spis: number[] = [];
  for (const m of dump.replies) {
    const v = dumpView(m, 'linux');
    const sa = v.ext('sa');
    const src = v.ext('address_src');
    const dst = v.ext('address_dst');
    if (v.header.satype !== c.satype || !sa || !src || !dst) continue;
    if (sameAddress(addressOf(src.sa), c.src) && sameAddress(addressOf(dst.sa), c.dst)) spis.push(sa.spi);
  }
  const plen = fullPrefix(c.src.family);
  for (const spi of spis) {
    const del = serialize({
      header: header(MsgType.DELETE, c.satype, pid),
      exts: [
        { kind: 'sa', spi, replay: 0, state: 0, auth: 0, encrypt: 0, flags: c.flags },
        { kind: 'address_src', proto: IpProto.ANY, prefixlen: plen, reserved: 0, sa: sockaddrOf(c.src, 0, 'linux') },
        { kind: 'address_dst', proto: IpProto.ANY, prefixlen: plen, reserved: 0, sa: sockaddrOf(c.dst, 0, 'linux') },
      ],
    });
    const r = yield { msg: del, quiet: false };
    exchanges.push({ sent: del, received: r.replies });
    // one that went away meanwhile is what we wanted anyway
    if (r.errno && r.errno !== 3) return refused(r, exchanges);
  }
  return { errno: 0, exchanges };
}

/** A refusal made before anything is sent: the errno a kernel would give, and why. */
export type Refuse = (c: Command) => { readonly errno: number; readonly why: string } | undefined;

function* commandSteps(platform: Platform, c: Command, pid: number, quiet: boolean, refuse?: Refuse): Steps {
  const early = refuse?.(c);
  if (early) return { errno: early.errno, why: early.why, exchanges: [] };
  if (c.kind === 'deleteall' && platform === 'linux') return yield* deleteAllLinux(c, pid);
  let msgs: SadbMsg[];
  try {
    msgs = commandToWire(c, { platform, pid }).messages;
  } catch (e) {
    if (e instanceof EncodeError) return { errno: EINVAL, why: e.message, exchanges: [] };
    throw e;
  }
  const exchanges: Exchange[] = [];
  for (const m of msgs) {
    const msg = serialize(m, platform);
    const r = yield { msg, quiet };
    exchanges.push({ sent: msg, received: r.replies });
    if (r.errno) return refused(r, exchanges);
  }
  return { errno: 0, exchanges };
}

/** One command over a synchronous PF_KEY exchanger (the engine: no promise per command). */
export function runPfkeyCommand(x: Exchanger, c: Command, pid: number, quiet: boolean, refuse?: Refuse): Outcome {
  const g = commandSteps(x.platform, c, pid, quiet, refuse);
  let step = g.next();
  while (!step.done) step = g.next(x.exchange(step.value.msg, step.value.quiet));
  return step.value;
}

/** One command over a kernel's PF_KEY socket. `refuse` may stop it before anything is sent. */
export async function runPfkeyCommandAsync(x: AsyncExchanger, c: Command, pid: number, quiet: boolean, refuse?: Refuse): Promise<Outcome> {
  const g = commandSteps(x.platform, c, pid, quiet, refuse);
  let step = g.next();
  while (!step.done) step = g.next(await x.exchange(step.value.msg, step.value.quiet));
  return step.value;
}
