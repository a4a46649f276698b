/**
 * Opening a capture (pcap or pcapng, told by its first bytes) and writing
 * one back. Reading is record by record through a bounded window; writing is
 * record by record through the caller's `write`, so a capture of any size
 * passes through in the memory of its largest record.
 */
import { CaptureError } from './errors.js';
import { decodePcapHeader, encodePcapHeader, pcapRecordHeader, PCAP_HEADER_SIZE, PCAP_RECORD_HEADER_SIZE, pcapMagic, readPcapRecord } from './pcap.js';
import { encodePacketBlock, readPcapngBlock, shbByteOrder, type Section } from './pcapng.js';
import { DEFAULT_MAX_RECORD, type CaptureFormat, type CaptureReader, type CaptureRecord, type PacketRecord, type ReaderOptions } from './records.js';
import { bytesSource, CHUNK, fdSource, Window, type ByteSource } from './window.js';

/** Read a capture from a file descriptor (its current position onwards; pipes work). */
export function openCapture(fd: number, options: ReaderOptions = {}): CaptureReader {
  return openSource(fdSource(fd), options);
}

/** Read a capture held in memory (tests, fuzzing, small inputs). */
export function openCaptureBytes(bytes: Uint8Array, options: ReaderOptions = {}): CaptureReader {
  return openSource(bytesSource(bytes), options);
}

export function openSource(source: ByteSource, options: ReaderOptions = {}): CaptureReader {
  const maxRecord = Math.max(64, options.maxRecord ?? DEFAULT_MAX_RECORD);
  const w = new Window(source, options.chunk ?? CHUNK);
  const have = w.fill(PCAP_HEADER_SIZE);
  const head = w.view();
  if (pcapMagic(head)) {
    if (have < PCAP_HEADER_SIZE) throw new CaptureError('truncated-header', 0, 0, `truncated pcap file header: ${have} of ${PCAP_HEADER_SIZE} bytes`);
    const format = decodePcapHeader(w.take(PCAP_HEADER_SIZE));
    return sticky(format, (n) => readPcapRecord(w, format, n, maxRecord, options.borrow === true));
  }
  if (have >= 12 && shbByteOrder(head) !== undefined) {
    let section: Section | undefined;
    const format = { kind: 'pcapng' as const, littleEndian: shbByteOrder(head)! };
    return sticky(format, (n) => {
      const got = readPcapngBlock(w, section, n, maxRecord, options.borrow === true);
      if (got === null) return null;
      section = got.section;
      return got.record;
    });
  }
  throw new CaptureError('not-capture', 0, 0, have === 0 ? 'empty file: not a pcap or pcapng file' : 'not a pcap or pcapng file');
}

/** Packet numbering, and an error that stays: after a bad record, every later next() throws it again. */
function sticky(format: CaptureFormat, read: (number: number) => CaptureRecord | null): CaptureReader {
  let packets = 0;
  let failed: CaptureError | undefined;
  let done = false;
  return {
    format,
    next() {
      if (failed) throw failed;
      if (done) return null;
      try {
        const r = read(packets + 1);
        if (r === null) done = true;
        else if (r.kind === 'packet') packets++;
        return r;
      } catch (e) {
        if (e instanceof CaptureError) failed = e;
        throw e;
      }
    },
  };
}

export interface CaptureWriter {
  /** The record exactly as it was read. */
  copy(record: CaptureRecord): void;
  /** The packet record with new bytes (lengths, padding updated; timestamp, interface, options kept). */
  replace(record: PacketRecord, data: Uint8Array): void;
  /** The same with the new bytes in two pieces (a pcap record writes them as they are, unjoined). */
  replaceParts(record: PacketRecord, head: Uint8Array, body: Uint8Array): void;
}

/**
 * A writer for a capture of the same format as the one read: a pcap file
 * header is written at once (same byte order, resolution, version, snaplen,
 * link type field); a pcapng file's headers are its SHB and IDB blocks, which
 * arrive through copy().
 */
const EMPTY = new Uint8Array(0);

function joined(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export function captureWriter(format: CaptureFormat, write: (b: Uint8Array) => void): CaptureWriter {
  if (format.kind === 'pcap') write(encodePcapHeader(format));
  const scratch = new Uint8Array(PCAP_RECORD_HEADER_SIZE);
  return {
    copy(record) {
      write(record.raw);
    },
    replace(record, data) {
      this.replaceParts(record, data, EMPTY);
    },
    replaceParts(record, head, body) {
      const length = head.length + body.length;
      // a longer record than the snapshot length would be cut by readers (libpcap discards the excess)
      if (record.snaplen > 0 && length > record.snaplen) {
        throw new CaptureError('cannot-write', record.number, record.offset, `new packet of ${length} bytes exceeds the snapshot length ${record.snaplen}`);
      }
      const layout = record.layout;
      if ((layout.kind === 'pcap') !== (format.kind === 'pcap')) {
        throw new CaptureError('cannot-write', record.number, record.offset, `a ${layout.kind} record cannot be written to a ${format.kind} file`);
      }
      if (layout.kind !== 'pcap') return write(encodePacketBlock(record, body.length ? joined(head, body) : head));
      // header and data as separate writes: no per-packet join (the header in a scratch buffer: write copies it)
      write(pcapRecordHeader(record, layout.littleEndian, length, scratch));
      write(head);
      if (body.length) write(body);
    },
  };
}
