/**
 * Where the JSON printer's values go. The printer (json.ts) says each value
 * once, in document order, to a JsonSink; ObjectSink builds plain objects
 * from it (messageJson, the library API) and JsonBytes (json-bytes.ts)
 * writes the document's text as bytes (the CLI). One description of the
 * document, two results: the bytes cannot say something the objects do not.
 */

/** A JSON value; bigint is written as an exact integer (u64 counters can exceed 2^53). */
export type Json = null | boolean | number | bigint | string | readonly Json[] | { readonly [key: string]: Json };

/** A member name, with its text (quoted, indented) made once and kept for every entry that uses it. */
export class Key {
  /** `"name": ` as stringifyJson writes it */
  readonly quoted: string;
  /** `\n`, the indent of a member at that depth, then `quoted`, as latin1 bytes: built on first use */
  private readonly lines: Uint8Array[] = [];

  constructor(readonly name: string) {
    this.quoted = `${quote(name)}: `;
  }

  line(depth: number): Uint8Array {
    return this.lines[depth] ?? (this.lines[depth] = Buffer.from(`\n${'  '.repeat(depth)}${this.quoted}`, 'latin1'));
  }
}

/** Characters JSON.stringify writes otherwise than as themselves (controls, '"', '\\', lone surrogates). */
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

export function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/** The printer's member names, each made once: `const K = keys('kind', 'spi')` then `K.spi`. */
export function keys<T extends string>(...names: T[]): { readonly [N in T]: Key } {
  const out = {} as { [N in T]: Key };
  for (const n of names) out[n] = keyOf(n);
  return out;
}

const interned = new Map<string, Key>();

/** The Key for a name; names from data (xfrm extras) are kept too, up to a bound. */
export function keyOf(name: string): Key {
  let k = interned.get(name);
  if (k === undefined) {
    k = new Key(name);
    if (interned.size < 1000) interned.set(name, k);
  }
  return k;
}

/**
 * The values of one document, in order. Every value method takes the
 * member's key, or null for an array element or the document itself.
 */
export interface JsonSink {
  /** an object: members follow until close() */
  open(k: Key | null): void;
  close(): void;
  /** an array: elements (key null) follow until closeArray() */
  openArray(k: Key | null): void;
  closeArray(): void;
  str(k: Key | null, s: string): void;
  /** a number as JSON.stringify writes it (null when not finite) */
  num(k: Key | null, n: number): void;
  /** an exact integer: a bigint, or a safe integer as a number (it saves the BigInt work when it fits) */
  big(k: Key | null, b: bigint | number): void;
  bool(k: Key | null, b: boolean): void;
  nul(k: Key | null): void;
  /** any value, walked as stringifyJson walks it (data whose shape the printer does not know) */
  value(k: Key | null, v: Json): void;
}

/** Builds the values as plain objects and arrays, members in the order said. */
export class ObjectSink implements JsonSink {
  /** the outermost value */
  result: Json = null;
  private readonly stack: (Record<string, Json> | Json[])[] = [];

  private put(k: Key | null, v: Json): void {
    const top = this.stack[this.stack.length - 1];
    if (top === undefined) this.result = v;
    else if (k === null) (top as Json[]).push(v);
    else (top as Record<string, Json>)[k.name] = v;
  }

  open(k: Key | null): void {
    const o: Record<string, Json> = {};
    this.put(k, o);
    this.stack.push(o);
  }
  close(): void {
    this.stack.pop();
  }
  openArray(k: Key | null): void {
    const a: Json[] = [];
    this.put(k, a);
    this.stack.push(a);
  }
  closeArray(): void {
    this.stack.pop();
  }
  str(k: Key | null, s: string): void {
    this.put(k, s);
  }
  num(k: Key | null, n: number): void {
    this.put(k, n);
  }
  big(k: Key | null, b: bigint | number): void {
    // the objects keep bigint, as their types say
    this.put(k, typeof b === 'number' ? BigInt(b) : b);
  }
  bool(k: Key | null, b: boolean): void {
    this.put(k, b);
  }
  nul(k: Key | null): void {
    this.put(k, null);
  }
  value(k: Key | null, v: Json): void {
    this.put(k, v);
  }
}
