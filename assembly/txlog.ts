// The transaction log entry: a fixed 112-byte header and a typed body (docs/FORMATS.md,
// "Transaction log"). The header carries a checksum of itself, a checksum of the body and
// the checksum of the previous entry's header, so the log is a hash chain: an entry proves
// its body and every entry before it. Checksums are assembly/checksum.ts (128 bits).
//
// The decoder never traps and reads only [pointer, pointer + available) — plus the 16 bytes
// of slack checksum.ts may read and ignore — and answers with a code naming the reason.
// The encoder (`sealEntry`) runs the same checks, so nothing is written that cannot be read.

import * as rc from './codes';
import { LOG_ENTRY_SIZE_MAX } from './limits';
import { checksum, checksumHi, checksumLo } from './checksum';
import { validateBody } from './txlog-body';

export const LOG_MAGIC: u32 = 0x474c5048; // the bytes "HPLG"
export const LOG_VERSION: u16 = 1;
export const LOG_HEADER_SIZE: u32 = 112;
/** The header checksum covers bytes [0, LOG_HEADER_CHECKED_SIZE) of the header. */
export const LOG_HEADER_CHECKED_SIZE: u32 = 96;
export const LOG_CHECKSUM_SIZE: u32 = 16;

// Header byte offsets.
export const H_MAGIC: u32 = 0; // u32
export const H_VERSION: u32 = 4; // u16
export const H_TYPE: u32 = 6; // u8
export const H_RESERVED_7: u32 = 7; // u8, zero
export const H_BODY_LENGTH: u32 = 8; // u32
export const H_RESERVED_12: u32 = 12; // u32, zero
export const H_POOL: u32 = 16; // u64
export const H_EPOCH: u32 = 24; // u64
export const H_SEQUENCE: u32 = 32; // u64
export const H_TRANSACTION: u32 = 40; // u64
export const H_BODY_CHECKSUM: u32 = 48; // 16 bytes
export const H_PARENT: u32 = 64; // 16 bytes: the previous entry's header checksum
export const H_RESERVED_80: u32 = 80; // 16 bytes, zero
export const H_HEADER_CHECKSUM: u32 = 96; // 16 bytes over [0, 96)

export const ENTRY_PREPARE: u8 = 1;
export const ENTRY_COMMIT: u8 = 2;
export const ENTRY_ABORT: u8 = 3;
export const ENTRY_NODE_ADDED: u8 = 4;
export const ENTRY_NODE_DOWN: u8 = 5;
export const ENTRY_EPOCH_RAISED: u8 = 6;
export const ENTRY_CHECKPOINT: u8 = 7;
export const ENTRY_TYPE_MAX: u8 = 7;

/** Longest body: an entry is at most LOG_ENTRY_SIZE_MAX bytes, header included. */
export const LOG_BODY_SIZE_MAX: u32 = LOG_ENTRY_SIZE_MAX - LOG_HEADER_SIZE;

/** Header checksum as computed now (not the stored one) into (checksumLo, checksumHi). */
function computeHeaderChecksum(entry: usize): void {
  checksum(entry, LOG_HEADER_CHECKED_SIZE);
}

export function headerChecksumMatches(entry: usize): bool {
  computeHeaderChecksum(entry);
  return checksumLo == load<u64>(entry, H_HEADER_CHECKSUM) && checksumHi == load<u64>(entry, H_HEADER_CHECKSUM + 8);
}

/**
 * True if a well-formed header (magic and header checksum; any version) starts at `entry`.
 * Every format version keeps the magic at 0, the version at 4 and the checksum of bytes
 * [0, 96) at 96, so a damaged header is told apart from an entry of another version.
 */
export function looksLikeHeader(entry: usize): bool {
  return load<u32>(entry, H_MAGIC) == LOG_MAGIC && headerChecksumMatches(entry);
}

function reservedHeaderBytesZero(entry: usize): bool {
  return load<u8>(entry, H_RESERVED_7) == 0 && load<u32>(entry, H_RESERVED_12) == 0
    && load<u64>(entry, H_RESERVED_80) == 0 && load<u64>(entry, H_RESERVED_80 + 8) == 0;
}

/** Every header check that does not involve a checksum, in the order the decoder reports them. */
function checkHeaderFields(entry: usize, poolId: u64, checkPool: bool): i32 {
  if (!reservedHeaderBytesZero(entry)) return rc.LOG_RESERVED_NOT_ZERO;
  const type = load<u8>(entry, H_TYPE);
  if (type < ENTRY_PREPARE || type > ENTRY_TYPE_MAX) return rc.LOG_BAD_TYPE;
  if (load<u32>(entry, H_BODY_LENGTH) > LOG_BODY_SIZE_MAX) return rc.LOG_OVERSIZE;
  if (checkPool && load<u64>(entry, H_POOL) != poolId) return rc.LOG_WRONG_POOL;
  return rc.OK;
}

/** Rules linking header fields to the type: sequence numbers start at 1, transactions have an id. */
function checkHeaderSemantics(entry: usize): i32 {
  const sequence = load<u64>(entry, H_SEQUENCE);
  if (sequence == 0) return rc.LOG_MALFORMED_BODY;
  const type = load<u8>(entry, H_TYPE);
  const isTransaction = type == ENTRY_PREPARE || type == ENTRY_COMMIT || type == ENTRY_ABORT;
  if (isTransaction && load<u64>(entry, H_TRANSACTION) == 0) return rc.LOG_MALFORMED_BODY;
  // The first entry a log ever had has no predecessor: its parent is zero.
  if (sequence == 1 && (load<u64>(entry, H_PARENT) != 0 || load<u64>(entry, H_PARENT + 8) != 0)) return rc.LOG_BROKEN_CHAIN;
  return rc.OK;
}

function bodyChecksumMatches(entry: usize, bodyLength: u32): bool {
  checksum(entry + LOG_HEADER_SIZE, bodyLength);
  return checksumLo == load<u64>(entry, H_BODY_CHECKSUM) && checksumHi == load<u64>(entry, H_BODY_CHECKSUM + 8);
}

function checkBody(entry: usize): i32 {
  return validateBody(
    load<u8>(entry, H_TYPE), entry + LOG_HEADER_SIZE, load<u32>(entry, H_BODY_LENGTH),
    load<u64>(entry, H_SEQUENCE), load<u64>(entry, H_EPOCH),
  );
}

/**
 * Checks the entry starting at `entry` with `available` readable bytes (more may follow).
 * Order: truncated header, magic, header checksum, version, reserved, type, oversize, pool,
 * truncated body, body checksum, body. The version is checked after the checksum: a torn
 * write can leave a right magic before a garbage version, never a matching checksum.
 * OK means a complete, self-consistent entry of LOG_HEADER_SIZE + body length bytes; the
 * chain is the caller's to check.
 */
export function checkEntry(entry: usize, available: u32, poolId: u64, checkPool: bool): i32 {
  if (available < LOG_HEADER_SIZE) return rc.LOG_TRUNCATED;
  if (load<u32>(entry, H_MAGIC) != LOG_MAGIC) return rc.LOG_BAD_MAGIC;
  if (!headerChecksumMatches(entry)) return rc.LOG_HEADER_CHECKSUM;
  if (load<u16>(entry, H_VERSION) != LOG_VERSION) return rc.LOG_UNKNOWN_VERSION;
  const fields = checkHeaderFields(entry, poolId, checkPool);
  if (fields != rc.OK) return fields;
  const bodyLength = load<u32>(entry, H_BODY_LENGTH);
  if (available - LOG_HEADER_SIZE < bodyLength) return rc.LOG_TRUNCATED;
  if (!bodyChecksumMatches(entry, bodyLength)) return rc.LOG_BODY_CHECKSUM;
  const semantics = checkHeaderSemantics(entry);
  if (semantics != rc.OK) return semantics;
  return checkBody(entry);
}

/** Length of the (checked) entry at `entry`. */
export function entryLength(entry: usize): u32 {
  return LOG_HEADER_SIZE + load<u32>(entry, H_BODY_LENGTH);
}

/**
 * Completes an entry the host laid out (header fields and body; checksums and parent left
 * for this): checks it as the decoder would, writes the body checksum, the parent (16 bytes
 * at `parent`) and the header checksum. The entry needs 16 bytes of slack after it.
 */
export function sealEntry(entry: usize, available: u32, parent: usize): i32 {
  if (available < LOG_HEADER_SIZE) return rc.LOG_TRUNCATED;
  if (load<u32>(entry, H_MAGIC) != LOG_MAGIC) return rc.LOG_BAD_MAGIC;
  if (load<u16>(entry, H_VERSION) != LOG_VERSION) return rc.LOG_UNKNOWN_VERSION;
  const fields = checkHeaderFields(entry, 0, false);
  if (fields != rc.OK) return fields;
  const bodyLength = load<u32>(entry, H_BODY_LENGTH);
  if (available - LOG_HEADER_SIZE < bodyLength) return rc.LOG_TRUNCATED;
  store<u64>(entry, load<u64>(parent), H_PARENT);
  store<u64>(entry, load<u64>(parent, 8), H_PARENT + 8);
  const semantics = checkHeaderSemantics(entry);
  if (semantics != rc.OK) return semantics;
  const body = checkBody(entry);
  if (body != rc.OK) return body;
  checksum(entry + LOG_HEADER_SIZE, bodyLength);
  store<u64>(entry, checksumLo, H_BODY_CHECKSUM);
  store<u64>(entry, checksumHi, H_BODY_CHECKSUM + 8);
  computeHeaderChecksum(entry);
  store<u64>(entry, checksumLo, H_HEADER_CHECKSUM);
  store<u64>(entry, checksumHi, H_HEADER_CHECKSUM + 8);
  return rc.OK;
}
