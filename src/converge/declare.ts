/**
 * The declared state of a file: what its statements leave when run on empty
 * tables. They run on the embedded engine in memory, so the state is what a
 * Linux kernel would hold (its defaults, the RFC-mode forward copies as the
 * caller expanded them, af_key's normalisations), not what the text says:
 * comparing it with a live table then shows only real differences.
 *
 * Queries (get, getspi, dump, spddump) have no place in a declaration: they
 * are errors at their position, as is a statement the engine refuses (a
 * duplicate add, a delete of nothing...).
 */
import { EmbeddedBackend } from '../backends/embedded.js';
import type { Command, SourcePos } from '../model/command.js';
import { withForwardCopies } from '../model/rfc-mode.js';
import { errnoName, strerror } from '../model/errno.js';
import { parse } from '../syntax/parser.js';
import { resolveStatements, type Lookup } from '../syntax/resolve.js';
import type { SystemDb } from '../syntax/sysdb.js';
import type { Diagnostic } from '../syntax/diagnostics.js';
import { readState, type SyncState } from './state.js';

export class DeclareError extends Error {
  constructor(
    message: string,
    readonly pos: SourcePos,
  ) {
    super(message);
  }
}

const QUERIES: ReadonlySet<Command['kind']> = new Set(['get', 'getspi', 'dump', 'spddump']);

/** The state `cmds` leave on empty tables (forward copies already expanded by the caller, as -f does). */
export async function declaredStateOf(cmds: readonly Command[] | AsyncIterable<readonly Command[]>): Promise<SyncState> {
  const backend = EmbeddedBackend.memory();
  let refused: DeclareError | undefined;
  const chunks = Symbol.asyncIterator in cmds ? cmds : [cmds as readonly Command[]];
  for await (const chunk of chunks) {
    for (const c of chunk) {
      if (QUERIES.has(c.kind)) throw new DeclareError(`'${c.kind}' asks the tables a question; a declaration says what they hold (add, spdadd, and the like)`, c.pos);
    }
    await backend.run(chunk, {
      atomic: true,
      pid: 0,
      quiet: true,
      onOutcome: (o, c) => {
        if (o.errno !== 0 && !refused) refused = new DeclareError(`${c.kind} on the declared tables: ${o.why ?? strerror(o.errno)} (${errnoName(o.errno)}, ${strerror(o.errno)})`, c.pos);
      },
    });
    if (refused) throw refused;
  }
  return readState(backend, { pid: 0 });
}

export interface DeclareOptions {
  /** the name in positions (default 'inline') */
  readonly file?: string;
  readonly sys: SystemDb;
  /** host names in the text are resolved with it */
  readonly lookup?: Lookup;
  /** RFC mode (default, as setkey): an inbound policy also declares its fwd copy */
  readonly rfcMode?: boolean;
}

/** What a text declares; its diagnostics (errors make the state undefined). */
export async function declaredState(text: string, opts: DeclareOptions): Promise<{ state?: SyncState; diagnostics: Diagnostic[] }> {
  const file = opts.file ?? 'inline';
  const r = parse(text, { file, sys: opts.sys });
  const diagnostics = [...r.diagnostics];
  if (r.errorCount > 0) return { diagnostics };
  const lookup: Lookup = opts.lookup ?? (async (name) => Promise.reject(new Error(`no resolver given for ${name}`)));
  const res = await resolveStatements(r.statements, file, lookup);
  diagnostics.push(...res.diagnostics);
  if (res.diagnostics.some((d) => d.severity === 'error')) return { diagnostics };
  const cmds = opts.rfcMode === false ? res.commands : withForwardCopies(res.commands);
  try {
    return { state: await declaredStateOf(cmds), diagnostics };
  } catch (e) {
    if (!(e instanceof DeclareError)) throw e;
    diagnostics.push({ severity: 'error', code: 'declaration', file: e.pos.file, line: e.pos.line, col: e.pos.col, message: e.message });
    return { diagnostics };
  }
}
