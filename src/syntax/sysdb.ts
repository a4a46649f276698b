/**
 * What the language needs from the system: the protocols database
 * (getprotobyname/getprotobynumber), the services database (named ports) and
 * interface indexes (IPv6 zones). The parser takes it as a value so it stays
 * pure; `parseProtocols`/`parseServices` read the usual file formats, and the
 * built-in tables below stand in where /etc has none (netbase 6.4 numbers).
 */

export interface SystemDb {
  protocolByName(name: string): number | undefined;
  protocolByNumber(n: number): string | undefined;
  /** every protocol name, for "did you mean" (optional: a database that cannot list them suggests nothing) */
  protocolNames?(): Iterable<string>;
  /** port of a named service; `proto` is the preferred transport ('udp' as getaddrinfo with SOCK_DGRAM) */
  serviceByName(name: string, proto?: string): number | undefined;
  /** interface index of a name, for IPv6 zones (`fe80::1%eth0`) */
  ifIndex(name: string): number | undefined;
  /** interface name of an index, for printing scoped addresses */
  ifName(index: number): string | undefined;
}

/** Protocols every system lists (netbase 6.4), used when /etc/protocols is missing. */
export const BUILTIN_PROTOCOLS: ReadonlyArray<readonly [string, number, ...string[]]> = [
  ['ip', 0, 'IP'],
  ['icmp', 1, 'ICMP'],
  ['igmp', 2, 'IGMP'],
  ['ipencap', 4, 'IP-ENCAP'],
  ['tcp', 6, 'TCP'],
  ['udp', 17, 'UDP'],
  ['ipv6', 41, 'IPv6'],
  ['ipv6-route', 43, 'IPv6-Route'],
  ['ipv6-frag', 44, 'IPv6-Frag'],
  ['gre', 47, 'GRE'],
  ['esp', 50, 'IPSEC-ESP'],
  ['ah', 51, 'IPSEC-AH'],
  ['ipv6-icmp', 58, 'IPv6-ICMP'],
  ['ipv6-nonxt', 59, 'IPv6-NoNxt'],
  ['ipv6-opts', 60, 'IPv6-Opts'],
  ['ospf', 89, 'OSPFIGP'],
  ['ipcomp', 108, 'IPComp'],
  ['sctp', 132, 'SCTP'],
  ['mobility-header', 135, 'Mobility-Header'],
  ['udplite', 136, 'UDPLite'],
];

export interface ProtocolTable {
  readonly byName: ReadonlyMap<string, number>;
  readonly byNumber: ReadonlyMap<number, string>;
}

/** Parse /etc/protocols text: `name number [aliases...] [# comment]`; the first entry of a number names it. */
export function parseProtocols(text: string): ProtocolTable {
  const byName = new Map<string, number>();
  const byNumber = new Map<number, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const f = line.split(/\s+/);
    const n = Number(f[1]);
    if (!f[0] || !Number.isInteger(n) || n < 0 || n > 255) continue;
    for (const name of [f[0], ...f.slice(2)]) if (!byName.has(name)) byName.set(name, n);
    if (!byNumber.has(n)) byNumber.set(n, f[0]);
  }
  return { byName, byNumber };
}

export function builtinProtocols(): ProtocolTable {
  const byName = new Map<string, number>();
  const byNumber = new Map<number, string>();
  for (const [name, n, ...aliases] of BUILTIN_PROTOCOLS) {
    for (const a of [name, ...aliases]) byName.set(a, n);
    if (!byNumber.has(n)) byNumber.set(n, name);
  }
  return { byName, byNumber };
}

/** name -> (transport -> port) */
export type ServiceTable = ReadonlyMap<string, ReadonlyMap<string, number>>;

/** Parse /etc/services text: `name port/proto [aliases...]`. */
export function parseServices(text: string): ServiceTable {
  const out = new Map<string, Map<string, number>>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const f = line.split(/\s+/);
    const m = /^(\d+)\/(\w+)$/.exec(f[1] ?? '');
    if (!m || !f[0]) continue;
    const port = Number(m[1]);
    if (port > 65535) continue;
    for (const name of [f[0], ...f.slice(2)]) {
      let e = out.get(name);
      if (!e) out.set(name, (e = new Map()));
      if (!e.has(m[2]!)) e.set(m[2]!, port);
    }
  }
  return out;
}

export interface SystemDbParts {
  protocols?: ProtocolTable;
  services?: ServiceTable;
  interfaces?: ReadonlyMap<string, number>;
}

/** A SystemDb over fixed tables (tests, and the CLI after reading /etc). */
export function makeSystemDb(parts: SystemDbParts = {}): SystemDb {
  const protocols = parts.protocols ?? builtinProtocols();
  const services = parts.services ?? new Map<string, ReadonlyMap<string, number>>();
  const interfaces = parts.interfaces ?? new Map<string, number>([['lo', 1]]);
  const names = new Map<number, string>();
  for (const [n, i] of interfaces) if (!names.has(i)) names.set(i, n);
  return {
    protocolByName: (name) => protocols.byName.get(name),
    protocolByNumber: (n) => protocols.byNumber.get(n),
    protocolNames: () => protocols.byName.keys(),
    serviceByName(name, proto) {
      const e = services.get(name);
      if (!e) return undefined;
      if (proto && e.has(proto)) return e.get(proto);
      return e.get('udp') ?? e.get('tcp') ?? e.values().next().value;
    },
    ifIndex: (name) => interfaces.get(name),
    ifName: (i) => names.get(i),
  };
}
