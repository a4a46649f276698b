/**
 * Opening captured IPsec traffic with the SAD's keys: ESP (RFC 4303 and
 * RFC 1827), AH (RFC 4302 and RFC 1826), IPComp (RFC 3173) and sequence
 * tracking (RFC 4303 Appendix A). Pure: no I/O, nothing thrown for packets.
 */
export { espOpener, espSealer, espSeq, espSpi, type EspOpener, type EspSealer } from './esp.js';
export { ahSealer, ahVerifier, type AhSealer, type AhVerifier } from './ah.js';
export { deflateIpcomp, inflateIpcomp, ipcompHeader, IPCOMP_MAX_OUTPUT, type InflateResult, type IpcompHeader } from './ipcomp.js';
export { SeqTracker, seqWindow, DEFAULT_WINDOW, UNKNOWN_WINDOW, type SeqStats, type SeqTrackerOptions, type SeqVerdict } from './replay.js';
export { makeCipher, type AeadCipher, type Cipher, type PlainCipher } from './ciphers.js';
export { makeMac, xcbcMac, type Mac } from './integrity.js';
export * from './types.js';
