/**
 * setkey language -> statements. Pure: text in, statements and diagnostics
 * out. Every statement is parsed and checked; an error in one is reported
 * and parsing goes on at the next ';', so one run shows all errors (bounded).
 * `exit;`, `quit;` and `bye;` end the input, as in the reference.
 */
import type { Diagnostic } from './diagnostics.js';
import { DiagnosticSink } from './diagnostics.js';
import { ParserCore, StatementError } from './core.js';
import { Tok } from './lexer.js';
import { deleteAllStatement, saStatement, satypeStatement, type Statement } from './sa-statements.js';
import { bareStatement, policyStatement } from './spd-statements.js';
import type { SystemDb } from './sysdb.js';

export type { Statement } from './sa-statements.js';
export type { HostSpec } from './core.js';

export interface ParseOptions {
  /** file name used in diagnostics */
  readonly file: string;
  readonly sys: SystemDb;
  /** stop reporting after this many errors (default 50) */
  readonly maxErrors?: number;
  /** line number of the first line of `src` (for -c chunks) */
  readonly firstLine?: number;
  /** index range of `src` to parse */
  readonly start?: number;
  readonly end?: number;
  /** index where the line containing `start` begins (default: `start`) */
  readonly lineStart?: number;
}

export interface ParseResult {
  readonly statements: Statement[];
  /** errors and warnings in source order */
  readonly diagnostics: Diagnostic[];
  readonly errorCount: number;
  /** an exit/quit/bye statement ended the input */
  readonly exited: boolean;
  /** index just after the last statement consumed (after exit: after its ';') */
  readonly stoppedAt: number;
}

const COMMANDS = 'a command: add, update, get, getspi, delete, deleteall, flush, dump, spdadd, spdupdate, spddelete, spdflush, spddump or exit';

/**
 * Statements one at a time, as a resumable iteration: a caller can stop
 * between two statements (to apply what it has, or to wait), and the
 * diagnostics so far are in `result()`.
 */
export class StatementReader implements Iterable<Statement> {
  private readonly p: ParserCore;
  private readonly sink: DiagnosticSink;
  private exited = false;

  constructor(src: string, opts: ParseOptions) {
    const start = opts.start ?? 0;
    this.p = new ParserCore(src, opts.file, opts.sys, start, opts.end ?? src.length, opts.firstLine ?? 1, opts.lineStart ?? start);
    this.sink = new DiagnosticSink(opts.maxErrors ?? 50);
  }

  *[Symbol.iterator](): Generator<Statement> {
    const p = this.p;
    const lx = p.lx;
    const sink = this.sink;
    while (lx.kind !== Tok.EOF) {
      const line = lx.tokLine;
      const col = lx.tokCol;
      let st: Statement | undefined;
      try {
        st = statement(p, line, col);
      } catch (e) {
        if (!(e instanceof StatementError)) throw e;
        sink.add(e.diag);
        if (lx.kind === Tok.UNTERMINATED) break;
        lx.skipStatement();
      }
      for (const w of p.warnings) sink.add(w);
      p.warnings.length = 0;
      if (st?.cmd.kind === 'exit') {
        this.exited = true;
        break;
      }
      if (st) yield st;
    }
    for (const w of p.warnings) sink.add(w);
    p.warnings.length = 0;
  }

  result(statements: Statement[] = []): ParseResult {
    return { statements, diagnostics: this.sink.list, errorCount: this.sink.errorCount, exited: this.exited, stoppedAt: this.p.lx.offset };
  }
}

/**
 * Parse statements. With `each`, statements are handed over one by one and
 * not kept (constant memory for `-n` over large files).
 */
export function parse(src: string, opts: ParseOptions, each?: (s: Statement) => void): ParseResult {
  const r = new StatementReader(src, opts);
  const statements: Statement[] = [];
  for (const st of r) {
    if (each) each(st);
    else statements.push(st);
  }
  return r.result(statements);
}

function statement(p: ParserCore, line: number, col: number): Statement {
  const lx = p.lx;
  if (lx.kind === Tok.SEMI) p.fail('empty-statement', "empty statement (a lone ';')", COMMANDS);
  if (lx.kind !== Tok.WORD) p.unexpected(COMMANDS);
  const kw = lx.text();
  switch (kw) {
    case 'add':
    case 'update':
    case 'get':
    case 'delete':
    case 'getspi':
      return saStatement(p, kw, line, col);
    case 'deleteall':
      return deleteAllStatement(p, line, col);
    case 'flush':
    case 'dump':
      return satypeStatement(p, kw, line, col);
    case 'spdadd':
    case 'spdupdate':
    case 'spddelete':
      return policyStatement(p, kw, line, col);
    case 'spdflush':
    case 'spddump':
      return bareStatement(p, kw, line, col);
    case 'exit':
    case 'quit':
    case 'bye':
      return bareStatement(p, 'exit', line, col);
    default:
      p.fail('unknown-command', `unknown command '${kw.length > 40 ? kw.slice(0, 37) + '...' : kw}'`, COMMANDS);
  }
}
