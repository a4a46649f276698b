/**
 * Splits a stream of setkey text into statements at each ';' that is outside
 * quotes and comments, counting lines, so that `-c` can run a statement as
 * soon as it is complete (the reference split at every ';', even in quotes,
 * and never counted lines).
 *
 * Memory stays bounded on an endless input: a statement that runs past
 * `maxStatement` without its ';' is reported once (a chunk with `tooLong`)
 * and discarded up to its ';' (if that does not come within `maxDiscard`,
 * a second notice says to stop reading: /dev/zero never has one); blank and comment lines before a statement
 * are dropped once there are many of them; of a long line that holds many
 * statements only the last `keepPrefix` characters before the statement are
 * kept (for the echo; columns stay true through a negative `lineStart`).
 */
import { MAX_STATEMENT } from '../syntax/parser.js';
import { MAX_INPUT } from './io.js';

export interface Chunk {
  /** text from the start of the statement's first line (or what was kept of it) through its ';' */
  text: string;
  /** index in `text` where the statement begins */
  start: number;
  /** line number of text's first line */
  firstLine: number;
  /** index in `text` where its first line begins: 0, or negative if the start of that line was dropped */
  lineStart: number;
  /** instead of a statement: one that ran past the limit without its ';', begun there (it is being discarded; `endless`: no ';' came within maxDiscard) */
  tooLong?: { line: number; col: number; endless?: boolean };
}

/** Blank and comment lines kept before a statement (its chunk shows them; beyond this they are dropped). */
const TRIVIA_KEEP = 1 << 16;
/** Characters of the statement's first line kept before it. */
const PREFIX_KEEP = 4096;

const isBlank = (c: number): boolean => c === 32 || c === 9 || c === 13 || c === 12 || c === 11;

export class StatementSplitter {
  private buf = '';
  private pos = 0;
  private inQuote = false;
  private inComment = false;
  private line = 1;
  /** index in buf where the current line starts (negative once its start was dropped) */
  private lineStartIdx = 0;
  private stmtStart = 0;
  private stmtLine = 1;
  private stmtLineStart = 0;
  /** the statement's first character that is no blank or comment: index, line, column; -1 before it */
  private sig = -1;
  private sigLine = 1;
  private sigCol = 1;
  /** the statement is dropped up to its ';'; how much of it was */
  private discarding = false;
  private discarded = 0;
  /** the blanks before the statement were dropped inside a comment: it starts on the next line */
  private startNextLine = false;

  constructor(
    private readonly maxStatement = MAX_STATEMENT,
    private readonly maxDiscard = MAX_INPUT,
  ) {}

  push(data: string): void {
    this.buf += data;
  }

  /** The next complete statement (or a too-long notice), or undefined until more text arrives. */
  next(): Chunk | undefined {
    const b = this.buf;
    for (; this.pos < b.length; this.pos++) {
      const c = b.charCodeAt(this.pos);
      if (c === 10) {
        this.newline();
        continue;
      }
      if (this.inComment) continue;
      if (this.inQuote) {
        if (c === 34) this.inQuote = false;
        continue;
      }
      if (c === 35) this.inComment = true;
      else if (c === 59) {
        if (!this.discarding) return this.emit();
        this.discarding = false;
        this.discarded = 0;
        this.startStatement(this.pos + 1);
      } else if (!isBlank(c)) {
        if (c === 34) this.inQuote = true;
        if (this.sig < 0 && !this.discarding) this.significant();
      }
    }
    if (!this.discarding && this.sig >= 0 && this.pos - this.sig > this.maxStatement) return this.overflow();
    if (this.discarding && this.discarded + this.pos > this.maxDiscard) {
      return { text: '', start: 0, firstLine: this.sigLine, lineStart: 0, tooLong: { line: this.sigLine, col: this.sigCol, endless: true } };
    }
    this.trim();
    return undefined;
  }

  private newline(): void {
    this.line++;
    this.lineStartIdx = this.pos + 1;
    this.inComment = false;
    if (this.startNextLine || (this.sig < 0 && !this.discarding && this.pos + 1 - this.stmtStart > TRIVIA_KEEP)) {
      // nothing of a statement yet, and much before it: it starts on the next line
      this.startNextLine = false;
      this.startStatement(this.pos + 1);
    }
  }

  private significant(): void {
    this.sig = this.pos;
    this.sigLine = this.line;
    this.sigCol = this.pos - this.lineStartIdx + 1;
  }

  private startStatement(at: number): void {
    this.stmtStart = at;
    this.stmtLine = this.line;
    this.stmtLineStart = this.lineStartIdx;
    this.sig = -1;
  }

  private emit(): Chunk {
    const textStart = Math.max(this.stmtLineStart, this.stmtStart - PREFIX_KEEP, 0);
    const chunk: Chunk = {
      text: this.buf.slice(textStart, this.pos + 1),
      start: this.stmtStart - textStart,
      firstLine: this.stmtLine,
      lineStart: this.stmtLineStart - textStart,
    };
    this.pos++;
    this.startStatement(this.pos);
    this.trim();
    return chunk;
  }

  /** Report the statement as too long once, and drop it up to its ';'. */
  private overflow(): Chunk {
    const chunk: Chunk = { text: '', start: 0, firstLine: this.sigLine, lineStart: 0, tooLong: { line: this.sigLine, col: this.sigCol } };
    this.discarding = true;
    this.trim();
    return chunk;
  }

  /** Drop what no later statement can need: all of it while discarding, else what lies before the kept prefix. */
  private trim(): void {
    let keep: number;
    if (this.discarding) {
      keep = this.pos;
      this.discarded += keep;
    }
    else if (this.sig < 0 && this.pos - this.stmtStart > TRIVIA_KEEP) {
      // a long run of blanks or one long comment line: the statement starts after it
      if (this.inComment) this.startNextLine = true;
      this.startStatement(this.pos);
      keep = this.pos;
    } else keep = Math.max(this.stmtLineStart, this.stmtStart - PREFIX_KEEP);
    if (keep <= 0) return;
    this.buf = this.buf.slice(keep);
    this.pos -= keep;
    this.lineStartIdx -= keep;
    this.stmtStart -= keep;
    this.stmtLineStart -= keep;
    if (this.sig >= 0) this.sig -= keep;
  }

  /** What is left at end of input (a statement without ';'), if anything but blanks. */
  end(): Chunk | undefined {
    if (this.discarding || this.startNextLine) return undefined;
    const rest = this.buf.slice(this.stmtStart);
    if (!/\S/.test(rest.replace(/#[^\n]*/g, ''))) return undefined;
    const textStart = Math.max(this.stmtLineStart, this.stmtStart - PREFIX_KEEP, 0);
    return { text: this.buf.slice(textStart), start: this.stmtStart - textStart, firstLine: this.stmtLine, lineStart: this.stmtLineStart - textStart };
  }
}
