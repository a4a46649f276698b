/**
 * A file of new SAs and policies installed over XFRM as its check reads it:
 * each statement of the common case (scan.ts reads it into numbers, as for
 * the engine's bulk load) written straight into the XFRM_MSG_NEWSA or
 * NEWPOLICY payload the XFRM backend would send for its command
 * (backends/xfrm.ts prepare: saToXfrm or policyToXfrm, then the structs'
 * encoders), and held until the check has read the whole file; only then
 * is anything sent (nothing is applied of a file with an error).
 *
 * The usual apply parsed each statement again into a command and
 * translated it through objects: in the emulated test VM, of an install of
 * 10k SAs + 10k policies (10.4 s profiled), the second parse took 2.7 s
 * and the translation 1.5 s, against 1.9 s for the kernel's own work.
 *
 * Anything this does not write (IPv6, lifetimes, IPComp, AEAD, a policy
 * whose reqid the kernel's SPD must be walked for, more than can be held)
 * is a BulkConflict: nothing is sent, and the file is applied the usual
 * way. test/xfrm-load.test.ts holds every payload to the one the usual
 * apply sends for the parser's command.
 */
import { BulkConflict } from '../engine/sorted-layer.js';
import { putU32, putU32BE } from '../engine/u64.js';
import type { BulkLoader, BulkPolicy, BulkSa } from '../engine/bulk-load.js';
import { algorithmById, type Algorithm } from '../model/algorithms.js';
import { Action, IpProto, Level, Mode, SaType } from '../model/tables.js';
import { AF } from '../pfkey/constants.js';
import { IPPROTO_AH, IPPROTO_ESP, XSize, Xfrma, XfrmAction, XfrmMsg, XfrmStateFlag, XFRMA_REPLAY_ESN_MAX } from '../xfrm/constants.js';
import { emptySelector, encodeReplayEsn, encodeUserpolicyInfo, encodeUsersaInfo, infiniteLifetime, zeroCur } from '../xfrm/structs.js';
import { xfrmMode } from '../xfrm/sa.js';

/** A statement this does not write: nothing is sent, the file is applied the usual way. */
export class NotXfrmBulk extends BulkConflict {}

/** The payloads held at most (~200k statements): past it, the file is applied the usual way (memory). */
const MAX_HELD = 64 << 20;
/** The text a load is tried for at most, where its size is known: its requests take ~2.5 times its bytes (MAX_HELD). */
export const MAX_LOAD_TEXT = 24 << 20;
/** the requests' chunks */
const CHUNK = 1 << 20;

// what saToXfrm and policyToXfrm give every such entry, encoded once; the rest is written over it
const SA_FIXED = encodeUsersaInfo({
  sel: emptySelector(AF.INET),
  id: { daddr: new Uint8Array(16), spi: 0, proto: 0 },
  saddr: new Uint8Array(16),
  lft: infiniteLifetime(),
  curlft: zeroCur(),
  stats: { replayWindow: 0, replay: 0, integrityFailed: 0 },
  seq: 0,
  reqid: 0,
  family: AF.INET,
  mode: 0,
  replayWindow: 0,
  flags: 0,
});
const POLICY_FIXED = encodeUserpolicyInfo({ sel: emptySelector(AF.INET), lft: infiniteLifetime(), curlft: zeroCur(), priority: 0, index: 0, dir: 0, action: 0, flags: 0, share: 0 });

/** XFRM's names of the algorithms, as bytes, by kind and Linux PF_KEY number (from the one registry) */
const NAMES = { enc: new Map<number, Uint8Array>(), auth: new Map<number, Uint8Array>() };
function xfrmAlgorithm(kind: 'enc' | 'auth', id: number): { a: Algorithm; name: Uint8Array } {
  const a = algorithmById(kind, 'linux', id);
  // one the kernel has no XFRM name for is refused by the usual apply (ENOSYS); AEAD is written otherwise
  if (!a || !a.xfrm || a.aead) throw new NotXfrmBulk('an algorithm beyond the common case');
  let name = NAMES[kind].get(id);
  if (!name) NAMES[kind].set(id, (name = Uint8Array.from(Buffer.from(a.xfrm, 'latin1'))));
  return { a, name };
}

function hexValue(c: number): number {
  // the quick check found only hex digits
  return c <= 57 ? c - 48 : (c | 32) - 87;
}

/**
 * Requests written one after the other into one growing buffer: each a
 * netlink message type and its payload (what writeMessage puts after the
 * header).
 */
export class XfrmLoad implements BulkLoader {
  /** `maxHeld`: bytes of requests held at most (a test's smaller) */
  constructor(private readonly maxHeld = MAX_HELD) {}

  /** the requests are written into chunks of CHUNK bytes, one after the other (none spans two: nothing is copied as they grow) */
  private readonly chunks: Uint8Array[] = [];
  private buf = new Uint8Array(0);
  /** where the next request starts in buf, and the bytes held in all */
  private used = 0;
  private held = 0;
  /** each request's type, its chunk, and where it starts and ends there */
  private readonly types: number[] = [];
  private readonly chunkOf: number[] = [];
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  get count(): number {
    return this.types.length;
  }

  /** Request `i`: its type and payload (a view of the held bytes). */
  request(i: number): { readonly type: number; readonly payload: Uint8Array } {
    return { type: this.types[i]!, payload: this.chunks[this.chunkOf[i]!]!.subarray(this.starts[i]!, this.ends[i]!) };
  }

  /** Room for `n` more bytes at `used`, zeroed (a new chunk when this one is full). */
  private room(n: number): Uint8Array {
    if (this.held + n > this.maxHeld) throw new NotXfrmBulk('more requests than are held at once');
    if (this.used + n > this.buf.length) {
      this.buf = new Uint8Array(Math.max(CHUNK, n));
      this.chunks.push(this.buf);
      this.used = 0;
    }
    return this.buf;
  }

  private done(type: number, end: number): void {
    this.types.push(type);
    this.chunkOf.push(this.chunks.length - 1);
    this.starts.push(this.used);
    this.ends.push(end);
    this.held += end - this.used;
    this.used = end;
  }

  /** An algorithm attribute (xfrm_algo, or xfrm_algo_auth with its ICV bits) of a key in hex digits; where it ends. */
  private algo(b: Uint8Array, at: number, type: number, name: Uint8Array, icvBits: number | undefined, text: string, keyAt: number, digits: number): number {
    const head = icvBits === undefined ? XSize.algo : XSize.algoAuth;
    const len = 4 + head + digits / 2;
    b[at] = len & 255;
    b[at + 1] = len >>> 8;
    b[at + 2] = type;
    b.set(name, at + 4);
    putU32(b, at + 4 + 64, digits * 4);
    if (icvBits !== undefined) putU32(b, at + 4 + 68, icvBits);
    let k = at + 4 + head;
    for (let i = 0; i < digits; i += 2) b[k++] = (hexValue(text.charCodeAt(keyAt + i)) << 4) | hexValue(text.charCodeAt(keyAt + i + 1));
    return at + ((len + 3) & ~3);
  }

  sa(s: BulkSa): void {
    const proto = s.satype === SaType.ESP ? IPPROTO_ESP : s.satype === SaType.AH ? IPPROTO_AH : 0;
    if (proto === 0 || s.ekeyDigits % 2 !== 0 || s.akeyDigits % 2 !== 0) throw new NotXfrmBulk('an SA beyond the common case');
    const enc = s.ealg !== 0 ? xfrmAlgorithm('enc', s.ealg) : undefined;
    const auth = s.aalg !== 0 ? xfrmAlgorithm('auth', s.aalg) : undefined;
    // a window over 32 is XFRMA_REPLAY_ESN_VAL's, the legacy byte then 0 (saToXfrm)
    if (s.replay > XFRMA_REPLAY_ESN_MAX) throw new NotXfrmBulk('a replay window the kernel refuses');
    const esn = s.replay > 32 ? encodeReplayEsn({ oseq: 0, seq: 0, oseqHi: 0, seqHi: 0, replayWindow: s.replay, bmp: new Uint32Array(Math.ceil(s.replay / 32)) }) : undefined;
    const size = XSize.usersaInfo + (enc ? 4 + XSize.algo + s.ekeyDigits / 2 + 3 : 0) + (auth ? 4 + XSize.algoAuth + s.akeyDigits / 2 + 3 : 0) + (esn ? 4 + esn.length + 3 : 0);
    const b = this.room(size);
    const at = this.used;
    b.set(SA_FIXED, at);
    // xfrm_usersa_info: id (daddr, spi, proto), saddr, reqid, mode, replay_window, flags (structs.ts writeUsersaInfo)
    putU32BE(b, at + 56, s.dst);
    putU32BE(b, at + 72, s.spi);
    b[at + 76] = proto;
    putU32BE(b, at + 80, s.src);
    putU32(b, at + 208, s.reqid);
    b[at + 214] = xfrmMode(s.mode);
    b[at + 215] = esn ? 0 : s.replay;
    b[at + 216] = (s.flags & 0x80000000 ? XfrmStateFlag.NOECN : 0) | (s.flags & 0x40000000 ? XfrmStateFlag.DECAP_DSCP : 0) | (s.flags & 0x20000000 ? XfrmStateFlag.NOPMTUDISC : 0);
    let w = at + XSize.usersaInfo;
    if (enc) w = this.algo(b, w, Xfrma.ALG_CRYPT, enc.name, undefined, s.etext, s.ekeyAt, s.ekeyDigits);
    // the truncation explicit (saToXfrm): hmac-sha256 is 96 bits as the man page says
    if (auth) w = this.algo(b, w, Xfrma.ALG_AUTH_TRUNC, auth.name, auth.a.icvBits ?? 0, s.atext, s.akeyAt, s.akeyDigits);
    if (esn) {
      const len = 4 + esn.length;
      b[w] = len & 255;
      b[w + 1] = len >>> 8;
      b[w + 2] = Xfrma.REPLAY_ESN_VAL;
      b.set(esn, w + 4);
      w += (len + 3) & ~3;
    }
    // (each attribute's padding is the message's: netlink.ts messageLength)
    this.done(XfrmMsg.NEWSA, w);
  }

  policy(p: BulkPolicy): void {
    if (p.dir < 1 || p.dir > 3 || (p.action !== Action.DISCARD && p.action !== Action.NONE && p.action !== Action.IPSEC)) throw new NotXfrmBulk('a policy beyond the common case');
    const tmpls = p.action === Action.IPSEC ? p.count : 0;
    // af_key answers a 7th template with ELOOP (policyToXfrm)
    if (tmpls > 6) throw new NotXfrmBulk('more templates than the kernel takes');
    const size = XSize.userpolicyInfo + (tmpls ? 4 + tmpls * XSize.userTmpl : 0);
    const b = this.room(size);
    const at = this.used;
    b.set(POLICY_FIXED, at);
    // the selector (selectorToXfrm: 255 is any protocol, a port of 0 any port)
    putU32BE(b, at, p.dst);
    putU32BE(b, at + 16, p.src);
    if (p.dport) {
      b[at + 32] = p.dport >>> 8;
      b[at + 33] = p.dport & 255;
      b[at + 34] = b[at + 35] = 255;
    }
    if (p.sport) {
      b[at + 36] = p.sport >>> 8;
      b[at + 37] = p.sport & 255;
      b[at + 38] = b[at + 39] = 255;
    }
    b[at + 42] = p.dprefix;
    b[at + 43] = p.sprefix;
    b[at + 44] = p.proto === IpProto.ANY ? 0 : p.proto;
    putU32(b, at + 152, p.priority);
    b[at + 160] = p.dir - 1;
    b[at + 161] = p.action === Action.DISCARD ? XfrmAction.BLOCK : XfrmAction.ALLOW;
    let w = at + XSize.userpolicyInfo;
    if (tmpls) {
      const len = 4 + tmpls * XSize.userTmpl;
      b[w] = len & 255;
      b[w + 1] = len >>> 8;
      b[w + 2] = Xfrma.TMPL;
      w += 4;
      for (let i = 0; i < tmpls; i++, w += XSize.userTmpl) {
        const t = p.templates[i]!;
        if (t.mode === Mode.ANY) throw new NotXfrmBulk('a template in mode any');
        // a unique template without a usable reqid takes one no policy uses: the SPD is walked for it (the usual apply)
        if (t.level === Level.UNIQUE && !(t.reqid > 0 && t.reqid <= 0x3fff)) throw new NotXfrmBulk('a reqid the kernel is to be asked for');
        // xfrm_user_tmpl (structs.ts writeUserTmpl): id (daddr, spi, proto), family, saddr, reqid, mode, share, optional, algorithms
        b.fill(0, w, w + XSize.userTmpl);
        const tunnel = t.mode === Mode.TUNNEL && t.ends;
        if (tunnel) {
          putU32BE(b, w, t.dst);
          putU32BE(b, w + 28, t.src);
        }
        b[w + 20] = t.proto;
        b[w + 24] = AF.INET;
        putU32(b, w + 44, t.level === Level.UNIQUE ? t.reqid : 0);
        b[w + 48] = xfrmMode(t.mode);
        b[w + 50] = t.level === Level.USE ? 1 : 0;
        b.fill(255, w + 52, w + 64);
      }
    }
    this.done(XfrmMsg.NEWPOLICY, w);
  }
}
