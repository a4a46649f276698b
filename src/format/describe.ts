/**
 * A statement in a few words, for messages about it ("add 10.0.0.1 10.0.0.2
 * esp 0x1000"): the setkey spelling of what it addresses, never its keys.
 */
import { formatIp, type Endpoint, type IpAddress } from '../model/address.js';
import type { Command } from '../model/command.js';
import type { Selector } from '../model/policy.js';
import { dirTable, nameOf, saProtoTable } from '../model/tables.js';

function ep(e: Endpoint): string {
  return e.port ? `${formatIp(e.addr)}[${e.port}]` : formatIp(e.addr);
}

function addr(a: IpAddress): string {
  return formatIp(a);
}

function proto(satype: number): string {
  return nameOf(saProtoTable, satype) ?? `satype ${satype}`;
}

function selector(s: Selector): string {
  const full = s.src.family === 4 ? 32 : 128;
  const side = (a: IpAddress, p: number, port: number): string => `${addr(a)}${p !== full ? `/${p}` : ''}${port ? `[${port}]` : ''}`;
  return `${side(s.src, s.sprefix, s.sport)} ${side(s.dst, s.dprefix, s.dport)} ${s.proto === 255 ? 'any' : s.proto}`;
}

export function describeCommand(c: Command): string {
  switch (c.kind) {
    case 'add':
    case 'update':
    case 'get':
    case 'delete':
    case 'getspi':
      return `${c.kind} ${ep(c.sa.src)} ${ep(c.sa.dst)} ${proto(c.sa.satype)}${c.kind === 'getspi' ? '' : ` 0x${(c.sa.spi >>> 0).toString(16)}`}`;
    case 'deleteall':
      return `deleteall ${addr(c.src)} ${addr(c.dst)} ${proto(c.satype)}`;
    case 'flush':
    case 'dump':
      return c.satype ? `${c.kind} ${proto(c.satype)}` : c.kind;
    case 'spdadd':
    case 'spdupdate':
    case 'spddelete': {
      const what = c.selector ? selector(c.selector) : `tagged "${c.tag ?? ''}"`;
      return `${c.kind} ${what} -P ${nameOf(dirTable, c.policy.dir) ?? c.policy.dir}${c.fwdCopy ? ' (the fwd copy of an in policy)' : ''}`;
    }
    case 'spdflush':
    case 'spddump':
    case 'exit':
      return c.kind;
  }
}

const ENOENT = 2;
const ESRCH = 3;
const EEXIST = 17;
const EPERM = 1;

/** What a refusal means for this command, when the backend said no more than the errno. */
export function refusalReason(c: Command, errno: number): string | undefined {
  const sa = c.kind === 'add' || c.kind === 'update' || c.kind === 'get' || c.kind === 'delete';
  const policy = c.kind === 'spdadd' || c.kind === 'spdupdate' || c.kind === 'spddelete';
  if (errno === EEXIST && sa) return 'an SA with this destination, protocol and SPI exists';
  if (errno === EEXIST && policy) return 'a policy with this selector and direction exists';
  if ((errno === ESRCH || errno === ENOENT) && sa) return 'no such SA';
  if (errno === ENOENT && policy) return 'no such policy';
  if (errno === ENOENT && c.kind === 'getspi') return 'no free SPI in the range';
  if (errno === EPERM) return "not permitted: the kernel's key tables need CAP_NET_ADMIN";
  return undefined;
}
