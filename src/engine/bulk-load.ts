/**
 * A bulk load's SAs and policies, stored as sad.add and spd.spdadd store
 * the ADD and SPDADD messages setkey sends for them, written as bytes: no
 * command, no message, no request, one record each. A large apply is
 * mostly such statements, and the objects each made on its way (about
 * forty: addresses, keys, extensions, a request, a message twice) were most
 * of its time, a third of it in the collector.
 *
 * Each takes the common case only: an IPv4 SA of ESP or AH whose
 * algorithms af_key installs, without lifetimes, NAT-T or a context; an
 * IPv4 policy without lifetimes or a context. Anything else, and anything
 * the kernel would refuse, is a BulkConflict: the load is given up and the
 * file applied request by request, which reports as ever.
 *
 * The records are the messages of sa-state.ts buildSa and spd.ts
 * policyMessage as serialize.ts writes them for Linux; counts, counters and
 * indexes go through the handlers' own functions. test/ingest.test.ts holds
 * every store a load makes to the one the usual apply makes.
 */
import { keyBitsAllowed } from '../model/algorithms.js';
import { IpProto, Level, Mode, SaState, SaType } from '../model/tables.js';
import { AF, extNumber, MsgType } from '../pfkey/constants.js';
import { afKeyAlgorithm, E, fail, type Ctx } from './context.js';
import { countNew, NewEntries, ORDER_DIGITS, recordsPrefix } from './entries.js';
import { keyBytes, policyKeyV4, policyKeyV4Bytes, saKeyV4 } from './records.js';
import { KEPT_FLAGS } from './sa-state.js';
import { putU32, putU32BE, putU64, putU64Number } from './u64.js';
import { BulkConflict } from './sorted-layer.js';
import type { LoadFile, PlacedFile, RecordSpool } from './spool.js';
import type { BlocksState } from './store-format.js';
import { countReqid, genIndexWith, INDEX_DIGITS, INDEX_PREFIX, indexKey, keptTemplate, XFRM_MAX_DEPTH, type IndexGenerator } from './spd.js';

/** An `add` as numbers: IPv4 addresses as u32, algorithms by af_key number, keys as hex digits in a text. */
export interface BulkSa {
  satype: number;
  src: number;
  dst: number;
  spi: number;
  mode: number;
  reqid: number;
  replay: number;
  flags: number;
  /** encryption: af_key number (0: none), key digits etext[ekeyAt, ekeyAt + ekeyDigits) */
  ealg: number;
  etext: string;
  ekeyAt: number;
  ekeyDigits: number;
  aalg: number;
  atext: string;
  akeyAt: number;
  akeyDigits: number;
  /**
   * both keys already as bytes, if not as hex digits in etext and atext
   * (ingest/scan-bytes.ts decodes them as it checks them): the encryption
   * key at ekeyAt, the authentication key at akeyAt, each of its digits / 2
   * bytes
   */
  keyRaw: Uint8Array | undefined;
}

export interface BulkTemplate {
  proto: number;
  mode: number;
  /** the level the statement says (Level: default, use, require, unique) */
  level: number;
  reqid: number;
  /** endpoints given (IPv4, u32) */
  ends: boolean;
  src: number;
  dst: number;
  /** level and reqid as the kernel keeps them (set by the load; the statement's stay for RFC mode's copy) */
  keptLevel: number;
  keptReqid: number;
}

/** An `spdadd` as numbers; its templates are the first `count` of `templates`. */
export interface BulkPolicy {
  src: number;
  dst: number;
  sprefix: number;
  dprefix: number;
  sport: number;
  dport: number;
  /** the upper-layer protocol as the statement says it (255: any) */
  proto: number;
  dir: number;
  action: number;
  priority: number;
  count: number;
  readonly templates: BulkTemplate[];
}

/** One side of a policy's selector into p (0: the source, 1: the destination). */
export function setSide(p: BulkPolicy, which: 0 | 1, addr: number, prefix: number, port: number): void {
  if (which === 0) {
    p.src = addr;
    p.sprefix = prefix;
    p.sport = port;
  } else {
    p.dst = addr;
    p.dprefix = prefix;
    p.dport = port;
  }
}

const EXT = {
  sa: extNumber('linux', 'sa'),
  hard: extNumber('linux', 'lifetime_hard'),
  soft: extNumber('linux', 'lifetime_soft'),
  current: extNumber('linux', 'lifetime_current'),
  src: extNumber('linux', 'address_src'),
  dst: extNumber('linux', 'address_dst'),
  proxy: extNumber('linux', 'address_proxy'),
  auth: extNumber('linux', 'key_auth'),
  enc: extNumber('linux', 'key_encrypt'),
  sa2: extNumber('linux', 'sa2'),
  policy: extNumber('linux', 'policy'),
};


/**
 * The store record's header (records.ts) and a message after it, written
 * into one scratch buffer, zero but for what is written: what the last
 * record wrote (all of it below its end, n, whether it was done or given
 * up half way) is zeroed at the start of the next, at once, by the typed
 * array's own fill() (a loop over each extension's bytes was ~0.4 us a
 * record, 80 ms of 100k SAs + 100k policies; Buffer's fill() checks its
 * arguments in JavaScript first).
 */
class RecordWriter {
  readonly b = Buffer.alloc(4096);
  n = 0;

  start(order: number, flags: number, type: number, satype: number): void {
    FILL.call(this.b, 0, 0, this.n);
    this.b[0] = 1;
    this.b[1] = flags;
    putU64Number(this.b, 8, order);
    // the message header (sadb_msg): version 2; its length is set by done()
    this.b[16] = 2;
    this.b[17] = type;
    this.b[19] = satype;
    this.n = 32;
  }

  ext(len: number, type: number): number {
    const at = this.n;
    this.b[at] = len / 8;
    this.b[at + 2] = type;
    this.n += len;
    return at;
  }

  lifetime(type: number, addtime: bigint): void {
    const at = this.ext(32, type);
    if (!addtime) return;
    // (a load's records all have one time: its bytes made once, not of a BigInt each record)
    if (addtime !== this.time) {
      this.time = addtime;
      putU64(this.timeBytes, 0, addtime);
    }
    this.b.set(this.timeBytes, at + 16);
  }

  private time = 0n;
  private readonly timeBytes = new Uint8Array(8);

  /** sadb_address with a sockaddr_in */
  address(type: number, proto: number, prefixlen: number, addr: number, port: number): void {
    const at = this.ext(24, type);
    this.b[at + 4] = proto;
    this.b[at + 5] = prefixlen;
    this.sockaddr(at + 8, addr, port);
  }

  sockaddr(at: number, addr: number, port: number): void {
    this.b[at] = AF.INET;
    this.b[at + 2] = port >>> 8;
    this.b[at + 3] = port & 0xff;
    putU32BE(this.b, at + 4, addr >>> 0);
  }

  /** sadb_key from hex digits (an even number of them, as the quick check found them) */
  key(type: number, text: string, at: number, digits: number): void {
    const b = this.b;
    // digit by digit (a slice and Buffer's hex write were ~0.65 us a key: 65 ms of 100k SAs)
    let o = this.keyExt(type, digits);
    for (let k = at; k < at + digits; k += 2) b[o++] = (hexDigit(text.charCodeAt(k)) << 4) | hexDigit(text.charCodeAt(k + 1));
  }

  /** The same of the key's bytes, src[at, at + digits / 2). */
  keyOfRaw(type: number, src: Uint8Array, at: number, digits: number): void {
    const b = this.b;
    const o = this.keyExt(type, digits);
    for (let k = 0; k < digits / 2; k++) b[o + k] = src[at + k]!;
  }

  /** sadb_key's header for a key of `digits` hex digits: where its bytes go. */
  private keyExt(type: number, digits: number): number {
    const bytes = digits / 2;
    const e = this.ext(8 + Math.ceil(bytes / 8) * 8, type);
    this.b[e + 4] = (bytes * 8) & 0xff;
    this.b[e + 5] = (bytes * 8) >>> 8;
    return e + 8;
  }

  /** The record's length: it is b[0, length) (a view of it for each record was 18 MB of 100k + 100k's allocation). */
  done(): number {
    const len = (this.n - 16) / 8;
    this.b[20] = len & 0xff;
    this.b[21] = len >>> 8;
    return this.n;
  }
}

const FILL = Uint8Array.prototype.fill;

/** The prefix of SA identities (records.ts saKey). */
export const SA_IDENTITIES = 's/';
const w = new RecordWriter();

/** A hex digit's value (0-9, a-f, A-F). */
function hexDigit(c: number): number {
  return c <= 57 ? c - 48 : (c | 32) - 87;
}

function decline(why: string): never {
  throw new BulkConflict(why);
}

/** That af_key installs algorithm `id` of `kind`, with a key of `digits` hex digits. */
function checkAlg(kind: 'enc' | 'auth', id: number, digits: number): void {
  const a = afKeyAlgorithm(kind, id);
  if (!a || a.noKey || digits === 0 || digits % 2 !== 0 || !keyBitsAllowed(a.keyBits, digits * 4)) decline(`algorithm ${id} with this key is beyond the common case`);
}

/**
 * Where a bulk load's new entries go (entries.ts, records.ts, spd.ts): the
 * records, by their growing order, already in key order; the policy index
 * too, by index (spd.ts genIndex: each new index above the last, until the
 * counter wraps past 2^32, which gives the load up); identities, sorted
 * once at the end. Counts, counters and reqid counts are read back as they
 * change: they stay in the transaction's map.
 */
export const BULK_STREAMS = [
  { prefix: 'R/S/', ordered: true },
  { prefix: 'R/P/', ordered: true },
  { prefix: SA_IDENTITIES, ordered: false },
  { prefix: 'p/', ordered: false },
  { prefix: INDEX_PREFIX, ordered: true },
] as const;

/** A load's streams, found once. */
interface Streams {
  readonly sas: NewEntries;
  readonly policies: NewEntries;
  readonly index: (id: number, value: Uint8Array | string, length?: number) => void;
  /** where the policies' identities go, when loaded apart (SaOffload.policy): none are put into the transaction */
  readonly policyIds: SaOffload['policy'] | undefined;
  readonly counters: LoadCounters;
  /** the store held a policy when the load began (else none is asked for: Tx.get would say none) */
  readonly policiesHeld: boolean;
}

/** Where a bulk load's statements go, one at a time (each struct may be filled again once taken). */
export interface BulkLoader {
  sa(sa: BulkSa): void;
  policy(p: BulkPolicy): void;
  /**
   * Where the load takes its SAs as text, when it loads them apart
   * (SaOffload): an `add` the check found clean, src[start, semi]. Every
   * SA then comes this way, not through sa().
   */
  readonly saText?: (src: string, start: number, semi: number, unchecked: boolean) => void;
  /**
   * The text the statements handed to saText next stand in, whenever it
   * changes (a new piece of the file; none: each is compared), and its
   * bytes where known (a char a byte, valid while its statements are handed over).
   */
  readonly text?: (src: string, bytes?: Uint8Array) => void;
  /** Awaited between pieces of the file, where given: what loads apart catches up (memory stays bounded). */
  readonly paced?: () => Promise<void> | undefined;
}

/**
 * Where a load's SAs are loaded apart from the transaction: a worker
 * thread (src/ingest/sa-worker.ts) that reads each statement, writes its
 * record into the SA records' spool and its identity into the identities'
 * spool. Used where the store held no SA: nothing is to be asked of it per
 * SA. The policies' records are written by the transaction's thread, into
 * the same file (spool.ts: each block placed where there is room).
 */
export interface SaOffload {
  /** The text of the statements pushed next (until the next text), and its bytes where known (valid while its statements are pushed). */
  text(src: string, bytes?: Uint8Array): void;
  /** The `add` statement text[start, semi], checked clean (or `unchecked`: then checked there, and the load given up if not clean), to be stored at `order`. */
  push(start: number, semi: number, order: number, unchecked: boolean): void;
  /**
   * A policy's identity (policyKeyV4's numbers, the protocol 0 for any) at
   * `order`, written by the worker into the p/ stream's spool
   * (SaOffloadResult.policies), where the store held no policy: the
   * transaction has none of them.
   */
  policy(dir: number, src: number, sprefix: number, dst: number, dprefix: number, proto: number, sport: number, dport: number, order: number): void;
  /** Resolved once it is not far behind what was pushed (undefined: it is not): the caller reads on then. */
  paced(): Promise<void> | undefined;
  /** Everything pushed, loaded: its records in the spool's file; BulkConflict where one is declined (as loadSa would). */
  drain(): Promise<SaOffloadResult>;
  /** Stopped, whatever it was doing: once this has resolved, nothing more is written to the spool. */
  stop(): Promise<void>;
}

export interface SaOffloadResult {
  /** the blocks written to the records' spool */
  readonly records: BlocksState;
  /** the blocks written to the identities' spool (sorted) */
  readonly identities: BlocksState;
  /** SA type, how many SAs of it: pairs */
  readonly counts: readonly number[];
  /** the blocks written to the policies' identities' spool (sorted; none where none were given: SaOffload.policy) */
  readonly policies: BlocksState;
}

/** What an SaOffload writes into: the load's file (spool.ts: every spool of a load places its blocks there), as a worker is given it. */
export interface OffloadSpools {
  readonly file: PlacedFile;
}

/**
 * An SaOffload writing the SAs' records and identities into spools, its SAs
 * added at `now`; `syncAhead`: what is written so far synced ahead of the
 * commit (LoadFile.syncAhead), for the loading it does on the caller's thread.
 */
export type SaOffloadFactory = (spools: OffloadSpools, now: bigint, syncAhead?: () => void) => SaOffload;

/** The orders a load stands below (sad.ts nextOrder's counter; a store past it is the usual apply's). */
const ORDER_LIMIT = 2 ** 53 - 2 ** 32;

/**
 * The counters a load advances, as Numbers, read once and written back by
 * finish(): sad.ts nextOrder and spd.ts genIndex on the transaction's
 * BigInt counters cost ~0.5 us a statement (a Map, BigInt arithmetic and
 * conversions). The same values as theirs.
 */
class LoadCounters {
  private order: number;
  private readonly firstOrder: number;
  private polidx: number;
  private readonly firstPolidx: number;

  constructor(private readonly c: Ctx) {
    const order = c.counters.peek('order', 1n);
    this.order = this.firstOrder = order < BigInt(ORDER_LIMIT) ? Number(order) : ORDER_LIMIT;
    // (genIndex keeps it below 2^32)
    this.polidx = this.firstPolidx = Number(c.counters.peek('polidx', 0n) & 0xffffffffn);
    this.taken = c.tx.bulkHeld(INDEX_PREFIX) ? (idx) => c.tx.has(indexKey(idx)) : () => false;
  }

  /** nextOrder(). */
  nextOrder(): number {
    if (this.order >= ORDER_LIMIT) decline('orders past 2^53');
    return this.order++;
  }

  /** the load's index generator (spd.ts genIndexWith) */
  private readonly indexes: IndexGenerator = { get: () => this.polidx, set: (v) => (this.polidx = v) };

  /** whether a policy has an index: none, where the table held none (the load's own only grow: a stream out of order gives it up) */
  private readonly taken: (idx: number) => boolean;

  /** genIndex(): the next policy index of direction `xdir` (0-2) that no policy has. */
  genIndex(xdir: number): number {
    return genIndexWith(this.taken, xdir, this.indexes);
  }

  /** The counters written back (those that moved: one that did not is not written, as the usual apply leaves it). */
  finish(): void {
    if (this.order !== this.firstOrder) this.c.counters.set('order', BigInt(this.order));
    if (this.polidx !== this.firstPolidx) this.c.counters.set('polidx', BigInt(this.polidx));
  }
}

/** A load into a transaction in bulk mode: its records, and their counts, written once at the end. */
export class BulkLoad implements BulkLoader {
  /** SAs by SA type, policies: what the table counts gain (entries.ts countNew) */
  private readonly sas = new Map<number, number>();
  private policies = 0;
  private readonly to: Streams;

  /** the SAs loaded apart, and the spools their records and identities go to */
  private readonly offload: { readonly to: SaOffload; readonly records: RecordSpool; readonly identities: RecordSpool; readonly policyIdentities: RecordSpool | undefined } | undefined;
  readonly saText?: (src: string, start: number, semi: number, unchecked: boolean) => void;
  readonly text?: (src: string, bytes?: Uint8Array) => void;
  readonly paced?: () => Promise<void> | undefined;

  /**
   * The streams of BULK_STREAMS must be the transaction's (Tx.beginBulk).
   * `offload`: how to load the SAs apart, used where the SA records have a
   * spool and the store held no SA identity.
   */
  constructor(
    private readonly c: Ctx,
    offload?: SaOffloadFactory,
  ) {
    const records = c.tx.bulkSpool(recordsPrefix('S'));
    const file = (this.file = records?.file);
    // (an identity there would have to be asked for each SA: SAs are loaded apart into a SAD with none)
    const identities = offload && records && !c.tx.bulkHeld(SA_IDENTITIES) ? c.tx.bulkSpoolSorted(SA_IDENTITIES) : undefined;
    let to: SaOffload | undefined;
    if (offload && file && records && identities) {
      if (identities.file !== file) throw new Error("a load's spools in two files");
      const worker = (to = offload({ file: file.shared() }, c.now, () => file.syncAhead()));
      // the policies' identities too, where the store held none (else each is asked for: loadPolicy)
      const policyIdentities = c.tx.bulkHeld('p/') ? undefined : c.tx.bulkSpoolSorted('p/');
      if (policyIdentities && policyIdentities.file !== file) throw new Error("a load's spools in two files");
      this.offload = { to: worker, records, identities, policyIdentities };
      this.text = (src, bytes) => worker.text(src, bytes);
    }
    // between pieces of the file: what is written so far synced ahead, the worker waited for if far behind
    if (file) {
      this.paced = () => {
        file.syncAhead();
        return to?.paced();
      };
    }
    const policyRecords = c.tx.bulkPutNumbered(recordsPrefix('P'), ORDER_DIGITS);
    const index = c.tx.bulkPutNumbered(INDEX_PREFIX, INDEX_DIGITS);
    const worker = this.offload?.policyIdentities ? this.offload.to : undefined;
    // (each argument passed on: a rest parameter spread again made an array a policy)
    const policyIds: SaOffload['policy'] | undefined = worker ? (dir, src, sprefix, dst, dprefix, proto, sport, dport, order) => worker.policy(dir, src, sprefix, dst, dprefix, proto, sport, dport, order) : undefined;
    this.to = { sas: new NewEntries(c.tx, 'S', SA_IDENTITIES), policies: new NewEntries(c.tx, 'P', 'p/', policyRecords), index, counters: new LoadCounters(c), policiesHeld: c.tx.bulkHeld('p/'), policyIds };
    if (this.offload) {
      const to = this.offload.to;
      const counters = this.to.counters;
      this.saText = (_, start, semi, unchecked) => to.push(start, semi, counters.nextOrder(), unchecked);
    }
  }

  /** the load's file, where its records are spooled */
  private readonly file: LoadFile | undefined;

  /** The SAs loaded apart, taken in: the blocks of their records and identities as the spools', their counts. */
  async drain(): Promise<void> {
    // everything read: what is written so far synced ahead, while the load ends (the rest is little)
    this.file?.syncAhead(0);
    if (!this.offload) return;
    const r = await this.offload.to.drain();
    this.offload.records.adopt(r.records);
    this.offload.identities.adopt(r.identities);
    this.offload.policyIdentities?.adopt(r.policies);
    for (let i = 0; i < r.counts.length; i += 2) this.sas.set(r.counts[i]!, (this.sas.get(r.counts[i]!) ?? 0) + r.counts[i + 1]!);
  }

  /** Whatever loads SAs apart stopped (before its spool is closed or removed). */
  async stop(): Promise<void> {
    await this.offload?.to.stop();
  }

  sa(sa: BulkSa): void {
    // (SAs loaded apart come as text: saText; one given here could not be stored in order with them)
    if (this.offload) decline('an SA not given as text to a load that loads them apart');
    loadSa(this.c, this.to, sa);
    this.sas.set(sa.satype, (this.sas.get(sa.satype) ?? 0) + 1);
  }

  policy(p: BulkPolicy): void {
    loadPolicy(this.c, this.to, p);
    this.policies++;
  }

  /** The counts and counters. */
  finish(): void {
    for (const [satype, n] of this.sas) countNew(this.c.tx, 'S', satype, n);
    if (this.policies) countNew(this.c.tx, 'P', 0, this.policies);
    this.to.counters.finish();
  }
}

/** sad.add of an ADD for `sa` (buildSa, putSa), its record written directly (its count is the caller's). */
function loadSa(c: Ctx, to: Streams, sa: BulkSa): void {
  checkSa(sa);
  const key = saKeyV4(sa.satype, sa.dst, sa.spi);
  // sad.add: any SA with this destination, protocol and SPI is a refusal (EEXIST)
  if (c.tx.has(key)) decline('an SA with this destination, protocol and SPI exists');
  const order = to.counters.nextOrder();
  to.sas.put(key, order, w.b, saRecord(sa, order, c.now));
}

/** What sad.add would refuse or the load does not take, of `sa` alone (BulkConflict). */
function checkSa(sa: BulkSa): void {
  if (sa.satype !== SaType.ESP && sa.satype !== SaType.AH) decline('not an ESP or AH SA');
  if (sa.spi < 256 || sa.replay > 255 || sa.mode > Mode.BEET) decline('an SPI, replay window or mode beyond the common case');
  const esp = sa.satype === SaType.ESP;
  if (esp ? sa.ealg === 0 : sa.aalg === 0 || sa.ealg !== 0) decline('an SA without its algorithms');
  if (sa.ealg) checkAlg('enc', sa.ealg, sa.ekeyDigits);
  if (sa.aalg) checkAlg('auth', sa.aalg, sa.akeyDigits);
}

/** The record of `sa`, added at `order` when the time was `now`, written into the scratch: its length (the bytes are recordBytes()[0, length)). */
function saRecord(sa: BulkSa, order: number, now: bigint): number {
  w.start(order, 0, MsgType.DUMP, sa.satype);
  let at = w.ext(16, EXT.sa);
  putU32BE(w.b, at + 4, sa.spi >>> 0);
  w.b[at + 8] = Math.min(sa.replay, 32);
  w.b[at + 9] = SaState.MATURE;
  w.b[at + 10] = sa.aalg;
  w.b[at + 11] = sa.ealg;
  putU32(w.b, at + 12, (sa.flags & KEPT_FLAGS) >>> 0);
  w.lifetime(EXT.hard, 0n);
  w.lifetime(EXT.soft, 0n);
  w.lifetime(EXT.current, now);
  w.address(EXT.src, 0, 32, sa.src, 0);
  w.address(EXT.dst, 0, 32, sa.dst, 0);
  // the PROXY extension Linux adds when the source is not 0.0.0.0 (sa-state.ts proxyExt)
  if (sa.src !== 0) w.address(EXT.proxy, IpProto.ANY, 0, 0, 0);
  const raw = sa.keyRaw;
  if (sa.aalg) raw !== undefined ? w.keyOfRaw(EXT.auth, raw, sa.akeyAt, sa.akeyDigits) : w.key(EXT.auth, sa.atext, sa.akeyAt, sa.akeyDigits);
  if (sa.ealg) raw !== undefined ? w.keyOfRaw(EXT.enc, raw, sa.ekeyAt, sa.ekeyDigits) : w.key(EXT.enc, sa.etext, sa.ekeyAt, sa.ekeyDigits);
  at = w.ext(16, EXT.sa2);
  // mode any is installed as transport
  w.b[at + 4] = sa.mode === Mode.ANY ? Mode.TRANSPORT : sa.mode;
  putU32(w.b, at + 12, sa.reqid >>> 0);
  return w.done();
}

/**
 * An SA's checks and record apart from the transaction (a load's SAs
 * written apart: src/ingest/sa-loader.ts): what loadSa stores for
 * it at `order`, its record recordBytes()[0, length); BulkConflict where
 * loadSa declines without asking the store (an SA already there is the
 * caller's to find: it knows the store held none).
 */
export function saRecordAlone(sa: BulkSa, order: number, now: bigint): number {
  checkSa(sa);
  return saRecord(sa, order, now);
}

/** The scratch records are written into (saRecordAlone). */
export function recordBytes(): Uint8Array {
  return w.b;
}

/** Templates as spd.ts templatesOf keeps them: the level and reqid kept set beside the statement's (RFC mode's copy reads those). */
function keepTemplates(c: Ctx, p: BulkPolicy): void {
  if (p.count > XFRM_MAX_DEPTH) fail(E.ELOOP, `more than ${XFRM_MAX_DEPTH} templates`);
  for (let i = 0; i < p.count; i++) {
    const t = p.templates[i]!;
    const kept = keptTemplate(c, p.dir, t);
    if (t.mode === Mode.TUNNEL && !t.ends) decline('a tunnel template without its endpoints');
    t.keptLevel = kept.level;
    t.keptReqid = kept.reqid;
  }
}

/** spd.spdadd of an SPDADD for `p` (templatesOf, genIndex, putPolicy), its record written directly (its count is the caller's). */
function loadPolicy(c: Ctx, to: Streams, p: BulkPolicy): void {
  if (p.action > 2 || p.dir === 0 || p.dir >= 4) decline('a policy beyond the common case');
  // its identity (records.ts policyKeyV4): pfkey_proto_to_xfrm() makes 255 any (0); the record says 255 again
  const proto = p.proto === IpProto.ANY ? 0 : p.proto;
  // (its identity loaded apart: no string made, none asked for: the store held no policy)
  const key = to.policyIds ? undefined : policyKeyV4(p.dir, p.src, p.sprefix, p.dst, p.dprefix, proto, p.sport, p.dport);
  if (key !== undefined && to.policiesHeld && c.tx.has(key)) decline('a policy with this selector and direction exists');
  // templates are read only for ipsec; with none or discard they are ignored
  const count = p.action === 2 ? p.count : 0;
  if (count) keepTemplates(c, p);
  const id = to.counters.genIndex(p.dir - 1);
  const order = to.counters.nextOrder();
  const length = policyRecord(p, id, order, c.now);
  if (key !== undefined) {
    to.policies.put(key, order, w.b, length);
    to.index(id, key);
  } else {
    to.policies.record(order, w.b, length);
    to.index(id, keyBytes(), policyKeyV4Bytes(p.dir, p.src, p.sprefix, p.dst, p.dprefix, proto, p.sport, p.dport));
    to.policyIds!(p.dir, p.src, p.sprefix, p.dst, p.dprefix, proto, p.sport, p.dport, order);
  }
  for (let i = 0; i < count; i++) countReqid(c, p.templates[i]!.keptReqid, 1);
}

/**
 * The record of policy `p` (its templates' kept level and reqid set:
 * keepTemplates) at index `id` and `order`, added when the time was `now`,
 * written into the scratch: its length (the bytes are recordBytes()[0, length)).
 */
function policyRecord(p: BulkPolicy, id: number, order: number, now: bigint): number {
  const proto = p.proto === IpProto.ANY ? 0 : p.proto;
  const count = p.action === 2 ? p.count : 0;
  w.start(order, 0, MsgType.X_SPDDUMP, 0);
  w.address(EXT.src, proto === 0 ? IpProto.ANY : proto, p.sprefix, p.src, p.sport);
  w.address(EXT.dst, proto === 0 ? IpProto.ANY : proto, p.dprefix, p.dst, p.dport);
  w.lifetime(EXT.hard, 0n);
  w.lifetime(EXT.soft, 0n);
  w.lifetime(EXT.current, now);
  let len = 16;
  for (let i = 0; i < count; i++) len += p.templates[i]!.mode === Mode.TUNNEL ? 48 : 16;
  const at = w.ext(len, EXT.policy);
  // BLOCK dumps as discard; ALLOW as ipsec when it has templates, else none
  w.b[at + 4] = p.action === 0 ? 0 : count > 0 ? 2 : 1;
  w.b[at + 6] = p.dir;
  putU32(w.b, at + 8, id >>> 0);
  putU32(w.b, at + 12, p.priority >>> 0);
  let r = at + 16;
  for (let i = 0; i < count; i++) {
    const t = p.templates[i]!;
    // only a tunnel keeps its endpoints (their ports dropped)
    const ends = t.mode === Mode.TUNNEL;
    w.b[r] = ends ? 48 : 16;
    w.b[r + 2] = t.proto;
    w.b[r + 4] = t.mode;
    w.b[r + 5] = t.keptLevel === Level.USE ? Level.USE : t.keptReqid !== 0 ? Level.UNIQUE : Level.REQUIRE;
    putU32(w.b, r + 8, t.keptReqid >>> 0);
    if (ends) {
      w.sockaddr(r + 16, t.src, 0);
      w.sockaddr(r + 32, t.dst, 0);
    }
    r += ends ? 48 : 16;
  }
  return w.done();
}
