/**
 * Typed PF_KEY messages -> bytes (RFC 2367 §2; Linux layout by default, the
 * BSD/xnu sockaddr and ipsecrequest layouts when asked). Every extension is
 * padded to 8 bytes and its length back-patched in 64-bit units.
 */
import type { Platform } from '../model/algorithms.js';
import { AF, Size, extNumber, type ExtKind } from './constants.js';
import type { IpsecRequestWire, SadbExt, SadbMsg, SockAddr } from './types.js';
import { Writer } from './writer.js';

export function sockaddrSize(sa: SockAddr, platform: Platform): number {
  if (sa.family === AF.INET) return Size.sockaddr_in;
  if (sa.addr.length === 16) return Size.sockaddr_in6;
  return (platform === 'linux' ? 2 : 2) + 2 + sa.addr.length;
}

/** struct sockaddr_in / sockaddr_in6: Linux has a 16-bit family, the BSDs sa_len + an 8-bit family. */
export function writeSockaddr(w: Writer, sa: SockAddr, platform: Platform): void {
  const size = sockaddrSize(sa, platform);
  if (platform === 'linux') w.u16(sa.family);
  else w.u8(size).u8(sa.family);
  w.u16be(sa.port);
  if (sa.family === AF.INET) {
    w.bytes(sa.addr).zeros(8);
  } else if (sa.addr.length === 16) {
    w.u32be(sa.flowinfo).bytes(sa.addr).u32(sa.scopeId);
  } else {
    w.bytes(sa.addr);
  }
}

function writeRequest(w: Writer, r: IpsecRequestWire, platform: Platform): void {
  const addrs = (r.src ? sockaddrSize(r.src, platform) : 0) + (r.dst ? sockaddrSize(r.dst, platform) : 0);
  if (platform === 'linux') {
    // Linux sadb_x_ipsecrequest: len(bytes) proto mode level reserved1 reqid reserved2; no padding after
    // the sockaddrs (libipsec set_x_request), which keeps 8-byte alignment for both families
    w.u16(Size.sadb_x_ipsecrequest_linux + addrs).u16(r.proto).u8(r.mode).u8(r.level).u16(0).u32(r.reqid).u32(0);
  } else {
    // KAME/BSD: len proto mode level reqid(u16), 8 bytes
    w.u16(Size.sadb_x_ipsecrequest_bsd + addrs).u16(r.proto).u8(r.mode).u8(r.level).u16(r.reqid);
  }
  if (r.src) writeSockaddr(w, r.src, platform);
  if (r.dst) writeSockaddr(w, r.dst, platform);
}

function writeBody(w: Writer, e: SadbExt, platform: Platform): void {
  switch (e.kind) {
    case 'sa':
      w.u32be(e.spi).u8(e.replay).u8(e.state).u8(e.auth).u8(e.encrypt).u32(e.flags);
      return;
    case 'lifetime_current':
    case 'lifetime_hard':
    case 'lifetime_soft':
      w.u32(e.allocations).u64(e.bytes).u64(e.addtime).u64(e.usetime);
      return;
    case 'address_src':
    case 'address_dst':
    case 'address_proxy':
    case 'nat_t_oa':
    case 'nat_t_oar':
      w.u8(e.proto).u8(e.prefixlen).u16(e.reserved);
      writeSockaddr(w, e.sa, platform);
      return;
    case 'key_auth':
    case 'key_encrypt':
      w.u16(e.bits).u16(e.reserved).bytes(e.data);
      return;
    case 'spirange':
      w.u32(e.min).u32(e.max).u32(e.reserved);
      return;
    case 'policy':
      w.u16(e.ptype).u8(e.dir).u8(e.reserved).u32(e.id).u32(e.priority);
      for (const r of e.requests) writeRequest(w, r, platform);
      return;
    case 'sa2':
      w.u8(e.mode).u8(e.reserved1).u16(e.reserved2).u32(e.sequence).u32(e.reqid);
      return;
    case 'nat_t_type':
      w.u8(e.natType).zeros(3);
      return;
    case 'nat_t_sport':
    case 'nat_t_dport':
      w.u16be(e.port).u16(0);
      return;
    case 'sec_ctx':
      w.u8(e.alg).u8(e.doi).u16(e.ctxLen).bytes(e.ctx);
      return;
    case 'supported_auth':
    case 'supported_encrypt':
      w.u32(0);
      for (const a of e.algs) w.u8(a.id).u8(a.ivlen).u16(a.minbits).u16(a.maxbits).u16(0);
      return;
    case 'raw':
      w.bytes(e.body);
      return;
  }
}

function extTypeNumber(e: SadbExt, platform: Platform): number {
  return e.kind === 'raw' ? e.exttype : extNumber(platform, e.kind as ExtKind);
}

/**
 * One scratch writer for every message: serialize() runs to completion
 * synchronously, so it is never shared by two messages at once, and a large
 * apply allocates one exact-size copy per message instead of growing a buffer.
 */
const scratch = new Writer(4096);

/** The message's bytes; with `headroom`, that many zero bytes come first (for a caller's own header). */
export function serialize(m: SadbMsg, platform: Platform = 'linux', headroom = 0, into?: (n: number) => Uint8Array): Uint8Array {
  const w = scratch.reset();
  if (headroom) w.zeros(headroom);
  const base = headroom;
  const h = m.header;
  w.u8(h.version).u8(h.type).u8(h.errno).u8(h.satype).u16(0).u16(h.reserved).u32(h.seq).u32(h.pid);
  for (const e of m.exts) {
    const start = w.length;
    w.u16(0).u16(extTypeNumber(e, platform));
    writeBody(w, e, platform);
    w.pad8(start);
    w.patch16(start, (w.length - start) / 8);
  }
  w.patch16(base + 4, (w.length - base) / 8);
  return w.finish(into);
}
