/**
 * PF_KEY v2 numbers (RFC 2367 §2.3 plus the KAME extensions), per platform
 * where they differ. Sources: Linux include/uapi/linux/pfkeyv2.h, FreeBSD
 * sys/net/pfkeyv2.h, xnu bsd/net/pfkeyv2.h (see shared/docs/wire-facts.md §2.2).
 */
import type { Platform } from '../model/algorithms.js';
import { table, type NameTable } from '../model/tables.js';

export const PF_KEY_V2 = 2;
/** sadb_msg is 16 bytes; every length field counts 8-byte units (PFKEY_UNIT64) */
export const SADB_MSG_SIZE = 16;
export const UNIT = 8;

/** Message types shared by every platform (RFC 2367 + KAME X_ types up to 22). */
export const MsgType = {
  RESERVED: 0,
  GETSPI: 1,
  UPDATE: 2,
  ADD: 3,
  DELETE: 4,
  GET: 5,
  ACQUIRE: 6,
  REGISTER: 7,
  EXPIRE: 8,
  FLUSH: 9,
  DUMP: 10,
  X_PROMISC: 11,
  X_PCHANGE: 12,
  X_SPDUPDATE: 13,
  X_SPDADD: 14,
  X_SPDDELETE: 15,
  X_SPDGET: 16,
  X_SPDACQUIRE: 17,
  X_SPDDUMP: 18,
  X_SPDFLUSH: 19,
  X_SPDSETIDX: 20,
  X_SPDEXPIRE: 21,
  X_SPDDELETE2: 22,
} as const;

export const msgTypeTable: NameTable = table(Object.entries(MsgType) as [string, number][]);

/** Extension kinds, named once; their numbers come from `extNumbers(platform)`. */
export type ExtKind =
  | 'sa'
  | 'lifetime_current'
  | 'lifetime_hard'
  | 'lifetime_soft'
  | 'address_src'
  | 'address_dst'
  | 'address_proxy'
  | 'key_auth'
  | 'key_encrypt'
  | 'identity_src'
  | 'identity_dst'
  | 'sensitivity'
  | 'proposal'
  | 'supported_auth'
  | 'supported_encrypt'
  | 'spirange'
  | 'kmprivate'
  | 'policy'
  | 'sa2'
  | 'nat_t_type'
  | 'nat_t_sport'
  | 'nat_t_dport'
  | 'nat_t_oa'
  | 'nat_t_oar'
  | 'nat_t_frag'
  | 'sec_ctx'
  | 'kmaddress'
  | 'filter'
  | 'sa_replay';

const COMMON: ReadonlyArray<readonly [ExtKind, number]> = [
  ['sa', 1],
  ['lifetime_current', 2],
  ['lifetime_hard', 3],
  ['lifetime_soft', 4],
  ['address_src', 5],
  ['address_dst', 6],
  ['address_proxy', 7],
  ['key_auth', 8],
  ['key_encrypt', 9],
  ['identity_src', 10],
  ['identity_dst', 11],
  ['sensitivity', 12],
  ['proposal', 13],
  ['supported_auth', 14],
  ['supported_encrypt', 15],
  ['spirange', 16],
  ['kmprivate', 17],
  ['policy', 18],
  ['sa2', 19],
];

/** Extension numbers diverge after 19 (wire-facts §2.2). */
const PLATFORM_EXTS: Record<Platform, ReadonlyArray<readonly [ExtKind, number]>> = {
  linux: [
    ['nat_t_type', 20],
    ['nat_t_sport', 21],
    ['nat_t_dport', 22],
    ['nat_t_oa', 23],
    ['sec_ctx', 24],
    ['kmaddress', 25],
    ['filter', 26],
  ],
  freebsd: [
    ['nat_t_type', 20],
    ['nat_t_sport', 21],
    ['nat_t_dport', 22],
    ['nat_t_oa', 23],
    ['nat_t_oar', 24],
    ['nat_t_frag', 25],
    ['sa_replay', 26],
  ],
  xnu: [],
};

export interface ExtNumbers {
  readonly byKind: ReadonlyMap<ExtKind, number>;
  readonly byNumber: ReadonlyMap<number, ExtKind>;
  readonly max: number;
}

const EXT_CACHE = new Map<Platform, ExtNumbers>();

export function extNumbers(platform: Platform): ExtNumbers {
  let e = EXT_CACHE.get(platform);
  if (!e) {
    const all = [...COMMON, ...PLATFORM_EXTS[platform]];
    const max = { linux: 26, freebsd: 31, xnu: 29 }[platform];
    e = { byKind: new Map(all), byNumber: new Map(all.map(([k, n]) => [n, k])), max };
    EXT_CACHE.set(platform, e);
  }
  return e;
}

export function extNumber(platform: Platform, kind: ExtKind): number {
  const n = extNumbers(platform).byKind.get(kind);
  if (n === undefined) throw new Error(`PF_KEY on ${platform} has no ${kind} extension`);
  return n;
}

/** Fixed struct sizes in bytes (Linux layout). */
export const Size = {
  sadb_msg: 16,
  sadb_ext: 4,
  sadb_sa: 16,
  sadb_lifetime: 32,
  sadb_address: 8,
  sadb_key: 8,
  sadb_spirange: 16,
  sadb_x_policy: 16,
  sadb_x_ipsecrequest_linux: 16,
  sadb_x_ipsecrequest_bsd: 8,
  sadb_x_sa2: 16,
  sadb_x_nat_t_type: 8,
  sadb_x_nat_t_port: 8,
  sadb_x_sec_ctx: 8,
  sadb_supported: 8,
  sadb_alg: 8,
  sockaddr_in: 16,
  sockaddr_in6: 28,
} as const;

/** Address families on the wire. */
export const AF = { INET: 2, INET6_LINUX: 10, INET6_FREEBSD: 28, INET6_XNU: 30 } as const;

export function af6(platform: Platform): number {
  return platform === 'linux' ? AF.INET6_LINUX : platform === 'freebsd' ? AF.INET6_FREEBSD : AF.INET6_XNU;
}

/** Round up to the 8-byte PF_KEY alignment. */
export function align8(n: number): number {
  return (n + 7) & ~7;
}
