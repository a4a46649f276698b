/**
 * The SAD as --decrypt needs it: SAs looked up the way a receiver looks them
 * up, by (destination, protocol, SPI) (RFC 4301 section 4.1; for IPComp the
 * CPI stands in the SPI's place, RFC 3173 section 3.3). The SA's source is
 * kept for the summary and the Wireshark export but never matched: a
 * receiver does not either.
 */
import { formatIp } from '../model/address.js';
import type { SaParams } from '../model/sa.js';
import { nameOf, saProtoTable } from '../model/tables.js';
import { hex8 } from '../format/sadump.js';

export type IpsecProto = 'esp' | 'ah' | 'ipcomp';

const PROTOS: ReadonlySet<string> = new Set<IpsecProto>(['esp', 'ah', 'ipcomp']);

/** The protocol of an SA type; undefined for the types no packet carries (tcp-md5, ...). */
export function protoOfSatype(satype: number): IpsecProto | undefined {
  const name = nameOf(saProtoTable, satype);
  return name !== undefined && PROTOS.has(name) ? (name as IpsecProto) : undefined;
}

export interface DecryptSa {
  readonly sa: SaParams;
  readonly proto: IpsecProto;
  /** numeric text of the endpoints, as setkey prints them */
  readonly src: string;
  readonly dst: string;
  /** `esp 192.0.2.1->192.0.2.2 spi 0x00001000`: the SA's name in the summary */
  readonly label: string;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The lookup key: the destination's bytes (no scope: a packet carries none), protocol, SPI. */
export function saKey(proto: IpsecProto, dst: Uint8Array, spi: number): string {
  return `${proto}/${Buffer.from(dst.buffer, dst.byteOffset, dst.byteLength).toString('hex')}/${spi >>> 0}`;
}

export function spiText(spi: number): string {
  return `0x${hex8(spi)}`;
}

/** The SAs of a SAD, indexed for packets. A later SA with the same (dst, proto, SPI) replaces an earlier one, as `update` would. */
export class SaTable {
  private readonly byKey = new Map<string, DecryptSa>();
  /** UDP ports of NAT-T SAs other than 4500: packets to or from them may carry ESP (RFC 3948) */
  readonly nattPorts = new Set<number>();

  constructor(sas: Iterable<SaParams>) {
    for (const sa of sas) {
      const proto = protoOfSatype(sa.satype);
      if (!proto) continue;
      const src = formatIp(sa.src.addr);
      const dst = formatIp(sa.dst.addr);
      const label = `${proto} ${src}->${dst} spi ${spiText(sa.spi)}`;
      this.byKey.set(saKey(proto, sa.dst.addr.bytes, sa.spi), { sa, proto, src, dst, label });
      if (sa.natt) {
        for (const p of [sa.natt.sport, sa.natt.dport]) if (p !== 0 && p !== 4500) this.nattPorts.add(p);
      }
    }
  }

  get size(): number {
    return this.byKey.size;
  }

  private last: { proto: IpsecProto; dst: Uint8Array; spi: number; sa: DecryptSa | undefined } | undefined;

  lookup(proto: IpsecProto, dst: Uint8Array, spi: number): DecryptSa | undefined {
    // a capture is runs of packets of one SA: the last answer first, without building a key
    const l = this.last;
    if (l && l.spi === spi && l.proto === proto && sameBytes(l.dst, dst)) return l.sa;
    const sa = this.byKey.get(saKey(proto, dst, spi));
    this.last = { proto, dst: dst.slice(), spi, sa };
    return sa;
  }

  /** Every SA, in the order they were given. */
  all(): DecryptSa[] {
    return [...this.byKey.values()];
  }
}
