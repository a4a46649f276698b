/**
 * A message as setkey's printers see it: the header, the extensions that
 * pfkey_align indexed (even when it then failed), the align and check
 * errors, and typed access to each extension that is long enough to read.
 */
import type { Platform } from '../model/algorithms.js';
import { extNumbers, type ExtKind } from './constants.js';
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

export function dumpView(bytes: Uint8Array, platform: Platform = 'linux'): DumpView {
  const { ix, error } = indexLenient(bytes, platform);
  let checkError: DecodeError | undefined;
  if (!error) {
    try {
      checkMessage(ix);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      checkError = e;
    }
  }
  const nums = extNumbers(platform).byKind;
  const cache = new Map<string, SadbExt | null>();
  const span = (kind: ExtKind): ExtSpan | undefined => {
    const n = nums.get(kind);
    return n === undefined ? undefined : ix.byType.get(n);
  };
  return {
    header: ix.header,
    ix,
    ...(error ? { alignError: error } : {}),
    ...(checkError ? { checkError } : {}),
    span,
    ext<K extends Exclude<SadbExt['kind'], 'raw'>>(kind: K): ExtOf<K> | undefined {
      let e = cache.get(kind);
      if (e === undefined) {
        const s = span(kind as ExtKind);
        e = null;
        if (s) {
          try {
            const r = readExt(ix, s);
            if (r.kind === kind) e = r;
          } catch (err) {
            if (!(err instanceof DecodeError)) throw err;
          }
        }
        cache.set(kind, e);
      }
      return (e ?? undefined) as ExtOf<K> | undefined;
    },
  };
}
