/**
 * Bytes -> typed PF_KEY messages, never trusting a length. Three steps, as
 * libipsec does them (pfkey.c pfkey_align, pfkey_check), so that printers can
 * report the reference's error for a broken message:
 *   1. index: walk the extensions, reject unknown/duplicate types and bad lengths;
 *   2. check: version, message type, SA type rules, src/dst protocol and family;
 *   3. interpret: each extension read within its own bounds.
 * Errors are DecodeError values with a stable code and the byte offset.
 */
import type { Platform } from '../model/algorithms.js';
import { AF, MsgType, Size, af6, extNumbers, type ExtKind } from './constants.js';
import type { IpsecRequestWire, SadbExt, SadbHeader, SadbMsg, SockAddr, SupportedAlg } from './types.js';

export type DecodeCode =
  | 'short' // fewer than 16 bytes, or a length field pointing past the data
  | 'exttype' // unknown or duplicated extension type (libipsec: Invalid extension type)
  | 'sadbmsg' // extensions do not add up to the message length (Invalid sadb message)
  | 'version' // Invalid version
  | 'msgtype' // Invalid message type
  | 'satype' // Invalid SA type
  | 'not-supported' // SA types 5..8 (Not supported)
  | 'proto' // src/dst upper protocol differ (Protocol mismatch)
  | 'family' // src/dst families differ (Family mismatch)
  | 'bad-family' // an address family other than inet/inet6 (Invalid family)
  | 'ext'; // an extension too short for its own struct

export class DecodeError extends Error {
  constructor(
    readonly code: DecodeCode,
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

export interface ExtSpan {
  readonly type: number;
  /** offset of the sadb_ext header within the message */
  readonly offset: number;
  /** length in bytes, header included */
  readonly length: number;
}

/** Extensions by wire type: what a message's index answers (get and has, as a Map would). */
export interface SpanTable {
  get(type: number): ExtSpan | undefined;
  has(type: number): boolean;
}

/**
 * An array by type number, not a Map: every message of a dump is indexed,
 * and known types are below 32 (a type beyond is refused before it is set).
 */
class Spans implements SpanTable {
  private readonly a: (ExtSpan | undefined)[] = [];
  get(type: number): ExtSpan | undefined {
    return this.a[type];
  }
  has(type: number): boolean {
    return this.a[type] !== undefined;
  }
  set(type: number, s: ExtSpan): void {
    this.a[type] = s;
  }
}

export interface MsgIndex {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly header: SadbHeader;
  /** extensions by wire type number */
  readonly byType: SpanTable;
  /** extensions in message order */
  readonly order: readonly ExtSpan[];
  readonly platform: Platform;
  /** hand out views into `bytes` instead of copies (printers, which keep nothing) */
  readonly borrow?: boolean;
}

/** Highest message type per platform (SADB_MAX). */
const SADB_MAX: Record<Platform, number> = { linux: 24, freebsd: 24, xnu: 26 };

/** Extension types libipsec's pfkey_align accepts, per platform (Linux 0.8.2: 1..25; FILTER 26 is refused). */
function knownExt(platform: Platform, type: number): boolean {
  if (type >= 1 && type <= 19) return true;
  if (platform === 'linux') return type <= 25;
  return extNumbers(platform).byNumber.has(type);
}

/** A plain Uint8Array copy (Buffer#slice would share memory with the input), or a view when borrowing. */
function bytesOf(ix: MsgIndex, start: number, end: number): Uint8Array {
  return ix.borrow ? ix.bytes.subarray(start, end) : Uint8Array.prototype.slice.call(ix.bytes, start, end);
}

export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export function readHeader(v: DataView, off = 0): SadbHeader & { len: number } {
  return {
    version: v.getUint8(off),
    type: v.getUint8(off + 1),
    errno: v.getUint8(off + 2),
    satype: v.getUint8(off + 3),
    len: v.getUint16(off + 4, true),
    reserved: v.getUint16(off + 6, true),
    seq: v.getUint32(off + 8, true),
    pid: v.getUint32(off + 12, true),
  };
}

/** Where each message of a buffer of concatenated messages starts and how long it is. */
export function* splitMessages(b: Uint8Array): Generator<{ offset: number; length: number } | DecodeError> {
  const v = viewOf(b);
  let off = 0;
  while (off < b.length) {
    if (b.length - off < Size.sadb_msg) {
      yield new DecodeError('short', `${b.length - off} trailing bytes are too few for a message header`, off);
      return;
    }
    const len = v.getUint16(off + 4, true) * 8;
    if (len < Size.sadb_msg) {
      // the reference loops forever or stops here; we report and stop
      yield new DecodeError('short', `message length ${len / 8} is shorter than its header`, off);
      return;
    }
    if (off + len > b.length) {
      yield new DecodeError('short', `message of ${len} bytes runs past the end of the data (${b.length - off} left)`, off);
      return;
    }
    yield { offset: off, length: len };
    off += len;
  }
}

/**
 * Step 1 (pfkey_align), lenient: the extensions indexed before the first
 * problem, and that problem. Printers use this, as setkey's -l and DEAD-SA
 * filter use whatever pfkey_align filled in before failing.
 */
export function indexLenient(b: Uint8Array, platform: Platform = 'linux', borrow = false): { ix: MsgIndex; error?: DecodeError } {
  if (b.length < Size.sadb_msg) {
    // not even a header: an empty index over a zero-padded copy, and the reason
    const padded = new Uint8Array(Size.sadb_msg);
    padded.set(b);
    const { len: _len, ...header } = readHeader(viewOf(padded));
    const ix: MsgIndex = { bytes: padded, view: viewOf(padded), header, byType: new Spans(), order: [], platform, borrow };
    return { ix, error: new DecodeError('short', `${b.length} bytes are too few for a message header`, 0) };
  }
  const view = viewOf(b);
  // the header without its length, field by field (an object rest was a runtime call per message)
  const header: SadbHeader = { version: b[0]!, type: b[1]!, errno: b[2]!, satype: b[3]!, reserved: view.getUint16(6, true), seq: view.getUint32(8, true), pid: view.getUint32(12, true) };
  const len = view.getUint16(4, true);
  const end = Math.min(len * 8, b.length);
  const byType = new Spans();
  const order: ExtSpan[] = [];
  const ix: MsgIndex = { bytes: b, view, header, byType, order, platform, borrow };
  let p = Size.sadb_msg;
  while (p < end) {
    if (end - p < Size.sadb_ext) break;
    const elen = view.getUint16(p, true) * 8;
    if (elen < Size.sadb_ext || p + elen > end) break;
    const type = view.getUint16(p + 2, true);
    if (byType.has(type)) return { ix, error: new DecodeError('exttype', `extension type ${type} appears twice`, p) };
    if (!knownExt(platform, type)) return { ix, error: new DecodeError('exttype', `unknown extension type ${type}`, p) };
    const span = { type, offset: p, length: elen };
    byType.set(type, span);
    order.push(span);
    p += elen;
  }
  if (p !== len * 8) return { ix, error: new DecodeError('sadbmsg', `extensions end at byte ${p}, the message at ${len * 8}`, p) };
  return { ix };
}

/** Step 1 (pfkey_align): index the extensions of one message (`b` holds exactly the message). */
export function indexMessage(b: Uint8Array, platform: Platform = 'linux'): MsgIndex {
  if (b.length < Size.sadb_msg) throw new DecodeError('short', 'message shorter than its header', 0);
  const r = indexLenient(b, platform);
  if (r.error) throw r.error;
  return r.ix;
}

function familyOf(ix: MsgIndex, span: ExtSpan | undefined): number | undefined {
  if (!span || span.length < Size.sadb_address + 2) return undefined;
  const at = span.offset + Size.sadb_address;
  return ix.platform === 'linux' ? ix.view.getUint16(at, true) : ix.view.getUint8(at + 1);
}

/** Step 2 (pfkey_check): the message-level rules. */
export function checkMessage(ix: MsgIndex): void {
  const h = ix.header;
  if (h.version !== 2) throw new DecodeError('version', `PF_KEY version ${h.version}`, 0);
  if (h.type > SADB_MAX[ix.platform]) throw new DecodeError('msgtype', `message type ${h.type}`, 1);
  const spdTypes: number[] = [MsgType.X_SPDADD, MsgType.X_SPDDELETE, MsgType.X_SPDGET, MsgType.X_SPDDUMP, MsgType.X_SPDFLUSH];
  const saTypes: number[] = [MsgType.GETSPI, MsgType.UPDATE, MsgType.ADD, MsgType.DELETE, MsgType.GET, MsgType.ACQUIRE, MsgType.EXPIRE];
  switch (h.satype) {
    case 0:
      if (saTypes.includes(h.type)) throw new DecodeError('satype', `SA type 0 in message type ${h.type}`, 3);
      break;
    case 2:
    case 3:
    case 9:
      if (spdTypes.includes(h.type)) throw new DecodeError('satype', `SA type ${h.satype} in an SPD message`, 3);
      break;
    case 5:
    case 6:
    case 7:
    case 8:
      throw new DecodeError('not-supported', `SA type ${h.satype}`, 3);
    case 1:
      if (h.type === MsgType.X_PROMISC) break;
      throw new DecodeError('satype', `SA type ${h.satype}`, 3);
    default:
      // TCP (11) exists only on FreeBSD
      if (h.satype === 11 && ix.platform === 'freebsd') break;
      throw new DecodeError('satype', `SA type ${h.satype}`, 3);
  }
  const nums = extNumbers(ix.platform).byKind;
  const src = ix.byType.get(nums.get('address_src')!);
  const dst = ix.byType.get(nums.get('address_dst')!);
  if (src && dst) {
    const sp = src.length > 4 ? ix.bytes[src.offset + 4] : undefined;
    const dp = dst.length > 4 ? ix.bytes[dst.offset + 4] : undefined;
    if (sp !== dp) throw new DecodeError('proto', 'source and destination upper protocols differ', src.offset + 4);
    const sf = familyOf(ix, src);
    const df = familyOf(ix, dst);
    if (sf !== df) throw new DecodeError('family', 'source and destination address families differ', dst.offset + 8);
    if (sf !== AF.INET && sf !== af6(ix.platform)) throw new DecodeError('bad-family', `address family ${sf}`, src.offset + 8);
  }
}

function need(span: ExtSpan, size: number, what: string): void {
  if (span.length < size) throw new DecodeError('ext', `${what} extension of ${span.length} bytes is shorter than ${size}`, span.offset);
}

/** A sockaddr at `at` with at most `room` bytes; returns it and its size. */
export function readSockaddr(ix: MsgIndex, at: number, room: number): { sa: SockAddr; size: number } {
  const v = ix.view;
  const linux = ix.platform === 'linux';
  if (room < 4) throw new DecodeError('ext', 'sockaddr truncated', at);
  const family = linux ? v.getUint16(at, true) : v.getUint8(at + 1);
  const port = v.getUint16(at + 2, false);
  if (family === AF.INET) {
    if (room < Size.sockaddr_in) throw new DecodeError('ext', 'sockaddr_in truncated', at);
    return { sa: { family, port, addr: bytesOf(ix, at + 4, at + 8), flowinfo: 0, scopeId: 0 }, size: Size.sockaddr_in };
  }
  if (family === af6(ix.platform)) {
    if (room < Size.sockaddr_in6) throw new DecodeError('ext', 'sockaddr_in6 truncated', at);
    return {
      sa: { family, port, addr: bytesOf(ix, at + 8, at + 24), flowinfo: v.getUint32(at + 4, false), scopeId: v.getUint32(at + 24, true) },
      size: Size.sockaddr_in6,
    };
  }
  // unknown family: keep the bytes (BSD sa_len says how many; Linux: the rest)
  const size = linux ? room : Math.max(4, Math.min(room, v.getUint8(at)));
  return { sa: { family, port, addr: bytesOf(ix, at + 4, at + size), flowinfo: 0, scopeId: 0 }, size };
}

function readRequests(ix: MsgIndex, start: number, end: number): IpsecRequestWire[] {
  const v = ix.view;
  const linux = ix.platform === 'linux';
  const hdr = linux ? Size.sadb_x_ipsecrequest_linux : Size.sadb_x_ipsecrequest_bsd;
  const out: IpsecRequestWire[] = [];
  let p = start;
  while (p < end) {
    if (end - p < hdr) throw new DecodeError('ext', 'ipsec request truncated', p);
    const len = v.getUint16(p, true);
    if (len < hdr || p + len > end) throw new DecodeError('ext', `ipsec request length ${len}`, p);
    const r: IpsecRequestWire = {
      proto: v.getUint16(p + 2, true),
      mode: v.getUint8(p + 4),
      level: v.getUint8(p + 5),
      reqid: linux ? v.getUint32(p + 8, true) : v.getUint16(p + 6, true),
    };
    if (len > hdr) {
      const s = readSockaddr(ix, p + hdr, len - hdr);
      r.src = s.sa;
      if (len - hdr - s.size > 0) r.dst = readSockaddr(ix, p + hdr + s.size, len - hdr - s.size).sa;
    }
    out.push(r);
    p += len;
  }
  return out;
}

/** Step 3: interpret one extension. */
export function readExt(ix: MsgIndex, span: ExtSpan): SadbExt {
  const v = ix.view;
  const o = span.offset;
  const kind: ExtKind | undefined = extNumbers(ix.platform).byNumber.get(span.type);
  switch (kind) {
    case 'sa':
      need(span, Size.sadb_sa, 'SA');
      return { kind, spi: v.getUint32(o + 4, false), replay: v.getUint8(o + 8), state: v.getUint8(o + 9), auth: v.getUint8(o + 10), encrypt: v.getUint8(o + 11), flags: v.getUint32(o + 12, true) };
    case 'lifetime_current':
    case 'lifetime_hard':
    case 'lifetime_soft':
      need(span, Size.sadb_lifetime, 'lifetime');
      return { kind, allocations: v.getUint32(o + 4, true), bytes: v.getBigUint64(o + 8, true), addtime: v.getBigUint64(o + 16, true), usetime: v.getBigUint64(o + 24, true) };
    case 'address_src':
    case 'address_dst':
    case 'address_proxy':
    case 'nat_t_oa':
    case 'nat_t_oar': {
      need(span, Size.sadb_address + 4, 'address');
      const { sa } = readSockaddr(ix, o + Size.sadb_address, span.length - Size.sadb_address);
      return { kind, proto: v.getUint8(o + 4), prefixlen: v.getUint8(o + 5), reserved: v.getUint16(o + 6, true), sa };
    }
    case 'key_auth':
    case 'key_encrypt': {
      need(span, Size.sadb_key, 'key');
      const bits = v.getUint16(o + 4, true);
      const n = Math.min(Math.ceil(bits / 8), span.length - Size.sadb_key);
      return { kind, bits, reserved: v.getUint16(o + 6, true), data: bytesOf(ix, o + 8, o + 8 + n) };
    }
    case 'spirange':
      need(span, Size.sadb_spirange, 'SPI range');
      return { kind, min: v.getUint32(o + 4, true), max: v.getUint32(o + 8, true), reserved: v.getUint32(o + 12, true) };
    case 'policy':
      need(span, Size.sadb_x_policy, 'policy');
      return {
        kind,
        ptype: v.getUint16(o + 4, true),
        dir: v.getUint8(o + 6),
        reserved: v.getUint8(o + 7),
        id: v.getUint32(o + 8, true),
        priority: v.getUint32(o + 12, true),
        requests: readRequests(ix, o + Size.sadb_x_policy, o + span.length),
      };
    case 'sa2':
      need(span, Size.sadb_x_sa2, 'SA2');
      return { kind, mode: v.getUint8(o + 4), reserved1: v.getUint8(o + 5), reserved2: v.getUint16(o + 6, true), sequence: v.getUint32(o + 8, true), reqid: v.getUint32(o + 12, true) };
    case 'nat_t_type':
      need(span, Size.sadb_x_nat_t_type, 'NAT-T type');
      return { kind, natType: v.getUint8(o + 4) };
    case 'nat_t_sport':
    case 'nat_t_dport':
      need(span, Size.sadb_x_nat_t_port, 'NAT-T port');
      return { kind, port: v.getUint16(o + 4, false) };
    case 'sec_ctx': {
      need(span, Size.sadb_x_sec_ctx, 'security context');
      const ctxLen = v.getUint16(o + 6, true);
      const n = Math.min(ctxLen, span.length - Size.sadb_x_sec_ctx);
      return { kind, alg: v.getUint8(o + 4), doi: v.getUint8(o + 5), ctxLen, ctx: bytesOf(ix, o + 8, o + 8 + n) };
    }
    case 'supported_auth':
    case 'supported_encrypt': {
      need(span, Size.sadb_supported, 'supported');
      const algs: SupportedAlg[] = [];
      for (let p = o + Size.sadb_supported; p + Size.sadb_alg <= o + span.length; p += Size.sadb_alg) {
        algs.push({ id: v.getUint8(p), ivlen: v.getUint8(p + 1), minbits: v.getUint16(p + 2, true), maxbits: v.getUint16(p + 4, true) });
      }
      return { kind, algs };
    }
    default:
      return { kind: 'raw', exttype: span.type, body: bytesOf(ix, o + 4, o + span.length) };
  }
}

/** All three steps: a whole message, or a DecodeError. */
export function decodeMessage(b: Uint8Array, platform: Platform = 'linux'): SadbMsg {
  const ix = indexMessage(b, platform);
  checkMessage(ix);
  return { header: ix.header, exts: ix.order.map((s) => readExt(ix, s)) };
}
