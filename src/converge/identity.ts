/**
 * What makes two entries the same entry (plan.ts): an SA is (type,
 * destination, SPI), as the kernel finds it; a policy is (direction,
 * selector, security context). And the (source, destination) pair that puts
 * an entry in a declaration's scope. Strings, so that they key maps.
 */
import type { IpAddress } from '../model/address.js';
import type { PolicyRule, Selector } from '../model/policy.js';
import type { SaParams, SecCtx } from '../model/sa.js';

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

export const addrKey = (a: IpAddress): string => `${a.family}:${hex(a.bytes)}`;

export function saIdentity(sa: SaParams): string {
  return `${sa.satype}/${addrKey(sa.dst.addr)}/${sa.spi >>> 0}`;
}

export function policyIdentity(p: { readonly selector: Selector; readonly rule: PolicyRule; readonly ctx?: SecCtx }): string {
  const s = p.selector;
  return `${p.rule.dir}/${addrKey(s.src)}/${s.sprefix}/${addrKey(s.dst)}/${s.dprefix}/${s.proto}/${s.sport}/${s.dport}/${p.ctx ? `${p.ctx.doi}:${p.ctx.alg}:${p.ctx.ctx}` : '-'}`;
}

export function pairKey(src: IpAddress, dst: IpAddress, sp = -1, dp = -1): string {
  return `${addrKey(src)}/${sp}>${addrKey(dst)}/${dp}`;
}

export const saPair = (sa: SaParams): string => pairKey(sa.src.addr, sa.dst.addr);
export const policyPair = (s: Selector): string => pairKey(s.src, s.dst, s.sprefix, s.dprefix);
