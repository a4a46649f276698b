/**
 * One SA in setkey's dump format (libipsec pfkey_dump.c pfkey_sadump1),
 * byte for byte, from a message as pfkey_align left it. Keys are printed,
 * as setkey prints them.
 */
import { SaType } from '../model/tables.js';
import type { DumpView } from '../pfkey/dump-view.js';
import type { ExtLifetime } from '../pfkey/types.js';
import { algWord, bytesText, ipText, portText, timeText, u64, word, type DumpOptions } from './dump-common.js';
import { ipsecHexdump } from './hexdump.js';
import { decodeErrorText } from './errors.js';

/** saDump's word tables (GETMSGSTR), by number */
export const SATYPES = ['unspec', 'unknown', 'ah', 'esp', 'unknown', 'rsvp', 'ospfv2', 'ripv2', 'mip', 'ipcomp', 'policy', 'tcp'];
export const MODES = ['any', 'transport', 'tunnel'];
export const STATES = ['larval', 'mature', 'dying', 'dead'];
const UDP_ENCAP_NONE = 0;

function key(v: DumpView, kind: 'key_auth' | 'key_encrypt'): string {
  const k = v.ext(kind);
  if (!k) return '';
  // bits/8 bytes; a key extension shorter than its bits claims is clipped (the reference read past it)
  return ipsecHexdump(k.data, 0, Math.min(k.data.length, Math.floor(k.bits / 8)));
}

function lifetimes(cur: ExtLifetime, hard: ExtLifetime | undefined, soft: ExtLifetime | undefined, o: DumpOptions): string {
  const now = BigInt(o.now);
  const add = BigInt.asIntN(64, cur.addtime);
  const diff = cur.addtime === 0n ? 0n : BigInt.asUintN(64, now - add);
  const bytes = (l: ExtLifetime | undefined, name: string): string => `\t${name}: ${l ? bytesText(l.bytes) : '0'}(bytes)`;
  return (
    `\tcreated: ${timeText(cur.addtime, o)}\tcurrent: ${timeText(now, o)}\n` +
    `\tdiff: ${diff}(s)\thard: ${u64(hard?.addtime ?? 0n)}(s)\tsoft: ${u64(soft?.addtime ?? 0n)}(s)\n` +
    `\tlast: ${timeText(cur.usetime, o)}\thard: ${u64(hard?.usetime ?? 0n)}(s)\tsoft: ${u64(soft?.usetime ?? 0n)}(s)\n` +
    bytes(cur, 'current') +
    bytes(hard, 'hard') +
    bytes(soft, 'soft') +
    '\n' +
    `\tallocated: ${cur.allocations}\thard: ${hard?.allocations ?? 0}\tsoft: ${soft?.allocations ?? 0}\n`
  );
}

/** The security context lines (SA and SP dumps alike). */
export function secCtxLines(v: DumpView): string {
  const c = v.ext('sec_ctx');
  if (!c) return '';
  // printed with %s: up to the first NUL
  const nul = c.ctx.indexOf(0);
  const text = Buffer.from(nul < 0 ? c.ctx : c.ctx.subarray(0, nul)).toString('latin1');
  return `\tsecurity context doi: ${c.doi}\n\tsecurity context algorithm: ${c.alg}\n\tsecurity context length: ${c.ctxLen}\n\tsecurity context: ${text}\n`;
}

export function saDump(v: DumpView, o: DumpOptions): string {
  const err = v.alignError ?? v.checkError;
  if (err) return decodeErrorText(err) + '\n';
  const h = v.header;
  const src = v.span('address_src') && v.ext('address_src');
  const dst = v.span('address_dst') && v.ext('address_dst');
  const natType = v.ext('nat_t_type');
  const useNatt = natType !== undefined && natType.natType !== UDP_ENCAP_NONE;
  const sport = v.ext('nat_t_sport');
  const dport = v.ext('nat_t_dport');
  if (!v.span('address_src')) return 'no ADDRESS_SRC extension.\n';
  let out = o.withPorts ? `${ipText(src?.sa, o)}[${portText(src?.sa, o)}]` : ipText(src?.sa, o);
  if (useNatt && sport) out += `[${sport.port}]`;
  out += ' ';
  if (!v.span('address_dst')) return out + ' no ADDRESS_DST extension.\n';
  out += o.withPorts ? `${ipText(dst?.sa, o)}[${portText(dst?.sa, o)}]` : ipText(dst?.sa, o);
  if (useNatt && dport) out += `[${dport.port}]`;
  out += ' ';
  const sa = v.ext('sa');
  const sa2 = v.ext('sa2');
  if (!sa) return out + 'no SA extension.\n';
  if (!sa2) return out + 'no SA2 extension.\n';
  out += '\n\t';
  if (useNatt && h.satype === SaType.ESP) out += 'esp-udp ';
  else {
    if (useNatt) out += 'natt+';
    out += word(SATYPES, h.satype);
  }
  out += `mode=${word(MODES, sa2.mode)}`;
  out += `spi=${sa.spi}(0x${hex8(sa.spi)}) reqid=${sa2.reqid}(0x${hex8(sa2.reqid)})\n`;
  const oa = v.ext('nat_t_oa');
  if (useNatt && oa) out += `\tNAT OA=${ipText(oa.sa, o)}\n`;
  if (h.satype === SaType.IPCOMP) {
    // no newline after the compression algorithm: "seq=" follows on the same line
    out += `\tC: ${algWord('comp', sa.encrypt, o.platform)}`;
  } else if (h.satype === SaType.ESP && v.span('key_encrypt')) {
    out += `\tE: ${algWord('enc', sa.encrypt, o.platform)}${key(v, 'key_encrypt')}\n`;
  }
  if (v.span('key_auth')) out += `\tA: ${algWord('auth', sa.auth, o.platform)}${key(v, 'key_auth')}\n`;
  out += `\tseq=0x${hex8(sa2.sequence)} replay=${sa.replay} flags=0x${hex8(sa.flags)} state=${word(STATES, sa.state)}\n`;
  const cur = v.ext('lifetime_current');
  if (cur) out += lifetimes(cur, v.ext('lifetime_hard'), v.ext('lifetime_soft'), o);
  out += secCtxLines(v);
  out += `\tsadb_seq=${h.seq} pid=${h.pid} refcnt=${h.reserved}\n`;
  return out;
}

export function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}
