/**
 * Host names -> addresses, after parsing. SA statements expand into one
 * command per same-family (src, dst) pair, as the reference sends one message
 * per getaddrinfo pair; SP selectors must come down to one address each.
 * The lookup itself is injected (the CLI uses getaddrinfo through node:dns).
 */
import { fullPrefix, type Family, type IpAddress } from '../model/address.js';
import type { Command } from '../model/command.js';
import type { Diagnostic } from './diagnostics.js';
import type { HostSpec, Statement } from './parser.js';
import { quoteToken } from './redact.js';

/** Resolve a name to addresses (family 0 = any), in the resolver's order. */
export type Lookup = (name: string, family: 0 | Family) => Promise<IpAddress[]>;

export class LookupError extends Error {}

export interface ResolveResult {
  readonly commands: Command[];
  readonly diagnostics: Diagnostic[];
}

function err(file: string, h: HostSpec, code: string, message: string, expected: string): Diagnostic {
  return { severity: 'error', code, file, line: h.line, col: h.col, message, expected };
}

async function candidates(file: string, h: HostSpec | undefined, lit: IpAddress, lookup: Lookup, diags: Diagnostic[]): Promise<IpAddress[] | undefined> {
  if (!h) return [lit];
  try {
    const list = await lookup(h.name, h.family);
    if (list.length === 0) throw new LookupError('no address');
    return list;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    diags.push(err(file, h, 'unresolved-host', `cannot resolve ${quoteToken(h.name)}: ${why}`, 'a resolvable host name or a numeric address'));
    return undefined;
  }
}

/** Turn statements into commands, resolving the host names some of them carry. */
export async function resolveStatements(statements: readonly Statement[], file: string, lookup: Lookup): Promise<ResolveResult> {
  const commands: Command[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const st of statements) {
    const c = st.cmd;
    const h = st.hosts;
    if (!h) {
      commands.push(c);
      continue;
    }
    if (c.kind === 'add' || c.kind === 'update' || c.kind === 'get' || c.kind === 'delete' || c.kind === 'getspi') {
      const [srcs, dsts, oas] = await Promise.all([
        candidates(file, h.src, c.sa.src.addr, lookup, diagnostics),
        candidates(file, h.dst, c.sa.dst.addr, lookup, diagnostics),
        h.oa && c.sa.natt?.oa ? candidates(file, h.oa, c.sa.natt.oa, lookup, diagnostics) : Promise.resolve(undefined),
      ]);
      if (!srcs || !dsts || (h.oa && !oas)) continue;
      const natt = c.sa.natt && oas ? { ...c.sa.natt, oa: oas[0]! } : c.sa.natt;
      let n = 0;
      for (const s of srcs) {
        for (const d of dsts) {
          if (s.family !== d.family) continue;
          const sa = { ...c.sa, src: { addr: s, port: c.sa.src.port }, dst: { addr: d, port: c.sa.dst.port }, ...(natt ? { natt } : {}) };
          commands.push({ ...c, sa } as Command);
          n++;
        }
      }
      if (n === 0) diagnostics.push(err(file, (h.src ?? h.dst)!, 'family-mismatch', 'the source and destination have no addresses of the same family', 'two names or addresses of one family'));
    } else if (c.kind === 'deleteall') {
      const [srcs, dsts] = await Promise.all([candidates(file, h.src, c.src, lookup, diagnostics), candidates(file, h.dst, c.dst, lookup, diagnostics)]);
      if (!srcs || !dsts) continue;
      let n = 0;
      for (const s of srcs) {
        for (const d of dsts) {
          if (s.family !== d.family) continue;
          commands.push({ ...c, src: s, dst: d });
          n++;
        }
      }
      if (n === 0) diagnostics.push(err(file, (h.src ?? h.dst)!, 'family-mismatch', 'the source and destination have no addresses of the same family', 'two names or addresses of one family'));
    } else if ((c.kind === 'spdadd' || c.kind === 'spdupdate' || c.kind === 'spddelete') && c.selector) {
      const sel = c.selector;
      const [srcs, dsts] = await Promise.all([candidates(file, h.src, sel.src, lookup, diagnostics), candidates(file, h.dst, sel.dst, lookup, diagnostics)]);
      if (!srcs || !dsts) continue;
      // a selector takes one address: keep the ones whose family the other side has
      const s1 = srcs.filter((s) => dsts.some((d) => d.family === s.family));
      const d1 = dsts.filter((d) => s1.some((s) => s.family === d.family));
      const bad = s1.length !== 1 ? h.src : d1.length !== 1 ? h.dst : undefined;
      if (s1.length === 0 || d1.length === 0) {
        diagnostics.push(err(file, (h.src ?? h.dst)!, 'family-mismatch', 'the source and destination have no addresses of the same family', 'two names or addresses of one family'));
        continue;
      }
      if (bad) {
        const list = (bad === h.src ? s1 : d1).length;
        diagnostics.push(err(file, bad, 'multiple-addresses', `${quoteToken(bad.name)} resolves to ${list} addresses`, 'a name with one address, or -4/-6 to choose a family'));
        continue;
      }
      const src = s1[0]!;
      const dst = d1[0]!;
      const sprefix = st.prefixes?.src ? sel.sprefix : fullPrefix(src.family);
      const dprefix = st.prefixes?.dst ? sel.dprefix : fullPrefix(dst.family);
      if (sprefix > fullPrefix(src.family) || dprefix > fullPrefix(dst.family)) {
        const side = sprefix > fullPrefix(src.family) ? h.src ?? h.dst! : h.dst ?? h.src!;
        diagnostics.push(err(file, side, 'prefix-range', 'prefix length longer than the address', `a prefix from 0 to ${fullPrefix(src.family)}`));
        continue;
      }
      commands.push({ ...c, selector: { ...sel, src, dst, sprefix, dprefix } });
    } else {
      commands.push(c);
    }
  }
  return { commands, diagnostics };
}
