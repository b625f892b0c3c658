// The two places key material is encrypted. At rest and in replication: wrapped under
// deriveKey(svmk, 'key-wrap', 32) with AES-256-GCM, the object's name and type as associated
// data, so a wrapped key cannot be moved to another name or reinterpreted as another type.
// In transit between a client and a node: sealed under the SCRAM session key (scram.ts), with
// the purpose and its context (key name and type, or user name) as associated data, so a
// sealed export cannot be replayed as an import or a password.

import { CODE, HsmError } from '../core/codes.ts';
import { utf8, type KeyType } from '../core/records.ts';
import { GCM_NONCE_SIZE, GCM_TAG_SIZE, type CryptoEngine, type KeyBytes } from './crypto-engine.ts';
import { concatBytes } from './bytes.ts';

/** First byte of ObjectRecord.wrapped: the wrapping format (version, AES-256-GCM, 12-byte nonce). */
export const WRAP_FORMAT_VERSION = 1;
export const WRAP_OVERHEAD = 1 + GCM_NONCE_SIZE + GCM_TAG_SIZE;
export const SEAL_OVERHEAD = GCM_NONCE_SIZE + GCM_TAG_SIZE;

function objectContext(name: string, keyType: KeyType): Uint8Array {
  return utf8(`hsmpool/object-key/v1\0${name}\0${keyType}`);
}

export async function wrapObjectKey(
  engine: CryptoEngine,
  wrapKey: KeyBytes,
  name: string,
  keyType: KeyType,
  material: Uint8Array,
  nonce: Uint8Array,
): Promise<Uint8Array> {
  if (nonce.length !== GCM_NONCE_SIZE)
    throw new RangeError(`nonce: expected ${GCM_NONCE_SIZE} bytes`);
  const sealed = await engine.aesGcmSeal(wrapKey, nonce, material, objectContext(name, keyType));
  return concatBytes(Uint8Array.of(WRAP_FORMAT_VERSION), nonce, sealed);
}

/** The plaintext key of a stored object; KEY_UNWRAP_FAILED if it is not what this pool wrapped. */
export async function unwrapObjectKey(
  engine: CryptoEngine,
  wrapKey: KeyBytes,
  name: string,
  keyType: KeyType,
  wrapped: Uint8Array,
): Promise<Uint8Array> {
  const failed = new HsmError(CODE.KEY_UNWRAP_FAILED, `object '${name}'`);
  if (wrapped.length < WRAP_OVERHEAD || wrapped[0] !== WRAP_FORMAT_VERSION) throw failed;
  const nonce = wrapped.subarray(1, 1 + GCM_NONCE_SIZE);
  const material = await engine.aesGcmOpen(
    wrapKey,
    nonce,
    wrapped.subarray(1 + GCM_NONCE_SIZE),
    objectContext(name, keyType),
  );
  if (!material) throw failed;
  return material;
}

export type SealPurpose = 'key-import' | 'key-export' | 'password';

function sealContext(purpose: SealPurpose, context: string): Uint8Array {
  return utf8(`hsmpool/${purpose}/v1\0${context}`);
}

/** The context of a sealed key: its name and type. */
export const keyContext = (name: string, keyType: KeyType): string => `${name}\0${keyType}`;

/** nonce (12) || ciphertext || tag (16). */
export async function seal(
  engine: CryptoEngine,
  sessionKey: KeyBytes,
  purpose: SealPurpose,
  context: string,
  plaintext: Uint8Array,
  nonce: Uint8Array,
): Promise<Uint8Array> {
  if (nonce.length !== GCM_NONCE_SIZE)
    throw new RangeError(`nonce: expected ${GCM_NONCE_SIZE} bytes`);
  return concatBytes(
    nonce,
    await engine.aesGcmSeal(sessionKey, nonce, plaintext, sealContext(purpose, context)),
  );
}

/** Opens a sealed secret; DECRYPT_FAILED if it was not sealed for this session, purpose and context. */
export async function unseal(
  engine: CryptoEngine,
  sessionKey: KeyBytes,
  purpose: SealPurpose,
  context: string,
  sealed: Uint8Array,
): Promise<Uint8Array> {
  const opened =
    sealed.length < SEAL_OVERHEAD
      ? undefined
      : await engine.aesGcmOpen(
          sessionKey,
          sealed.subarray(0, GCM_NONCE_SIZE),
          sealed.subarray(GCM_NONCE_SIZE),
          sealContext(purpose, context),
        );
  if (!opened)
    throw new HsmError(
      CODE.DECRYPT_FAILED,
      `the sealed ${purpose} does not open under this session's key`,
    );
  return opened;
}
