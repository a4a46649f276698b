/**
 * A one-line progress indicator for long work (an apply, a dump, a sync),
 * on stderr when it is a terminal and only past ~2 s: a quick command, a
 * script and a golden output never see it. It is drawn over itself (\r and
 * erase-line), erased when the work ends and before anything else is written
 * to the terminal, so it never ends up in the output.
 *
 * Steps are counted cheaply (the clock is read every 64 steps), because a
 * synchronous loop of a million entries never lets a timer fire.
 */

/** The terminal stderr is: what a Progress draws on. */
export interface ProgressTerminal {
  /** width in columns (the line is cut to fit, so it never wraps) */
  columns(): number;
  /** write raw text to the terminal now */
  write(s: string): void;
  /** milliseconds, monotonic */
  now(): number;
  /** stdout is the same kind of terminal: a dump printed there is its own progress */
  readonly stdoutIsTerminal: boolean;
  /** the indicator drawn now, if any (so that other output can erase it first) */
  active?: Progress | undefined;
}

/** Work shorter than this shows nothing. */
const DELAY_MS = 2000;
/** Redrawn at most this often. */
const EVERY_MS = 250;

export class Progress {
  private count = 0;
  private readonly started: number;
  private drawnAt = 0;
  private shown = false;
  private nextCheck = 64;
  private counted = true;

  private readonly first: string;

  constructor(
    private readonly term: ProgressTerminal,
    private what: string,
    private total?: number,
  ) {
    this.started = term.now();
    this.first = what;
  }

  /** The same work started over (a bulk load given up for the usual apply): counted from 0 again, the clock not. */
  restart(): void {
    this.count = 0;
    this.nextCheck = 64;
    this.counted = true;
    this.what = this.first;
  }

  /** `n` more done. */
  step(n = 1): void {
    this.count += n;
    if (this.count < this.nextCheck) return;
    this.nextCheck = this.count + 64;
    this.tick();
  }

  /** The last phase of the same work, not counted (e.g. writing the store after applying): the time only. */
  phase(what: string): void {
    this.what = what;
    this.counted = false;
    this.tick(true);
  }

  /** Draw now if the work has run long enough and the last drawing is old enough. */
  tick(force = false): void {
    const now = this.term.now();
    if (now - this.started < DELAY_MS) return;
    if (this.shown && !force && now - this.drawnAt < EVERY_MS) return;
    this.drawnAt = now;
    this.shown = true;
    this.term.active = this;
    this.term.write(`\r${fit(this.line(now), this.term.columns())}\x1b[K`);
  }

  /** Erase the line (other output is about to be written; the next step draws it again). */
  erase(): void {
    if (!this.shown) return;
    this.term.write('\r\x1b[K');
    this.shown = false;
    if (this.term.active === this) this.term.active = undefined;
  }

  /** The work is over: the line goes away. */
  end(): void {
    this.erase();
    this.nextCheck = Infinity;
  }

  /** `setkey: applying a.conf: 120,000 / 200,000 (60%), 41,000/s, 2.9 s` */
  line(now: number): string {
    const secs = (now - this.started) / 1000;
    if (!this.counted) return `setkey: ${this.what}: ${secs.toFixed(1)} s`;
    const parts = [this.total !== undefined ? `${group(this.count)} / ${group(this.total)} (${Math.floor((100 * this.count) / Math.max(this.total, 1))}%)` : group(this.count)];
    if (this.count > 0 && secs > 0) parts.push(`${group(Math.round(this.count / secs))}/s`);
    parts.push(`${secs.toFixed(1)} s`);
    return `setkey: ${this.what}: ${parts.join(', ')}`;
  }
}

/**
 * A Progress for `what` if stderr is a terminal (else undefined: nothing is
 * counted). `printsToStdout`: the work writes its result to stdout, which
 * shows progress by itself when stdout is the terminal.
 */
export function startProgress(term: ProgressTerminal | undefined, what: string, opts: { total?: number; printsToStdout?: boolean } = {}): Progress | undefined {
  if (!term || (opts.printsToStdout && term.stdoutIsTerminal)) return undefined;
  return new Progress(term, what, opts.total);
}

function group(n: number): string {
  return n.toLocaleString('en-US');
}

/** Cut to the terminal's width less one column (a full line would wrap on some terminals). */
function fit(s: string, columns: number): string {
  const w = Math.max(columns - 1, 10);
  return s.length <= w ? s : s.slice(0, w);
}
