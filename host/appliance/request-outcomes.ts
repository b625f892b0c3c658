// The write outcomes a node remembers by request id (exactly-once writes: a client's retry
// gets the original answer, docs/CLIENT.md), kept durably beside each checkpoint. Recovery
// rebuilds outcomes from the commits in the log, but the log starts at a checkpoint: without
// this blob a node would forget, at its next restart, the outcomes of writes committed before
// its last compaction — or, for a node that joined by live-sync, every outcome its donor gave
// it — and run a retried write a second time. Browser-safe.
//
// Format (metadata key REQUEST_OUTCOMES_KEY, docs/FORMATS.md "Request outcomes"), little-endian:
//   magic u32 "HSRO" | version u8 = 1 | 3 zero bytes | count u32
//   count × ( request id 16 bytes | txid 8 bytes | code i32 )
//   SHA-256 of everything before it (32 bytes)
// Entries oldest first; a decoder refuses anything else whole (HsmError 37027).

import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes } from '@noble/ciphers/utils.js';
import { HsmError } from '../core/codes.ts';
import type { Outcome } from '../protocol/replica.ts';
import { REQUEST_OUTCOMES_MAX } from '../protocol/replica.ts';
import type { Storage } from '../storage/storage.ts';

export const REQUEST_OUTCOMES_KEY = 'request-outcomes';
export const REQUEST_OUTCOMES_MAGIC = 0x4f525348; // "HSRO" little-endian
export const REQUEST_OUTCOMES_VERSION = 1;
const HEADER_SIZE = 12;
const ENTRY_SIZE = 28;
const CHECKSUM_SIZE = 32;
const CANNOT_LOAD_LOG = 37027;

const hex = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

function unhex(text: string, size: number, what: string): Uint8Array {
  if (text.length !== size * 2 || !/^[0-9a-f]*$/.test(text))
    throw new RangeError(`${what}: expected ${size * 2} lowercase hex digits`);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** The newest REQUEST_OUTCOMES_MAX outcomes, oldest first, as the blob. */
export function encodeRequestOutcomes(outcomes: Iterable<readonly [string, Outcome]>): Uint8Array {
  const entries = [...outcomes].slice(-REQUEST_OUTCOMES_MAX);
  const bytes = new Uint8Array(HEADER_SIZE + entries.length * ENTRY_SIZE + CHECKSUM_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, REQUEST_OUTCOMES_MAGIC, true);
  bytes[4] = REQUEST_OUTCOMES_VERSION;
  view.setUint32(8, entries.length, true);
  entries.forEach(([requestId, outcome], i) => {
    const at = HEADER_SIZE + i * ENTRY_SIZE;
    bytes.set(unhex(requestId, 16, 'requestId'), at);
    bytes.set(unhex(outcome.txid, 8, 'txid'), at + 16);
    view.setInt32(at + 24, outcome.code, true);
  });
  const body = bytes.subarray(0, bytes.length - CHECKSUM_SIZE);
  bytes.set(sha256(body), body.length);
  return bytes;
}

/** The outcomes of a blob, oldest first; HsmError 37027 if it is not one, whole and intact. */
export function decodeRequestOutcomes(bytes: Uint8Array): [string, Outcome][] {
  const refuse = (why: string): never => {
    throw new HsmError(CANNOT_LOAD_LOG, `request outcomes: ${why}`);
  };
  if (bytes.length < HEADER_SIZE + CHECKSUM_SIZE) refuse(`${bytes.length} bytes is too short`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== REQUEST_OUTCOMES_MAGIC) refuse('not a request-outcomes blob');
  if (bytes[4] !== REQUEST_OUTCOMES_VERSION) refuse(`version ${bytes[4]}`);
  if (bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) refuse('reserved bytes are not zero');
  const count = view.getUint32(8, true);
  if (count > REQUEST_OUTCOMES_MAX) refuse(`${count} entries, at most ${REQUEST_OUTCOMES_MAX}`);
  if (bytes.length !== HEADER_SIZE + count * ENTRY_SIZE + CHECKSUM_SIZE)
    refuse(`${bytes.length} bytes for ${count} entries`);
  const body = bytes.subarray(0, bytes.length - CHECKSUM_SIZE);
  if (!equalBytes(sha256(body), bytes.subarray(body.length))) refuse('checksum mismatch');
  const out: [string, Outcome][] = [];
  for (let i = 0; i < count; i++) {
    const at = HEADER_SIZE + i * ENTRY_SIZE;
    out.push([
      hex(bytes.subarray(at, at + 16)),
      { txid: hex(bytes.subarray(at + 16, at + 24)), code: view.getInt32(at + 24, true) },
    ]);
  }
  return out;
}

/** Written before the checkpoint that it goes with (an older blob with a newer log is fine:
 * outcomes never change, and the log's commits add the rest). */
export async function saveRequestOutcomes(
  storage: Storage,
  outcomes: Iterable<readonly [string, Outcome]>,
): Promise<void> {
  await storage.writeMeta(REQUEST_OUTCOMES_KEY, encodeRequestOutcomes(outcomes));
}

export async function loadRequestOutcomes(storage: Storage): Promise<[string, Outcome][]> {
  const bytes = await storage.readMeta(REQUEST_OUTCOMES_KEY);
  return bytes ? decodeRequestOutcomes(bytes) : [];
}
