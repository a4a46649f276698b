/**
 * A setkey text parsed as it arrives, piece by piece, with exactly the
 * statements and diagnostics that parsing the whole text at once gives, in
 * memory bounded by the longest statement. This is what lets `-f` stop
 * reading an endless or hostile input early: at the error cap, at `exit`,
 * or at a statement that runs on without its ';' (/dev/zero).
 *
 * Each piece is parsed up to its last ';'. A statement that runs into that
 * point (its ';' was in a quoted string or a comment, or the policy text
 * read on) is not reported: the reader hands back where it began, and it is
 * parsed again when more text has come. Everything before that point is
 * final, because a statement depends on nothing after its own ';'.
 *
 * Text comes in as bytes, one char per byte (latin1: quoted keys are raw
 * bytes, as in the reference). Each piece is decoded with what is pending
 * before it into one flat string: the lexer reads it a char at a time, and
 * a concatenation of two strings reads markedly slower.
 */
import { Buffer } from 'node:buffer';
import { DiagnosticSink } from './diagnostics.js';
import { describeSize, MAX_STATEMENT, StatementReader, type Statement } from './parser.js';
import type { SystemDb } from './sysdb.js';

export interface StreamOptions {
  /** file name used in diagnostics */
  readonly file: string;
  readonly sys: SystemDb;
  /** stop after this many errors (default 50) */
  readonly maxErrors?: number;
  /** the longest statement (default MAX_STATEMENT) */
  readonly maxStatement?: number;
  /** keep the text parsed (default yes): a file read again can let it go */
  readonly keepText?: boolean;
  /** statements the quick check finds clean are counted in `checked`, not handed over (ParseOptions.checkOnly) */
  readonly checkOnly?: boolean;
  /** count the clean add and spdadd statements in `cleanAdds` (ParseOptions.countClean) */
  readonly countClean?: boolean;
  /** each statement counted in `cleanAdds`, where it stands in its piece's text (ParseOptions.onClean) */
  readonly onClean?: (src: string, start: number, semi: number, unchecked?: boolean) => void;
  /** each statement not handed to onClean (ParseOptions.onUnclean) */
  readonly onUnclean?: () => void;
  /** an `add` handed to onClean unchecked (ParseOptions.deferAdds) */
  readonly deferAdds?: () => boolean;
  /** an `spdadd` handed to onClean unchecked (ParseOptions.deferSpdadds) */
  readonly deferSpdadds?: () => boolean;
  /**
   * each piece's text, before its statements are handed to onClean (whose
   * `src` it is: a reader of it knows it changed without comparing texts),
   * and its bytes, valid until the next piece
   */
  readonly onText?: (src: string, bytes: Uint8Array) => void;
}

export class StreamParser {
  readonly sink: DiagnosticSink;
  /**
   * The text parsed for good, in order: joined, it is the text pushed (up
   * to where parsing stopped). Kept as the parser's own pieces, so that the
   * text is held once.
   */
  readonly parsed: string[] = [];
  /** lines that begin inside a quoted string (for the echo's masking); may repeat */
  readonly quotedLines: number[] = [];
  /** an `exit` statement ended the input */
  exited = false;
  /** statements found clean and not handed over (checkOnly) */
  checked = 0;
  /** clean add and spdadd statements (checkOnly or countClean) */
  cleanAdds = 0;
  /** the check only, from the next piece on (a caller may find out on the way that it needs no statement) */
  checkOnly: boolean;
  /** a statement ran past the limit without its ';' (reported) */
  tooLong = false;
  private readonly max: number;
  /** text not parsed for good yet, as bytes; it starts where a statement may start */
  private pending: Uint8Array = new Uint8Array(0);
  /** line of pending[0], and where that line starts relative to pending (0 or negative) */
  private line = 1;
  private lineStart = 0;
  /** index in pending of the first word of the statement begun there, if known */
  private begun: { index: number; line: number; col: number } | undefined;

  constructor(
    private readonly opts: StreamOptions,
    private readonly each: (s: Statement) => void,
  ) {
    this.sink = new DiagnosticSink(opts.maxErrors ?? 50);
    this.max = opts.maxStatement ?? MAX_STATEMENT;
    this.checkOnly = opts.checkOnly === true;
  }

  /** Nothing more needs reading: exit, the error cap, or a statement without end. */
  get done(): boolean {
    return this.exited || this.tooLong || this.sink.full;
  }

  /** The next piece of text (a string: one char per byte). */
  push(piece: Uint8Array | string): void {
    if (this.done) return;
    const bytes = typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece;
    const all = this.pending.length ? Buffer.concat([this.pending, bytes]) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const cut = all.lastIndexOf(59) + 1;
    if (cut > 0) this.run(all, cut, true);
    else this.pending = all;
    if (this.done || this.extent() <= this.max) return;
    // lex what is pending: blank and comment lines before the statement do not count towards its length
    this.run(Buffer.from(this.pending.buffer, this.pending.byteOffset, this.pending.byteLength), this.pending.length, true);
    if (this.extent() > this.max) this.refuse();
  }

  /** The end of the text: what is pending is parsed as the last statement. */
  end(): void {
    const rest = Buffer.from(this.pending.buffer, this.pending.byteOffset, this.pending.byteLength);
    if (!this.done) this.run(rest, rest.length, false);
    else if (rest.length) this.keep(rest.toString('latin1'));
    this.pending = new Uint8Array(0);
  }

  private extent(): number {
    return this.pending.length - (this.begun?.index ?? 0);
  }

  private run(bytes: Buffer, end: number, partial: boolean): void {
    const o = this.opts;
    const buf = bytes.toString('latin1');
    o.onText?.(buf, bytes);
    const r = new StatementReader(buf, { file: o.file, sys: o.sys, sink: this.sink, partial, start: 0, end, firstLine: this.line, lineStart: this.lineStart, maxStatement: this.max, quotedLines: this.quotedLines, checkOnly: this.checkOnly, countClean: this.opts.countClean === true, ...(o.onClean ? { onClean: o.onClean } : {}), ...(o.onUnclean ? { onUnclean: o.onUnclean } : {}), ...(o.deferAdds ? { deferAdds: o.deferAdds } : {}), ...(o.deferSpdadds ? { deferSpdadds: o.deferSpdadds } : {}) });
    for (const st of r) this.each(st);
    this.checked += r.checked;
    this.cleanAdds += r.cleanAdds;
    if (r.result().exited) this.exited = true;
    const at = r.resume;
    if (!partial || !at) {
      this.keep(buf);
      this.pending = new Uint8Array(0);
      return;
    }
    if (at.index > 0) this.keep(at.index === buf.length ? buf : buf.slice(0, at.index));
    this.pending = bytes.subarray(at.index);
    this.line = at.line;
    this.lineStart = at.lineStart - at.index;
    this.begun = at.begun && { index: at.begun.index - at.index, line: at.begun.line, col: at.begun.col };
  }

  private keep(text: string): void {
    if (this.opts.keepText !== false) this.parsed.push(text);
  }

  /** A statement without its ';' within the limit: one error where it begins, and no more reading. */
  private refuse(): void {
    const at = this.begun ?? { line: this.line, col: 1 - this.lineStart };
    const size = describeSize(this.max);
    this.sink.add({ severity: 'error', code: 'statement-too-long', file: this.opts.file, line: at.line, col: at.col, message: `no ';' within ${size} of the start of this statement`, expected: `statements of at most ${size}` });
    this.tooLong = true;
    // the statement's text stays (at most the limit and a chunk) for the echo of its first line
  }
}
