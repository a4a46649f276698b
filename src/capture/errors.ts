/**
 * One error class for everything a capture file can be wrong about. The
 * reader, the writer and the fuzz tests rely on it being the only thing they
 * throw for bad input: a caller catches CaptureError, prints `message` (one
 * line, already naming the packet and the byte), and decides whether to stop
 * (a truncated last record is the common case of a capture cut short).
 */

/** Stable codes: scripts and the CLI may match on them; the wording may change. */
export type CaptureErrorCode =
  /** the first bytes are neither a pcap magic nor a pcapng Section Header Block */
  | 'not-capture'
  /** the file header (pcap) is cut short */
  | 'truncated-header'
  /** the last record or block is cut short */
  | 'truncated'
  /** a length field claims more than the reader's bound (never allocated) */
  | 'too-large'
  /** a pcapng block whose structure is impossible (length, trailer, fields) */
  | 'bad-block'
  /** a pcapng section of a major version other than 1 */
  | 'unsupported-version'
  /** a pcapng packet names an interface its section did not describe */
  | 'bad-interface'
  /** the writer was asked for a record it cannot express faithfully */
  | 'cannot-write'
  /** reading the file descriptor failed */
  | 'io';

export class CaptureError extends Error {
  override readonly name = 'CaptureError';
  constructor(
    readonly code: CaptureErrorCode,
    /** 1-based number of the packet being read (the next packet's number when the failing record is not a packet); 0 for the file header */
    readonly packet: number,
    /** byte offset in the file of the record that failed */
    readonly offset: number,
    /** the reason alone, without the position */
    readonly reason: string,
  ) {
    super(`${packet > 0 ? `packet ${packet} at byte ${offset}` : `at byte ${offset}`}: ${reason}`);
  }
}
