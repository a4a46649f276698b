/**
 * --decrypt's loop: a capture read record by record (memory of one record),
 * each IPsec packet matched to its SA by (dst, protocol, SPI), checked (ICV
 * first: RFC 4303 section 3.4.4), opened, and written back as the receiver
 * would have it (src/capture/rebuild.ts); everything else copied unchanged.
 * A packet that fails any check is copied as it was and counted.
 */
import { CaptureError, captureWriter, dissect, openCapture, type CaptureReader, type CaptureRecord, rebuildTransport, rebuildTunnel, stripAh, type IpsecFound, type PacketRecord, type Rebuilt } from '../capture/index.js';
import { espSeq, inflateIpcomp, ipcompHeader } from '../esp/index.js';
import { Mode, SaFlag } from '../model/tables.js';
import { countFailure, countUnknown, newReport, saReport, type DecryptReport, type Failure, type SaReport } from './report.js';
import type { DecryptSa, SaTable } from './sad.js';
import { Transforms, type SaRuntime } from './transforms.js';
import type { OpenSsl } from '../sys/libcrypto.js';

const IPPROTO_IPIP = 4;
const IPPROTO_IPV6 = 41;
const IPPROTO_IPCOMP = 108;

type Opened = Rebuilt | { readonly ok: false; readonly failure: Failure };
const failed = (failure: Failure): Opened => ({ ok: false, failure });

interface Context {
  readonly table: SaTable;
  readonly transforms: Transforms;
  readonly report: DecryptReport;
}

/** Where an opened capture goes when its writes may lag behind (written by another thread while the next packets open). */
export interface PacedSink {
  /** take these bytes (copied: they are the reader's until the next record) */
  write(b: Uint8Array): void;
  /** undefined to go on; a promise to wait for first, when too much is waiting to be written */
  ready(): Promise<void> | undefined;
}

/**
 * Decrypt the capture on `fd` into a sink whose writes complete later (the
 * loop waits only when the sink says so); the report says what happened.
 * Throws CaptureError for a bad capture. Each record is done with before the
 * next is read: its bytes need no copy.
 */
export async function decryptCapturePaced(fd: number, table: SaTable, sink: PacedSink, onPacket?: () => void, openssl?: OpenSsl): Promise<DecryptReport> {
  const steps = decryptSteps(openCapture(fd, { borrow: true }), table, (b) => sink.write(b), onPacket, openssl);
  for (let n = 1; ; n++) {
    const s = steps.next();
    if (s.done) return s.value;
    const wait = sink.ready();
    if (wait) await wait;
    // the event loop is let in now and then even when nothing waits (output to /dev/null): a signal's
    // handler (the CLI removes its temporary file on Ctrl-C) runs within milliseconds
    else if ((n & 4095) === 0) await new Promise<void>((r) => setImmediate(r));
  }
}

/**
 * The next record; null at the end, and at a last record cut short (a capture
 * whose writer was stopped mid-packet, the common damage: tcpdump and
 * Wireshark read up to it too), which the report then names. Any other
 * damage is an error.
 */
function nextRecord(reader: CaptureReader, report: DecryptReport): CaptureRecord | null {
  try {
    return reader.next();
  } catch (e) {
    if (!(e instanceof CaptureError) || e.code !== 'truncated') throw e;
    report.cutShort = e.message;
    return null;
  }
}

/** The same over any reader (a capture in memory, say). */
export function decryptRecords(reader: CaptureReader, table: SaTable, write: (b: Uint8Array) => void, onPacket?: () => void, openssl?: OpenSsl): DecryptReport {
  const steps = decryptSteps(reader, table, write, onPacket, openssl);
  for (;;) {
    const s = steps.next();
    if (s.done) return s.value;
  }
}

/** The loop itself, pausing after each record so that a caller may wait for its output to drain. */
function* decryptSteps(
  reader: CaptureReader,
  table: SaTable,
  write: (b: Uint8Array) => void,
  onPacket: (() => void) | undefined,
  openssl: OpenSsl | undefined,
): Generator<void, DecryptReport, void> {
  const writer = captureWriter(reader.format, write);
  const ctx: Context = { table, transforms: new Transforms(openssl), report: newReport() };
  const natTPorts = table.nattPorts;
  for (let r = nextRecord(reader, ctx.report); r; r = nextRecord(reader, ctx.report)) {
    if (r.kind === 'block') {
      writer.copy(r);
    } else {
      ctx.report.packets++;
      onPacket?.();
      const opened = openRecord(ctx, r, natTPorts);
      if (opened) writer.replaceParts(r, opened.head, opened.body);
      else writer.copy(r);
    }
    yield;
  }
  for (const [sa, rep] of ctx.report.sas) {
    const s = ctx.transforms.of(sa).seq.stats();
    rep.counts.gaps = s.gaps;
    rep.counts.replays = s.replays;
  }
  return ctx.report;
}

/** The record's new bytes, or undefined to copy it as it was. */
function openRecord(ctx: Context, r: PacketRecord, natTPorts: ReadonlySet<number>): Rebuilt | undefined {
  const found = dissect(r.data, r.linkType, { natTPorts });
  if (!found.ok) {
    if (found.reason === 'fragment') ctx.report.fragments++;
    return undefined;
  }
  ctx.report.ipsec++;
  const sa = ctx.table.lookup(found.protocol, found.dst, found.spi);
  if (!sa) {
    countUnknown(ctx.report, found.protocol, found.srcText, found.dstText, found.spi);
    return undefined;
  }
  const rep = saReport(ctx.report, sa);
  const rt = ctx.transforms.of(sa);
  if (rt.unsupported) rep.unsupported = rt.unsupported;
  rep.counts.packets++;
  rep.counts.bytes += found.ipEnd - found.ipOffset;
  // a packet cut by the snapshot length cannot be checked (its ICV is at the end)
  if (r.data.length < r.originalLength) return conclude(ctx, rep, r, failed('short'));
  if (rt.unsupported) return conclude(ctx, rep, r, failed('unsupported'));
  const opened = found.protocol === 'esp' ? openEsp(ctx, r, found, sa, rt) : found.protocol === 'ah' ? openAh(r, found, sa, rt) : openIpcomp(ctx, r, found, sa);
  return conclude(ctx, rep, r, opened);
}

/** An ESP packet: ICV, decryption, padding, sequence number; an IPComp payload inside inflated. */
function openEsp(ctx: Context, r: PacketRecord, found: IpsecFound, sa: DecryptSa, rt: SaRuntime): Opened {
  const esp = r.data.subarray(found.offset, found.end);
  let high = rt.seq.inferHigh(espSeq(esp) ?? 0);
  let res = rt.esp!.open(esp, high);
  if (!res.ok && res.reason === 'icv' && sa.sa.esn) {
    // RFC 4303 appendix A2.2: a failed check may mean the high half moved on (a long loss, or a capture that
    // starts after the first 2^32 packets): the next one is tried before the packet counts as failed
    const next = rt.esp!.open(esp, (high + 1) >>> 0);
    if (next.ok) {
      res = next;
      high = (high + 1) >>> 0;
    }
  }
  if (!res.ok) return failed(res.reason);
  if (!res.padOk) return failed('padding');
  if (!old(sa)) rt.seq.record(res.seq, high);
  let inner: { nextHeader: number; payload: Uint8Array } = res;
  let mode = sa.sa.mode;
  if (inner.nextHeader === IPPROTO_IPCOMP) {
    // RFC 3173 section 5: ESP outside, IPComp inside (Linux's bundle order); the IPComp SA is counted with its ESP SA
    const hdr = ipcompHeader(inner.payload);
    const ipcompSa = hdr ? ctx.table.lookup('ipcomp', found.dst, hdr.cpi) : undefined;
    const inflated = inflate(inner.payload);
    if (!inflated) return failed('ipcomp');
    inner = inflated;
    if (ipcompSa) mode = ipcompSa.sa.mode;
  }
  return rebuild(r, found, mode, inner.nextHeader, inner.payload);
}

function openIpcomp(ctx: Context, r: PacketRecord, found: IpsecFound, sa: DecryptSa): Opened {
  const inflated = inflate(r.data.subarray(found.offset, found.end));
  if (!inflated) return failed('ipcomp');
  return rebuild(r, found, sa.sa.mode, inflated.nextHeader, inflated.payload);
}

/** Count what became of an SA's packet: its new bytes, or undefined (copied as it was). */
function conclude(ctx: Context, rep: SaReport, r: PacketRecord, o: Opened): Rebuilt | undefined {
  if (!o.ok) {
    countFailure(rep.counts, o.failure);
    return undefined;
  }
  if (r.snaplen > 0 && o.length > r.snaplen) {
    // an inflated payload longer than the file's snapshot length: readers would cut it
    countFailure(rep.counts, 'inner');
    return undefined;
  }
  rep.counts.opened++;
  ctx.report.opened++;
  return o;
}

/** RFC 1826/1827 transforms carry no sequence number */
const old = (sa: DecryptSa): boolean => (sa.sa.flags & SaFlag.OLD) !== 0;

function inflate(ipcomp: Uint8Array): { nextHeader: number; payload: Uint8Array } | undefined {
  const hdr = ipcompHeader(ipcomp);
  if (!hdr) return undefined;
  const out = inflateIpcomp(ipcomp.subarray(4));
  return out.ok ? { nextHeader: hdr.nextHeader, payload: out.data } : undefined;
}

function openAh(r: PacketRecord, found: IpsecFound, sa: DecryptSa, rt: SaRuntime): Opened {
  const ip = r.data.subarray(found.ipOffset, found.ipEnd);
  const at = found.offset - found.ipOffset;
  const low = ip.length >= at + 12 ? ((ip[at + 8]! << 24) | (ip[at + 9]! << 16) | (ip[at + 10]! << 8) | ip[at + 11]!) >>> 0 : 0;
  const high = rt.seq.inferHigh(low);
  const res = rt.ah!.verify(ip, found.version, at, high);
  if (!res.ok) return failed(res.reason === 'icv' ? 'icv' : 'short');
  if (!old(sa)) rt.seq.record(res.seq, high);
  if (sa.sa.mode === Mode.TUNNEL && (res.nextHeader === IPPROTO_IPIP || res.nextHeader === IPPROTO_IPV6)) {
    return done(rebuildTunnel(r.data, found, r.linkType, r.data.subarray(found.offset + res.ahLength, found.end)));
  }
  return done(stripAh(r.data, found));
}

/** Tunnel mode: the inner packet replaces the outer; otherwise the payload follows the outer header (transport). */
function rebuild(r: PacketRecord, found: IpsecFound, mode: number, nextHeader: number, payload: Uint8Array): Opened {
  if (mode === Mode.TUNNEL) {
    if (nextHeader !== IPPROTO_IPIP && nextHeader !== IPPROTO_IPV6) return failed('inner');
    return done(rebuildTunnel(r.data, found, r.linkType, payload));
  }
  return done(rebuildTransport(r.data, found, payload, nextHeader));
}

function done(x: Rebuilt | { ok: false }): Opened {
  return x.ok ? x : failed('inner');
}
