/**
 * The OpenSSL binding the ESP/AH tests hand to what they open packets with:
 * undefined (node:crypto) when those files run on their own, the direct
 * calls of src/sys/libcrypto.ts when esp-native.test.ts sets it before it
 * imports them, so the same checks run both ways.
 */
import type { OpenSsl } from '../src/sys/libcrypto.js';

export let openssl: OpenSsl | undefined;

export function useOpenSsl(o: OpenSsl | undefined): void {
  openssl = o;
}
