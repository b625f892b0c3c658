// The exports of build/core.wasm. Only host/core calls these. Conventions: pointers and
// lengths in, an i32 code out (0 = OK), small results written to the result area whose
// layout is below (host/core/layout.ts mirrors it). No export traps on bad input.

import * as rc from './codes';
import * as codec from './codec';
import { BATCH_WRITES_MAX, IO_BUFFER_SIZE, RESULT_AREA_SIZE } from './limits';
import { sip13, sipHash, sipHigh } from './siphash';
import { nhS0, nhS1 } from './nh';
import {
  accAdd, accHi, accLo, accSub, fold, hHi, hLo, keyed, recordCount, recordValue, recordValueInline, recordValuePair,
  sip13High, sip13PairHigh0, sip13PairHigh1, spSetKey, spValue, spvvValue,
} from './syncpoint';
import {
  clearStore, find, frozen, orderCachedCheck, orderCheckTerm, orderKeyLength, orderKeyRecord, orderKeySlot, orderKeys,
  orderRecords, orderRelease, slotLength, slotRecord, slotValueHi, slotValueLo, storeInit, storeKeyed, tableSlots,
  finishGrowth, tableGrowth, walkLength, walkRecord, walkSlots,
} from './keystore';
import { MODE_COMMIT, MODE_DRY_RUN, applyBatch, batchInit, commitApplied, undoApplied } from './batch';
import * as snapshot from './snapshot';
import { sortPath } from './name-sort';
import { checksum as checksumOf, checksumHi, checksumInit, checksumLo } from './checksum';

// Result area layout (byte offsets).
const R_SP = 0; // u64
const R_SPVV = 8; // u32
const R_COUNT = 12; // u32
const R_ACC_LO = 16; // u64
const R_ACC_HI = 24; // u64
const R_HASH = 32; // 4 x u64
const R_VIEW = 64; // 32 x u32
const R_CURSOR = 192; // u32
const R_WRITE_RESULTS = 256; // u32 per write

// The result area's fields do not overlap and fit in it (checked once, at start).
assert(R_HASH + 32 <= R_VIEW && R_VIEW + codec.VIEW_FIELDS * 4 <= R_CURSOR && R_CURSOR + 4 <= R_WRITE_RESULTS);
assert(<u32>R_WRITE_RESULTS + BATCH_WRITES_MAX * 4 <= RESULT_AREA_SIZE);

// Slack after the IO buffer: NH may read up to 15 bytes past a record.
const SLACK: usize = 64;

/** The host hands the IO buffer for an export's output: [out, out + capacity) must lie in it
 * (a pointer elsewhere is a host bug that would overwrite the core's own memory). */
function assertInIo(out: usize, capacity: usize): void {
  assert(out >= io && out + capacity <= io + <usize>IO_BUFFER_SIZE, 'output outside the IO buffer');
}

let io: usize = 0;
let result: usize = 0;

export function core_init(): i32 {
  if (io != 0) return rc.OK;
  io = heap.alloc(<usize>IO_BUFFER_SIZE + SLACK);
  memory.fill(io, 0, <usize>IO_BUFFER_SIZE + SLACK);
  result = heap.alloc(RESULT_AREA_SIZE);
  memory.fill(result, 0, RESULT_AREA_SIZE);
  storeInit();
  batchInit();
  checksumInit();
  return rc.OK;
}

export function io_pointer(): usize { return io; }
export function io_size(): u32 { return IO_BUFFER_SIZE; }
export function result_pointer(): usize { return result; }

function writeSyncPoint(): void {
  fold(accLo, accHi, recordCount);
  store<u64>(result, spValue, R_SP);
  store<u32>(result, spvvValue, R_SPVV);
  store<u32>(result, <u32>recordCount, R_COUNT);
  store<u64>(result, accLo, R_ACC_LO);
  store<u64>(result, accHi, R_ACC_HI);
}

/** Sets the 32-byte Sync-Point key at `pointer`. Only on an empty store. */
export function sp_set_key(pointer: usize): i32 {
  if (recordCount != 0 || frozen || snapshot.isImporting()) return rc.STORE_NOT_EMPTY;
  spSetKey(pointer);
  storeKeyed();
  writeSyncPoint();
  return rc.OK;
}

/** The current SP, SPVV, count and accumulator into the result area. */
export function sp_current(): i32 {
  if (!keyed) return rc.STORE_NO_KEY;
  writeSyncPoint();
  return rc.OK;
}

/**
 * Recomputes the Sync-Point from scratch over every record and writes it to the result area.
 * Returns SYNC_POINT_MISMATCH if it differs from the incremental one (or a cached record value).
 */
export function sp_recompute(): i32 {
  if (!keyed) return rc.STORE_NO_KEY;
  const ordered = recordCount >= RECOMPUTE_ORDERED_MIN ? orderRecords() : -1;
  const cachedOk = ordered >= 0 ? sumInAddressOrder(<u32>ordered) : sumInTableOrder();
  const lo = sumLo, hi = sumHi, n = sumCount;
  const same = cachedOk && lo == accLo && hi == accHi && n == recordCount;
  fold(lo, hi, n);
  store<u64>(result, spValue, R_SP);
  store<u32>(result, spvvValue, R_SPVV);
  store<u32>(result, <u32>n, R_COUNT);
  store<u64>(result, lo, R_ACC_LO);
  store<u64>(result, hi, R_ACC_HI);
  return same ? rc.OK : rc.SYNC_POINT_MISMATCH;
}

// ---- Performance: the from-scratch sums (bench/sp.ts; see keystore.ts "address order") ----

/** Below this many records the table fits in cache and is summed in slot order. */
const RECOMPUTE_ORDERED_MIN: u64 = 64;

// Results of the two sums below.
let sumLo: u64 = 0;
let sumHi: u64 = 0;
let sumCount: u64 = 0;

/** Sums record values slot by slot into (sumLo, sumHi, sumCount); false if a cached value differs. */
function sumInTableOrder(): bool {
  let lo: u64 = 0, hi: u64 = 0, n: u64 = 0;
  let cachedOk = true;
  finishGrowth(); // one table to walk
  const slots = tableSlots();
  for (let s: u32 = 0; s < slots; s++) {
    const record = slotRecord(s);
    if (record == 0) continue;
    const valueLo = recordValueInline(record, slotLength(s));
    const valueHi = sip13High;
    const sum = lo + valueLo;
    hi += valueHi + <u64>(sum < valueLo);
    lo = sum;
    n++;
    if (valueLo != slotValueLo(s) || valueHi != slotValueHi(s)) cachedOk = false;
  }
  sumLo = lo;
  sumHi = hi;
  sumCount = n;
  return cachedOk;
}

/** Sums the `n` records of orderRecords() (two at a time with SIMD) and releases the order. */
function sumInAddressOrder(n: u32): bool {
  let lo: u64 = 0, hi: u64 = 0, check: u64 = 0;
  const keys = orderKeys;
  let i: u32 = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 2 <= n; i += 2) {
      const key0 = load<u64>(keys + (<usize>i << 3));
      const key1 = load<u64>(keys + (<usize>i << 3), 8);
      const lows = recordValuePair(orderKeyRecord(key0), orderKeyLength(key0), orderKeyRecord(key1), orderKeyLength(key1));
      const lo0 = <u64>i64x2.extract_lane(lows, 0), hi0 = sip13PairHigh0;
      const lo1 = <u64>i64x2.extract_lane(lows, 1), hi1 = sip13PairHigh1;
      let sum = lo + lo0;
      hi += hi0 + <u64>(sum < lo0);
      lo = sum;
      sum = lo + lo1;
      hi += hi1 + <u64>(sum < lo1);
      lo = sum;
      check += orderCheckTerm(orderKeySlot(key0), lo0, hi0) + orderCheckTerm(orderKeySlot(key1), lo1, hi1);
    }
  }
  for (; i < n; i++) {
    const key = load<u64>(keys + (<usize>i << 3));
    const valueLo = recordValueInline(orderKeyRecord(key), orderKeyLength(key));
    const valueHi = sip13High;
    const sum = lo + valueLo;
    hi += valueHi + <u64>(sum < valueLo);
    lo = sum;
    check += orderCheckTerm(orderKeySlot(key), valueLo, valueHi);
  }
  const cachedOk = check == orderCachedCheck;
  orderRelease();
  sumLo = lo;
  sumHi = hi;
  sumCount = n;
  return cachedOk;
}

/** Folds the accumulator (lo, hi, count: three u64 at `pointer`) into SP/SPVV in the result area. */
export function sp_fold(pointer: usize): i32 {
  if (!keyed) return rc.STORE_NO_KEY;
  fold(load<u64>(pointer), load<u64>(pointer, 8), load<u64>(pointer, 16));
  store<u64>(result, spValue, R_SP);
  store<u32>(result, spvvValue, R_SPVV);
  return rc.OK;
}

/** h(r) of a byte string (16 bytes of slack after it); h and NH into the hash slots. */
export function record_value(pointer: usize, length: u32): i32 {
  if (!keyed) return rc.STORE_NO_KEY;
  recordValue(pointer, length);
  store<u64>(result, hLo, R_HASH);
  store<u64>(result, hHi, R_HASH + 8);
  store<u64>(result, nhS0, R_HASH + 16);
  store<u64>(result, nhS1, R_HASH + 24);
  return rc.OK;
}

/** Sums record values of `count` packed frames (u32 length, record, padded to 16) at `pointer`. */
export function sp_sum_frames(pointer: usize, count: u32): i32 {
  if (!keyed) return rc.STORE_NO_KEY;
  let lo: u64 = 0, hi: u64 = 0;
  let p = pointer;
  let i: u32 = 0;
  if (ASC_FEATURE_SIMD) {
    // Performance: two frames at a time (recordValuePair), the same sum.
    for (; i + 2 <= count; i += 2) {
      const length0 = load<u32>(p);
      const p1 = p + ((4 + <usize>length0 + 15) & ~(<usize>15));
      const length1 = load<u32>(p1);
      const lows = recordValuePair(p + 4, length0, p1 + 4, length1);
      const lo0 = <u64>i64x2.extract_lane(lows, 0), hi0 = sip13PairHigh0;
      const lo1 = <u64>i64x2.extract_lane(lows, 1), hi1 = sip13PairHigh1;
      let sum = lo + lo0;
      hi += hi0 + <u64>(sum < lo0);
      lo = sum;
      sum = lo + lo1;
      hi += hi1 + <u64>(sum < lo1);
      lo = sum;
      p = p1 + ((4 + <usize>length1 + 15) & ~(<usize>15));
    }
  }
  for (; i < count; i++) {
    const length = load<u32>(p);
    const valueLo = recordValueInline(p + 4, length);
    const valueHi = sip13High;
    const sum = lo + valueLo;
    hi += valueHi + <u64>(sum < valueLo);
    lo = sum;
    p += (4 + <usize>length + 15) & ~(<usize>15);
  }
  fold(lo, hi, count);
  store<u64>(result, spValue, R_SP);
  store<u32>(result, spvvValue, R_SPVV);
  store<u64>(result, lo, R_ACC_LO);
  store<u64>(result, hi, R_ACC_HI);
  return rc.OK;
}

/** The 128-bit checksum of a byte string (16 bytes of slack after it) into the hash slots. */
export function checksum(pointer: usize, length: u32): i32 {
  checksumOf(pointer, length);
  store<u64>(result, checksumLo, R_HASH);
  store<u64>(result, checksumHi, R_HASH + 8);
  return rc.OK;
}

/** SipHash-c-d under the 16-byte key at `key`; outputs into the hash slots. */
export function siphash(key: usize, pointer: usize, length: u32, c: i32, d: i32, wide: i32): i32 {
  if (c < 1 || c > 8 || d < 1 || d > 8) return rc.RECORD_BAD_FIELD;
  // c = 1, d = 3, 64-bit goes through the routine the key-store index uses (tested against the reference).
  const first = c == 1 && d == 3 && wide == 0
    ? sip13(load<u64>(key), load<u64>(key, 8), pointer, length)
    : sipHash(load<u64>(key), load<u64>(key, 8), pointer, length, c, d, wide != 0);
  store<u64>(result, first, R_HASH);
  store<u64>(result, wide != 0 ? sipHigh : 0, R_HASH + 8);
  return rc.OK;
}

export function record_decode(pointer: usize, length: u32): i32 {
  memory.fill(result + R_VIEW, 0, codec.VIEW_FIELDS * 4);
  return codec.decodeRecord(pointer, length, result + R_VIEW);
}

export function record_encode_user(
  out: usize, name: usize, nameLength: u32, flags: u32, failed: u32, kdf: u32,
  salt: usize, saltLength: u32, cost: u32, block: u32, parallel: u32, verifier: usize,
): i32 {
  return codec.encodeUser(out, name, nameLength, flags, failed, kdf, salt, saltLength, cost, block, parallel, verifier);
}

export function record_encode_object(
  out: usize, name: usize, nameLength: u32, keyType: u32, attributes: u32,
  owner: usize, ownerLength: u32, acl: usize, aclCount: u32, aclSize: u32, wrapped: usize, wrappedLength: u32,
): i32 {
  return codec.encodeObject(out, name, nameLength, keyType, attributes, owner, ownerLength, acl, aclCount, aclSize, wrapped, wrappedLength);
}

export function record_encode_policy(out: usize, minPassword: u32, maxFailed: u32, flags: u32, timeout: u32): i32 {
  return codec.encodePolicy(out, minPassword, maxFailed, flags, timeout);
}

/**
 * Applies an operation batch: mode 1 commits, mode 0 is a dry run that leaves the state as
 * it was. Per-write codes and the SP after the batch go to the result area.
 */
export function store_apply(pointer: usize, length: u32, mode: i32): i32 {
  if (!keyed) return rc.STORE_NO_KEY;
  if (snapshot.isImporting()) return rc.SNAPSHOT_STATE;
  if (mode != MODE_COMMIT && mode != MODE_DRY_RUN) return rc.BATCH_MALFORMED;
  const code = applyBatch(pointer, length, result + R_WRITE_RESULTS);
  if (code != rc.OK) return code;
  writeSyncPoint();
  if (mode == MODE_COMMIT) commitApplied();
  else undoApplied();
  return rc.OK;
}

/** Copies the record (kind, name) to `out`. Returns its length or minus a code. */
export function store_get(kind: u32, name: usize, nameLength: u32, out: usize, capacity: u32): i32 {
  assertInIo(out, capacity);
  if (!keyed) return -rc.STORE_NO_KEY;
  if (kind < codec.KIND_USER || kind > codec.KIND_POLICY || !codec.validName(name, nameLength)) return -rc.RECORD_BAD_NAME;
  const slot = find(<u8>kind, name, nameLength);
  if (slot < 0) return -rc.CANNOT_OPEN_OBJ;
  const length = slotLength(<u32>slot);
  if (length > capacity) return -rc.RECORD_OVERSIZE;
  memory.copy(out, slotRecord(<u32>slot), length);
  return <i32>length;
}

/**
 * Lists records of `kind` (0 = all) from table slot `cursor`: frames (u32 length, record)
 * into `out`. Returns bytes written; the next cursor goes to the result area (slots = done).
 * One listing must run without writes in between (the host calls it in one synchronous loop).
 */
export function store_list(kind: u32, cursor: u32, out: usize, capacity: u32): i32 {
  assertInIo(out, capacity);
  const slots = walkSlots();
  let at: u32 = 0;
  let s = cursor;
  for (; s < slots; s++) {
    const record = walkRecord(s);
    if (record == 0) continue;
    if (kind != 0 && <u32>load<u8>(record, 1) != kind) continue;
    const length = walkLength(s);
    if (capacity - at < 4 + length) break;
    store<u32>(out + at, length);
    memory.copy(out + at + 4, record, length);
    at += 4 + length;
  }
  store<u32>(result, s, R_CURSOR);
  return <i32>at;
}

/** The cursor's end for store_list (while the table grows, the old table's slots come first). */
export function store_slots(): u32 { return walkSlots(); }
export function store_count(): u32 { return <u32>recordCount; }
/** The key table's growth: 0 none under way, 1 the next table being zeroed, 2 records moving into it. */
export function store_growth(): u32 { return tableGrowth(); }

export function store_clear(): i32 {
  if (frozen || snapshot.isImporting()) return rc.SNAPSHOT_STATE;
  clearStore();
  return rc.OK;
}

export function snapshot_export_begin(out: usize): i32 {
  assertInIo(out, snapshot.SNAPSHOT_HEADER_SIZE);
  if (!keyed) return -rc.STORE_NO_KEY;
  return snapshot.exportBegin(out);
}
export function snapshot_export_next(out: usize, capacity: u32): i32 {
  assertInIo(out, capacity);
  return snapshot.exportNext(out, capacity);
}
/** The open export's frame bytes (f64: exact below 2^53). */
/** Sorts about `budget` more records of the open export's view: 1 when sorted, 0 while not, or minus a code. */
export function snapshot_export_prepare(budget: u32): i32 { return snapshot.exportPrepare(budget); }
/** How the last export's view was ordered: 0 none ordered yet, 1 in order already, 2 a few records
 * sorted and merged in, 3 the scan gave up and radix-sorted it (name-sort.ts). */
export function snapshot_sort_path(): u32 { return sortPath(); }
export function snapshot_export_bytes(): f64 { return <f64>snapshot.exportBytes(); }
export function snapshot_export_end(): void { snapshot.exportEnd(); }
export function snapshot_import_begin(header: usize, length: u32): i32 {
  if (!keyed) return rc.STORE_NO_KEY;
  return snapshot.importBegin(header, length);
}
/** See snapshot.importReserve; `frameBytes` (f64: what a BEGIN announces) is clamped first. */
export function snapshot_import_reserve(frameBytes: f64): i32 {
  if (!(frameBytes >= 0)) return rc.SNAPSHOT_STATE;
  const limit = <f64>snapshot.IMPORT_PREFAULT_BYTES_MAX;
  return snapshot.importReserve(<u64>(frameBytes < limit ? frameBytes : limit));
}
export function snapshot_import_chunk(pointer: usize, length: u32): i32 { return snapshot.importChunk(pointer, length); }
export function snapshot_import_end(): i32 {
  const code = snapshot.importEnd();
  if (code == rc.OK) writeSyncPoint();
  return code;
}
export function snapshot_import_abort(): void { snapshot.importAbort(); }

// ==== Transaction log (assembly/txlog*.ts; docs/FORMATS.md "Transaction log") ====
// Entries are laid out by the host and sealed here; decoding, and scanning a stream in
// windows, report through the state block (log_state_pointer, layout in txlog-scan.ts) and
// per-entry results (log_results_pointer, LOG_RESULT_SIZE bytes each). Inputs need 16 bytes
// of readable slack after them (the IO buffer has it).

import * as txlog from './txlog';
import * as txlogScan from './txlog-scan';

function logInit(): void {
  checksumInit();
  txlogScan.scanInit();
}

function logReportEntry(entry: usize): void {
  const state = txlogScan.state;
  store<u32>(state, txlog.entryLength(entry), txlogScan.S_ENTRY_LENGTH);
  store<u64>(state, load<u64>(entry, txlog.H_HEADER_CHECKSUM), txlogScan.S_ENTRY_CHECKSUM);
  store<u64>(state, load<u64>(entry, txlog.H_HEADER_CHECKSUM + 8), txlogScan.S_ENTRY_CHECKSUM + 8);
}

export function log_state_pointer(): usize {
  logInit();
  return txlogScan.state;
}

export function log_results_pointer(): usize {
  logInit();
  return txlogScan.results;
}

/** Seals the entry the host laid out at `pointer` (`length` bytes available) after the entry whose checksum is at `parent`. */
export function log_seal(pointer: usize, length: u32, parent: usize): i32 {
  logInit();
  const code = txlog.sealEntry(pointer, length, parent);
  if (code == rc.OK) logReportEntry(pointer);
  return code;
}

/** Checks one entry at `pointer` (`length` bytes available; more may follow). `checkPool` 0 accepts any pool. */
export function log_check(pointer: usize, length: u32, poolId: u64, checkPool: i32): i32 {
  logInit();
  const code = txlog.checkEntry(pointer, length, poolId, checkPool != 0);
  if (code == rc.OK) logReportEntry(pointer);
  return code;
}

export function log_scan_begin(poolId: u64, flags: u32, parent: usize, lastSequence: u64, lastEpoch: u64): i32 {
  logInit();
  return txlogScan.scanBegin(poolId, flags, parent, lastSequence, lastEpoch);
}

/** Scans a window of the stream: OK (over), 1 (call again from S_NEXT) or CANNOT_LOAD_LOG. */
export function log_scan(pointer: usize, length: u32, final: i32): i32 {
  logInit();
  return txlogScan.scan(pointer, length, final != 0);
}

// ==== Benchmark support (bench/sp.ts) ====

/**
 * The Sync-Point part of `count` record changes, one per packed frame at `pointer` (the
 * layout of sp_sum_frames): h(r) exactly as a REPLACE computes it (recordValue), then the
 * accumulator update (add the new value, subtract the old). Each change is undone at once,
 * so the state and its SP are left as they were.
 */
export function bench_sp_update(pointer: usize, count: u32): i32 {
  if (!keyed) return rc.STORE_NO_KEY;
  let p = pointer;
  for (let i: u32 = 0; i < count; i++) {
    const length = load<u32>(p);
    recordValue(p + 4, length);
    accAdd(hLo, hHi);
    accSub(hLo, hHi);
    p += (4 + <usize>length + 15) & ~(<usize>15);
  }
  return rc.OK;
}
