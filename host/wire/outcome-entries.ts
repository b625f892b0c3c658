// A remembered write outcome as bytes: request id 16 bytes | txid 8 bytes | code i32
// little-endian. One layout for the two places outcomes travel in bulk: the request-outcomes
// blob beside each checkpoint (log/request-outcomes.ts) and the live-sync outcomes frame
// (transport/live-sync-frame.ts). Browser-safe.

import { hexInto } from './bytes.ts';
import { isRequestId, isTxId, requestIdOf, txIdOf, type TxId } from './ids.ts';

export const OUTCOME_ENTRY_SIZE = 28;

/** A write's outcome by request id (32 hex digits), so a retry anywhere gets the original answer. */
export interface RequestOutcome {
  readonly requestId: string;
  readonly txid: TxId;
  readonly code: number;
}

/** Writes `entry` at `at`; RangeError if an id is malformed (encoders check before). */
export function writeOutcomeEntry(bytes: Uint8Array, at: number, entry: RequestOutcome): void {
  if (!isRequestId(entry.requestId))
    throw new RangeError('requestId: expected 32 lowercase hex digits');
  if (!isTxId(entry.txid)) throw new RangeError('txid: expected 16 lowercase hex digits');
  hexInto(bytes, at, entry.requestId);
  hexInto(bytes, at + 16, entry.txid);
  for (let i = 0; i < 4; i++) bytes[at + 24 + i] = (entry.code >>> (8 * i)) & 0xff;
}

/** The entry at `at`; any 28 bytes are one (the ids are hex of their bytes). */
export function readOutcomeEntry(bytes: Uint8Array, at: number): RequestOutcome {
  return {
    requestId: requestIdOf(bytes.subarray(at, at + 16)),
    txid: txIdOf(bytes.subarray(at + 16, at + 24)),
    // `|` yields an int32: the code's sign comes back.
    code: bytes[at + 24] | (bytes[at + 25] << 8) | (bytes[at + 26] << 16) | (bytes[at + 27] << 24),
  };
}
