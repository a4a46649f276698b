/**
 * Running statements: `-f FILE` (parse and check everything, then apply all
 * of it or nothing) and `-c` (each statement as soon as its ';' arrives).
 * Diagnostics go to stderr with the source line; -H prints each message.
 */
import { saWorkers } from '../ingest/sa-offload.js';
import type { Backend, LoadOptions } from '../backends/backend.js';
import type { Command } from '../model/command.js';
import type { PostprocOptions } from '../format/postproc.js';
import { dumpOptions } from './dump-options.js';
import { printOutcome } from './outcome.js';
import { withForwardCopies } from '../model/rfc-mode.js';
import { hexdump } from '../format/hexdump.js';
import { startProgress, type Progress } from './progress.js';
import { serialize } from '../pfkey/serialize.js';
import { commandToWire, EncodeError } from '../pfkey/to-wire.js';
import { formatDiagnostic, type Diagnostic, type SourceLine } from '../syntax/diagnostics.js';
import { describeSize, MAX_STATEMENT, parse, StatementReader, type Statement } from '../syntax/parser.js';
import { escapeControls } from '../syntax/redact.js';
import { resolveStatements } from '../syntax/resolve.js';
import { StreamParser } from '../syntax/stream.js';
import type { Options } from './args.js';
import { errnoText, inputChunks, latin1 } from './input.js';
import { INPUT_CHUNK, MAX_INPUT, type InputFile, type Io } from './io.js';
import { StatementSplitter, type Chunk } from './splitter.js';
import { containYoungGeneration, youngGenerationUpTo } from '../sys/builtin.js';

/** A script of this many bytes or statements is long work (see containYoungGeneration); the count serves standard input. */
const LARGE_SCRIPT_BYTES = 256 << 10;
const LARGE_SCRIPT = 1000;

/** Source lines for diagnostics, indexed once on first use. */
class Lines {
  private starts: number[] | undefined;
  private src: string | undefined;
  /**
   * @param source the text, or how to get it (only a diagnostic needs it)
   * @param firstCol the column of its first character (the start of its line may have been dropped)
   * @param quoted lines that begin inside a quoted string
   */
  constructor(
    private readonly source: string | (() => string) | ReadonlyMap<number, string>,
    private readonly firstLine = 1,
    private readonly firstCol = 1,
    readonly quoted: ReadonlySet<number> = new Set(),
  ) {}

  private text(k: number): string | undefined {
    // lines fetched from a file read again (its text was not kept)
    if (this.source instanceof Map) return this.source.get(k + this.firstLine);
    const src = (this.src ??= typeof this.source === 'string' ? this.source : (this.source as () => string)());
    if (!this.starts) {
      this.starts = [0];
      for (let i = src.indexOf('\n'); i >= 0; i = src.indexOf('\n', i + 1)) this.starts.push(i + 1);
    }
    const s = this.starts[k];
    if (s === undefined) return undefined;
    const e = this.starts[k + 1];
    return src.slice(s, e === undefined ? src.length : e - 1);
  }

  /** Line `line` with what the echo's masking needs: the line before it, whether it begins in a quote. */
  get(line: number): SourceLine | undefined {
    const k = line - this.firstLine;
    const text = this.text(k);
    if (text === undefined) return undefined;
    const before = k > 0 ? this.text(k - 1) : undefined;
    return {
      text,
      ...(k === 0 && this.firstCol > 1 ? { firstCol: this.firstCol } : {}),
      ...(this.quoted.has(line) ? { inQuote: true } : {}),
      ...(before !== undefined ? { before } : {}),
    };
  }
}

export interface RunState {
  errors: number;
  warnings: number;
}

const MAX_WARNINGS = 50;
/** Errors shown of one file (the check's cap, which the resolver's errors count towards). */
const MAX_ERRORS = 50;

function report(io: Io, diags: readonly Diagnostic[], lines: Lines | undefined, st: RunState): void {
  for (const d of diags) {
    if (d.severity === 'warning') {
      st.warnings++;
      if (st.warnings > MAX_WARNINGS) continue;
    } else st.errors++;
    io.stderr(formatDiagnostic(d, lines?.get(d.line)));
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
      if (r.note && o.noAct) io.stderr(`${escapeControls(c.pos.file)}:${c.pos.line}:${c.pos.col}: note: ${r.note}; with -n only the DUMP is shown\n`);
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
async function apply(io: Io, o: Options, backend: Backend, cmds: readonly Command[] | AsyncIterable<readonly Command[]>, atomic: boolean, lines: Lines, st: RunState, progress?: Progress): Promise<boolean> {
  const po: PostprocOptions = { ...dumpOptions(io, o), short: false };
  const write = (t: string): void => io.stdout(t);
  let ok = true;
  await backend.run(cmds, {
    atomic,
    pid: io.pid,
    // without -v and -H nothing prints requests or what their notifications say
    quiet: !o.verbose && !o.hexdump,
    onOutcome: (out, c) => {
      // (RFC mode's forward copies are not counted: the total is the file's)
      if (progress && !('fwdCopy' in c && c.fwdCopy)) progress.step();
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
  // (warnings past the cap of the check were counted, not kept)
  if (st.warnings > MAX_WARNINGS) io.stderr(`setkey: ${st.warnings - MAX_WARNINGS} more warnings not shown\n`);
  return st.errors ? 1 : 0;
}

/**
 * Commands handed to the backend at a time. Fewer than V8 allocates for
 * between two young-generation collections (about 40 statements' worth,
 * src/sys/builtin.ts): a chunk's commands then die young instead of being
 * promoted and left for a full collection. Applying 100k SAs + 100k
 * policies: 1024 promoted 739 MB and took 6.59 s; 32 promoted 420 MB and
 * took 5.69 s (0.85x), peak 252 -> 234 MiB. XFRM gathers its own
 * pipelines from these (backend.ts gathered).
 */
const CHUNK = 32;

/**
 * The commands of a checked file, in chunks, read a second time (from its
 * text, or from the file itself when its text was not kept): a large file is
 * never held whole as statements. Host names were resolved in the first pass
 * (by statement position).
 */
async function* commandChunks(input: ScriptInput, io: Io, o: Options, resolved: ReadonlyMap<string, readonly Command[]>): AsyncGenerator<readonly Command[]> {
  let chunk: Command[] = [];
  const take = (s: Statement): boolean => {
    const c = s.cmd;
    const cmds = s.hosts ? (resolved.get(`${c.pos.line}:${c.pos.col}`) ?? []) : [c as Command];
    for (const x of o.rfcMode ? withForwardCopies(cmds) : cmds) chunk.push(x);
    return chunk.length >= CHUNK;
  };
  if (input.reread) {
    for await (const s of input.reread()) {
      if (!take(s)) continue;
      yield chunk;
      chunk = [];
    }
  } else {
    // a text held is parsed synchronously: a for-await over it took a turn of the microtask queue per statement
    for (const s of new StatementReader(input.text()!, { file: input.file, sys: io.sys })) {
      if (!take(s)) continue;
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length) yield chunk;
}

/** Statements a file may have for them to be kept from the check instead of read again for the apply (memory). */
const KEEP_STATEMENTS = 20000;

/** A script read and checked (the first pass of -f). */
export interface ScriptInput {
  /** the name in diagnostics ('<stdin>' for '-') */
  readonly file: string;
  /**
   * the text read (up to where reading stopped), joined on first use: a clean
   * `-n` never needs it whole; undefined for a large file, which is read again
   */
  text(): string | undefined;
  /** a large file's statements, read again (its text was not kept) */
  reread?(): AsyncGenerator<Statement>;
  /** the file's text as checked: the text kept, or the file read again (refused with ScriptChanged if it is another) */
  source(): AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;
  /** lines of the file read again, for the diagnostics that echo them */
  linesOf?(wanted: ReadonlySet<number>): Promise<Map<number, string>>;
  /** errors and warnings in source order (at most 50 of each are kept) */
  readonly diagnostics: readonly Diagnostic[];
  readonly errorCount: number;
  /** warnings counted but not kept */
  readonly droppedWarnings: number;
  /** every statement, if there were at most KEEP_STATEMENTS; otherwise read them again from `text` */
  readonly statements: readonly Statement[] | undefined;
  /** the statements with host names to resolve */
  readonly hosts: readonly Statement[];
  /** lines that begin inside a quoted string */
  readonly quotedLines: ReadonlySet<number>;
  /** reading stopped early at the error cap */
  readonly stoppedReading: boolean;
  /** statements read (host names not yet resolved) */
  readonly count: number;
  /** every statement is one a bulk load reads (a clean add or spdadd: src/ingest/scan.ts), as far as the check can tell */
  readonly bulkable?: boolean;
  /** the file was loaded while it was checked (checkAndLoad): 'done', applied whole; 'declined', nothing kept (not to be tried again) */
  loadedWhileChecked?: 'done' | 'declined';
}

/**
 * `-f PATH` ('-': stdin), first pass: read the script in chunks and check it
 * as it comes. Reading stops at `exit`, at the error cap, and at a statement
 * that runs past 1 MiB without its ';'. Undefined (with the reason on
 * stderr) if it cannot be read or is larger than MAX_INPUT.
 */
export async function readScript(
  io: Io,
  path: string,
  o: Pick<Options, 'noAct' | 'hexdump'> & {
    readonly forKernel?: boolean;
    /** each clean add and spdadd, where it stands in the text (a load fed by the check: checkAndLoad) */
    readonly onClean?: (src: string, start: number, semi: number, unchecked?: boolean) => void;
    /** each other statement */
    readonly onUnclean?: () => void;
    /** an `add` handed to onClean unchecked, its check the load's (syntax/parser.ts deferAdds) */
    readonly deferAdds?: () => boolean;
    /** the same of an `spdadd` (syntax/parser.ts deferSpdadds) */
    readonly deferSpdadds?: () => boolean;
    /** each piece of text before the statements of it handed to onClean, and its bytes (valid until the next piece) */
    readonly onText?: (src: string, bytes: Uint8Array) => void;
    /** awaited after each piece is checked, where it returns a promise (a load fed by the check paces it) */
    readonly afterPiece?: () => Promise<void> | undefined;
  },
): Promise<ScriptInput | undefined> {
  const file = path === '-' ? '<stdin>' : path;
  // V8's young generation is kept small for a long script on the engine, whose transaction holds much
  // alive (its peak: 309 -> 262 MB for 100k + 100k); for a kernel little stays alive, and a young
  // generation free to grow makes 60k policies over XFRM 0.85x faster for +17 MiB (0.953 -> 0.712 s);
  // a load fed by the check sees to it itself (checkAndLoad)
  const containYoung = o.forKernel === true || o.onClean ? (): void => undefined : containYoungGeneration;
  const hosts: Statement[] = [];
  // a large file's text is not kept: its statements and lines are read again from it (memory stays that of a chunk)
  let fileSize: number | undefined;
  if (path !== '-' && io.open) {
    try {
      const f = io.open(path);
      fileSize = f.size;
      f.close();
    } catch {
      // the read below reports it
    }
  }
  // a large file is long work from the start: V8's young generation kept small before it grows (src/sys/builtin.ts)
  if (fileSize !== undefined && fileSize > LARGE_SCRIPT_BYTES) containYoung();
  // -n keeps no text of a file it can read again (the lines a diagnostic echoes are read from it)
  const keepText = fileSize === undefined || (fileSize <= KEEP_TEXT_BYTES && !(o.noAct && !o.hexdump));
  // -n needs no statement after the check (keeping some costs a large file a third of its time in the collector);
  // -n -H and applying keep a small file's (a large one is read again: a million statements would be ~2 GB);
  // a load fed by the check keeps none either: kept, the file is a bulk load's and they are not needed; given
  // up, the file is read again (the first 256 KiB chunk's statements, built before the file was known to be
  // too large to keep them, were ~30 ms of a load of 100k SAs + 100k policies)
  const cap = (o.noAct && !o.hexdump) || o.onClean !== undefined ? 0 : KEEP_STATEMENTS;
  let kept: Statement[] | undefined = cap > 0 ? [] : undefined;
  let count = 0;
  // keeping no statement, the check builds none it can find clean without (syntax/quick.ts)
  // an apply counts the statements a bulk load could take (src/ingest/): it is tried only if they are all such
  const parser = new StreamParser({ file, sys: io.sys, keepText, checkOnly: kept === undefined, countClean: !o.noAct, ...(o.onClean ? { onClean: o.onClean } : {}), ...(o.onUnclean ? { onUnclean: o.onUnclean } : {}), ...(o.deferAdds ? { deferAdds: o.deferAdds } : {}), ...(o.deferSpdadds ? { deferSpdadds: o.deferSpdadds } : {}), ...(o.onText ? { onText: o.onText } : {}) }, (s) => {
    // a long script: V8's young generation kept small (src/sys/builtin.ts)
    if (++count === LARGE_SCRIPT) containYoung();
    if (s.hosts) hosts.push(s);
    if (kept && kept.length < cap) kept.push(s);
    else dropKept();
  });
  const dropKept = (): void => {
    kept = undefined;
    parser.checkOnly = true;
  };
  // the file the check read: one read again must be the same (another file at its path, or one written to meanwhile, is refused)
  let checked: InputFile | undefined;
  try {
    // stdin comes in 64 KiB pieces: parse in larger ones (fewer, larger strings for the collector)
    let batch: Uint8Array[] = [];
    let size = 0;
    let read = 0;
    for await (const c of inputChunks(io, path, true, false, (f) => (checked = f))) {
      const b = typeof c === 'string' ? Buffer.from(c, 'latin1') : c;
      batch.push(b);
      if ((size += b.length) < INPUT_CHUNK) continue;
      parser.push(batch.length === 1 ? b : Buffer.concat(batch));
      const paced = o.afterPiece?.();
      if (paced) await paced;
      read += size;
      if (kept && tooManyToKeep(count, read, fileSize, cap)) dropKept();
      if (count + parser.checked >= LARGE_SCRIPT) containYoung();
      batch = [];
      size = 0;
      if (parser.done) break;
    }
    if (batch.length && !parser.done) parser.push(Buffer.concat(batch));
  } catch (e) {
    io.stderr(`setkey: ${escapeControls(file)}: ${errnoText(e)}\n`);
    return undefined;
  }
  const stoppedReading = parser.sink.full;
  parser.end();
  // read again for the apply, the file must be what was checked: written to while it was, it is not
  // (set by the callback above: TypeScript cannot see it)
  const checkedFile = checked as InputFile | undefined;
  if (!keepText && checkedFile?.changedWhileOpen?.()) {
    io.stderr(`setkey: ${new ScriptChanged(file).message}; nothing applied\n`);
    return undefined;
  }
  const identity = checkedFile?.identity;
  const statements = count + parser.checked;
  let text: string | undefined;
  return {
    statements: kept,
    file,
    text: () => (keepText ? (text ??= joinParsed(parser.parsed)) : undefined),
    source: () => (keepText ? [(text ??= joinParsed(parser.parsed))] : rereadText(io, path, file, identity)),
    ...(keepText ? {} : { reread: () => rereadStatements(io, path, file, { identity, statements }), linesOf: (wanted: ReadonlySet<number>) => fileLines(io, path, wanted) }),
    diagnostics: parser.sink.list,
    errorCount: parser.sink.errorCount,
    droppedWarnings: parser.sink.droppedWarnings,
    hosts,
    quotedLines: new Set(parser.quotedLines),
    stoppedReading,
    count: statements,
    bulkable: statements > 0 && parser.cleanAdds === statements,
  };
}

/**
 * Whether a file will have more statements than are kept, judged by the
 * statements in the part read so far: then none are kept from here on. A
 * file of 60k policies kept its first 20,000 statements to the end of the
 * check and dropped them: about 30 MB promoted by V8 for nothing (88 -> 59
 * MB promoted installing it over XFRM, scavenge pauses 277 -> 171 ms).
 */
function tooManyToKeep(statements: number, read: number, size: number | undefined, cap: number): boolean {
  return size !== undefined && read > 0 && statements * (size / read) > cap;
}

/**
 * A file this large is not held as text: read again for the apply (a
 * 1M-entry file is ~300 MB). Held, the text, its pieces joined and the
 * transaction together took an apply of a 63 MB file (420k statements) to
 * 390 MB, of the 30 MB benchmark file to 227 MiB, while a 300 MB file read
 * again peaked at 174; read again, 158 MB and 150 MiB, for 2-6% more CPU
 * (the second read and its checks). 64 MiB before.
 */
const KEEP_TEXT_BYTES = 8 << 20;

/**
 * A file read again for the apply is not the one checked: another file was
 * put at its path (a path is opened twice), or it was written to. Thrown
 * before the first statement where the file is another; where it was written
 * to, when that shows (an error, another count, its change time), which on
 * the engine is before the commit.
 */
export class ScriptChanged extends Error {
  readonly environmental = true;
  constructor(file: string) {
    super(`${escapeControls(file)} changed since it was checked (another file at its path, or written to meanwhile)`);
  }
}

/** Text parsed at a time when a file is read again (about a hundred statements). */
const REREAD_SLICE = 4 << 10;

/** The statements of a file, read again: the file checked (its identity), with as many statements, none wrong. */
async function* rereadStatements(io: Io, path: string, file: string, checked: { identity: string | undefined; statements: number }): AsyncGenerator<Statement> {
  let out: Statement[] = [];
  let n = 0;
  let f: InputFile | undefined;
  const parser = new StreamParser({ file, sys: io.sys, keepText: false }, (s) => out.push(s));
  const same = (): void => {
    if (parser.sink.errorCount > 0 || n > checked.statements || (f !== undefined && f.identity !== checked.identity)) throw new ScriptChanged(file);
  };
  for await (const c of inputChunks(io, path, true, false, (x) => (f = x))) {
    const b = typeof c === 'string' ? Buffer.from(c, 'latin1') : c;
    // parsed a slice at a time, each slice's statements handed on before the next is parsed: a chunk's
    // statements held at once (~1,700) lived through scavenges and were promoted, 2.4 KB a statement
    for (let at = 0; at < b.length; at += REREAD_SLICE) {
      parser.push(b.subarray(at, at + REREAD_SLICE));
      n += out.length;
      same();
      yield* out;
      out = [];
      if (parser.done) break;
    }
    if (parser.done) break;
  }
  parser.end();
  n += out.length;
  same();
  if (n !== checked.statements || (f as InputFile | undefined)?.changedWhileOpen?.()) throw new ScriptChanged(file);
  yield* out;
}

/** A file's text read again: the file checked (its identity), not written to meanwhile. */
async function* rereadText(io: Io, path: string, file: string, identity: string | undefined): AsyncGenerator<Uint8Array | string> {
  let f: InputFile | undefined;
  for await (const c of inputChunks(io, path, true, false, (x) => (f = x))) {
    if (f !== undefined && f.identity !== identity) throw new ScriptChanged(file);
    yield c;
  }
  if ((f as InputFile | undefined)?.changedWhileOpen?.()) throw new ScriptChanged(file);
}

/** The lines `wanted` of a file (1-based), read again in one pass. */
async function fileLines(io: Io, path: string, wanted: ReadonlySet<number>): Promise<Map<number, string>> {
  const got = new Map<number, string>();
  if (wanted.size === 0) return got;
  const last = Math.max(...wanted);
  let line = 1;
  let partial = '';
  for await (const c of inputChunks(io, path)) {
    const t = partial + latin1(c);
    let start = 0;
    for (let nl = t.indexOf('\n'); nl >= 0; nl = t.indexOf('\n', start)) {
      if (wanted.has(line)) got.set(line, t.slice(start, nl));
      line++;
      start = nl + 1;
      if (line > last) return got;
    }
    // a line longer than a statement may be is not kept whole (the echo shows a window of it anyway)
    partial = t.slice(start, start + MAX_STATEMENT);
  }
  if (wanted.has(line) && partial) got.set(line, partial);
  return got;
}

/** Source lines for the diagnostics about to be printed: the text kept, or the lines read again. */
async function linesFor(input: ScriptInput, diags: readonly Diagnostic[]): Promise<Lines> {
  if (!input.linesOf) return new Lines(() => input.text()!, 1, 1, input.quotedLines);
  const wanted = new Set<number>();
  for (const d of diags) {
    wanted.add(d.line);
    if (d.line > 1) wanted.add(d.line - 1);
  }
  return new Lines(await input.linesOf(wanted), 1, 1, input.quotedLines);
}

/** The parser's pieces as one string, letting go of the pieces. */
function joinParsed(parsed: string[]): string {
  const t = parsed.length === 1 ? parsed[0]! : parsed.join('');
  parsed.length = 0;
  return t;
}

/** The line that says a file was refused for its errors, with their count (the check's, or all of them). */
function refusedLine(input: ScriptInput, errors = input.errorCount, nothing = 'nothing applied'): string {
  const name = escapeControls(input.file);
  if (input.stoppedReading) return `setkey: too many errors in ${name}; stopped reading; ${nothing}\n`;
  return `setkey: ${errors} error${errors === 1 ? '' : 's'} in ${name}; ${nothing}\n`;
}

/**
 * The second half of the check: host names looked up (even when the check
 * found errors, unless it stopped at the cap: one run shows them all), every
 * diagnostic reported in source order. The resolved commands by position,
 * or undefined after errors (the summary printed, ending in `nothing`).
 */
async function resolveChecked(io: Io, input: ScriptInput, st: RunState, nothing: string): Promise<{ resolved?: Map<string, Command[]>; lines: Lines }> {
  const res = input.stoppedReading ? { commands: [], diagnostics: [] } : await resolveStatements(input.hosts, input.file, io.lookup);
  const diags = mergeDiagnostics(input.diagnostics, res.diagnostics);
  const lines = await linesFor(input, diags);
  report(io, diags, lines, st);
  // the check kept 50 warnings and counted the rest
  st.warnings += input.droppedWarnings;
  const errors = input.errorCount + res.diagnostics.filter((d) => d.severity === 'error').length;
  if (errors > 0) {
    io.stderr(refusedLine(input, errors, nothing));
    return { lines };
  }
  return { resolved: byPosition(res.commands), lines };
}

/** Every statement of a checked script: kept by the check, or read again. */
async function allStatements(io: Io, input: ScriptInput): Promise<readonly Statement[]> {
  if (input.statements) return input.statements;
  if (!input.reread) return parse(input.text()!, { file: input.file, sys: io.sys }).statements;
  const out: Statement[] = [];
  for await (const s of input.reread()) out.push(s);
  return out;
}

/** Host names' commands by their statement's position (a statement with names may become several commands). */
function byPosition(commands: readonly Command[]): Map<string, Command[]> {
  const resolved = new Map<string, Command[]>();
  for (const c of commands) {
    const k = `${c.pos.line}:${c.pos.col}`;
    const list = resolved.get(k);
    if (list) list.push(c);
    else resolved.set(k, [c]);
  }
  return resolved;
}

/**
 * The check's diagnostics and the resolver's, in source order (the
 * check's first at one position), at most MAX_ERRORS errors: one run
 * reports a host name that does not resolve with the syntax errors.
 */
function mergeDiagnostics(a: readonly Diagnostic[], b: readonly Diagnostic[]): Diagnostic[] {
  if (b.length === 0) return a as Diagnostic[];
  const out: Diagnostic[] = [];
  let i = 0;
  let j = 0;
  let errors = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    const takeA = x !== undefined && (y === undefined || x.line < y.line || (x.line === y.line && x.col <= y.col));
    const d = takeA ? a[i++]! : b[j++]!;
    if (d.severity === 'error' && ++errors > MAX_ERRORS) {
      out.push({ ...d, code: 'too-many-errors', message: `too many errors; stopped reporting after ${MAX_ERRORS}`, expected: undefined });
      break;
    }
    out.push(d);
  }
  return out;
}

/**
 * V8's new space (both semi-spaces) while a long file is applied to the
 * engine (src/sys/builtin.ts youngGenerationUpTo). 4 MiB is the size V8
 * reports from the start, so with 4 the young generation never grew: once
 * a file's statements no longer lived through scavenges (REREAD_SLICE),
 * 1,719 scavenges took 0.78 s of an apply of 100k SAs + 100k policies. With
 * 8 (semi-spaces of ~4 MiB): 855 scavenges, 0.55 s, apply 0.96x (7 pairs),
 * peak +3 MiB; with 16: 443, 0.45 s, 0.98x, +27 MiB.
 */
const ENGINE_SEMI_SPACE = 8 << 20;

/** The commands in chunks, with `check` called before each. */
async function* checkingYoung(cmds: readonly Command[] | AsyncIterable<readonly Command[]>, check: () => void): AsyncGenerator<readonly Command[]> {
  if (Array.isArray(cmds)) {
    for (let i = 0; i < cmds.length; i += CHUNK) {
      check();
      yield cmds.slice(i, i + CHUNK);
    }
    return;
  }
  for await (const c of cmds as AsyncIterable<readonly Command[]>) {
    check();
    yield c;
  }
}

/** -f on a backend: the file was checked and its host names resolved; apply all of it or none (second pass). */
async function applyFile(io: Io, o: Options, file: string, input: ScriptInput, backend: Backend, lines: Lines, st: RunState, resolved: ReadonlyMap<string, readonly Command[]>): Promise<number> {
  // a small file's statements were kept by the check; a large one is read again, chunk by chunk
  let chunks: readonly Command[] | AsyncIterable<readonly Command[]> = input.statements ? commandsOf(input.statements, o, resolved) : commandChunks(input, io, o, resolved);
  const progress = startProgress(io.progress, `applying ${escapeControls(file)}`, { total: commandCount(input, resolved), printsToStdout: o.verbose || o.hexdump });
  // the engine writes its store once every statement is in (a large file: seconds more)
  const committing = (): void => progress?.phase('writing the store');
  // a long apply to the engine: a larger young generation for its transaction (src/sys/builtin.ts)
  if (backend.capabilities.atomicBatches && input.count >= LARGE_SCRIPT) chunks = checkingYoung(chunks, youngGenerationUpTo(ENGINE_SEMI_SPACE));
  let ok: boolean;
  let changed = false;
  try {
    // a large file of new SAs and policies goes to the engine at once (src/ingest/); where it cannot, as ever
    if (await loaded(io, o, input, backend, progress)) {
      progress?.end();
      return finish(io, st);
    }
    ok = await apply(io, o, backend, backend.capabilities.atomicBatches && progress ? thenCall(chunks, committing) : chunks, true, lines, st, progress);
  } catch (e) {
    // read again, the file was not the one checked: the engine's transaction is not committed
    if (!(e instanceof ScriptChanged)) throw e;
    io.stderr(`setkey: ${e.message}\n`);
    ok = false;
    changed = true;
    st.errors++;
  } finally {
    progress?.end();
  }
  if (!ok) {
    io.stderr(
      backend.capabilities.atomicBatches
        ? `setkey: ${escapeControls(file)}: nothing applied\n`
        : `setkey: ${escapeControls(file)}: stopped ${changed ? 'there' : 'at the first refusal'}; the statements before it were applied (the kernel has no transactions)\n`,
    );
  }
  return finish(io, st);
}

/**
 * Files this long are tried as a bulk load first (src/ingest/bulk.ts): a
 * shorter one applies in a fraction of a second anyway, the usual way.
 */
const BULK_STATEMENTS = LARGE_SCRIPT;

/**
 * A checked file loaded at once where the backend can (true: applied whole),
 * or nothing of it kept (false). Nothing is printed either way: without -v
 * and -H an apply that succeeds prints nothing, and a load that would not
 * succeed is given up for the usual apply, which says why.
 */
async function loaded(io: Io, o: Options, input: ScriptInput, backend: Backend, progress: Progress | undefined): Promise<boolean> {
  // loaded as it was checked, or given up then (it would be given up again)
  if (input.loadedWhileChecked) return input.loadedWhileChecked === 'done';
  // SETKEY_BULK=0: statement by statement, always (a way to rule the load out when something looks wrong)
  if (!backend.load || !loadsWhole(input) || io.env.SETKEY_BULK === '0' || o.verbose || o.hexdump) return false;
  const text = input.source();
  const opts = loadOptions(io, o, progress);
  // read again, the file must have the statements the check counted (what was checked is what is applied)
  async function* counted(): AsyncGenerator<Uint8Array | string> {
    for await (const c of text) yield c;
    if (opts.statements() !== input.count) throw new ScriptChanged(input.file);
    progress?.phase(backend.name === 'embedded' ? 'writing the store' : 'installing');
  }
  const done = await backend.load(counted(), opts);
  // the usual apply counts from the start again
  if (!done) progress?.restart();
  return done;
}

/** A checked file a bulk load takes whole: every statement one it reads, none with a host name, enough of them. */
function loadsWhole(input: ScriptInput): boolean {
  return input.bulkable === true && input.hosts.length === 0 && input.count >= BULK_STATEMENTS;
}

/**
 * Whether `-f PATH` is to be loaded as it is checked (checkAndLoad): a
 * regular file large enough for a bulk load, applied to a backend that
 * loads that way, by an apply the load serves (not -v or -H, which print
 * each request; not SETKEY_BULK=0).
 */
export function loadsWhileChecking(io: Io, o: Options, path: string): boolean {
  if (o.noAct || o.verbose || o.hexdump || io.env.SETKEY_BULK === '0' || path === '-' || !io.open) return false;
  try {
    const f = io.open(path);
    const size = f.size;
    f.close();
    return size !== undefined && size >= LOAD_WHILE_CHECKING_BYTES;
  } catch {
    // the check reports it, the usual way
    return false;
  }
}

/**
 * Files at least this large are loaded as they are checked: ~1000
 * statements (BULK_STATEMENTS) are ~100 KB. A smaller one is not worth the
 * load's files (it would be given up for having too few statements).
 */
const LOAD_WHILE_CHECKING_BYTES = 128 << 10;

/**
 * `-f PATH` checked and, as it is read, loaded by the backend (one read of
 * the file, not the check's and then the load's: src/ingest/bulk.ts). The
 * load is kept only if the check finds the file a bulk load's whole: no
 * error, no host name, every statement a clean add or spdadd the load read,
 * enough of them. Otherwise nothing of it is kept and the file is applied
 * the usual way (runFile), which reports as ever. Undefined (with the
 * reason on stderr) if the file cannot be read, as readScript.
 */
export async function checkAndLoad(io: Io, o: Options, path: string, backend: Backend): Promise<ScriptInput | undefined> {
  if (!backend.loadChecking) return readScript(io, path, { ...o, forKernel: backend.name !== 'embedded' });
  const file = path === '-' ? '<stdin>' : path;
  let input: ScriptInput | undefined;
  const progress = startProgress(io.progress, `applying ${escapeControls(file)}`);
  try {
    // statements handed to the load unchecked (their check the load's: `defers`): the check's result is the file's only if the load is kept
    let deferred = 0;
    const done = await backend.loadChecking(
      async (take, text, paced, defers) => {
        // a statement the load does not take (a flush first, say): it would be given up at the end, so it stops now
        let unclean = false;
        let clean = 0;
        const onClean = (src: string, start: number, semi: number, unchecked?: boolean): void => {
          clean++;
          if (unchecked) deferred++;
          if (!unclean) take(src, start, semi, unchecked === true);
        };
        // deferred only while the load takes them (after an unclean statement each is checked here), and once the
        // file has enough statements to be a load's: a smaller one, given up, is not read a third time
        const deferring = (): boolean => !unclean && clean >= BULK_STATEMENTS;
        input = await readScript(io, path, { ...o, onClean, onUnclean: () => (unclean = true), onText: text, afterPiece: paced, ...(defers.adds ? { deferAdds: deferring } : {}), ...(defers.spdadds ? { deferSpdadds: deferring } : {}) });
        const keep = input !== undefined && input.errorCount === 0 && !input.stoppedReading && loadsWhole(input);
        if (keep) progress?.phase(backend.name === 'embedded' ? 'writing the store' : 'installing');
        return keep;
      },
      { ...loadOptions(io, o, progress), ...sizeOf(io, path) },
    );
    // given up with statements unchecked: the file checked again, whole, for what is to be reported and applied
    if (!done && deferred > 0 && input) input = await readScript(io, path, o);
    if (input) input.loadedWhileChecked = done ? 'done' : 'declined';
  } finally {
    progress?.end();
  }
  return input;
}

/** The size of the file at `path`, where it can be known. */
function sizeOf(io: Io, path: string): { readonly size?: number } {
  try {
    const f = io.open?.(path);
    const size = f?.size;
    f?.close();
    return size === undefined ? {} : { size };
  } catch {
    return {};
  }
}

/** A load's options: its statements counted (and shown), V8's young generation checked every 1024 of them (the check reads its heap statistics). */
function loadOptions(io: Io, o: Options, progress: Progress | undefined): LoadOptions & { readonly statements: () => number } {
  // a long apply to the engine: a larger young generation for its transaction (ENGINE_SEMI_SPACE)
  const young = youngGenerationUpTo(ENGINE_SEMI_SPACE);
  let n = 0;
  const offloadSas = saWorkers(io.env);
  return {
    sys: io.sys,
    rfcMode: o.rfcMode,
    ...(offloadSas ? { offloadSas } : {}),
    statements: () => n,
    onStatements: (k) => {
      if ((n & 1023) + k >= 1024) young();
      n += k;
      progress?.step(k);
    },
  };
}

/** The commands a checked file becomes (RFC mode's forward copies aside): one a statement, a host name's statement one per address pair. */
function commandCount(input: ScriptInput, resolved: ReadonlyMap<string, readonly Command[]>): number {
  let n = input.count - input.hosts.length;
  for (const cmds of resolved.values()) n += cmds.length;
  return n;
}

/** The commands (one chunk, or chunks), then `f` once they are all taken. */
async function* thenCall(cmds: readonly Command[] | AsyncIterable<readonly Command[]>, f: () => void): AsyncGenerator<readonly Command[]> {
  if (isChunk(cmds)) yield cmds;
  else yield* cmds;
  f();
}

function isChunk(x: readonly Command[] | AsyncIterable<readonly Command[]>): x is readonly Command[] {
  return Array.isArray(x);
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

/**
 * `-f FILE`: the whole file is parsed and checked (by readScript), its host
 * names resolved, and every error of both reported, before anything is
 * applied; then it is applied whole or not at all.
 */
export async function runFile(io: Io, o: Options, file: string, input: ScriptInput, backend?: Backend): Promise<number> {
  const st: RunState = { errors: 0, warnings: 0 };
  const { resolved, lines } = await resolveChecked(io, input, st, 'nothing applied');
  if (!resolved) return finish(io, st);
  if (backend) return applyFile(io, o, file, input, backend, lines, st, resolved);
  // with -n and no -H nothing needs the statements after checking
  if (!o.hexdump) return finish(io, st);
  let bad = 0;
  const chunks = input.statements ? [commandsOf(input.statements, o, resolved)] : commandChunks(input, io, o, resolved);
  for await (const cmds of chunks) {
    const diags = printMessages(io, cmds, o);
    report(io, diags, lines, st);
    bad += diags.length;
  }
  if (bad) io.stderr(refusedLine(input, bad));
  return finish(io, st);
}

/** `-c`: statements from stdin, each run as soon as its ';' arrives; errors do not stop the loop. */
export async function runStdin(io: Io, o: Options, backend?: Backend): Promise<number> {
  const st: RunState = { errors: 0, warnings: 0 };
  const file = '<stdin>';
  const splitter = new StatementSplitter();
  const runChunk = async (chunk: Chunk): Promise<boolean> => {
    if (chunk.tooLong) {
      // its text is gone (memory stays bounded): the message, without the line
      report(io, [tooLong(file, chunk.tooLong)], undefined, st);
      return chunk.tooLong.endless === true;
    }
    const quoted: number[] = [];
    const r = parse(chunk.text, { file, sys: io.sys, firstLine: chunk.firstLine, start: chunk.start, lineStart: chunk.lineStart, quotedLines: quoted });
    const lines = new Lines(chunk.text, chunk.firstLine, 1 - chunk.lineStart, new Set(quoted));
    report(io, r.diagnostics, lines, st);
    // each statement stands on its own: one that lacked its ';' does not keep the next from running
    if (r.statements.length) await runStatements(io, o, file, r.statements, lines, st, backend, false);
    return r.exited;
  };
  for await (const data of io.stdin()) {
    // one char per byte (TextDecoder's 'latin1' is windows-1252, which changes bytes 0x80-0x9f)
    splitter.push(latin1(data));
    for (let c = splitter.next(); c; c = splitter.next()) if (await runChunk(c)) return finish(io, st);
  }
  const rest = splitter.end();
  if (rest) await runChunk(rest);
  return finish(io, st);
}

function tooLong(file: string, at: { line: number; col: number; endless?: boolean }): Diagnostic {
  const size = describeSize(MAX_STATEMENT);
  if (at.endless) return { severity: 'error', code: 'no-semicolon', file, line: at.line, col: at.col, message: `still no ';' after ${describeSize(MAX_INPUT)}; stopped reading` };
  return { severity: 'error', code: 'statement-too-long', file, line: at.line, col: at.col, message: `no ';' within ${size} of the start of this statement (skipped up to its ';')`, expected: `statements of at most ${size}` };
}

/**
 * The commands a checked script declares (--decrypt's SAs): its
 * diagnostics reported as -f reports them, host names resolved, RFC-mode
 * forward copies added. Undefined after errors (the summary printed).
 */
export async function declarationCommands(io: Io, o: Options, input: ScriptInput, nothing = 'nothing compared'): Promise<Command[] | undefined> {
  const resolved = await declarationChecked(io, input, nothing);
  return resolved && [...commandsOf(await allStatements(io, input), o, resolved)];
}

/**
 * The same in chunks (--diff and --sync), read again from a large file as
 * -f applies it: the commands of a declaration of any size are never all in
 * memory at once (100k statements held as commands were 164 MB of heap).
 */
export async function declarationChunks(io: Io, o: Options, input: ScriptInput, nothing = 'nothing compared'): Promise<AsyncIterable<readonly Command[]> | undefined> {
  const resolved = await declarationChecked(io, input, nothing);
  return resolved && commandChunks(input, io, o, resolved);
}

async function declarationChecked(io: Io, input: ScriptInput, nothing: string): Promise<Map<string, Command[]> | undefined> {
  const st: RunState = { errors: 0, warnings: 0 };
  const { resolved } = await resolveChecked(io, input, st, nothing);
  if (resolved) finish(io, st);
  return resolved;
}
