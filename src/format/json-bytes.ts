/**
 * The JSON document's text written straight into a reusable Buffer, exactly
 * as stringifyJson would write it (two-space indent, JSON.stringify's
 * escapes) and then encode it as latin1, as setkey's output is. Building the
 * text as JS strings and encoding it cost more than the dump itself: a
 * 100k-entry dump is 140 MB of mostly indentation and member names, which
 * here are copied from bytes made once (Key.line), digits are written by
 * hand, and strings copied character by character unless they need escapes.
 */
import { type Json, type JsonSink, type Key, keyOf } from './json-sink.js';

const QUOTE = 0x22;
const COMMA = 0x2c;
const BACKSLASH = 0x5c;
/** past this, a number is written by Number's own text (floats, exponents, unsafe integers) */
const SAFE = Number.MAX_SAFE_INTEGER;
const SAFE_BIG = BigInt(SAFE);

const NULL = Buffer.from('null');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');

/** `\n` and the indent of an array element at each depth */
const elementLines: Uint8Array[] = [];
function elementLine(depth: number): Uint8Array {
  return elementLines[depth] ?? (elementLines[depth] = Buffer.from(`\n${'  '.repeat(depth)}`, 'latin1'));
}

export class JsonBytes implements JsonSink {
  private buf: Buffer;
  private pos = 0;
  /** containers open; members are indented by two spaces per level */
  private depth = 0;
  /** whether the innermost container has no member yet */
  private first = true;
  private markPos = 0;
  private markDepth = 0;
  private markFirst = true;

  /**
   * `sink` gets the bytes a chunk at a time and must be done with them when
   * it returns (they are overwritten next). Bytes go out only at boundary()
   * or flush(), never in the middle of an entry, so that rewind() can take
   * a failed entry back.
   */
  constructor(
    private readonly sink: (b: Uint8Array) => void,
    private readonly chunk = 1 << 16,
  ) {
    this.buf = Buffer.allocUnsafe(2 * chunk);
  }

  /** Between entries: send what is written once it fills a chunk. */
  boundary(): void {
    if (this.pos >= this.chunk) this.flush();
  }

  flush(): void {
    if (this.pos === 0) return;
    this.sink(this.buf.subarray(0, this.pos));
    this.pos = 0;
  }

  /** Remember this point (the start of an entry). */
  mark(): void {
    this.markPos = this.pos;
    this.markDepth = this.depth;
    this.markFirst = this.first;
  }

  /** Forget everything written since mark(). */
  rewind(): void {
    this.pos = this.markPos;
    this.depth = this.markDepth;
    this.first = this.markFirst;
  }

  /** A line end after the document. */
  newline(): void {
    this.room(1);
    this.buf[this.pos++] = 0x0a;
  }

  /** Room for n more bytes. An entry larger than the buffer grows it (it is never sent half-written). */
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.pos + n));
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }

  private copy(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** What comes before a value: the separator, the line and indent, the member name. */
  private member(k: Key | null): void {
    const d = this.depth;
    if (d === 0) return;
    const line = k === null ? elementLine(d) : k.line(d);
    const n = line.length;
    this.room(n + 1);
    const buf = this.buf;
    let p = this.pos;
    if (this.first) this.first = false;
    else buf[p++] = COMMA;
    buf.set(line, p);
    this.pos = p + n;
  }

  /** Text that is rare enough (escaped strings, floats, huge integers) to go through Buffer.write. */
  private latin1(s: string): void {
    this.room(s.length);
    this.pos += this.buf.write(s, this.pos, 'latin1');
  }

  open(k: Key | null): void {
    this.member(k);
    this.room(1);
    this.buf[this.pos++] = 0x7b;
    this.depth++;
    this.first = true;
  }

  close(): void {
    this.end(0x7d);
  }

  openArray(k: Key | null): void {
    this.member(k);
    this.room(1);
    this.buf[this.pos++] = 0x5b;
    this.depth++;
    this.first = true;
  }

  closeArray(): void {
    this.end(0x5d);
  }

  /** `}` or `]`: on the container's own line unless it is empty (`{}`, `[]`). */
  private end(c: number): void {
    this.depth--;
    if (!this.first) this.copy(elementLine(this.depth));
    this.first = false;
    this.room(1);
    this.buf[this.pos++] = c;
  }

  str(k: Key | null, s: string): void {
    this.member(k);
    const n = s.length;
    this.room(n + 2);
    const buf = this.buf;
    const start = this.pos;
    let p = start;
    buf[p++] = QUOTE;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === QUOTE || c === BACKSLASH || (c >= 0xd800 && c <= 0xdfff)) {
        this.pos = start;
        // rare (odd security contexts, interface names): JSON.stringify's escapes, then latin1 as the rest
        this.latin1(JSON.stringify(s));
        return;
      }
      // a Uint8Array keeps the low byte, as latin1 encoding does
      buf[p++] = c;
    }
    buf[p++] = QUOTE;
    this.pos = p;
  }

  num(k: Key | null, n: number): void {
    this.member(k);
    // most numbers of a dump are u32 (ids, ports, counters); -0 is written 0, as JSON.stringify does
    if (n >>> 0 === n) this.u32(n >>> 0);
    else if (n >= 0 && n <= SAFE && Number.isInteger(n)) this.digits(n);
    else this.latin1(Number.isFinite(n) ? JSON.stringify(n) : 'null');
  }

  big(k: Key | null, b: bigint | number): void {
    if (typeof b === 'number') return this.num(k, b);
    this.member(k);
    if (b >= 0n && b <= SAFE_BIG) this.digits(Number(b));
    else this.latin1(b.toString());
  }

  /** A u32's decimal digits, in integer arithmetic. */
  private u32(n: number): void {
    this.room(10);
    const buf = this.buf;
    if (n < 10) {
      buf[this.pos++] = 0x30 + n;
      return;
    }
    const len = n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : n < 100000 ? 5 : n < 1000000 ? 6 : n < 10000000 ? 7 : n < 100000000 ? 8 : n < 1000000000 ? 9 : 10;
    let p = this.pos + len;
    this.pos = p;
    do {
      const q = (n / 10) >>> 0;
      buf[--p] = 0x30 + (n - q * 10);
      n = q;
    } while (n !== 0);
  }

  /** A safe non-negative integer's decimal digits. */
  private digits(n: number): void {
    if (n <= 0xffffffff) return this.u32(n);
    this.room(16);
    const buf = this.buf;
    let len = 1;
    for (let t = n; t >= 10; t = Math.floor(t / 10)) len++;
    let p = this.pos + len;
    this.pos = p;
    while (n >= 10) {
      const q = Math.floor(n / 10);
      // the remainder first: 0x30 + n would round above 2^53
      buf[--p] = 0x30 + (n - q * 10);
      n = q;
    }
    buf[--p] = 0x30 + n;
  }

  bool(k: Key | null, b: boolean): void {
    this.member(k);
    this.copy(b ? TRUE : FALSE);
  }

  nul(k: Key | null): void {
    this.member(k);
    this.copy(NULL);
  }

  value(k: Key | null, v: Json): void {
    switch (typeof v) {
      case 'boolean':
        return this.bool(k, v);
      case 'number':
        return this.num(k, v);
      case 'bigint':
        return this.big(k, v);
      case 'string':
        return this.str(k, v);
    }
    // as stringifyJson: anything else that is not an object (undefined, a function) is null
    if (v === null || typeof v !== 'object') return this.nul(k);
    if (Array.isArray(v)) {
      this.openArray(k);
      for (const x of v as readonly Json[]) this.value(null, x);
      return this.closeArray();
    }
    const o = v as { readonly [key: string]: Json };
    this.open(k);
    for (const name of Object.keys(o)) this.value(keyOf(name), o[name]!);
    this.close();
  }
}
