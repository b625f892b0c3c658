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

import { gcm } from '@noble/ciphers/aes.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { hmac } from '@noble/hashes/hmac.js';
import { pbkdf2Async } from '@noble/hashes/pbkdf2.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { CODE, HsmError } from '../core/codes.ts';
import { concatBytes, toBase64Url } from './bytes.ts';

/** Key bytes plus the CryptoKeys imported from them, by purpose (imported once, then reused). */
export interface KeyBytes {
  /** The secret: a symmetric key, an EC scalar, an Ed25519 seed or an RSA PKCS#8. */
  readonly material: Uint8Array;
  /** P-256: uncompressed SEC1 (65 bytes); Ed25519: 32 bytes; RSA: SPKI DER. */
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
const ECDSA_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
/** RFC 8410: PKCS#8 of an Ed25519 seed is this 16-byte prefix and the seed. */
const ED25519_PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

export interface CryptoEngineOptions {
  /** WebCrypto to use; null forces the pure-JavaScript paths. Default: globalThis.crypto.subtle. */
  readonly subtle?: SubtleCrypto | null;
}

export class CryptoEngine {
  readonly subtle: SubtleCrypto | undefined;
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

  // ---- symmetric ----

  /** AES-GCM: ciphertext with its 16-byte tag appended. */
  async aesGcmSeal(
    key: KeyBytes,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    aad: Uint8Array,
  ): Promise<Uint8Array> {
    if (!this.subtle) return gcm(key.material, nonce, aad).encrypt(plaintext);
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
      if (!this.subtle) return gcm(key.material, nonce, aad).decrypt(sealed);
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

  async hmacSha256(key: KeyBytes, message: Uint8Array): Promise<Uint8Array> {
    if (!this.subtle || message.length < HMAC_WEBCRYPTO_FROM_BYTES)
      return hmac(sha256, key.material, message);
    const webKey = await this.webKey(key, 'hmac', (subtle) =>
      subtle.importKey('raw', source(key.material), { name: 'HMAC', hash: 'SHA-256' }, false, [
        'sign',
      ]),
    );
    return new Uint8Array(await this.subtle.sign('HMAC', webKey, source(message)));
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

  // ---- ECDSA P-256 (message hashed with SHA-256, signature r||s, 64 bytes) ----

  async ecdsaSign(key: KeyBytes, message: Uint8Array): Promise<Uint8Array> {
    if (!this.subtle) return p256.sign(message, key.material);
    const webKey = await this.webKey(key, 'ecdsa-sign', (subtle) =>
      subtle.importKey('jwk', ecJwk(key), ECDSA_ALGORITHM, false, ['sign']),
    );
    return new Uint8Array(await this.subtle.sign(ECDSA_SIGN, webKey, source(message)));
  }

  /** Accepts high-S signatures too: WebCrypto does not normalise S when it signs. */
  async ecdsaVerify(key: KeyBytes, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (signature.length !== 64) return false;
    if (!this.subtle) return p256.verify(signature, message, key.publicKey!, { lowS: false });
    const webKey = await this.webKey(key, 'ecdsa-verify', (subtle) =>
      subtle.importKey('raw', source(key.publicKey!), ECDSA_ALGORITHM, false, ['verify']),
    );
    return this.subtle.verify(ECDSA_SIGN, webKey, source(signature), source(message));
  }

  ecdsaPublicKey(scalar: Uint8Array): Uint8Array {
    return p256.getPublicKey(scalar, false);
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

  // ---- RSA-2048, RSASSA-PKCS1-v1_5 with SHA-256 (WebCrypto only) ----

  private requireSubtle(): SubtleCrypto {
    if (!this.subtle) throw new HsmError(CODE.UNSUPPORTED_HERE, 'RSA-2048 needs WebCrypto');
    return this.subtle;
  }

  /** A new key as PKCS#8 DER. WebCrypto draws its randomness itself: RSA keys are the one thing not from the injected generator. */
  async rsaGenerate(): Promise<Uint8Array> {
    const subtle = this.requireSubtle();
    const algorithm = {
      ...RSA_ALGORITHM,
      modulusLength: RSA_MODULUS_BITS,
      publicExponent: source(RSA_PUBLIC_EXPONENT),
    };
    const pair = (await subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
    return new Uint8Array(await subtle.exportKey('pkcs8', pair.privateKey));
  }

  /** Re-encodes an imported PKCS#8 the way WebCrypto exports it; undefined if it is not an RSA-2048 key. */
  async rsaCanonical(pkcs8: Uint8Array): Promise<Uint8Array | undefined> {
    const subtle = this.requireSubtle();
    try {
      const key = await subtle.importKey('pkcs8', source(pkcs8), RSA_ALGORITHM, true, ['sign']);
      if ((key.algorithm as RsaHashedKeyAlgorithm).modulusLength !== RSA_MODULUS_BITS)
        return undefined;
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

  async rsaVerify(key: KeyBytes, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    const subtle = this.requireSubtle();
    if (signature.length !== RSA_MODULUS_BITS / 8) return false;
    const webKey = await this.webKey(key, 'rsa-verify', (s) =>
      s.importKey('spki', source(key.publicKey!), RSA_ALGORITHM, false, ['verify']),
    );
    return subtle.verify(RSA_ALGORITHM.name, webKey, source(signature), source(message));
  }
}

/** A P-256 private key as JWK: WebCrypto has no raw import of a bare scalar. */
function ecJwk(key: KeyBytes): JsonWebKey {
  const point = key.publicKey!;
  return {
    kty: 'EC',
    crv: 'P-256',
    d: toBase64Url(key.material),
    x: toBase64Url(point.subarray(1, 33)),
    y: toBase64Url(point.subarray(33, 65)),
    ext: false,
  };
}
