/**
 * A growable little byte writer with back-patched length fields, after
 * node-postgres' pg-protocol serializer. Host-order fields are little-endian
 * (every platform we target: x86-64, arm64); network-order fields say so.
 */
export class Writer {
  private buf: Buffer;
  private n = 0;

  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }

  get length(): number {
    return this.n;
  }

  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + k));
    this.buf.copy(next, 0, 0, this.n);
    this.buf = next;
  }

  u8(v: number): this {
    this.room(1);
    this.buf[this.n++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.room(2);
    this.buf.writeUInt16LE(v & 0xffff, this.n);
    this.n += 2;
    return this;
  }

  /** network byte order */
  u16be(v: number): this {
    this.room(2);
    this.buf.writeUInt16BE(v & 0xffff, this.n);
    this.n += 2;
    return this;
  }

  u32(v: number): this {
    this.room(4);
    this.buf.writeUInt32LE(v >>> 0, this.n);
    this.n += 4;
    return this;
  }

  /** network byte order */
  u32be(v: number): this {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.n);
    this.n += 4;
    return this;
  }

  u64(v: bigint): this {
    this.room(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.n);
    this.n += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
    return this;
  }

  zeros(k: number): this {
    this.room(k);
    this.buf.fill(0, this.n, this.n + k);
    this.n += k;
    return this;
  }

  /** Pad with zeros to a multiple of 8 from `from`. */
  pad8(from = 0): this {
    const rem = (this.n - from) % 8;
    return rem ? this.zeros(8 - rem) : this;
  }

  /** Overwrite a 16-bit host-order field at `at`. */
  patch16(at: number, v: number): void {
    this.buf.writeUInt16LE(v & 0xffff, at);
  }

  /** Start over, keeping the buffer (a scratch writer reused for every message). */
  reset(): this {
    this.n = 0;
    return this;
  }

  /** A copy of the bytes written so far (a plain Uint8Array: a Buffer costs more to make), in memory `into` gives if it is given. */
  finish(into?: (n: number) => Uint8Array): Uint8Array {
    const out = into ? into(this.n) : new Uint8Array(this.n);
    out.set(new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.n));
    return out;
  }
}
