/**
 * libipsec's kdebug_sadb() (ipsec-tools 0.8.2 src/libipsec/key_debug.c): the
 * dump `setkey -v` prints for every PF_KEY message. The text is the C code's,
 * format for format; the differences are all about memory safety (the C code
 * trusts the lengths it is given) and are marked "Deviation" below:
 *  - a message shorter than its 16-byte sadb_msg prints only
 *    "kdebug_sadb: message truncated.";
 *  - an extension whose bytes run past the message (the C code only compares
 *    ext_len in 8-byte units against the remaining bytes) prints the C text
 *    "kdebug_sadb: ext_len exceeds end of buffer." and stops;
 *  - a structure or sockaddr that does not fit in its extension prints
 *    "kdebug_sadb: <struct> truncated." and stops the dump;
 *  - panic() (printf + exit(1) in libipsec) prints its text and stops the dump;
 *  - kdebug_sadb_key prints the key itself (see keyExt).
 * Host-order fields are little-endian (x86-64, amd64, arm64); SPI and ports
 * are network order, as on the wire.
 */
import { ipsecHexdump } from './hexdump.js';

export type KdebugPlatform = 'linux' | 'freebsd' | 'xnu';

/** What one extension printer tells the loop in kdebug_sadb: go on, or stop the dump. */
type Go = boolean;

interface Ctx {
  b: Uint8Array;
  v: DataView;
  plat: KdebugPlatform;
  out: string[];
}

const AF_INET = 2;
/** AF_INET6 differs per platform (Linux 10, FreeBSD 28, xnu 30). */
const AF_INET6: Record<KdebugPlatform, number> = { linux: 10, freebsd: 28, xnu: 30 };
/** sizeof(struct sockaddr), the minimum kdebug_sadb_x_kmaddress demands */
const SOCKADDR_SIZE = 16;
const IPSEC_POLICY_IPSEC = 2;
const SADB_EXT_IDENTITY_SRC = 10;
const SADB_COMB_SIZE = 72;
const SADB_ALG_SIZE = 8;

const u8 = (c: Ctx, o: number): number => c.v.getUint8(o);
const u16 = (c: Ctx, o: number): number => c.v.getUint16(o, true);
const u32 = (c: Ctx, o: number): number => c.v.getUint32(o, true);
const u64 = (c: Ctx, o: number): string => c.v.getBigUint64(o, true).toString();
const be16 = (c: Ctx, o: number): number => c.v.getUint16(o, false);
const be32 = (c: Ctx, o: number): number => c.v.getUint32(o, false);
const hex = (n: number, w: number): string => n.toString(16).padStart(w, '0');

/** Deviation: the C code reads whatever follows; we print this and stop. */
function truncated(c: Ctx, what: string): Go {
  c.out.push(`kdebug_sadb: ${what} truncated.\n`);
  return false;
}

/** A line the C code prints before it returns to kdebug_sadb's loop (go) or panic()s (stop). */
function say(c: Ctx, text: string, go: Go): Go {
  c.out.push(text);
  return go;
}

/** sa_family: u16 host order on Linux, the byte after sa_len on the BSDs. */
function saFamily(c: Ctx, o: number): number {
  return c.plat === 'linux' ? u16(c, o) : u8(c, o + 1);
}

/** sysdep_sa_len(): Linux has no sa_len, so it is derived from the family. */
function saLen(c: Ctx, o: number): number {
  if (c.plat !== 'linux') return u8(c, o);
  return saFamily(c, o) === AF_INET6.linux ? 28 : 16;
}

/**
 * kdebug_sockaddr(). "Fits" means the bytes the C function reads (family,
 * then port and address for inet/inet6) lie inside the extension.
 */
function sockaddr(c: Ctx, o: number, end: number): Go {
  if (end - o < 2) return truncated(c, 'sockaddr');
  const fam = saFamily(c, o);
  const inet6 = fam === AF_INET6[c.plat];
  const need = fam === AF_INET ? 8 : inet6 ? 28 : 2;
  if (end - o < need) return truncated(c, 'sockaddr');
  let s = `sockaddr{ len=${saLen(c, o)} family=${fam}`;
  if (fam === AF_INET) {
    s += ` port=${be16(c, o + 2)}\n` + ipsecHexdump(c.b, o + 4, 4);
  } else if (inet6) {
    s += ` port=${be16(c, o + 2)}\n`;
    s += `  flowinfo=0x${hex(u32(c, o + 4), 8)}, scope_id=0x${hex(u32(c, o + 24), 8)}\n`;
    s += ipsecHexdump(c.b, o + 8, 16);
  }
  c.out.push(s + '  }\n');
  return true;
}

/** kdebug_sadb_sa(): struct sadb_sa is 16 bytes; the SPI is network order. */
function saExt(c: Ctx, o: number): Go {
  c.out.push(`sadb_sa{ spi=${be32(c, o + 4)} replay=${u8(c, o + 8)} state=${u8(c, o + 9)}\n`);
  c.out.push(`  auth=${u8(c, o + 10)} encrypt=${u8(c, o + 11)} flags=0x${hex(u32(c, o + 12), 8)} }\n`);
  return true;
}

/** kdebug_sadb_lifetime(): the u64 fields are printed through a u_int32_t cast (low half). */
function lifetimeExt(c: Ctx, o: number): Go {
  c.out.push(`sadb_lifetime{ alloc=${u32(c, o + 4)}, bytes=${u32(c, o + 8)}\n`);
  c.out.push(`  addtime=${u32(c, o + 16)}, usetime=${u32(c, o + 24)} }\n`);
  return true;
}

/** kdebug_sadb_address() (also SADB_X_EXT_NAT_T_OA): 8-byte header, then the sockaddr. */
function addressExt(c: Ctx, o: number, end: number): Go {
  c.out.push(`sadb_address{ proto=${u8(c, o + 4)} prefixlen=${u8(c, o + 5)} reserved=0x${hex(u8(c, o + 6), 2)}${hex(u8(c, o + 7), 2)} }\n`);
  return sockaddr(c, o + 8, end);
}

/**
 * kdebug_sadb_key(). Deviation: the 0.8.2 build hexdumps from
 * `key + sizeof(struct sadb_key)` in struct units, i.e. 64 bytes past the
 * extension's start; we dump the key itself (bits/8 bytes after the 8-byte
 * header), clipped to the extension. The "sanity check 2" text is the C's.
 */
function keyExt(c: Ctx, o: number, end: number): Go {
  const bytes = u16(c, o + 4) >>> 3;
  const room = end - o - 8;
  let s = `sadb_key{ bits=${u16(c, o + 4)} reserved=${u16(c, o + 6)}\n  key=`;
  if (bytes > room) s += `kdebug_sadb_key: key length mismatch, bit:${bytes} len:${room}.\n`;
  c.out.push(s + ipsecHexdump(c.b, o + 8, Math.min(bytes, room)) + ' }\n');
  return true;
}

/**
 * kdebug_sadb_identity(), userland branch: the id string up to its NUL or the
 * extension's end, non-printables (C locale isprint) as \ooo. The C loop tests
 * *p before p < ep; we test the bound first so the read stays inside.
 */
function identityExt(c: Ctx, o: number, end: number): Go {
  const side = u16(c, o + 2) === SADB_EXT_IDENTITY_SRC ? 'src' : 'dst';
  let s = `sadb_ident_${side}{ type=${u16(c, o + 4)} id=${u64(c, o + 8)}`;
  if (end - o > 16) {
    s += '\n  str="';
    for (let p = o + 16; p < end && c.b[p] !== 0; p++) {
      const ch = c.b[p]!;
      s += ch >= 0x20 && ch < 0x7f ? String.fromCharCode(ch) : '\\' + ch.toString(8).padStart(3, '0');
    }
    s += '"';
  }
  c.out.push(s + ' }\n');
  return true;
}

/** kdebug_sadb_prop(): whole 72-byte sadb_combs only (the count is rounded down, as in C). */
function propExt(c: Ctx, o: number, end: number): Go {
  c.out.push(`sadb_prop{ replay=${u8(c, o + 4)}\n`);
  const n = Math.floor((end - o - 8) / SADB_COMB_SIZE);
  for (let i = 0, p = o + 8; i < n; i++, p += SADB_COMB_SIZE) {
    c.out.push(`sadb_comb{ auth=${u8(c, p)} encrypt=${u8(c, p + 1)} flags=0x${hex(u16(c, p + 2), 4)} reserved=0x${hex(u32(c, p + 12), 8)}\n`);
    c.out.push(`  auth_minbits=${u16(c, p + 4)} auth_maxbits=${u16(c, p + 6)} encrypt_minbits=${u16(c, p + 8)} encrypt_maxbits=${u16(c, p + 10)}\n`);
    c.out.push(`  soft_alloc=${u32(c, p + 16)} hard_alloc=${u32(c, p + 20)} soft_bytes=${u64(c, p + 24)} hard_bytes=${u64(c, p + 32)}\n`);
    // the C labels the add/use times "soft_alloc ... hard_bytes" again; kept as printed
    c.out.push(`  soft_alloc=${u64(c, p + 40)} hard_alloc=${u64(c, p + 48)} soft_bytes=${u64(c, p + 56)} hard_bytes=${u64(c, p + 64)} }\n`);
  }
  c.out.push('}\n');
  return true;
}

/** kdebug_sadb_supported(): whole 8-byte sadb_algs only. */
function supportedExt(c: Ctx, o: number, end: number): Go {
  c.out.push('sadb_sup{\n');
  const n = Math.floor((end - o - 8) / SADB_ALG_SIZE);
  for (let i = 0, p = o + 8; i < n; i++, p += SADB_ALG_SIZE) {
    c.out.push(`  { id=${u8(c, p)} ivlen=${u8(c, p + 1)} min=${u16(c, p + 2)} max=${u16(c, p + 4)} }\n`);
  }
  c.out.push('}\n');
  return true;
}

/** kdebug_sadb_x_sa2(): mode u8 @4, reserved1 u8, reserved2 u16, sequence u32 @8, reqid u32 @12. */
function sa2Ext(c: Ctx, o: number): Go {
  c.out.push(`sadb_x_sa2{ mode=${u8(c, o + 4)} reqid=${u32(c, o + 12)}\n`);
  c.out.push(`  reserved1=${u8(c, o + 5)} reserved2=${u16(c, o + 6)} sequence=${u32(c, o + 8)} }\n`);
  return true;
}

/** One sadb_x_ipsecrequest header: 16 bytes on Linux, 8 (u16 reqid) on the BSDs. */
function requestLine(c: Ctx, x: number): string {
  const reqid = c.plat === 'linux' ? u32(c, x + 8) : u16(c, x + 6);
  return ` { len=${u16(c, x)} proto=${u16(c, x + 2)} mode=${u8(c, x + 4)} level=${u8(c, x + 5)} reqid=${reqid}\n`;
}

/**
 * kdebug_sadb_x_policy() with HAVE_PFKEY_POLICY_PRIORITY. The C texts
 * "wrong policy struct" (request len 0) and "invalid ipsec policy length"
 * (request longer than what is left) return to kdebug_sadb, which goes on
 * with the next extension; we do the same. Deviation: a request header that
 * does not fit in what is left also prints "invalid ipsec policy length"
 * (the C code would read it past the extension first).
 */
function policyExt(c: Ctx, o: number, end: number): Go {
  const type = u16(c, o + 4);
  c.out.push(`sadb_x_policy{ type=${type} dir=${u8(c, o + 6)} id=${u32(c, o + 8).toString(16)} priority=${u32(c, o + 12)} }\n`);
  if (type !== IPSEC_POLICY_IPSEC) return true;
  const rs = c.plat === 'linux' ? 16 : 8;
  let tlen = end - o - 16;
  for (let x = o + 16; tlen > 0; ) {
    if (tlen < rs) return say(c, 'invalid ipsec policy length\n', true);
    const len = u16(c, x);
    c.out.push(requestLine(c, x));
    if (len > rs) {
      if (!sockaddr(c, x + rs, end)) return false;
      if (!sockaddr(c, x + rs + saLen(c, x + rs), end)) return false;
    }
    c.out.push(' }\n');
    if (len === 0) return say(c, 'kdebug_sadb_x_policy: wrong policy struct.\n', true);
    if (len > tlen) return say(c, 'invalid ipsec policy length\n', true);
    tlen -= len;
    x += len;
  }
  // unreachable once the loop above guards tlen, kept as in the C code
  return tlen === 0 || say(c, 'kdebug_sadb_x_policy: wrong policy struct.\n', false);
}

/** kdebug_sadb_x_nat_t_type() */
function natTypeExt(c: Ctx, o: number): Go {
  c.out.push(`sadb_x_nat_t_type{ type=${u8(c, o + 4)} }\n`);
  return true;
}

/** kdebug_sadb_x_nat_t_port(): the port is network order. */
function natPortExt(c: Ctx, o: number): Go {
  c.out.push(`sadb_x_nat_t_port{ port=${be16(c, o + 4)} }\n`);
  return true;
}

/** kdebug_sadb_x_kmaddress(): two sockaddrs after an 8-byte header; its panics end the dump. */
function kmaddressExt(c: Ctx, o: number, end: number): Go {
  const r = [4, 5, 6, 7].map((i) => hex(u8(c, o + i), 2)).join('');
  c.out.push(`sadb_x_kmaddress{ reserved=0x${r} }\n`);
  let len = end - o - 8;
  let sa = o + 8;
  if (len < SOCKADDR_SIZE || saLen(c, sa) > len) return say(c, 'kdebug_sadb_x_kmaddress: not enough data to read first sockaddr.\n', false);
  if (!sockaddr(c, sa, end)) return false;
  const family = saFamily(c, sa);
  const first = saLen(c, sa);
  len -= first;
  sa += first;
  if (len < SOCKADDR_SIZE || saLen(c, sa) > len) return say(c, 'kdebug_sadb_x_kmaddress: not enough data to read second sockaddr.\n', false);
  if (!sockaddr(c, sa, end)) return false;
  if (family !== saFamily(c, sa)) {
    c.out.push('kdebug_sadb_x_kmaddress:  !!!! Please, note the unexpected mismatch in address family.\n');
  }
  return true;
}

/** An extension printer; false stops the dump. Its extension holds at least the struct's size. */
type Printer = (c: Ctx, o: number, end: number) => Go;
const none: Printer = () => true;

/**
 * The switch in kdebug_sadb() for this Linux build (24, SEC_CTX, is not in it),
 * with the struct each case casts the extension to and that struct's size.
 */
const PRINTERS: ReadonlyMap<number, [string, number, Printer]> = new Map<number, [string, number, Printer]>([
  [1, ['sadb_sa', 16, saExt]], [2, ['sadb_lifetime', 32, lifetimeExt]],
  [3, ['sadb_lifetime', 32, lifetimeExt]], [4, ['sadb_lifetime', 32, lifetimeExt]],
  [5, ['sadb_address', 8, addressExt]], [6, ['sadb_address', 8, addressExt]],
  [7, ['sadb_address', 8, addressExt]], [8, ['sadb_key', 8, keyExt]], [9, ['sadb_key', 8, keyExt]],
  [10, ['sadb_ident', 16, identityExt]], [11, ['sadb_ident', 16, identityExt]],
  [12, ['sadb_sens', 0, none]], [13, ['sadb_prop', 8, propExt]],
  [14, ['sadb_supported', 8, supportedExt]], [15, ['sadb_supported', 8, supportedExt]],
  [16, ['sadb_spirange', 0, none]], [17, ['sadb_x_kmprivate', 0, none]],
  [18, ['sadb_x_policy', 16, policyExt]], [19, ['sadb_x_sa2', 16, sa2Ext]],
  [20, ['sadb_x_nat_t_type', 8, natTypeExt]], [21, ['sadb_x_nat_t_port', 8, natPortExt]],
  [22, ['sadb_x_nat_t_port', 8, natPortExt]], [23, ['sadb_address', 8, addressExt]],
  [25, ['sadb_x_kmaddress', 8, kmaddressExt]],
]);

/** One extension at [o, o + bytes): the checks of kdebug_sadb's loop, then its switch. */
function extension(c: Ctx, o: number, tlen: number, end: number): Go {
  const len = u16(c, o);
  const type = u16(c, o + 2);
  c.out.push(`sadb_ext{ len=${len} type=${type} }\n`);
  if (len === 0) return say(c, 'kdebug_sadb: invalid ext_len=0 was passed.\n', false);
  // the C quirk: ext_len (8-byte units) against tlen (bytes), kept as written;
  // Deviation: the same text when the extension's bytes run past the message
  if (len > tlen || o + len * 8 > end) return say(c, 'kdebug_sadb: ext_len exceeds end of buffer.\n', false);
  const entry = PRINTERS.get(type);
  if (!entry) return say(c, `kdebug_sadb: invalid ext_type ${type} was passed.\n`, false);
  const [name, size, print] = entry;
  if (len * 8 < size) return truncated(c, name);
  return print(c, o, o + len * 8);
}

/** kdebug_sadb(): the sadb_msg header, then each extension in turn. */
export function kdebugSadb(msg: Uint8Array, platform: KdebugPlatform = 'linux'): string {
  if (msg.length < 16) return 'kdebug_sadb: message truncated.\n';
  const c: Ctx = { b: msg, v: new DataView(msg.buffer, msg.byteOffset, msg.byteLength), plat: platform, out: [] };
  c.out.push(`sadb_msg{ version=${u8(c, 0)} type=${u8(c, 1)} errno=${u8(c, 2)} satype=${u8(c, 3)}\n`);
  c.out.push(`  len=${u16(c, 4)} reserved=${u16(c, 6)} seq=${u32(c, 8)} pid=${u32(c, 12)}\n`);
  const declared = u16(c, 4) * 8;
  // Deviation: the declared length is clipped to the bytes actually given
  const end = Math.min(msg.length, declared);
  // every pass consumes len >= 1 units, so the loop ends
  for (let o = 16, tlen = declared - 16; tlen > 0; ) {
    const go = end - o < 4 ? truncated(c, 'sadb_ext') : extension(c, o, tlen, end);
    if (!go) break;
    const bytes = u16(c, o) * 8;
    tlen -= bytes;
    o += bytes;
  }
  return c.out.join('');
}
