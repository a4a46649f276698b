/**
 * setkey language -> statements. Pure: text in, statements and diagnostics
 * out. Every statement is parsed and checked; an error in one is reported
 * and parsing goes on at the next ';', so one run shows all errors (bounded).
 * `exit;`, `quit;` and `bye;` end the input, as in the reference.
 */
import type { Diagnostic } from './diagnostics.js';
import { DiagnosticSink } from './diagnostics.js';
import { ParserCore, StatementError } from './core.js';
import { COMMAND_WORDS, isBlankChar, isWordChar, Tok } from './lexer.js';
import { deleteAllStatement, saStatement, satypeStatement, type Statement } from './sa-statements.js';
import { bareStatement, policyStatement } from './spd-statements.js';
import { QUICK_MAX, QuickCheck } from './quick.js';
import type { SystemDb } from './sysdb.js';
import { quoteToken } from './redact.js';

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
  /** index where the line containing `start` begins (default: `start`; negative if that line began before `src`) */
  readonly lineStart?: number;
  /** a statement longer than this, from its first word to its ';', is an error (default MAX_STATEMENT) */
  readonly maxStatement?: number;
  /** collect diagnostics here (a text read in pieces shares one sink across them) */
  readonly sink?: DiagnosticSink;
  /**
   * More text follows `end`: a statement that runs into `end` is neither
   * reported nor yielded, and `resume` says where to start again with more.
   */
  readonly partial?: boolean;
  /** lines that begin inside a quoted string are added here (the echo masks them) */
  readonly quotedLines?: number[];
  /**
   * The caller needs no statement built, only the check: a statement the
   * quick check (quick.ts) finds clean is counted in `checked`, not yielded.
   * The others are parsed and yielded as ever.
   */
  readonly checkOnly?: boolean;
  /**
   * Count in `cleanAdds` the statements the quick check finds clean that
   * are `add` or `spdadd` (what a bulk load takes, src/ingest/), those
   * parsed and yielded too (checkOnly counts its own).
   */
  readonly countClean?: boolean;
  /**
   * Each statement counted in `cleanAdds` handed over as it is counted, in
   * order, as where it stands in `src` (its first word at `start`, its ';'
   * at `semi`): a bulk load reads it there, while the check reads the file
   * (cli/script.ts). Such a statement is right as the quick check knows it.
   */
  readonly onClean?: (src: string, start: number, semi: number, unchecked?: boolean) => void;
  /** Told of each statement read that is not handed to onClean (another kind, or one the quick check is not sure of), `exit` aside. */
  readonly onUnclean?: () => void;
  /**
   * Whether an `add` (at most as long as the quick check reads) may be
   * handed to onClean now unchecked, its `unchecked` set: whoever takes it
   * runs the quick check on it (a bulk load's SA worker: src/ingest/), and
   * the check's result is not the file's unless all such were clean. Asked
   * at each `add`, checkOnly.
   */
  readonly deferAdds?: () => boolean;
  /** The same of an `spdadd` (a bulk load's main thread reads and checks it in one pass: src/ingest/scan-bytes.ts). */
  readonly deferSpdadds?: () => boolean;
}

/** The longest statement, from its first word to its ';' (the longest real one is a few hundred bytes). */
export const MAX_STATEMENT = 1 << 20;

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

/** A point to start parsing again from: an index, its line, and where that line starts (may be before `index`). */
export interface ResumePoint {
  readonly index: number;
  readonly line: number;
  readonly lineStart: number;
  /** the first token of the statement left unfinished there, if one was begun */
  readonly begun?: { readonly index: number; readonly line: number; readonly col: number };
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
  private readonly partial: boolean;
  private readonly maxStatement: number;
  private readonly end: number;
  private exited = false;
  private readonly quick: QuickCheck | undefined;
  /** the first ';' at or after the statement the quick check looks at (-1: none is left; -2: not looked for yet) */
  private semi = -2;
  /** with `partial`: where the unfinished rest begins (set once the iteration is over) */
  resume: ResumePoint | undefined;
  /** statements found clean by the quick check, not yielded (checkOnly) */
  checked = 0;
  /** of the statements read, those the quick check finds clean that are add or spdadd (checkOnly or countClean) */
  cleanAdds = 0;
  private readonly checkOnly: boolean;
  private readonly countClean: boolean;
  private readonly onClean: ((src: string, start: number, semi: number, unchecked?: boolean) => void) | undefined;
  private readonly onUnclean: (() => void) | undefined;
  private readonly deferAdds: (() => boolean) | undefined;
  private readonly deferSpdadds: (() => boolean) | undefined;

  constructor(src: string, opts: ParseOptions) {
    const start = opts.start ?? 0;
    this.p = new ParserCore(src, opts.file, opts.sys, start, opts.end ?? src.length, opts.firstLine ?? 1, opts.lineStart ?? start, opts.quotedLines);
    this.sink = opts.sink ?? new DiagnosticSink(opts.maxErrors ?? 50);
    this.partial = opts.partial === true;
    this.maxStatement = opts.maxStatement ?? MAX_STATEMENT;
    this.end = opts.end ?? src.length;
    this.checkOnly = opts.checkOnly === true;
    this.countClean = opts.countClean === true;
    this.onClean = opts.onClean;
    this.onUnclean = opts.onUnclean;
    this.deferAdds = opts.deferAdds;
    this.deferSpdadds = opts.deferSpdadds;
    if (this.checkOnly || this.countClean) this.quick = QuickCheck.for(opts.sys);
  }

  *[Symbol.iterator](): Generator<Statement> {
    const p = this.p;
    const lx = p.lx;
    const sink = this.sink;
    const quick = this.quick;
    while (lx.kind !== Tok.EOF) {
      if (this.checkOnly && lx.kind === Tok.WORD && this.quickly(quick!)) {
        this.checked++;
        continue;
      }
      // (counted once the statement is read whole: one that runs on is read again with more text)
      const clean = this.countClean && !this.checkOnly && lx.kind === Tok.WORD && this.isAdd() && this.clean(quick!);
      const mark = { index: lx.markIndex, line: lx.markLine, lineStart: lx.markLineStart };
      const at = { index: lx.start, line: lx.tokLine, col: lx.tokCol };
      const semi = this.semi;
      const st = this.attempt(at.line, at.col);
      if (clean && st !== undefined && st !== 'ran-out' && st !== 'stop') {
        this.cleanAdds++;
        this.onClean?.(lx.src, at.index, semi);
      } else if (st !== 'ran-out' && (st === undefined || st === 'stop' || st.cmd.kind !== 'exit')) this.onUnclean?.();
      if (st === 'ran-out') {
        // the statement may go on in the text that follows: leave it (and what it said) for then
        p.warnings.length = 0;
        this.resume = { ...mark, begun: at };
        return;
      }
      // what a statement said, in source order (some warnings are known only at its end, and an error comes after those before it)
      if (p.warnings.length > 1) p.warnings.sort((a, b) => a.line - b.line || a.col - b.col);
      for (const w of p.warnings) sink.add(w);
      p.warnings.length = 0;
      if (st === 'stop') break;
      if (st?.cmd.kind === 'exit') {
        this.exited = true;
        break;
      }
      if (st) yield st;
    }
    this.resume = { index: lx.markIndex, line: lx.markLine, lineStart: lx.markLineStart };
  }

  /** The first ';' at or after `start` (-1: none). */
  private semiAfter(start: number): number {
    // (-1: no ';' after an earlier statement, so none after this one)
    if (this.semi < start && this.semi !== -1) this.semi = this.p.lx.src.indexOf(';', start);
    return this.semi;
  }

  /** Whether the statement at the current token, to the first ';', is one the quick check finds clean. */
  private clean(quick: QuickCheck): boolean {
    const lx = this.p.lx;
    const start = lx.start;
    const semi = this.semiAfter(start);
    return semi >= 0 && semi < this.end && semi + 1 - start <= this.maxStatement && quick.clean(lx.src, start, semi);
  }

  /** Whether the statement at the current token is an add or an spdadd (what a bulk load takes, when clean). */
  private isAdd(): boolean {
    const lx = this.p.lx;
    return lx.src.startsWith('add', lx.start) || lx.src.startsWith('spdadd', lx.start);
  }

  /**
   * An `add` or `spdadd` whose check is deferred (deferAdds, deferSpdadds):
   * one the quick check would read (to a ';' in this text, not longer than
   * it reads), its first word that command and a blank.
   */
  private deferred(): boolean {
    const lx = this.p.lx;
    const start = lx.start;
    const len = lx.stop - start;
    const ask = len === 3 ? this.deferAdds : len === 6 ? this.deferSpdadds : undefined;
    if (ask === undefined || !lx.src.startsWith(len === 3 ? 'add' : 'spdadd', start) || !ask()) return false;
    const semi = this.semiAfter(start);
    return semi >= 0 && semi < this.end && semi + 1 - start <= this.maxStatement && semi - start < QUICK_MAX;
  }

  /** The statement at the current token checked by the quick check (or its check deferred: deferAdds, deferSpdadds), and the lexer past it; false (the lexer left there) if it is not sure. */
  private quickly(quick: QuickCheck): boolean {
    const unchecked = (this.deferAdds !== undefined || this.deferSpdadds !== undefined) && this.deferred();
    if (!unchecked && !this.clean(quick)) return false;
    const lx = this.p.lx;
    let semi = this.semi;
    if (unchecked) {
      this.cleanAdds++;
      this.onClean!(lx.src, lx.start, semi, true);
      semi = this.deferredRun(semi);
    } else if (this.isAdd()) {
      this.cleanAdds++;
      this.onClean?.(lx.src, lx.start, semi);
    } else this.onUnclean?.();
    // on to the ';', then past it
    lx.resumeAt(semi);
    lx.advance();
    return true;
  }

  /**
   * After a deferred statement whose ';' is at `semi`: the deferred ones
   * that follow it (blanks only between: no comment), handed over as
   * deferred() and quickly() would, without the lexer: the last one's ';'.
   * Each was ~0.5 us of the lexer, the reader's loop and their calls, on
   * the thread that also loads the policies (a large file's check, loaded
   * as it is read: cli/script.ts checkAndLoad); found here, ~0.1.
   */
  private deferredRun(semi: number): number {
    const src = this.p.lx.src;
    const end = this.end;
    for (;;) {
      let i = semi + 1;
      while (i < end && isBlankChar(src.charCodeAt(i))) i++;
      // the command word, a whole word of the lexer
      const len = src.startsWith('add', i) ? 3 : src.startsWith('spdadd', i) ? 6 : 0;
      if (len === 0 || i + len >= end || isWordChar(src.charCodeAt(i + len))) return semi;
      const ask = len === 3 ? this.deferAdds : this.deferSpdadds;
      if (ask === undefined || !ask()) return semi;
      const next = src.indexOf(';', i);
      if (next < 0 || next >= end || next + 1 - i > this.maxStatement || next - i >= QUICK_MAX) return semi;
      this.cleanAdds++;
      this.checked++;
      this.onClean!(src, i, next, true);
      semi = next;
    }
  }

  /** One statement; undefined after an error (recorded), 'ran-out' if it needs text beyond `end` (partial only), 'stop' after an unterminated quote. */
  private attempt(line: number, col: number): Statement | undefined | 'ran-out' | 'stop' {
    const p = this.p;
    const lx = p.lx;
    const start = lx.start;
    try {
      const st = statement(p, line, col);
      if (lx.prevStop - start <= this.maxStatement) return st;
      p.warnings.push(p.diag(line, col, 'statement-too-long', `statement longer than ${describeSize(this.maxStatement)}`, `statements of at most ${describeSize(this.maxStatement)}`));
      return undefined;
    } catch (e) {
      if (!(e instanceof StatementError)) throw e;
      if (this.partial) {
        // an error stands whatever follows, unless it was at the end or recovery ran into it (then more text may change it;
        // so may a command word that recovery stopped at, if it touches the end of the piece)
        if (lx.kind === Tok.EOF || lx.kind === Tok.UNTERMINATED || !lx.skipStatement(start) || (lx.kind === Tok.WORD && lx.stop >= this.end)) return 'ran-out';
        p.warnings.push(e.diag);
        return undefined;
      }
      p.warnings.push(e.diag);
      if (lx.kind === Tok.UNTERMINATED) return 'stop';
      lx.skipStatement(start);
      return undefined;
    }
  }

  result(statements: Statement[] = []): ParseResult {
    return { statements, diagnostics: this.sink.list, errorCount: this.sink.errorCount, exited: this.exited, stoppedAt: this.p.lx.offset };
  }
}

/** 1048576 -> "1 MiB" (limits in messages). */
export function describeSize(n: number): string {
  return n % (1 << 20) === 0 ? `${n / (1 << 20)} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`;
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
  p.stmtCmd = kw;
  p.stmtStart = lx.start;
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
      p.failNear('unknown-command', `unknown command ${quoteToken(kw)}`, kw, COMMAND_WORDS, COMMANDS);
  }
}
