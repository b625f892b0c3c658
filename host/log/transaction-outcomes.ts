// The transaction outcomes a node remembers (txid → committed or aborted: what answers a late
// or duplicate PREPARE, vote or decision), kept durably beside each checkpoint. Recovery
// rebuilds outcomes from the log, but compaction drops the log before the older kept
// checkpoint: without this blob a node that voted no on a transaction (its ABORT entry) forgot
// it at its next restart once that entry was compacted away, and prepared the same
// transaction when its coordinator, restarted with it pending, sent the PREPARE again — a
// transaction aborted and then committed on one node (found by the simulator once its seeds
// drew small checkpoints). Browser-safe.
//
// Format (metadata key TRANSACTION_OUTCOMES_KEY, docs/FORMATS.md "Transaction outcomes"),
// little-endian:
//   magic u32 "HSTO" | version u8 = 1 | 3 zero bytes | count u32
//   count × ( transaction id u64 | outcome u8 (1 committed, 0 aborted) | 7 zero bytes )
//   SHA-256 of everything before it (32 bytes)
// Entries oldest first; a decoder refuses anything else whole (HsmError 37027).

import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes } from '../wire/bytes.ts';
import { isTxId, txIdOfNumber, type TxId } from '../wire/ids.ts';
import { CODE, HsmError } from '../core/codes.ts';
import { OUTCOMES_MAX } from '../protocol/replica.ts';
import type { Storage } from '../storage/storage.ts';

export const TRANSACTION_OUTCOMES_KEY = 'transaction-outcomes';
export const TRANSACTION_OUTCOMES_MAGIC = 0x4f545348; // "HSTO" little-endian
export const TRANSACTION_OUTCOMES_VERSION = 1;
const HEADER_SIZE = 12;
const ENTRY_SIZE = 16;
const CHECKSUM_SIZE = 32;

/** The newest OUTCOMES_MAX outcomes (txid as 16 hex digits), oldest first, as the blob. */
export function encodeTransactionOutcomes(
  outcomes: Iterable<readonly [string, boolean]>,
): Uint8Array {
  const entries = [...outcomes].slice(-OUTCOMES_MAX);
  const bytes = new Uint8Array(HEADER_SIZE + entries.length * ENTRY_SIZE + CHECKSUM_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, TRANSACTION_OUTCOMES_MAGIC, true);
  bytes[4] = TRANSACTION_OUTCOMES_VERSION;
  view.setUint32(8, entries.length, true);
  entries.forEach(([txid, committed], i) => {
    if (!isTxId(txid)) throw new RangeError('txid: expected 16 lowercase hex digits');
    const at = HEADER_SIZE + i * ENTRY_SIZE;
    view.setBigUint64(at, BigInt(`0x${txid}`), true);
    bytes[at + 8] = committed ? 1 : 0;
  });
  const body = bytes.subarray(0, bytes.length - CHECKSUM_SIZE);
  bytes.set(sha256(body), body.length);
  return bytes;
}

/** The outcomes of a blob, oldest first; HsmError 37027 if it is not one, whole and intact. */
export function decodeTransactionOutcomes(bytes: Uint8Array): [TxId, boolean][] {
  const refuse = (why: string): never => {
    throw new HsmError(CODE.CANNOT_LOAD_LOG, `transaction outcomes: ${why}`);
  };
  if (bytes.length < HEADER_SIZE + CHECKSUM_SIZE) refuse(`${bytes.length} bytes is too short`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== TRANSACTION_OUTCOMES_MAGIC)
    refuse('not a transaction-outcomes blob');
  if (bytes[4] !== TRANSACTION_OUTCOMES_VERSION) refuse(`version ${bytes[4]}`);
  if (bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) refuse('reserved bytes are not zero');
  const count = view.getUint32(8, true);
  if (count > OUTCOMES_MAX) refuse(`${count} entries, at most ${OUTCOMES_MAX}`);
  if (bytes.length !== HEADER_SIZE + count * ENTRY_SIZE + CHECKSUM_SIZE)
    refuse(`${bytes.length} bytes for ${count} entries`);
  const body = bytes.subarray(0, bytes.length - CHECKSUM_SIZE);
  if (!equalBytes(sha256(body), bytes.subarray(body.length))) refuse('checksum mismatch');
  const out: [TxId, boolean][] = [];
  for (let i = 0; i < count; i++) {
    const at = HEADER_SIZE + i * ENTRY_SIZE;
    const outcome = bytes[at + 8];
    if (outcome > 1) refuse(`entry ${i}: outcome ${outcome}`);
    for (let j = 9; j < ENTRY_SIZE; j++)
      if (bytes[at + j] !== 0) refuse(`entry ${i}: reserved bytes are not zero`);
    out.push([txIdOfNumber(view.getBigUint64(at, true)), outcome === 1]);
  }
  return out;
}

export async function loadTransactionOutcomes(storage: Storage): Promise<[TxId, boolean][]> {
  const bytes = await storage.readMeta(TRANSACTION_OUTCOMES_KEY);
  return bytes ? decodeTransactionOutcomes(bytes) : [];
}
