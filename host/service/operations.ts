// The operations a node serves locally (reads: nothing replicates). One mechanism per key type:
//   ec-p256, ec-secp256k1  ECDSA with SHA-256 over the message; signature r||s (64 bytes, P1363)
//   ec-p384   ECDSA with SHA-384; r||s, 96 bytes · ec-p521  ECDSA with SHA-512; r||s, 132 bytes
//   ed25519   Ed25519 (pure) over the message; 64 bytes · ed448  Ed448 (pure, empty context); 114
//   rsa-*     RSASSA-PKCS1-v1_5 with SHA-256 over the message; modulus-size bytes (256/384/512)
//   aes-*     AES-GCM, a fresh 96-bit nonce from the node's random source per encryption;
//             ciphertext = nonce (12) || encrypted message || tag (16)
//   hmac-sha256/384/512  HMAC with that hash; 32/48/64 bytes · cmac-aes-*  AES-CMAC; 16 bytes
//   x25519    key agreement only (agree below): the RFC 7748 shared secret, 32 bytes

import { CODE, HsmError } from '../core/codes.ts';
import type { KeyType } from '../core/records.ts';
import {
  GCM_NONCE_SIZE,
  GCM_TAG_SIZE,
  type CryptoEngine,
  type KeyBytes,
} from '../wire/crypto-engine.ts';
import { concatBytes, constantTimeEqual } from '../wire/bytes.ts';
import { KEY_SPEC, type KeyFamily } from './key-material.ts';

export function requireFamily(keyType: KeyType, family: KeyFamily, operation: string): void {
  if (KEY_SPEC[keyType].family !== family)
    throw new HsmError(CODE.WRONG_KEY_TYPE, `${operation} needs a ${family} key, not ${keyType}`);
}

export function sign(
  engine: CryptoEngine,
  keyType: KeyType,
  key: KeyBytes,
  message: Uint8Array,
): Promise<Uint8Array> {
  requireFamily(keyType, 'signature', 'sign');
  const spec = KEY_SPEC[keyType];
  if (spec.curve) return engine.ecdsaSign(spec.curve, key, message);
  if (spec.edwards === 'ed25519') return engine.ed25519Sign(key, message);
  if (spec.edwards === 'ed448') return Promise.resolve(engine.ed448Sign(key, message));
  return engine.rsaSign(key, message);
}

export function verify(
  engine: CryptoEngine,
  keyType: KeyType,
  key: KeyBytes,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  requireFamily(keyType, 'signature', 'verify');
  const spec = KEY_SPEC[keyType];
  if (spec.curve) return engine.ecdsaVerify(spec.curve, key, message, signature);
  if (spec.edwards === 'ed25519') return engine.ed25519Verify(key, message, signature);
  if (spec.edwards === 'ed448') return Promise.resolve(engine.ed448Verify(key, message, signature));
  return engine.rsaVerify(key, message, signature, spec.rsaBits);
}

export async function encrypt(
  engine: CryptoEngine,
  keyType: KeyType,
  key: KeyBytes,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Promise<Uint8Array> {
  requireFamily(keyType, 'cipher', 'encrypt');
  return concatBytes(nonce, await engine.aesGcmSeal(key, nonce, plaintext, aad));
}

export async function decrypt(
  engine: CryptoEngine,
  keyType: KeyType,
  key: KeyBytes,
  ciphertext: Uint8Array,
  aad: Uint8Array,
): Promise<Uint8Array> {
  requireFamily(keyType, 'cipher', 'decrypt');
  const opened =
    ciphertext.length < GCM_NONCE_SIZE + GCM_TAG_SIZE
      ? undefined
      : await engine.aesGcmOpen(
          key,
          ciphertext.subarray(0, GCM_NONCE_SIZE),
          ciphertext.subarray(GCM_NONCE_SIZE),
          aad,
        );
  if (!opened) throw new HsmError(CODE.DECRYPT_FAILED);
  return opened;
}

export function mac(
  engine: CryptoEngine,
  keyType: KeyType,
  key: KeyBytes,
  message: Uint8Array,
): Promise<Uint8Array> {
  requireFamily(keyType, 'mac', 'mac');
  const spec = KEY_SPEC[keyType];
  if (spec.cmac) return Promise.resolve(engine.cmac(key, message));
  return engine.hmac(spec.hmac!, key, message);
}

export async function macVerify(
  engine: CryptoEngine,
  keyType: KeyType,
  key: KeyBytes,
  message: Uint8Array,
  expected: Uint8Array,
): Promise<boolean> {
  return constantTimeEqual(await mac(engine, keyType, key, message), expected);
}

/** X25519: the shared secret with a peer's 32-byte public key; INVALID_KEY_MATERIAL for a bad point. */
export function agree(
  engine: CryptoEngine,
  keyType: KeyType,
  key: KeyBytes,
  peerPublicKey: Uint8Array,
): Uint8Array {
  requireFamily(keyType, 'agreement', 'agree');
  const secret = engine.x25519Agree(key, peerPublicKey);
  if (!secret)
    throw new HsmError(CODE.INVALID_KEY_MATERIAL, 'peer public key: not a usable X25519 point');
  return secret;
}
