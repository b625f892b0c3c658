// Validation of log entry bodies, one function per entry type (layouts in docs/FORMATS.md,
// "Transaction log"). Every read is bounded by the body length: `length - at < need` with
// at <= length throughout, so no u32 sum can wrap. A body must be exactly as long as its
// fields: trailing bytes are malformed, so each entry has one encoding.

import * as rc from './codes';
import { validName } from './codec';
import { validateBatch, EVENT_TYPE_MAX } from './batch';
import { NAME_LENGTH_MAX, NODES_MAX, NODE_ADDRESS_LENGTH_MAX, SNAPSHOT_NAME_LENGTH_MAX, STORE_RECORDS_MAX } from './limits';

// Entry types (mirrors of txlog.ts; kept here so the two files do not import each other).
const PREPARE: u8 = 1;
const COMMIT: u8 = 2;
const ABORT: u8 = 3;
const NODE_ADDED: u8 = 4;
const NODE_DOWN: u8 = 5;
const EPOCH_RAISED: u8 = 6;
const CHECKPOINT: u8 = 7;

// PREPARE fixed part (then participants, nodes, source user, target name, batch).
export const PREPARE_FIXED_SIZE: u32 = 48;
export const P_COORDINATOR: u32 = 0; // u64
export const P_SP_BEFORE: u32 = 8; // u64
export const P_SP_AFTER: u32 = 16; // u64
export const P_CREATED_TICK: u32 = 24; // u64
export const P_SPVV_BEFORE: u32 = 32; // u16
export const P_SPVV_AFTER: u32 = 34; // u16
export const P_EVENT: u32 = 36; // u8, 1..32
export const P_PARTICIPANT_COUNT: u32 = 37; // u8
export const P_NODE_COUNT: u32 = 38; // u8
export const P_SOURCE_LENGTH: u32 = 39; // u8
export const P_TARGET_LENGTH: u32 = 40; // u8
export const P_RESERVED_41: u32 = 41; // 3 bytes, zero
export const P_BATCH_LENGTH: u32 = 44; // u32

export const COMMIT_SIZE: u32 = 16; // SP after u64, SPVV after u16, flags u8, 5 reserved
export const COMMIT_FLAGS: u32 = 10;
/** The outcome was reached by the termination protocol (DINAMO's COMMITTED_TM), not the coordinator. */
export const COMMIT_FLAG_TERMINATED: u8 = 1;
export const ABORT_SIZE: u32 = 8; // reason u32, 4 reserved
export const NODE_DOWN_SIZE: u32 = 8; // node id u64
export const EPOCH_RAISED_SIZE: u32 = 8; // new epoch u64
/** A node in a node list: id u64, address length u8, address. */
export const NODE_FIXED_SIZE: u32 = 9;

// CHECKPOINT fixed part (then the snapshot name, then the node list).
export const CHECKPOINT_FIXED_SIZE: u32 = 32;
export const C_SNAPSHOT_SEQUENCE: u32 = 0; // u64
export const C_SP: u32 = 8; // u64
export const C_RECORD_COUNT: u32 = 16; // u64
export const C_SPVV: u32 = 24; // u16
export const C_NAME_LENGTH: u32 = 26; // u8
export const C_NODE_COUNT: u32 = 27; // u8
export const C_RESERVED_28: u32 = 28; // u32, zero

/** Printable ASCII without space: addresses are host:port strings. */
function validAddress(pointer: usize, length: u32): bool {
  if (length < 1 || length > NODE_ADDRESS_LENGTH_MAX) return false;
  for (let i: u32 = 0; i < length; i++) {
    const c = load<u8>(pointer + i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** Snapshot names become file names: [A-Za-z0-9._-], not starting with a dot. */
function validSnapshotName(pointer: usize, length: u32): bool {
  if (length < 1 || length > SNAPSHOT_NAME_LENGTH_MAX || load<u8>(pointer) == 0x2e) return false;
  for (let i: u32 = 0; i < length; i++) {
    const c = <u32>load<u8>(pointer + i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2e || c == 0x5f || c == 0x2d;
    if (!ok) return false;
  }
  return true;
}

/** Non-zero and pairwise distinct u64 ids at `ids` with `stride` bytes between them. */
function distinctIds(ids: usize, count: u32, stride: usize): bool {
  for (let i: u32 = 0; i < count; i++) {
    const id = load<u64>(ids + <usize>i * stride);
    if (id == 0) return false;
    for (let j: u32 = 0; j < i; j++) if (load<u64>(ids + <usize>j * stride) == id) return false;
  }
  return true;
}

// The node list walk leaves its end here (AssemblyScript has no multiple returns).
let nodeListEnd: u32 = 0;
// Body offsets of the nodes seen so far in the current list (at most NODES_MAX), to refuse
// a repeated id without a second walk.
const nodeOffsets: usize = memory.data(<i32>NODES_MAX * 4);

/** Checks `count` nodes starting at body offset `at` (ids non-zero and distinct); sets nodeListEnd. */
function checkNodeList(body: usize, length: u32, at: u32, count: u32): i32 {
  if (count > NODES_MAX) return rc.LOG_MALFORMED_BODY;
  for (let i: u32 = 0; i < count; i++) {
    if (length - at < NODE_FIXED_SIZE) return rc.LOG_MALFORMED_BODY;
    const addressLength = <u32>load<u8>(body + at, 8);
    if (length - at - NODE_FIXED_SIZE < addressLength) return rc.LOG_MALFORMED_BODY;
    const id = load<u64>(body + at);
    if (id == 0 || !validAddress(body + at + NODE_FIXED_SIZE, addressLength)) return rc.LOG_MALFORMED_BODY;
    for (let j: u32 = 0; j < i; j++) {
      if (load<u64>(body + load<u32>(nodeOffsets + (<usize>j << 2))) == id) return rc.LOG_MALFORMED_BODY;
    }
    store<u32>(nodeOffsets + (<usize>i << 2), at);
    at += NODE_FIXED_SIZE + addressLength;
  }
  nodeListEnd = at;
  return rc.OK;
}

function emptyOrName(pointer: usize, length: u32): bool {
  return length == 0 || validName(pointer, length);
}

function checkPrepareFixed(body: usize, length: u32): i32 {
  if (length < PREPARE_FIXED_SIZE) return rc.LOG_MALFORMED_BODY;
  if (load<u8>(body, P_RESERVED_41) != 0 || load<u16>(body, P_RESERVED_41 + 1) != 0) return rc.LOG_RESERVED_NOT_ZERO;
  const event = load<u8>(body, P_EVENT);
  if (event < 1 || event > EVENT_TYPE_MAX || load<u64>(body, P_COORDINATOR) == 0) return rc.LOG_MALFORMED_BODY;
  if (<u32>load<u8>(body, P_PARTICIPANT_COUNT) > NODES_MAX || <u32>load<u8>(body, P_NODE_COUNT) > NODES_MAX) return rc.LOG_MALFORMED_BODY;
  if (<u32>load<u8>(body, P_SOURCE_LENGTH) > NAME_LENGTH_MAX || <u32>load<u8>(body, P_TARGET_LENGTH) > NAME_LENGTH_MAX) return rc.LOG_MALFORMED_BODY;
  return rc.OK;
}

function checkPrepare(body: usize, length: u32): i32 {
  const fixed = checkPrepareFixed(body, length);
  if (fixed != rc.OK) return fixed;
  let at = PREPARE_FIXED_SIZE;
  const participants = <u32>load<u8>(body, P_PARTICIPANT_COUNT);
  if (length - at < participants * 8 || !distinctIds(body + at, participants, 8)) return rc.LOG_MALFORMED_BODY;
  at += participants * 8;
  const nodes = checkNodeList(body, length, at, <u32>load<u8>(body, P_NODE_COUNT));
  if (nodes != rc.OK) return nodes;
  at = nodeListEnd;
  const sourceLength = <u32>load<u8>(body, P_SOURCE_LENGTH);
  const targetLength = <u32>load<u8>(body, P_TARGET_LENGTH);
  if (length - at < sourceLength + targetLength) return rc.LOG_MALFORMED_BODY;
  if (!emptyOrName(body + at, sourceLength) || !emptyOrName(body + at + sourceLength, targetLength)) return rc.LOG_MALFORMED_BODY;
  at += sourceLength + targetLength;
  const batchLength = load<u32>(body, P_BATCH_LENGTH);
  if (length - at != batchLength) return rc.LOG_MALFORMED_BODY;
  return validateBatch(body + at, batchLength) == rc.OK ? rc.OK : rc.LOG_MALFORMED_BODY;
}

function checkCommit(body: usize, length: u32): i32 {
  if (length != COMMIT_SIZE) return rc.LOG_MALFORMED_BODY;
  if ((load<u8>(body, COMMIT_FLAGS) & ~COMMIT_FLAG_TERMINATED) != 0 || load<u8>(body, 11) != 0 || load<u32>(body, 12) != 0) {
    return rc.LOG_RESERVED_NOT_ZERO;
  }
  return rc.OK;
}

function checkAbort(body: usize, length: u32): i32 {
  if (length != ABORT_SIZE) return rc.LOG_MALFORMED_BODY;
  return load<u32>(body, 4) == 0 ? rc.OK : rc.LOG_RESERVED_NOT_ZERO;
}

function checkNodeAdded(body: usize, length: u32): i32 {
  const code = checkNodeList(body, length, 0, 1);
  if (code != rc.OK) return code;
  return nodeListEnd == length ? rc.OK : rc.LOG_MALFORMED_BODY;
}

function checkNodeDown(body: usize, length: u32): i32 {
  return length == NODE_DOWN_SIZE && load<u64>(body) != 0 ? rc.OK : rc.LOG_MALFORMED_BODY;
}

/** The body names the new epoch, which must be above the epoch the entry was written in. */
function checkEpochRaised(body: usize, length: u32, epoch: u64): i32 {
  return length == EPOCH_RAISED_SIZE && load<u64>(body) > epoch ? rc.OK : rc.LOG_MALFORMED_BODY;
}

/** The snapshot reflects every entry before the CHECKPOINT entry: its sequence is this one's minus 1. */
function checkCheckpoint(body: usize, length: u32, sequence: u64): i32 {
  if (length < CHECKPOINT_FIXED_SIZE) return rc.LOG_MALFORMED_BODY;
  if (load<u32>(body, C_RESERVED_28) != 0) return rc.LOG_RESERVED_NOT_ZERO;
  if (load<u64>(body, C_SNAPSHOT_SEQUENCE) + 1 != sequence) return rc.LOG_MALFORMED_BODY;
  if (load<u64>(body, C_RECORD_COUNT) > <u64>STORE_RECORDS_MAX) return rc.LOG_MALFORMED_BODY;
  const nameLength = <u32>load<u8>(body, C_NAME_LENGTH);
  const nodeCount = <u32>load<u8>(body, C_NODE_COUNT);
  if (nodeCount > NODES_MAX) return rc.LOG_MALFORMED_BODY;
  if (length - CHECKPOINT_FIXED_SIZE < nameLength || !validSnapshotName(body + CHECKPOINT_FIXED_SIZE, nameLength)) return rc.LOG_MALFORMED_BODY;
  const code = checkNodeList(body, length, CHECKPOINT_FIXED_SIZE + nameLength, nodeCount);
  if (code != rc.OK) return code;
  return nodeListEnd == length ? rc.OK : rc.LOG_MALFORMED_BODY;
}

/** Checks a body of `type`; `sequence` and `epoch` come from the entry's header. */
export function validateBody(type: u8, body: usize, length: u32, sequence: u64, epoch: u64): i32 {
  if (type == PREPARE) return checkPrepare(body, length);
  if (type == COMMIT) return checkCommit(body, length);
  if (type == ABORT) return checkAbort(body, length);
  if (type == NODE_ADDED) return checkNodeAdded(body, length);
  if (type == NODE_DOWN) return checkNodeDown(body, length);
  if (type == EPOCH_RAISED) return checkEpochRaised(body, length, epoch);
  if (type == CHECKPOINT) return checkCheckpoint(body, length, sequence);
  return rc.LOG_BAD_TYPE;
}
