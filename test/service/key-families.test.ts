// The key families added in round 2 (issue 15 item 6): AES-192, RSA-3072/4096, P-384, P-521,
// secp256k1, Ed448, X25519, AES-CMAC, HMAC-SHA-384/512. Each is generated and used through the
// service on WebCrypto and on the pure-JavaScript engine, checked by an independent
// implementation (node:crypto / OpenSSL, or noble where OpenSSL has no such mechanism), against
// published known answers (RFC 4231, RFC 4493 / SP 800-38B, RFC 8032, RFC 7748), imported and
// exported, and refused with WRONG_KEY_TYPE for an operation of another family. AES-192 runs
// with the other AES sizes, and wrong-shape material with the others, in keys.test.ts.
// 3DES is absent: @noble/ciphers has no DES (key-material.ts).

import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { CODE, HsmError } from '../../host/core/codes.ts';
import type { KeyType } from '../../host/core/records.ts';
import { KEY_SPEC } from '../../host/service/key-material.ts';
import { agree } from '../../host/service/operations.ts';
import { keyBytes } from '../../host/wire/crypto-engine.ts';
import { fromHex, toHex } from '../fixtures.ts';
import {
  ENGINES,
  bytes,
  decode64,
  encode64,
  expectSigner,
  generateFields,
  newNodeAdmin,
  rsaPkcs8,
  rsaVerifies,
  type Driver,
} from '../service-fixtures.ts';

const MESSAGE = bytes('the message to sign, encrypt and MAC');

async function make(driver: Driver, name: string, keyType: KeyType, material?: Uint8Array) {
  if (!material)
    return driver.call('key.generate', generateFields(name, keyType, { exportable: true }));
  return driver.call('key.import', await driver.importFields(name, keyType, material, true));
}

/** SPKI DER prefixes (RFC 8410) so node:crypto can check Edwards signatures independently. */
const ED448_SPKI_PREFIX = fromHex('3043300506032b6571033a00');

/** Verifies outside the service: OpenSSL for what it has, noble for secp256k1. */
function independentlyValid(keyType: KeyType, publicKey: Uint8Array, signature: Uint8Array) {
  const spec = KEY_SPEC[keyType];
  if (keyType === 'ec-secp256k1')
    return secp256k1.verify(signature, MESSAGE, publicKey, { lowS: false });
  if (spec.curve) {
    const jwkCurve = spec.curve;
    const size = (publicKey.length - 1) / 2;
    const key = createPublicKey({
      key: {
        kty: 'EC',
        crv: jwkCurve,
        x: Buffer.from(publicKey.subarray(1, 1 + size)).toString('base64url'),
        y: Buffer.from(publicKey.subarray(1 + size)).toString('base64url'),
      },
      format: 'jwk',
    });
    const hash = { 'P-256': 'sha256', 'P-384': 'sha384', 'P-521': 'sha512' }[jwkCurve as string];
    return nodeVerify(hash!, MESSAGE, { key, dsaEncoding: 'ieee-p1363' }, signature);
  }
  if (keyType === 'ed448') {
    const der = Buffer.concat([ED448_SPKI_PREFIX, publicKey]);
    return nodeVerify(
      null,
      MESSAGE,
      createPublicKey({ key: der, format: 'der', type: 'spki' }),
      signature,
    );
  }
  const key = createPublicKey({ key: Buffer.from(publicKey), format: 'der', type: 'spki' });
  return nodeVerify('sha256', MESSAGE, key, signature);
}

const SIGNATURE_SIZE: Partial<Record<KeyType, number>> = {
  'ec-p384': 96,
  'ec-p521': 132,
  'ec-secp256k1': 64,
  ed448: 114,
  'rsa-3072': 384,
  'rsa-4096': 512,
};

describe.each(ENGINES)('the round-2 families (%s)', (engineName, engine) => {
  const rsa: KeyType[] = engineName === 'WebCrypto' ? ['rsa-3072', 'rsa-4096'] : [];
  const signers: KeyType[] = ['ec-p384', 'ec-p521', 'ec-secp256k1', 'ed448', ...rsa];

  it.each(signers)('%s signs, verifies, and a third party agrees', async (keyType) => {
    const admin = await newNodeAdmin(1, engine);
    await make(admin, 'signer', keyType);
    const signature = await expectSigner(admin, 'signer', MESSAGE, (publicKey, signature) =>
      independentlyValid(keyType, publicKey, signature),
    );
    expect(signature.length).toBe(SIGNATURE_SIZE[keyType]);
  });

  // RFC 4231 test case 2 (key "Jefe"): HMAC zero-pads a key shorter than the hash's block, so
  // "Jefe" padded to the type's key size gives the published MAC.
  const hmacVectors: [KeyType, number, string][] = [
    [
      'hmac-sha384',
      48,
      'af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649',
    ],
    [
      'hmac-sha512',
      64,
      '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
    ],
  ];
  it.each(hmacVectors)('%s gives RFC 4231 test case 2', async (keyType, size, expected) => {
    const admin = await newNodeAdmin(1, engine);
    const key = new Uint8Array(size);
    key.set(bytes('Jefe'));
    await make(admin, 'mac-key', keyType, key);
    const message = encode64(bytes('what do ya want for nothing?'));
    const { mac } = await admin.call('mac', { name: 'mac-key', message });
    expect(decode64(mac)).toEqual(fromHex(expected));
    const long = encode64(new Uint8Array(4096).fill(0x61)); // WebCrypto's side of the threshold
    const longMac = (await admin.call('mac', { name: 'mac-key', message: long })).mac;
    expect(
      (await admin.call('mac.verify', { name: 'mac-key', message: long, mac: longMac })).valid,
    ).toBe(true);
    expect((await admin.call('mac.verify', { name: 'mac-key', message, mac: longMac })).valid).toBe(
      false,
    );
    expect(await admin.code('key.publicKey', { name: 'mac-key' })).toBe(CODE.WRONG_KEY_TYPE);
  });

  // RFC 4493 section 4 (AES-128) and NIST SP 800-38B D.3 (AES-256), examples 1 and 2.
  const cmacVectors: [KeyType, string, string, string][] = [
    [
      'cmac-aes-128',
      '2b7e151628aed2a6abf7158809cf4f3c',
      'bb1d6929e95937287fa37d129b756746',
      '070a16b46b4d4144f79bdd9dd04a287c',
    ],
    [
      'cmac-aes-256',
      '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4',
      '028962f61b7bf89efc6b551f4667d983',
      '28a7023f452e8f82bd4bf28d8c37c35c',
    ],
  ];
  it.each(cmacVectors)('%s gives the published CMACs', async (keyType, key, empty, oneBlock) => {
    const admin = await newNodeAdmin(1, engine);
    await make(admin, 'cmac', keyType, fromHex(key));
    const macOf = async (message: Uint8Array) =>
      toHex(decode64((await admin.call('mac', { name: 'cmac', message: encode64(message) })).mac));
    expect(await macOf(new Uint8Array(0))).toBe(empty);
    expect(await macOf(fromHex('6bc1bee22e409f96e93d7e117393172a'))).toBe(oneBlock);
    expect(await admin.code('encrypt', { name: 'cmac', plaintext: encode64(MESSAGE) })).toBe(
      CODE.WRONG_KEY_TYPE,
    );
  });

  it('ed448 gives RFC 8032 section 7.4 "blank" for its seed', async () => {
    const admin = await newNodeAdmin(1, engine);
    const seed = fromHex(
      '6c82a562cb808d10d632be89c8513ebf6c929f34ddfa8c9f63c9960ef6e348a3528c8a3fcc2f044e39a3fc5b94492f8f032e7549a20098f95b',
    );
    await make(admin, 'ed', 'ed448', seed);
    const { publicKey } = await admin.call('key.publicKey', { name: 'ed' });
    expect(toHex(decode64(publicKey))).toBe(
      '5fd7449b59b461fd2ce787ec616ad46a1da1342485a70e1f8a0ea75d80e96778edf124769b46c7061bd6783df1e50f6cd1fa1abeafe8256180',
    );
    const { signature } = await admin.call('sign', {
      name: 'ed',
      message: encode64(new Uint8Array(0)),
    });
    expect(toHex(decode64(signature))).toBe(
      '533a37f6bbe457251f023c0d88f976ae2dfb504a843e34d2074fd823d41a591f2b233f034f628281f2fd7a22ddd47d7828c59bd0a21bfd3980ff0d2028d4b18a9df63e006c5d1c2d345b925d8dc00b4104852db99ac5c7cdda8530a113a0f4dbb61149f05a7363268c71d95808ff2e652600',
    );
    expect(await admin.exported('ed', 'ed448')).toEqual(seed);
  });

  it('x25519 has a public key, agrees as in RFC 7748 section 6.1, and does nothing else', async () => {
    const admin = await newNodeAdmin(1, engine);
    const alice = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bobPublic = fromHex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    await make(admin, 'dh', 'x25519', alice);
    const { publicKey } = await admin.call('key.publicKey', { name: 'dh' });
    expect(toHex(decode64(publicKey))).toBe(
      '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    );
    const key = keyBytes(await admin.exported('dh', 'x25519'));
    expect(toHex(agree(engine, 'x25519', key, bobPublic))).toBe(
      '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
    );
    const badPoint = () => agree(engine, 'x25519', key, new Uint8Array(32)); // low order: all-zero secret
    expect(badPoint).toThrow(HsmError);
    expect(() => agree(engine, 'ed448', key, bobPublic)).toThrow(/agree needs/);
    for (const type of ['sign', 'mac'] as const)
      expect(await admin.code(type, { name: 'dh', message: encode64(MESSAGE) })).toBe(
        CODE.WRONG_KEY_TYPE,
      );
    await make(admin, 'dh2', 'x25519');
    const other = await admin.call('key.publicKey', { name: 'dh2' });
    const otherKey = keyBytes(await admin.exported('dh2', 'x25519'));
    expect(agree(engine, 'x25519', otherKey, decode64(publicKey))).toEqual(
      x25519.getSharedSecret(alice, decode64(other.publicKey)),
    );
  });
});

describe('import rules of the round-2 families', () => {
  it('imports an RSA-4096 PKCS#8 (larger than the old 2 KiB limit) and refuses it as RSA-3072', async () => {
    const { pair, pkcs8 } = await rsaPkcs8(4096);
    expect(pkcs8.length).toBeGreaterThan(2048);
    const admin = await newNodeAdmin();
    const importAs = async (keyType: KeyType, name: string) =>
      admin.code('key.import', await admin.importFields(name, keyType, pkcs8));
    expect(await importAs('rsa-3072', 'wrong')).toBe(CODE.INVALID_KEY_MATERIAL);
    expect(await importAs('rsa-4096', 'rsa')).toBe(CODE.OK);
    const { signature } = await admin.call('sign', { name: 'rsa', message: encode64(MESSAGE) });
    expect(await rsaVerifies(pair.publicKey, signature, MESSAGE)).toBe(true);
  });
});
