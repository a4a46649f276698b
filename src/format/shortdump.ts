/**
 * setkey -l: one line per SA (setkey.c shortdump). It uses whatever
 * pfkey_align indexed, errors or not, as the reference does.
 */
import type { DumpView } from '../pfkey/dump-view.js';
import type { ExtAddress } from '../pfkey/types.js';
import { ipText, sockAddress, type DumpOptions } from './dump-common.js';

const SATYPE = [undefined, undefined, 'ah', 'esp'];
const STATE = ['L', 'M', 'D', 'd'];
// setkey.c ipproto[]: the protocol words of the one-line form
const IPPROTO: (string | undefined)[] = [];
Object.assign(IPPROTO, { 0: 'ip', 1: 'icmp', 2: 'igmp', 3: 'ggp', 4: 'ip4', 6: 'tcp', 8: 'egp', 17: 'udp', 22: 'idp', 29: 'tp', 41: 'ip6', 43: 'rt6', 44: 'frag6', 46: 'rsvp', 47: 'gre', 50: 'esp', 51: 'ah', 58: 'icmp6', 59: 'none', 60: 'dst6' });

function strOrId(table: readonly (string | undefined)[], n: number): string {
  return table[n] ?? `#${n}`;
}

/** The "time p s spi ltime src -> dst" header the socket form prints before each dump. */
export function shortdumpHeader(): string {
  return 'time p   s spi      ltime   src -> dst\n';
}

function side(a: ExtAddress | undefined, o: DumpOptions): string {
  if (!a) return '?';
  const proto = a.proto ? `${strOrId(IPPROTO, a.proto)} ` : '';
  const ip = sockAddress(a.sa, o.platform) ? ipText(a.sa, o) : '(null)';
  return proto + (a.sa.port !== 0 ? `${ip}[${a.sa.port}]` : ip);
}

export function shortDump(v: DumpView, o: DumpOptions): string {
  const cur = o.now;
  // time_t arithmetic, not local time: minutes and seconds of the hour
  let out = String(Math.floor((cur % 3600) / 60)).padStart(2, '0') + String(cur % 60).padStart(2, '0');
  out += ' ' + strOrId(SATYPE, v.header.satype).padEnd(3, ' ');
  const sa = v.ext('sa');
  if (sa) out += ' ' + strOrId(STATE, sa.state).padEnd(1, ' ') + ' ' + (sa.spi >>> 0).toString(16).padStart(8, '0');
  else out += '?'.padEnd(1, ' ') + ' ' + '?'.padEnd(8, ' ');
  const lts = v.ext('lifetime_soft');
  const lth = v.ext('lifetime_hard');
  const ltc = v.ext('lifetime_current');
  if (lts && lth && ltc) {
    // `u_int t`: both values are cut to 32 bits before the comparison
    const age = ltc.addtime === 0n ? 0 : Number(BigInt.asUintN(32, BigInt(cur) - ltc.addtime));
    out += age >= 1000 ? ' big/' : ` ${String(age).padStart(3, ' ')}/`;
    const hard = Number(BigInt.asUintN(32, lth.addtime));
    out += hard >= 1000 ? 'big' : String(hard).padEnd(3, ' ');
  } else {
    out += ' ???/???';
  }
  return `${out} ${side(v.ext('address_src'), o)} -> ${side(v.ext('address_dst'), o)}\n`;
}
