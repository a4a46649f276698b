/**
 * The embedded backend: commands become the PF_KEY messages setkey sends
 * (the same encoder as the pfkey backend), and the engine answers them as a
 * Linux kernel would. A run is one engine session, so with `atomic` a file
 * applies whole or not at all.
 */
import type { Command } from '../model/command.js';
import { MsgType } from '../pfkey/constants.js';
import { readHeader } from '../pfkey/decode.js';
import { serialize } from '../pfkey/serialize.js';
import { header } from '../pfkey/types.js';
import { Engine, type EngineOptions } from '../engine/engine.js';
import { StoreError } from '../engine/store.js';
import { benign, chunksOf, endsRun, NO_DEFERS, type Backend, type Capabilities, type LoadCheck, type LoadOptions, type Observed, type Outcome, type RunOptions } from './backend.js';
import { QuickCheck } from '../syntax/quick.js';
import { loadText, NotBulk, Statements } from '../ingest/bulk.js';
import { runPfkeyCommand, type Exchanger } from './pfkey-run.js';

export const EMBEDDED_CAPABILITIES: Capabilities = { aead: false, esn: false, replayMax: 32, atomicBatches: true };

export { benign };

export class EmbeddedBackend implements Backend {
  readonly name = 'embedded' as const;
  readonly capabilities = EMBEDDED_CAPABILITIES;

  private constructor(
    readonly engine: Engine,
    private readonly absent?: string,
  ) {}

  /**
   * The engine on the store in `dir`. With `readOnly` (a dump, a flush) a
   * store that does not exist is not created: it reads as empty tables.
   */
  static async open(dir: string, opts: EngineOptions & { readOnly?: boolean } = {}): Promise<EmbeddedBackend> {
    const { readOnly, ...eo } = opts;
    if (!readOnly) return new EmbeddedBackend(await Engine.open(dir, eo));
    try {
      return new EmbeddedBackend(await Engine.open(dir, { ...eo, create: false }));
    } catch (e) {
      if (!(e instanceof StoreError) || e.code !== 'missing') throw e;
      return new EmbeddedBackend(Engine.memory(eo), dir);
    }
  }

  /** Empty tables in memory, with the engine's (Linux af_key) semantics: nothing is stored. */
  static memory(opts: Pick<EngineOptions, 'clock' | 'random'> = {}): EmbeddedBackend {
    return new EmbeddedBackend(Engine.memory(opts));
  }

  /** The store does not exist (yet): the engine reads empty tables in memory. */
  get missing(): boolean {
    return this.absent !== undefined;
  }

  get where(): string {
    if (this.absent !== undefined) return `the embedded engine's store at ${this.absent}, which does not exist yet (read as empty)`;
    return `the embedded engine's store at ${this.engine.dir}`;
  }

  async run(cmds: readonly Command[] | AsyncIterable<readonly Command[]>, opts: RunOptions): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    const chunks = chunksOf(cmds);
    // dumps and gets read the store as it stands, without the writers' lock
    const readOnly = Array.isArray(cmds) && cmds.every((c: Command) => c.kind === 'dump' || c.kind === 'spddump' || c.kind === 'get');
    await this.engine.session(async (s) => {
      let streaming: ((m: Uint8Array) => void) | undefined;
      const x: Exchanger = {
        platform: 'linux',
        exchange: (msg, quiet) => {
          if (!streaming) return s.send(msg, { notifications: !quiet });
          const r = s.send(msg, { notifications: !quiet, onReply: streaming });
          // a refusal (an empty dump's ENOENT) goes the same way as the entries
          for (const m of r.replies) streaming(m);
          return { ...r, replies: [] };
        },
      };
      for await (const chunk of chunks) {
        for (const c of chunk) {
          const dumped = opts.onDumped;
          streaming = dumped && (c.kind === 'dump' || c.kind === 'spddump') ? (m) => dumped(m, c) : undefined;
          const o = runPfkeyCommand(x, c, opts.pid, opts.quiet ?? false);
          if (opts.onOutcome) opts.onOutcome(o, c);
          else outcomes.push(o);
          if (endsRun(c, o, opts)) {
            s.abort();
            return;
          }
        }
      }
    }, { readOnly });
    return outcomes;
  }

  async monitor(pid: number, onMessage: (m: Observed) => void, signal: AbortSignal, onLoss?: () => void): Promise<void> {
    const log = this.engine.monitorLog();
    const reg = await this.engine.registerMonitor();
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
        () => onLoss?.(),
      );
    } finally {
      await this.engine.unregisterMonitor(reg);
    }
  }

  async load(text: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>, opts: LoadOptions): Promise<boolean> {
    return (await this.engine.bulk((load) => loadText(text, load, opts.sys, opts))) === 'done';
  }

  async loadChecking(check: LoadCheck, opts: LoadOptions): Promise<boolean> {
    let checked = false;
    const outcome = await this.engine.bulk(async (load) => {
      checked = true;
      // (policies handed over unchecked are checked as they are read: Statements)
      const statements = new Statements(load, 'checked', opts.rfcMode, QuickCheck.for(opts.sys));
      let given: unknown;
      const keep = await check((src, start, semi, unchecked) => {
        if (given !== undefined) return;
        try {
          statements.take(src, start, semi, unchecked);
          opts.onStatements?.(1);
        } catch (e) {
          // a statement the load does not take, or the store failing (a full disk): the check reads on, the load
          // is given up; the store's failure is reported once the check is done (thrown into the check, it would be the file's)
          given = e;
        }
      }, (src, bytes) => statements.text(src, bytes), () => (given === undefined ? statements.paced() : undefined), statements.defers);
      if (given !== undefined) throw given;
      if (!keep) throw new NotBulk('the check did not keep it');
    }, opts.offloadSas ? { offloadSas: opts.offloadSas } : {});
    // the engine does not load at all (a monitor listens: it reads each request): the file is checked all the same
    if (!checked) await check(() => undefined, () => undefined, () => undefined, NO_DEFERS);
    return outcome === 'done';
  }

  async close(): Promise<void> {
    this.engine.close();
  }
}
