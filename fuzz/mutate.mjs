/**
 * Input generation for the PF_KEY fuzzer (fuzz/fuzz.mjs): a seedable PRNG,
 * the seed corpus (golden messages plus messages encoded from random valid
 * commands) and the mutators. Everything here is deterministic: input #i of a
 * run with seed S depends only on S, i and the seed corpus.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

// ---------------------------------------------------------------- PRNG

/** mulberry32: a small, fast, seedable 32-bit generator. */
export function mulberry32(seed) {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A 32-bit hash of (seed, index), so that every input has its own stream. */
export function mix(seed, index) {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(index | 0, 0x85ebca6b) ^ Math.imul(Math.floor(index / 0x100000000), 0xc2b2ae35)) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

export class Rng {
  constructor(seed) {
    this.next = mulberry32(seed);
  }
  u32() {
    return this.next();
  }
  /** integer in [0, n) */
  int(n) {
    return n <= 0 ? 0 : Math.floor((this.next() / 4294967296) * n);
  }
  /** integer in [lo, hi] */
  range(lo, hi) {
    return lo + this.int(hi - lo + 1);
  }
  chance(p) {
    return this.next() / 4294967296 < p;
  }
  pick(arr) {
    return arr[this.int(arr.length)];
  }
  bytes(n) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.next() & 0xff;
    return b;
  }
}

// ---------------------------------------------------------------- byte helpers

export const PLATFORMS = ['linux', 'freebsd', 'xnu'];
const INTERESTING8 = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe, 0x02, 0x10];
const INTERESTING16 = [0, 1, 2, 3, 7, 8, 15, 16, 255, 0x7fff, 0x8000, 0xfffe, 0xffff];
const INTERESTING32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 0x100, 0x3fff];
const FAMILIES = [2, 10, 28, 30, 0, 1, 255];

function u16(b, o) {
  return o + 1 < b.length ? b[o] | (b[o + 1] << 8) : -1;
}
function put16(b, o, v) {
  if (o >= 0 && o < b.length) b[o] = v & 0xff;
  if (o + 1 >= 0 && o + 1 < b.length) b[o + 1] = (v >>> 8) & 0xff;
}
function put32(b, o, v) {
  for (let k = 0; k < 4; k++) if (o + k >= 0 && o + k < b.length) b[o + k] = (v >>> (8 * k)) & 0xff;
}
function concat(parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The extensions of one message as far as their lengths make sense (no trust in the message length). */
export function extsOf(b) {
  const out = [];
  let p = 16;
  while (p + 4 <= b.length) {
    const len = u16(b, p) * 8;
    if (len < 8 || p + len > b.length) break;
    out.push({ off: p, len, type: u16(b, p + 2) });
    p += len;
  }
  return out;
}

/** Rewrite the message length to the real (8-byte-rounded) length, padding with zeros. */
export function fixLength(b) {
  const n = Math.min(0xffff * 8, (b.length + 7) & ~7);
  const out = n === b.length ? b : new Uint8Array(n);
  if (out !== b) out.set(b.subarray(0, n));
  if (out.length >= 6) put16(out, 4, n / 8);
  return out;
}

function rebuild(b, exts) {
  return concat([b.subarray(0, Math.min(16, b.length)), ...exts]);
}

/** Split a buffer of concatenated messages (u16 LE at +4, in 8-byte units) into messages and leftovers. */
export function splitConcat(buf) {
  const msgs = [];
  let off = 0;
  while (buf.length - off >= 16) {
    const len = u16(buf, off + 4) * 8;
    if (len < 16 || off + len > buf.length) break;
    msgs.push(buf.slice(off, off + len));
    off += len;
  }
  return { msgs, rest: buf.slice(off) };
}

// ---------------------------------------------------------------- synthetic extensions

function sockaddr(rng, platform, family) {
  const linux = platform === 'linux';
  const f = family ?? rng.pick([2, 2, linux ? 10 : platform === 'freebsd' ? 28 : 30, rng.pick(FAMILIES)]);
  const v6 = f === 10 || f === 28 || f === 30;
  const size = v6 ? 28 : rng.chance(0.9) ? 16 : rng.pick([4, 8, 12, 20, 24, 32]);
  const sa = rng.chance(0.5) ? new Uint8Array(size) : rng.bytes(size);
  if (linux) put16(sa, 0, f);
  else {
    sa[0] = rng.chance(0.85) ? size : rng.u32() & 0xff;
    sa[1] = f & 0xff;
  }
  return sa;
}

function ext(type, body) {
  const len = (4 + body.length + 7) & ~7;
  const e = new Uint8Array(len);
  put16(e, 0, len / 8);
  put16(e, 2, type);
  e.set(body, 4);
  return e;
}

function policyBody(rng, platform) {
  const linux = platform === 'linux';
  const hdr = linux ? 16 : 8;
  const head = new Uint8Array(12);
  put16(head, 0, rng.chance(0.7) ? 2 : rng.range(0, 6)); // ptype
  head[2] = rng.range(0, 6); // dir
  put32(head, 4, rng.chance(0.5) ? rng.range(0, 40) : rng.u32()); // id
  put32(head, 8, rng.pick([0, 0x80000000, 0x7fffffff, 0xc0000000, rng.u32()])); // priority
  const reqs = [];
  const n = rng.pick([0, 1, 1, 2, 3]);
  for (let k = 0; k < n; k++) {
    // tunnel requests carry two sockaddrs; also try none, one, three
    const na = rng.pick([0, 0, 2, 2, 2, 1, 3]);
    const addrs = [];
    for (let a = 0; a < na; a++) addrs.push(sockaddr(rng, platform));
    const r = new Uint8Array(hdr + addrs.reduce((s, a) => s + a.length, 0));
    put16(r, 0, r.length);
    put16(r, 2, rng.pick([50, 51, 108, rng.u32() & 0xffff]));
    r[4] = rng.range(0, 3);
    r[5] = rng.range(0, 4);
    if (linux) put32(r, 8, rng.pick([0, 1, 0x3fff, 0x4000, rng.u32()]));
    else put16(r, 6, rng.pick([0, 1, 0x3fff, 0x4000, rng.u32() & 0xffff]));
    let o = hdr;
    for (const a of addrs) {
      r.set(a, o);
      o += a.length;
    }
    reqs.push(r);
  }
  if (reqs.length && rng.chance(0.15)) {
    // odd request lengths (still adding up): a request cut short, the last one absorbing the padding
    const k = rng.int(reqs.length);
    reqs[k] = reqs[k].slice(0, rng.range(2, reqs[k].length));
    put16(reqs[k], 0, reqs[k].length);
    const total = 16 + reqs.reduce((n, r) => n + r.length, 0);
    const pad = (8 - (total % 8)) % 8;
    const last = reqs.length - 1;
    if (pad) {
      reqs[last] = concat([reqs[last], new Uint8Array(pad)]);
      put16(reqs[last], 0, reqs[last].length);
    }
  }
  return concat([head, ...reqs]);
}

/** Message types the printers route on (postproc: GET, DUMP, SPDGET, SPDDUMP), or any. */
function msgType(rng) {
  return rng.chance(0.5) ? rng.pick([5, 10, 16, 18]) : rng.chance(0.9) ? rng.range(0, 28) : rng.u32() & 0xff;
}

/** A plausible (or deliberately odd) extension of a random type. */
export function randomExt(rng, platform) {
  const type = rng.chance(0.9) ? rng.range(1, 31) : rng.pick([0, 32, 255, 0xffff, rng.u32() & 0xffff]);
  let body;
  switch (type) {
    case 5:
    case 6:
    case 7:
    case 23:
    case 24: {
      if (type === 24 && platform === 'linux' && rng.chance(0.6)) {
        // sec_ctx: alg, doi, u16 ctx_len, then the context
        const ctx = rng.bytes(rng.range(0, 40));
        body = concat([new Uint8Array([rng.u32() & 0xff, rng.u32() & 0xff, 0, 0]), ctx]);
        put16(body, 2, rng.chance(0.7) ? ctx.length : rng.pick(INTERESTING16));
        break;
      }
      const head = new Uint8Array([rng.pick([0, 6, 17, 1, 58, 255, rng.u32() & 0xff]), rng.pick([32, 128, 0, 255, rng.u32() & 0xff]), 0, 0]);
      body = concat([head, sockaddr(rng, platform)]);
      break;
    }
    case 8:
    case 9: {
      const key = rng.bytes(rng.pick([0, 1, 8, 16, 20, 32, 64]));
      body = concat([new Uint8Array(4), key]);
      put16(body, 0, rng.chance(0.6) ? key.length * 8 : rng.pick(INTERESTING16));
      break;
    }
    case 14:
    case 15: {
      const n = rng.range(0, 5);
      body = concat([new Uint8Array(4), rng.bytes(n * 8)]);
      break;
    }
    case 18:
      body = policyBody(rng, platform);
      break;
    case 25: {
      body = concat([new Uint8Array(4), sockaddr(rng, platform), sockaddr(rng, platform)]);
      break;
    }
    default: {
      const size = rng.pick([4, 12, 12, 28, 4, 20, 36, rng.range(0, 64)]);
      body = rng.chance(0.3) ? new Uint8Array(size) : rng.bytes(size);
    }
  }
  return ext(type, body);
}

function plausibleHeader(rng) {
  const h = new Uint8Array(16);
  h[0] = rng.chance(0.9) ? 2 : rng.u32() & 0xff;
  h[1] = msgType(rng);
  h[2] = rng.chance(0.85) ? 0 : rng.pick([2, 1, 17, 22, 255, rng.u32() & 0xff]);
  h[3] = rng.chance(0.9) ? rng.pick([0, 1, 2, 3, 4, 5, 9, 10, 11, 12]) : rng.u32() & 0xff;
  put16(h, 6, rng.u32() & 0xffff);
  put32(h, 8, rng.u32());
  put32(h, 12, rng.u32());
  return h;
}

// ---------------------------------------------------------------- mutators

/** Each mutator takes (rng, bytes, ctx) and returns new bytes (never edits a seed in place). */
const M = {
  bitflip(rng, b, ctx) {
    if (b.length === 0) return b;
    const out = b.slice();
    for (let n = rng.range(1, 8); n > 0; n--) {
      const i = rng.int(out.length);
      out[i] ^= 1 << rng.int(8);
    }
    return out;
  },
  byteset(rng, b, ctx) {
    if (b.length === 0) return b;
    const out = b.slice();
    const ex = extsOf(out);
    for (let n = rng.range(1, 4); n > 0; n--) {
      let i;
      if (rng.chance(0.3)) i = rng.int(Math.min(16, out.length));
      else if (ex.length && rng.chance(0.4)) {
        const e = rng.pick(ex);
        i = e.off + rng.int(Math.min(e.len, 12));
      } else i = rng.int(out.length);
      out[i] = rng.chance(0.85) ? rng.pick(INTERESTING8) : rng.u32() & 0xff;
    }
    return out;
  },
  wordset(rng, b, ctx) {
    if (b.length < 2) return b;
    const out = b.slice();
    const i = rng.chance(0.5) ? rng.int(out.length - 1) & ~1 : rng.int(out.length - 1);
    switch (rng.int(3)) {
      case 0:
        put16(out, i, rng.pick(INTERESTING16));
        break;
      case 1:
        put32(out, i, rng.pick(INTERESTING32));
        break;
      default: {
        // a u64 (lifetimes: bytes, addtime, usetime) set to an extreme
        const v = rng.pick([0xff, 0x00, 0x80]);
        const at = rng.int(out.length) & ~7;
        for (let k = 0; k < 8 && at + k < out.length; k++) out[at + k] = k === 7 && v === 0x80 ? 0x80 : v === 0x80 ? 0 : v;
      }
    }
    return out;
  },
  truncate(rng, b, ctx) {
    if (b.length === 0) return b;
    const ex = extsOf(b);
    let n;
    if (ex.length && rng.chance(0.4)) {
      const e = rng.pick(ex);
      n = e.off + rng.pick([0, 1, 2, 3, 4, 7, 8, e.len - 1, e.len - 4, rng.int(e.len)]);
    } else n = rng.chance(0.2) ? rng.pick([0, 1, 4, 8, 15, 16, 17, 20, 24]) : rng.int(b.length);
    n = Math.max(0, Math.min(b.length, n));
    const out = b.slice(0, n);
    return rng.chance(0.3) ? fixLength(out) : out;
  },
  extend(rng, b, ctx) {
    const add = rng.chance(0.5) ? new Uint8Array(rng.range(1, 64)) : rng.bytes(rng.range(1, 64));
    const out = concat([b, add]);
    return rng.chance(0.5) ? fixLength(out) : out;
  },
  extlen(rng, b, ctx) {
    const ex = extsOf(b);
    if (!ex.length) return M.byteset(rng, b, ctx);
    const out = b.slice();
    const e = rng.pick(ex);
    const units = e.len / 8;
    put16(out, e.off, rng.pick([0, 1, 2, 0xffff, 0x8000, 0x7fff, units - 1, units + 1, units + 2, 255, rng.u32() & 0xffff]));
    return out;
  },
  msglen(rng, b, ctx) {
    if (b.length < 6) return b;
    const out = b.slice();
    const real = Math.floor(b.length / 8);
    put16(out, 4, rng.pick([real, real, Math.ceil(b.length / 8), real - 1, real + 1, real + 100, 0, 1, 2, 3, 0xffff, 0x8000, rng.u32() & 0xffff]));
    return out;
  },
  dupext(rng, b, ctx) {
    const ex = extsOf(b);
    if (!ex.length) return M.insertext(rng, b, ctx);
    const parts = ex.map((e) => b.subarray(e.off, e.off + e.len));
    const k = rng.int(parts.length);
    parts.splice(rng.int(parts.length + 1), 0, parts[k]);
    return fixLength(rebuild(b, parts));
  },
  removeext(rng, b, ctx) {
    const ex = extsOf(b);
    if (!ex.length) return M.truncate(rng, b, ctx);
    const parts = ex.map((e) => b.subarray(e.off, e.off + e.len));
    for (let n = rng.chance(0.8) ? 1 : rng.range(1, parts.length); n > 0 && parts.length; n--) parts.splice(rng.int(parts.length), 1);
    const out = rebuild(b, parts);
    return rng.chance(0.85) ? fixLength(out) : out;
  },
  reorder(rng, b, ctx) {
    const ex = extsOf(b);
    if (ex.length < 2) return M.dupext(rng, b, ctx);
    const parts = ex.map((e) => b.subarray(e.off, e.off + e.len));
    if (rng.chance(0.5)) {
      const i = rng.int(parts.length);
      const j = rng.int(parts.length);
      [parts[i], parts[j]] = [parts[j], parts[i]];
    } else {
      for (let i = parts.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [parts[i], parts[j]] = [parts[j], parts[i]];
      }
    }
    return fixLength(rebuild(b, parts));
  },
  splice(rng, b, ctx) {
    // extensions from another seed message, inserted or replacing ours
    const other = ctx.pickSeed(rng).bytes;
    const oex = extsOf(other);
    if (!oex.length) return M.insertext(rng, b, ctx);
    const ex = extsOf(b);
    const parts = ex.map((e) => b.subarray(e.off, e.off + e.len));
    for (let n = rng.range(1, 3); n > 0; n--) {
      const e = rng.pick(oex);
      const piece = other.subarray(e.off, e.off + e.len);
      if (parts.length && rng.chance(0.4)) parts[rng.int(parts.length)] = piece;
      else parts.splice(rng.int(parts.length + 1), 0, piece);
    }
    return fixLength(rebuild(b, parts));
  },
  splicebytes(rng, b, ctx) {
    // a raw byte range of another seed over ours (not aligned to anything)
    const other = ctx.pickSeed(rng).bytes;
    if (!other.length || !b.length) return b;
    const from = rng.int(other.length);
    const n = rng.range(1, Math.min(64, other.length - from));
    const at = rng.int(b.length);
    const out = b.slice();
    out.set(other.subarray(from, from + Math.min(n, out.length - at)), at);
    return out;
  },
  insertext(rng, b, ctx) {
    const ex = extsOf(b);
    const parts = ex.map((e) => b.subarray(e.off, e.off + e.len));
    for (let n = rng.range(1, 2); n > 0; n--) parts.splice(rng.int(parts.length + 1), 0, randomExt(rng, ctx.platform));
    const base = b.length >= 16 ? b : concat([b, new Uint8Array(16 - b.length)]);
    const out = rebuild(base, parts);
    return rng.chance(0.9) ? fixLength(out) : out;
  },
  exttype(rng, b, ctx) {
    const ex = extsOf(b);
    if (!ex.length) return M.insertext(rng, b, ctx);
    const out = b.slice();
    const e = rng.pick(ex);
    const other = rng.pick(ex).type;
    put16(out, e.off + 2, rng.pick([other, rng.range(0, 32), rng.range(1, 26), 0, 0xffff, 26, 27, 31, rng.u32() & 0xffff]));
    return out;
  },
  policyreq(rng, b, ctx) {
    const ex = extsOf(b).filter((e) => e.type === 18);
    if (!ex.length || rng.chance(0.25)) {
      // no policy yet (or replace it): a fresh one, usually last in the message, then maybe break it
      const p = ext(18, policyBody(rng, ctx.platform));
      const others = extsOf(b).filter((e) => e.type !== 18 || rng.chance(0.2)).map((e) => b.subarray(e.off, e.off + e.len));
      others.splice(rng.chance(0.7) ? others.length : rng.int(others.length + 1), 0, p);
      const out = fixLength(rebuild(b.length >= 16 ? b : concat([b, new Uint8Array(16 - b.length)]), others));
      return rng.chance(0.4) ? M.policyreq(rng, out, ctx) : out;
    }
    const out = b.slice();
    const e = ex[0];
    // walk the requests; pick one of them (or the spot right after the policy header)
    const starts = [];
    for (let p = e.off + 16; p + 2 <= e.off + e.len; ) {
      starts.push(p);
      const l = u16(out, p);
      if (l <= 0) break;
      p += l;
    }
    if (!starts.length) {
      put16(out, e.off + 4, rng.chance(0.5) ? 2 : rng.pick(INTERESTING16)); // ptype
      return out;
    }
    const at = rng.pick(starts);
    switch (rng.int(5)) {
      case 0:
      case 1:
        put16(out, at, rng.pick([0, 1, 8, 15, 16, 255, 0xffff, 24, 32, 40, 44, 72, rng.u32() & 0xffff]));
        break;
      case 2:
        put16(out, at + 2, rng.pick([50, 51, 108, 0, 255, rng.u32() & 0xffff])); // proto
        break;
      case 3:
        if (at + 5 < out.length) out[at + 4 + rng.int(2)] = rng.pick([0, 1, 2, 3, 4, 255, rng.u32() & 0xff]); // mode, level
        break;
      default:
        put16(out, e.off + 4, rng.pick([0, 1, 2, 3, 4, 5, 0xffff])); // ptype
        if (e.off + 6 < out.length) out[e.off + 6] = rng.pick([0, 1, 2, 3, 4, 5, 6, 255]); // dir
    }
    return out;
  },
  family(rng, b, ctx) {
    // a sockaddr family: in an address extension, or inside a policy request
    const ex = extsOf(b);
    const spots = [];
    for (const e of ex) {
      if ([5, 6, 7, 23, 24, 25].includes(e.type) && e.len >= 10) spots.push(e.off + 8);
      if (e.type === 25 && e.len >= 24) spots.push(e.off + 24);
      if (e.type === 18) {
        for (let p = e.off + 16, guard = 0; p + 2 <= e.off + e.len && guard < 16; guard++) {
          const l = u16(b, p);
          spots.push(p + 16, p + 8, p + 32, p + 44);
          if (l <= 0) break;
          p += l;
        }
      }
    }
    if (!spots.length) return M.insertext(rng, b, ctx);
    const out = b.slice();
    const at = rng.pick(spots);
    const f = rng.chance(0.8) ? rng.pick(FAMILIES) : rng.u32() & 0xff;
    switch (rng.int(3)) {
      case 0:
        put16(out, at, f); // Linux sa_family
        break;
      case 1:
        if (at + 1 < out.length) out[at + 1] = f; // BSD sa_family
        break;
      default:
        if (at < out.length) out[at] = rng.pick([0, 1, 2, 4, 16, 28, 255, rng.u32() & 0xff]); // BSD sa_len
    }
    return out;
  },
  keybits(rng, b, ctx) {
    const ex = extsOf(b).filter((e) => e.type === 8 || e.type === 9);
    if (!ex.length) return M.insertext(rng, b, ctx);
    const out = b.slice();
    const e = rng.pick(ex);
    put16(out, e.off + 4, rng.pick([0xffff, 0x8000, 0x7fff, 0xfff8, (e.len - 8) * 8 + 1, (e.len - 8) * 8 + 8, 0, 1, 7, rng.u32() & 0xffff]));
    return out;
  },
  secctx(rng, b, ctx) {
    const ex = extsOf(b).filter((e) => e.type === 24);
    if (!ex.length) {
      const body = concat([new Uint8Array([1, 1, 0, 0]), rng.bytes(rng.range(0, 24))]);
      put16(body, 2, rng.pick([0xffff, body.length - 4, 0x8000]));
      const out = fixLength(rebuild(b.length >= 16 ? b : concat([b, new Uint8Array(16 - b.length)]), [...extsOf(b).map((e) => b.subarray(e.off, e.off + e.len)), ext(24, body)]));
      return out;
    }
    const out = b.slice();
    const e = rng.pick(ex);
    put16(out, e.off + 6, rng.pick([0xffff, 0x8000, 0x7fff, e.len - 8, e.len - 7, e.len, 0, 1, rng.u32() & 0xffff]));
    return out;
  },
  header(rng, b, ctx) {
    if (b.length < 4) return b;
    const out = b.slice();
    switch (rng.int(4)) {
      case 0:
        out[0] = rng.pick([2, 1, 3, 0, 255]);
        break;
      case 1:
        out[1] = msgType(rng);
        break;
      case 2:
        out[2] = rng.pick([0, 1, 2, 17, 22, 255, rng.u32() & 0xff]);
        break;
      default:
        out[3] = rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 255]);
    }
    return out;
  },
  concatmsg(rng, b, ctx) {
    // several messages in one buffer (splitMessages), sometimes with junk after
    const parts = [b];
    for (let n = rng.range(1, 3); n > 0; n--) parts.push(ctx.pickSeed(rng).bytes);
    if (rng.chance(0.3)) parts.push(rng.bytes(rng.range(1, 20)));
    return concat(parts);
  },
};

const WEIGHTED = [
  ['bitflip', 10],
  ['byteset', 10],
  ['wordset', 6],
  ['truncate', 6],
  ['extend', 3],
  ['extlen', 8],
  ['msglen', 6],
  ['dupext', 4],
  ['removeext', 5],
  ['reorder', 4],
  ['splice', 5],
  ['splicebytes', 3],
  ['insertext', 6],
  ['exttype', 5],
  ['policyreq', 9],
  ['family', 8],
  ['keybits', 4],
  ['secctx', 3],
  ['header', 6],
  ['concatmsg', 2],
];
const TABLE = WEIGHTED.flatMap(([name, w]) => Array(w).fill(name));
export const MUTATORS = WEIGHTED.map(([name]) => name);

export function mutate(rng, b, ctx) {
  let out = b;
  const n = rng.chance(0.5) ? 1 : rng.chance(0.6) ? 2 : rng.range(3, 6);
  const applied = [];
  for (let k = 0; k < n; k++) {
    const name = rng.pick(TABLE);
    applied.push(name);
    out = M[name](rng, out, ctx);
    if (out.length > 4096) out = out.subarray(0, 4096);
  }
  return { bytes: out, how: applied.join('+') };
}

/** A seed grown to a large message (up to the 512 KiB the u16 length allows): many requests, a huge key, context or algorithm list. */
export function bigMessage(rng, seed, platform) {
  const b = seed.length >= 16 ? seed : concat([seed, new Uint8Array(16 - seed.length)]);
  const room = 0xffff * 8 - 16 - 64;
  const size = rng.chance(0.5) ? rng.range(1024, 16384) : rng.range(16384, room);
  const linux = platform === 'linux';
  let type;
  let body;
  switch (rng.int(5)) {
    case 0:
    case 1: {
      // a policy with thousands of requests (sometimes a broken one at the end)
      type = 18;
      const hdr = linux ? 16 : 8;
      const one = new Uint8Array(hdr);
      put16(one, 0, hdr);
      put16(one, 2, rng.pick([50, 51, 108]));
      one[4] = rng.range(0, 2);
      one[5] = rng.range(0, 3);
      const n = Math.floor((size - 12) / hdr);
      const head = new Uint8Array(12);
      put16(head, 0, 2);
      head[2] = rng.range(0, 3);
      body = new Uint8Array(12 + n * hdr);
      body.set(head);
      for (let k = 0; k < n; k++) body.set(one, 12 + k * hdr);
      if (rng.chance(0.3)) put16(body, 12 + (n - 1) * hdr, rng.pick([0, 1, 0xffff]));
      break;
    }
    case 2:
      type = rng.pick([8, 9]);
      body = rng.bytes(size);
      put16(body, 0, rng.chance(0.5) ? 0xffff : (size - 4) * 8);
      break;
    case 3:
      type = rng.pick([14, 15]);
      body = rng.bytes(size);
      break;
    default:
      type = linux ? 24 : rng.pick([24, 13, 17]);
      body = rng.bytes(size);
      body.fill(0x41, 4);
      put16(body, 2, rng.chance(0.5) ? 0xffff : size - 4);
  }
  const parts = extsOf(b)
    .filter((e) => e.type !== type)
    .map((e) => b.subarray(e.off, e.off + e.len));
  parts.push(ext(type, body));
  let out = rebuild(b, parts);
  if (out.length > 0xffff * 8) out = out.subarray(0, 0xffff * 8);
  return fixLength(out);
}

// ---------------------------------------------------------------- seeds

function* binFiles(dir) {
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) yield* binFiles(p);
    else if (d.name.endsWith('.bin')) yield p;
  }
}

/**
 * The seed corpus: every message of every test/golden/**\/*.bin (Linux), each
 * whole file too (for splitMessages), and messages encoded from random valid
 * commands on every platform (fast-check, seeded).
 */
export async function loadSeeds(root, { seed = 1, perPlatform = 250 } = {}) {
  const seeds = [];
  const golden = join(root, 'test', 'golden');
  let goldenCount = 0;
  let goldenFiles = 0;
  if (existsSync(golden)) {
    for (const f of [...binFiles(golden)].sort()) {
      const buf = new Uint8Array(readFileSync(f));
      goldenFiles++;
      const { msgs, rest } = splitConcat(buf);
      for (const m of msgs) seeds.push({ bytes: m, platform: 'linux', origin: f });
      if (msgs.length !== 1 || rest.length) seeds.push({ bytes: buf, platform: 'linux', origin: f + ' (whole)' });
      goldenCount += msgs.length;
    }
  }
  let generated = 0;
  const dist = join(root, 'dist');
  try {
    const fc = (await import('fast-check')).default;
    const { command } = await import(new URL(`file://${join(dist, 'test', 'arbitraries.js')}`).href);
    const { commandToWire } = await import(new URL(`file://${join(dist, 'src', 'pfkey', 'to-wire.js')}`).href);
    const { serialize } = await import(new URL(`file://${join(dist, 'src', 'pfkey', 'serialize.js')}`).href);
    PLATFORMS.forEach((platform, k) => {
      for (const c of fc.sample(command(platform), { numRuns: perPlatform, seed: (seed * 3 + k) | 0 })) {
        try {
          for (const m of commandToWire(c, { platform, pid: 4242 }).messages) {
            seeds.push({ bytes: serialize(m, platform), platform, origin: `fc:${platform}:${c.kind}` });
            generated++;
          }
        } catch {
          // EncodeError: not expressible on this platform; not what we fuzz here
        }
      }
    });
  } catch (e) {
    process.stderr.write(`note: no generated seeds (${e.message})\n`);
  }
  return { seeds, goldenCount, goldenFiles, generated };
}

// ---------------------------------------------------------------- inputs

/**
 * Input #index of a run: { bytes, platform, how }. The platform is the one
 * the entry points are called with (usually the seed's, sometimes another).
 */
export function makeInput(runSeed, index, seeds) {
  const rng = new Rng(mix(runSeed, index));
  const pickSeed = (r) => seeds[r.int(seeds.length)];
  const roll = rng.int(100);
  let bytes;
  let platform;
  let how;
  if (rng.chance(0.001)) {
    const s = pickSeed(rng);
    platform = s.platform;
    bytes = bigMessage(rng, s.bytes, platform);
    how = 'big';
  } else if (roll < 3) {
    const s = pickSeed(rng);
    ({ bytes, platform } = s);
    how = 'seed';
  } else if (roll < 83) {
    const s = pickSeed(rng);
    platform = rng.chance(0.75) ? s.platform : rng.pick(PLATFORMS);
    ({ bytes, how } = mutate(rng, s.bytes, { platform, pickSeed }));
  } else if (roll < 91) {
    // a plausible header and a chain of random extensions
    platform = rng.pick(PLATFORMS);
    const parts = [plausibleHeader(rng)];
    for (let n = rng.range(0, 7); n > 0; n--) parts.push(randomExt(rng, platform));
    bytes = concat(parts);
    if (rng.chance(0.85)) bytes = fixLength(bytes);
    else put16(bytes, 4, rng.u32() & 0xffff);
    how = 'random-exts';
    if (rng.chance(0.3)) ({ bytes, how } = mutate(rng, bytes, { platform, pickSeed }));
  } else if (roll < 96) {
    // a plausible header and random bytes
    platform = rng.pick(PLATFORMS);
    const body = rng.bytes(rng.int(25) * 8);
    bytes = concat([plausibleHeader(rng), body]);
    put16(bytes, 4, rng.chance(0.8) ? bytes.length / 8 : rng.u32() & 0xffff);
    how = 'random-body';
  } else {
    platform = rng.pick(PLATFORMS);
    bytes = rng.bytes(rng.chance(0.3) ? rng.int(24) : rng.int(300));
    how = 'random-bytes';
  }
  // the container: a plain array, a Buffer, or a view at an odd offset into a larger buffer with junk around it
  const c = rng.int(10);
  if (c === 0) bytes = Buffer.from(bytes);
  else if (c === 1) {
    const pre = rng.range(1, 7);
    const big = rng.bytes(pre + bytes.length + rng.range(0, 16));
    big.set(bytes, pre);
    bytes = big.subarray(pre, pre + bytes.length);
  } else bytes = Uint8Array.prototype.slice.call(bytes); // never hand out a seed itself
  return { bytes, platform, how, rng };
}
