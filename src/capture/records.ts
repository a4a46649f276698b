/**
 * What the readers hand out and the writer takes back. A record keeps its
 * bytes exactly as they were in the file (`raw`), so copying it is writing
 * `raw`, and keeps where its parts are (`layout`), so replacing its packet
 * rewrites only the lengths and the data.
 */

/** Reader bounds: a record longer than maxRecord is an error, never an allocation. */
export interface ReaderOptions {
  /** largest record or block accepted, in bytes (default 16 MiB) */
  maxRecord?: number;
  /** bytes read from the descriptor at a time (default 1 MiB) */
  chunk?: number;
  /**
   * packet records' bytes are views of the reader's buffer, valid only until
   * the next next(): no copy per packet, for a caller that is done with a
   * record before asking for the next (other blocks are always copies)
   */
  borrow?: boolean;
}

/**
 * libpcap's MAXIMUM_SNAPLEN is 256 KiB and its largest per-link bound
 * (D-Bus) 128 MiB; an IP packet is at most 64 KiB plus its link header
 * (jumbograms aside). 16 MiB keeps every real capture readable and the
 * memory of a hostile one small.
 */
export const DEFAULT_MAX_RECORD = 16 << 20;

/**
 * A timestamp as the file wrote it: seconds and a fraction counted in
 * 1/unitsPerSecond (10^6 or 10^9 for pcap; any power of 10 or 2 for pcapng's
 * if_tsresol), bigints so nothing is rounded.
 */
export interface Timestamp {
  readonly seconds: bigint;
  readonly fraction: bigint;
  readonly unitsPerSecond: bigint;
}

/** How the writer rebuilds a packet record with new bytes. */
export type RecordLayout =
  | { readonly kind: 'pcap'; readonly littleEndian: boolean }
  /** pcapng Enhanced (6) or obsolete (2) Packet Block: the fixed fields before the data, then options */
  | { readonly kind: 'epb' | 'pb'; readonly littleEndian: boolean; readonly options: Uint8Array }
  /** pcapng Simple Packet Block (3): no timestamp, no interface, no options */
  | { readonly kind: 'spb'; readonly littleEndian: boolean };

export interface PacketRecord {
  readonly kind: 'packet';
  /** 1-based, counted over the whole file (all pcapng sections) */
  readonly number: number;
  /** byte offset of the record (pcap record header, or pcapng block) in the file */
  readonly offset: number;
  /** LINKTYPE_ value (the low 16 bits of pcap's field; pcapng's IDB field) */
  readonly linkType: number;
  /** bytes of frame check sequence at the end of each frame, when the file says (pcap FCS bits, pcapng if_fcslen) */
  readonly fcsLength: number;
  /** the interface's (pcapng) or file's (pcap) snapshot length; 0 = none */
  readonly snaplen: number;
  /** pcapng interface id (0 for pcap and SPB) */
  readonly interfaceId: number;
  /** undefined for pcapng Simple Packet Blocks, which carry none */
  readonly timestamp: Timestamp | undefined;
  /** the captured bytes (a view into raw) */
  readonly data: Uint8Array;
  readonly originalLength: number;
  /** the record exactly as in the file */
  readonly raw: Uint8Array;
  readonly layout: RecordLayout;
}

/** Any pcapng block that is not a packet (SHB, IDB, NRB, ISB, DSB, custom, unknown): copied verbatim. */
export interface BlockRecord {
  readonly kind: 'block';
  readonly offset: number;
  readonly type: number;
  readonly raw: Uint8Array;
}

export type CaptureRecord = PacketRecord | BlockRecord;

export interface PcapFormat {
  readonly kind: 'pcap';
  readonly littleEndian: boolean;
  /** magic 0xa1b23c4d: fractions are nanoseconds */
  readonly nanosecond: boolean;
  readonly versionMajor: number;
  readonly versionMinor: number;
  /** signed; always 0 in practice */
  readonly thiszone: number;
  readonly sigfigs: number;
  readonly snaplen: number;
  /** the 32-bit field as read: link type in the low 16 bits, FCS length and flag in the upper bits */
  readonly linkTypeField: number;
  readonly linkType: number;
  readonly fcsLength: number;
}

export interface PcapngFormat {
  readonly kind: 'pcapng';
  /** byte order of the first section (each section has its own; records carry theirs) */
  readonly littleEndian: boolean;
}

export type CaptureFormat = PcapFormat | PcapngFormat;

export interface CaptureReader {
  readonly format: CaptureFormat;
  /** The next record, null at a clean end of input; throws CaptureError (again on every later call) once the input is bad. */
  next(): CaptureRecord | null;
}

/** "seconds.fraction" in decimal: exact for 10^-n resolutions, nanoseconds (truncated) for 2^-n. */
export function timestampText(ts: Timestamp): string {
  let digits = 0;
  let u = ts.unitsPerSecond;
  while (u > 1n && u % 10n === 0n) {
    u /= 10n;
    digits++;
  }
  if (u === 1n) return digits === 0 ? `${ts.seconds}` : `${ts.seconds}.${ts.fraction.toString().padStart(digits, '0')}`;
  const nanos = (ts.fraction * 1_000_000_000n) / ts.unitsPerSecond;
  return `${ts.seconds}.${nanos.toString().padStart(9, '0')}`;
}
