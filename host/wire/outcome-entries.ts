// A remembered write outcome as bytes: request id 16 bytes | txid 8 bytes | code i32
// little-endian. One layout for the two places outcomes travel in bulk: the request-outcomes
// blob beside each checkpoint (log/request-outcomes.ts) and the live-sync outcomes frame
// (transport/live-sync-frame.ts). A live-sync carries its outcomes as these bytes from the
// donor's list to the joiner's blob: no object per outcome on the way (docs/LIVE_SYNC.md).
// Browser-safe.

import { hexAt } from './bytes.ts';
import type { TxId } from './ids.ts';

export const OUTCOME_ENTRY_SIZE = 28;

/** A write's outcome by request id (32 hex digits), so a retry anywhere gets the original answer. */
export interface RequestOutcome {
  readonly requestId: string;
  readonly txid: TxId;
  readonly code: number;
}

/** Writes `entry` at `at`; RangeError if an id is malformed (encoders check before). */
export function writeOutcomeEntry(bytes: Uint8Array, at: number, entry: RequestOutcome): void {
  writeEntry(bytes, at, entry.requestId, entry.txid, entry.code, '', 0);
}

/** A lowercase hex digit's value by character code, -1 for any other character below 128. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;

/** Checks and writes in one pass over the ids' digits (tens of thousands at a time). The
 * writes of one transaction share its txid: when `txid` is `lastTxid`, checked and written at
 * `lastAt`, its bytes are copied from there. */
function writeEntry(
  bytes: Uint8Array,
  at: number,
  requestId: string,
  txid: string,
  code: number,
  lastTxid: string,
  lastAt: number,
): void {
  if (!hexIdInto(bytes, at, requestId, 32))
    throw new RangeError('requestId: expected 32 lowercase hex digits');
  if (txid === lastTxid && lastTxid !== '')
    for (let i = 16; i < 24; i++) bytes[at + i] = bytes[lastAt + i];
  else if (!hexIdInto(bytes, at + 16, txid, 16))
    throw new RangeError('txid: expected 16 lowercase hex digits');
  bytes[at + 24] = code & 0xff;
  bytes[at + 25] = (code >>> 8) & 0xff;
  bytes[at + 26] = (code >>> 16) & 0xff;
  bytes[at + 27] = (code >>> 24) & 0xff;
}

/** Writes `hex`, exactly `digits` lowercase hex digits, as bytes at `at`; false (some bytes
 * written) if it is anything else. */
function hexIdInto(bytes: Uint8Array, at: number, hex: string, digits: number): boolean {
  if (typeof hex !== 'string' || hex.length !== digits) return false;
  let bad = 0;
  for (let i = 0; i < digits; i += 2) {
    const a = hex.charCodeAt(i);
    const b = hex.charCodeAt(i + 1);
    const high = a < 128 ? HEX_VALUE[a] : -1;
    const low = b < 128 ? HEX_VALUE[b] : -1;
    bad |= high | low; // negative once any digit was not one
    bytes[at + (i >> 1)] = (high << 4) | low;
  }
  return bad >= 0;
}

/** The entry at `at`; any 28 bytes are one (the ids are hex of their bytes). */
export function readOutcomeEntry(bytes: Uint8Array, at: number): RequestOutcome {
  return { requestId: hexAt(bytes, at, 16), txid: readTxId(bytes, at), code: readCode(bytes, at) };
}

/** The `count` entries from `at`, oldest first, as a replica remembers them (request id,
 * outcome): a request-outcomes blob is read this way, 65,536 of them at a node's start. */
export function readOutcomeEntries(
  bytes: Uint8Array,
  at: number,
  count: number,
): [string, Omit<RequestOutcome, 'requestId'>][] {
  const out: [string, Omit<RequestOutcome, 'requestId'>][] = new Array(count);
  // The writes of one transaction follow one another, with its txid and mostly one code: they
  // share the txid's text, and the outcome itself when the code is the same (it is immutable).
  let last: Omit<RequestOutcome, 'requestId'> | undefined;
  for (let i = 0; i < count; i++, at += OUTCOME_ENTRY_SIZE) {
    const code = readCode(bytes, at);
    let outcome: Omit<RequestOutcome, 'requestId'>;
    if (last === undefined || !sameTxId(bytes, at - OUTCOME_ENTRY_SIZE, at))
      outcome = { txid: readTxId(bytes, at), code };
    else outcome = last.code === code ? last : { txid: last.txid, code };
    out[i] = [hexAt(bytes, at, 16), outcome];
    last = outcome;
  }
  return out;
}

/** Whether the entries at `a` and `b` name the same transaction. */
function sameTxId(bytes: Uint8Array, a: number, b: number): boolean {
  for (let i = 16; i < 24; i++) if (bytes[a + i] !== bytes[b + i]) return false;
  return true;
}

const readTxId = (bytes: Uint8Array, at: number): TxId => hexAt(bytes, at + 16, 8) as TxId;

/** `|` yields an int32: the code's sign comes back. */
const readCode = (bytes: Uint8Array, at: number): number =>
  bytes[at + 24] | (bytes[at + 25] << 8) | (bytes[at + 26] << 16) | (bytes[at + 27] << 24);

/** The outcomes of `outcomes` (request id, outcome), in order, as one run of entries; RangeError
 * if an id is malformed. A live-sync donor takes its replica's list this way, at once. */
export function encodeOutcomeEntries(
  outcomes:
    | ReadonlyMap<string, Omit<RequestOutcome, 'requestId'>>
    | readonly (readonly [string, Omit<RequestOutcome, 'requestId'>])[],
): Uint8Array {
  const map = outcomes instanceof Map;
  const count = map ? outcomes.size : (outcomes as readonly unknown[]).length;
  const bytes = new Uint8Array(count * OUTCOME_ENTRY_SIZE);
  let at = 0;
  let lastTxid = '';
  const put = (requestId: string, txid: string, code: number): void => {
    writeEntry(bytes, at, requestId, txid, code, lastTxid, at - OUTCOME_ENTRY_SIZE);
    lastTxid = txid;
    at += OUTCOME_ENTRY_SIZE;
  };
  // forEach: no [key, value] pair made per entry, as a for-of over the map would.
  if (map) outcomes.forEach((outcome, requestId) => put(requestId, outcome.txid, outcome.code));
  else for (const [requestId, { txid, code }] of outcomes) put(requestId, txid, code);
  return bytes;
}

/** The most negative i32: no return code (they are within ±CODE_MAX, 2^31 - 1). */
const CODE_OUT_OF_RANGE = -0x80000000;

/** Whether `bytes` are whole entries whose codes are return codes (the same check a decoded
 * outcome passes: any 16 + 8 bytes are ids, and an i32 but -2^31 is within ±(2^31 - 1)). */
export function areOutcomeEntries(bytes: Uint8Array): boolean {
  if (bytes.length % OUTCOME_ENTRY_SIZE !== 0) return false;
  for (let at = 24; at < bytes.length; at += OUTCOME_ENTRY_SIZE)
    if (
      (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) ===
      CODE_OUT_OF_RANGE
    )
      return false;
  return true;
}

/** The newest `max` entries of `bytes` (whole entries, oldest first). */
export function newestOutcomeEntries(bytes: Uint8Array, max: number): Uint8Array {
  const keep = Math.min(bytes.length, max * OUTCOME_ENTRY_SIZE);
  return bytes.subarray(bytes.length - keep);
}
