/**
 * Running statements: `-f FILE` (parse and check everything, then apply all
 * of it or nothing) and `-c` (each statement as soon as its ';' arrives).
 * Diagnostics go to stderr with the source line; -H prints each message.
 */
import type { Backend } from '../backends/backend.js';
import type { Command } from '../model/command.js';
import type { PostprocOptions } from '../format/postproc.js';
import { dumpOptions } from './dump-options.js';
import { printOutcome } from './outcome.js';
import { withForwardCopies } from '../model/rfc-mode.js';
import { hexdump } from '../format/hexdump.js';
import { serialize } from '../pfkey/serialize.js';
import { commandToWire, EncodeError } from '../pfkey/to-wire.js';
import { formatDiagnostic, type Diagnostic } from '../syntax/diagnostics.js';
import { parse, StatementReader, type Statement } from '../syntax/parser.js';
import { resolveStatements } from '../syntax/resolve.js';
import type { Options } from './args.js';
import type { Io } from './io.js';
import { StatementSplitter } from './splitter.js';

/** Source lines for diagnostics, indexed once on first use. */
class Lines {
  private starts: number[] | undefined;
  constructor(
    private readonly src: string,
    private readonly firstLine = 1,
  ) {}
  get(line: number): string | undefined {
    if (!this.starts) {
      this.starts = [0];
      for (let i = this.src.indexOf('\n'); i >= 0; i = this.src.indexOf('\n', i + 1)) this.starts.push(i + 1);
    }
    const k = line - this.firstLine;
    const s = this.starts[k];
    if (s === undefined) return undefined;
    const e = this.starts[k + 1];
    return this.src.slice(s, e === undefined ? this.src.length : e - 1);
  }
}

export interface RunState {
  errors: number;
  warnings: number;
}

const MAX_WARNINGS = 50;

function report(io: Io, diags: readonly Diagnostic[], lines: Lines, st: RunState): void {
  for (const d of diags) {
    if (d.severity === 'warning') {
      st.warnings++;
      if (st.warnings > MAX_WARNINGS) continue;
    } else st.errors++;
    io.stderr(formatDiagnostic(d, lines.get(d.line)));
  }
}

function encodeError(c: Command, e: EncodeError): Diagnostic {
  return { severity: 'error', code: e.code, file: c.pos.file, line: c.pos.line, col: c.pos.col, message: e.message, expected: 'a statement PF_KEY can carry on this platform' };
}

/** -H: print the PF_KEY messages of the commands; returns the diagnostics of those PF_KEY cannot carry. */
function printMessages(io: Io, cmds: readonly Command[], o: Options): Diagnostic[] {
  const diags: Diagnostic[] = [];
  for (const c of cmds) {
    try {
      const r = commandToWire(c, { platform: o.platform ?? 'linux', pid: io.pid });
      for (const m of r.messages) io.stdout(hexdump(serialize(m, o.platform ?? 'linux')));
      if (r.note && o.noAct) io.stderr(`${c.pos.file}:${c.pos.line}:${c.pos.col}: note: ${r.note}; with -n only the DUMP is shown\n`);
    } catch (e) {
      if (!(e instanceof EncodeError)) throw e;
      diags.push(encodeError(c, e));
    }
  }
  return diags;
}

/**
 * Apply commands on the backend and print what came back. With `atomic`
 * (a file) the first refusal undoes the run; without (-c) each command
 * stands on its own.
 */
async function apply(io: Io, o: Options, backend: Backend, cmds: readonly Command[] | AsyncIterable<readonly Command[]>, atomic: boolean, lines: Lines, st: RunState): Promise<boolean> {
  const po: PostprocOptions = { ...dumpOptions(io, o), short: false };
  const write = (t: string): void => io.stdout(t);
  let ok = true;
  await backend.run(cmds, {
    atomic,
    pid: io.pid,
    // without -v and -H nothing prints requests or what their notifications say
    quiet: !o.verbose && !o.hexdump,
    onOutcome: (out, c) => {
      const error = printOutcome(c, out, o, po, write);
      if (error) {
        ok = false;
        report(io, [{ severity: 'error', code: 'refused', file: c.pos.file, line: c.pos.line, col: c.pos.col, message: error }], lines, st);
      }
    },
  });
  return ok;
}

/** Check, resolve, and apply one batch of statements. Returns false if anything failed. */
async function runStatements(io: Io, o: Options, file: string, statements: readonly Statement[], lines: Lines, st: RunState, backend: Backend | undefined, atomic: boolean): Promise<boolean> {
  const resolved = await resolveStatements(statements, file, io.lookup);
  report(io, resolved.diagnostics, lines, st);
  if (resolved.diagnostics.some((d) => d.severity === 'error')) return false;
  const cmds = o.rfcMode ? withForwardCopies(resolved.commands) : resolved.commands;
  if (!backend) {
    if (o.hexdump) {
      const bad = printMessages(io, cmds, o);
      report(io, bad, lines, st);
      if (bad.length) return false;
    }
    return true;
  }
  return apply(io, o, backend, cmds, atomic, lines, st);
}

function finish(io: Io, st: RunState): number {
  if (st.warnings > MAX_WARNINGS) io.stderr(`setkey: ${st.warnings - MAX_WARNINGS} more warnings not shown\n`);
  return st.errors ? 1 : 0;
}

const CHUNK = 1024;

/**
 * The commands of a checked file, in chunks, read a second time from its
 * text: a large file is never held whole as statements. Host names were
 * resolved in the first pass (by statement position).
 */
async function* commandChunks(text: string, file: string, io: Io, o: Options, resolved: ReadonlyMap<string, readonly Command[]>): AsyncGenerator<readonly Command[]> {
  const reader = new StatementReader(text, { file, sys: io.sys });
  let chunk: Command[] = [];
  for (const s of reader) {
    const c = s.cmd;
    const cmds = s.hosts ? (resolved.get(`${c.pos.line}:${c.pos.col}`) ?? []) : [c as Command];
    for (const x of o.rfcMode ? withForwardCopies(cmds) : cmds) chunk.push(x);
    if (chunk.length >= CHUNK) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length) yield chunk;
}

/** -f on a backend: check everything (first pass), then apply all of it or none (second pass). */
/** Statements a file may have for its commands to be kept from the check instead of read again (memory). */
const KEEP_STATEMENTS = 20000;

async function applyFile(io: Io, o: Options, file: string, text: string, backend: Backend, lines: Lines, st: RunState): Promise<number> {
  const hosts: Statement[] = [];
  let kept: Statement[] | undefined = [];
  const r = parse(text, { file, sys: io.sys }, (s) => {
    if (s.hosts) hosts.push(s);
    if (kept) {
      if (kept.length < KEEP_STATEMENTS) kept.push(s);
      else kept = undefined;
    }
  });
  report(io, r.diagnostics, lines, st);
  if (r.errorCount > 0) {
    io.stderr(`setkey: ${r.errorCount} error${r.errorCount > 1 ? 's' : ''} in ${file}; nothing applied\n`);
    return finish(io, st);
  }
  const res = await resolveStatements(hosts, file, io.lookup);
  report(io, res.diagnostics, lines, st);
  if (res.diagnostics.some((d) => d.severity === 'error')) {
    io.stderr(`setkey: errors in ${file}; nothing applied\n`);
    return finish(io, st);
  }
  const resolved = new Map<string, Command[]>();
  for (const c of res.commands) {
    const k = `${c.pos.line}:${c.pos.col}`;
    const list = resolved.get(k);
    if (list) list.push(c);
    else resolved.set(k, [c]);
  }
  // a small file's statements were kept by the check; a large one is read again, chunk by chunk
  const chunks = kept ? commandsOf(kept, o, resolved) : commandChunks(text, file, io, o, resolved);
  const ok = await apply(io, o, backend, chunks, true, lines, st);
  if (!ok) {
    io.stderr(
      backend.capabilities.atomicBatches
        ? `setkey: ${file}: nothing applied\n`
        : `setkey: ${file}: stopped at the first refusal; the statements before it were applied (the kernel has no transactions)\n`,
    );
  }
  return finish(io, st);
}

/** The commands of kept statements, as one chunk. */
function commandsOf(statements: readonly Statement[], o: Options, resolved: ReadonlyMap<string, readonly Command[]>): readonly Command[] {
  const out: Command[] = [];
  for (const s of statements) {
    const c = s.cmd;
    const cmds = s.hosts ? (resolved.get(`${c.pos.line}:${c.pos.col}`) ?? []) : [c as Command];
    for (const x of o.rfcMode ? withForwardCopies(cmds) : cmds) out.push(x);
  }
  return out;
}

/** `-f FILE`: the whole file is parsed and checked before anything is applied, then applied whole or not at all. */
export async function runFile(io: Io, o: Options, file: string, text: string, backend?: Backend): Promise<number> {
  const st: RunState = { errors: 0, warnings: 0 };
  const lines = new Lines(text);
  if (backend) return applyFile(io, o, file, text, backend, lines, st);
  // with -n and no -H nothing needs the statements after checking, except the host names to resolve
  const keepAll = o.hexdump;
  const pending: Statement[] = [];
  const r = parse(text, { file, sys: io.sys }, keepAll ? undefined : (s) => s.hosts && pending.push(s));
  report(io, r.diagnostics, lines, st);
  if (r.errorCount > 0) {
    io.stderr(`setkey: ${r.errorCount} error${r.errorCount > 1 ? 's' : ''} in ${file}; nothing applied\n`);
    return finish(io, st);
  }
  const ok = await runStatements(io, o, file, keepAll ? r.statements : pending, lines, st, backend, true);
  if (!ok) io.stderr(`setkey: errors in ${file}; nothing applied\n`);
  return finish(io, st);
}

/** `-c`: statements from stdin, each run as soon as its ';' arrives; errors do not stop the loop. */
export async function runStdin(io: Io, o: Options, backend?: Backend): Promise<number> {
  const st: RunState = { errors: 0, warnings: 0 };
  const file = '<stdin>';
  const splitter = new StatementSplitter();
  const decoder = new TextDecoder('latin1');
  const runChunk = async (chunk: { text: string; start: number; firstLine: number; lineStart: number }): Promise<boolean> => {
    const lines = new Lines(chunk.text.slice(chunk.lineStart), chunk.firstLine);
    const r = parse(chunk.text, { file, sys: io.sys, firstLine: chunk.firstLine, start: chunk.start, lineStart: chunk.lineStart });
    report(io, r.diagnostics, lines, st);
    if (r.errorCount === 0) await runStatements(io, o, file, r.statements, lines, st, backend, false);
    return r.exited;
  };
  for await (const data of io.stdin()) {
    splitter.push(typeof data === 'string' ? data : decoder.decode(data, { stream: true }));
    for (let c = splitter.next(); c; c = splitter.next()) if (await runChunk(c)) return finish(io, st);
  }
  const rest = splitter.end();
  if (rest) await runChunk(rest);
  return finish(io, st);
}
