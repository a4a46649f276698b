/**
 * A request as af_key's parse_exthdrs() accepts it (docs/linux-pfkey-semantics.md
 * §1.5): duplicate extensions, extensions shorter than their struct, address
 * extensions of the wrong length or prefix, and keys longer than their
 * extension are EINVAL; types above 26 are skipped.
 */
import { fullPrefix, type IpAddress } from '../model/address.js';
import { AF, extNumbers, type ExtKind } from '../pfkey/constants.js';
import { DecodeError, indexLenient, readExt, type MsgIndex } from '../pfkey/decode.js';
import { addressOf } from '../pfkey/from-wire.js';
import type { ExtAddress, ExtOf, SadbExt, SadbHeader } from '../pfkey/types.js';
import { E, fail } from './context.js';

export interface Request {
  readonly header: SadbHeader;
  readonly bytes: Uint8Array;
  readonly ix: MsgIndex;
  has(kind: ExtKind): boolean;
  ext<K extends Exclude<SadbExt['kind'], 'raw'>>(kind: K): ExtOf<K> | undefined;
}

const NUMS = extNumbers('linux').byKind;

function checkAddress(ix: MsgIndex, kind: ExtKind): void {
  const s = ix.byType.get(NUMS.get(kind)!);
  if (!s) return;
  if (s.length < 10) fail(E.EINVAL, `${kind} extension too short`);
  const fam = ix.view.getUint16(s.offset + 8, true);
  const plen = ix.bytes[s.offset + 5]!;
  // verify_address_len(): exactly 8 + sizeof(sockaddr_in[6]) rounded to 8 bytes
  if (fam === AF.INET) {
    if (s.length !== 24 || plen > 32) fail(E.EINVAL, `${kind}: bad length or prefix for inet`);
  } else if (fam === AF.INET6_LINUX) {
    if (s.length !== 40 || plen > 128) fail(E.EINVAL, `${kind}: bad length or prefix for inet6`);
  } else fail(E.EINVAL, `${kind}: address family ${fam}`);
}

const ADDRESS_KINDS: readonly ExtKind[] = ['address_src', 'address_dst', 'address_proxy', 'nat_t_oa'];
const KEY_KINDS = ['key_auth', 'key_encrypt'] as const;
const UNREAD = undefined;

export function parseRequest(bytes: Uint8Array): Request {
  const { ix, error } = indexLenient(bytes, 'linux');
  // unknown types above 26 are skipped by Linux; ours stop at the first problem, which is
  // a duplicate or a bad length for anything setkey sends
  if (error) fail(E.EINVAL, error.message);
  for (const k of ADDRESS_KINDS) checkAddress(ix, k);
  // each extension read once, when first asked for, by its wire number (null: absent)
  const read: (SadbExt | null | undefined)[] = [];
  const ext = <K extends Exclude<SadbExt['kind'], 'raw'>>(kind: K): ExtOf<K> | undefined => {
    const n = NUMS.get(kind as ExtKind)!;
    let e = read[n];
    if (e === UNREAD) {
      const s = ix.byType.get(n);
      e = null;
      if (s) {
        try {
          e = readExt(ix, s);
        } catch (err) {
          if (err instanceof DecodeError) fail(E.EINVAL, `${kind}: ${err.message}`);
          throw err;
        }
      }
      read[n] = e;
    }
    return (e ?? undefined) as ExtOf<K> | undefined;
  };
  // both read before either is checked (a damaged second key is the reason given, as before)
  ext('key_auth');
  ext('key_encrypt');
  for (const kind of KEY_KINDS) {
    const k = ext(kind);
    const s = k && ix.byType.get(NUMS.get(kind)!);
    // verify_key_len(): the key must fit its extension
    if (k && s && 8 + Math.ceil(k.bits / 8) > s.length) fail(E.EINVAL, `${kind} longer than its extension`);
  }
  return { header: ix.header, bytes, ix, has: (k) => ix.byType.has(NUMS.get(k)!), ext };
}

/** present_and_same_family(): both addresses, one family; returns them. */
export function srcDst(r: Request): { src: ExtAddress; dst: ExtAddress; s: IpAddress; d: IpAddress } {
  const src = r.ext('address_src');
  const dst = r.ext('address_dst');
  if (!src || !dst) fail(E.EINVAL, 'source and destination addresses are required');
  if (src.sa.family !== dst.sa.family) fail(E.EINVAL, 'source and destination are of different families');
  return { src, dst, s: addressOf(src.sa), d: addressOf(dst.sa) };
}

export function isZero(a: IpAddress): boolean {
  return a.bytes.every((b) => b === 0);
}

export function hostPrefix(a: IpAddress): number {
  return fullPrefix(a.family);
}

/** satype -> protocol (pfkey_satype2proto): 0 any, 2 AH, 3 ESP, 9 IPComp; others invalid. */
export function validSatype(satype: number): boolean {
  return satype === 0 || satype === 2 || satype === 3 || satype === 9;
}
