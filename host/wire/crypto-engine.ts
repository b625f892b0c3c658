// The primitives the service runs, each on the faster of WebCrypto and @noble where both exist.
// bench/crypto.ts measured them side by side (bench/results/crypto.json: Node 20, 2-core Xeon
// shared with other work, best of 5 — read the ratios, not the absolutes). WebCrypto was
// faster for every asymmetric operation — ECDSA P-256 sign ×13, verify ×35; Ed25519 sign ×16,
// verify ×13; key generation ×4–6 — for PBKDF2 (×7) and for AES-256-GCM (×1.3 at 64 bytes to
// ×36 at 64 KiB; one point, decrypting 256 bytes, went to noble in one of three runs: noise),
// provided its CryptoKey is imported once and cached (an import costs 37 µs for AES, 0.4 ms for
// a P-256 JWK, 1 ms for an RSA PKCS#8), which KeyBytes does. HMAC-SHA-256 on short messages is
// the exception: WebCrypto's fixed cost per call loses (64 B ×2.4, 256 B ×2.7 for noble) and it
// wins from 1 KiB in all three runs, hence HMAC_WEBCRYPTO_FROM_BYTES. @noble also runs wherever
// WebCrypto is missing (a page on a non-secure origin has no crypto.subtle; some browsers lack
// Ed25519) and for what WebCrypto cannot do with injected randomness (keys from given bytes,
// public keys from secrets) or at all (scrypt). Key generation takes the injected randomness
// and noble's public-key derivation (about 1 ms, rare) over WebCrypto's faster generateKey,
// so tests can replay it. RSA has no pure fallback: without WebCrypto it is UNSUPPORTED_HERE.

//
// Round 2 families: P-384 and P-521 take the same WebCrypto-first path as P-256; AES-192 runs on
// noble (Chromium's WebCrypto refuses 192-bit AES keys); RSA-3072/4096 are RSA-2048 with a
// longer modulus; HMAC-SHA-384/512 are HMAC-SHA-256 with another hash. secp256k1, Ed448, X25519
// and AES-CMAC are @noble alone: WebCrypto has no secp256k1 or CMAC, and Ed448/X25519 are
// missing from most browsers' WebCrypto, so one path serves everywhere (and tests replay it).

import { cmac, gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { ed448 } from '@noble/curves/ed448.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hmac } from '@noble/hashes/hmac.js';
import { pbkdf2Async } from '@noble/hashes/pbkdf2.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { CODE, HsmError } from '../core/codes.ts';
import { concatBytes, toBase64Url } from './bytes.ts';

/** Key bytes plus the CryptoKeys imported from them, by purpose (imported once, then reused). */
export interface KeyBytes {
  /** The secret: a symmetric key, an EC scalar, an Ed25519 seed or an RSA PKCS#8. */
  readonly material: Uint8Array;
  /** ECDSA curves: uncompressed SEC1; Ed25519/X25519: 32 bytes; Ed448: 57 bytes; RSA: SPKI DER. */
  readonly publicKey?: Uint8Array;
  readonly webKeys: Map<string, Promise<CryptoKey>>;
}

/** WebCrypto takes ArrayBuffer-backed views; ours always are (no SharedArrayBuffer here). */
const source = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => bytes as Uint8Array<ArrayBuffer>;

export function keyBytes(material: Uint8Array, publicKey?: Uint8Array): KeyBytes {
  return { material, publicKey, webKeys: new Map() };
}

/** From this message size WebCrypto's HMAC is faster than noble's (bench/results/crypto.json). */
export const HMAC_WEBCRYPTO_FROM_BYTES = 1024;

export const GCM_NONCE_SIZE = 12;
export const GCM_TAG_SIZE = 16;
export const RSA_MODULUS_BITS = 2048;
const RSA_PUBLIC_EXPONENT = Uint8Array.from([1, 0, 1]);
const RSA_ALGORITHM = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
/** Chromium's WebCrypto has no 192-bit AES: those keys always take noble's GCM. */
const AES_192_KEY_SIZE = 24;

export type HmacHash = 'SHA-256' | 'SHA-384' | 'SHA-512';
const NOBLE_HASH = { 'SHA-256': sha256, 'SHA-384': sha384, 'SHA-512': sha512 } as const;

/** The ECDSA curves: each signs with its own hash (FIPS 186-5 pairing), signature r||s. */
export type EcCurve = 'P-256' | 'P-384' | 'P-521' | 'secp256k1';
interface CurveInfo {
  readonly noble: typeof p256;
  readonly hash: HmacHash;
  /** Bytes of a scalar or coordinate. */
  readonly size: number;
  /** WebCrypto knows the curve (it never knows secp256k1). */
  readonly web: boolean;
}
const CURVES: Readonly<Record<EcCurve, CurveInfo>> = {
  'P-256': { noble: p256, hash: 'SHA-256', size: 32, web: true },
  'P-384': { noble: p384, hash: 'SHA-384', size: 48, web: true },
  'P-521': { noble: p521, hash: 'SHA-512', size: 66, web: true },
  secp256k1: { noble: secp256k1, hash: 'SHA-256', size: 32, web: false },
};
export const ecdsaSignatureSize = (curve: EcCurve): number => 2 * CURVES[curve].size;
/** The hash a curve signs with. */
export const ecdsaHash = (curve: EcCurve): HmacHash => CURVES[curve].hash;
/** Whether WebCrypto (and so node:crypto's JWK import) knows the curve. */
export const isWebCurve = (curve: EcCurve): boolean => CURVES[curve].web;
export const ecdsaCurve = (curve: EcCurve): typeof p256 => CURVES[curve].noble;
/** RFC 8410: PKCS#8 of an Ed25519 seed is this 16-byte prefix and the seed. */
export const ED25519_PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

/** ChaCha20-Poly1305's tag. */
export const CHACHA_TAG_SIZE = 16;

/**
 * ChaCha20-Poly1305 (RFC 8439), 32-byte key, 12-byte nonce, 16-byte tag: what the peer link
 * and the session channel seal every frame with. Synchronous, so frames are sealed and opened
 * in exactly the order they cross a connection. NOBLE_CHACHA runs everywhere; Node entry
 * points pass crypto-engine.node.ts's NODE_CHACHA (node:crypto, the same bytes).
 */
export interface ChaChaAead {
  /** `headroom` zero bytes ‖ ciphertext ‖ tag: a caller that puts a header in front of the
   * sealed bytes writes it into the headroom instead of copying a whole frame behind it. */
  seal(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    headroom?: number,
  ): Uint8Array;
  /** The plaintext; undefined when the tag does not verify (or `sealed` is shorter than a tag). */
  open(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    sealed: Uint8Array,
  ): Uint8Array | undefined;
}

export const NOBLE_CHACHA: ChaChaAead = {
  seal: (key, nonce, aad, plaintext, headroom = 0) => {
    const out = new Uint8Array(headroom + plaintext.length + CHACHA_TAG_SIZE);
    chacha20poly1305(key, nonce, aad).encrypt(plaintext, out.subarray(headroom));
    return out;
  },
  open: (key, nonce, aad, sealed) => {
    try {
      return chacha20poly1305(key, nonce, aad).decrypt(sealed);
    } catch {
      return undefined;
    }
  },
};

/** SHA-256 over data given in parts (a backup file as it is made). */
export interface Sha256Hasher {
  update(bytes: Uint8Array): void;
  digest(): Uint8Array;
}

/** Where browser-safe code gets its SHA-256 when Node has a faster one to give (nodeSha256 in
 * crypto-engine.node.ts; noble's elsewhere). */
export type Sha256Factory = () => Sha256Hasher;

export interface CryptoEngineOptions {
  /** WebCrypto to use; null forces the pure-JavaScript paths. Default: globalThis.crypto.subtle. */
  readonly subtle?: SubtleCrypto | null;
}

export class CryptoEngine {
  readonly subtle: SubtleCrypto | undefined;
  /** The frame AEAD of the session channels this engine's service opens. */
  readonly chacha: ChaChaAead = NOBLE_CHACHA;
  /** Whether this WebCrypto has Ed25519; learned at first use. */
  private ed25519Native: boolean | undefined;

  constructor(options: CryptoEngineOptions = {}) {
    this.subtle =
      options.subtle === null ? undefined : (options.subtle ?? globalThis.crypto?.subtle);
  }

  private webKey(
    key: KeyBytes,
    purpose: string,
    make: (subtle: SubtleCrypto) => Promise<CryptoKey>,
  ): Promise<CryptoKey> {
    let imported = key.webKeys.get(purpose);
    if (!imported) {
      imported = make(this.subtle!);
      // A failed import is not cached: the next call tries again and reports its own error.
      imported.catch(() => key.webKeys.delete(purpose));
      key.webKeys.set(purpose, imported);
    }
    return imported;
  }

  /** An incremental SHA-256: @noble's here, node:crypto's in NodeCryptoEngine. */
  sha256(): Sha256Hasher {
    return sha256.create();
  }

  // ---- symmetric ----

  /** AES-GCM: ciphertext with its 16-byte tag appended. */
  async aesGcmSeal(
    key: KeyBytes,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    aad: Uint8Array,
  ): Promise<Uint8Array> {
    if (!this.subtle || key.material.length === AES_192_KEY_SIZE)
      return gcm(key.material, nonce, aad).encrypt(plaintext);
    const webKey = await this.webKey(key, 'aes-gcm', (subtle) =>
      subtle.importKey('raw', source(key.material), 'AES-GCM', false, ['encrypt', 'decrypt']),
    );
    return new Uint8Array(
      await this.subtle.encrypt(
        { name: 'AES-GCM', iv: source(nonce), additionalData: source(aad) },
        webKey,
        source(plaintext),
      ),
    );
  }

  /** AES-GCM open; undefined when the tag does not verify. */
  async aesGcmOpen(
    key: KeyBytes,
    nonce: Uint8Array,
    sealed: Uint8Array,
    aad: Uint8Array,
  ): Promise<Uint8Array | undefined> {
    if (sealed.length < GCM_TAG_SIZE) return undefined;
    try {
      if (!this.subtle || key.material.length === AES_192_KEY_SIZE)
        return gcm(key.material, nonce, aad).decrypt(sealed);
      const webKey = await this.webKey(key, 'aes-gcm', (subtle) =>
        subtle.importKey('raw', source(key.material), 'AES-GCM', false, ['encrypt', 'decrypt']),
      );
      return new Uint8Array(
        await this.subtle.decrypt(
          { name: 'AES-GCM', iv: source(nonce), additionalData: source(aad) },
          webKey,
          source(sealed),
        ),
      );
    } catch {
      return undefined;
    }
  }

  async hmac(hash: HmacHash, key: KeyBytes, message: Uint8Array): Promise<Uint8Array> {
    if (!this.subtle || message.length < HMAC_WEBCRYPTO_FROM_BYTES)
      return hmac(NOBLE_HASH[hash], key.material, message);
    const webKey = await this.webKey(key, 'hmac', (subtle) =>
      subtle.importKey('raw', source(key.material), { name: 'HMAC', hash }, false, ['sign']),
    );
    return new Uint8Array(await this.subtle.sign('HMAC', webKey, source(message)));
  }

  /** AES-CMAC (RFC 4493, NIST SP 800-38B): 16 bytes. WebCrypto has none. */
  cmac(key: KeyBytes, message: Uint8Array): Uint8Array {
    return cmac(message, key.material);
  }

  // ---- password hashing (SCRAM's SaltedPassword) ----

  async pbkdf2Sha256(
    password: Uint8Array,
    salt: Uint8Array,
    iterations: number,
  ): Promise<Uint8Array> {
    if (!this.subtle) return pbkdf2Async(sha256, password, salt, { c: iterations, dkLen: 32 });
    const base = await this.subtle.importKey('raw', source(password), 'PBKDF2', false, [
      'deriveBits',
    ]);
    return new Uint8Array(
      await this.subtle.deriveBits(
        { name: 'PBKDF2', hash: 'SHA-256', salt: source(salt), iterations },
        base,
        256,
      ),
    );
  }

  /** No WebCrypto scrypt exists: @noble's, yielding to the event loop while it runs. */
  scrypt(
    password: Uint8Array,
    salt: Uint8Array,
    log2N: number,
    r: number,
    p: number,
  ): Promise<Uint8Array> {
    return scryptAsync(password, salt, { N: 2 ** log2N, r, p, dkLen: 32, maxmem: 2 ** 31 });
  }

  // ---- ECDSA (message hashed with the curve's hash, signature r||s, IEEE P1363) ----

  async ecdsaSign(curve: EcCurve, key: KeyBytes, message: Uint8Array): Promise<Uint8Array> {
    const info = CURVES[curve];
    if (!this.subtle || !info.web) return info.noble.sign(message, key.material);
    const webKey = await this.webKey(key, 'ecdsa-sign', (subtle) =>
      subtle.importKey('jwk', ecJwk(curve, key), ecdsaAlgorithm(curve), false, ['sign']),
    );
    const algorithm = { name: 'ECDSA', hash: info.hash };
    return new Uint8Array(await this.subtle.sign(algorithm, webKey, source(message)));
  }

  /** Accepts high-S signatures too: WebCrypto does not normalise S when it signs. */
  async ecdsaVerify(
    curve: EcCurve,
    key: KeyBytes,
    message: Uint8Array,
    signature: Uint8Array,
  ): Promise<boolean> {
    const info = CURVES[curve];
    if (signature.length !== ecdsaSignatureSize(curve)) return false;
    if (!this.subtle || !info.web) {
      try {
        return info.noble.verify(signature, message, key.publicKey!, { lowS: false });
      } catch {
        return false; // r or s out of range: not a signature
      }
    }
    const webKey = await this.webKey(key, 'ecdsa-verify', (subtle) =>
      subtle.importKey('raw', source(key.publicKey!), ecdsaAlgorithm(curve), false, ['verify']),
    );
    const algorithm = { name: 'ECDSA', hash: info.hash };
    return this.subtle.verify(algorithm, webKey, source(signature), source(message));
  }

  ecdsaPublicKey(curve: EcCurve, scalar: Uint8Array): Uint8Array {
    return CURVES[curve].noble.getPublicKey(scalar, false);
  }

  // ---- Ed25519 (pure, RFC 8032; signature 64 bytes) ----

  private async hasNativeEd25519(): Promise<boolean> {
    if (!this.subtle) return false;
    if (this.ed25519Native === undefined) {
      try {
        await this.subtle.importKey(
          'raw',
          source(ed25519.getPublicKey(new Uint8Array(32))),
          'Ed25519',
          false,
          ['verify'],
        );
        this.ed25519Native = true;
      } catch {
        this.ed25519Native = false;
      }
    }
    return this.ed25519Native;
  }

  async ed25519Sign(key: KeyBytes, message: Uint8Array): Promise<Uint8Array> {
    if (!(await this.hasNativeEd25519())) return ed25519.sign(message, key.material);
    const webKey = await this.webKey(key, 'ed25519-sign', (subtle) =>
      subtle.importKey(
        'pkcs8',
        source(concatBytes(ED25519_PKCS8_PREFIX, key.material)),
        'Ed25519',
        false,
        ['sign'],
      ),
    );
    return new Uint8Array(await this.subtle!.sign('Ed25519', webKey, source(message)));
  }

  async ed25519Verify(key: KeyBytes, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (signature.length !== 64) return false;
    if (!(await this.hasNativeEd25519())) return ed25519.verify(signature, message, key.publicKey!);
    const webKey = await this.webKey(key, 'ed25519-verify', (subtle) =>
      subtle.importKey('raw', source(key.publicKey!), 'Ed25519', false, ['verify']),
    );
    return this.subtle!.verify('Ed25519', webKey, source(signature), source(message));
  }

  ed25519PublicKey(seed: Uint8Array): Uint8Array {
    return ed25519.getPublicKey(seed);
  }

  // ---- Ed448 (pure, RFC 8032; seed 57 bytes, signature 114 bytes; noble) ----

  ed448Sign(key: KeyBytes, message: Uint8Array): Uint8Array {
    return ed448.sign(message, key.material);
  }

  ed448Verify(key: KeyBytes, message: Uint8Array, signature: Uint8Array): boolean {
    if (signature.length !== 114) return false;
    try {
      return ed448.verify(signature, message, key.publicKey!);
    } catch {
      return false;
    }
  }

  ed448PublicKey(seed: Uint8Array): Uint8Array {
    return ed448.getPublicKey(seed);
  }

  // ---- X25519 (RFC 7748; noble) ----

  x25519PublicKey(secret: Uint8Array): Uint8Array {
    return x25519.getPublicKey(secret);
  }

  /** The shared secret with a peer's 32-byte public key; undefined for a bad or low-order point. */
  x25519Agree(key: KeyBytes, peerPublicKey: Uint8Array): Uint8Array | undefined {
    if (peerPublicKey.length !== 32) return undefined;
    try {
      return x25519.getSharedSecret(key.material, peerPublicKey);
    } catch {
      return undefined;
    }
  }

  // ---- RSA, RSASSA-PKCS1-v1_5 with SHA-256 (WebCrypto only; 2048, 3072 or 4096 bits) ----

  private requireSubtle(): SubtleCrypto {
    if (!this.subtle) throw new HsmError(CODE.UNSUPPORTED_HERE, 'RSA needs WebCrypto');
    return this.subtle;
  }

  /** A new key as PKCS#8 DER. WebCrypto draws its randomness itself: RSA keys are the one thing not from the injected generator. */
  async rsaGenerate(modulusBits: number = RSA_MODULUS_BITS): Promise<Uint8Array> {
    const subtle = this.requireSubtle();
    const algorithm = {
      ...RSA_ALGORITHM,
      modulusLength: modulusBits,
      publicExponent: source(RSA_PUBLIC_EXPONENT),
    };
    const pair = (await subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
    return new Uint8Array(await subtle.exportKey('pkcs8', pair.privateKey));
  }

  /** Re-encodes an imported PKCS#8 the way WebCrypto exports it; undefined if it is not an RSA key of that size. */
  async rsaCanonical(
    pkcs8: Uint8Array,
    modulusBits: number = RSA_MODULUS_BITS,
  ): Promise<Uint8Array | undefined> {
    const subtle = this.requireSubtle();
    try {
      const key = await subtle.importKey('pkcs8', source(pkcs8), RSA_ALGORITHM, true, ['sign']);
      if ((key.algorithm as RsaHashedKeyAlgorithm).modulusLength !== modulusBits) return undefined;
      return new Uint8Array(await subtle.exportKey('pkcs8', key));
    } catch {
      return undefined;
    }
  }

  /** The SPKI DER public key of a PKCS#8 private key. */
  async rsaPublicKey(pkcs8: Uint8Array): Promise<Uint8Array> {
    const subtle = this.requireSubtle();
    const privateKey = await subtle.importKey('pkcs8', source(pkcs8), RSA_ALGORITHM, true, [
      'sign',
    ]);
    const { n, e } = await subtle.exportKey('jwk', privateKey);
    const publicKey = await subtle.importKey(
      'jwk',
      { kty: 'RSA', n, e, alg: 'RS256' },
      RSA_ALGORITHM,
      true,
      ['verify'],
    );
    return new Uint8Array(await subtle.exportKey('spki', publicKey));
  }

  async rsaSign(key: KeyBytes, message: Uint8Array): Promise<Uint8Array> {
    const subtle = this.requireSubtle();
    const webKey = await this.webKey(key, 'rsa-sign', (s) =>
      s.importKey('pkcs8', source(key.material), RSA_ALGORITHM, false, ['sign']),
    );
    return new Uint8Array(await subtle.sign(RSA_ALGORITHM.name, webKey, source(message)));
  }

  async rsaVerify(
    key: KeyBytes,
    message: Uint8Array,
    signature: Uint8Array,
    modulusBits: number = RSA_MODULUS_BITS,
  ): Promise<boolean> {
    const subtle = this.requireSubtle();
    if (signature.length !== modulusBits / 8) return false;
    const webKey = await this.webKey(key, 'rsa-verify', (s) =>
      s.importKey('spki', source(key.publicKey!), RSA_ALGORITHM, false, ['verify']),
    );
    return subtle.verify(RSA_ALGORITHM.name, webKey, source(signature), source(message));
  }
}

const ecdsaAlgorithm = (curve: EcCurve): EcKeyImportParams => ({
  name: 'ECDSA',
  namedCurve: curve,
});

/** An ECDSA public key (uncompressed SEC1 point) as JWK. */
export function ecPublicJwk(curve: EcCurve, point: Uint8Array): JsonWebKey {
  const size = CURVES[curve].size;
  return {
    kty: 'EC',
    crv: curve,
    x: toBase64Url(point.subarray(1, 1 + size)),
    y: toBase64Url(point.subarray(1 + size, 1 + 2 * size)),
  };
}

/** An ECDSA private key as JWK: WebCrypto has no raw import of a bare scalar. */
export function ecJwk(curve: EcCurve, key: KeyBytes): JsonWebKey {
  return { ...ecPublicJwk(curve, key.publicKey!), d: toBase64Url(key.material), ext: false };
}
