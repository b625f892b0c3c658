// Key material by type: how it is generated, what an import must look like, and the public
// key that goes with it. One canonical form per type — the form stored (wrapped), imported and
// exported:
//   aes-128/192/256 16/24/32 raw bytes · cmac-aes-128/256 16/32 · hmac-sha256/384/512 32/48/64
//   ec-p256/p384/p521/secp256k1 the big-endian secret scalar (32/48/66/32 bytes, 1 ≤ d < n)
//   ed25519 the 32-byte seed, ed448 the 57-byte seed (RFC 8032) · x25519 the 32-byte scalar
//   (RFC 7748, clamped when used) · rsa-2048/3072/4096 PKCS#8 DER (re-encoded as WebCrypto
//   exports it)
// Public keys: ECDSA uncompressed SEC1, Ed25519/X25519 32 bytes, Ed448 57 bytes, RSA SPKI DER.
// 3DES is not here: @noble/ciphers has no DES, and WebCrypto has none either.

import { CODE, HsmError } from '../core/codes.ts';
import type { KeyType } from '../core/records.ts';
import {
  ecdsaCurve,
  keyBytes,
  type CryptoEngine,
  type EcCurve,
  type HmacHash,
  type KeyBytes,
} from '../wire/crypto-engine.ts';

export type KeyFamily = 'cipher' | 'mac' | 'signature' | 'agreement';

/** What each type is: its family and the parameters of its one mechanism. */
interface TypeSpec {
  readonly family: KeyFamily;
  /** Bytes of the fixed-size forms (RSA's PKCS#8 varies by a few bytes). */
  readonly size?: number;
  readonly curve?: EcCurve;
  readonly rsaBits?: number;
  readonly hmac?: HmacHash;
  readonly cmac?: true;
  readonly edwards?: 'ed25519' | 'ed448';
}

export const KEY_SPEC: Readonly<Record<KeyType, TypeSpec>> = {
  'aes-128': { family: 'cipher', size: 16 },
  'aes-192': { family: 'cipher', size: 24 },
  'aes-256': { family: 'cipher', size: 32 },
  'hmac-sha256': { family: 'mac', size: 32, hmac: 'SHA-256' },
  'hmac-sha384': { family: 'mac', size: 48, hmac: 'SHA-384' },
  'hmac-sha512': { family: 'mac', size: 64, hmac: 'SHA-512' },
  'cmac-aes-128': { family: 'mac', size: 16, cmac: true },
  'cmac-aes-256': { family: 'mac', size: 32, cmac: true },
  'ec-p256': { family: 'signature', size: 32, curve: 'P-256' },
  'ec-p384': { family: 'signature', size: 48, curve: 'P-384' },
  'ec-p521': { family: 'signature', size: 66, curve: 'P-521' },
  'ec-secp256k1': { family: 'signature', size: 32, curve: 'secp256k1' },
  ed25519: { family: 'signature', size: 32, edwards: 'ed25519' },
  ed448: { family: 'signature', size: 57, edwards: 'ed448' },
  'rsa-2048': { family: 'signature', rsaBits: 2048 },
  'rsa-3072': { family: 'signature', rsaBits: 3072 },
  'rsa-4096': { family: 'signature', rsaBits: 4096 },
  x25519: { family: 'agreement', size: 32 },
};

export async function generateMaterial(
  engine: CryptoEngine,
  keyType: KeyType,
  randomBytes: (length: number) => Uint8Array,
): Promise<Uint8Array> {
  const spec = KEY_SPEC[keyType];
  if (spec.rsaBits) return engine.rsaGenerate(spec.rsaBits);
  if (spec.curve) {
    // noble reduces a longer seed modulo n (FIPS 186-5 A.2.1): no bias, never zero.
    const curve = ecdsaCurve(spec.curve);
    return curve.utils.randomSecretKey(randomBytes(curve.lengths.seed!));
  }
  return randomBytes(spec.size!);
}

/** An import in its canonical form; INVALID_KEY_MATERIAL if it is not a key of that type. */
export async function canonicalMaterial(
  engine: CryptoEngine,
  keyType: KeyType,
  material: Uint8Array,
): Promise<Uint8Array> {
  const invalid = (why: string): HsmError =>
    new HsmError(CODE.INVALID_KEY_MATERIAL, `${keyType}: ${why}`);
  const spec = KEY_SPEC[keyType];
  if (spec.rsaBits) {
    const canonical = await engine.rsaCanonical(material, spec.rsaBits);
    if (!canonical)
      throw invalid(`expected the PKCS#8 DER of an RSA key with a ${spec.rsaBits}-bit modulus`);
    return canonical;
  }
  const size = spec.size!;
  if (material.length !== size) throw invalid(`expected ${size} bytes, got ${material.length}`);
  if (spec.curve && !ecdsaCurve(spec.curve).utils.isValidSecretKey(material))
    throw invalid('the scalar must be in 1..n-1');
  return material.slice();
}

/** The key ready for operations: material plus its public key (computed once per load). */
export async function loadKey(
  engine: CryptoEngine,
  keyType: KeyType,
  material: Uint8Array,
): Promise<KeyBytes> {
  const spec = KEY_SPEC[keyType];
  if (spec.curve) return keyBytes(material, engine.ecdsaPublicKey(spec.curve, material));
  if (spec.edwards === 'ed25519') return keyBytes(material, engine.ed25519PublicKey(material));
  if (spec.edwards === 'ed448') return keyBytes(material, engine.ed448PublicKey(material));
  if (spec.rsaBits) return keyBytes(material, await engine.rsaPublicKey(material));
  if (keyType === 'x25519') return keyBytes(material, engine.x25519PublicKey(material));
  return keyBytes(material);
}
