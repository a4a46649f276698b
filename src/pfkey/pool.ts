/**
 * Small byte arrays cut from larger shared buffers, as Node cuts small
 * Buffers from its pool: one ArrayBuffer each is an allocation outside the
 * heap (and its tracking) for every message or record, which cost more time
 * and memory than the bytes themselves. A buffer lives while any array cut
 * from it does. Each array starts 8-byte aligned, so a DataView over one
 * reads its u64 fields aligned, as the kernel's messages are.
 */
export function pool(size: number): (n: number) => Uint8Array {
  let buf = new ArrayBuffer(0);
  let used = 0;
  return (n) => {
    // a large one gets its own: it would waste most of a buffer
    if (n > size / 8) return new Uint8Array(n);
    if (used + n > buf.byteLength) {
      buf = new ArrayBuffer(size);
      used = 0;
    }
    const out = new Uint8Array(buf, used, n);
    used += (n + 7) & ~7;
    return out;
  };
}
