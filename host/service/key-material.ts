// Key material by type: how it is generated, what an import must look like, and the public
// key that goes with it. One canonical form per type — the form stored (wrapped), imported and
// exported:
//   aes-128 16 raw bytes · aes-256 32 · hmac-sha256 32
//   ec-p256 the 32-byte big-endian secret scalar (1 ≤ d < n) · ed25519 the 32-byte seed (RFC 8032)
//   rsa-2048 PKCS#8 DER (re-encoded the way WebCrypto exports it)
// Public keys: P-256 uncompressed SEC1 (65 bytes), Ed25519 32 bytes, RSA SPKI DER.

import { p256 } from '@noble/curves/nist.js';
import { CODE, HsmError } from '../core/codes.ts';
import type { KeyType } from '../core/records.ts';
import { keyBytes, type CryptoEngine, type KeyBytes } from '../wire/crypto-engine.ts';

export type KeyFamily = 'cipher' | 'mac' | 'signature';

export const KEY_FAMILY: Readonly<Record<KeyType, KeyFamily>> = {
  'aes-128': 'cipher',
  'aes-256': 'cipher',
  'hmac-sha256': 'mac',
  'ec-p256': 'signature',
  ed25519: 'signature',
  'rsa-2048': 'signature',
};

/** Sizes of the fixed-size forms (RSA's PKCS#8 varies by a few bytes). */
const FIXED_SIZE: Readonly<Partial<Record<KeyType, number>>> = {
  'aes-128': 16,
  'aes-256': 32,
  'hmac-sha256': 32,
  'ec-p256': 32,
  ed25519: 32,
};

/** noble reduces 48 random bytes modulo n (FIPS 186-5 A.2.1): no bias, never zero. */
const P256_SEED_SIZE = 48;

export async function generateMaterial(
  engine: CryptoEngine,
  keyType: KeyType,
  randomBytes: (length: number) => Uint8Array,
): Promise<Uint8Array> {
  if (keyType === 'rsa-2048') return engine.rsaGenerate();
  if (keyType === 'ec-p256') return p256.utils.randomSecretKey(randomBytes(P256_SEED_SIZE));
  return randomBytes(FIXED_SIZE[keyType]!);
}

/** An import in its canonical form; INVALID_KEY_MATERIAL if it is not a key of that type. */
export async function canonicalMaterial(
  engine: CryptoEngine,
  keyType: KeyType,
  material: Uint8Array,
): Promise<Uint8Array> {
  const invalid = (why: string): HsmError =>
    new HsmError(CODE.INVALID_KEY_MATERIAL, `${keyType}: ${why}`);
  if (keyType === 'rsa-2048') {
    const canonical = await engine.rsaCanonical(material);
    if (!canonical) throw invalid('expected the PKCS#8 DER of an RSA key with a 2048-bit modulus');
    return canonical;
  }
  const size = FIXED_SIZE[keyType]!;
  if (material.length !== size) throw invalid(`expected ${size} bytes, got ${material.length}`);
  if (keyType === 'ec-p256' && !p256.utils.isValidSecretKey(material))
    throw invalid('the scalar must be in 1..n-1');
  return material.slice();
}

/** The key ready for operations: material plus its public key (computed once per load). */
export async function loadKey(
  engine: CryptoEngine,
  keyType: KeyType,
  material: Uint8Array,
): Promise<KeyBytes> {
  switch (keyType) {
    case 'ec-p256':
      return keyBytes(material, engine.ecdsaPublicKey(material));
    case 'ed25519':
      return keyBytes(material, engine.ed25519PublicKey(material));
    case 'rsa-2048':
      return keyBytes(material, await engine.rsaPublicKey(material));
    default:
      return keyBytes(material);
  }
}
