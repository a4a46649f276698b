/**
 * Typed PF_KEY v2 messages: one interface per wire struct, fields as the RFC
 * and the kernel headers name them. Serializer and parser convert between
 * these and bytes; translators convert between these and the model.
 */
import type { ExtKind } from './constants.js';

export interface SadbHeader {
  version: number;
  type: number;
  errno: number;
  satype: number;
  /** sadb_msg_reserved (the reference prints it as refcnt) */
  reserved: number;
  seq: number;
  pid: number;
}

/** A socket address as carried in address extensions and ipsec requests. */
export interface SockAddr {
  /** the platform's address family number (AF_INET 2, AF_INET6 10 on Linux...) */
  family: number;
  /** network-order port as a number */
  port: number;
  /** 4 or 16 address bytes; for unknown families the raw bytes after the header */
  addr: Uint8Array;
  flowinfo: number;
  scopeId: number;
}

export interface ExtSa {
  kind: 'sa';
  spi: number;
  replay: number;
  state: number;
  auth: number;
  encrypt: number;
  flags: number;
}

export interface ExtLifetime {
  kind: 'lifetime_current' | 'lifetime_hard' | 'lifetime_soft';
  allocations: number;
  bytes: bigint;
  addtime: bigint;
  usetime: bigint;
}

export interface ExtAddress {
  kind: 'address_src' | 'address_dst' | 'address_proxy' | 'nat_t_oa' | 'nat_t_oar';
  proto: number;
  prefixlen: number;
  reserved: number;
  sa: SockAddr;
}

export interface ExtKey {
  kind: 'key_auth' | 'key_encrypt';
  bits: number;
  reserved: number;
  data: Uint8Array;
}

export interface ExtSpiRange {
  kind: 'spirange';
  min: number;
  max: number;
  reserved: number;
}

export interface IpsecRequestWire {
  proto: number;
  mode: number;
  level: number;
  reqid: number;
  src?: SockAddr;
  dst?: SockAddr;
}

export interface ExtPolicy {
  kind: 'policy';
  /** IPSEC_POLICY_* */
  ptype: number;
  dir: number;
  /** sadb_x_policy_reserved (Linux) / scope (FreeBSD) */
  reserved: number;
  id: number;
  priority: number;
  requests: IpsecRequestWire[];
}

export interface ExtSa2 {
  kind: 'sa2';
  mode: number;
  reserved1: number;
  reserved2: number;
  sequence: number;
  reqid: number;
}

export interface ExtNatType {
  kind: 'nat_t_type';
  natType: number;
}

export interface ExtNatPort {
  kind: 'nat_t_sport' | 'nat_t_dport';
  port: number;
}

export interface ExtSecCtx {
  kind: 'sec_ctx';
  alg: number;
  doi: number;
  /** sadb_x_ctx_len as sent (bytes, including the trailing NUL setkey adds) */
  ctxLen: number;
  ctx: Uint8Array;
}

export interface SupportedAlg {
  id: number;
  ivlen: number;
  minbits: number;
  maxbits: number;
}

export interface ExtSupported {
  kind: 'supported_auth' | 'supported_encrypt';
  algs: SupportedAlg[];
}

/** An extension we carry but do not interpret. */
export interface ExtRaw {
  kind: 'raw';
  /** the wire type number */
  exttype: number;
  /** bytes after the 4-byte sadb_ext header */
  body: Uint8Array;
}

export type SadbExt = ExtSa | ExtLifetime | ExtAddress | ExtKey | ExtSpiRange | ExtPolicy | ExtSa2 | ExtNatType | ExtNatPort | ExtSecCtx | ExtSupported | ExtRaw;

export interface SadbMsg {
  header: SadbHeader;
  exts: SadbExt[];
}

export function header(type: number, satype: number, pid = 0, seq = 0): SadbHeader {
  return { version: 2, type, errno: 0, satype, reserved: 0, seq, pid };
}

/** The extension interface whose `kind` union contains K. */
export type ExtOf<K extends SadbExt['kind'], E = SadbExt> = E extends { kind: infer EK } ? (K extends EK ? E : never) : never;

/** The first extension of a kind, typed. */
export function findExt<K extends SadbExt['kind']>(m: SadbMsg, kind: K): ExtOf<K> | undefined {
  for (const e of m.exts) if (e.kind === kind) return e as ExtOf<K>;
  return undefined;
}

export type { ExtKind };
