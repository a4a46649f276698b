/**
 * "Did you mean": the nearest valid word to a misspelt one, by
 * Damerau-Levenshtein distance (optimal string alignment: insertions,
 * deletions, substitutions and transpositions of neighbours cost 1).
 *
 * The candidates are always the parser's own words (the algorithm registry,
 * the model's tables, the parser's keyword lists); nothing here holds a name.
 * A word shaped like a key is never matched against anything, so a key can
 * neither be echoed nor steer a suggestion.
 */
import { looksLikeKey } from './redact.js';

/** Longer words are not compared (a typo of a keyword is short; a 1 MB token must cost nothing). */
const MAX_WORD = 32;

/** Distance between a and b, or limit + 1 when it exceeds `limit` (rows are cut short beyond it). */
export function editDistance(a: string, b: string, limit = Infinity): number {
  const n = a.length;
  const m = b.length;
  if (Math.abs(n - m) > limit) return limit + 1;
  let prev2 = new Array<number>(m + 1).fill(0);
  let prev = Array.from({ length: m + 1 }, (_, j) => j);
  let cur = new Array<number>(m + 1).fill(0);
  for (let i = 1; i <= n; i++) {
    cur[0] = i;
    let rowMin = cur[0];
    for (let j = 1; j <= m; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a.charCodeAt(i - 1) === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === b.charCodeAt(j - 1)) d = Math.min(d, prev2[j - 2]! + 1);
      cur[j] = d;
      if (d < rowMin) rowMin = d;
    }
    if (rowMin > limit) return limit + 1;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[m]!;
}

/** How far a word may be from a candidate: one edit in a short word, up to three in a long one. */
function threshold(len: number): number {
  return len <= 4 ? 1 : len <= 8 ? 2 : 3;
}

export interface SuggestOptions {
  /**
   * Shorter forms a candidate is also known by (e.g. 'sha1' for 'hmac-sha1'):
   * a word close to one of them suggests the candidate.
   */
  readonly shortForms?: (candidate: string) => readonly string[];
}

/**
 * The candidate nearest to `word` within the threshold, or undefined (no
 * candidate is near, or the word may be a key).
 * Letter case is ignored (`AES-CBC` suggests `aes-cbc`).
 */
export function nearest(word: string, candidates: Iterable<string>, opts: SuggestOptions = {}): string | undefined {
  if (word.length === 0 || word.length > MAX_WORD || looksLikeKey(word) || /^0[xX]/.test(word)) return undefined;
  const w = word.toLowerCase();
  const limit = threshold(w.length);
  let best: string | undefined;
  let bestD = limit + 1;
  for (const c of candidates) {
    if (c === word) continue;
    let d = editDistance(w, c, limit);
    for (const s of opts.shortForms?.(c) ?? []) d = Math.min(d, editDistance(w, s, limit));
    // on a tie the earlier candidate wins: lists put canonical names before aliases
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

/** "; did you mean 'x'?" for a message, or '' when nothing is near. */
export function didYouMean(word: string, candidates: Iterable<string>, opts?: SuggestOptions): string {
  const s = nearest(word, candidates, opts);
  return s === undefined ? '' : `; did you mean '${s}'?`;
}
