/**
 * The texts setkey prints for messages it cannot use: libipsec's
 * ipsec_strerror() for pfkey_align/pfkey_check failures, and our own clear
 * words for what the reference would crash or loop on.
 */
import type { DecodeError } from '../pfkey/decode.js';

export function decodeErrorText(e: DecodeError): string {
  switch (e.code) {
    case 'version':
      return 'Invalid version';
    case 'msgtype':
      return 'Invalid message type';
    case 'exttype':
      return 'Invalid extension type';
    case 'sadbmsg':
      return 'Invalid sadb message';
    case 'satype':
      return 'Invalid SA type';
    case 'not-supported':
      return 'Not supported';
    case 'proto':
      return 'Protocol mismatch';
    case 'family':
      return 'Family mismatch';
    case 'bad-family':
      return 'Invalid family';
    case 'short':
    case 'ext':
      return `Invalid sadb message (${e.message} at byte ${e.offset})`;
  }
}
