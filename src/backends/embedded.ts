/**
 * The embedded backend: commands become the PF_KEY messages setkey sends
 * (the same encoder as the pfkey backend), and the engine answers them as a
 * Linux kernel would. A run is one engine session, so with `atomic` a file
 * applies whole or not at all.
 */
import { fullPrefix, sameAddress } from '../model/address.js';
import type { Command, DeleteAllCommand } from '../model/command.js';
import { IpProto } from '../model/tables.js';
import { MsgType } from '../pfkey/constants.js';
import { readHeader } from '../pfkey/decode.js';
import { dumpView } from '../pfkey/dump-view.js';
import { addressOf } from '../pfkey/from-wire.js';
import { serialize } from '../pfkey/serialize.js';
import { commandToWire, EncodeError, sockaddrOf } from '../pfkey/to-wire.js';
import { header, type SadbMsg } from '../pfkey/types.js';
import { Engine, type EngineOptions, type Session } from '../engine/engine.js';
import { benign, type Backend, type Capabilities, type Exchange, type Observed, type Outcome, type RunOptions } from './backend.js';

const ENOENT = 2;
const EINVAL = 22;

export const EMBEDDED_CAPABILITIES: Capabilities = { aead: false, esn: false, replayMax: 32, atomicBatches: true };

export { benign };

function exchangeOne(s: Session, msg: Uint8Array, into: Exchange[], quiet = false): { errno: number; why?: string; received: Uint8Array[] } {
  const r = s.send(msg, { notifications: !quiet });
  into.push({ sent: msg, received: r.replies });
  return { errno: r.errno, ...(r.why ? { why: r.why } : {}), received: r.replies };
}

/**
 * deleteall on Linux, as setkey does it (Linux has no DELETE without SPI):
 * dump the SA type, then DELETE each SA between the two addresses. setkey's
 * own loop stops after the first match (docs/linux-pfkey-semantics.md §4.3);
 * this one deletes them all, which is what the statement says.
 */
function deleteAll(s: Session, c: DeleteAllCommand, pid: number): Outcome {
  const exchanges: Exchange[] = [];
  const dump = exchangeOne(s, serialize({ header: header(MsgType.DUMP, c.satype, pid), exts: [] }), exchanges);
  if (dump.errno === ENOENT) return { errno: 0, exchanges };
  if (dump.errno) return { errno: dump.errno, ...(dump.why ? { why: dump.why } : {}), exchanges };
  const spis: number[] = [];
  for (const m of dump.received) {
    const v = dumpView(m, 'linux');
    const sa = v.ext('sa');
    const src = v.ext('address_src');
    const dst = v.ext('address_dst');
    if (v.header.satype !== c.satype || !sa || !src || !dst) continue;
    if (sameAddress(addressOf(src.sa), c.src) && sameAddress(addressOf(dst.sa), c.dst)) spis.push(sa.spi);
  }
  const plen = fullPrefix(c.src.family);
  for (const spi of spis) {
    const del: SadbMsg = {
      header: header(MsgType.DELETE, c.satype, pid),
      exts: [
        { kind: 'sa', spi, replay: 0, state: 0, auth: 0, encrypt: 0, flags: c.flags },
        { kind: 'address_src', proto: IpProto.ANY, prefixlen: plen, reserved: 0, sa: sockaddrOf(c.src, 0, 'linux') },
        { kind: 'address_dst', proto: IpProto.ANY, prefixlen: plen, reserved: 0, sa: sockaddrOf(c.dst, 0, 'linux') },
      ],
    };
    const r = exchangeOne(s, serialize(del), exchanges);
    if (r.errno) return { errno: r.errno, ...(r.why ? { why: r.why } : {}), exchanges };
  }
  return { errno: 0, exchanges };
}

function runOne(s: Session, c: Command, pid: number, quiet: boolean): Outcome {
  if (c.kind === 'deleteall') return deleteAll(s, c, pid);
  let msgs: SadbMsg[];
  try {
    msgs = commandToWire(c, { platform: 'linux', pid }).messages;
  } catch (e) {
    if (e instanceof EncodeError) return { errno: EINVAL, why: e.message, exchanges: [] };
    throw e;
  }
  const exchanges: Exchange[] = [];
  for (const m of msgs) {
    const r = exchangeOne(s, serialize(m), exchanges, quiet);
    if (r.errno) return { errno: r.errno, ...(r.why ? { why: r.why } : {}), exchanges };
  }
  return { errno: 0, exchanges };
}

export class EmbeddedBackend implements Backend {
  readonly name = 'embedded' as const;
  readonly capabilities = EMBEDDED_CAPABILITIES;

  private constructor(readonly engine: Engine) {}

  static async open(dir: string, opts: EngineOptions = {}): Promise<EmbeddedBackend> {
    return new EmbeddedBackend(await Engine.open(dir, opts));
  }

  get where(): string {
    return `the embedded engine's store at ${this.engine.dir}`;
  }

  async run(cmds: readonly Command[] | AsyncIterable<readonly Command[]>, opts: RunOptions): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    const chunks: AsyncIterable<readonly Command[]> | Iterable<readonly Command[]> = Array.isArray(cmds) ? [cmds as readonly Command[]] : (cmds as AsyncIterable<readonly Command[]>);
    await this.engine.session(async (s) => {
      for await (const chunk of chunks) {
        for (const c of chunk) {
          const o = runOne(s, c, opts.pid, opts.quiet ?? false);
          if (opts.onOutcome) opts.onOutcome(o, c);
          else outcomes.push(o);
          if (opts.atomic && o.errno !== 0 && !benign(c, o.errno)) {
            s.abort();
            return;
          }
        }
      }
    });
    return outcomes;
  }

  async monitor(pid: number, onMessage: (m: Observed) => void, signal: AbortSignal): Promise<void> {
    const log = this.engine.monitorLog();
    const reg = log.register();
    try {
      // setkey -x sends X_PROMISC with satype 1; its echo comes back to all
      const req = serialize({ header: { ...header(MsgType.X_PROMISC, 1, pid) }, exts: [] });
      await this.engine.session((s) => s.send(req));
      // the log has our request's copy first (a socket is not promiscuous before its X_PROMISC is processed)
      let ownRequest = true;
      await log.tail(
        reg.offset,
        (r) => {
          if (ownRequest && r.msg.length === 16) {
            const h = readHeader(new DataView(r.msg.buffer, r.msg.byteOffset, 16));
            if (h.type === MsgType.X_PROMISC && h.pid === pid) {
              ownRequest = false;
              return;
            }
          }
          onMessage(r);
        },
        signal,
        async () => {
          if (this.engine.nextDeadline() <= this.engine.now()) await this.engine.expire();
        },
      );
    } finally {
      reg.unregister();
    }
  }

  async close(): Promise<void> {}
}
