/**
 * Tokens of the setkey language (after ipsec-tools src/setkey/token.l), read
 * without allocating: the current token lives in the lexer's fields and the
 * parser pulls substrings only when it needs them.
 *
 * Words are maximal runs of [A-Za-z0-9:%.,_+-] (flex's STRING, DECSTRING,
 * HEXSTRING and the `-X` option tokens); the parser gives them meaning by
 * position, which keeps keywords out of the address space only where the
 * reference's grammar does.
 */

export const enum Tok {
  EOF = 0,
  WORD = 1,
  QUOTED = 2,
  SEMI = 3,
  SLASH = 4,
  LBRACKET = 5,
  RBRACKET = 6,
  /** a character no rule accepts */
  BAD = 7,
  /** a `"` with no closing quote */
  UNTERMINATED = 8,
}

const WORD_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:%.,_+-') WORD_CHAR[c.charCodeAt(0)] = 1;

export function isWordChar(c: number): boolean {
  return c < 128 && WORD_CHAR[c] === 1;
}

/**
 * The words that begin a statement. The reference's lexer reserves them
 * everywhere (token.l returns ADD for `add` whatever stands before it), so
 * one found where a statement goes on means the statement before it ended
 * without its ';'.
 */
export const COMMAND_WORDS: ReadonlySet<string> = new Set(['add', 'update', 'get', 'getspi', 'delete', 'deleteall', 'flush', 'dump', 'spdadd', 'spdupdate', 'spddelete', 'spdflush', 'spddump', 'exit', 'quit', 'bye']);

/** The lexer's blanks (between tokens). */
export const isBlankChar = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;

/** First letters of the command words (a cheap test before a word is cut out). */
const COMMAND_FIRST = new Uint8Array(128);
for (const w of COMMAND_WORDS) COMMAND_FIRST[w.charCodeAt(0)] = 1;

/** A blank, then a command word that is a whole word (the policy text's end when its ';' is missing). */
const COMMAND_AFTER_BLANK = new RegExp(`[\\t\\n\\v\\f\\r ](?:${[...COMMAND_WORDS].join('|')})(?![A-Za-z0-9:%.,_+-])`, 'g');

/** Whether src[i, end) starts with a command word followed by a non-word character. */
function commandWordAt(src: string, i: number, end: number): boolean {
  const c = src.charCodeAt(i);
  if (c >= 128 || COMMAND_FIRST[c] !== 1) return false;
  let j = i;
  while (j < end && isWordChar(src.charCodeAt(j))) j++;
  return j - i >= 3 && j - i <= 9 && COMMAND_WORDS.has(src.slice(i, j));
}

export class Lexer {
  readonly src: string;
  private i: number;
  private readonly end: number;
  /** current line (1-based) and index where it starts */
  private line: number;
  private lineStart: number;

  kind: Tok = Tok.EOF;
  start = 0;
  stop = 0;
  tokLine = 1;
  tokCol = 1;
  /** where the previous token ended (a missing ';' is reported there) and where it began */
  prevLine = 1;
  prevEndCol = 1;
  prevStart = 0;
  /**
   * The last point before the current token where scanning could start
   * afresh: just after the previous token, or the start of the last line
   * passed over in blanks and comments. A reader fed in pieces resumes there.
   */
  markIndex = 0;
  markLine = 1;
  markLineStart = 0;
  /** where the previous token ended (a statement's extent is from its first token to its ';') */
  prevStop = 0;
  /** lines that begin inside a quoted string, if wanted (the echo masks a quoted key that spans lines) */
  quotedLines: number[] | undefined;

  constructor(src: string, start = 0, end = src.length, firstLine = 1, firstLineStart = start, quotedLines?: number[]) {
    this.src = src;
    this.quotedLines = quotedLines;
    this.i = start;
    this.end = end;
    this.line = firstLine;
    this.lineStart = firstLineStart;
    this.advance();
  }

  private cached: string | undefined;

  /** The current token's text (sliced once per token). */
  text(): string {
    return (this.cached ??= this.src.slice(this.start, this.stop));
  }

  /** Whether the current token's text is `w`, without slicing it. */
  is(w: string): boolean {
    return this.stop - this.start === w.length && this.src.startsWith(w, this.start);
  }

  /** The current token is a command word (first letter and length tested before the text is cut out). */
  isCommandWord(): boolean {
    if (this.kind !== Tok.WORD) return false;
    const n = this.stop - this.start;
    const c = this.src.charCodeAt(this.start);
    return n >= 3 && n <= 9 && c < 128 && COMMAND_FIRST[c] === 1 && COMMAND_WORDS.has(this.text());
  }

  /** current scanning position (after the current token) */
  get offset(): number {
    return this.i;
  }

  colOf(index: number): number {
    return index - this.lineStart + 1;
  }

  /** Move to the next token. */
  advance(): void {
    this.cached = undefined;
    const s = this.src;
    let i = this.i;
    const end = this.end;
    this.prevStop = this.stop;
    this.markIndex = i;
    this.markLine = this.line;
    this.markLineStart = this.lineStart;
    for (;;) {
      if (i >= end) {
        this.setToken(Tok.EOF, i, i);
        return;
      }
      const c = s.charCodeAt(i);
      if (c === 32 || c === 9 || c === 13 || c === 12 || c === 11) {
        i++;
        continue;
      }
      if (c === 10) {
        i++;
        this.line++;
        this.lineStart = i;
        this.markIndex = i;
        this.markLine = this.line;
        this.markLineStart = i;
        continue;
      }
      if (c === 35) {
        // '#' comment to end of line
        while (i < end && s.charCodeAt(i) !== 10) i++;
        continue;
      }
      break;
    }
    const c = s.charCodeAt(i);
    if (c < 128 && WORD_CHAR[c] === 1) {
      let j = i + 1;
      while (j < end) {
        const d = s.charCodeAt(j);
        if (d >= 128 || WORD_CHAR[d] !== 1) break;
        j++;
      }
      this.setToken(Tok.WORD, i, j);
      return;
    }
    switch (c) {
      case 59:
        this.setToken(Tok.SEMI, i, i + 1);
        return;
      case 47:
        this.setToken(Tok.SLASH, i, i + 1);
        return;
      case 91:
        this.setToken(Tok.LBRACKET, i, i + 1);
        return;
      case 93:
        this.setToken(Tok.RBRACKET, i, i + 1);
        return;
      case 34: {
        // "quoted": no escapes, may span lines (flex: \"[^"]*\")
        const close = s.indexOf('"', i + 1);
        if (close < 0 || close >= end) {
          this.setToken(Tok.UNTERMINATED, i, end);
          return;
        }
        this.notePrev();
        const tokLine = this.line;
        const tokCol = i - this.lineStart + 1;
        for (let k = i + 1; k < close; k++) {
          if (s.charCodeAt(k) === 10) {
            this.line++;
            this.lineStart = k + 1;
            this.quotedLines?.push(this.line);
          }
        }
        this.kind = Tok.QUOTED;
        this.cached = undefined;
        this.start = i;
        this.stop = close + 1;
        this.tokLine = tokLine;
        this.tokCol = tokCol;
        this.i = close + 1;
        return;
      }
      default: {
        // one code point, so the message can quote it
        const cp = s.codePointAt(i) ?? c;
        this.setToken(Tok.BAD, i, i + (cp > 0xffff ? 2 : 1));
        return;
      }
    }
  }

  private setToken(kind: Tok, start: number, stop: number): void {
    this.notePrev();
    this.kind = kind;
    this.start = start;
    this.stop = stop;
    this.tokLine = this.line;
    this.tokCol = start - this.lineStart + 1;
    this.i = stop;
  }

  /** resumeAt's next line break at or after where it looked last (-1: none is left; -2: not looked for yet) */
  private nextBreak = -2;

  /**
   * Go on from `index`, ahead in the text: the token there becomes the
   * current one. For a statement read by the quick check (syntax/quick.ts),
   * which holds no quote, so its line breaks are all in blanks.
   */
  resumeAt(index: number): void {
    const s = this.src;
    // the line breaks found by indexOf (native), not a JS loop over every character of the statement; the
    // next one is remembered, so a text without any is searched once, not once per statement
    if (this.nextBreak !== -1 && this.nextBreak < this.i) this.nextBreak = s.indexOf('\n', this.i);
    while (this.nextBreak !== -1 && this.nextBreak < index) {
      this.line++;
      this.lineStart = this.nextBreak + 1;
      this.nextBreak = s.indexOf('\n', this.nextBreak + 1);
    }
    this.i = index;
    this.advance();
  }

  /**
   * Take the raw text of a `-P` policy up to (not including) the next ';', or
   * up to a word that is a command word (no policy word is one: the policy
   * lacks its ';' and the next statement begins there). Comments
   * inside it are blanked so columns stay true. Leaves the lexer on the ';'
   * (or the command word, or EOF), with the previous token ending at the
   * policy's last character.
   */
  takePolicyText(): { text: string; start: number; line: number; col: number } {
    const s = this.src;
    const end = this.end;
    const start = this.i;
    const line = this.line;
    const col = start - this.lineStart + 1;
    let out: string;
    let i: number;
    let semi = s.indexOf(';', start);
    if (semi < 0 || semi > end) semi = end;
    const plain = s.slice(start, semi);
    if (plain.indexOf('#') < 0) {
      // no comment (the common case): the policy ends at the ';' or at a command word after a blank
      COMMAND_AFTER_BLANK.lastIndex = 0;
      const m = COMMAND_AFTER_BLANK.exec(plain);
      out = m ? plain.slice(0, m.index + 1) : plain;
      i = start + out.length;
      for (let k = out.indexOf('\n'); k >= 0; k = out.indexOf('\n', k + 1)) {
        this.line++;
        this.lineStart = start + k + 1;
      }
    } else {
      out = '';
      let from = start;
      i = start;
      // a word that begins after a blank (or the start) and is a command word: no policy word is one
      let blank = true;
      while (i < end) {
        const c = s.charCodeAt(i);
        if (c === 59) break;
        if (c === 10) {
          this.line++;
          this.lineStart = i + 1;
          blank = true;
        } else if (c === 35) {
          out += s.slice(from, i);
          let j = i;
          while (j < end && s.charCodeAt(j) !== 10) j++;
          out += ' '.repeat(j - i);
          from = i = j;
          continue;
        } else if (c === 32 || c === 9 || c === 13 || c === 11 || c === 12) {
          blank = true;
        } else {
          if (blank && commandWordAt(s, i, end)) break;
          blank = false;
        }
        i++;
      }
      out += s.slice(from, i);
    }
    this.i = i;
    // the policy text stands as the previous token, ending at its last character (comments are blanks in `out`):
    // a missing ';' is reported after it
    let k = out.length - 1;
    while (k >= 0 && isBlankChar(out.charCodeAt(k))) k--;
    if (k >= 0) {
      const nl = out.lastIndexOf('\n', k);
      let lines = 0;
      for (let m = out.indexOf('\n'); m >= 0 && m < k; m = out.indexOf('\n', m + 1)) lines++;
      this.kind = Tok.WORD;
      this.start = start + k;
      this.stop = start + k + 1;
      this.tokLine = line + lines;
      this.tokCol = nl < 0 ? col + k : k - nl;
    }
    this.advance();
    return { text: out, start, line, col };
  }

  /**
   * Error recovery: skip to just after the next ';', or to the next command
   * word that begins after `after` (the statement lacked its ';' and the next
   * one begins there: it is not swallowed). Quoted strings are skipped whole.
   * False if the text ended first.
   */
  skipStatement(after = Infinity): boolean {
    while (this.kind !== Tok.EOF && this.kind !== Tok.SEMI) {
      if (this.kind === Tok.UNTERMINATED) {
        this.i = this.end;
        this.advance();
        return false;
      }
      if (this.start > after && this.isCommandWord()) return true;
      this.advance();
    }
    if (this.kind !== Tok.SEMI) return false;
    this.advance();
    return true;
  }

  private notePrev(): void {
    if (this.kind === Tok.EOF && this.stop === 0) return;
    this.prevStart = this.start;
    this.prevLine = this.tokLine;
    this.prevEndCol = this.tokCol + (this.stop - this.start);
    if (this.kind === Tok.QUOTED) {
      // a quoted string may span lines: it ends on its last one
      const nl = this.src.lastIndexOf('\n', this.stop - 1);
      if (nl >= this.start) {
        for (let k = this.src.indexOf('\n', this.start); k >= 0 && k <= nl; k = this.src.indexOf('\n', k + 1)) this.prevLine++;
        this.prevEndCol = this.stop - nl;
      }
    }
  }

  /** The text of source line `n` (1-based) for diagnostics. */
  static lineText(src: string, n: number): string {
    let start = 0;
    for (let k = 1; k < n; k++) {
      const nl = src.indexOf('\n', start);
      if (nl < 0) return '';
      start = nl + 1;
    }
    const nl = src.indexOf('\n', start);
    return src.slice(start, nl < 0 ? src.length : nl);
  }
}
