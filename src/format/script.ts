/**
 * Model -> setkey statements that parse back to the same model. Used for
 * `--format=script` and for round-trip tests. What the language cannot say
 * (a reqid on a non-unique level, ports on ICMP types above 255, foreign SA
 * flags) is reported as ScriptError rather than printed wrong.
 */
import { formatIp, type Endpoint, type IpAddress } from '../model/address.js';
import { algorithmByName } from '../model/algorithms.js';
import type { Command } from '../model/command.js';
import type { IpsecRequest, PolicyRule, Selector } from '../model/policy.js';
import type { AlgRef, SaKey, SaParams, SecCtx } from '../model/sa.js';
import {
  Action,
  actionTable,
  dirTable,
  IpProto,
  Level,
  levelTable,
  Mode,
  modeTable,
  PRIORITY_DEFAULT,
  PRIORITY_HIGH,
  PRIORITY_LOW,
  requestProtoTable,
  SaFlag,
  SaType,
} from '../model/tables.js';

export class ScriptError extends Error {}

function addr(a: IpAddress): string {
  // numeric zones so that the text does not depend on this host's interface names
  return formatIp(a);
}

function endpoint(e: Endpoint): string {
  return e.port ? `${addr(e.addr)}[${e.port}]` : addr(e.addr);
}

function hex(b: Uint8Array): string {
  return '0x' + Buffer.from(b).toString('hex');
}

function quote(s: string, what: string): string {
  if (s.includes('"')) throw new ScriptError(`${what} contains '"', which setkey's quoting cannot carry`);
  return `"${s}"`;
}

function protoWord(sa: SaParams): string {
  const old = (sa.flags & SaFlag.OLD) !== 0;
  switch (sa.satype) {
    case SaType.ESP:
      if (sa.natt) return sa.natt.oa ? `esp-udp ${addr(sa.natt.oa)}` : 'esp-udp';
      return old ? 'esp-old' : 'esp';
    case SaType.AH:
      return old ? 'ah-old' : 'ah';
    case SaType.IPCOMP:
      return 'ipcomp';
    case SaType.TCP:
      return 'tcp';
    case SaType.UNSPEC:
      return '';
  }
  throw new ScriptError(`SA type ${sa.satype} has no setkey protocol word`);
}

const KNOWN_FLAGS = SaFlag.OLD | SaFlag.IV4B | SaFlag.DERIV | SaFlag.CYCSEQ | SaFlag.RAWCPI | SaFlag.PRAND | SaFlag.PZERO;

function ctx(c: SecCtx): string {
  return `-ctx ${c.doi} ${c.alg} ${quote(c.ctx, 'security context')}`;
}

function extensions(sa: SaParams): string[] {
  const out: string[] = [];
  if (sa.flags & ~KNOWN_FLAGS) throw new ScriptError(`SA flags 0x${(sa.flags >>> 0).toString(16)} include bits setkey cannot set`);
  if (sa.mode !== Mode.ANY) {
    const m = modeTable.byNumber.get(sa.mode);
    if (!m) throw new ScriptError(`mode ${sa.mode} has no setkey word`);
    out.push(`-m ${m}`);
  }
  if (sa.reqid) out.push(`-u ${sa.reqid >>> 0}`);
  if (sa.replay) out.push(`-r ${sa.replay}`);
  if (!(sa.flags & SaFlag.CYCSEQ)) out.push('-f nocyclic-seq');
  if (sa.flags & SaFlag.PZERO) out.push('-f zero-pad');
  if (sa.flags & SaFlag.PRAND) out.push('-f random-pad');
  const life = (flag: string, v: bigint | undefined): void => {
    if (v) out.push(`${flag} ${v}`);
  };
  for (const [l, name] of [
    [sa.hard, 'h'],
    [sa.soft, 's'],
  ] as const) {
    if (!l) continue;
    if (l.allocations || l.usetime) throw new ScriptError('allocation and use-time lifetimes have no setkey option');
    life(`-l${name}`, l.addtime);
    life(`-b${name}`, l.bytes);
  }
  if (sa.ctx) out.push(ctx(sa.ctx));
  if (sa.esn) out.push('-esn');
  return out;
}

function algName(ref: AlgRef): string {
  if (typeof ref === 'number') throw new ScriptError(`algorithm number ${ref} has no setkey name`);
  return ref;
}

function keyText(alg: string, k: SaKey | undefined, kind: 'enc' | 'auth', hide: boolean): string {
  const a = algorithmByName(kind, alg);
  if (a?.noKey) return '';
  if (!k) throw new ScriptError(`${alg} needs a key the SA does not carry`);
  if (k.bits !== k.data.length * 8) throw new ScriptError(`a ${k.bits}-bit key is not a whole number of bytes`);
  // a placeholder no parser takes for a key: a statement with it cannot be applied by mistake
  return hide ? ` <${k.bits}-bit key hidden>` : ' ' + hex(k.data);
}

function algorithms(sa: SaParams, hide = false): string[] {
  const out: string[] = [];
  if (sa.satype === SaType.IPCOMP || (sa.enc && typeof sa.enc.alg === 'string' && !algorithmByName('enc', sa.enc.alg) && algorithmByName('comp', sa.enc.alg))) {
    if (!sa.enc) throw new ScriptError('IPComp SA without a compression algorithm');
    out.push(`-C ${algName(sa.enc.alg)}` + (sa.flags & SaFlag.RAWCPI ? ' -R' : ''));
    return out;
  }
  if (sa.enc) {
    let name = algName(sa.enc.alg);
    if (name === 'des-cbc' && sa.flags & SaFlag.DERIV) name = 'des-deriv';
    if (name === 'des-cbc' && sa.flags & SaFlag.IV4B) name = 'des-32iv';
    out.push(`-E ${name}${keyText(algName(sa.enc.alg), sa.enc.key, 'enc', hide)}`);
  }
  if (sa.auth) out.push(`-A ${algName(sa.auth.alg)}${keyText(algName(sa.auth.alg), sa.auth.key, 'auth', hide)}`);
  return out;
}

function saHead(kind: string, sa: SaParams, spi: string): string {
  const proto = protoWord(sa);
  let { src, dst } = sa;
  if (sa.natt) {
    // the language takes NAT-T ports from the address ports (0 meaning 4500); a kernel dump
    // has them in the NAT-T extensions only, so put them back on the addresses
    if (src.port === 0 && sa.natt.sport !== 4500) src = { ...src, port: sa.natt.sport };
    if (dst.port === 0 && sa.natt.dport !== 4500) dst = { ...dst, port: sa.natt.dport };
  }
  return [kind, endpoint(src), endpoint(dst), proto, spi].filter((x) => x !== '').join(' ');
}

function priorityText(p: number): string {
  if (p === PRIORITY_DEFAULT) return '';
  for (const [name, base] of [
    ['high', PRIORITY_HIGH],
    ['def', PRIORITY_DEFAULT],
    ['low', PRIORITY_LOW],
  ] as const) {
    const d = base - p;
    if (d === 0) return `prio ${name} `;
    if (d > 0 && d <= 0x40000000) return `prio ${name} + ${d} `;
    if (d < 0 && -d <= 0x3fffffff) return `prio ${name} - ${-d} `;
  }
  return p < PRIORITY_DEFAULT ? `prio ${PRIORITY_DEFAULT - p} ` : `prio -${p - PRIORITY_DEFAULT} `;
}

function request(r: IpsecRequest): string {
  const proto = requestProtoTable.byNumber.get(r.proto);
  const mode = r.mode === Mode.TRANSPORT ? 'transport' : r.mode === Mode.TUNNEL ? 'tunnel' : undefined;
  if (!proto || !mode) throw new ScriptError(`request ${r.proto}/${r.mode} has no setkey spelling`);
  let ends = '';
  if (r.tunnel) {
    const withPorts = r.tunnel.src.port !== 0 || r.tunnel.dst.port !== 0;
    const ep = (e: Endpoint): string => addr(e.addr) + (withPorts ? `[${e.port}]` : '');
    ends = `${ep(r.tunnel.src)}-${ep(r.tunnel.dst)}`;
  }
  let level: string;
  if (r.level === Level.UNIQUE && r.reqid) {
    if (r.reqid > 32767) throw new ScriptError(`unique:${r.reqid} is beyond what setkey accepts (32767)`);
    level = `unique:${r.reqid}`;
  } else {
    if (r.reqid) throw new ScriptError(`a reqid on level ${r.level} has no setkey spelling`);
    const l = levelTable.byNumber.get(r.level);
    if (l === undefined) throw new ScriptError(`level ${r.level} has no setkey word`);
    level = l;
  }
  return `${proto}/${mode}/${ends}/${level}`;
}

export function policyText(rule: PolicyRule): string {
  const dir = dirTable.byNumber.get(rule.dir);
  if (!dir || dir === 'any') throw new ScriptError(`direction ${rule.dir} has no setkey word`);
  if (rule.action === Action.DISCARD && rule.priority === 0 && rule.requests.length === 0) return dir;
  const action = actionTable.byNumber.get(rule.action);
  if (!action) throw new ScriptError(`policy type ${rule.action} has no setkey word`);
  return [`${dir} ${priorityText(rule.priority)}${action}`, ...rule.requests.map(request)].join(' ');
}

function selectorText(s: Selector): string {
  const side = (a: IpAddress, plen: number, port: number, full: number, withPort: boolean): string =>
    addr(a) + (plen !== full ? `/${plen}` : '') + (withPort && port ? `[${port}]` : '');
  const full = s.src.family === 4 ? 32 : 128;
  const typed = s.proto === IpProto.ICMP || s.proto === IpProto.ICMPV6 || s.proto === IpProto.MH;
  const gre = s.proto === IpProto.GRE;
  const upper = s.proto === IpProto.ANY ? 'any' : String(s.proto);
  let misc = '';
  if ((typed || gre) && (s.sport || s.dport)) {
    if (typed) {
      if (s.sport > 255 || s.dport > 255) throw new ScriptError('ICMP type or code above 255');
      misc = ` ${s.sport},${s.dport}`;
    } else {
      misc = ` ${s.sport >> 8}.${s.sport & 0xff}.${s.dport >> 8}.${s.dport & 0xff}`;
    }
  }
  const ports = !typed && !gre;
  return `${side(s.src, s.sprefix, s.sport, full, ports)} ${side(s.dst, s.dprefix, s.dport, full, ports)} ${upper}${misc}`;
}

export interface ScriptOptions {
  /** keys as a placeholder instead of their bytes (a plan shown without --show-keys) */
  readonly hideKeys?: boolean;
}

/** One command as a setkey statement (with its ';'). */
export function commandToScript(c: Command, o: ScriptOptions = {}): string {
  switch (c.kind) {
    case 'add':
    case 'update':
      return [saHead(c.kind, c.sa, '0x' + (c.sa.spi >>> 0).toString(16)), ...extensions(c.sa), ...algorithms(c.sa, o.hideKeys)].join(' ') + ';';
    case 'get':
    case 'delete':
      return [saHead(c.kind, c.sa, '0x' + (c.sa.spi >>> 0).toString(16)), ...extensions(c.sa)].join(' ') + ';';
    case 'getspi': {
      const r = c.spiRange;
      const spi = r ? (r.min === r.max ? '0x' + r.min.toString(16) : `0x${r.min.toString(16)}-0x${r.max.toString(16)}`) : '';
      return [saHead(c.kind, c.sa, spi), ...extensions(c.sa)].join(' ') + ';';
    }
    case 'deleteall': {
      const proto = protoWord({ satype: c.satype, flags: c.flags } as SaParams);
      return ['deleteall', addr(c.src), addr(c.dst), proto].filter((x) => x).join(' ') + ';';
    }
    case 'flush':
    case 'dump': {
      const proto = protoWord({ satype: c.satype, flags: 0 } as SaParams);
      return [c.kind, proto].filter((x) => x).join(' ') + ';';
    }
    case 'spdadd':
    case 'spdupdate':
    case 'spddelete': {
      if (!c.selector) {
        if (c.tag === undefined) throw new ScriptError('a policy without selector or tag');
        return `${c.kind} tagged ${quote(c.tag, 'tag')} -P ${policyText(c.policy)};`;
      }
      return `${c.kind} ${selectorText(c.selector)}${c.ctx ? ' ' + ctx(c.ctx) : ''} -P ${policyText(c.policy)};`;
    }
    case 'spdflush':
    case 'spddump':
    case 'exit':
      return `${c.kind};`;
  }
}
