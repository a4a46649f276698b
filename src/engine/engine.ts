/**
 * The embedded key engine: a Linux PF_KEY kernel's SAD and SPD in user
 * space, on the durable store. Requests and replies are PF_KEY v2 messages
 * (Linux layout), so the engine is driven and observed exactly as a kernel
 * socket would be, and every printer serves it unchanged.
 *
 * A session runs requests inside one store transaction: with `atomic`, the
 * first refused request undoes the session (a file applies all or nothing).
 */
import { lazyCrypto } from '../sys/builtin.js';
import { MsgType } from '../pfkey/constants.js';
import { Counters, E, Deliveries, KernelError, type Ctx } from './context.js';
import { errorReplyOf } from '../pfkey/reply.js';
import { runExpiry } from './expiry.js';
import { MonitorLog, type Logged, type Registration } from './monitor-log.js';
import { encodeStored, FLAG_RAW, rawPolicyKey, spiZeroKey } from './records.js';
import { parseRequest, type Request } from './request.js';
import * as sad from './sad.js';
import * as spd from './spd.js';
import { storedNextDeadline } from './deadlines.js';
import { layoutCurrent, putEntry, upgradeLayout } from './entries.js';
import { Store, Tx } from './store.js';
import { BulkConflict } from './sorted-layer.js';
import { BULK_STREAMS, BulkLoad, type BulkLoader, type SaOffloadFactory } from './bulk-load.js';
import { readHeader, splitMessages, DecodeError } from '../pfkey/decode.js';
import { serialize } from '../pfkey/serialize.js';
import { supportedMessage } from './supported.js';
import { lookupPolicy, type Flow } from './lookup.js';
import type { SadbMsg } from '../pfkey/types.js';

export interface EngineOptions {
  /** microseconds since the epoch (tests inject a clock) */
  readonly clock?: () => bigint;
  /** uniform in [0, 1): SPI allocation */
  readonly random?: () => number;
  readonly lockTimeoutMs?: number;
  /** create the store when missing (default true) */
  readonly create?: boolean;
  /** a large transaction's changes are put aside past this many bytes (store.ts; tests make it small) */
  readonly spillBytes?: number;
  /** called once when a writer has waited about a second for the store's lock */
  readonly onLockWait?: (holder: string | undefined) => void;
}

export interface Reply {
  /** sadb_msg_errno of the answer (0: done) */
  readonly errno: number;
  /** engine's reason for a refusal (never contains key material) */
  readonly why?: string;
  /** what the requesting socket reads, in order */
  readonly replies: Uint8Array[];
}

export interface SendOptions {
  /** make the broadcast notifications the requester would read (its ADD echo...); default yes */
  readonly notifications?: boolean;
  /** the answers handed on one by one as they are made (not kept in the Reply): a dump streams */
  readonly onReply?: (m: Uint8Array) => void;
}

export interface Session {
  /** one request, as a PF_KEY socket would take it */
  send(request: Uint8Array, opts?: SendOptions): Reply;
  /** undo the whole session: nothing of it is committed (only the refused request reaches monitors) */
  abort(): void;
  /** wall-clock seconds of this session */
  readonly now: bigint;
}

type Handler = (c: Ctx, r: Request) => void;

/** Where records used to be, by table (entries.ts upgrades them). */
const LAYOUT_TABLES = [
  ['S', ['s/', 'z/']],
  ['P', ['p/', 'q/']],
] as const;

const HANDLERS: ReadonlyMap<number, Handler> = new Map<number, Handler>([
  [MsgType.ADD, sad.add],
  [MsgType.UPDATE, sad.update],
  [MsgType.GET, sad.get],
  [MsgType.DELETE, sad.del],
  [MsgType.GETSPI, sad.getspi],
  [MsgType.FLUSH, sad.flush],
  [MsgType.DUMP, sad.dump],
  [MsgType.X_SPDADD, spd.spdadd],
  [MsgType.X_SPDUPDATE, spd.spdadd],
  [MsgType.X_SPDSETIDX, spd.spdadd],
  [MsgType.X_SPDDELETE, spd.spddelete],
  [MsgType.X_SPDGET, spd.spdget],
  [MsgType.X_SPDDELETE2, spd.spddelete2],
  [MsgType.X_SPDFLUSH, spd.spdflush],
  [MsgType.X_SPDDUMP, spd.spddump],
  [MsgType.X_PROMISC, promisc],
  [MsgType.REGISTER, register],
]);

/** X_PROMISC: header only, satype 0 or 1; the message comes back to all (§7). */
function promisc(c: Ctx, r: Request): void {
  if (r.header.satype > 1) throw new KernelError(E.EINVAL, `X_PROMISC with satype ${r.header.satype}`);
  c.out.all(() => serialize({ header: { ...r.header, errno: 0 }, exts: [] }));
}

/** SADB_REGISTER: the af_key algorithm table (§8), whatever the satype. */
function register(c: Ctx, r: Request): void {
  if (r.header.satype > 9) throw new KernelError(E.EINVAL, `REGISTER with satype ${r.header.satype}`);
  c.out.one(serialize(supportedMessage(r)));
}

function systemClock(): bigint {
  return BigInt(Date.now()) * 1000n;
}

/** SPI choice's randomness, in [0, 1) (crypto loaded on the first getspi, not at start-up) */
function systemRandom(): number {
  return lazyCrypto().randomInt(0x7fffffff) / 0x7fffffff;
}

export class Engine {
  /** none for an engine in memory: nobody else can be watching it */
  private readonly log: MonitorLog | undefined;
  private constructor(
    readonly store: Store,
    private readonly clock: () => bigint,
    private readonly random: () => number,
  ) {
    this.log = store.inMemory ? undefined : new MonitorLog(store.files);
  }

  /** An engine on empty tables in memory: nothing is stored, nobody else sees it. */
  static memory(opts: Pick<EngineOptions, 'clock' | 'random'> = {}): Engine {
    return new Engine(Store.memory(), opts.clock ?? systemClock, opts.random ?? systemRandom);
  }

  static async open(dir: string, opts: EngineOptions = {}): Promise<Engine> {
    const store = await Store.open(dir, {
      create: opts.create ?? true,
      ...(opts.lockTimeoutMs !== undefined ? { lockTimeoutMs: opts.lockTimeoutMs } : {}),
      ...(opts.onLockWait ? { onLockWait: opts.onLockWait } : {}),
      ...(opts.spillBytes !== undefined ? { spillBytes: opts.spillBytes } : {}),
    });
    return new Engine(store, opts.clock ?? systemClock, opts.random ?? systemRandom);
  }

  get dir(): string {
    return this.store.dir;
  }

  /**
   * Run `fn` as one session: due lifetimes first, then its requests, in one
   * transaction. What promiscuous sockets would read goes to the monitor log
   * after the commit, in commit order.
   */
  async session<T>(fn: (s: Session) => T | Promise<T>, opts: { readOnly?: boolean } = {}): Promise<T> {
    const usec = this.clock();
    const now = usec / 1000000n;
    if (opts.readOnly) {
      const r = this.readOnlySession(fn, now);
      if (r) return r;
    }
    const logged: Logged[] = [];
    let last: Logged[] = [];
    let aborted = false;
    let result: T | undefined;
    await this.store.locked(async (tx, commit) => {
      // what monitors would read is kept only while one is listening: an apply alone pays nothing for it
      const listening = this.log?.listening() ?? false;
      const out = new Deliveries(true, listening);
      const { counters } = this.begin(tx, now, out);
      if (listening) for (const m of out.monitor) logged.push({ msg: m, usec });
      const session: Session = {
        now,
        send: (request, so) => {
          if (aborted) throw new Error('send after abort');
          const r = this.handle(tx, counters, now, request, so?.notifications ?? true, listening, so?.onReply);
          if (listening) {
            last = [{ msg: request, usec }, ...r.monitor.map((msg) => ({ msg, usec }))];
            for (const l of last) logged.push(l);
          }
          return { errno: r.errno, ...(r.why ? { why: r.why } : {}), replies: r.replies };
        },
        abort: () => {
          aborted = true;
        },
      };
      result = await fn(session);
      if (!aborted) {
        counters.flush();
        commit();
      }
      const publish = aborted ? last : logged;
      if (publish.length) this.log?.append(publish);
    });
    return result as T;
  }

  /** A writer's session begun: the store in the current layout, then what is due expired, first. */
  private begin(tx: Tx, now: bigint, out: Deliveries): { ctx: Ctx; counters: Counters } {
    const counters = new Counters(tx);
    const ctx: Ctx = { tx, counters, now, out, random: this.random };
    // a store of before entries.ts's layout is brought to it, once
    upgradeLayout(tx, LAYOUT_TABLES);
    runExpiry(ctx);
    return { ctx, counters };
  }

  /**
   * A bulk load: the SAs and policies `fill` hands over, in order, applied
   * as one session that takes all of them or none. Each is stored as the
   * ADD or SPDADD its statement sends would store it, its record written
   * directly (bulk-load.ts), and the records go into the store as one sorted layer
   * (store.ts beginBulk) instead of one put each. 'declined' where the load
   * cannot say what the requests would do one by one: one would be refused
   * (the file has an error to report, at its line), two make the same SA or
   * policy, one is beyond the common case, or a monitor is listening (it
   * would read a notification for each). Then nothing of it is kept, and
   * the caller sends the requests the usual way, which reports as ever.
   */
  async bulk(fill: (load: BulkLoader) => Promise<void>, opts: { readonly offloadSas?: SaOffloadFactory } = {}): Promise<'done' | 'declined'> {
    const now = this.clock() / 1000000n;
    let outcome: 'done' | 'declined' = 'declined';
    await this.store.locked(async (tx, commit) => {
      if (this.log?.listening()) return;
      // (a monitor would have been told what expires: none is listening)
      const { ctx, counters } = this.begin(tx, now, new Deliveries(false, false));
      tx.beginBulk(BULK_STREAMS);
      const load = new BulkLoad(ctx, opts.offloadSas);
      try {
        try {
          await fill(load);
          // the worker finishes its SAs while this thread sorts what it put (the policies' identities)
          const drained = load.drain();
          tx.sortBulkAhead();
          await drained;
        } finally {
          // (SAs loaded apart: that writer stopped before its spool is closed, or removed if the load is given up)
          await load.stop();
        }
        if (tx.endBulk()) return;
      } catch (e) {
        if (e instanceof KernelError || e instanceof BulkConflict) return;
        throw e;
      }
      load.finish();
      counters.flush();
      try {
        commit();
      } catch (e) {
        // a key in two of the parts the load put aside is found as the store is written: nothing was
        if (e instanceof BulkConflict) return;
        throw e;
      }
      outcome = 'done';
    });
    return outcome;
  }

  /**
   * Requests that only read (a dump, a get), on the store as it stands,
   * without the lock: what readers of the store do anyway. Undefined when a
   * session must be a writer's after all: a lifetime is due (it changes the
   * state first), the store's layout is old, or a monitor is listening (it
   * sees every request, in commit order, under the lock).
   */
  private readOnlySession<T>(fn: (s: Session) => T | Promise<T>, now: bigint): Promise<T> | undefined {
    if (this.store.inMemory || this.store.files.list('monitors').length > 0) return undefined;
    const view = this.store.read();
    if (storedNextDeadline(view) <= now || !layoutCurrent(view)) return undefined;
    const tx = new Tx(view);
    const counters = new Counters(tx);
    const session: Session = {
      now,
      send: (request, so) => {
        const r = this.handle(tx, counters, now, request, so?.notifications ?? true, false, so?.onReply);
        return { errno: r.errno, ...(r.why ? { why: r.why } : {}), replies: r.replies };
      },
      abort: () => undefined,
    };
    return Promise.resolve(fn(session));
  }

  private handle(tx: Tx, counters: Counters, now: bigint, request: Uint8Array, notifications: boolean, monitors: boolean, sink?: (m: Uint8Array) => void): { errno: number; why?: string; replies: Uint8Array[]; monitor: Uint8Array[] } {
    const out = new Deliveries(notifications, monitors, sink);
    const ctx: Ctx = { tx, counters, now, out, random: this.random };
    if (request.length < 16) return { errno: E.EINVAL, why: 'a message shorter than its header', replies: [], monitor: [] };
    const h = readHeader(new DataView(request.buffer, request.byteOffset, request.byteLength));
    // a header af_key refuses makes send() fail: there is no reply message at all (§9)
    if (h.version !== 2 || h.len * 8 !== request.length || h.errno !== 0) return { errno: E.EINVAL, why: 'a malformed header', replies: [], monitor: [] };
    tx.checkpoint();
    try {
      const req = parseRequest(request);
      const handler = HANDLERS.get(h.type);
      if (!handler) throw new KernelError(E.EOPNOTSUPP, `message type ${h.type}`);
      handler(ctx, req);
      return { errno: 0, replies: out.requester, monitor: out.monitor };
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      // a refused request leaves nothing behind, but what Linux leaves on purpose (a failed GETSPI's larval SA)
      if (!e.keep) tx.restore();
      const err = errorReplyOf(request, e.errno);
      return { errno: e.errno, why: e.why, replies: [err], monitor: [err] };
    }
  }

  /** The next pending lifetime deadline (seconds), without taking the lock. */
  nextDeadline(): bigint {
    return storedNextDeadline(this.store.read());
  }

  /** Seconds since the epoch on the engine's clock. */
  now(): bigint {
    return this.clock() / 1000000n;
  }

  /**
   * The policy of direction `dir` (1 in, 2 out, 3 fwd) a packet would meet:
   * lowest priority value first, then the first inserted (what the kernel's
   * lookup does; dumps list policies newest first instead).
   */
  async lookup(dir: number, flow: Flow): Promise<SadbMsg | undefined> {
    // what has expired by now goes first (and reaches monitors), then a lock-free read
    await this.expire();
    const tx = new Tx(this.store.read());
    return lookupPolicy({ tx, counters: new Counters(tx), now: this.now(), out: new Deliveries(false, false), random: this.random }, dir, flow);
  }

  /** Run due lifetimes now (a monitor's timer). */
  async expire(): Promise<void> {
    await this.session(() => undefined);
  }

  /**
   * Load a file of PF_KEY messages to be served verbatim, in file order, by
   * DUMP (`sad`) or SPDDUMP (`spd`): what the reference's test kernel did, so
   * that the golden `out-sock-*` outputs can be reproduced through a socket-like
   * path. Not a way to install SAs: the messages are not interpreted.
   */
  async load(bytes: Uint8Array, table: 'sad' | 'spd'): Promise<number> {
    const spans: Uint8Array[] = [];
    for (const m of splitMessages(bytes)) {
      if (m instanceof DecodeError) throw m;
      spans.push(bytes.slice(m.offset, m.offset + m.length));
    }
    await this.store.transact((tx) => {
      const counters = new Counters(tx);
      const ctx: Ctx = { tx, counters, now: 0n, out: new Deliveries(), random: this.random };
      // dumps are newest first: the file's first message gets the highest order
      for (let i = spans.length - 1; i >= 0; i--) {
        const order = sad.nextOrder(ctx);
        putEntry(tx, table === 'sad' ? 'S' : 'P', table === 'sad' ? spiZeroKey(order) : rawPolicyKey(order), encodeStored(FLAG_RAW, order, spans[i]!));
      }
      counters.flush();
    });
    return spans.length;
  }

  /** Register as a promiscuous reader of every message exchanged on this store (under the lock). */
  async registerMonitor(): Promise<Registration & { name: string }> {
    return this.store.locked(() => this.monitorLog().register());
  }

  /** The last monitor to go takes the log with it (under the lock). */
  async unregisterMonitor(r: { name: string }): Promise<void> {
    await this.store.locked(() => this.monitorLog().unregister(r));
  }

  /** The monitor log, to tail. */
  monitorLog(): MonitorLog {
    if (!this.log) throw new Error('an engine in memory has no monitor log');
    return this.log;
  }

  close(): void {
    this.store.close();
  }
}
