// Snapshot export and import of the whole store in bounded chunks (live-sync, backup,
// checkpoints). The stream: a 32-byte header, then frames (u32 length, record) in strictly
// ascending (kind, name) order, so equal states give equal bytes. An export takes a frozen
// view (sorted record pointers; blocks freed meanwhile wait), so the pool keeps committing
// while the stream is sent. An import goes into an empty store and ends by checking the
// record count, SP and SPVV against the header; any failure leaves the store empty.

import * as rc from './codes';
import { HEADER_SIZE, decodeRecord, isTemporaryObject } from './codec';
import { RECORD_SIZE_MAX, STORE_RECORDS_MAX } from './limits';
import { accHi, accLo, fold, recordCount, spValue, spvvValue } from './syncpoint';
import {
  allocateRecord, clearStore, compareRecords, frozen, indexHash, insertBlock, insertBlockHashed, orderKeyLength, orderKeyRecord, orderKeys, orderRecords,
  orderRelease, recordKind, recordName, recordNameLength, releaseRecord, releaseTable, reserve, setFrozen, tableFull, touchSlot, walkLength, walkRecord, walkSlots,
} from './keystore';
import { sortAbandon, sortBegin, sortRest, sortStep } from './name-sort';

export const SNAPSHOT_MAGIC: u32 = 0x53505348; // "HSPS"
export const SNAPSHOT_VERSION: u16 = 1;
export const SNAPSHOT_HEADER_SIZE: u32 = 32;
export const FRAME_HEADER_SIZE: u32 = 4;

// Export state.
let view: usize = 0; // u32 record pointers, sorted
let viewCount: u32 = 0;
let viewNext: u32 = 0;
/** Whether the view is in name order yet: the sort waits for the first read (exportNext). */
let viewSorted = false;
/** The frames' bytes of the frozen view (header excluded): what a live-sync BEGIN announces. */
let viewBytes: u64 = 0;

// Import state.
let importing = false;
let expectedCount: u64 = 0;
let expectedSp: u64 = 0;
let expectedSpvv: u32 = 0;
let previous: usize = 0;

/**
 * Freezes a view of the store and writes the header to `out`. Returns the header size or minus a code.
 * Performance: the header needs no order, so the name sort (most of an export's set-up, about
 * 60-200 ms at 1M records) waits for the first exportNext. A live-sync donor sends the header
 * first and sorts in a later step, while its joiner prepares its core (importReserve).
 */
export function exportBegin(out: usize): i32 {
  if (frozen || importing) return -rc.SNAPSHOT_STATE;
  viewCount = <u32>recordCount;
  view = heap.alloc(<usize>max(viewCount, 1) << 2);
  // The sort reads every record once for its first 16 bytes of kind‖name: in address order
  // (keystore.ts orderRecords) that read is sequential, in table order it misses at random.
  let n: u32 = 0;
  let bytes: u64 = 0;
  const ordered = orderRecords();
  if (ordered >= 0) {
    for (; n < <u32>ordered; n++) {
      const key = load<u64>(orderKeys + (<usize>n << 3));
      store<u32>(view + (<usize>n << 2), <u32>orderKeyRecord(key));
      bytes += FRAME_HEADER_SIZE + <u64>orderKeyLength(key);
    }
    orderRelease();
  } else {
    const slots = walkSlots();
    for (let s: u32 = 0; s < slots; s++) {
      const record = walkRecord(s);
      if (record != 0) { store<u32>(view + (<usize>n << 2), <u32>record); n++; bytes += FRAME_HEADER_SIZE + <u64>walkLength(s); }
    }
  }
  viewBytes = bytes;
  viewSorted = false;
  viewNext = 0;
  sortBegin(view, viewCount);
  setFrozen(true);
  fold(accLo, accHi, recordCount);
  store<u32>(out, SNAPSHOT_MAGIC);
  store<u16>(out, SNAPSHOT_VERSION, 4);
  store<u16>(out, 0, 6);
  store<u64>(out, recordCount, 8);
  store<u64>(out, spValue, 16);
  store<u16>(out, <u16>spvvValue, 24);
  store<u16>(out, 0, 26);
  store<u32>(out, 0, 28);
  return <i32>SNAPSHOT_HEADER_SIZE;
}

/** Record length from its header (the view keeps only pointers). */
function recordLength(record: usize): u32 {
  return 8 + <u32>load<u8>(record, 2) + load<u32>(record, 4);
}

/** Writes the next frames into [out, out + capacity). Returns bytes written (0 = done) or minus a code. */
export function exportNext(out: usize, capacity: u32): i32 {
  if (!frozen || view == 0) return -rc.SNAPSHOT_STATE;
  if (capacity < RECORD_SIZE_MAX + FRAME_HEADER_SIZE) return -rc.SNAPSHOT_STATE;
  if (!viewSorted) {
    // The view's records stay as they were at the freeze (frees wait for exportEnd).
    sortRest();
    viewSorted = true;
  }
  let at: u32 = 0;
  while (viewNext < viewCount) {
    const record = <usize>load<u32>(view + (<usize>viewNext << 2));
    const length = recordLength(record);
    if (capacity - at < FRAME_HEADER_SIZE + length) break;
    store<u32>(out + at, length);
    memory.copy(out + at + FRAME_HEADER_SIZE, record, length);
    at += FRAME_HEADER_SIZE + length;
    viewNext++;
  }
  return <i32>at;
}

/**
 * Sorts about `budget` more records of the open export's view (exportNext sorts whatever is
 * left). Returns 1 once the view is sorted, 0 while steps remain, or minus a code. A caller
 * that takes the steps in separate turns lets writes go on while the view is ordered.
 */
export function exportPrepare(budget: u32): i32 {
  if (!frozen || view == 0) return -rc.SNAPSHOT_STATE;
  if (!viewSorted && sortStep(budget)) viewSorted = true;
  return viewSorted ? 1 : 0;
}

/** The frames' bytes of the open export's view (0 when none is open). */
export function exportBytes(): u64 { return view != 0 ? viewBytes : 0; }

export function exportEnd(): void {
  sortAbandon();
  if (view != 0) heap.free(view);
  view = 0;
  viewCount = 0;
  viewNext = 0;
  viewSorted = false;
  setFrozen(false);
}

function failImport(code: i32): i32 {
  clearStore();
  releaseTable(); // what the header's count reserved once the table filled
  importing = false;
  previous = 0;
  return code;
}

/** Starts an import into the (empty) store from a header. Returns a code. */
export function importBegin(header: usize, length: u32): i32 {
  if (frozen || importing) return rc.SNAPSHOT_STATE;
  if (recordCount != 0) return rc.SNAPSHOT_STATE;
  if (length != SNAPSHOT_HEADER_SIZE || load<u32>(header) != SNAPSHOT_MAGIC || load<u16>(header, 4) != SNAPSHOT_VERSION
    || load<u16>(header, 6) != 0 || load<u16>(header, 26) != 0 || load<u32>(header, 28) != 0) {
    return rc.SNAPSHOT_BAD_HEADER;
  }
  expectedCount = load<u64>(header, 8);
  expectedSp = load<u64>(header, 16);
  expectedSpvv = <u32>load<u16>(header, 24);
  importing = true;
  previous = 0;
  return rc.OK;
}

/** Heap bytes importReserve touches ahead at most: a 2M-record store of 100-byte records. */
export const IMPORT_PREFAULT_BYTES_MAX: u64 = 256 << 20;
/** Heap bytes a record of the stream takes beyond its frame: block padding and header. */
const RECORD_BLOCK_SLACK: u64 = 16;

/**
 * Prepares an import for the header's count now rather than as the records come, so that the
 * time it takes can overlap the sender's sort: sizes the table (otherwise when it first fills,
 * importFrame), and touches the heap the records will take (`frameBytes` of frames announced,
 * at most IMPORT_PREFAULT_BYTES_MAX). Performance: both are fresh memory, and the first write
 * to each page is a page fault (the table and 1M records: about 0.1-0.3 s here); touched in one
 * pass ahead they cost less than inside the import, and nothing while the sender sorts. For a
 * sender already trusted with the store's content (a live-sync donor proved the pool key); an
 * import from a file keeps the lazy rule. Returns a code.
 */
export function importReserve(frameBytes: u64): i32 {
  if (!importing || recordCount != 0) return rc.SNAPSHOT_STATE;
  reserve(expectedCount);
  const records = min<u64>(expectedCount, <u64>STORE_RECORDS_MAX);
  const bytes = min<u64>(frameBytes + records * RECORD_BLOCK_SLACK, IMPORT_PREFAULT_BYTES_MAX);
  if (bytes >= 4096) {
    // A block freed whole goes back to the allocator's pool: the record blocks split it.
    const block = heap.alloc(<usize>bytes);
    for (let at: usize = 0; at < <usize>bytes; at += 4096) store<u8>(block + at, 0);
    heap.free(block);
  }
  return rc.OK;
}

/** Frames an import reads the table ahead for before it inserts them (see importChunk). */
const IMPORT_WINDOW: u32 = 256;
/** Per frame of the window: its offset in the chunk (u32) and its index hash (u32). */
const importWindow = memory.data(<i32>(IMPORT_WINDOW * 8), 8);
/** Folds the read-ahead's loads so they are not optimised away. */
let importSink: u32 = 0;

/**
 * Imports whole frames from a chunk. On any error the store is emptied and the import ends.
 * Performance: a frame's home slot in the table is a cache and TLB miss at random over the
 * table. The frames are taken IMPORT_WINDOW at a time: a first pass hashes each name and
 * reads its home slot, so the misses overlap, then the second checks and inserts them in
 * order, as one pass would.
 */
export function importChunk(p: usize, length: u32): i32 {
  if (!importing) return rc.SNAPSHOT_STATE;
  let at: u32 = 0;
  while (at < length) {
    let n: u32 = 0;
    let end = at;
    let sink: u32 = 0;
    while (n < IMPORT_WINDOW && length - end >= FRAME_HEADER_SIZE) {
      const size = load<u32>(p + end);
      if (size > RECORD_SIZE_MAX || length - end - FRAME_HEADER_SIZE < size) break;
      const record = p + end + FRAME_HEADER_SIZE;
      let h: u32 = 0;
      if (size >= HEADER_SIZE && HEADER_SIZE + recordNameLength(record) <= size) {
        h = indexHash(recordKind(record), recordName(record), recordNameLength(record));
        sink ^= touchSlot(h);
      }
      store<u32>(importWindow + (<usize>n << 3), end);
      store<u32>(importWindow + (<usize>n << 3), h, 4);
      n++;
      end += FRAME_HEADER_SIZE + size;
    }
    importSink ^= sink;
    if (n == 0) return failImport(rc.SNAPSHOT_BAD_FRAME); // the frame at `at` is cut or too long
    for (let i: u32 = 0; i < n; i++) {
      const frame = load<u32>(importWindow + (<usize>i << 3));
      const code = importFrame(p + frame + FRAME_HEADER_SIZE, load<u32>(p + frame), load<u32>(importWindow + (<usize>i << 3), 4));
      if (code != rc.OK) return code;
    }
    at = end;
  }
  return rc.OK;
}

/** Checks and inserts one frame's record (`h`: its index hash, 0 if not computed). */
function importFrame(record: usize, size: u32, h: u32): i32 {
  const code = decodeRecord(record, size, 0);
  if (code != rc.OK) return failImport(code);
  if (isTemporaryObject(record)) return failImport(rc.OBJECT_TEMPORARY);
  if (previous != 0 && compareRecords(previous, record) >= 0) return failImport(rc.SNAPSHOT_OUT_OF_ORDER);
  if (recordCount >= expectedCount) return failImport(rc.SNAPSHOT_MISMATCH);
  // The first time the table fills, it is sized for the header's count at once (at most what
  // a full store needs; a refused import gives it back). Not sooner: a header alone, true or
  // not, costs no more than a table of TABLE_SLOTS_MIN.
  if (tableFull()) reserve(expectedCount);
  const block = allocateRecord(record, size);
  const inserted = h != 0 ? insertBlockHashed(block, size, h) : insertBlock(block, size);
  if (inserted != rc.OK) {
    releaseRecord(block, size);
    return failImport(inserted);
  }
  previous = block;
  return rc.OK;
}

/** Ends an import: count, SP and SPVV must match the header. */
export function importEnd(): i32 {
  if (!importing) return rc.SNAPSHOT_STATE;
  fold(accLo, accHi, recordCount);
  if (recordCount != expectedCount || spValue != expectedSp || spvvValue != expectedSpvv) {
    return failImport(rc.SNAPSHOT_MISMATCH);
  }
  importing = false;
  previous = 0;
  return rc.OK;
}

export function importAbort(): void {
  if (importing) failImport(rc.OK);
}

export function isImporting(): bool { return importing; }
