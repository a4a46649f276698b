/**
 * The ESP/AH tests again with Node's OpenSSL called directly
 * (src/sys/libcrypto.ts, what --decrypt hands its openers when koffi is installed): the
 * RFC vectors, seal (node:crypto) then open (the direct calls) for every
 * transform, flipped bits and wrong ESN halves failing the ICV, and the
 * decrypt fuzz (mutated captures through the whole pipeline). The same
 * files run on their own without it (node:crypto throughout), so both paths
 * meet the same checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadOpenSsl } from '../src/sys/libcrypto.js';
import { useOpenSsl } from './crypto-provider.js';

const native = await loadOpenSsl({});
if (!native) {
  test('ESP with OpenSSL called directly', { skip: 'koffi is not installed, or this node does not export OpenSSL: node:crypto is used (the other esp tests cover it)' }, () => undefined);
} else {
  test('the direct OpenSSL seam is loaded, and refuses what OpenSSL has not', () => {
    assert.equal(native.decryptor('no-such-cipher-cbc', new Uint8Array(16)), undefined);
    assert.equal(native.hmac('no-such-digest', new Uint8Array(16)), undefined);
    // a key of the wrong length is refused when the context is made, not at the first packet
    assert.equal(native.decryptor('aes-128-gcm', new Uint8Array(5)), undefined);
  });
  // the suites below hand it to every opener they make (test/crypto-provider.ts)
  useOpenSsl(native);
  await import('./esp-vectors.test.js');
  await import('./esp-roundtrip.test.js');
  await import('./esp-ah.test.js');
  // hostile captures through the direct calls: no crash, only CaptureError, bounded output
  await import('./decrypt-fuzz.test.js');
}
