// The crypto engine in Node: node:crypto (OpenSSL) for AES-GCM and ChaCha20-Poly1305, the two
// ciphers on the commit path (the key wrap of every new object, every peer and session frame).
// createCipheriv is synchronous: no thread-pool job and no promise per wrap, unlike WebCrypto,
// and several times faster than @noble in JavaScript for frames of a few hundred bytes. Same
// algorithms, same bytes: test/wire/crypto-engine-node.test.ts seals with each engine and opens
// with the other. Everything else stays CryptoEngine's (WebCrypto or @noble).
//
// Node only. Browsers keep CryptoEngine and NOBLE_CHACHA.

import {
  createCipheriv,
  createDecipheriv,
  type CipherChaCha20Poly1305,
  type CipherGCM,
  type CipherGCMTypes,
  type DecipherChaCha20Poly1305,
  type DecipherGCM,
} from 'node:crypto';
import {
  CHACHA_TAG_SIZE,
  CryptoEngine,
  GCM_TAG_SIZE,
  type ChaChaAead,
  type KeyBytes,
} from './crypto-engine.ts';

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
}
