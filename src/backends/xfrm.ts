/**
 * The Linux kernel over NETLINK_XFRM: the way to reach the SAD and SPD of a
 * kernel without PF_KEY, and the only way to AEAD ciphers, ESN and replay
 * windows above 32. Each command becomes the XFRM request(s) af_key would
 * have made of it; what comes back is turned into the PF_KEY messages a
 * Linux PF_KEY socket would have delivered, so that every printer serves
 * this backend byte for byte like the others.
 *
 * The kernel has no transactions: a run with `atomic` stops at the first
 * refusal, and what came before it stays (the outcome says so).
 */
import { sameAddress } from '../model/address.js';
import type { Command, DeleteAllCommand, PolicyCommand, SaRefCommand } from '../model/command.js';
import { MsgType } from '../pfkey/constants.js';
import { serialize } from '../pfkey/serialize.js';
import { dumpSeq, errorReplyOf, withHeader } from '../pfkey/reply.js';
import { commandToWire, EncodeError } from '../pfkey/to-wire.js';
import { header } from '../pfkey/types.js';
import { IPPROTO_COMP, XfrmGroup, XfrmMsg, XSize } from '../xfrm/constants.js';
import { XfrmConn, type Answer, type Transport } from '../xfrm/conn.js';
import { parseAttrs, splitDatagram, type Attr, type NlMessage } from '../xfrm/netlink.js';
import { policyToPfkey, policyToXfrm } from '../xfrm/policy.js';
import { addr16, addrOf, afOf, protoOfSatype, saToXfrm, stateToPfkey, XfrmTranslateError, xfrmMode } from '../xfrm/sa.js';
import { policyDumpBytes } from '../xfrm/policy-dump-bytes.js';
import { stateDumpBytes } from '../xfrm/state-dump-bytes.js';
import { stateFields } from '../xfrm/state-fields.js';
import { SaFields } from '../pfkey/sa-fields.js';
import { emptySelector, encodeUserpolicyId, encodeUserpolicyInfo, encodeUsersaId, encodeUsersaInfo, encodeUserspiInfo, infiniteLifetime, readUserpolicyInfo, readUsersaInfo, zeroCur } from '../xfrm/structs.js';
import { selectorToXfrm } from '../xfrm/policy.js';
import { chunksOf, endsRun, gathered, NO_DEFERS, type Backend, type Capabilities, type Exchange, type LoadCheck, type LoadOptions, type Observed, type Outcome, type RunOptions } from './backend.js';
import type { Json } from '../format/json.js';
import { eventToPfkey } from '../xfrm/events.js';
import { BulkConflict } from '../engine/sorted-layer.js';
import { loadText, Statements } from '../ingest/bulk.js';
import { MAX_LOAD_TEXT, XfrmLoad } from '../ingest/xfrm-load.js';

const ENOENT = 2;
const EINVAL = 22;
const IPSEC_PROTO_ANY = 255;

export const XFRM_CAPABILITIES: Capabilities = { aead: true, esn: true, replayMax: 4096, atomicBatches: false };

/** requests per datagram in a run of adds (the kernel acks each; ~64 KiB of requests) */
const PIPELINE = 128;
const EMPTY = new Uint8Array(0);
const XfrmaTmpl = 5;

interface XfrmRequest {
  readonly type: number;
  readonly fixed: Uint8Array;
  readonly attrs: readonly Attr[];
}

interface Prepared {
  readonly req: XfrmRequest;
  /** made only where a refusal needs it taken back (a bulk install is all but never undone) */
  readonly undo: () => XfrmRequest;
  readonly echo: () => Uint8Array[];
}

/** Commands that need only an ack and can be taken back: pipelined. */
function isBulk(c: Command): boolean {
  return c.kind === 'add' || c.kind === 'spdadd';
}

/** The PF_KEY request setkey would send for a command (for -v/-H), or its bare header where PF_KEY cannot say it. */
function pfkeyRequest(c: Command, pid: number): Uint8Array {
  try {
    const m = commandToWire(c, { platform: 'linux', pid }).messages[0];
    if (m) return serialize(m);
  } catch (e) {
    if (!(e instanceof EncodeError)) throw e;
  }
  const type = { add: MsgType.ADD, update: MsgType.UPDATE, getspi: MsgType.GETSPI } as Record<string, number>;
  return serialize({ header: header(type[c.kind] ?? MsgType.DUMP, 'sa' in c ? c.sa.satype : 0, pid), exts: [] });
}


interface Step {
  readonly errno: number;
  readonly why?: string;
  readonly received: Uint8Array[];
  readonly extras?: (Readonly<Record<string, Json>> | undefined)[];
  readonly interrupted?: boolean;
}

/** XFRM-only facts for JSON; undefined when there are none. */
function jsonExtras(x: object): Readonly<Record<string, Json>> | undefined {
  return Object.keys(x).length ? (x as Record<string, Json>) : undefined;
}

function failed(a: Answer, sent: Uint8Array): Step {
  return { errno: a.errno, ...(a.message ? { why: a.message } : {}), received: [errorReplyOf(sent, a.errno)] };
}

type Dumped = (msg: Uint8Array, extras?: Readonly<Record<string, Json>>) => void;
/** A dumped (or asked for) entry as the PF_KEY message of this type, seq and pid, with its JSON extras. */
type Translated = { msg: Uint8Array; extras: Readonly<Record<string, Json>> | undefined };
type Translate = (r: NlMessage, type: number, seq: number, pid: number) => Translated;

/** The state a GET or ALLOCSPI answered with, translated. */
function firstState(replies: readonly NlMessage[], type: number, pid: number): Translated | undefined {
  const r = replies.find((m) => m.header.type === XfrmMsg.NEWSA);
  return r && translateState(r, type, 0, pid);
}

const translateState: Translate = (r, type, seq, pid) => {
  // the common state straight to bytes; any other the long way, through the definition
  const f = stateDumpBytes(r.payload, type, seq, pid);
  if (f) return { msg: f.msg, extras: f.authTruncBits === undefined ? undefined : { authTruncBits: f.authTruncBits } };
  const t = stateToPfkey(readUsersaInfo(r.payload), parseAttrs(r.payload, XSize.usersaInfo));
  return { msg: withHeader(t.msg, { type, seq, pid }), extras: jsonExtras(t.extras) };
};
const translatePolicy: Translate = (r, type, seq, pid) => {
  const f = policyDumpBytes(r.payload, type, seq, pid);
  if (f) return { msg: f, extras: undefined };
  const p = policyToPfkey(readUserpolicyInfo(r.payload), parseAttrs(r.payload, XSize.userpolicyInfo));
  return { msg: withHeader(p.msg, { type, seq, pid }), extras: jsonExtras(p.extras) };
};

/** A dumped entry handed on as its fields, numbered `seq` (RunOptions.onDumpedSa): false if not, and its message is made. */
type Fields = (r: NlMessage, seq: number) => boolean;

/**
 * A dump's entries as PF_KEY messages, numbered as Linux numbers them
 * (dumpSeq: 1, 2, 3... and 0 for the last).
 */
function dumpStep(entries: readonly NlMessage[], pfkeyType: number, pid: number, sent: Uint8Array, translate: Translate): Step {
  const n = entries.length;
  // an empty table answers ENOENT, as PF_KEY does ("No SAD entries."): in the outcome, as the entries would be
  if (n === 0) return { errno: ENOENT, received: [errorReplyOf(sent, ENOENT)] };
  const ts = entries.map((r, i) => translate(r, pfkeyType, dumpSeq(i, n), pid));
  return { errno: 0, received: ts.map((t) => t.msg), extras: ts.map((t) => t.extras) };
}

/**
 * The same, handed on entry by entry as the kernel sends them: only the
 * entry before is held, since the last one's number is 0 and it is the last
 * only once the dump ends. A table of any size is printed in the memory of a
 * datagram (holding the kernel's replies, 60k policies took 122 MB).
 */
async function streamStep(conn: XfrmConn, type: number, keep: (m: NlMessage) => boolean, pfkeyType: number, pid: number, sent: Uint8Array, translate: Translate, onDumped: Dumped, fields?: Fields): Promise<Step> {
  let held: NlMessage | undefined;
  let seq = 0;
  const handOn = (r: NlMessage, last: boolean): void => {
    const s = last ? 0 : ++seq;
    if (fields?.(r, s)) return;
    const t = translate(r, pfkeyType, s, pid);
    onDumped(t.msg, t.extras);
  };
  const a = await conn.dumpEach(type, (m) => {
    if (!keep(m)) return;
    if (held) handOn(held, false);
    held = m;
  });
  if (a.errno) return failed({ errno: a.errno, ...(a.message !== undefined ? { message: a.message } : {}), replies: [] }, sent);
  if (!held) return { errno: ENOENT, received: [errorReplyOf(sent, ENOENT)] };
  handOn(held, true);
  return a.interrupted ? { errno: 0, received: [], interrupted: true } : { errno: 0, received: [] };
}

const NO_ATTRS: readonly Attr[] = [];

/** The DELSA or DELPOLICY that takes back a loaded NEWSA or NEWPOLICY (prepare's undo, from its payload). */
function undoLoaded(r: { readonly type: number; readonly payload: Uint8Array }): XfrmRequest {
  const p = r.payload;
  if (r.type === XfrmMsg.NEWSA) {
    // xfrm_usersa_id: daddr, spi, family, proto (from xfrm_usersa_info: id.daddr, id.spi, family, id.proto)
    const id = new Uint8Array(XSize.usersaId);
    id.set(p.subarray(56, 76), 0);
    id.set(p.subarray(212, 214), 20);
    id[22] = p[76]!;
    return { type: XfrmMsg.DELSA, fixed: id, attrs: NO_ATTRS };
  }
  // xfrm_userpolicy_id: the selector, index 0, dir
  const id = new Uint8Array(XSize.userpolicyId);
  id.set(p.subarray(0, XSize.selector), 0);
  id[60] = p[160]!;
  return { type: XfrmMsg.DELPOLICY, fixed: id, attrs: NO_ATTRS };
}

export class XfrmBackend implements Backend {
  readonly name = 'xfrm' as const;
  readonly capabilities = XFRM_CAPABILITIES;
  readonly where = "the kernel's XFRM tables";
  private readonly conn: XfrmConn;
  /** reqids that policy templates use, loaded on first need (gen_reqid's walk) */
  private usedReqids: Set<number> | undefined;
  private nextReqid = 0x3fff;
  /** a dumped state's printed fields, read into again for each (RunOptions.onDumpedSa) */
  private readonly saFields = new SaFields();

  private constructor(
    transport: Transport,
    private readonly openTransport: (groups: readonly number[]) => Promise<Transport>,
  ) {
    this.conn = new XfrmConn(transport);
  }

  /** Open the kernel's XFRM socket (needs CAP_NET_ADMIN; koffi for the socket). */
  static async open(): Promise<XfrmBackend> {
    const { openNetlink, NETLINK_XFRM } = await import('../xfrm/netlink-socket.js');
    const open = (groups: readonly number[]): Promise<Transport> => openNetlink(NETLINK_XFRM, { extAck: true, groups, rcvbufBytes: 4 << 20 });
    const b = new XfrmBackend(await open([]), open);
    // the socket opens for anyone; the kernel checks CAP_NET_ADMIN per request: ask once, cheaply
    const a = await b.conn.request(XfrmMsg.GETSADINFO, new Uint8Array(4));
    if (a.errno === 1 || a.errno === 13) {
      b.conn.close();
      throw Object.assign(new Error("the kernel's XFRM tables need CAP_NET_ADMIN"), { code: a.errno === 1 ? 'EPERM' : 'EACCES' });
    }
    return b;
  }

  /** For tests: a backend over any transport. */
  static over(t: Transport, open: (groups: readonly number[]) => Promise<Transport>): XfrmBackend {
    return new XfrmBackend(t, open);
  }

  async run(cmds: readonly Command[] | AsyncIterable<readonly Command[]>, opts: RunOptions): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    // small chunks as they come (a large file's) joined, so that a pipeline can fill
    const chunks = Array.isArray(cmds) ? chunksOf(cmds) : gathered(chunksOf(cmds), PIPELINE);
    const report = (o: Outcome, c: Command): boolean => {
      if (opts.onOutcome) opts.onOutcome(o, c);
      else outcomes.push(o);
      return endsRun(c, o, opts);
    };
    for await (const chunk of chunks) {
      for (let i = 0; i < chunk.length; ) {
        // a run of adds and spdadds goes to the kernel in one datagram per PIPELINE requests
        let j = i;
        while (j < chunk.length && j - i < PIPELINE && isBulk(chunk[j]!)) j++;
        if (j - i >= 2) {
          const done = await this.runBulk(chunk.slice(i, j), opts);
          for (let k = 0; k < done.length; k++) if (report(done[k]!, chunk[i + k]!)) return outcomes;
          i += done.length;
          continue;
        }
        const c = chunk[i++]!;
        if (report(await this.runOne(c, opts.pid, opts.onDumped, opts.onDumpedSa), c)) return outcomes;
      }
    }
    return outcomes;
  }

  /**
   * A file's text loaded at once (Backend.load): its statements read into
   * XFRM requests (ingest/xfrm-load.ts), then installed (installLoaded).
   */
  async load(text: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>, opts: LoadOptions): Promise<boolean> {
    const load = new XfrmLoad();
    try {
      await loadText(text, load, opts.sys, opts);
    } catch (e) {
      if (e instanceof BulkConflict) return false;
      throw e;
    }
    return this.installLoaded(load);
  }

  /**
   * A file loaded as its check reads it (Backend.loadChecking): each clean
   * statement written into its request as it is found, nothing sent until
   * the check has read the whole file and keeps it.
   */
  async loadChecking(check: LoadCheck, opts: LoadOptions): Promise<boolean> {
    // a file whose requests could not all be held is checked only (a load would give up at its bound, late)
    if (opts.size !== undefined && opts.size > MAX_LOAD_TEXT) {
      await check(() => undefined, () => undefined, () => undefined, NO_DEFERS);
      return false;
    }
    let load: XfrmLoad | undefined = new XfrmLoad();
    let statements: Statements | undefined = new Statements(load, 'checked', opts.rfcMode);
    let given: unknown;
    const keep = await check(
      (src, start, semi) => {
        if (statements === undefined) return;
        try {
          statements.take(src, start, semi);
          opts.onStatements?.(1);
        } catch (e) {
          // a statement this does not write: the check reads on, nothing is sent (what was held is let go)
          given = e;
          load = statements = undefined;
        }
      },
      () => undefined,
      () => undefined,
      NO_DEFERS,
    );
    if (given !== undefined && !(given instanceof BulkConflict)) throw given;
    return keep && load !== undefined && this.installLoaded(load);
  }

  /**
   * The loaded requests sent, PIPELINE to a datagram, in order. At the
   * first refusal, everything of the load the kernel did is taken back
   * (DELSA, DELPOLICY) and false returned: the file is then applied the
   * usual way, which stops at that statement and reports it as ever.
   */
  private async installLoaded(load: XfrmLoad): Promise<boolean> {
    const n = load.count;
    for (let i = 0; i < n; i += PIPELINE) {
      const reqs: XfrmRequest[] = [];
      for (let k = i; k < Math.min(n, i + PIPELINE); k++) {
        const r = load.request(k);
        reqs.push({ type: r.type, fixed: r.payload, attrs: NO_ATTRS });
      }
      const answers = await this.conn.requestMany(reqs);
      if (answers.every((a) => a.errno === 0)) continue;
      const undo: XfrmRequest[] = [];
      for (let k = 0; k < i + reqs.length; k++) if (k < i || answers[k - i]!.errno === 0) undo.push(undoLoaded(load.request(k)));
      for (let k = 0; k < undo.length; k += PIPELINE) await this.conn.requestMany(undo.slice(k, k + PIPELINE));
      return false;
    }
    return true;
  }

  /**
   * The XFRM request of an add or spdadd, what it answers when done, and how
   * to take it back. Synchronous: the caller awaits only the reqid
   * allocator, for a policy that needs one (the first walks the kernel's
   * policies); an async prepare cost every command of a bulk install a
   * promise and a turn of the microtask queue.
   */
  private prepare(c: Command, pid: number, quiet: boolean, reqid?: () => number): Prepared {
    if (c.kind === 'add') {
      const r = saToXfrm(c.sa);
      return {
        req: { type: XfrmMsg.NEWSA, fixed: encodeUsersaInfo(r.info), attrs: r.attrs },
        undo: () => ({ type: XfrmMsg.DELSA, fixed: encodeUsersaId({ daddr: r.info.id.daddr, spi: r.info.id.spi, family: r.info.family, proto: r.info.id.proto }), attrs: [] }),
        echo: () => (quiet ? [] : [withHeader(stateToPfkey(r.info, r.attrs).msg, { type: MsgType.ADD, seq: 0, pid })]),
      };
    }
    const p = c as PolicyCommand;
    const r = policyToXfrm(p, reqid ?? (() => 0));
    return {
      req: { type: XfrmMsg.NEWPOLICY, fixed: encodeUserpolicyInfo(r.info), attrs: r.attrs },
      undo: () => ({ type: XfrmMsg.DELPOLICY, fixed: encodeUserpolicyId({ sel: r.info.sel, index: 0, dir: r.info.dir }), attrs: r.attrs.filter((a) => a.type !== XfrmaTmpl) }),
      echo: () => {
        if (quiet) return [];
        const e = policyToPfkey(r.info, r.attrs).msg;
        return [serialize({ header: { ...e.header, type: MsgType.X_SPDADD, reserved: 3, pid }, exts: e.exts })];
      },
    };
  }

  /** Whether a policy's reqid is the kernel's to choose (unique level without one): the allocator walks the SPD. */
  private static needsReqid(c: Command): boolean {
    return c.kind === 'spdadd' && (c as PolicyCommand).policy.requests.some((q) => q.level === 3 && (q.reqid === 0 || q.reqid > 0x3fff));
  }

  /**
   * Adds and spdadds pipelined. The outcomes up to the first refusal; with
   * `atomic`, what the kernel did after it (the rest of that datagram) is
   * taken back, so a file still stops exactly at its first refusal.
   */
  private async runBulk(cmds: readonly Command[], opts: RunOptions): Promise<Outcome[]> {
    const quiet = opts.quiet ?? false;
    const prepared: Prepared[] = [];
    const out: Outcome[] = [];
    for (const c of cmds) {
      try {
        prepared.push(this.prepare(c, opts.pid, quiet, XfrmBackend.needsReqid(c) ? await this.reqidAllocator() : undefined));
      } catch (e) {
        if (!(e instanceof XfrmTranslateError)) throw e;
        break;
      }
    }
    const answers = prepared.length ? await this.conn.requestMany(prepared.map((p) => p.req)) : [];
    let failedAt = -1;
    for (let k = 0; k < answers.length; k++) {
      const a = answers[k]!;
      const c = cmds[k]!;
      const sent = quiet ? EMPTY : pfkeyRequest(c, opts.pid);
      if (a.errno === 0) {
        out.push({ errno: 0, exchanges: [{ sent, received: prepared[k]!.echo() }] });
        continue;
      }
      out.push({ errno: a.errno, ...(a.message ? { why: a.message } : {}), exchanges: [{ sent, received: [errorReplyOf(quiet ? pfkeyRequest(c, opts.pid) : sent, a.errno)] }] });
      failedAt = k;
      break;
    }
    if (failedAt >= 0) {
      if (opts.atomic) {
        const undo = answers.map((a, k) => (k > failedAt && a.errno === 0 ? prepared[k]!.undo() : undefined)).filter((u): u is XfrmRequest => u !== undefined);
        if (undo.length) await this.conn.requestMany(undo);
      } else {
        // without atomic, each command stands alone: report the rest as the kernel answered them
        for (let k = failedAt + 1; k < answers.length; k++) {
          const a = answers[k]!;
          const sent = pfkeyRequest(cmds[k]!, opts.pid);
          out.push(a.errno ? { errno: a.errno, ...(a.message ? { why: a.message } : {}), exchanges: [{ sent, received: [errorReplyOf(sent, a.errno)] }] } : { errno: 0, exchanges: [{ sent: quiet ? EMPTY : sent, received: prepared[k]!.echo() }] });
        }
      }
      return out;
    }
    // a command that could not be translated ends the pipeline: it is run (and refused) on its own
    if (prepared.length < cmds.length) out.push(await this.runOne(cmds[prepared.length]!, opts.pid));
    return out;
  }

  private async runOne(c: Command, pid: number, onDumped?: RunOptions['onDumped'], onDumpedSa?: RunOptions['onDumpedSa']): Promise<Outcome> {
    // what setkey would have sent, for -v and -H (and the header of an error reply)
    const sent = pfkeyRequest(c, pid);
    let step: Step;
    try {
      // a state's printed fields read straight from its payload, for a caller that takes them: no message made
      const f = this.saFields;
      const fields: Fields | undefined = onDumpedSa && ((r, seq) => stateFields(r.payload, seq, pid, f) && onDumpedSa(f, c));
      step = await this.step(c, sent, pid, onDumped && ((m, e) => onDumped(m, c, e)), fields);
    } catch (e) {
      if (!(e instanceof XfrmTranslateError)) throw e;
      step = { errno: e.errno, why: e.message, received: [errorReplyOf(sent, e.errno)] };
    }
    const exchanges: Exchange[] = [step.extras ? { sent, received: step.received, extras: step.extras } : { sent, received: step.received }];
    return { errno: step.errno, ...(step.why ? { why: step.why } : {}), ...(step.interrupted ? { interrupted: true } : {}), exchanges };
  }

  private async step(c: Command, sent: Uint8Array, pid: number, onDumped?: Dumped, fields?: Fields): Promise<Step> {
    switch (c.kind) {
      case 'add':
      case 'update': {
        const r = saToXfrm(c.sa);
        const a = await this.conn.request(c.kind === 'add' ? XfrmMsg.NEWSA : XfrmMsg.UPDSA, encodeUsersaInfo(r.info), r.attrs);
        if (a.errno) return failed(a, sent);
        const echo = stateToPfkey(r.info, r.attrs).msg;
        return { errno: 0, received: [withHeader(echo, { type: c.kind === 'add' ? MsgType.ADD : MsgType.UPDATE, seq: 0, pid })] };
      }
      case 'get':
      case 'delete':
        return this.byId(c, sent, pid);
      case 'getspi':
        return this.getspi(c, sent, pid);
      case 'deleteall':
        return this.deleteAll(c, sent);
      case 'flush': {
        const proto = c.satype === 0 ? IPSEC_PROTO_ANY : protoOfSatype(c.satype);
        const a = await this.conn.request(XfrmMsg.FLUSHSA, Uint8Array.of(proto));
        if (a.errno) return failed(a, sent);
        return { errno: 0, received: [sent.slice()] };
      }
      case 'dump': {
        const proto = c.satype === 0 ? 0 : protoOfSatype(c.satype);
        const keep = (r: NlMessage): boolean => r.header.type === XfrmMsg.NEWSA && (proto === 0 || readUsersaInfo(r.payload).id.proto === proto);
        if (onDumped) return streamStep(this.conn, XfrmMsg.GETSA, keep, MsgType.DUMP, pid, sent, translateState, onDumped, fields);
        const a = await this.conn.dump(XfrmMsg.GETSA);
        if (a.errno) return failed(a, sent);
        return dumpStep(a.replies.filter(keep), MsgType.DUMP, pid, sent, translateState);
      }
      case 'spdadd':
      case 'spdupdate':
        return this.policyAdd(c, sent, pid);
      case 'spddelete':
        return this.policyDelete(c, sent);
      case 'spdflush': {
        const a = await this.conn.request(XfrmMsg.FLUSHPOLICY, new Uint8Array(0));
        if (a.errno) return failed(a, sent);
        this.usedReqids = undefined;
        return { errno: 0, received: [sent.slice()] };
      }
      case 'spddump': {
        const keep = (r: NlMessage): boolean => r.header.type === XfrmMsg.NEWPOLICY;
        if (onDumped) return streamStep(this.conn, XfrmMsg.GETPOLICY, keep, MsgType.X_SPDDUMP, pid, sent, translatePolicy, onDumped);
        const a = await this.conn.dump(XfrmMsg.GETPOLICY);
        if (a.errno) return failed(a, sent);
        return dumpStep(a.replies.filter(keep), MsgType.X_SPDDUMP, pid, sent, translatePolicy);
      }
      case 'exit':
        return { errno: 0, received: [] };
    }
  }

  private usersaId(c: SaRefCommand): Uint8Array {
    return encodeUsersaId({ daddr: addr16(c.sa.dst.addr), spi: c.sa.spi, family: afOf(c.sa.dst.addr), proto: protoOfSatype(c.sa.satype) });
  }

  private async byId(c: SaRefCommand, sent: Uint8Array, pid: number): Promise<Step> {
    const a = await this.conn.request(c.kind === 'get' ? XfrmMsg.GETSA : XfrmMsg.DELSA, this.usersaId(c));
    if (a.errno) return failed(a, sent);
    if (c.kind === 'delete') {
      const echo = new Uint8Array(sent);
      return { errno: 0, received: [echo] };
    }
    const s = firstState(a.replies, MsgType.GET, pid);
    return { errno: 0, received: s ? [s.msg] : [], extras: [s?.extras] };
  }

  /** ALLOCSPI: a larval state with a free SPI of the range (xfrm_user.c xfrm_alloc_userspi). */
  private async getspi(c: SaRefCommand, sent: Uint8Array, pid: number): Promise<Step> {
    const family = afOf(c.sa.dst.addr);
    const info = {
      sel: emptySelector(family),
      id: { daddr: addr16(c.sa.dst.addr), spi: 0, proto: protoOfSatype(c.sa.satype) },
      saddr: addr16(c.sa.src.addr),
      lft: infiniteLifetime(),
      curlft: zeroCur(),
      stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
      seq: 0,
      reqid: c.sa.reqid,
      family,
      mode: xfrmMode(c.sa.mode),
      replayWindow: 0,
      flags: 0,
    };
    // without a range, af_key's default; an IPComp CPI must stay below 0x10000 (EINVAL otherwise, as there)
    const range = c.spiRange ?? { min: 0x100, max: 0x0fffffff };
    if (info.id.proto === IPPROTO_COMP && range.max >= 0x10000) return { errno: EINVAL, why: 'an IPComp CPI range must end below 0x10000', received: [errorReplyOf(sent, EINVAL)] };
    const a = await this.conn.request(XfrmMsg.ALLOCSPI, encodeUserspiInfo(info, range.min, range.max));
    if (a.errno) return failed(a, sent);
    const s = firstState(a.replies, MsgType.GETSPI, pid);
    return { errno: 0, received: s ? [s.msg] : [] };
  }

  /** deleteall: every SA of the protocol between the two addresses (a dump, then DELSA each). */
  private async deleteAll(c: DeleteAllCommand, sent: Uint8Array): Promise<Step> {
    const proto = protoOfSatype(c.satype);
    const a = await this.conn.dump(XfrmMsg.GETSA);
    if (a.errno) return failed(a, sent);
    for (const r of a.replies) {
      if (r.header.type !== XfrmMsg.NEWSA) continue;
      const info = readUsersaInfo(r.payload);
      if (info.id.proto !== proto) continue;
      if (!sameAddress(addrOf(info.family, info.saddr), c.src) || !sameAddress(addrOf(info.family, info.id.daddr), c.dst)) continue;
      const d = await this.conn.request(XfrmMsg.DELSA, encodeUsersaId({ daddr: info.id.daddr, spi: info.id.spi, family: info.family, proto }));
      // one that went away meanwhile is what we wanted anyway
      if (d.errno && d.errno !== 3) return failed(d, sent);
    }
    return { errno: 0, received: [] };
  }

  /** reqids in use by any policy template, for choosing a unique one (af_key gen_reqid). */
  private async reqidAllocator(): Promise<() => number> {
    if (!this.usedReqids) {
      const used = new Set<number>();
      const a = await this.conn.dump(XfrmMsg.GETPOLICY);
      for (const r of a.replies) {
        if (r.header.type !== XfrmMsg.NEWPOLICY) continue;
        const p = policyToPfkey(readUserpolicyInfo(r.payload), parseAttrs(r.payload, XSize.userpolicyInfo)).msg;
        for (const e of p.exts) if (e.kind === 'policy') for (const q of e.requests) if (q.reqid) used.add(q.reqid);
      }
      this.usedReqids = used;
    }
    const used = this.usedReqids;
    return () => {
      for (let n = 0; n < 0x100000000; n++) {
        this.nextReqid = this.nextReqid >= 0xffffffff ? 0x4000 : this.nextReqid + 1;
        if (!used.has(this.nextReqid)) {
          used.add(this.nextReqid);
          return this.nextReqid;
        }
      }
      throw new XfrmTranslateError(105, 'no reqid left');
    };
  }

  private async policyAdd(c: PolicyCommand, sent: Uint8Array, pid: number): Promise<Step> {
    const needsReqid = c.policy.requests.some((r) => r.level === 3 && (r.reqid === 0 || r.reqid > 0x3fff));
    const alloc = needsReqid ? await this.reqidAllocator() : () => 0;
    const r = policyToXfrm(c, alloc);
    const a = await this.conn.request(c.kind === 'spdadd' ? XfrmMsg.NEWPOLICY : XfrmMsg.UPDPOLICY, encodeUserpolicyInfo(r.info), r.attrs);
    if (a.errno) return failed(a, sent);
    const echo = policyToPfkey(r.info, r.attrs).msg;
    return { errno: 0, received: [serialize({ header: { ...echo.header, type: c.kind === 'spdadd' ? MsgType.X_SPDADD : MsgType.X_SPDUPDATE, reserved: 3, pid }, exts: echo.exts })] };
  }

  private async policyDelete(c: PolicyCommand, sent: Uint8Array): Promise<Step> {
    if (!c.selector) throw new XfrmTranslateError(EINVAL, 'a tagged policy has no selector; Linux has no policy tags');
    const r = policyToXfrm({ ...c, policy: { ...c.policy, requests: [] } }, () => 0);
    const a = await this.conn.request(XfrmMsg.DELPOLICY, encodeUserpolicyId({ sel: selectorToXfrm(c.selector), index: 0, dir: c.policy.dir - 1 }), r.attrs);
    if (a.errno) return failed(a, sent);
    this.usedReqids = undefined;
    return { errno: 0, received: [sent.slice()] };
  }

  /** setkey -x: the kernel's XFRM events, as the PF_KEY messages a promiscuous socket would have shown. */
  async monitor(pid: number, onMessage: (m: Observed) => void, signal: AbortSignal): Promise<void> {
    const t = await this.openTransport([XfrmGroup.ACQUIRE, XfrmGroup.EXPIRE, XfrmGroup.SA, XfrmGroup.POLICY]);
    // listening now: what a PF_KEY socket shows for its own X_PROMISC (its echo, twice), so that -x
    // starts alike on every backend and a reader knows it will miss nothing from here on
    const echo = serialize({ header: header(MsgType.X_PROMISC, 1, pid), exts: [] });
    const now = BigInt(Date.now()) * 1000n;
    onMessage({ msg: echo, usec: now });
    onMessage({ msg: echo, usec: now });
    try {
      while (!signal.aborted) {
        let d: Uint8Array;
        try {
          d = await t.recv(signal);
        } catch (e) {
          if (signal.aborted) break;
          throw e;
        }
        const usec = BigInt(Date.now()) * 1000n;
        for (const m of splitDatagram(d)) {
          const msg = eventToPfkey(m);
          if (msg) onMessage({ msg, usec });
        }
      }
    } finally {
      t.close();
    }
  }

  async close(): Promise<void> {
    this.conn.close();
  }
}

