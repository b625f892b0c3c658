// The key store: records in linear memory, indexed by (kind, name) in an open-addressing
// table (linear probing, backward-shift deletion, so no tombstones). Each record lives in
// its own heap block, padded with zeros to a multiple of 16 bytes so NH can read whole
// chunks. Every change updates the Sync-Point accumulator in O(1); a removed record's bytes
// are zeroed before its block is freed.

import * as rc from './codes';
import { HEADER_SIZE, compareNames } from './codec';
import { RECORD_SIZE_MAX, STORE_RECORDS_MAX } from './limits';
import { sip13 } from './siphash';
import { accAdd, accReset, accSub, hHi, hLo, keyFold0, keyFold1, recordCount, recordValue } from './syncpoint';

/** Records in the store (the Sync-Point accumulator counts them). */
export function count(): u32 { return <u32>recordCount; }

// Table entry, 32 bytes.
const ENTRY_SIZE: usize = 32;
const E_POINTER = 0; // u32 record block, 0 = empty slot
const E_LENGTH = 4; // u32 record length
const E_INDEX_HASH = 8; // u32 index hash
const E_VALUE_LO = 16; // u64 record value h(r), low half
const E_VALUE_HI = 24; // u64 record value h(r), high half

const TABLE_SLOTS_MIN: u32 = 1024;
const TABLE_SLOTS_MAX: u32 = STORE_RECORDS_MAX * 2;

let table: usize = 0;
let slots: u32 = 0;
let mask: u32 = 0;

// Index-hash key, derived from KF so equal pools index alike (not part of the SP).
let indexKey0: u64 = 0;
let indexKey1: u64 = 0;

// While a snapshot export holds a frozen view, freed blocks wait here.
export let frozen = false;
let deferred: usize = 0;
let deferredCount: u32 = 0;
let deferredCapacity: u32 = 0;

export function storeInit(): void {
  if (table != 0) return;
  slots = TABLE_SLOTS_MIN;
  mask = slots - 1;
  table = heap.alloc(<usize>slots * ENTRY_SIZE);
  memory.fill(table, 0, <usize>slots * ENTRY_SIZE);
}

export function storeKeyed(): void {
  indexKey0 = keyFold0() ^ 0x696e646578000000; // "index"
  indexKey1 = keyFold1();
}

// @ts-ignore: decorator
@inline
function entry(slot: u32): usize {
  return table + (<usize>slot) * ENTRY_SIZE;
}

// @ts-ignore: decorator
@inline
export function recordKind(record: usize): u8 { return load<u8>(record, 1); }
// @ts-ignore: decorator
@inline
export function recordNameLength(record: usize): u32 { return <u32>load<u8>(record, 2); }
// @ts-ignore: decorator
@inline
export function recordName(record: usize): usize { return record + HEADER_SIZE; }

/** The index hash of (kind, name): where find() starts probing. */
export function indexHash(kind: u8, name: usize, nameLength: u32): u32 {
  return <u32>sip13(indexKey0 ^ <u64>kind, indexKey1, name, nameLength);
}

/** Orders records by (kind, name). */
export function compareRecords(a: usize, b: usize): i32 {
  const ka = <i32>recordKind(a), kb = <i32>recordKind(b);
  if (ka != kb) return ka - kb;
  return compareNames(recordName(a), recordNameLength(a), recordName(b), recordNameLength(b));
}

/** Slot holding (kind, name), or -1. */
export function find(kind: u8, name: usize, nameLength: u32): i32 {
  return findHashed(kind, name, nameLength, indexHash(kind, name, nameLength));
}

/**
 * find() with `h` = indexHash(kind, name, nameLength) already computed. While the table grows,
 * a record still in the old table is moved into the table on the spot, so the slot returned is
 * always the table's (see "Growth in steps").
 */
export function findHashed(kind: u8, name: usize, nameLength: u32, h: u32): i32 {
  const slot = probe(table, mask, kind, name, nameLength, h);
  if (slot >= 0 || oldTable == 0) return slot;
  const oldSlot = probe(oldTable, oldMask, kind, name, nameLength, h);
  return oldSlot < 0 ? -1 : <i32>moveOldEntry(oldTable + (<usize>oldSlot) * ENTRY_SIZE);
}

/** Slot of (kind, name) in the table at `base`, or -1; MOVED marks are passed over. */
// @ts-ignore: decorator
@inline
function probe(base: usize, m: u32, kind: u8, name: usize, nameLength: u32, h: u32): i32 {
  let i = h & m;
  while (true) {
    const e = base + (<usize>i) * ENTRY_SIZE;
    const record = <usize>load<u32>(e, E_POINTER);
    if (record == 0) return -1;
    if (record != MOVED && load<u32>(e, E_INDEX_HASH) == h && recordKind(record) == kind
      && compareNames(recordName(record), recordNameLength(record), name, nameLength) == 0) {
      return <i32>i;
    }
    i = (i + 1) & m;
  }
  return -1;
}

export function slotRecord(slot: u32): usize { return <usize>load<u32>(entry(slot), E_POINTER); }
export function slotLength(slot: u32): u32 { return load<u32>(entry(slot), E_LENGTH); }
export function slotValueLo(slot: u32): u64 { return load<u64>(entry(slot), E_VALUE_LO); }
export function slotValueHi(slot: u32): u64 { return load<u64>(entry(slot), E_VALUE_HI); }
export function tableSlots(): u32 { return slots; }

// A walk of every slot while the table may be growing: walk slots [0, oldSlots) are the old
// table's (MOVED marks read as empty), the rest the table's.
export function walkSlots(): u32 { return oldSlots + slots; }
export function walkRecord(w: u32): usize {
  if (w >= oldSlots) return slotRecord(w - oldSlots);
  const record = <usize>load<u32>(oldTable + (<usize>w) * ENTRY_SIZE, E_POINTER);
  return record == MOVED ? 0 : record;
}
export function walkLength(w: u32): u32 {
  return w >= oldSlots ? slotLength(w - oldSlots) : load<u32>(oldTable + (<usize>w) * ENTRY_SIZE, E_LENGTH);
}

/** Puts an entry into the table's first free slot from its home; returns the slot. */
function place(record: usize, length: u32, h: u32, lo: u64, hi: u64): u32 {
  let i = h & mask;
  while (load<u32>(entry(i), E_POINTER) != 0) i = (i + 1) & mask;
  const e = entry(i);
  store<u32>(e, <u32>record, E_POINTER);
  store<u32>(e, length, E_LENGTH);
  store<u32>(e, h, E_INDEX_HASH);
  store<u64>(e, lo, E_VALUE_LO);
  store<u64>(e, hi, E_VALUE_HI);
  return i;
}

// ---- Growth in steps ----
// Performance (a 1M-key pool, bench:checkpoint): moving every record into a table twice the
// size in one step stopped the node for 574 ms when the store passed 2^20 records (the new
// table's 128 MB touched for the first time, then one random write per record), and every
// node of the pool stopped at the same write. The table now grows in steps that the writes
// after take (growthSteps, one per operation of a batch, before the batch finds a slot):
//   1. the next table is zeroed, GROW_ZERO_BYTES per step, while the table takes inserts a
//      little past half full (at most 1/256 of its slots more);
//   2. the next table becomes the table, and the old one is emptied GROW_MOVE_SLOTS slots per
//      step, each entry left behind as a MOVED mark so the probes that cross it go on.
// A record is in exactly one of the two. A lookup searches the table, then the old one, and
// moves a record it finds there on the spot: slots handed out are always the table's, and the
// old table never loses an entry but to a MOVED mark (no backward shift there). A walk of
// every slot (listing, export) visits the old table's slots first; the from-scratch SP, a
// reserve and a clear finish the growth first (they are O(records) anyway).

/** Marks an old-table slot whose record was moved into the table (record blocks are 16-aligned). */
const MOVED: usize = 1;
/** Bytes of the next table zeroed per step: four pages, whose first touches are page faults. */
const GROW_ZERO_BYTES: usize = 16384;
/** Old-table slots emptied per step: two per insert would do; more ends the double probes sooner. */
const GROW_MOVE_SLOTS: u32 = 128;
/** How full the table may get while the next one is zeroed before growth finishes at once. */
const GROW_FILL_LIMIT_NUM: u32 = 3;
const GROW_FILL_LIMIT_DEN: u32 = 4;

// Phase 1: the next table, zeroed up to nextZeroed bytes.
let nextTable: usize = 0;
let nextSlots: u32 = 0;
let nextZeroed: usize = 0;
// Phase 2: the old table, emptied below moveCursor.
let oldTable: usize = 0;
let oldSlots: u32 = 0;
let oldMask: u32 = 0;
let moveCursor: u32 = 0;

/** 0: not growing; 1: the next table is being zeroed; 2: records are moving into it. */
export function tableGrowth(): u32 { return nextTable != 0 ? 1 : oldTable != 0 ? 2 : 0; }

/** Moves the old-table entry at `e` into the table; returns its slot there. */
function moveOldEntry(e: usize): u32 {
  const slot = place(<usize>load<u32>(e, E_POINTER), load<u32>(e, E_LENGTH), load<u32>(e, E_INDEX_HASH),
    load<u64>(e, E_VALUE_LO), load<u64>(e, E_VALUE_HI));
  store<u32>(e, <u32>MOVED, E_POINTER);
  return slot;
}

function beginGrowth(): void {
  nextSlots = slots << 1;
  nextTable = heap.alloc(<usize>nextSlots * ENTRY_SIZE);
  nextZeroed = 0;
}

/** The zeroed next table becomes the table; the table becomes the old one, to be emptied. */
function switchTables(): void {
  oldTable = table;
  oldSlots = slots;
  oldMask = mask;
  moveCursor = 0;
  table = nextTable;
  slots = nextSlots;
  mask = slots - 1;
  nextTable = 0;
  nextSlots = 0;
}

/** Empties old-table slots [moveCursor, end); frees the old table once all are. */
function moveOldSlots(end: u32): void {
  for (let i = moveCursor; i < end; i++) {
    const e = oldTable + (<usize>i) * ENTRY_SIZE;
    if (<usize>load<u32>(e, E_POINTER) > MOVED) moveOldEntry(e);
  }
  moveCursor = end;
  if (end == oldSlots) {
    heap.free(oldTable);
    oldTable = 0;
    oldSlots = 0;
    oldMask = 0;
  }
}

/** Takes `steps` steps of a growth under way. Call only where no slot is held. */
export function growthSteps(steps: u32): void {
  if (nextTable != 0) {
    const size = <usize>nextSlots * ENTRY_SIZE;
    const bytes = min<usize>(<usize>steps * GROW_ZERO_BYTES, size - nextZeroed);
    memory.fill(nextTable + nextZeroed, 0, bytes);
    nextZeroed += bytes;
    if (nextZeroed == size) switchTables();
    return;
  }
  if (oldTable != 0) moveOldSlots(<u32>min<u64>(<u64>moveCursor + <u64>steps * GROW_MOVE_SLOTS, <u64>oldSlots));
}

/** Finishes a growth under way at once. Changes the table: call only where no slot is held. */
export function finishGrowth(): void {
  if (nextTable != 0) {
    memory.fill(nextTable + nextZeroed, 0, <usize>nextSlots * ENTRY_SIZE - nextZeroed);
    switchTables();
  }
  if (oldTable != 0) moveOldSlots(oldSlots);
}

/** Before an insert: starts a growth when the table passes half full (finishes one if it must). */
function makeRoom(): void {
  if ((count() + 1) * 2 <= slots || slots >= TABLE_SLOTS_MAX) return;
  if (nextTable != 0) {
    if ((count() + 1) * GROW_FILL_LIMIT_DEN <= slots * GROW_FILL_LIMIT_NUM) return;
    finishGrowth(); // no steps were taken (an import's inserts): grow in one go
    return;
  }
  // The table doubled and half filled before its old one emptied: no steps were taken.
  if (oldTable != 0) finishGrowth();
  beginGrowth();
}

/** Moves every record into a new table of `target` slots (a power of two above the count's double). */
function resize(target: u32): void {
  finishGrowth();
  const oldTable = table;
  const oldSlots = slots;
  slots = target;
  mask = slots - 1;
  table = heap.alloc(<usize>slots * ENTRY_SIZE);
  memory.fill(table, 0, <usize>slots * ENTRY_SIZE);
  for (let i: u32 = 0; i < oldSlots; i++) {
    const e = oldTable + (<usize>i) * ENTRY_SIZE;
    const record = <usize>load<u32>(e, E_POINTER);
    if (record == 0) continue;
    place(record, load<u32>(e, E_LENGTH), load<u32>(e, E_INDEX_HASH), load<u64>(e, E_VALUE_LO), load<u64>(e, E_VALUE_HI));
  }
  heap.free(oldTable);
}

// Performance (bench/sp.ts, the write path): a REPLACE frees one block and allocates one of
// the same size, and the general allocator costs about 40 ns for the pair. Zeroed blocks are
// kept per 16-byte size class (a free list linked through each block's first word) up to
// RECYCLED_BYTES_MAX in all, and handed out again before the allocator is asked.

/** Bytes of freed (zeroed) record blocks kept for reuse. */
const RECYCLED_BYTES_MAX: usize = 1 << 20;
const SIZE_CLASSES: u32 = RECORD_SIZE_MAX / 16 + 1;
const recycledHeads = memory.data(<i32>(SIZE_CLASSES * 4), 16);
let recycledBytes: usize = 0;

/** Copies a record into a fresh zero-padded block. */
export function allocateRecord(source: usize, length: u32): usize {
  const size = (<usize>length + 15) & ~(<usize>15);
  const head = recycledHeads + ((size >> 4) << 2);
  let block = <usize>load<u32>(head);
  if (block != 0) {
    store<u32>(head, load<u32>(block));
    recycledBytes -= size;
  } else {
    block = heap.alloc(size);
  }
  memory.copy(block, source, length);
  memory.fill(block + length, 0, size - length);
  return block;
}

/** A zeroed block of `size` bytes (a multiple of 16): kept for reuse, or freed. */
function recycle(block: usize, size: usize): void {
  if (size == 0 || recycledBytes + size > RECYCLED_BYTES_MAX) {
    heap.free(block);
    return;
  }
  const head = recycledHeads + ((size >> 4) << 2);
  store<u32>(block, load<u32>(head));
  store<u32>(head, <u32>block);
  recycledBytes += size;
}

/** Zeroes and frees a record block, or keeps it while a snapshot view may still read it. */
export function releaseRecord(block: usize, length: u32): void {
  if (frozen) {
    if (deferredCount == deferredCapacity) {
      deferredCapacity = deferredCapacity == 0 ? 256 : deferredCapacity << 1;
      deferred = deferred == 0 ? heap.alloc(<usize>deferredCapacity << 3) : heap.realloc(deferred, <usize>deferredCapacity << 3);
    }
    store<u32>(deferred + (<usize>deferredCount << 3), <u32>block);
    store<u32>(deferred + (<usize>deferredCount << 3), length, 4);
    deferredCount++;
    return;
  }
  const size = (<usize>length + 15) & ~(<usize>15);
  memory.fill(block, 0, size);
  recycle(block, size);
}

export function setFrozen(on: bool): void {
  frozen = on;
  if (on) return;
  for (let i: u32 = 0; i < deferredCount; i++) {
    const p = deferred + (<usize>i << 3);
    releaseRecord(<usize>load<u32>(p), load<u32>(p, 4));
  }
  deferredCount = 0;
}

/** Whether the next insert would grow the table. */
export function tableFull(): bool {
  return (count() + 1) * 2 > slots && slots < TABLE_SLOTS_MAX;
}

/**
 * Makes room for `records` records at once, up to TABLE_SLOTS_MAX slots: one move of the
 * records into a table of the final size. Growing one doubling at a time moves every record
 * into a table of fresh memory each time: a 1M-record import doubled eleven times.
 */
export function reserve(records: u64): void {
  finishGrowth();
  const wanted = min<u64>(records, <u64>STORE_RECORDS_MAX) * 2;
  let target = slots;
  while (<u64>target < wanted && target < TABLE_SLOTS_MAX) target <<= 1;
  if (target != slots) resize(target);
}

/** An empty store gives back a table larger than TABLE_SLOTS_MIN (a refused import's reserve). */
export function releaseTable(): void {
  finishGrowth();
  if (count() == 0 && slots != TABLE_SLOTS_MIN) resize(TABLE_SLOTS_MIN);
}

/** Inserts a record block whose (kind, name) is absent. Returns a code. */
export function insertBlock(block: usize, length: u32): i32 {
  return insertBlockHashed(block, length, indexHash(recordKind(block), recordName(block), recordNameLength(block)));
}

/** insertBlock() with `h` = the block's index hash already computed. */
export function insertBlockHashed(block: usize, length: u32, h: u32): i32 {
  if (count() >= STORE_RECORDS_MAX) return rc.STORE_FULL;
  makeRoom();
  recordValue(block, length);
  place(block, length, h, hLo, hHi);
  accAdd(hLo, hHi);
  return rc.OK;
}

export function insertBlockWithValue(block: usize, length: u32, lo: u64, hi: u64): void {
  const h = indexHash(recordKind(block), recordName(block), recordNameLength(block));
  place(block, length, h, lo, hi);
  accAdd(lo, hi);
}

// Performance (bench/sp.ts, REPLACE in a 1M-record store): a write's table slot and stored
// record are each a cache and TLB miss at random. The batch pre-pass (batch.ts) reads them
// for every write first, in loops small enough that the misses of many writes overlap.

/** Reads the home slot of index hash `h`; returns a word to fold into a sink. */
export function touchSlot(h: u32): u32 {
  return load<u32>(entry(h & mask), E_POINTER);
}

/** Reads the first word of the record in the home slot of `h`, if any; returns it. */
export function touchRecord(h: u32): u32 {
  const record = <usize>load<u32>(entry(h & mask), E_POINTER);
  return record == 0 ? 0 : load<u32>(record);
}

/** Swaps the block in `slot` for another record of the same (kind, name). */
export function replaceInSlot(slot: u32, block: usize, length: u32, lo: u64, hi: u64): void {
  const e = entry(slot);
  accSub(load<u64>(e, E_VALUE_LO), load<u64>(e, E_VALUE_HI));
  store<u32>(e, <u32>block, E_POINTER);
  store<u32>(e, length, E_LENGTH);
  store<u64>(e, lo, E_VALUE_LO);
  store<u64>(e, hi, E_VALUE_HI);
  accAdd(lo, hi);
}

/** Empties `slot` (backward-shift deletion); the caller owns the record block. */
export function removeSlot(slot: u32): void {
  let i = slot;
  const e = entry(i);
  accSub(load<u64>(e, E_VALUE_LO), load<u64>(e, E_VALUE_HI));
  let j = i;
  while (true) {
    j = (j + 1) & mask;
    const ej = entry(j);
    if (load<u32>(ej, E_POINTER) == 0) break;
    const home = load<u32>(ej, E_INDEX_HASH) & mask;
    // Entry j may move back to i only if its home slot is not cyclically within (i, j].
    const stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (stays) continue;
    memory.copy(entry(i), ej, ENTRY_SIZE);
    i = j;
  }
  memory.fill(entry(i), 0, ENTRY_SIZE);
}

/** Removes every record, zeroing each. */
export function clearStore(): void {
  finishGrowth();
  for (let i: u32 = 0; i < slots; i++) {
    const e = entry(i);
    const record = <usize>load<u32>(e, E_POINTER);
    if (record != 0) releaseRecord(record, load<u32>(e, E_LENGTH));
  }
  memory.fill(table, 0, <usize>slots * ENTRY_SIZE);
  accReset();
}

// ---- Records in address order, for passes over every record (the from-scratch Sync-Point) ----
// Performance (bench/sp.ts): the table is in hash order, so visiting records slot by slot
// reads their blocks at random; with a million records that is a cache and TLB miss per
// record and dominates the pass. orderRecords() instead scans the table once into one key
// per record and sorts the keys by address (to 512 bytes), so the pass reads record memory
// almost sequentially. The sort scatters the keys once, by region of the used address space,
// then sorts each region's few hundred keys in cache (an LSD radix sort scattered twice
// across the whole key array: 12-15 ms of a 1M-record pass, now 9-10 ms). It needs 16 bytes
// of scratch per record, freed by
// orderRelease(). The table's cached record values are compared through an order-independent
// check sum (orderCheckTerm), since the sorted pass no longer visits slots in order.

// Key: record address / 16 (28 bits) | slot (22 bits) | length (14 bits).
const ORDER_SLOT_BITS: u64 = 22;
const ORDER_LENGTH_BITS: u64 = 14;
/** key >> (ORDER_ADDRESS_SHIFT + s) is the record address >> s, for any s >= 4. */
const ORDER_ADDRESS_SHIFT: u64 = ORDER_SLOT_BITS + ORDER_LENGTH_BITS - 4;
assert(<u64>TABLE_SLOTS_MAX <= (<u64>1 << ORDER_SLOT_BITS) && <u64>RECORD_SIZE_MAX < (<u64>1 << ORDER_LENGTH_BITS));
/** Records closer than this in memory may be visited in any order (8 cache lines). */
const ORDER_GRANULARITY_SHIFT: u64 = 9;
const ORDER_RADIX_BITS: u64 = 12;
/** Regions of the used address space the keys are scattered into first. */
const ORDER_RADIX: u32 = 1 << <u32>ORDER_RADIX_BITS;
/** A region's counters for its keys' positions within it, at most 2^(32 - 12 - 9) of them. */
const ORDER_LOCAL_MAX: u32 = 1 << <u32>(32 - ORDER_RADIX_BITS - ORDER_GRANULARITY_SHIFT);
/** Memory pages of wasm32 (asconfig.json maximumMemory): the scratch must fit under it. */
const MEMORY_PAGES_MAX: usize = 65536;
const orderHistograms = memory.data(<i32>((ORDER_RADIX + ORDER_LOCAL_MAX) * 4), 16);

/** After orderRecords: the keys, sorted by record address. */
export let orderKeys: usize = 0;
let orderScratch: usize = 0;
/** After orderRecords: the sum of orderCheckTerm over every slot's cached record value. */
export let orderCachedCheck: u64 = 0;

// @ts-ignore: decorator
@inline
export function orderKeyRecord(key: u64): usize { return <usize>(key >> (ORDER_SLOT_BITS + ORDER_LENGTH_BITS)) << 4; }
// @ts-ignore: decorator
@inline
export function orderKeyLength(key: u64): usize { return <usize>(key & ((<u64>1 << ORDER_LENGTH_BITS) - 1)); }
// @ts-ignore: decorator
@inline
export function orderKeySlot(key: u64): u64 { return (key >> ORDER_LENGTH_BITS) & ((<u64>1 << ORDER_SLOT_BITS) - 1); }

/**
 * One record's term of the check sum: differs, with high probability, when the value or the
 * slot differs, so equal sums over cached and recomputed values mean every cached value holds.
 */
// @ts-ignore: decorator
@inline
export function orderCheckTerm(slot: u64, lo: u64, hi: u64): u64 {
  return (lo + hi * 0x9e3779b97f4a7c15) * ((slot << 1) | 1);
}

let scanCheck: u64 = 0;
let scanLowBits: u64 = 0;

/**
 * Writes the key of each of the `count` slots at `base` that holds a record to keys[g...];
 * returns the new g. Branch-free: a key is written for every slot and kept only if the slot
 * is occupied (occupancy is random, so a branch would mispredict about every other slot).
 */
function scanSlots(base: usize, count: u32, keys: usize, g: usize): usize {
  let check = scanCheck;
  let lowBits = scanLowBits;
  for (let s: u32 = 0; s < count; s++) {
    const e = base + (<usize>s) * ENTRY_SIZE;
    const record = <u64>load<u32>(e, E_POINTER);
    const keep = <u64>0 - <u64>(record > <u64>MOVED);
    const key = ((record >> 4) << (ORDER_SLOT_BITS + ORDER_LENGTH_BITS)) | (<u64>s << ORDER_LENGTH_BITS) | <u64>load<u32>(e, E_LENGTH);
    store<u64>(keys + (g << 3), key);
    check += orderCheckTerm(<u64>s, load<u64>(e, E_VALUE_LO), load<u64>(e, E_VALUE_HI)) & keep;
    lowBits |= record & 15 & keep;
    g += <usize>(keep & 1);
  }
  scanCheck = check;
  scanLowBits = lowBits;
  return g;
}

/**
 * Fills orderKeys with one key per record, sorted by address. Returns the record count, or -1
 * when it cannot (no room for the scratch, or a record block not 16-byte aligned): the
 * caller then visits the table in slot order. Call orderRelease() after a successful call.
 */
export function orderRecords(): i32 {
  const n = count();
  const bytes = (<usize>n + 1) << 3;
  if (<usize>memory.size() + 2 * (bytes >> 16) + 64 > MEMORY_PAGES_MAX) return -1;
  const keys = heap.alloc(bytes);
  scanCheck = 0;
  scanLowBits = 0;
  const addressBits = <u64>(32 - clz<u32>(<u32>((<u64>memory.size() << 16) - 1)));
  const regionShift = max<u64>(addressBits, ORDER_GRANULARITY_SHIFT + ORDER_RADIX_BITS) - ORDER_RADIX_BITS;
  // While the table grows, the old table's records too (a key's slot is then its slot there).
  const g = scanSlots(table, slots, keys, scanSlots(oldTable, oldSlots, keys, 0));
  if (scanLowBits != 0 || g != <usize>n) {
    heap.free(keys);
    return -1;
  }
  orderCachedCheck = scanCheck;
  orderKeys = keys;
  orderScratch = heap.alloc(bytes);
  orderByRegion(n, regionShift);
  return <i32>n;
}

/**
 * Sorts the n keys by address >> ORDER_GRANULARITY_SHIFT, stably: a counting sort by region
 * (address >> regionShift, the top ORDER_RADIX_BITS of the used address space) into the
 * scratch, then each region's keys, which stay in cache, by the rest of that digit back into
 * orderKeys.
 */
function orderByRegion(n: u32, regionShift: u64): void {
  const keys = orderKeys, scratch = orderScratch;
  const localBits = regionShift - ORDER_GRANULARITY_SHIFT;
  const regions = orderHistograms;
  memory.fill(regions, 0, <usize>ORDER_RADIX << 2);
  for (let i: u32 = 0; i < n; i++) {
    const h = regions + (<usize>(load<u64>(keys + (<usize>i << 3)) >> (ORDER_ADDRESS_SHIFT + regionShift)) << 2);
    store<u32>(h, load<u32>(h) + 1);
  }
  let sum: u32 = 0;
  for (let b: u32 = 0; b < ORDER_RADIX; b++) {
    const c = load<u32>(regions + (<usize>b << 2));
    store<u32>(regions + (<usize>b << 2), sum);
    sum += c;
  }
  for (let i: u32 = 0; i < n; i++) {
    const key = load<u64>(keys + (<usize>i << 3));
    const h = regions + (<usize>(key >> (ORDER_ADDRESS_SHIFT + regionShift)) << 2);
    const at = load<u32>(h);
    store<u32>(h, at + 1);
    store<u64>(scratch + (<usize>at << 3), key);
  }
  // regions[b] is now the end of region b; each region sorted locally, scratch -> keys.
  const local = orderHistograms + (<usize>ORDER_RADIX << 2);
  const localCount = <u32>1 << <u32>localBits;
  const localMask = (<u64>1 << localBits) - 1;
  let begin: u32 = 0;
  for (let b: u32 = 0; b < ORDER_RADIX; b++) {
    const end = load<u32>(regions + (<usize>b << 2));
    if (end - begin > 1) {
      memory.fill(local, 0, <usize>localCount << 2);
      for (let i = begin; i < end; i++) {
        const h = local + (<usize>((load<u64>(scratch + (<usize>i << 3)) >> (ORDER_ADDRESS_SHIFT + ORDER_GRANULARITY_SHIFT)) & localMask) << 2);
        store<u32>(h, load<u32>(h) + 1);
      }
      let at = begin;
      for (let d: u32 = 0; d < localCount; d++) {
        const c = load<u32>(local + (<usize>d << 2));
        store<u32>(local + (<usize>d << 2), at);
        at += c;
      }
      for (let i = begin; i < end; i++) {
        const key = load<u64>(scratch + (<usize>i << 3));
        const h = local + (<usize>((key >> (ORDER_ADDRESS_SHIFT + ORDER_GRANULARITY_SHIFT)) & localMask) << 2);
        const to = load<u32>(h);
        store<u32>(h, to + 1);
        store<u64>(keys + (<usize>to << 3), key);
      }
    } else if (end - begin == 1) {
      store<u64>(keys + (<usize>begin << 3), load<u64>(scratch + (<usize>begin << 3)));
    }
    begin = end;
  }
}

export function orderRelease(): void {
  heap.free(orderKeys);
  heap.free(orderScratch);
  orderKeys = 0;
  orderScratch = 0;
}
