/**
 * The order of identities kept as numbers (a bulk load's SAs and
 * policies, in its worker: sa-loader.ts, policy-ids.ts) by a radix sort,
 * 16 bits at a time, least significant digit first: a few passes over
 * Uint32Arrays, where a sort of their keys' strings by a comparator was
 * ~40 ms of 100k, and the strings themselves more memory than the numbers.
 */

/** A digit of an identity: its word (of `stride` words an identity) and the shift of its 16 bits. */
export type Digit = readonly [word: number, shift: number];

/**
 * The order of the `n` identities of `ids` (`stride` words each) by
 * `digits`, least significant first: indexes into ids, stable (two alike
 * keep the order they came in). A digit every identity has alike (an SA
 * type, a policy's direction) takes no pass.
 */
export function radixOrder(ids: Uint32Array, stride: number, n: number, digits: readonly Digit[]): Uint32Array {
  let idx = new Uint32Array(n);
  let tmp = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const count = new Uint32Array(65537);
  for (const [word, shift] of digits) {
    count.fill(0);
    for (let j = 0; j < n; j++) count[((ids[stride * j + word]! >>> shift) & 0xffff) + 1]!++;
    if (n === 0 || count[((ids[word]! >>> shift) & 0xffff) + 1] === n) continue;
    for (let v = 1; v <= 65536; v++) count[v]! += count[v - 1]!;
    for (let j = 0; j < n; j++) {
      const i = idx[j]!;
      tmp[count[(ids[stride * i + word]! >>> shift) & 0xffff]!++] = i;
    }
    [idx, tmp] = [tmp, idx];
  }
  return idx;
}
