/**
 * The SAs a backend holds, as --decrypt needs them: the keys from its dump,
 * and what only XFRM can say put back. A dump reaches setkey as PF_KEY
 * messages, and PF_KEY (Linux af_key) has no words for ESN, replay windows
 * above 255, HMAC-SHA-256 with a 128-bit ICV or ChaCha20-Poly1305; the XFRM
 * backend hands those facts on beside each message (its JSON extras). Without
 * them an ESN SA would be opened without its high half and fail every ICV.
 */
import { algorithmByName, algorithmByXfrmName, type Platform } from '../model/algorithms.js';
import type { Json } from '../format/json.js';
import type { SaParams } from '../model/sa.js';
import { SaState, SaType } from '../model/tables.js';
import { DecodeError, decodeMessage } from '../pfkey/decode.js';
import { MsgType } from '../pfkey/constants.js';
import { saOf, WireModelError } from '../pfkey/from-wire.js';
import { findExt } from '../pfkey/types.js';

type Extras = { readonly [key: string]: Json } | undefined;

/** One dumped SA with the backend's extras folded in; undefined for what is no SA to open with (larval, dead, undecodable). */
export function saOfDumped(msg: Uint8Array, extras: Extras, platform: Platform): SaParams | undefined {
  let sa: SaParams;
  try {
    const m = decodeMessage(msg, platform);
    if (m.header.errno !== 0 || m.header.type !== MsgType.DUMP) return undefined;
    const state = findExt(m, 'sa')?.state;
    if (state === SaState.LARVAL || state === SaState.DEAD) return undefined;
    sa = saOf(m, platform);
  } catch (e) {
    if (e instanceof DecodeError || e instanceof WireModelError) return undefined;
    throw e;
  }
  return extras ? withXfrmFacts(sa, extras) : sa;
}

/** ESN, the replay window, the ICV length of a truncated HMAC and an AEAD cipher PF_KEY has no number for. */
export function withXfrmFacts(sa: SaParams, x: { readonly [key: string]: Json }): SaParams {
  let out: SaParams = sa;
  if (x['esn'] === true) out = { ...out, esn: true };
  if (typeof x['replayWindow'] === 'number') out = { ...out, replay: x['replayWindow'] };
  const trunc = x['authTruncBits'];
  if (typeof trunc === 'number' && out.auth && typeof out.auth.alg === 'string') {
    const xfrm = algorithmByName('auth', out.auth.alg)?.xfrm;
    const exact = xfrm ? algorithmByXfrmName('auth', xfrm, trunc) : undefined;
    if (exact) out = { ...out, auth: { ...out.auth, alg: exact.name } };
  }
  const aead = x['aead'];
  if (sa.satype === SaType.ESP && !out.enc && aead && typeof aead === 'object' && !Array.isArray(aead)) {
    const a = aead as { readonly name?: Json; readonly icvBits?: Json };
    const alg = typeof a.name === 'string' ? algorithmByXfrmName('enc', a.name, typeof a.icvBits === 'number' ? a.icvBits : undefined) : undefined;
    // the dump shows such a state as af_key does, without its key: the SA is named, and said to be unopenable
    if (alg) out = { ...out, enc: { alg: alg.name } };
  }
  return out;
}
