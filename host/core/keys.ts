// Keys derived from the pool master key (SVMK). Standard HKDF-SHA-256 so anyone holding the
// SVMK can recompute them (docs/SYNC_POINT.md).

import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { SP_KEY_SIZE } from './layout.ts';
import { utf8 } from './records.ts';

export const SVMK_SIZE = 32;

export function deriveKey(svmk: Uint8Array, purpose: string, length: number): Uint8Array {
  if (svmk.length !== SVMK_SIZE)
    throw new RangeError(`svmk: expected ${SVMK_SIZE} bytes, got ${svmk.length}`);
  return hkdf(sha256, svmk, utf8('hsmpool'), utf8(`hsmpool/${purpose}/v1`), length);
}

/** The 32-byte Sync-Point key: KR (bytes 0..15) and KF (bytes 16..31). */
export function deriveSyncPointKey(svmk: Uint8Array): Uint8Array {
  return deriveKey(svmk, 'sync-point', SP_KEY_SIZE);
}
