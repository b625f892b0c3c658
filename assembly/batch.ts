// Operation batches: what a transaction changes in the key store, and what a PREPARE log
// entry carries. A batch holds writes (one per client request; group commit puts several
// in one batch); each write holds operations and is atomic on its own: a write whose
// operation fails is undone and reports its code, the others go on. Every node applying the
// same batch to the same state gets the same results. Layout in docs/FORMATS.md.

import * as rc from './codes';
import { HEADER_SIZE, KIND_POLICY, KIND_USER, decodeRecord, isTemporaryObject, validName } from './codec';
import { BATCH_SIZE_MAX, BATCH_WRITES_MAX, NAME_LENGTH_MAX, RECORD_SIZE_MAX, WRITE_OPS_MAX } from './limits';
import { hHi, hLo, recordValue } from './syncpoint';
import {
  allocateRecord, find, findHashed, indexHash, insertBlockHashed, insertBlockWithValue, recordKind, recordName,
  recordNameLength, releaseRecord, removeSlot, replaceInSlot, slotLength, slotRecord, slotValueHi, slotValueLo,
  growthSteps, touchRecord, touchSlot,
} from './keystore';

export const OP_INSERT: u8 = 1;
export const OP_REPLACE: u8 = 2;
export const OP_DELETE: u8 = 3;
/** REPLACE only if the stored record's value h(r) is the one given (compare-and-set). */
export const OP_REPLACE_IF: u8 = 4;
/** The expected record value that prefixes a REPLACE_IF payload (h(r), lo then hi). */
export const EXPECTED_VALUE_SIZE: u32 = 16;
export const EVENT_TYPE_MAX: u8 = 32;
export const BATCH_HEADER_SIZE: u32 = 4;
/** u8 event, u8 reserved, u16 operation count, 16-byte client request id (zeros = none). */
export const WRITE_HEADER_SIZE: u32 = 20;
export const REQUEST_ID_SIZE: u32 = 16;
export const OP_HEADER_SIZE: u32 = 8;

export const MODE_COMMIT: i32 = 1;
export const MODE_DRY_RUN: i32 = 0;

// Undo journal: one 32-byte entry per applied operation of the batch in progress.
const JOURNAL_ENTRY_SIZE: usize = 32;
const J_INSERTED: u32 = 1;
const J_REPLACED: u32 = 2;
const J_REMOVED: u32 = 3;
let journal: usize = 0;
let journalLength: u32 = 0;

// The index hash of each operation's (kind, name), by operation ordinal (prehashBatch).
const OPS_MAX: u32 = BATCH_WRITES_MAX * WRITE_OPS_MAX;
let opHashes: usize = 0;
/** Folds the pre-pass's reads so they are not optimised away. */
let touchSink: u32 = 0;

export function batchInit(): void {
  if (journal != 0) return;
  journal = heap.alloc(<usize>OPS_MAX * JOURNAL_ENTRY_SIZE);
  opHashes = heap.alloc(<usize>OPS_MAX << 2);
}

function journalAdd(kind: u32, newBlock: usize, oldBlock: usize, oldLength: u32, oldLo: u64, oldHi: u64): void {
  // validateBatch bounds writes and operations: one entry per operation always fits.
  assert(journalLength < BATCH_WRITES_MAX * WRITE_OPS_MAX, 'undo journal full');
  const j = journal + (<usize>journalLength) * JOURNAL_ENTRY_SIZE;
  store<u32>(j, kind);
  store<u32>(j, <u32>newBlock, 4);
  store<u32>(j, <u32>oldBlock, 8);
  store<u32>(j, oldLength, 12);
  store<u64>(j, oldLo, 16);
  store<u64>(j, oldHi, 24);
  journalLength++;
}

/** Checks the framing of a batch without looking at the state. Returns a code. */
export function validateBatch(p: usize, length: u32): i32 {
  if (length > BATCH_SIZE_MAX) return rc.BATCH_TOO_LARGE;
  if (length < BATCH_HEADER_SIZE) return rc.BATCH_MALFORMED;
  const writes = <u32>load<u16>(p);
  if (writes < 1 || writes > BATCH_WRITES_MAX || load<u16>(p, 2) != 0) return rc.BATCH_MALFORMED;
  let at = BATCH_HEADER_SIZE;
  for (let w: u32 = 0; w < writes; w++) {
    if (length - at < WRITE_HEADER_SIZE) return rc.BATCH_MALFORMED;
    const event = load<u8>(p + at);
    const ops = <u32>load<u16>(p + at, 2);
    if (event < 1 || event > EVENT_TYPE_MAX || load<u8>(p + at, 1) != 0) return rc.BATCH_MALFORMED;
    if (ops < 1 || ops > WRITE_OPS_MAX) return rc.BATCH_MALFORMED;
    at += WRITE_HEADER_SIZE;
    for (let o: u32 = 0; o < ops; o++) {
      if (length - at < OP_HEADER_SIZE) return rc.BATCH_MALFORMED;
      const opcode = load<u8>(p + at);
      const kind = load<u8>(p + at, 1);
      const payload = load<u32>(p + at, 4);
      if (load<u16>(p + at, 2) != 0) return rc.BATCH_MALFORMED;
      if (opcode == OP_DELETE) {
        if (kind < KIND_USER || kind > KIND_POLICY) return rc.BATCH_MALFORMED;
      } else if (opcode == OP_INSERT || opcode == OP_REPLACE) {
        if (kind != 0 || payload > RECORD_SIZE_MAX) return rc.BATCH_MALFORMED;
      } else if (opcode == OP_REPLACE_IF) {
        if (kind != 0 || payload < EXPECTED_VALUE_SIZE || payload > RECORD_SIZE_MAX + EXPECTED_VALUE_SIZE) return rc.BATCH_MALFORMED;
      } else {
        return rc.BATCH_MALFORMED;
      }
      at += OP_HEADER_SIZE;
      if (length - at < payload) return rc.BATCH_MALFORMED;
      at += payload;
    }
  }
  return at == length ? rc.OK : rc.BATCH_MALFORMED;
}

// The apply functions take `h`, the index hash of the operation's (kind, name) from
// prehashBatch: it is the true hash whenever the record or name is valid, which they check first.

function applyInsert(record: usize, length: u32, h: u32): i32 {
  const code = decodeRecord(record, length, 0);
  if (code != rc.OK) return code;
  if (isTemporaryObject(record)) return rc.OBJECT_TEMPORARY;
  if (findHashed(recordKind(record), recordName(record), recordNameLength(record), h) >= 0) return rc.OBJ_ALREADY_EXISTS;
  const block = allocateRecord(record, length);
  const inserted = insertBlockHashed(block, length, h);
  if (inserted != rc.OK) {
    releaseRecord(block, length);
    return inserted;
  }
  journalAdd(J_INSERTED, block, 0, 0, 0, 0);
  return rc.OK;
}

/** `expected`: 0, or the address of the 16-byte value h(r) the stored record must have. */
function applyReplace(record: usize, length: u32, expected: usize, h: u32): i32 {
  const code = decodeRecord(record, length, 0);
  if (code != rc.OK) return code;
  if (isTemporaryObject(record)) return rc.OBJECT_TEMPORARY;
  const slot = findHashed(recordKind(record), recordName(record), recordNameLength(record), h);
  if (slot < 0) return rc.CANNOT_OPEN_OBJ;
  const s = <u32>slot;
  if (expected != 0 && (slotValueLo(s) != load<u64>(expected) || slotValueHi(s) != load<u64>(expected, 8))) return rc.STORE_CONFLICT;
  const block = allocateRecord(record, length);
  recordValue(block, length);
  journalAdd(J_REPLACED, block, slotRecord(s), slotLength(s), slotValueLo(s), slotValueHi(s));
  replaceInSlot(s, block, length, hLo, hHi);
  return rc.OK;
}

function applyDelete(kind: u8, name: usize, nameLength: u32, h: u32): i32 {
  if (!validName(name, nameLength)) return rc.RECORD_BAD_NAME;
  const slot = findHashed(kind, name, nameLength, h);
  if (slot < 0) return rc.CANNOT_OPEN_OBJ;
  const s = <u32>slot;
  journalAdd(J_REMOVED, 0, slotRecord(s), slotLength(s), slotValueLo(s), slotValueHi(s));
  removeSlot(s);
  return rc.OK;
}

// ---- Performance: the pre-pass (see keystore.ts touchSlot) ----

/**
 * The index hash of a record's (kind, name), or 0 when its header cannot hold a valid name
 * (the decoder then rejects it, so the 0 is never used). Reads only [record, record + length).
 */
function recordIndexHash(record: usize, length: u32): u32 {
  if (length < HEADER_SIZE) return 0;
  const nameLength = recordNameLength(record);
  if (nameLength > NAME_LENGTH_MAX || HEADER_SIZE + nameLength > length) return 0;
  return indexHash(recordKind(record), recordName(record), nameLength);
}

/** Fills opHashes for every operation of a validated batch; returns the operation count. */
function prehashBatch(p: usize, writes: u32): u32 {
  let op: u32 = 0;
  let at = BATCH_HEADER_SIZE;
  for (let w: u32 = 0; w < writes; w++) {
    const ops = <u32>load<u16>(p + at, 2);
    at += WRITE_HEADER_SIZE;
    for (let o: u32 = 0; o < ops; o++) {
      const opcode = load<u8>(p + at);
      const kind = load<u8>(p + at, 1);
      const payload = load<u32>(p + at, 4);
      const body = p + at + OP_HEADER_SIZE;
      at += OP_HEADER_SIZE + payload;
      let h: u32 = 0;
      if (opcode == OP_DELETE) h = payload <= NAME_LENGTH_MAX ? indexHash(kind, body, payload) : 0;
      else if (opcode == OP_REPLACE_IF) h = recordIndexHash(body + EXPECTED_VALUE_SIZE, payload - EXPECTED_VALUE_SIZE);
      else h = recordIndexHash(body, payload);
      store<u32>(opHashes + (<usize>op << 2), h);
      op++;
    }
  }
  return op;
}

/** Reads every operation's home slot, then the record in it, so their misses overlap. */
function touchBatch(ops: u32): void {
  let sink: u32 = 0;
  for (let i: u32 = 0; i < ops; i++) sink ^= touchSlot(load<u32>(opHashes + (<usize>i << 2)));
  for (let i: u32 = 0; i < ops; i++) sink ^= touchRecord(load<u32>(opHashes + (<usize>i << 2)));
  touchSink ^= sink;
}

/** Undoes journal entries back to `mark`, newest first. */
function rollback(mark: u32): void {
  while (journalLength > mark) {
    journalLength--;
    const j = journal + (<usize>journalLength) * JOURNAL_ENTRY_SIZE;
    const kind = load<u32>(j);
    const newBlock = <usize>load<u32>(j, 4);
    const oldBlock = <usize>load<u32>(j, 8);
    const oldLength = load<u32>(j, 12);
    if (kind == J_INSERTED) {
      const slot = <u32>find(recordKind(newBlock), recordName(newBlock), recordNameLength(newBlock));
      const length = slotLength(slot);
      removeSlot(slot);
      releaseRecord(newBlock, length);
    } else if (kind == J_REPLACED) {
      const slot = <u32>find(recordKind(newBlock), recordName(newBlock), recordNameLength(newBlock));
      const length = slotLength(slot);
      replaceInSlot(slot, oldBlock, oldLength, load<u64>(j, 16), load<u64>(j, 24));
      releaseRecord(newBlock, length);
    } else {
      insertBlockWithValue(oldBlock, oldLength, load<u64>(j, 16), load<u64>(j, 24));
    }
  }
}

/** After a commit: the records replaced or removed are gone for good. */
function release(): void {
  for (let i: u32 = 0; i < journalLength; i++) {
    const j = journal + (<usize>i) * JOURNAL_ENTRY_SIZE;
    const kind = load<u32>(j);
    if (kind != J_INSERTED) releaseRecord(<usize>load<u32>(j, 8), load<u32>(j, 12));
  }
  journalLength = 0;
}

/**
 * Applies a batch. Per-write codes go to `results` (u32 each). With MODE_DRY_RUN the state
 * is left as it was (the caller folds the accumulator before calling `finishDryRun`).
 * Returns a batch-level code: a malformed batch changes nothing.
 */
export function applyBatch(p: usize, length: u32, results: usize): i32 {
  const valid = validateBatch(p, length);
  if (valid != rc.OK) return valid;
  journalLength = 0;
  const writes = <u32>load<u16>(p);
  assert(writes <= BATCH_WRITES_MAX, 'more write results than the result area holds');
  const ops = prehashBatch(p, writes);
  growthSteps(ops); // before any slot is found: a step may switch tables
  touchBatch(ops);
  let op: u32 = 0;
  let at = BATCH_HEADER_SIZE;
  for (let w: u32 = 0; w < writes; w++) {
    const ops = <u32>load<u16>(p + at, 2);
    at += WRITE_HEADER_SIZE;
    const mark = journalLength;
    let code = rc.OK;
    for (let o: u32 = 0; o < ops; o++) {
      const opcode = load<u8>(p + at);
      const kind = load<u8>(p + at, 1);
      const payload = load<u32>(p + at, 4);
      const body = p + at + OP_HEADER_SIZE;
      at += OP_HEADER_SIZE + payload;
      const h = load<u32>(opHashes + (<usize>op << 2));
      op++;
      if (code != rc.OK) continue; // skip the rest of a failed write
      if (opcode == OP_INSERT) code = applyInsert(body, payload, h);
      else if (opcode == OP_REPLACE) code = applyReplace(body, payload, 0, h);
      else if (opcode == OP_REPLACE_IF) code = applyReplace(body + EXPECTED_VALUE_SIZE, payload - EXPECTED_VALUE_SIZE, body, h);
      else code = applyDelete(kind, body, payload, h);
    }
    if (code != rc.OK) rollback(mark);
    store<u32>(results + (<usize>w << 2), <u32>code);
  }
  return rc.OK;
}

export function commitApplied(): void { release(); }
export function undoApplied(): void { rollback(0); }
