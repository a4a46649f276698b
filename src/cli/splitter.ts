/**
 * Splits a stream of setkey text into statements at each ';' that is outside
 * quotes and comments, counting lines, so that `-c` can run a statement as
 * soon as it is complete (the reference split at every ';', even in quotes,
 * and never counted lines).
 */
export interface Chunk {
  /** text from the start of the statement's first line through its ';' */
  text: string;
  /** index in `text` where the statement begins */
  start: number;
  /** line number of text's first line */
  firstLine: number;
  /** index in `text` where its first line begins (always 0) */
  lineStart: number;
}

export class StatementSplitter {
  private buf = '';
  private pos = 0;
  private inQuote = false;
  private inComment = false;
  private line = 1;
  private lineStartIdx = 0;
  private stmtStart = 0;
  private stmtLine = 1;
  private stmtLineStart = 0;

  push(data: string): void {
    this.buf += data;
  }

  /** The next complete statement, or undefined until more text arrives. */
  next(): Chunk | undefined {
    const b = this.buf;
    for (; this.pos < b.length; this.pos++) {
      const c = b.charCodeAt(this.pos);
      if (c === 10) {
        this.line++;
        this.lineStartIdx = this.pos + 1;
        this.inComment = false;
        continue;
      }
      if (this.inComment) continue;
      if (this.inQuote) {
        if (c === 34) this.inQuote = false;
        continue;
      }
      if (c === 35) this.inComment = true;
      else if (c === 34) this.inQuote = true;
      else if (c === 59) return this.emit();
    }
    return undefined;
  }

  private emit(): Chunk {
    const chunk: Chunk = {
      text: this.buf.slice(this.stmtLineStart, this.pos + 1),
      start: this.stmtStart - this.stmtLineStart,
      firstLine: this.stmtLine,
      lineStart: 0,
    };
    this.pos++;
    this.stmtStart = this.pos;
    this.stmtLine = this.line;
    this.stmtLineStart = this.lineStartIdx;
    // drop what no later statement can need (keep the current line for its text)
    const shift = this.stmtLineStart;
    if (shift > 0) {
      this.buf = this.buf.slice(shift);
      this.pos -= shift;
      this.lineStartIdx -= shift;
      this.stmtStart -= shift;
      this.stmtLineStart = 0;
    }
    return chunk;
  }

  /** What is left at end of input (a statement without ';'), if anything but blanks. */
  end(): Chunk | undefined {
    const rest = this.buf.slice(this.stmtStart);
    if (!/\S/.test(rest.replace(/#[^\n]*/g, ''))) return undefined;
    return { text: this.buf.slice(this.stmtLineStart), start: this.stmtStart - this.stmtLineStart, firstLine: this.stmtLine, lineStart: 0 };
  }
}
