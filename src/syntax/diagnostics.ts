/**
 * Diagnostics are values: a stable code, a position, what was wrong and what
 * was expected. The CLI decides how to print them; `formatDiagnostic` renders
 * the `FILE:LINE:COL: error: ...; expected ...` form with the source line and
 * a caret, with key material blanked out of the echoed line and of the
 * message, control bytes escaped, and the line cut to a window around the caret.
 */
import { escapeControls, freshContext, isControl, maskLine, safeMessage, type MaskContext } from './redact.js';

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  readonly severity: Severity;
  /** stable identifier, e.g. 'spi-reserved', 'key-length', 'syntax' */
  readonly code: string;
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** what was wrong (never contains key material) */
  readonly message: string;
  /** what would have been accepted there */
  readonly expected?: string;
}

/** A source line to echo under a diagnostic, with what the masker needs to know about its surroundings. */
export interface SourceLine {
  /** the line's text, or the part of it that was kept */
  readonly text: string;
  /** the column of text[0] (1 unless the start of the line was dropped) */
  readonly firstCol?: number;
  /** the line begins inside a quoted string (a quoted key spanning lines) */
  readonly inQuote?: boolean;
  /** the line before it: an algorithm at its end makes the first word of this line a key */
  readonly before?: string;
}

/** Display columns of the echoed line: a 10 MB line with 50 errors once printed 535 MB. */
export const ECHO_WIDTH = 120;
/** Characters each side of the caret masked together: context for the masker, beyond what is shown. */
const ECHO_MARGIN = 600;

export function formatDiagnostic(d: Diagnostic, source?: string | SourceLine): string {
  let out = `${escapeControls(d.file)}:${d.line}:${d.col}: ${d.severity}: ${safeMessage(d.message)}`;
  if (d.expected) out += `; expected ${escapeControls(d.expected)}`;
  out += '\n';
  if (source !== undefined) {
    const e = echo(typeof source === 'string' ? { text: source } : source, d.col);
    out += `  ${e.text}\n  ${' '.repeat(e.caret)}^\n`;
  }
  return out;
}

/** The line as shown: keys masked, control bytes escaped, at most ECHO_WIDTH columns around the caret. */
function echo(src: SourceLine, col: number): { text: string; caret: number } {
  const line = src.text;
  const firstCol = src.firstCol ?? 1;
  const idx = Math.min(Math.max(0, col - firstCol), line.length);
  const a = Math.max(0, idx - ECHO_MARGIN);
  const b = Math.min(line.length, idx + ECHO_MARGIN);
  const cutLeft = a > 0 || firstCol > 1;
  const cutRight = b < line.length;
  const masked = maskLine(line.slice(a, b), contextAt(src, a), { cutLeft, cutRight });
  return window(masked, idx - a, cutLeft, cutRight);
}

/** The masker's state where the shown part begins. */
function contextAt(src: SourceLine, a: number): MaskContext {
  if (a > 0 || (src.firstCol ?? 1) > 1) {
    // far into a long line: only whether a quote is open matters (and costs one scan)
    let open = src.inQuote === true;
    for (let k = src.text.indexOf('"'); k >= 0 && k < a; k = src.text.indexOf('"', k + 1)) if (src.text.charCodeAt(k - 1) !== 92) open = !open;
    return freshContext(open);
  }
  const ctx = freshContext();
  if (src.before !== undefined) maskLine(src.before.slice(-ECHO_MARGIN), ctx, { cutLeft: src.before.length > ECHO_MARGIN });
  if (src.inQuote) ctx.inQuote = true;
  return ctx;
}

/** Tabs become a space, control bytes \xNN; the window keeps the caret's character and about half the width before it. */
function window(masked: string, caretIdx: number, cutLeft: boolean, cutRight: boolean): { text: string; caret: number } {
  const n = masked.length;
  const piece = (k: number): string => {
    const c = masked.charCodeAt(k);
    return c === 9 ? ' ' : isControl(c) ? escapeControls(masked[k]!) : masked[k]!;
  };
  const width = (k: number): number => (k < n ? piece(k).length : 0);
  let s = caretIdx;
  let e = Math.min(n, caretIdx + 1);
  let used = width(caretIdx);
  while (s > 0 && used + width(s - 1) <= ECHO_WIDTH / 2) used += width(--s);
  while (e < n && used + width(e) <= ECHO_WIDTH) used += width(e++);
  while (s > 0 && used + width(s - 1) <= ECHO_WIDTH) used += width(--s);
  // cut between words where one is near (at most 16 characters in), not through one
  const sp = masked.indexOf(' ', s);
  if (s > 0 && masked[s - 1] !== ' ' && sp >= 0 && sp - s < 16 && sp < caretIdx) s = sp + 1;
  const ep = masked.lastIndexOf(' ', e - 1);
  if (e < n && masked[e] !== ' ' && ep >= 0 && e - ep < 16 && ep > caretIdx) e = ep;
  const head = s > 0 || cutLeft ? '...' : '';
  let text = head;
  let caret = head.length;
  for (let k = s; k < e; k++) {
    const p = piece(k);
    text += p;
    if (k < caretIdx) caret += p.length;
  }
  if (e < n || cutRight) text += '...';
  return { text, caret };
}

/**
 * Bounded collector: after `limit` errors it records one 'too-many-errors'
 * and ignores the rest; past `limit` warnings it only counts them (a large
 * file with a warning per statement would otherwise hold millions).
 */
export class DiagnosticSink {
  readonly list: Diagnostic[] = [];
  private errors = 0;
  private warnings = 0;
  private capped = false;
  constructor(private readonly limit = 50) {}

  get errorCount(): number {
    return this.errors;
  }

  /** warnings counted but not kept */
  get droppedWarnings(): number {
    return Math.max(0, this.warnings - this.limit);
  }

  get full(): boolean {
    return this.capped;
  }

  add(d: Diagnostic): void {
    if (this.capped) {
      // past the error cap nothing more is shown: errors are still counted
      if (d.severity === 'error') this.errors++;
      return;
    }
    if (d.severity === 'warning') {
      if (++this.warnings <= this.limit) this.list.push(d);
      return;
    }
    this.errors++;
    if (this.errors > this.limit) {
      this.capped = true;
      this.list.push({ ...d, code: 'too-many-errors', message: `too many errors; stopped reporting after ${this.limit}`, expected: undefined });
      return;
    }
    this.list.push(d);
  }
}
