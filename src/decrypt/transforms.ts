/**
 * Per SA, the transform that opens its packets and the sequence tracker that
 * infers ESN high halves and counts gaps and replays, made on the SA's first
 * packet (key objects once per SA, not per packet). An SA whose algorithm
 * cannot run here keeps its reason (`cannot decrypt ALG: ...`).
 */
import { ahVerifier, espOpener, espSaOf, isUnsupported, SeqTracker, type AhVerifier, type EspOpener } from '../esp/index.js';
import { algorithmByName } from '../model/algorithms.js';
import type { DecryptSa } from './sad.js';
import type { OpenSsl } from '../sys/libcrypto.js';

export interface SaRuntime {
  readonly esp?: EspOpener;
  readonly ah?: AhVerifier;
  /** why the SA's packets are not tried */
  readonly unsupported?: string;
  readonly seq: SeqTracker;
}

export class Transforms {
  private readonly bySa = new Map<DecryptSa, SaRuntime>();

  /** `openssl`: Node's OpenSSL called directly (src/sys/libcrypto.ts), when the caller loaded it */
  constructor(private readonly openssl?: OpenSsl) {}

  of(sa: DecryptSa): SaRuntime {
    let rt = this.bySa.get(sa);
    if (!rt) this.bySa.set(sa, (rt = build(sa, this.openssl)));
    return rt;
  }
}

function build(d: DecryptSa, openssl: OpenSsl | undefined): SaRuntime {
  const seq = new SeqTracker({ replay: d.sa.replay, esn: d.sa.esn });
  if (d.proto === 'ipcomp') return { seq };
  // an AEAD state read from a kernel's dump comes without its key (PF_KEY has no number for the cipher)
  const enc = d.sa.enc;
  if (enc && typeof enc.alg === 'string' && !enc.key && !algorithmByName('enc', enc.alg)?.noKey) {
    return { seq, unsupported: `cannot decrypt ${enc.alg}: the backend's dump gives this SA without its key (PF_KEY has no number for the cipher); give the SA with -f FILE` };
  }
  const e = espSaOf(d.sa);
  if (isUnsupported(e)) return { seq, unsupported: e.unsupported };
  const t = d.proto === 'esp' ? espOpener(e, openssl) : ahVerifier(e, openssl);
  if (isUnsupported(t)) return { seq, unsupported: t.unsupported };
  return d.proto === 'esp' ? { seq, esp: t as EspOpener } : { seq, ah: t as AhVerifier };
}
