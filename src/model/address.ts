/**
 * IP addresses: strict literal parsing and the text form glibc's
 * getnameinfo(NI_NUMERICHOST) / inet_ntop produce, which is what the
 * reference setkey prints.
 */

export type Family = 4 | 6;

export interface IpAddress {
  readonly family: Family;
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array;
  /** IPv6 scope (interface index); 0 when none. */
  readonly scopeId: number;
  /** IPv6 flow label as carried in sockaddr_in6 (kept for exact round trips). */
  readonly flowInfo?: number;
}

/** An address with the port a sockaddr carries (0 = any). */
export interface Endpoint {
  readonly addr: IpAddress;
  readonly port: number;
}

export function ipv4(a: number, b: number, c: number, d: number): IpAddress {
  return { family: 4, bytes: Uint8Array.of(a, b, c, d), scopeId: 0 };
}

/** Parse a dotted quad exactly as inet_pton(AF_INET) does: four decimal parts 0..255, no leading junk. */
export function parseIpv4(s: string, start = 0, end = s.length): Uint8Array | undefined {
  const out = new Uint8Array(4);
  let part = 0;
  let i = start;
  while (part < 4) {
    let v = 0;
    let digits = 0;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
      digits++;
      i++;
      if (digits > 3) return undefined;
    }
    if (digits === 0 || v > 255) return undefined;
    // inet_pton rejects leading zeros such as "01"
    if (digits > 1 && s.charCodeAt(i - digits) === 48) return undefined;
    out[part++] = v;
    if (part < 4) {
      if (i >= end || s.charCodeAt(i) !== 46) return undefined;
      i++;
    }
  }
  return i === end ? out : undefined;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parse an IPv6 literal (RFC 4291 text forms, including a trailing dotted quad). */
export function parseIpv6(s: string): Uint8Array | undefined {
  const words: number[] = [];
  let gap = -1;
  let i = 0;
  const n = s.length;
  if (n < 2) return undefined;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return undefined;
    gap = 0;
    i = 2;
    if (i === n) return new Uint8Array(16);
  }
  while (i < n) {
    // a dotted quad may end the address
    let j = i;
    let v = 0;
    let digits = 0;
    while (j < n) {
      const h = hexVal(s.charCodeAt(j));
      if (h < 0) break;
      v = (v << 4) | h;
      digits++;
      j++;
      if (digits > 4) return undefined;
    }
    if (j < n && s.charCodeAt(j) === 46) {
      const q = parseIpv4(s, i, n);
      if (!q || words.length > 6) return undefined;
      words.push((q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!);
      i = n;
      break;
    }
    if (digits === 0) return undefined;
    words.push(v);
    i = j;
    if (i === n) break;
    if (s.charCodeAt(i) !== 58) return undefined;
    i++;
    if (i < n && s.charCodeAt(i) === 58) {
      if (gap >= 0) return undefined;
      gap = words.length;
      i++;
      if (i === n) break;
    } else if (i === n) {
      return undefined;
    }
  }
  if (gap < 0 ? words.length !== 8 : words.length > 7) return undefined;
  const out = new Uint8Array(16);
  const tail = gap < 0 ? 0 : words.length - gap;
  const head = gap < 0 ? words.length : gap;
  for (let k = 0; k < head; k++) {
    out[2 * k] = words[k]! >> 8;
    out[2 * k + 1] = words[k]! & 0xff;
  }
  for (let k = 0; k < tail; k++) {
    const w = words[head + k]!;
    const pos = 8 - tail + k;
    out[2 * pos] = w >> 8;
    out[2 * pos + 1] = w & 0xff;
  }
  return out;
}

export interface IpLiteral {
  addr: IpAddress;
  /** the zone text after '%', when given (resolved to scopeId by the caller) */
  zone?: string;
}

/** An IPv4 or IPv6 literal, IPv6 optionally with a %zone. Undefined if not a literal. */
export function parseIpLiteral(s: string): IpLiteral | undefined {
  if (s.indexOf(':') < 0) {
    const b = parseIpv4(s);
    return b ? { addr: { family: 4, bytes: b, scopeId: 0 } } : undefined;
  }
  const pct = s.indexOf('%');
  const body = pct < 0 ? s : s.slice(0, pct);
  const b = parseIpv6(body);
  if (!b) return undefined;
  if (pct < 0) return { addr: { family: 6, bytes: b, scopeId: 0 } };
  const zone = s.slice(pct + 1);
  if (zone.length === 0) return undefined;
  const numeric = /^[0-9]+$/.test(zone) ? Number(zone) : undefined;
  if (numeric !== undefined && numeric > 0xffffffff) return undefined;
  return { addr: { family: 6, bytes: b, scopeId: numeric ?? 0 }, zone };
}

/** inet_ntop(AF_INET) of the 4 bytes at `off`. */
export function formatIpv4(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** inet_ntop(AF_INET6) as glibc writes it (longest zero run of >= 2 words compressed; embedded IPv4 forms). */
export function formatIpv6(b: Uint8Array): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      if (curBase < 0) {
        curBase = i;
        curLen = 1;
      } else curLen++;
    } else if (curBase >= 0) {
      if (bestBase < 0 || curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (curBase >= 0 && (bestBase < 0 || curLen > bestLen)) {
    bestBase = curBase;
    bestLen = curLen;
  }
  if (bestBase >= 0 && bestLen < 2) bestBase = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      out += formatIpv4(b, 12);
      break;
    }
    out += w[i]!.toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) out += ':';
  return out;
}

/** Numeric text of an address; `ifname` maps a scope id to an interface name (getnameinfo appends %name). */
export function formatIp(a: IpAddress, ifname?: (index: number) => string | undefined): string {
  if (a.family === 4) return formatIpv4(a.bytes);
  const text = formatIpv6(a.bytes);
  if (a.scopeId === 0) return text;
  // glibc getnameinfo: %ifname for (multicast) link-local, the bare number otherwise
  const name = isScoped(a.bytes) ? ifname?.(a.scopeId) : undefined;
  return `${text}%${name ?? String(a.scopeId >>> 0)}`;
}

/** Link-local and multicast link-local addresses get an interface name for their scope. */
function isScoped(b: Uint8Array): boolean {
  const linkLocal = b[0] === 0xfe && (b[1]! & 0xc0) === 0x80;
  const mcLinkLocal = b[0] === 0xff && (b[1]! & 0x0f) === 0x02;
  return linkLocal || mcLinkLocal;
}

export function sameAddress(a: IpAddress, b: IpAddress): boolean {
  if (a.family !== b.family || a.scopeId !== b.scopeId) return false;
  for (let i = 0; i < a.bytes.length; i++) if (a.bytes[i] !== b.bytes[i]) return false;
  return true;
}

export function fullPrefix(f: Family): number {
  return f === 4 ? 32 : 128;
}
