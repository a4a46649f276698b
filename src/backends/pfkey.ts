/**
 * A kernel's PF_KEY v2 socket (RFC 2367): Linux af_key, FreeBSD, NetBSD,
 * macOS. The same messages setkey sends, the same decoder and printers. What
 * the socket delivers is matched to our requests by sequence number and pid
 * (other processes' broadcasts are not ours; a DUMP's entries are numbered
 * by the kernel and end with seq 0), and the kernel's supported algorithms
 * (SADB_REGISTER) are checked before anything is sent, as setkey does.
 *
 * The kernel has no transactions: a run with `atomic` stops at the first
 * refusal, and what came before it stays.
 */
import { algorithmByName, type AlgKind, type Platform } from '../model/algorithms.js';
import type { Command } from '../model/command.js';
import { SaType } from '../model/tables.js';
import { MsgType } from '../pfkey/constants.js';
import { decodeMessage, readHeader } from '../pfkey/decode.js';
import type { PfkeySocket } from '../pfkey/pfkey-socket.js';
import { serialize } from '../pfkey/serialize.js';
import { findExt, header } from '../pfkey/types.js';
import { chunksOf, endsRun, type Backend, type Capabilities, type Observed, type Outcome, type RunOptions } from './backend.js';
import { runPfkeyCommandAsync, type Answer, type AsyncExchanger } from './pfkey-run.js';

const EINVAL = 22;
const ENOSYS = 38;
/** how long the kernel may take to answer one request before we say so */
const ANSWER_MS = 10000;

export function pfkeyPlatform(): Platform {
  return process.platform === 'freebsd' ? 'freebsd' : process.platform === 'darwin' ? 'xnu' : 'linux';
}

interface Supported {
  readonly auth: ReadonlyMap<number, { min: number; max: number }>;
  readonly enc: ReadonlyMap<number, { min: number; max: number }>;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export class PfkeyBackend implements Backend {
  readonly name = 'pfkey' as const;
  readonly capabilities: Capabilities;
  readonly where = "the kernel's PF_KEY tables";
  private seq = 0;
  private supported: Supported | undefined;

  private constructor(
    private readonly sock: PfkeySocket,
    readonly platform: Platform,
    private readonly open: () => Promise<PfkeySocket>,
  ) {
    // Linux af_key keeps replay windows of 32 at most; BSD PF_KEY carries the 8-bit field
    this.capabilities = { aead: platform !== 'linux', esn: platform === 'freebsd', replayMax: platform === 'linux' ? 32 : 255, atomicBatches: false };
  }

  static async open(platform: Platform = pfkeyPlatform()): Promise<PfkeyBackend> {
    const { openPfkey } = await import('../pfkey/pfkey-socket.js');
    const open = (): Promise<PfkeySocket> => openPfkey({ rcvbufBytes: 4 << 20 });
    return new PfkeyBackend(await open(), platform, open);
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  /** Receive until `pick` says a message is the last one we wait for; ETIMEDOUT if the kernel says nothing. */
  private async collect(pick: (h: ReturnType<typeof readHeader>) => 'skip' | 'take' | 'last'): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), ANSWER_MS);
    try {
      for (;;) {
        let m: Uint8Array;
        try {
          m = await this.sock.recv(ac.signal);
        } catch (e) {
          if (ac.signal.aborted) throw Object.assign(new Error('the kernel did not answer over PF_KEY'), { code: 'ETIMEDOUT' });
          throw e;
        }
        if (m.length < 16) continue;
        const verdict = pick(readHeader(view(m)));
        if (verdict === 'skip') continue;
        out.push(m);
        if (verdict === 'last') return out;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** One request and what the kernel sends back for it (setkey.c sendkeymsg, matched by seq and pid). */
  private async exchange(msg: Uint8Array): Promise<Answer> {
    const req = new Uint8Array(msg);
    const v = view(req);
    const seq = this.nextSeq();
    v.setUint32(8, seq, true);
    const type = req[1]!;
    const pid = v.getUint32(12, true);
    this.sock.send(req);
    const dump = type === MsgType.DUMP || type === MsgType.X_SPDDUMP;
    const replies = await this.collect((h) => {
      if (h.pid !== pid || h.type !== type) return 'skip';
      if (h.errno !== 0) return h.seq === seq || dump ? 'last' : 'skip';
      // a dump's entries carry the kernel's own numbering, the last one 0; any other answer our seq
      if (dump) return h.seq === 0 ? 'last' : 'take';
      return h.seq === seq ? 'last' : 'skip';
    });
    const last = replies[replies.length - 1]!;
    return { errno: last[2]!, replies };
  }

  /** SADB_REGISTER: the algorithms and key sizes this kernel supports (what setkey checks keys against). */
  private async loadSupported(): Promise<Supported> {
    if (this.supported) return this.supported;
    const a = await this.exchange(serialize({ header: header(MsgType.REGISTER, SaType.ESP, process.pid), exts: [] }, this.platform));
    const auth = new Map<number, { min: number; max: number }>();
    const enc = new Map<number, { min: number; max: number }>();
    for (const r of a.replies) {
      if (r[2] !== 0) continue;
      const m = decodeMessage(r, this.platform);
      for (const s of findExt(m, 'supported_auth')?.algs ?? []) auth.set(s.id, { min: s.minbits, max: s.maxbits });
      for (const s of findExt(m, 'supported_encrypt')?.algs ?? []) enc.set(s.id, { min: s.minbits, max: s.maxbits });
    }
    this.supported = { auth, enc };
    return this.supported;
  }

  /** What this PF_KEY cannot carry, refused before anything is sent (naming the way that can). */
  private refusal(c: Command, sup: Supported): { errno: number; why: string } | undefined {
    if (c.kind !== 'add' && c.kind !== 'update') return undefined;
    const sa = c.sa;
    const linux = this.platform === 'linux';
    if (linux && sa.replay > 32) return { errno: EINVAL, why: `a replay window of ${sa.replay}: Linux PF_KEY keeps at most 32; the xfrm backend (--backend=xfrm) carries up to 4096` };
    const check = (kind: AlgKind, ref: string | number | undefined, bits: number | undefined, table: ReadonlyMap<number, { min: number; max: number }>): { errno: number; why: string } | undefined => {
      if (ref === undefined || typeof ref === 'number') return undefined;
      const alg = algorithmByName(kind, ref);
      if (!alg) return undefined;
      // ENOSYS: what af_key itself answers for an algorithm it has not (AEAD ids are never looked up)
      if (linux && alg.aead) return { errno: ENOSYS, why: `${ref} is an AEAD cipher, which Linux PF_KEY cannot install; the xfrm backend (--backend=xfrm) can` };
      const id = alg.ids[this.platform];
      if (id === undefined || kind === 'comp') return undefined;
      const s = table.get(id);
      if (!s) return { errno: ENOSYS, why: `this kernel does not support ${ref} (it is not in its SADB_REGISTER list)${linux && alg.xfrm ? '; the xfrm backend may reach it' : ''}` };
      if (bits !== undefined && (bits < s.min || bits > s.max)) return { errno: EINVAL, why: `a ${bits}-bit key for ${ref}: this kernel takes ${s.min === s.max ? s.min : `${s.min} to ${s.max}`} bits` };
      return undefined;
    };
    const ipcomp = sa.satype === SaType.IPCOMP;
    return check('auth', sa.auth?.alg, sa.auth?.key?.bits, sup.auth) ?? (ipcomp ? undefined : check('enc', sa.enc?.alg, sa.enc?.key?.bits, sup.enc));
  }

  async run(cmds: readonly Command[] | AsyncIterable<readonly Command[]>, opts: RunOptions): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    const chunks = chunksOf(cmds);
    const x: AsyncExchanger = { platform: this.platform, exchange: (msg) => this.exchange(msg) };
    for await (const chunk of chunks) {
      for (const c of chunk) {
        const sup = c.kind === 'add' || c.kind === 'update' ? await this.loadSupported() : undefined;
        const o = await runPfkeyCommandAsync(x, c, opts.pid, opts.quiet ?? false, sup ? (cmd) => this.refusal(cmd, sup) : undefined);
        if (opts.onOutcome) opts.onOutcome(o, c);
        else outcomes.push(o);
        if (endsRun(c, o, opts)) return outcomes;
      }
    }
    return outcomes;
  }

  /** setkey -x: SADB_X_PROMISC on a socket of its own, then everything it reads. */
  async monitor(pid: number, onMessage: (m: Observed) => void, signal: AbortSignal): Promise<void> {
    const s = await this.open();
    try {
      s.send(serialize({ header: header(MsgType.X_PROMISC, 1, pid), exts: [] }, this.platform));
      while (!signal.aborted) {
        let m: Uint8Array;
        try {
          m = await s.recv(signal);
        } catch (e) {
          if (signal.aborted) break;
          throw e;
        }
        onMessage({ msg: m, usec: BigInt(Date.now()) * 1000n });
      }
    } finally {
      s.close();
    }
  }

  async close(): Promise<void> {
    this.sock.close();
  }
}
