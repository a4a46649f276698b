/**
 * What --decrypt saw, per SA and in all: the counts a person debugging a
 * manually keyed tunnel asks for first (did the keys match? is anything
 * lost or replayed?), as text and as JSON. Pure: the CLI prints it.
 */
import type { DecryptSa } from './sad.js';
import { spiText } from './sad.js';

/** Why an IPsec packet of a known SA stayed as it was. */
export type Failure = 'icv' | 'padding' | 'short' | 'cipher' | 'ipcomp' | 'unsupported' | 'fragment' | 'inner';

export interface SaCounts {
  packets: number;
  /** bytes of the IP packets that carried the SA's protocol */
  bytes: number;
  opened: number;
  icvFailures: number;
  badPadding: number;
  /** too short, undecipherable, an IPComp payload that would not inflate, no inner packet */
  otherFailures: number;
  /** packets not tried: the SA's algorithm cannot be run here (see `unsupported`) */
  notTried: number;
  /** sequence numbers skipped over (RFC 4303 section 3.3.3 counts from 1) */
  gaps: number;
  /** sequence numbers seen again */
  replays: number;
}

export interface SaReport {
  readonly sa: DecryptSa;
  readonly counts: SaCounts;
  /** `cannot decrypt twofish-cbc: ...` when the SA's algorithm cannot be run */
  unsupported?: string;
}

export interface UnknownSpi {
  readonly proto: string;
  readonly src: string;
  readonly dst: string;
  readonly spi: number;
  packets: number;
}

export interface DecryptReport {
  packets: number;
  /** packets that carried ESP, AH or IPComp */
  ipsec: number;
  opened: number;
  /** IPsec packets of no SA the SAD holds */
  unknown: number;
  /** IP fragments: a receiver reassembles before it opens IPsec; --decrypt copies them as they are */
  fragments: number;
  readonly sas: Map<DecryptSa, SaReport>;
  readonly unknownSpis: Map<string, UnknownSpi>;
  /** the capture ended inside a record: where (the packets before it were written) */
  cutShort?: string;
}

export function newReport(): DecryptReport {
  return { packets: 0, ipsec: 0, opened: 0, unknown: 0, fragments: 0, sas: new Map(), unknownSpis: new Map() };
}

export function zeroCounts(): SaCounts {
  return { packets: 0, bytes: 0, opened: 0, icvFailures: 0, badPadding: 0, otherFailures: 0, notTried: 0, gaps: 0, replays: 0 };
}

/** The report of one SA, made on its first packet (SAs without packets are not listed). */
export function saReport(r: DecryptReport, sa: DecryptSa): SaReport {
  let s = r.sas.get(sa);
  if (!s) r.sas.set(sa, (s = { sa, counts: zeroCounts() }));
  return s;
}

export function countFailure(c: SaCounts, f: Failure): void {
  if (f === 'icv') c.icvFailures++;
  else if (f === 'padding') c.badPadding++;
  else if (f === 'unsupported') c.notTried++;
  else c.otherFailures++;
}

export function countUnknown(r: DecryptReport, proto: string, src: string, dst: string, spi: number): void {
  r.unknown++;
  const key = `${proto} ${src} ${dst} ${spi}`;
  const u = r.unknownSpis.get(key);
  if (u) u.packets++;
  else r.unknownSpis.set(key, { proto, src, dst, spi, packets: 1 });
}

/** Every IPsec packet of a known SA opened, and the capture whole (exit 0), or not (exit 2). */
export function allOpened(r: DecryptReport): boolean {
  if (r.cutShort !== undefined) return false;
  for (const s of r.sas.values()) if (s.counts.opened !== s.counts.packets) return false;
  return true;
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function saLine(s: SaReport): string {
  const c = s.counts;
  const parts = [
    plural(c.packets, 'packet'),
    plural(c.bytes, 'byte'),
    `${c.opened} opened`,
    plural(c.icvFailures, 'ICV failure'),
    `${c.badPadding} bad padding`,
    plural(c.gaps, 'sequence gap'),
    plural(c.replays, 'replay'),
  ];
  if (c.otherFailures) parts.push(`${c.otherFailures} not opened otherwise (short, undecipherable or no inner packet)`);
  if (s.unsupported) parts.push(`${c.notTried} not tried: ${s.unsupported}`);
  return `  ${s.sa.label}: ${parts.join(', ')}\n`;
}

/** The summary for stderr. */
export function reportText(r: DecryptReport, where: string): string {
  let s = `setkey: --decrypt: ${plural(r.packets, 'packet')} read, ${r.ipsec} IPsec, ${r.opened} opened; written to ${where}\n`;
  for (const sa of r.sas.values()) s += saLine(sa);
  if (r.fragments) s += `  ${plural(r.fragments, 'IP fragment')} copied as they were (IPsec in fragments opens only after reassembly, which --decrypt does not do)\n`;
  for (const u of r.unknownSpis.values()) s += `  unknown SPI: ${u.proto} ${u.src}->${u.dst} spi ${spiText(u.spi)}: ${plural(u.packets, 'packet')}\n`;
  if (r.cutShort !== undefined) s += `  the capture is cut short: ${r.cutShort}; the packets before it were written\n`;
  return s;
}

/** The summary as data (--format=json). */
export function reportJson(r: DecryptReport, where: string): string {
  const doc = {
    schema: 'setkey-decrypt/1',
    output: where,
    packets: r.packets,
    ipsec: r.ipsec,
    opened: r.opened,
    unknown: r.unknown,
    fragments: r.fragments,
    allOpened: allOpened(r),
    cutShort: r.cutShort ?? null,
    sas: [...r.sas.values()].map((s) => ({
      protocol: s.sa.proto,
      src: s.sa.src,
      dst: s.sa.dst,
      spi: s.sa.sa.spi >>> 0,
      spiHex: spiText(s.sa.sa.spi),
      ...s.counts,
      unsupported: s.unsupported ?? null,
    })),
    unknownSpis: [...r.unknownSpis.values()].map((u) => ({ protocol: u.proto, src: u.src, dst: u.dst, spi: u.spi >>> 0, spiHex: spiText(u.spi), packets: u.packets })),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
