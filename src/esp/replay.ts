/**
 * Sequence numbers of one SA as a receiver sees them: the ESN's high half
 * inferred from the low half (RFC 4303 Appendix A2.1), and the packets that
 * are missing (gaps) or arrive twice (replays), with reordering allowed
 * within the anti-replay window (RFC 4303 section 3.4.3, Appendix A).
 *
 * A capture may start anywhere: the first packet recorded sets the top of
 * the window and nothing before it counts as missing. A number that was
 * skipped and then arrives within the window fills its gap; one that arrives
 * after falling out of the window is "stale": a receiver would drop it
 * unseen, so it neither fills a gap nor counts as a replay.
 */

/** RFC 4303 section 3.4.3 recommends 32 packets at least, Linux's default; 64 when the SA's size is not known. */
export const DEFAULT_WINDOW = 32;
export const UNKNOWN_WINDOW = 64;
/** Linux's largest ESN bitmap (XFRMA_REPLAY_ESN_MAX, 128 KiB of bits): larger windows are clamped. */
const MAX_WINDOW = 1 << 20;
const TWO32 = 4294967296;

/** The window to track with: the SA's replay size; 0 (no anti-replay configured) means the default. */
export function seqWindow(replay: number | undefined): number {
  if (replay === undefined) return UNKNOWN_WINDOW;
  if (replay <= 0) return DEFAULT_WINDOW;
  return Math.min(replay, MAX_WINDOW);
}

export type SeqVerdict = 'new' | 'replay' | 'stale';

export interface SeqStats {
  /** packets recorded other than replays */
  readonly packets: number;
  /** sequence numbers skipped and not (yet) received */
  readonly gaps: number;
  /** numbers received again within the window */
  readonly replays: number;
  /** numbers received below the window: too old to judge */
  readonly stale: number;
  readonly topHigh: number;
  readonly topLow: number;
}

export interface SeqTrackerOptions {
  /** the SA's replay window (see seqWindow) */
  readonly replay?: number;
  /** RFC 4303 extended sequence numbers: infer high halves; else they are 0 */
  readonly esn: boolean;
  /** the high half assumed for the first packet (a capture starting after a wrap); default 0 */
  readonly initialHigh?: number;
}

export class SeqTracker {
  readonly window: number;
  private readonly esn: boolean;
  private readonly mask: number;
  private readonly bits: Uint32Array;
  private started = false;
  private topHigh: number;
  private topLow = 0;
  /** the first number recorded: what lies before it is where the capture started, not a gap */
  private firstHigh = 0;
  private firstLow = 0;
  private packets = 0;
  private gaps = 0;
  private replays = 0;
  private stale = 0;

  constructor(opts: SeqTrackerOptions) {
    this.window = seqWindow(opts.replay);
    this.esn = opts.esn;
    let size = 32;
    while (size < this.window) size *= 2;
    this.mask = size - 1;
    this.bits = new Uint32Array(size / 32);
    this.topHigh = opts.initialHigh ?? 0;
  }

  /**
   * RFC 4303 Appendix A2.1: the high half of the packet whose low half is
   * `low`, assuming it lies within the window or ahead of it. 0 without ESN.
   */
  inferHigh(low: number): number {
    if (!this.esn || !this.started) return this.esn ? this.topHigh : 0;
    const w = this.window;
    const tl = this.topLow;
    const th = this.topHigh;
    low >>>= 0;
    if (tl >= w - 1) return low >= tl - w + 1 ? th : th + 1; // Case A: the window lies in one subspace
    // Case B: the window spans the previous subspace's end and this one's start
    return low >= (tl - w + 1) >>> 0 ? Math.max(th - 1, 0) : th;
  }

  private bit(low: number): boolean {
    const i = low & this.mask;
    return (this.bits[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  private setBit(low: number): void {
    const i = low & this.mask;
    this.bits[i >>> 5]! |= 1 << (i & 31);
  }

  /** Slide the top forward by d: the numbers entering the window start unseen. */
  private advance(d: number): void {
    if (d > this.mask) {
      this.bits.fill(0);
      return;
    }
    for (let k = 1; k <= d; k++) {
      const i = (this.topLow + k) & this.mask;
      this.bits[i >>> 5]! &= ~(1 << (i & 31));
    }
  }

  /** Record an authenticated packet's sequence number (high from inferHigh, or 0). */
  record(low: number, high = 0): SeqVerdict {
    low >>>= 0;
    if (!this.esn) high = 0;
    if (!this.started) {
      this.started = true;
      this.topHigh = this.firstHigh = high;
      this.topLow = this.firstLow = low;
      this.bits.fill(0);
      this.setBit(low);
      this.packets++;
      return 'new';
    }
    const d = (high - this.topHigh) * TWO32 + (low - this.topLow);
    if (d > 0) {
      this.advance(d);
      this.gaps += d - 1;
      this.topHigh = high;
      this.topLow = low;
      this.setBit(low);
      this.packets++;
      return 'new';
    }
    if (-d >= this.window) {
      this.stale++;
      this.packets++;
      return 'stale';
    }
    if (this.bit(low)) {
      this.replays++;
      return 'replay';
    }
    this.setBit(low);
    if ((high - this.firstHigh) * TWO32 + (low - this.firstLow) > 0) this.gaps--;
    this.packets++;
    return 'new';
  }

  stats(): SeqStats {
    return {
      packets: this.packets,
      gaps: this.gaps,
      replays: this.replays,
      stale: this.stale,
      topHigh: this.topHigh,
      topLow: this.topLow,
    };
  }
}
