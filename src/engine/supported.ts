/**
 * The SADB_REGISTER reply of a Linux kernel (af_key.c compose_sadb_supported
 * over xfrm_algo.c's aalg_list and ealg_list; docs/linux-pfkey-semantics.md
 * §8): the algorithms PF_KEY can install, in the kernel's table order, with
 * its advisory key sizes. AEAD ciphers are never listed; there is no
 * compression list. Ids come from the registry, by XFRM name.
 */
import { algorithmByXfrmName, type AlgKind } from '../model/algorithms.js';
import type { SadbMsg, SupportedAlg } from '../pfkey/types.js';
import type { Request } from './request.js';

/** [xfrm name, ivlen, minbits, maxbits] in xfrm_algo.c order */
const AUTH: readonly (readonly [string, number, number, number])[] = [
  ['digest_null', 0, 0, 0],
  ['hmac(md5)', 0, 128, 128],
  ['hmac(sha1)', 0, 160, 160],
  ['hmac(sha256)', 0, 256, 256],
  ['hmac(sha384)', 0, 384, 384],
  ['hmac(sha512)', 0, 512, 512],
  ['hmac(rmd160)', 0, 160, 160],
  ['xcbc(aes)', 0, 128, 128],
];

const ENCRYPT: readonly (readonly [string, number, number, number])[] = [
  ['ecb(cipher_null)', 0, 0, 0],
  ['cbc(des)', 8, 64, 64],
  ['cbc(des3_ede)', 8, 192, 192],
  ['cbc(cast5)', 8, 40, 128],
  ['cbc(blowfish)', 8, 40, 448],
  ['cbc(aes)', 8, 128, 256],
  ['cbc(serpent)', 8, 128, 256],
  ['cbc(camellia)', 8, 128, 256],
  ['cbc(twofish)', 8, 128, 256],
  ['rfc3686(ctr(aes))', 8, 160, 288],
];

function algs(kind: AlgKind, rows: typeof AUTH): SupportedAlg[] {
  return rows.map(([xfrm, ivlen, minbits, maxbits]) => {
    // the Linux PF_KEY id of hmac(sha256) is the 96-bit one (the registry's plain hmac-sha256)
    const a = algorithmByXfrmName(kind, xfrm, kind === 'auth' && xfrm === 'hmac(sha256)' ? 96 : undefined);
    const id = a?.ids.linux;
    if (id === undefined) throw new Error(`registry has no Linux id for ${xfrm}`);
    return { id, ivlen, minbits, maxbits };
  });
}

const SUPPORTED_AUTH = algs('auth', AUTH);
const SUPPORTED_ENCRYPT = algs('enc', ENCRYPT);

export function supportedMessage(r: Request): SadbMsg {
  return {
    header: { ...r.header, errno: 0 },
    exts: [
      { kind: 'supported_auth', algs: SUPPORTED_AUTH },
      { kind: 'supported_encrypt', algs: SUPPORTED_ENCRYPT },
    ],
  };
}
