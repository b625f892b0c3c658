// The crypto engine in Node: node:crypto (OpenSSL) for AES-GCM and ChaCha20-Poly1305, the two
// ciphers on the commit path (the key wrap of every new object, every peer and session frame),
// and for the reads clients ask most: ECDSA on the NIST curves, Ed25519, RSA and HMAC.
// createCipheriv and createHmac are synchronous: no thread-pool job and no promise per call,
// unlike WebCrypto, and several times faster than @noble in JavaScript for a few hundred bytes.
// Signatures and their checks run in node:crypto's thread pool (the callback form of sign and
// verify): like WebCrypto's jobs, they leave the main thread to the sockets and use the second
// core, but without WebCrypto's argument checking and CryptoKey wrappers per call
// (docs/PERFORMANCE.md, "Signing in node:crypto's thread pool"; signing on the main thread
// was measured too and lost throughput). Same algorithms, same bytes (an ECDSA nonce is OpenSSL's either
// way): test/wire/crypto-engine-node.test.ts seals and signs with each engine and opens and
// verifies with the other. Everything else stays CryptoEngine's (WebCrypto or @noble).
//
// Node only. Browsers keep CryptoEngine and NOBLE_CHACHA.

import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  sign,
  verify,
  type JsonWebKey as NodeJsonWebKey,
  type KeyObject,
  type SignKeyObjectInput,
  type VerifyKeyObjectInput,
  type CipherChaCha20Poly1305,
  type CipherGCM,
  type CipherGCMTypes,
  type DecipherChaCha20Poly1305,
  type DecipherGCM,
} from 'node:crypto';
import {
  CHACHA_TAG_SIZE,
  CryptoEngine,
  ED25519_PKCS8_PREFIX,
  GCM_TAG_SIZE,
  RSA_MODULUS_BITS,
  ecJwk,
  ecPublicJwk,
  ecdsaHash,
  ecdsaSignatureSize,
  isWebCurve,
  type ChaChaAead,
  type EcCurve,
  type HmacHash,
  type KeyBytes,
  type Sha256Hasher,
} from './crypto-engine.ts';
import { concatBytes, toBase64Url } from './bytes.ts';

const GCM_BY_KEY_SIZE: Readonly<Record<number, CipherGCMTypes>> = {
  16: 'aes-128-gcm',
  24: 'aes-192-gcm',
  32: 'aes-256-gcm',
};

type Sealer = CipherGCM | CipherChaCha20Poly1305;
type Opener = DecipherGCM | DecipherChaCha20Poly1305;

/** `headroom` zero bytes ‖ ciphertext ‖ tag, in a plain Uint8Array of its own (never a view
 * of a shared Buffer pool). */
function sealWith(cipher: Sealer, plaintext: Uint8Array, headroom = 0): Uint8Array {
  const body = cipher.update(plaintext);
  const rest = cipher.final(); // empty for these stream modes
  const tag = cipher.getAuthTag();
  const out = new Uint8Array(headroom + body.length + rest.length + tag.length);
  out.set(body, headroom);
  out.set(rest, headroom + body.length);
  out.set(tag, headroom + body.length + rest.length);
  return out;
}

function openWith(decipher: Opener, sealed: Uint8Array, tagSize: number): Uint8Array | undefined {
  const body = decipher.update(sealed.subarray(0, sealed.length - tagSize));
  try {
    decipher.final(); // throws when the tag does not verify
  } catch {
    return undefined;
  }
  return ownBytes(body);
}

/** node:crypto's incremental SHA-256 (the same digests as noble's, many times faster): what
 * Node passes where browser-safe code takes a `() => Sha256Hasher`. */
export function nodeSha256(): Sha256Hasher {
  const hash = createHash('sha256');
  return {
    update: (bytes) => void hash.update(bytes),
    digest: () => ownBytes(hash.digest()),
  };
}

/** `buffer`'s bytes as a plain Uint8Array of their own: its memory when the Buffer is alone in
 * it (a decipher's output is, and a live-sync chunk is 1 MiB: no copy of it), a copy when it is
 * a view into more (Node's shared pool of small Buffers). */
function ownBytes(buffer: Buffer): Uint8Array {
  return buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength
    ? new Uint8Array(buffer.buffer, 0, buffer.byteLength)
    : new Uint8Array(buffer);
}

export const NODE_CHACHA: ChaChaAead = {
  seal(key, nonce, aad, plaintext, headroom) {
    const cipher = createCipheriv('chacha20-poly1305', key, nonce, {
      authTagLength: CHACHA_TAG_SIZE,
    });
    cipher.setAAD(aad, { plaintextLength: plaintext.length });
    return sealWith(cipher, plaintext, headroom);
  },
  open(key, nonce, aad, sealed) {
    if (sealed.length < CHACHA_TAG_SIZE) return undefined;
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, {
      authTagLength: CHACHA_TAG_SIZE,
    });
    decipher.setAAD(aad, { plaintextLength: sealed.length - CHACHA_TAG_SIZE });
    decipher.setAuthTag(sealed.subarray(sealed.length - CHACHA_TAG_SIZE));
    return openWith(decipher, sealed, CHACHA_TAG_SIZE);
  },
};

/** node:crypto's name of each hash. */
const NODE_HASH: Readonly<Record<HmacHash, string>> = {
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
};

/** The KeyObjects made from each KeyBytes, by purpose: a JWK or DER import costs far more than a
 * signature, so each is made once, like CryptoEngine's CryptoKeys. Weak: a key the service's
 * cache drops takes its KeyObjects with it. */
const KEY_OBJECTS = new WeakMap<KeyBytes, Map<string, KeyObject>>();

/** A failed import throws and is not cached: the next call tries again. */
function keyObject(key: KeyBytes, purpose: string, make: () => KeyObject): KeyObject {
  let objects = KEY_OBJECTS.get(key);
  if (!objects) KEY_OBJECTS.set(key, (objects = new Map()));
  let made = objects.get(purpose);
  if (!made) objects.set(purpose, (made = make()));
  return made;
}

/** node:crypto's sign in its thread pool (the callback form): the main thread only hands the
 * job over, and on a node that is busy with its sockets a second core signs meanwhile. */
const signInPool = (
  algorithm: string | null,
  message: Uint8Array,
  key: KeyObject | SignKeyObjectInput,
): Promise<Uint8Array> =>
  new Promise((resolve, reject) =>
    sign(algorithm, message, key, (error, signature) =>
      error ? reject(error) : resolve(ownBytes(signature)),
    ),
  );

const verifyInPool = (
  algorithm: string | null,
  message: Uint8Array,
  key: KeyObject | VerifyKeyObjectInput,
  signature: Uint8Array,
): Promise<boolean> =>
  new Promise((resolve, reject) =>
    verify(algorithm, message, key, signature, (error, valid) =>
      error ? reject(error) : resolve(valid),
    ),
  );

/** The DOM's JsonWebKey and node:crypto's describe the same object. */
const nodeJwk = (jwk: JsonWebKey): NodeJsonWebKey => jwk as NodeJsonWebKey;

function gcmCipherName(key: KeyBytes): CipherGCMTypes {
  const name = GCM_BY_KEY_SIZE[key.material.length];
  if (!name) throw new RangeError(`AES-GCM key: 16, 24 or 32 bytes, got ${key.material.length}`);
  return name;
}

/** CryptoEngine with node:crypto's AES-GCM and ChaCha20-Poly1305. */
export class NodeCryptoEngine extends CryptoEngine {
  override readonly chacha: ChaChaAead = NODE_CHACHA;

  override async aesGcmSeal(
    key: KeyBytes,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    aad: Uint8Array,
  ): Promise<Uint8Array> {
    const cipher = createCipheriv(gcmCipherName(key), key.material, nonce, {
      authTagLength: GCM_TAG_SIZE,
    });
    cipher.setAAD(aad);
    return sealWith(cipher, plaintext);
  }

  override async aesGcmOpen(
    key: KeyBytes,
    nonce: Uint8Array,
    sealed: Uint8Array,
    aad: Uint8Array,
  ): Promise<Uint8Array | undefined> {
    if (sealed.length < GCM_TAG_SIZE) return undefined;
    try {
      const decipher = createDecipheriv(gcmCipherName(key), key.material, nonce, {
        authTagLength: GCM_TAG_SIZE,
      });
      decipher.setAAD(aad);
      decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_SIZE));
      return openWith(decipher, sealed, GCM_TAG_SIZE);
    } catch {
      return undefined;
    }
  }

  // ---- signatures in node:crypto's thread pool; MACs and hashes synchronous ----

  override async ecdsaSign(
    curve: EcCurve,
    key: KeyBytes,
    message: Uint8Array,
  ): Promise<Uint8Array> {
    if (!isWebCurve(curve)) return super.ecdsaSign(curve, key, message);
    const privateKey = keyObject(key, 'ecdsa-sign', () =>
      createPrivateKey({ key: nodeJwk(ecJwk(curve, key)), format: 'jwk' }),
    );
    return signInPool(NODE_HASH[ecdsaHash(curve)], message, {
      key: privateKey,
      dsaEncoding: 'ieee-p1363',
    });
  }

  override async ecdsaVerify(
    curve: EcCurve,
    key: KeyBytes,
    message: Uint8Array,
    signature: Uint8Array,
  ): Promise<boolean> {
    if (!isWebCurve(curve)) return super.ecdsaVerify(curve, key, message, signature);
    if (signature.length !== ecdsaSignatureSize(curve)) return false;
    const publicKey = keyObject(key, 'ecdsa-verify', () =>
      createPublicKey({ key: nodeJwk(ecPublicJwk(curve, key.publicKey!)), format: 'jwk' }),
    );
    return verifyInPool(
      NODE_HASH[ecdsaHash(curve)],
      message,
      { key: publicKey, dsaEncoding: 'ieee-p1363' },
      signature,
    );
  }

  override async ed25519Sign(key: KeyBytes, message: Uint8Array): Promise<Uint8Array> {
    const privateKey = keyObject(key, 'ed25519-sign', () =>
      createPrivateKey({
        key: Buffer.from(concatBytes(ED25519_PKCS8_PREFIX, key.material)),
        format: 'der',
        type: 'pkcs8',
      }),
    );
    return signInPool(null, message, privateKey);
  }

  override async ed25519Verify(
    key: KeyBytes,
    message: Uint8Array,
    signature: Uint8Array,
  ): Promise<boolean> {
    if (signature.length !== 64) return false;
    const publicKey = keyObject(key, 'ed25519-verify', () =>
      createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: toBase64Url(key.publicKey!) },
        format: 'jwk',
      }),
    );
    return verifyInPool(null, message, publicKey, signature);
  }

  /** RSASSA-PKCS1-v1_5 with SHA-256, node:crypto's default padding for an RSA key. */
  override async rsaSign(key: KeyBytes, message: Uint8Array): Promise<Uint8Array> {
    const privateKey = keyObject(key, 'rsa-sign', () =>
      createPrivateKey({ key: Buffer.from(key.material), format: 'der', type: 'pkcs8' }),
    );
    return signInPool('sha256', message, privateKey);
  }

  override async rsaVerify(
    key: KeyBytes,
    message: Uint8Array,
    signature: Uint8Array,
    modulusBits: number = RSA_MODULUS_BITS,
  ): Promise<boolean> {
    if (signature.length !== modulusBits / 8) return false;
    const publicKey = keyObject(key, 'rsa-verify', () =>
      createPublicKey({ key: Buffer.from(key.publicKey!), format: 'der', type: 'spki' }),
    );
    return verifyInPool('sha256', message, publicKey, signature);
  }

  /** node:crypto's SHA-256: a backup of 1M keys (94 MB) hashes in about 60 ms, not 0.5–0.9 s. */
  override sha256(): Sha256Hasher {
    return nodeSha256();
  }

  override async hmac(hash: HmacHash, key: KeyBytes, message: Uint8Array): Promise<Uint8Array> {
    return ownBytes(createHmac(NODE_HASH[hash], key.material).update(message).digest());
  }
}
