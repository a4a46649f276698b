/**
 * src/esp against published vectors, bytes as the sources print them:
 * RFC 3686 section 6 (AES-CTR), RFC 3602 section 4 (AES-CBC, its ESP
 * packets too), FIPS 81 (DES-CBC), SP 800-67 (3DES), RFC 3713 (Camellia),
 * RFC 2202 / RFC 4231 / RFC 2286 (HMAC), RFC 3566 section 4.6 (AES-XCBC-MAC),
 * draft-mcgrew-gcm-test-01 (AES-GCM and AES-GMAC ESP packets; RFC 4106 and
 * RFC 4543 have none), RFC 7634 Appendix A (ChaCha20-Poly1305 ESP).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { espOpener, espSealer } from '../src/esp/esp.js';
import { makeCipher, type PlainCipher } from '../src/esp/ciphers.js';
import { keyedPrefix, makeMac } from '../src/esp/integrity.js';
import { isUnsupported } from '../src/esp/types.js';
import { openssl } from './crypto-provider.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const ascii = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const rep = (byte: number, n: number): Uint8Array => new Uint8Array(n).fill(byte);

function plain(name: string, key: Uint8Array): PlainCipher {
  const c = makeCipher(name, key, openssl);
  assert.ok(!isUnsupported(c), `${name}: ${isUnsupported(c) ? c.unsupported : ''}`);
  assert.equal(c.kind, 'plain');
  return c as PlainCipher;
}

// RFC 3686 section 6: AES key || nonce (as the SA holds it), IV, plaintext, ciphertext.
// Vectors 3, 6, 9 are 36 bytes: the last 4 bytes are not a whole block (CTR needs none).
const RFC3686 = [
  ['AE 68 52 F8 12 10 67 CC 4B F7 A5 76 55 77 F3 9E 00 00 00 30', '00 00 00 00 00 00 00 00',
    '53 69 6E 67 6C 65 20 62 6C 6F 63 6B 20 6D 73 67', 'E4 09 5D 4F B7 A7 B3 79 2D 61 75 A3 26 13 11 B8'],
  ['7E 24 06 78 17 FA E0 D7 43 D6 CE 1F 32 53 91 63 00 6C B6 DB', 'C0 54 3B 59 DA 48 D9 0B',
    '00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F',
    '51 04 A1 06 16 8A 72 D9 79 0D 41 EE 8E DA D3 88 EB 2E 1E FC 46 DA 57 C8 FC E6 30 DF 91 41 BE 28'],
  ['76 91 BE 03 5E 50 20 A8 AC 6E 61 85 29 F9 A0 DC 00 E0 01 7B', '27 77 7F 3F 4A 17 86 F0',
    '00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F 20 21 22 23',
    'C1 CF 48 A8 9F 2F FD D9 CF 46 52 E9 EF DB 72 D7 45 40 A4 2B DE 6D 78 36 D5 9A 5C EA AE F3 10 53 25 B2 07 2F'],
  ['16 AF 5B 14 5F C9 F5 79 C1 75 F9 3E 3B FB 0E ED 86 3D 06 CC FD B7 85 15 00 00 00 48', '36 73 3C 14 7D 6D 93 CB',
    '53 69 6E 67 6C 65 20 62 6C 6F 63 6B 20 6D 73 67', '4B 55 38 4F E2 59 C9 C8 4E 79 35 A0 03 CB E9 28'],
  ['7C 5C B2 40 1B 3D C3 3C 19 E7 34 08 19 E0 F6 9C 67 8C 3D B8 E6 F6 A9 1A 00 96 B0 3B', '02 0C 6E AD C2 CB 50 0D',
    '00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F',
    '45 32 43 FC 60 9B 23 32 7E DF AA FA 71 31 CD 9F 84 90 70 1C 5A D4 A7 9C FC 1F E0 FF 42 F4 FB 00'],
  ['02 BF 39 1E E8 EC B1 59 B9 59 61 7B 09 65 27 9B F5 9B 60 A7 86 D3 E0 FE 00 07 BD FD', '5C BD 60 27 8D CC 09 12',
    '00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F 20 21 22 23',
    '96 89 3F C5 5E 5C 72 2F 54 0B 7D D1 DD F7 E7 58 D2 88 BC 95 C6 91 65 88 45 36 C8 11 66 2F 21 88 AB EE 09 35'],
  ['77 6B EF F2 85 1D B0 6F 4C 8A 05 42 C8 69 6F 6C 6A 81 AF 1E EC 96 B4 D3 7F C1 D6 89 E6 C1 C1 04 00 00 00 60',
    'DB 56 72 C9 7A A8 F0 B2', '53 69 6E 67 6C 65 20 62 6C 6F 63 6B 20 6D 73 67', '14 5A D0 1D BF 82 4E C7 56 08 63 DC 71 E3 E0 C0'],
  ['F6 D6 6D 6B D5 2D 59 BB 07 96 36 58 79 EF F8 86 C6 6D D5 1A 5B 6A 99 74 4B 50 59 0C 87 A2 38 84 00 FA AC 24',
    'C1 58 5E F1 5A 43 D8 75',
    '00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F',
    'F0 5E 23 1B 38 94 61 2C 49 EE 00 0B 80 4E B2 A9 B8 30 6B 50 8F 83 9D 6A 55 30 83 1D 93 44 AF 1C'],
  ['FF 7A 61 7C E6 91 48 E4 F1 72 6E 2F 43 58 1D E2 AA 62 D9 F8 05 53 2E DF F1 EE D6 87 FB 54 15 3D 00 1C C5 B7',
    '51 A5 1D 70 A1 C1 11 48',
    '00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F 20 21 22 23',
    'EB 6C 52 82 1D 0B BB F7 CE 75 94 46 2A CA 4F AA B4 07 DF 86 65 69 FD 07 F4 8C C0 B5 83 D6 07 1F 1E C0 E6 B8'],
] as const;

test('RFC 3686 section 6: AES-CTR with the nonce at the end of the key, all nine vectors', () => {
  for (const [key, iv, pt, ct] of RFC3686) {
    const c = plain('aes-ctr', hex(key));
    assert.equal(toHex(c.encrypt(hex(iv), hex(pt))), toHex(hex(ct)));
    assert.equal(toHex(c.decrypt(hex(iv), hex(ct))!), toHex(hex(pt)));
  }
});

test('RFC 3602 section 4 cases 1-4: AES-CBC', () => {
  const cases = [
    ['06a9214036b8a15b512e03d534120006', '3dafba429d9eb430b422da802c9fac41', toHex(ascii('Single block msg')), 'e353779c1079aeb82708942dbe77181a'],
    ['c286696d887c9aa0611bbb3e2025a45a', '562e17996d093d28ddb3ba695a2e6f58',
      '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'd296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1'],
    ['6c3ea0477630ce21a2ce334aa746c2cd', 'c782dc4c098c66cbd9cd27d825682c81', toHex(ascii('This is a 48-byte message (exactly 3 AES blocks)')),
      'd0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5021c19216bad525c8579695d83ba2684'],
    ['56e47a38c5598974bc46903dba290349', '8ce82eefbea0da3c44699ed7db51b7d9', toHex(Uint8Array.from({ length: 64 }, (_, i) => 0xa0 + i)),
      'c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55'],
  ] as const;
  for (const [key, iv, pt, ct] of cases) {
    const c = plain('aes-cbc', hex(key));
    assert.equal(toHex(c.encrypt(hex(iv), hex(pt))), ct);
    assert.equal(toHex(c.decrypt(hex(iv), hex(ct))!), pt);
    // the same ciphertext at an odd offset (the XOR takes its byte path)
    const shifted = new Uint8Array(hex(ct).length + 1);
    shifted.set(hex(ct), 1);
    assert.equal(toHex(c.decrypt(hex(iv), shifted.subarray(1))!), pt);
  }
});

test('RFC 3602 section 4 cases 5-8: ESP packets with AES-CBC and no integrity open, and seal back to the same bytes', () => {
  const cases = [
    ['90d382b410eeba7ad938c46cec1a82bf', 0x4321, 1, 'e96e8c08ab465763fd098d45dd3ff893',
      '0000432100000001e96e8c08ab465763fd098d45dd3ff893f663c25d325c18c6a9453e194e120849a4870b66cc6b9965330013b4898dc856a4699e523a55db080b59ec3a8e4b7e52775b07d1db34ed9c538ab50c551b874aa269add047ad2d5913ac19b7cfbad4a6',
      '08000ebda70a00008e9c083db95b070008090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637', 1],
    ['90d382b410eeba7ad938c46cec1a82bf', 0x4321, 8, '69d08df7d203329db093fc4924e5bd80',
      '000043210000000869d08df7d203329db093fc4924e5bd80f51995881ec4e0c4488987ce742e8109689bb379d2d750c0d915dca346a89f75',
      '0800b5e8a80a0500a69c083d0b660e00777777777777777777777777', 1],
    ['0123456789abcdef0123456789abcdef', 0x8765, 2, 'f4e765244f6407adf13dc1380f673f37',
      '0000876500000002f4e765244f6407adf13dc1380f673f37773b5241a4c449225e4f3ce5ed611b0c237ca96cf74a93013c1b0ea1a0cf70f8e4ecaec78ac53aad7a0f022b859243c647752e94a859352b8a4d4d2decd136e5c177f132ad3fbfb2201ac9904c74ee0a109e0ca1e4dfe9d5a100b842f1c22f0d',
      '45000054090400004001f988c0a87b03c0a87bc808009f76a90a0100b49c083d02a2040008090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637', 4],
    ['0123456789abcdef0123456789abcdef', 0x8765, 5, '85d47224b5f3dd5d2101d4ea8dffab22',
      '000087650000000585d47224b5f3dd5d2101d4ea8dffab2215b92683819596a8047232cc00f7048fe45318e11f8a0f62ede3c3fc61203bb50f980a08c9843fd3a1b06d5c07ff9639b7eb7dfb3512e5de435e7207ed971ef3d2726d9b5ef6affc6d17a0decbb13892',
      '45000044090c00004001f990c0a87b03c0a87bc80800d63caa0a0200c69c083da3de0300ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', 4],
  ] as const;
  for (const [key, spi, seq, iv, packet, payload, nh] of cases) {
    const sa = { spi, flags: 0, esn: false, enc: { name: 'aes-cbc', key: hex(key) } };
    const opener = espOpener(sa, openssl);
    const sealer = espSealer(sa);
    assert.ok(!isUnsupported(opener) && !isUnsupported(sealer));
    const r = opener.open(hex(packet));
    assert.ok(r.ok, `seq ${seq}`);
    assert.deepEqual([r.nextHeader, r.seq, r.padOk, toHex(r.payload)], [nh, seq, true, payload]);
    assert.equal(toHex(sealer.seal(nh, hex(payload), seq, 0, hex(iv))), packet);
  }
});

test('FIPS 81 DES-CBC, run as 3DES EDE with K|K|K', () => {
  const c = plain('des-cbc', hex('0123456789abcdef'));
  const pt = ascii('Now is the time for all ');
  assert.equal(toHex(c.encrypt(hex('1234567890abcdef'), pt)), 'e5c7cdde872bf27c43e934008c389c0f683788499a7c05f6');
  assert.equal(toHex(c.decrypt(hex('1234567890abcdef'), hex('e5c7cdde872bf27c43e934008c389c0f683788499a7c05f6'))!), toHex(pt));
  // FIPS 81's ECB blocks: CBC with a zero IV over one block is ECB
  const ecb = ['3fa40e8a984d4815', '6a271787ab8883f9', '893d51ec4b563b53'];
  for (let i = 0; i < 3; i++) assert.equal(toHex(c.encrypt(new Uint8Array(8), pt.subarray(i * 8, i * 8 + 8))), ecb[i]);
});

test('SP 800-67 three-key TDEA and RFC 3713 Camellia (single blocks through CBC with a zero IV)', () => {
  const tdes = plain('3des-cbc', hex('0123456789abcdef23456789abcdef01456789abcdef0123'));
  const pt = ascii('The qufck brown fox jump');
  const ct = ['a826fd8ce53b855f', 'cce21c8112256fe6', '68d5c05dd9b6b900'];
  for (let i = 0; i < 3; i++) {
    assert.equal(toHex(tdes.encrypt(new Uint8Array(8), pt.subarray(i * 8, i * 8 + 8))), ct[i]);
    assert.equal(toHex(tdes.decrypt(new Uint8Array(8), hex(ct[i]!))!), toHex(pt.subarray(i * 8, i * 8 + 8)));
  }
  const camellia = [
    ['0123456789abcdeffedcba9876543210', '67673138549669730857065648eabe43'],
    ['0123456789abcdeffedcba98765432100011223344556677', 'b4993401b3e996f84ee5cee7d79b09b9'],
    ['0123456789abcdeffedcba987654321000112233445566778899aabbccddeeff', '9acc237dff16d76c20ef7c919e3a7509'],
  ];
  for (const [key, out] of camellia) {
    const c = plain('camellia-cbc', hex(key!));
    assert.equal(toHex(c.encrypt(new Uint8Array(16), hex('0123456789abcdeffedcba9876543210'))), out);
    assert.equal(toHex(c.decrypt(new Uint8Array(16), hex(out!))!), '0123456789abcdeffedcba9876543210');
  }
});

// [key, data, full digest]; RFC 2202 section 2 (MD5) and 3 (SHA-1)
const RFC2202_MD5 = [
  [rep(0x0b, 16), ascii('Hi There'), '9294727a3638bb1c13f48ef8158bfc9d'],
  [ascii('Jefe'), ascii('what do ya want for nothing?'), '750c783e6ab0b503eaa86e310a5db738'],
  [rep(0xaa, 16), rep(0xdd, 50), '56be34521d144c88dbb8c733f0e8b3f6'],
  [Uint8Array.from({ length: 25 }, (_, i) => i + 1), rep(0xcd, 50), '697eaf0aca3a3aea3a75164746ffaa79'],
  [rep(0x0c, 16), ascii('Test With Truncation'), '56461ef2342edc00f9bab995690efd4c'],
  [rep(0xaa, 80), ascii('Test Using Larger Than Block-Size Key - Hash Key First'), '6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd'],
  [rep(0xaa, 80), ascii('Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data'), '6f630fad67cda0ee1fb1f562db3aa53e'],
] as const;
const RFC2202_SHA1 = [
  [rep(0x0b, 20), ascii('Hi There'), 'b617318655057264e28bc0b6fb378c8ef146be00'],
  [ascii('Jefe'), ascii('what do ya want for nothing?'), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79'],
  [rep(0xaa, 20), rep(0xdd, 50), '125d7342b9ac11cd91a39af48aa17b4f63f175d3'],
  [Uint8Array.from({ length: 25 }, (_, i) => i + 1), rep(0xcd, 50), '4c9007f4026250c6bc8414f9bf50c86c2d7235da'],
  [rep(0x0c, 20), ascii('Test With Truncation'), '4c1a03424b55e07fe7f27be1d58bb9324a9a5a04'],
  [rep(0xaa, 80), ascii('Test Using Larger Than Block-Size Key - Hash Key First'), 'aa4ae5e15272d00e95705637ce8a3b55ed402112'],
  [rep(0xaa, 80), ascii('Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data'), 'e8e99d0f45237d786d6bbaa7965c7808bbff1a91'],
] as const;
// RFC 2286 section 2 (HMAC-RIPEMD160)
const RFC2286 = [
  [rep(0x0b, 20), ascii('Hi There'), '24cb4bd67d20fc1a5d2ed7732dcc39377f0a5668'],
  [ascii('Jefe'), ascii('what do ya want for nothing?'), 'dda6c0213a485a9e24f4742064a7f033b43c4069'],
  [rep(0xaa, 20), rep(0xdd, 50), 'b0b105360de759960ab4f35298e116e295d8e7c1'],
  [Uint8Array.from({ length: 25 }, (_, i) => i + 1), rep(0xcd, 50), 'd5ca862f4d21d5e610e18b4cf1beb97a4365ecf4'],
  [rep(0x0c, 20), ascii('Test With Truncation'), '7619693978f91d90539ae786500ff3d8e0518e39'],
  [rep(0xaa, 80), ascii('Test Using Larger Than Block-Size Key - Hash Key First'), '6466ca07ac5eac29e1bd523e5ada7605b791fd8b'],
  [rep(0xaa, 80), ascii('Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data'), '69ea60798d71616cce5fd0871e23754cd75d5a0a'],
] as const;

// RFC 4231 section 4: test cases 1-4, 6, 7 (case 5 checks a truncation these ICVs do not use)
const RFC4231_DATA = [
  [rep(0x0b, 20), ascii('Hi There')],
  [ascii('Jefe'), ascii('what do ya want for nothing?')],
  [rep(0xaa, 20), rep(0xdd, 50)],
  [Uint8Array.from({ length: 25 }, (_, i) => i + 1), rep(0xcd, 50)],
  [rep(0xaa, 131), ascii('Test Using Larger Than Block-Size Key - Hash Key First')],
  [rep(0xaa, 131), ascii('This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.')],
] as const;
const RFC4231: Record<string, readonly string[]> = {
  'hmac-sha256': [
    'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',
    '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b',
    '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
    '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
  ],
  'hmac-sha384': [
    'afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6',
    'af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649',
    '88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27',
    '3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb',
    '4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952',
    '6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e',
  ],
  'hmac-sha512': [
    '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854',
    '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
    'fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb',
    'b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd',
    '80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598',
    'e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58',
  ],
};

function checkMac(name: string, key: Uint8Array, data: Uint8Array, digest: string, icvBytes: number): void {
  const mac = makeMac(name, key, false, openssl);
  assert.ok(!isUnsupported(mac), name);
  assert.equal(toHex(mac.compute(data)), digest, `${name} ${toHex(data).slice(0, 16)}`);
  assert.equal(mac.icvLen, icvBytes);
  const icv = hex(digest).subarray(0, icvBytes);
  assert.ok(mac.verify(data, undefined, icv));
  const bad = Uint8Array.from(icv);
  bad[icvBytes - 1]! ^= 1;
  assert.equal(mac.verify(data, undefined, bad), false);
}

test('RFC 2202 HMAC-MD5 / HMAC-SHA-1 and RFC 2286 HMAC-RIPEMD160, truncated to 96 bits (RFC 2403/2404/2857)', () => {
  for (const [k, d, out] of RFC2202_MD5) checkMac('hmac-md5', k, d, out, 12);
  for (const [k, d, out] of RFC2202_SHA1) checkMac('hmac-sha1', k, d, out, 12);
  for (const [k, d, out] of RFC2286) checkMac('hmac-ripemd160', k, d, out, 12);
});

test("RFC 4231 HMAC-SHA-256/384/512 with the registry's ICV lengths (96 for hmac-sha256, RFC 4868 for the rest)", () => {
  const icv: Record<string, number> = { 'hmac-sha256': 12, 'hmac-sha384': 24, 'hmac-sha512': 32 };
  for (const [name, digests] of Object.entries(RFC4231)) {
    RFC4231_DATA.forEach(([k, d], i) => checkMac(name, k, d, digests[i]!, icv[name]!));
  }
  RFC4231_DATA.forEach(([k, d], i) => checkMac('hmac-sha256-128', k, d, RFC4231['hmac-sha256']![i]!, 16));
});

test('RFC 3566 section 4.6: AES-XCBC-MAC test cases 1-7 and the 96-bit ICV', () => {
  const key = hex('000102030405060708090a0b0c0d0e0f');
  const seq = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i);
  const cases: [Uint8Array, string][] = [
    [seq(0), '75f0251d528ac01c4573dfd584d79f29'],
    [seq(3), '5b376580ae2f19afe7219ceef172756f'],
    [seq(16), 'd2a246fa349b68a79998a4394ff7a263'],
    [seq(20), '47f51b4564966215b8985c63055ed308'],
    [seq(32), 'f54f0ec8d2b9f3d36807734bd5283fd4'],
    [seq(34), 'becbb3bccdb518a30677d5481fb6b4d8'],
    [new Uint8Array(1000), 'f0dafee895db30253761103b5d84528f'],
  ];
  for (const [msg, out] of cases) checkMac('aes-xcbc-mac', key, msg, out, 12);
  // the ESN tail is MACed as if appended to the message
  const mac = makeMac('aes-xcbc-mac', key, false, openssl);
  assert.ok(!isUnsupported(mac));
  assert.equal(toHex(mac.compute(seq(16), seq(20).subarray(16))), '47f51b4564966215b8985c63055ed308');
});

test("KAME keyed-md5/keyed-sha1 key block: key, 0x80, zeros, the key's bit length little-endian (ah_core.c)", () => {
  const p16 = keyedPrefix(rep(0x11, 16));
  assert.equal(p16.length, 64);
  assert.deepEqual([...p16.subarray(16, 18)], [0x80, 0]);
  assert.deepEqual([...p16.subarray(56)], [0x80, 0, 0, 0, 0, 0, 0, 0]);
  const p60 = keyedPrefix(rep(0x22, 60)); // 56 bytes or more of key spill into a second block
  assert.equal(p60.length, 128);
  assert.deepEqual([...p60.subarray(120)], [0xe0, 0x01, 0, 0, 0, 0, 0, 0]);
});

// draft-mcgrew-gcm-test-01 section 4: [key (no salt), SPI, seq (8 or 16 hex digits: ESN), nonce (salt || IV), plaintext, packet]
const GCM = [
  ['4c80cdefbb5d10da906ac73c3613a634', '8765432100000000', '2e443b684956ed7e3b244cfe',
    '45000048699a000080114db7c0a80102 c0a801010a9bf15638d3010000010000 00000000045f736970045f7564700373 69700963796265726369747902646b00 0021000101020201',
    '00004321000000004956ed7e3b244cfe fecf537e729d5b07dc30df528dd22b76 8d1b98736696a6fd348509fa13ceac34 cfa2436f14a3f3cf65925bf1f4a13c5d 15b21e1884f5ff6247aeabb786b93bce 61bc17d768fd9732459018148f6cbe72 2fd04796562dfdb4'],
  ['feffe9928665731c6d6a8f9467308308', '0000000a', 'cafebabefacedbaddecaf888',
    '4500003e698f000080114dccc0a80102 c0a801010a980035002a2343b2d00100 00010000000000000373697009637962 65726369747902646b00000100010001',
    '0000a5f80000000afacedbaddecaf888 deb22cd9b07c72c16e3a65beeb8df304 a5a5897d33ae530f1ba76d5d114d2a5c 3de81827c10e9a4f51330d0eec416642 cfbb85a5b47e48a4ec3b9ba95d918bd1 83b70d3aa8bc6ee4c309e9d85a41ad4a'],
  ['abbccddef00112233445566778899aababbccddef00112233445566778899aab', '00000002', '112233440102030405060708',
    '4500003069a6400080062690c0a80102 9389155e0a9e008b2dc57ee000000000 7002400020bf0000020405b401010402 01020201',
    '4a2cbfe3000000020102030405060708 ff425c9b724599df7a3bcd510194e00d 6a78107f1b0b1cbf06efae9d65a5d763 748a637985771d347f0545659f14e99d ef842d8eb335f4eecfdbf831824b4c49 15956c96'],
  ['00000000000000000000000000000000', '00000001', '000000000000000000000000',
    '4500003c99c500008001cb7a40679318 010101010800075c0200440061626364 65666768696a6b6c6d6e6f7071727374 75767761626364656667686901020201',
    '00000000000000010000000000000000 4688daf2f973a392732909c331d56d60 f694abaa414b5e7ff5fdcdfff5e9a284 456476492719ffb64de7d9dca1e1d894 bc3bd57873ed4d181d19d4d5c8c18af3 f821d496eeb096e98ad2b69e4799c71d'],
  ['3de09874b388e6491988d0c3607eae1f', '1010101010101010', '57690e434e280000a2fca1a3',
    '4500003c99c300008001cb7c40679318 010101010800085c0200430061626364 65666768696a6b6c6d6e6f7071727374 75767761626364656667686901020201',
    '42f67e3f101010104e280000a2fca1a3 fba2caa4853cf9f0f22cb10d86dd83b0 fec75691cf1a04b00d1138ec9c357917 65acbd8701ad79845bf9fe3fba487bc9 1755e6662b4c8d0d1f5e22739530320a e0d731cc978ecafaeae88f00e80d6e48'],
  ['3de09874b388e6491988d0c3607eae1f', '1010101010101010', '57690e434e280000a2fca1a3',
    '4500001c42a200008001441f406793b6 e00000020a00f5ff01020201',
    '42f67e3f101010104e280000a2fca1a3 fba2ca845e5df9f0f22c3e6e86dd831e 1fc65792cd1af9130e1379ed369f071f 35e034be95f112e4e7d05d35'],
  ['feffe9928665731c6d6a8f9467308308feffe9928665731c', '0000000a', 'cafebabefacedbaddecaf888',
    '45000028a4ad4000400678800a01038f 0a010612802306b8cb712602dd6bb03e 501016d075680001',
    '0000a5f80000000afacedbaddecaf888 a5b1f8066029aea40e598b8122de0242 0938b3ab33f828e687b8858b5bfbdbd0 315b27452144cc7795457b9652037f53 18027b5b4cd7a636'],
  ['abbccddef00112233445566778899aab', '0000000000000001', 'decaf888cafedebaceface74',
    '4500004933ba00007f119106c3fb1d10 c2b1d326c02831ce0035dd7b800302d5 00004e20001e8c18d75b81dc91baa047 6b91b924b280389d92c963bac046ec95 9b6266c04722b14923010101',
    '0000010000000001cafedebaceface74 18a6fd42f72cbf4ab2a2ea901f73d814 e3e7f243d95412e1c349c1d2fbec168f 9190feebaf2cb01984e65863965d7472 b79da345e0e780191f0d2f0e0f496c22 6f2127b27db35724e7845d68651f57e6 5f354f75ff17015769623436'],
  ['abbccddef00112233445566778899aababbccddef00112233445566778899aab', '156f3126dd0db99b', '73616c74616e640169766563',
    '45080028732c00004006e9f90a010612 0a01038f06b88023dd6bafbecb712602 50101f646d540001',
    '17405e67dd0db99b616e640169766563 f2d69ecdbd5a0d5b8d5ef38bad4da58d 1f278fde98ef67549d524a3018d9a57f f4d3a31ce673119e451626c2415771e3 b7eebca614c89b35'],
  ['3de09874b388e6491988d0c3607eae1f', '1010101010101010', '57690e434e280000a2fca1a3',
    '45000049333e00007f119182c3fb1d10 c2b1d326c02831ce0035cb458003025b 000001e0001e8c18d65759d52284a035 2c71475c8880391c764d6e5ee0496b32 5ae270c03899493915010101',
    '42f67e3f101010104e280000a2fca1a3 fba2cad12fc1f9f00d3cebf305410db8 3d7784b607323d220f24b0a97d541828 00cadb0f68d99ef0e0c0c89ae9bea888 4e52d65bc1afd0740f742444747b5b39 ab533163aad4550ee5160975cdb608c5 769189609763b8e18caa81e2'],
  ['abbccddef00112233445566778899aababbccddef00112233445566778899aab', '156f3126dd0db99b', '73616c74616e640169766563',
    '636973636f0172756c65730174686501 6e6574776501646566696e6501746865 746563686e6f6c6f6769657301746861 7477696c6c01646566696e65746f6d6f 72726f7701020201',
    '17405e67dd0db99b616e640169766563 d4b7ed86a1777f2ea13d6973d324c69e 7b43f826fb56831226508bebd2dceb18 d0a6df10e5487df074113e14c641024e 3e6773d91a62ee429b043a10e3efe6b0 12a49363412364f8c0cac587f249e56b 11e24f30e44ccc76'],
  ['7d773d00c144c525ac619d18c84a3f47', 'ffffffff', 'd966426743457e9182443bc6', '01020201',
    '335467aeffffffff43457e9182443bc6 437f866bcb3f699fe9b0822bac961c45 04bef270'],
  ['abbccddef00112233445566778899aab', '0000000000000001', 'decaf888cafedebaceface74',
    '746f016265016f72016e6f7401746f01 62650001',
    '0000010000000001cafedebaceface74 29c9fc69a197d038ccdd14e2ddfcaa05 43332164412503524303ed3c6c5f2838 43af8c3e'],
  ['6c6567616c697a656d6172696a75616e61616e64646f69746265666f72656961', 'ffffffffffffffff', '7475726e333021696765746d',
    '45000030da3a00008001df3bc0a80005 c0a800010800c6cd0200070061626364 65666768696a6b6c6d6e6f7071727374 01020201',
    '796b6963ffffffff333021696765746d f97ab2aa356d8edce17644ac8c78e25d d24dedbb29ebf1b64a274b39b49c3a86 4cd3d78ca4ae68a32b42458fb57dbe82 1dcc63b9d0937ba2945f669368661a32 9fb4c053'],
] as const;

/** Open `packet`, compare with the vector's plaintext, and seal it back to the same bytes. */
function checkAeadPacket(name: string, key: Uint8Array, esn: boolean, seqHigh: number, packet: Uint8Array, plaintext: Uint8Array): void {
  const spi = Buffer.from(packet).readUInt32BE(0);
  const sa = { spi, flags: 0, esn, enc: { name, key } };
  const opener = espOpener(sa, openssl);
  const sealer = espSealer(sa);
  assert.ok(!isUnsupported(opener) && !isUnsupported(sealer));
  const r = opener.open(packet, seqHigh);
  assert.ok(r.ok, `${name} spi ${spi.toString(16)}: ${r.ok ? '' : r.reason}`);
  const padLen = plaintext[plaintext.length - 2]!;
  assert.equal(toHex(r.payload), toHex(plaintext.subarray(0, plaintext.length - 2 - padLen)));
  assert.equal(r.nextHeader, plaintext[plaintext.length - 1]);
  assert.ok(r.padOk);
  assert.equal(toHex(sealer.seal(r.nextHeader, r.payload, r.seq, seqHigh, packet.subarray(8, 16))), toHex(packet));
  // a wrong ESN high half is an ICV failure (RFC 4106 section 5: it is in the AAD)
  if (esn) assert.deepEqual(opener.open(packet, (seqHigh + 1) >>> 0), { ok: false, reason: 'icv' });
  const flipped = Uint8Array.from(packet);
  flipped[flipped.length - 1]! ^= 0x80;
  assert.deepEqual(opener.open(flipped, seqHigh), { ok: false, reason: 'icv' });
}

test('draft-mcgrew-gcm-test-01: all 14 AES-GCM ESP packets open (ESN ones with their high half) and seal back byte for byte', () => {
  for (const [key, seq, nonce, pt, packet] of GCM) {
    const esn = seq.length === 16;
    const seqHigh = esn ? parseInt(seq.slice(0, 8), 16) : 0;
    checkAeadPacket('aes-gcm-16', hex(key + nonce.slice(0, 8)), esn, seqHigh, hex(packet), hex(pt));
  }
});

test('draft-mcgrew-gcm-test-01 AES-GMAC packet (as Linux testmgr carries it): RFC 4543 authenticates SPI, seq, IV and payload', () => {
  const payload = '45000030da3a00008001df3bc0a80005c0a800010800c6cd020007006162636465666768696a6b6c6d6e6f707172737401020201';
  const packet = hex(`00004321 00000007 0000000000000000 ${payload} f2a9a836e155106aa8dcd618e4099aaa`);
  checkAeadPacket('aes-gmac', hex('4c80cdefbb5d10da906ac73c3613a634 22433c64'), false, 0, packet, hex(payload));
});

test('RFC 7634 Appendix A: the ChaCha20-Poly1305 ESP packet', () => {
  const plaintext = `45 00 00 54 a6 f2 00 00 40 01 e7 78 c6 33 64 05 c0 00 02 05 08 00 5b 7a 3a 08 00 00 55 3b ec 10
    00 07 36 27 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 20 21 22 23
    24 25 26 27 28 29 2a 2b 2c 2d 2e 2f 30 31 32 33 34 35 36 37 01 02 02 04`;
  const ciphertext = `24 03 94 28 b9 7f 41 7e 3c 13 75 3a 4f 05 08 7b 67 c3 52 e6 a7 fa b1 b9 82 d4 66 ef 40 7a e5 c6
    14 ee 80 99 d5 28 44 eb 61 aa 95 df ab 4c 02 f7 2a a7 1e 7c 4c 4f 64 c9 be fe 2f ac c6 38 e8 f3
    cb ec 16 3f ac 46 9b 50 27 73 f6 fb 94 e6 64 da 91 65 b8 28 29 f6 41 e0`;
  const tag = '76 aa a8 26 6b 7f b0 f7 b1 1b 36 99 07 e1 ad 43';
  const key = `80 81 82 83 84 85 86 87 88 89 8a 8b 8c 8d 8e 8f 90 91 92 93 94 95 96 97 98 99 9a 9b 9c 9d 9e 9f a0 a1 a2 a3`;
  const packet = hex(`01 02 03 04 00 00 00 05 10 11 12 13 14 15 16 17 ${ciphertext} ${tag}`);
  checkAeadPacket('chacha20-poly1305', hex(key), false, 0, packet, hex(plaintext));
});

