/**
 * The model's SA (src/model/sa.ts) as the packet transforms take it. An
 * algorithm the SAD holds only as a number (no registry entry on this
 * platform) cannot be run, and says so.
 */
import type { AlgRef, SaParams } from '../model/sa.js';
import { SaFlag } from '../model/tables.js';
import { type AlgKey, type EspSa, type Unsupported, unsupported } from './types.js';

const EMPTY = new Uint8Array(0);

function algKey(verb: string, ref: { readonly alg: AlgRef; readonly key?: { readonly data: Uint8Array } } | undefined): AlgKey | Unsupported | undefined {
  if (!ref) return undefined;
  if (typeof ref.alg === 'number') {
    return unsupported('unknown-algorithm', `cannot ${verb} algorithm number ${ref.alg}: no registry entry names it`);
  }
  return { name: ref.alg, key: ref.key?.data ?? EMPTY };
}

/** EspSa of an SA; for AH and IPComp SAs too (AH uses auth; IPComp needs neither). */
export function espSaOf(sa: SaParams): EspSa | Unsupported {
  const enc = algKey('decrypt', sa.enc);
  if (enc && 'unsupported' in enc) return enc;
  const auth = algKey('verify', sa.auth);
  if (auth && 'unsupported' in auth) return auth;
  return {
    spi: sa.spi,
    flags: sa.flags,
    esn: sa.esn,
    old: (sa.flags & SaFlag.OLD) !== 0,
    ...(enc ? { enc } : {}),
    ...(auth ? { auth } : {}),
  };
}
