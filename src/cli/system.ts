/**
 * The system databases the language needs, read lazily from /etc and /sys:
 * protocols, services, interface indexes; and host name lookup through
 * getaddrinfo (node:dns lookup), as the reference resolves names.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { Family, IpAddress } from '../model/address.js';
import { parseIpLiteral } from '../model/address.js';
import type { Lookup } from '../syntax/resolve.js';
import { builtinProtocols, parseProtocols, parseServices, type ProtocolTable, type ServiceTable, type SystemDb } from '../syntax/sysdb.js';
import { lazyDns } from '../sys/builtin.js';

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

function interfaces(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const name of readdirSync('/sys/class/net')) {
      const idx = Number(readText(`/sys/class/net/${name}/ifindex`)?.trim());
      if (Number.isInteger(idx)) out.set(name, idx);
    }
  } catch {
    // no sysfs (not Linux): zones by number only
  }
  return out;
}

export function systemDb(): SystemDb {
  let protocols: ProtocolTable | undefined;
  let services: ServiceTable | undefined;
  let ifs: Map<string, number> | undefined;
  let names: Map<number, string> | undefined;
  const protos = (): ProtocolTable => {
    if (!protocols) {
      const text = readText('/etc/protocols');
      protocols = text ? parseProtocols(text) : builtinProtocols();
    }
    return protocols;
  };
  const ifTable = (): Map<string, number> => (ifs ??= interfaces());
  return {
    protocolByName: (n) => protos().byName.get(n),
    protocolByNumber: (n) => protos().byNumber.get(n),
    protocolNames: () => protos().byName.keys(),
    serviceByName(name, proto) {
      services ??= parseServices(readText('/etc/services') ?? '');
      const e = services.get(name);
      if (!e) return undefined;
      if (proto && e.has(proto)) return e.get(proto);
      return e.get('udp') ?? e.get('tcp') ?? e.values().next().value;
    },
    ifIndex: (n) => ifTable().get(n),
    ifName(i) {
      if (!names) {
        names = new Map();
        for (const [n, idx] of ifTable()) if (!names.has(idx)) names.set(idx, n);
      }
      return names.get(i);
    },
  };
}

/** getaddrinfo through node:dns, in the resolver's order. */
export const dnsLookup: Lookup = async (name: string, family: 0 | Family): Promise<IpAddress[]> => {
  try {
    // node:dns is loaded by the first name to resolve (most runs have none)
    const dns = lazyDns().promises;
    const list = await dns.lookup(name, { all: true, family, verbatim: true });
    const out: IpAddress[] = [];
    for (const r of list) {
      const lit = parseIpLiteral(r.address);
      if (lit) out.push(lit.addr);
    }
    return out;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOTFOUND' ? 'Name or service not known' : code === 'EAI_AGAIN' ? 'Temporary failure in name resolution' : String((e as Error).message));
  }
};
