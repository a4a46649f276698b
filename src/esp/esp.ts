/**
 * ESP packets: open (verify, then decrypt) and seal, for RFC 4303 ESP and the
 * RFC 1827/1829 ESP of KAME's esp-old SAs.
 *
 * RFC 4303 section 2: SPI (4) | Sequence Number (4) | IV | ciphertext of
 * (payload | padding | pad length | next header) | ICV. The ICV is checked
 * before anything is decrypted (section 3.4.4.1: "If a separate integrity
 * algorithm is employed, then the receiver proceeds to ICV verification
 * first"); for combined-mode ciphers the tag check is the decryption's own
 * and the plaintext is dropped unless it passes.
 *
 * RFC 1827 ESP (SADB_X_EXT_OLD): SPI (4) | IV | ciphertext; no sequence
 * number, no authentication. RFC 1829 lets the IV be 32 bits, extended to 64
 * as IV || ~IV (SADB_X_EXT_IV4B); KAME's des-deriv (SADB_X_EXT_DERIV,
 * draft-ietf-ipsec-ciph-des-derived) uses the sequence number field as that
 * 32-bit IV. Both as KAME's esp_cbc_decrypt does them.
 */
import { randomFillSync } from 'node:crypto';
import { SaFlag } from '../model/tables.js';
import { type Cipher, makeCipher } from './ciphers.js';
import { type Mac, makeMac } from './integrity.js';
import type { OpenSsl } from '../sys/libcrypto.js';
import {
  type EspSa,
  type NotOpened,
  type OpenResult,
  type Unsupported,
  be32,
  isUnsupported,
  putBe32,
  unsupported,
} from './types.js';

const EMPTY = new Uint8Array(0);
const SHORT: NotOpened = Object.freeze({ ok: false, reason: 'short' });
const ICV: NotOpened = Object.freeze({ ok: false, reason: 'icv' });
const CIPHER: NotOpened = Object.freeze({ ok: false, reason: 'cipher' });
const PADDING: NotOpened = Object.freeze({ ok: false, reason: 'padding' });

/** Where things are in a packet of this SA. */
interface Layout {
  /** bytes of SPI and sequence number: 8, or 4 for RFC 1827 */
  readonly headerLen: number;
  readonly ivOff: number;
  /** IV bytes on the wire */
  readonly ivLen: number;
  /** a 4-byte wire IV is extended to 8 as IV || ~IV (RFC 1829 section 3.1) */
  readonly extendIv: boolean;
  readonly bodyOff: number;
  readonly icvLen: number;
}

interface Transform {
  readonly sa: EspSa;
  readonly old: boolean;
  readonly cipher: Cipher;
  readonly mac: Mac | undefined;
  readonly layout: Layout;
}

function layoutOf(sa: EspSa, old: boolean, cipher: Cipher, mac: Mac | undefined): Layout | Unsupported {
  const icvLen = cipher.kind === 'aead' ? cipher.tagLen : (mac?.icvLen ?? 0);
  const headerLen = old ? 4 : 8;
  const cbc8 = cipher.kind === 'plain' && cipher.blockLen === 8;
  if (!old && sa.flags & SaFlag.DERIV && cipher.kind === 'plain' && cipher.blockLen > 1) {
    if (!cbc8) return unsupported('combination', `cannot decrypt ${cipher.name}: a derived IV (des-deriv) needs a 64-bit block cipher`);
    // the sequence number doubles as the 32-bit IV; the body follows it
    return { headerLen, ivOff: 4, ivLen: 4, extendIv: true, bodyOff: 8, icvLen };
  }
  if (old && sa.flags & SaFlag.IV4B && cipher.name === 'des-cbc') {
    return { headerLen, ivOff: 4, ivLen: 4, extendIv: true, bodyOff: 8, icvLen };
  }
  return { headerLen, ivOff: headerLen, ivLen: cipher.ivLen, extendIv: false, bodyOff: headerLen + cipher.ivLen, icvLen };
}

function buildTransform(sa: EspSa, openssl?: OpenSsl): Transform | Unsupported {
  const old = sa.old ?? (sa.flags & SaFlag.OLD) !== 0;
  const cipher = makeCipher(sa.enc?.name ?? 'null', sa.enc?.key ?? EMPTY, openssl);
  if (isUnsupported(cipher)) return cipher;
  let mac: Mac | undefined;
  if (sa.auth) {
    const m = makeMac(sa.auth.name, sa.auth.key, false, openssl);
    if (isUnsupported(m)) return m;
    if (m.icvLen > 0) mac = m;
  }
  if (mac && cipher.kind === 'aead') {
    return unsupported('combination', `cannot decrypt ${cipher.name} with ${mac.name}: a combined-mode cipher carries its own ICV (RFC 4303 section 3.2)`);
  }
  if (old && mac) return unsupported('combination', `cannot verify ${mac.name} on esp-old: RFC 1827 ESP carries no authentication data`);
  if (old && cipher.kind === 'aead') return unsupported('combination', `cannot decrypt ${cipher.name} as esp-old: RFC 1827 ESP predates combined-mode ciphers`);
  if (old && cipher.blockLen === 1 && cipher.name !== 'null') {
    return unsupported('combination', `cannot decrypt ${cipher.name} as esp-old: RFC 1827 ESP defines only CBC and null transforms`);
  }
  const layout = layoutOf(sa, old, cipher, mac);
  if (isUnsupported(layout)) return layout;
  return { sa, old, cipher, mac, layout };
}

/** The padding bytes KAME and RFC 4303 section 2.4 write: 1, 2, 3, ... (or zeros / anything with -f zero-pad / random-pad). */
function padOk(flags: number, pt: Uint8Array, start: number, padLen: number): boolean {
  if (flags & SaFlag.PRAND) return true;
  const zero = (flags & SaFlag.PZERO) !== 0;
  for (let i = 0; i < padLen; i++) if (pt[start + i] !== (zero ? 0 : (i + 1) & 0xff)) return false;
  return true;
}

function fillPad(flags: number, out: Uint8Array, start: number, padLen: number): void {
  if (flags & SaFlag.PRAND) randomFillSync(out, start, padLen);
  else if (!(flags & SaFlag.PZERO)) for (let i = 0; i < padLen; i++) out[start + i] = (i + 1) & 0xff;
}

/** RFC 4303 section 2.4-2.6: split payload | padding | pad length | next header. */
function trailer(t: Transform, pt: Uint8Array, seq: number): OpenResult {
  const n = pt.length;
  if (n < 2) return PADDING;
  const padLen = pt[n - 2]!;
  if (padLen + 2 > n) return PADDING;
  const end = n - 2 - padLen;
  return { ok: true, nextHeader: pt[n - 1]!, payload: pt.subarray(0, end), seq, padOk: padOk(t.sa.flags, pt, end, padLen) };
}

export interface EspOpener {
  /** registry names of the transform */
  readonly cipher: string;
  readonly integrity: string | undefined;
  readonly icvLen: number;
  /** open one packet: the ESP header through the ICV; seqHigh is the ESN's high half (ignored without ESN) */
  open(esp: Uint8Array, seqHigh?: number): OpenResult;
}

function makeIv(t: Transform, esp: Uint8Array, scratch: Uint8Array): Uint8Array {
  const { ivOff, ivLen, extendIv } = t.layout;
  if (!extendIv) return esp.subarray(ivOff, ivOff + ivLen);
  for (let i = 0; i < 4; i++) {
    scratch[i] = esp[ivOff + i]!;
    scratch[i + 4] = ~esp[ivOff + i]! & 0xff;
  }
  return scratch;
}

function openAead(t: Transform, esp: Uint8Array, seqHigh: number, aad12: Uint8Array): OpenResult {
  const cipher = t.cipher;
  if (cipher.kind !== 'aead') return CIPHER;
  const len = esp.length;
  if (len < 8 + cipher.ivLen + 2 + cipher.tagLen) return SHORT;
  const icvStart = len - cipher.tagLen;
  const iv = esp.subarray(8, 16);
  const tag = esp.subarray(icvStart);
  // RFC 4106 section 5 / RFC 4543 section 5 / RFC 7634 section 2.2: AAD is
  // SPI || seq, or SPI || seq high || seq low with ESN
  let head: Uint8Array = esp.subarray(0, 8);
  if (t.sa.esn) {
    aad12.set(esp.subarray(0, 4), 0);
    putBe32(aad12, 4, seqHigh >>> 0);
    aad12.set(esp.subarray(4, 8), 8);
    head = aad12;
  }
  const seq = be32(esp, 4);
  if (cipher.authOnly) {
    // RFC 4543 section 3.3: GMAC covers the header, the IV and the whole plaintext payload
    if (cipher.open(iv, [head, esp.subarray(8, icvStart)], EMPTY, tag) === null) return ICV;
    return trailer(t, esp.subarray(16, icvStart), seq);
  }
  const pt = cipher.open(iv, [head], esp.subarray(16, icvStart), tag);
  if (pt === null) return ICV;
  return trailer(t, pt, seq);
}

/**
 * An opener for an SA's packets, or why the SA cannot be opened here
 * (`cannot decrypt twofish-cbc: ...`). Key objects are made once, here;
 * with `openssl` (src/sys/libcrypto.ts) the cipher and HMAC run through
 * Node's OpenSSL directly, else through node:crypto.
 */
export function espOpener(sa: EspSa, openssl?: OpenSsl): EspOpener | Unsupported {
  const t = buildTransform(sa, openssl);
  if (isUnsupported(t)) return t;
  const { cipher, mac, layout } = t;
  const hi = new Uint8Array(4);
  const ivScratch = new Uint8Array(8);
  const aad12 = new Uint8Array(12);
  const minLen = layout.bodyOff + layout.icvLen + Math.max(cipher.blockLen, 2);
  const open = (esp: Uint8Array, seqHigh = 0): OpenResult => {
    if (cipher.kind === 'aead') return openAead(t, esp, seqHigh, aad12);
    if (esp.length < minLen) return SHORT;
    const icvStart = esp.length - layout.icvLen;
    if (mac) {
      // RFC 4303 section 3.3.2.2.1: the ESN's high half follows the packet in the ICV, never on the wire
      let tail: Uint8Array | undefined;
      if (sa.esn) {
        putBe32(hi, 0, seqHigh >>> 0);
        tail = hi;
      }
      if (!mac.verify(esp.subarray(0, icvStart), tail, esp.subarray(icvStart))) return ICV;
    }
    const pt = cipher.decrypt(makeIv(t, esp, ivScratch), esp.subarray(layout.bodyOff, icvStart));
    if (pt === null) return CIPHER;
    return trailer(t, pt, t.old ? 0 : be32(esp, 4));
  };
  return {
    cipher: cipher.name,
    integrity: mac?.name,
    icvLen: layout.icvLen,
    open: (esp, seqHigh) => {
      try {
        return open(esp, seqHigh);
      } catch {
        // node:crypto throws for what it cannot process; a packet never makes open() throw
        return CIPHER;
      }
    },
  };
}

export interface EspSealer {
  /**
   * One ESP packet (header through ICV) carrying payload with RFC 4303
   * padding. iv: the wire IV (random when absent; ignored for derived IVs).
   */
  seal(nextHeader: number, payload: Uint8Array, seq: number, seqHigh?: number, iv?: Uint8Array): Uint8Array;
}

/** The plaintext payload | padding | pad length | next header, padded to the cipher's alignment. */
function plaintextOf(t: Transform, nextHeader: number, payload: Uint8Array): Uint8Array {
  const padTo = t.cipher.padTo;
  const padLen = (padTo - ((payload.length + 2) % padTo)) % padTo;
  const pt = new Uint8Array(payload.length + padLen + 2);
  pt.set(payload, 0);
  fillPad(t.sa.flags, pt, payload.length, padLen);
  pt[pt.length - 2] = padLen;
  pt[pt.length - 1] = nextHeader & 0xff;
  return pt;
}

function sealAead(t: Transform, pt: Uint8Array, seqHigh: number, header: Uint8Array, iv: Uint8Array): Uint8Array {
  const cipher = t.cipher;
  if (cipher.kind !== 'aead') throw new Error('not an AEAD transform');
  let head = header;
  if (t.sa.esn) {
    head = new Uint8Array(12);
    head.set(header.subarray(0, 4), 0);
    putBe32(head, 4, seqHigh >>> 0);
    head.set(header.subarray(4, 8), 8);
  }
  const aad = cipher.authOnly ? [head, iv, pt] : [head];
  const { ct, tag } = cipher.seal(iv, aad, cipher.authOnly ? new Uint8Array(0) : pt);
  const body = cipher.authOnly ? pt : ct;
  const out = new Uint8Array(8 + iv.length + body.length + tag.length);
  out.set(header, 0);
  out.set(iv, 8);
  out.set(body, 8 + iv.length);
  out.set(tag, 8 + iv.length + body.length);
  return out;
}

/** A sealer for an SA: the encrypt side, for tests and benchmark captures. */
export function espSealer(sa: EspSa): EspSealer | Unsupported {
  const t = buildTransform(sa);
  if (isUnsupported(t)) return t;
  const { cipher, mac, layout } = t;
  return {
    seal(nextHeader, payload, seq, seqHigh = 0, iv) {
      const pt = plaintextOf(t, nextHeader, payload);
      const header = new Uint8Array(layout.headerLen);
      putBe32(header, 0, sa.spi >>> 0);
      if (!t.old) putBe32(header, 4, seq >>> 0);
      const wireIv = layout.extendIv && !t.old ? header.subarray(4, 8) : (iv ?? randomFillSync(new Uint8Array(layout.ivLen)));
      if (cipher.kind === 'aead') return sealAead(t, pt, seqHigh, header, wireIv);
      let fullIv = wireIv;
      if (layout.extendIv) {
        fullIv = new Uint8Array(8);
        for (let i = 0; i < 4; i++) {
          fullIv[i] = wireIv[i]!;
          fullIv[i + 4] = ~wireIv[i]! & 0xff;
        }
      }
      const ct = cipher.encrypt(fullIv, pt);
      const out = new Uint8Array(layout.bodyOff + ct.length + layout.icvLen);
      out.set(header, 0);
      if (layout.ivOff >= layout.headerLen) out.set(wireIv, layout.ivOff);
      out.set(ct, layout.bodyOff);
      if (mac) {
        const icvStart = out.length - layout.icvLen;
        const tail = sa.esn ? new Uint8Array(4) : undefined;
        if (tail) putBe32(tail, 0, seqHigh >>> 0);
        out.set(mac.compute(out.subarray(0, icvStart), tail).subarray(0, layout.icvLen), icvStart);
      }
      return out;
    },
  };
}

/** The SPI of an ESP packet (host order), or undefined if too short. */
export function espSpi(esp: Uint8Array): number | undefined {
  return esp.length >= 4 ? be32(esp, 0) : undefined;
}

/** The low 32 bits of an RFC 4303 packet's sequence number, or undefined if too short. */
export function espSeq(esp: Uint8Array): number | undefined {
  return esp.length >= 8 ? be32(esp, 4) : undefined;
}
