// The write outcomes a node remembers by request id (exactly-once writes: a client's retry
// gets the original answer, docs/CLIENT.md), kept durably beside each checkpoint. Recovery
// rebuilds outcomes from the commits in the log, but the log starts at a checkpoint: without
// this blob a node would forget, at its next restart, the outcomes of writes committed before
// its last compaction — or, for a node that joined by live-sync, every outcome its donor gave
// it — and run a retried write a second time. Browser-safe.
//
// Format (metadata key REQUEST_OUTCOMES_KEY, docs/FORMATS.md "Request outcomes"), little-endian:
//   v2 (written): magic u32 "HSRO" | version u8 = 2 | 3 zero bytes | count u32
//                 | checkpoint sequence u64 | checkpoint SP u64 | checkpoint SPVV u16 | 2 zero bytes
//   v1 (read):    magic u32 "HSRO" | version u8 = 1 | 3 zero bytes | count u32
//   then count × ( request id 16 bytes | txid 8 bytes | code i32 )
//   SHA-256 of everything before it (32 bytes)
// Entries oldest first; a decoder refuses anything else whole (HsmError 37027). v2 names the
// checkpoint the blob was written for (its sequence, and the SP it records): recovery refuses
// a log whose newest checkpoint has no such blob, or another one (38316, recovery.ts).

import { sha256 } from '@noble/hashes/sha2.js';
import { CODE, HsmError } from '../core/codes.ts';
import { REQUEST_OUTCOMES_MAX, type Outcome } from '../protocol/replica.ts';
import type { Storage } from '../storage/storage.ts';
import type { Core } from '../core/core.ts';
import type { ChainPosition } from '../core/txlog.ts';
import type { Sha256Factory } from '../wire/crypto-engine.ts';
import { equalBytes } from '../wire/bytes.ts';
import {
  OUTCOME_ENTRY_SIZE,
  encodeOutcomeEntries,
  newestOutcomeEntries,
  readOutcomeEntries,
} from '../wire/outcome-entries.ts';

export const REQUEST_OUTCOMES_KEY = 'request-outcomes';
export const REQUEST_OUTCOMES_MAGIC = 0x4f525348; // "HSRO" little-endian
export const REQUEST_OUTCOMES_VERSION = 2;
/** The version before blobs named their checkpoint: still read. */
export const REQUEST_OUTCOMES_VERSION_1 = 1;
const HEADER_SIZE_V1 = 12;
const HEADER_SIZE = 32;
const CHECKSUM_SIZE = 32;

/** The checksum's SHA-256: noble's by default, node:crypto's in Node (`nodeSha256`).
 * Performance: at REQUEST_OUTCOMES_MAX outcomes the blob is 1.8 MB, 12 ms for noble's hash
 * warm (about 20 ms in a 1M join's profile) and 1.1 ms for node:crypto's, on a join's critical
 * path twice (written with the image, read when the node opens) and in every checkpoint. */
const nobleSha256: Sha256Factory = () => sha256.create();

function checksum(body: Uint8Array, hasher: Sha256Factory): Uint8Array {
  const hash = hasher();
  hash.update(body);
  return hash.digest();
}

/** The checkpoint a blob was written for: the CHECKPOINT entry's sequence and what it records. */
export interface OutcomesCheckpoint {
  readonly sequence: bigint;
  readonly sp: bigint;
  readonly spvv: number;
}

export interface RequestOutcomesBlob {
  readonly outcomes: [string, Outcome][];
  /** Absent in a version-1 blob (it named no checkpoint). */
  readonly checkpoint: OutcomesCheckpoint | undefined;
}

/** The newest REQUEST_OUTCOMES_MAX outcomes, oldest first, as the blob: version 2 naming
 * `checkpoint`, or version 1 without one (the old format, for tests of the reader). */
export function encodeRequestOutcomes(
  outcomes: Iterable<readonly [string, Outcome]>,
  checkpoint?: OutcomesCheckpoint,
  hasher: Sha256Factory = nobleSha256,
): Uint8Array {
  // A replica's map (bounded at REQUEST_OUTCOMES_MAX) is encoded as it is: spread into pairs
  // first, 65,536 of them at every checkpoint, the encode took twice as long (43 → 21 ms cold).
  const entries =
    outcomes instanceof Map && outcomes.size <= REQUEST_OUTCOMES_MAX
      ? encodeOutcomeEntries(outcomes as ReadonlyMap<string, Outcome>)
      : encodeOutcomeEntries([...outcomes].slice(-REQUEST_OUTCOMES_MAX));
  return encodeRequestOutcomeEntries(entries, checkpoint, hasher);
}

/** The blob of outcomes given as entries (wire/outcome-entries.ts, oldest first; the newest
 * REQUEST_OUTCOMES_MAX are kept), as `encodeRequestOutcomes` writes it: a live-sync joiner
 * writes what it received this way, with no object per outcome. RangeError if `entries` are
 * not whole entries. */
export function encodeRequestOutcomeEntries(
  entries: Uint8Array,
  checkpoint?: OutcomesCheckpoint,
  hasher: Sha256Factory = nobleSha256,
): Uint8Array {
  if (entries.length % OUTCOME_ENTRY_SIZE !== 0)
    throw new RangeError(`request outcomes: ${entries.length} bytes are no whole entries`);
  const kept = newestOutcomeEntries(entries, REQUEST_OUTCOMES_MAX);
  const header = checkpoint ? HEADER_SIZE : HEADER_SIZE_V1;
  const bytes = new Uint8Array(header + kept.length + CHECKSUM_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, REQUEST_OUTCOMES_MAGIC, true);
  bytes[4] = checkpoint ? REQUEST_OUTCOMES_VERSION : REQUEST_OUTCOMES_VERSION_1;
  view.setUint32(8, kept.length / OUTCOME_ENTRY_SIZE, true);
  if (checkpoint) {
    view.setBigUint64(12, checkpoint.sequence, true);
    view.setBigUint64(20, checkpoint.sp, true);
    view.setUint16(28, checkpoint.spvv, true);
  }
  bytes.set(kept, header);
  const body = bytes.subarray(0, bytes.length - CHECKSUM_SIZE);
  bytes.set(checksum(body, hasher), body.length);
  return bytes;
}

/** The outcomes of a blob, oldest first; HsmError 37027 if it is not one, whole and intact. */
export function decodeRequestOutcomes(bytes: Uint8Array): [string, Outcome][] {
  return decodeRequestOutcomesBlob(bytes).outcomes;
}

/** The outcomes and the checkpoint of a blob (version 1 or 2); HsmError 37027 if it is not one, whole and intact. */
export function decodeRequestOutcomesBlob(
  bytes: Uint8Array,
  hasher: Sha256Factory = nobleSha256,
): RequestOutcomesBlob {
  const refuse = (why: string): never => {
    throw new HsmError(
      CODE.CANNOT_LOAD_LOG,
      `request outcomes (meta/${REQUEST_OUTCOMES_KEY}): ${why}`,
    );
  };
  if (bytes.length < HEADER_SIZE_V1 + CHECKSUM_SIZE) refuse(`${bytes.length} bytes is too short`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== REQUEST_OUTCOMES_MAGIC) refuse('not a request-outcomes blob');
  const version = bytes[4];
  if (version !== REQUEST_OUTCOMES_VERSION && version !== REQUEST_OUTCOMES_VERSION_1)
    refuse(`version ${version}`);
  if (bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) refuse('reserved bytes are not zero');
  const count = view.getUint32(8, true);
  if (count > REQUEST_OUTCOMES_MAX) refuse(`${count} entries, at most ${REQUEST_OUTCOMES_MAX}`);
  const header = version === REQUEST_OUTCOMES_VERSION ? HEADER_SIZE : HEADER_SIZE_V1;
  if (bytes.length !== header + count * OUTCOME_ENTRY_SIZE + CHECKSUM_SIZE)
    refuse(`${bytes.length} bytes for ${count} entries`);
  const body = bytes.subarray(0, bytes.length - CHECKSUM_SIZE);
  if (!equalBytes(checksum(body, hasher), bytes.subarray(body.length))) refuse('checksum mismatch');
  let checkpoint: OutcomesCheckpoint | undefined;
  if (version === REQUEST_OUTCOMES_VERSION) {
    if (bytes.subarray(30, 32).some((b) => b !== 0)) refuse('reserved bytes are not zero');
    checkpoint = {
      sequence: view.getBigUint64(12, true),
      sp: view.getBigUint64(20, true),
      spvv: view.getUint16(28, true),
    };
  }
  return { outcomes: readOutcomeEntries(bytes, header, count), checkpoint };
}

/** The checkpoint `writeCheckpoint(core, storage, encoder)` is about to write (encoder.last: `last`). */
export function nextCheckpoint(core: Core, last: ChainPosition): OutcomesCheckpoint {
  const syncPoint = core.syncPoint();
  return { sequence: last.sequence + 1n, sp: syncPoint.sp, spvv: syncPoint.spvv };
}

/** Written right before the checkpoint it goes with (`checkpoint`: that CHECKPOINT entry's
 * sequence, and the store's SP and SPVV, which the entry will record). */
export async function saveRequestOutcomes(
  storage: Storage,
  outcomes: Iterable<readonly [string, Outcome]>,
  checkpoint: OutcomesCheckpoint,
): Promise<void> {
  await storage.writeMeta(REQUEST_OUTCOMES_KEY, encodeRequestOutcomes(outcomes, checkpoint));
}

/** The stored blob, decoded (undefined: there is none); HsmError 37027 if it is damaged. */
export async function readRequestOutcomes(
  storage: Storage,
  hasher?: Sha256Factory,
): Promise<RequestOutcomesBlob | undefined> {
  const bytes = await storage.readMeta(REQUEST_OUTCOMES_KEY);
  return bytes ? decodeRequestOutcomesBlob(bytes, hasher) : undefined;
}

export async function loadRequestOutcomes(storage: Storage): Promise<[string, Outcome][]> {
  return (await readRequestOutcomes(storage))?.outcomes ?? [];
}
