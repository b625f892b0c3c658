// Scanning a log byte stream: find the longest valid prefix and decide whether what follows
// is a torn tail (cut it, go on) or corruption before the tail (refuse). The stream arrives
// in windows (the host copies each into the IO buffer); all state lives in one block of
// memory the host can read, so a scan split at any point gives the same answer as one call.
//
// The rule (docs/FORMATS.md, "Scan and recovery"): entries are read from offset 0; each must
// pass checkEntry and follow its predecessor (parent checksum, sequence + 1, epoch not
// lower). At the first entry that does not:
//   - LOG_TRUNCATED (the stream ends inside it): torn tail.
//   - LOG_BAD_MAGIC, LOG_HEADER_CHECKSUM, LOG_BODY_CHECKSUM: the bytes are damaged. It is a
//     torn tail if no well-formed header (magic and header checksum, any version) starts at
//     any later offset of the stream; otherwise corruption: something valid follows the damage.
//   - anything else (a valid checksum over wrong content: unknown version, bad type,
//     reserved bytes, oversize, wrong pool, malformed body, broken chain): corruption, since
//     a torn write cannot produce a header whose checksum matches.
// Corruption ends the scan with CANNOT_LOAD_LOG; the entry's own code and offset are kept.

import * as rc from './codes';
import { LOG_SCAN_RESULTS_MAX } from './limits';
import {
  H_EPOCH, H_HEADER_CHECKSUM, H_PARENT, H_POOL, H_SEQUENCE, H_TRANSACTION, H_TYPE, LOG_HEADER_SIZE,
  checkEntry, entryLength, looksLikeHeader,
} from './txlog';

/** Status of log_scan besides codes: call again with the stream from S_NEXT on. */
export const SCAN_MORE: i32 = 1;

export const SCAN_CHAIN_KNOWN: u32 = 1; // the first entry must follow S_PARENT / S_LAST_SEQUENCE
export const SCAN_ANY_POOL: u32 = 2; // take the pool of the first entry, then require it

export const MODE_ENTRIES: u32 = 0;
export const MODE_SEARCH: u32 = 1; // damage found: looking for a valid header after it
export const MODE_DONE: u32 = 2; // clean end or torn tail (S_DAMAGE_CODE != 0)
export const MODE_REFUSED: u32 = 3;

// The state block (LOG_STATE_SIZE bytes).
export const LOG_STATE_SIZE: u32 = 128;
export const S_CONSUMED: u32 = 0; // u32: bytes of this window consumed
export const S_RESULT_COUNT: u32 = 4; // u32: entries reported by this call
export const S_VALID_LENGTH: u32 = 8; // u64: end of the last valid entry, from the stream start
export const S_ENTRIES: u32 = 16; // u64: valid entries so far
export const S_NEXT: u32 = 24; // u64: stream offset the next window must start at
export const S_LAST_SEQUENCE: u32 = 32; // u64
export const S_LAST_EPOCH: u32 = 40; // u64
export const S_PARENT: u32 = 48; // 16 bytes: header checksum of the last valid entry
export const S_POOL: u32 = 64; // u64
export const S_FLAGS: u32 = 72; // u32
export const S_MODE: u32 = 76; // u32
export const S_DAMAGE_OFFSET: u32 = 80; // u64: the first entry that did not pass
export const S_DAMAGE_CODE: u32 = 88; // u32: its code (0 = none)
export const S_ENTRY_LENGTH: u32 = 92; // u32: log_check / log_seal: the entry's length
export const S_WITNESS_OFFSET: u32 = 96; // u64: the valid header found after damage
export const S_ENTRY_CHECKSUM: u32 = 104; // 16 bytes: log_check / log_seal: its header checksum

// One result per valid entry (LOG_RESULT_SIZE bytes).
export const LOG_RESULT_SIZE: u32 = 40;
export const E_OFFSET: u32 = 0; // u64
export const E_SEQUENCE: u32 = 8; // u64
export const E_TRANSACTION: u32 = 16; // u64
export const E_EPOCH: u32 = 24; // u64
export const E_LENGTH: u32 = 32; // u32
export const E_TYPE: u32 = 36; // u8, then 3 zero bytes

export let state: usize = 0;
export let results: usize = 0;

export function scanInit(): void {
  if (state != 0) return;
  state = heap.alloc(LOG_STATE_SIZE);
  memory.fill(state, 0, LOG_STATE_SIZE);
  results = heap.alloc(<usize>LOG_SCAN_RESULTS_MAX * LOG_RESULT_SIZE);
}

/** Starts a scan. With SCAN_CHAIN_KNOWN the first entry must follow (parent, lastSequence, lastEpoch). */
export function scanBegin(poolId: u64, flags: u32, parent: usize, lastSequence: u64, lastEpoch: u64): i32 {
  memory.fill(state, 0, LOG_STATE_SIZE);
  store<u64>(state, poolId, S_POOL);
  store<u32>(state, flags & (SCAN_CHAIN_KNOWN | SCAN_ANY_POOL), S_FLAGS);
  if ((flags & SCAN_CHAIN_KNOWN) != 0) {
    store<u64>(state, load<u64>(parent), S_PARENT);
    store<u64>(state, load<u64>(parent, 8), S_PARENT + 8);
    store<u64>(state, lastSequence, S_LAST_SEQUENCE);
    store<u64>(state, lastEpoch, S_LAST_EPOCH);
  }
  return rc.OK;
}

function chainKnown(): bool {
  return load<u64>(state, S_ENTRIES) != 0 || (load<u32>(state, S_FLAGS) & SCAN_CHAIN_KNOWN) != 0;
}

/** The entry (already checked on its own) follows the last valid one. */
function checkChain(entry: usize): i32 {
  if (!chainKnown()) return rc.OK;
  if (load<u64>(entry, H_PARENT) != load<u64>(state, S_PARENT) || load<u64>(entry, H_PARENT + 8) != load<u64>(state, S_PARENT + 8)) {
    return rc.LOG_BROKEN_CHAIN;
  }
  if (load<u64>(entry, H_SEQUENCE) != load<u64>(state, S_LAST_SEQUENCE) + 1) return rc.LOG_BROKEN_CHAIN;
  if (load<u64>(entry, H_EPOCH) < load<u64>(state, S_LAST_EPOCH)) return rc.LOG_BROKEN_CHAIN;
  return rc.OK;
}

function record(entry: usize, offset: u64): void {
  const count = load<u32>(state, S_RESULT_COUNT);
  const length = entryLength(entry);
  assert(count < LOG_SCAN_RESULTS_MAX, 'scan results full');
  const out = results + <usize>count * LOG_RESULT_SIZE;
  store<u64>(out, offset, E_OFFSET);
  store<u64>(out, load<u64>(entry, H_SEQUENCE), E_SEQUENCE);
  store<u64>(out, load<u64>(entry, H_TRANSACTION), E_TRANSACTION);
  store<u64>(out, load<u64>(entry, H_EPOCH), E_EPOCH);
  store<u32>(out, length, E_LENGTH);
  store<u32>(out, <u32>load<u8>(entry, H_TYPE), E_TYPE);
  store<u32>(state, count + 1, S_RESULT_COUNT);
  store<u64>(state, load<u64>(state, S_ENTRIES) + 1, S_ENTRIES);
  store<u64>(state, offset + length, S_VALID_LENGTH);
  store<u64>(state, load<u64>(entry, H_SEQUENCE), S_LAST_SEQUENCE);
  store<u64>(state, load<u64>(entry, H_EPOCH), S_LAST_EPOCH);
  store<u64>(state, load<u64>(entry, H_HEADER_CHECKSUM), S_PARENT);
  store<u64>(state, load<u64>(entry, H_HEADER_CHECKSUM + 8), S_PARENT + 8);
}

function more(consumed: u32): i32 {
  store<u32>(state, consumed, S_CONSUMED);
  store<u64>(state, load<u64>(state, S_NEXT) + consumed, S_NEXT);
  return SCAN_MORE;
}

function finish(consumed: u32): i32 {
  store<u32>(state, consumed, S_CONSUMED);
  store<u64>(state, load<u64>(state, S_NEXT) + consumed, S_NEXT);
  store<u32>(state, MODE_DONE, S_MODE);
  return rc.OK;
}

function refuse(witness: u64): i32 {
  store<u64>(state, witness, S_WITNESS_OFFSET);
  store<u32>(state, MODE_REFUSED, S_MODE);
  return rc.CANNOT_LOAD_LOG;
}

function damage(offset: u64, code: i32): void {
  store<u64>(state, offset, S_DAMAGE_OFFSET);
  store<u32>(state, <u32>code, S_DAMAGE_CODE);
}

/** Damage a torn write can explain; anything else has a valid checksum over wrong content. */
function mayBeTorn(code: i32): bool {
  return code == rc.LOG_BAD_MAGIC || code == rc.LOG_HEADER_CHECKSUM || code == rc.LOG_BODY_CHECKSUM;
}

/** In the ANY_POOL mode the first entry names the pool. */
function poolOf(entry: usize, available: u32): u64 {
  if ((load<u32>(state, S_FLAGS) & SCAN_ANY_POOL) == 0 || available < LOG_HEADER_SIZE) return load<u64>(state, S_POOL);
  return load<u64>(entry, H_POOL);
}

function adoptPool(entry: usize): void {
  const flags = load<u32>(state, S_FLAGS);
  if ((flags & SCAN_ANY_POOL) == 0) return;
  store<u64>(state, load<u64>(entry, H_POOL), S_POOL);
  store<u32>(state, flags & ~SCAN_ANY_POOL, S_FLAGS);
}

function readEntries(window: usize, length: u32, final: bool): i32 {
  const base = load<u64>(state, S_NEXT);
  let at: u32 = 0;
  while (true) {
    if (load<u32>(state, S_RESULT_COUNT) == LOG_SCAN_RESULTS_MAX) return more(at);
    if (at == length) return final ? finish(at) : more(at);
    const entry = window + at;
    let code = checkEntry(entry, length - at, poolOf(entry, length - at), true);
    if (code == rc.LOG_TRUNCATED && !final) return more(at);
    if (code == rc.OK) code = checkChain(entry);
    if (code == rc.OK) {
      adoptPool(entry);
      record(entry, base + at);
      at += entryLength(entry);
      continue;
    }
    damage(base + at, code);
    if (code == rc.LOG_TRUNCATED) return finish(length);
    if (!mayBeTorn(code)) return refuse(base + at);
    store<u32>(state, MODE_SEARCH, S_MODE);
    return searchHeaders(window, length, final, at + 1);
  }
}

/** Looks for a well-formed header at every offset from `from`; one found means corruption. */
function searchHeaders(window: usize, length: u32, final: bool, from: u32): i32 {
  const base = load<u64>(state, S_NEXT);
  let q = from;
  for (; q < length && length - q >= LOG_HEADER_SIZE; q++) {
    if (looksLikeHeader(window + q)) return refuse(base + q);
  }
  return final ? finish(length) : more(q);
}

/**
 * Scans the window [window, window + length), which holds the stream from S_NEXT on. `final`
 * says the stream ends with this window. Returns OK when the scan is over (clean, or a torn
 * tail when S_DAMAGE_CODE != 0), SCAN_MORE to be called again from the new S_NEXT (after
 * reading S_RESULT_COUNT results), or CANNOT_LOAD_LOG. Needs 16 bytes of slack after the window.
 */
export function scan(window: usize, length: u32, final: bool): i32 {
  const mode = load<u32>(state, S_MODE);
  store<u32>(state, 0, S_RESULT_COUNT);
  store<u32>(state, 0, S_CONSUMED);
  if (mode == MODE_DONE) return rc.OK;
  if (mode == MODE_REFUSED) return rc.CANNOT_LOAD_LOG;
  if (mode == MODE_SEARCH) return searchHeaders(window, length, final, 0);
  return readEntries(window, length, final);
}
