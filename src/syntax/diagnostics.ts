/**
 * Diagnostics are values: a stable code, a position, what was wrong and what
 * was expected. The CLI decides how to print them; `formatDiagnostic` renders
 * the `FILE:LINE:COL: error: ...; expected ...` form with the source line and
 * a caret, with key material blanked out of the echoed line.
 */

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

export function formatDiagnostic(d: Diagnostic, sourceLine?: string): string {
  let out = `${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.message}`;
  if (d.expected) out += `; expected ${d.expected}`;
  out += '\n';
  if (sourceLine !== undefined) {
    const shown = redactKeys(sourceLine.replace(/\t/g, ' '));
    out += `  ${shown}\n  ${' '.repeat(Math.max(0, d.col - 1))}^\n`;
  }
  return out;
}

const HEX_KEY = /\b0[xX][0-9a-fA-F]{16,}\b/g;
const KEY_AFTER_ALG = /(-[EA]\s+[A-Za-z0-9-]+\s+)("[^"]*"?|0[xX][0-9a-fA-F]+)/g;

/**
 * Blank out anything that may be a key: the word after `-E alg` / `-A alg`,
 * and any hex string of 64 bits or more. Lengths are kept so carets still point right.
 */
export function redactKeys(line: string): string {
  const mask = (s: string): string => (s.startsWith('"') ? '"' + '*'.repeat(Math.max(0, s.length - 2)) + (s.endsWith('"') && s.length > 1 ? '"' : '*') : s.slice(0, 2) + '*'.repeat(s.length - 2));
  return line.replace(KEY_AFTER_ALG, (_m, head: string, k: string) => head + mask(k)).replace(HEX_KEY, mask);
}

/** Bounded collector: after `limit` errors it records one 'too-many-errors' and ignores the rest. */
export class DiagnosticSink {
  readonly list: Diagnostic[] = [];
  private errors = 0;
  private capped = false;
  constructor(private readonly limit = 50) {}

  get errorCount(): number {
    return this.errors;
  }

  get full(): boolean {
    return this.capped;
  }

  add(d: Diagnostic): void {
    if (this.capped) {
      if (d.severity === 'error') this.errors++;
      return;
    }
    if (d.severity === 'error') {
      this.errors++;
      if (this.errors > this.limit) {
        this.capped = true;
        this.list.push({ ...d, code: 'too-many-errors', message: `too many errors; stopped reporting after ${this.limit}`, expected: undefined });
        return;
      }
    }
    this.list.push(d);
  }
}
