/**
 * The SAs --decrypt reads from a backend: what only XFRM can say (ESN, the
 * replay window, a 128-bit HMAC-SHA-256 ICV, an AEAD cipher PF_KEY has no
 * number for) is put back from the XFRM backend's extras (the VM suite checks
 * the whole path on the kernel).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withXfrmFacts } from '../src/decrypt/backend-sas.js';
import { SaTable } from '../src/decrypt/sad.js';
import { Transforms } from '../src/decrypt/transforms.js';
import type { SaParams } from '../src/model/sa.js';

const base: SaParams = {
  satype: 3,
  src: { addr: { family: 4, bytes: Uint8Array.of(10, 0, 0, 1), scopeId: 0 }, port: 0 },
  dst: { addr: { family: 4, bytes: Uint8Array.of(10, 0, 0, 2), scopeId: 0 }, port: 0 },
  spi: 0x1234,
  mode: 1,
  reqid: 0,
  replay: 32,
  flags: 0,
  esn: false,
  enc: { alg: 'aes-cbc', key: { bits: 128, data: new Uint8Array(16) } },
  auth: { alg: 'hmac-sha256', key: { bits: 256, data: new Uint8Array(32) } },
};

test('XFRM facts: ESN, replay window and the ICV length of a truncated HMAC', () => {
  const sa = withXfrmFacts(base, { esn: true, replayWindow: 1024, authTruncBits: 128 });
  assert.deepEqual([sa.esn, sa.replay, sa.auth?.alg], [true, 1024, 'hmac-sha256-128']);
  // 96 bits is what PF_KEY already said
  assert.equal(withXfrmFacts(base, { authTruncBits: 96 }).auth?.alg, 'hmac-sha256');
  assert.equal(withXfrmFacts(base, {}), base);
});

test('XFRM facts: an AEAD cipher without a PF_KEY number is named, and said to be unopenable without its key', () => {
  const noEnc: SaParams = { ...base, enc: undefined, auth: undefined };
  const sa = withXfrmFacts(noEnc, { aead: { name: 'rfc7539esp(chacha20,poly1305)', icvBits: 128 } });
  assert.equal(sa.enc?.alg, 'chacha20-poly1305');
  const t = new SaTable([sa]);
  const rt = new Transforms().of(t.all()[0]!);
  assert.match(rt.unsupported ?? '', /^cannot decrypt chacha20-poly1305: the backend's dump gives this SA without its key/);
});
