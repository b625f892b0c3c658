// The operations a node serves locally (reads: nothing replicates). One mechanism per key type:
//   ec-p256   ECDSA with SHA-256 over the message; signature r||s (64 bytes, IEEE P1363)
//   ed25519   Ed25519 (pure) over the message; 64 bytes
//   rsa-2048  RSASSA-PKCS1-v1_5 with SHA-256 over the message; 256 bytes
//   aes-*     AES-GCM, a fresh 96-bit nonce from the node's random source per encryption;
//             ciphertext = nonce (12) || encrypted message || tag (16)
//   hmac-sha256  HMAC-SHA-256; 32 bytes

import { CODE, HsmError } from '../core/codes.ts';
import type { KeyType } from '../core/records.ts';
import {
  GCM_NONCE_SIZE,
  GCM_TAG_SIZE,
  type CryptoEngine,
  type KeyBytes,
} from '../wire/crypto-engine.ts';
import { concatBytes, constantTimeEqual } from '../wire/bytes.ts';
import { KEY_FAMILY, type KeyFamily } from './key-material.ts';

export function requireFamily(keyType: KeyType, family: KeyFamily, operation: string): void {
  if (KEY_FAMILY[keyType] !== family)
    throw new HsmError(CODE.WRONG_KEY_TYPE, `${operation} needs a ${family} key, not ${keyType}`);
}

export function sign(
  engine: CryptoEngine,
  keyType: KeyType,
  key: KeyBytes,
  message: Uint8Array,
): Promise<Uint8Array> {
  requireFamily(keyType, 'signature', 'sign');
  if (keyType === 'ec-p256') return engine.ecdsaSign(key, message);
  if (keyType === 'ed25519') return engine.ed25519Sign(key, message);
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
  if (keyType === 'ec-p256') return engine.ecdsaVerify(key, message, signature);
  if (keyType === 'ed25519') return engine.ed25519Verify(key, message, signature);
  return engine.rsaVerify(key, message, signature);
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
  return engine.hmacSha256(key, message);
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
