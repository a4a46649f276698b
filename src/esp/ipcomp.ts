/**
 * IPComp (RFC 3173) with DEFLATE (RFC 2394): the 4-byte IPComp header
 * (Next Header | Flags | CPI) is followed by a raw DEFLATE stream (RFC 1951,
 * no zlib header, RFC 2394 section 2.1). The output is bounded by the
 * largest IP datagram, so a hostile stream cannot make the reader allocate
 * more (a "zip bomb").
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';

/** RFC 3173 section 2.2: nothing decompresses to more than an IP datagram can hold. */
export const IPCOMP_MAX_OUTPUT = 65535;

export type InflateResult =
  | { readonly ok: true; readonly data: Uint8Array }
  | { readonly ok: false; readonly reason: 'too-large' | 'corrupt' };

/** The IPComp header of RFC 3173 section 2.2. */
export interface IpcompHeader {
  readonly nextHeader: number;
  readonly flags: number;
  /** Compression Parameter Index (the SA's "SPI") */
  readonly cpi: number;
}

export function ipcompHeader(packet: Uint8Array): IpcompHeader | undefined {
  if (packet.length < 4) return undefined;
  return { nextHeader: packet[0]!, flags: packet[1]!, cpi: (packet[2]! << 8) | packet[3]! };
}

/**
 * Inflate an IPComp payload (the bytes after the 4-byte header). Errors are
 * values: an output past IPCOMP_MAX_OUTPUT is 'too-large', anything zlib
 * refuses (a bad or truncated stream, an empty one) is 'corrupt'. Bytes after
 * the end of the DEFLATE stream are ignored, as zlib ignores them.
 */
export function inflateIpcomp(payload: Uint8Array): InflateResult {
  try {
    const data = inflateRawSync(payload, { maxOutputLength: IPCOMP_MAX_OUTPUT });
    return { ok: true, data };
  } catch (err) {
    const code = (err as { code?: string }).code;
    return { ok: false, reason: code === 'ERR_BUFFER_TOO_LARGE' ? 'too-large' : 'corrupt' };
  }
}

/** An IPComp packet (header and deflated payload), for tests and benchmark captures. */
export function deflateIpcomp(nextHeader: number, cpi: number, data: Uint8Array): Uint8Array {
  const body = deflateRawSync(data);
  const out = new Uint8Array(4 + body.length);
  out[0] = nextHeader;
  out[1] = 0;
  out[2] = cpi >>> 8;
  out[3] = cpi & 0xff;
  out.set(body, 4);
  return out;
}
