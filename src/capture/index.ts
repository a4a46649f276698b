/** Reading, dissecting and rewriting captured IPsec traffic (setkey --decrypt). */
export { CaptureError, type CaptureErrorCode } from './errors.js';
export type { BlockRecord, CaptureFormat, CaptureReader, CaptureRecord, PacketRecord, PcapFormat, PcapngFormat, ReaderOptions, RecordLayout, Timestamp } from './records.js';
export { DEFAULT_MAX_RECORD, timestampText } from './records.js';
export { captureWriter, openCapture, openCaptureBytes, openSource, type CaptureWriter } from './reader.js';
export type { ByteSource } from './window.js';
export { LINK_LAYERS, linkFamily, linkLayer, locateIp, type IpVersion, type LinkFrame, type LinkLayer, type LinkProblem, type RewriteOptions } from './linktypes.js';
export { dissect, dissectIp, IPPROTO, NAT_T_PORT, type DissectOptions, type IpsecFound, type IpsecNotFound, type IpsecProtocol, type NotFoundReason, type UdpEncap } from './ip.js';
export { fold, internetChecksum, ipv4HeaderChecksum, onesSum, pseudoHeaderSum, transportChecksum, transportChecksumOk } from './checksum.js';
export { rebuildTransport, rebuildTunnel, stripAh, type Rebuilt, type RebuildProblem } from './rebuild.js';
