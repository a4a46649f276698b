/**
 * A message as setkey's printers see it: the header, the extensions that
 * pfkey_align indexed (even when it then failed), the align and check
 * errors, and typed access to each extension that is long enough to read.
 */
import type { Platform } from '../model/algorithms.js';
import { extNumbers, type ExtKind, type ExtNumbers } from './constants.js';
import { checkMessage, DecodeError, indexLenient, readExt, type ExtSpan, type MsgIndex } from './decode.js';
import type { ExtOf, SadbExt, SadbHeader } from './types.js';

export interface DumpView {
  readonly header: SadbHeader;
  readonly ix: MsgIndex;
  /** pfkey_align's failure (the index holds what came before it) */
  readonly alignError?: DecodeError;
  /** pfkey_check's failure */
  readonly checkError?: DecodeError;
  /** the raw span of an extension kind */
  span(kind: ExtKind): ExtSpan | undefined;
  /** the extension, or undefined if absent or too short to read */
  ext<K extends Exclude<SadbExt['kind'], 'raw'>>(kind: K): ExtOf<K> | undefined;
}

/** One object per message with its methods on the prototype: dumps of 100k entries build many. */
class View implements DumpView {
  readonly header: SadbHeader;
  alignError?: DecodeError;
  checkError?: DecodeError;
  private readonly nums: ExtNumbers;
  /** interpreted extensions by wire type: undefined = not yet, null = absent or unreadable */
  private readonly cache: (SadbExt | null | undefined)[] = [];

  constructor(readonly ix: MsgIndex) {
    this.header = ix.header;
    this.nums = extNumbers(ix.platform);
  }

  span(kind: ExtKind): ExtSpan | undefined {
    const n = this.nums.byKind.get(kind);
    return n === undefined ? undefined : this.ix.byType.get(n);
  }

  ext<K extends Exclude<SadbExt['kind'], 'raw'>>(kind: K): ExtOf<K> | undefined {
    const n = this.nums.byKind.get(kind as ExtKind);
    if (n === undefined) return undefined;
    let e = this.cache[n];
    if (e === undefined) {
      e = null;
      const s = this.ix.byType.get(n);
      if (s) {
        try {
          const r = readExt(this.ix, s);
          if (r.kind !== 'raw') e = r;
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
        }
      }
      this.cache[n] = e;
    }
    return (e !== null && e.kind === kind ? e : undefined) as ExtOf<K> | undefined;
  }
}

export function dumpView(bytes: Uint8Array, platform: Platform = 'linux'): DumpView {
  const { ix, error } = indexLenient(bytes, platform, true);
  const v = new View(ix);
  if (error) v.alignError = error;
  else {
    try {
      checkMessage(ix);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      v.checkError = e;
    }
  }
  return v;
}
