/**
 * Security Policies: selector, direction, action, priority and the bundle of
 * IPsec requests (templates), independent of PF_KEY or XFRM framing.
 */
import type { Endpoint, IpAddress } from './address.js';

export interface Selector {
  readonly src: IpAddress;
  readonly dst: IpAddress;
  readonly sprefix: number;
  readonly dprefix: number;
  /** ports; for icmp/icmp6/mh they carry type and code, for gre the key halves */
  readonly sport: number;
  readonly dport: number;
  /** upper-layer protocol; 255 = any */
  readonly proto: number;
}

export interface IpsecRequest {
  /** IPPROTO_ESP / AH / IPCOMP */
  readonly proto: number;
  /** IPSEC_MODE_* */
  readonly mode: number;
  /** IPSEC_LEVEL_* */
  readonly level: number;
  readonly reqid: number;
  /** tunnel endpoints (both or neither) */
  readonly tunnel?: { readonly src: Endpoint; readonly dst: Endpoint };
}

export interface PolicyRule {
  /** IPSEC_DIR_* */
  readonly dir: number;
  /** IPSEC_POLICY_* */
  readonly action: number;
  /** unsigned 32-bit; lower wins */
  readonly priority: number;
  readonly requests: readonly IpsecRequest[];
}
