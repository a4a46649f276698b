/**
 * Security Associations: the backend-neutral record that statements, PF_KEY
 * messages, XFRM states and the embedded engine all translate to and from.
 */
import type { Endpoint, IpAddress } from './address.js';

/** A registry algorithm name, or the raw number of an algorithm no registry entry knows. */
export type AlgRef = string | number;

export interface SaKey {
  /** key length in bits (sadb_key_bits; may be other than data.length * 8 in foreign messages) */
  readonly bits: number;
  readonly data: Uint8Array;
}

/** sadb_lifetime: 64-bit counters. */
export interface Lifetime {
  readonly allocations: number;
  readonly bytes: bigint;
  readonly addtime: bigint;
  readonly usetime: bigint;
}

/** Security context (sadb_x_sec_ctx): SELinux labels. */
export interface SecCtx {
  readonly doi: number;
  readonly alg: number;
  /** the label text (the wire form adds a trailing NUL) */
  readonly ctx: string;
}

/** NAT traversal (RFC 3948): UDP encapsulation type, ports, and original address. */
export interface NatT {
  readonly type: number;
  readonly sport: number;
  readonly dport: number;
  readonly oa?: IpAddress;
}

export interface SaParams {
  /** SADB SA type (see SaType) */
  readonly satype: number;
  readonly src: Endpoint;
  readonly dst: Endpoint;
  readonly spi: number;
  /** IPSEC_MODE_* */
  readonly mode: number;
  readonly reqid: number;
  /** replay window (sadb_sa_replay; XFRM can carry more than a PF_KEY byte) */
  readonly replay: number;
  /** sadb_sa_flags (KAME SADB_X_EXT_* bits) */
  readonly flags: number;
  /** RFC 4303 extended sequence numbers */
  readonly esn: boolean;
  /** encryption (ESP) or compression (IPComp) algorithm and key */
  readonly enc?: { readonly alg: AlgRef; readonly key?: SaKey };
  readonly auth?: { readonly alg: AlgRef; readonly key?: SaKey };
  readonly hard?: Lifetime;
  readonly soft?: Lifetime;
  readonly ctx?: SecCtx;
  readonly natt?: NatT;
}

/** The writable form of a readonly record, for building one field by field. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export function lifetime(addtime: bigint, bytes: bigint): Lifetime {
  return { allocations: 0, bytes, addtime, usetime: 0n };
}
