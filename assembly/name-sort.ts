// Sorting record pointers by (kind, name), the order of snapshot streams (snapshot.ts).
// Performance (bench:live-sync, 1M records): a merge sort calling compareRecords reads two
// records at random on each of its ~20M comparisons and took ≈ 2 s, a third of a live-sync.
// This is an MSD radix sort instead: a level sorts by an 8-byte key (bytes 8·depth ..
// 8·depth+7 of kind‖name, big-endian, zero-padded), the keys are LSD-radix-sorted with their
// pointers, and only runs of equal keys go a level deeper. The keys of levels 0 and 1 are read
// together, in the caller's order (address order: sequential); deeper levels read the records
// of their runs again.
// Zero-padding orders like the exact comparison (shorter first on a common prefix) except
// where a name's remaining bytes are zeros; runs that tie with every name exhausted, and
// small runs, are finished by insertion sort with compareRecords, so the result is exact.

import { compareRecords, recordKind, recordName, recordNameLength } from './keystore';

/** An entry: the u64 key, the u32 record pointer (and 4 bytes of padding), then the u64 key of
 * the next level, read with the first: a name's first 16 bytes of kind‖name cost one read of
 * its record, in the caller's order (snapshot.ts passes records in address order). */
const ENTRY: usize = 24;
const E_NEXT_KEY: usize = 16;
const RADIX: u32 = 256;
const KEY_BYTES: u32 = 8;
/** Runs up to this long are insertion-sorted by compareRecords instead of radix-sorted. */
const SMALL_RUN: u32 = 24;
const histograms = memory.data(<i32>(RADIX * KEY_BYTES * 4), 16);

/** Finishes the sort under way at once (a read of a view not yet ordered in steps). */
export function sortRest(): void {
  while (!sortStep(U32.MAX_VALUE));
}

// ---- Sorting in steps ----
// Performance (bench:checkpoint, 1M keys): a running node's checkpoint sorted its frozen view
// in one call, 68-424 ms during which the node answered nothing. The same sort now runs as a
// sequence of steps of about `budget` records each, so a caller can let other work run between
// them (the records stay put: the view is frozen). The steps: read the level-0 and level-1 keys
// of each record (counting level 0's bytes), scatter by each byte of the level-0 key that does
// not agree everywhere (one LSD pass each), finish each run of equal level-0 keys (deeper
// levels, insertion sort), copy the pointers back. A run of equal level-0 keys is finished in
// one step however long it is (names sharing their first 7 bytes).

const STEP_IDLE: u32 = 0;
const STEP_KEYS: u32 = 1;
const STEP_SCATTER: u32 = 2;
const STEP_RUNS: u32 = 3;
const STEP_COPY: u32 = 4;
const STEP_PRESCAN: u32 = 5;
const STEP_MERGE: u32 = 6;

let stepPhase = STEP_IDLE;
let stepView: usize = 0;
let stepCount: u32 = 0;
let stepCursor: u32 = 0;
/** Bit b set: the LSD pass on byte b of the level-0 key still has to run. */
let stepPasses: u32 = 0;
let stepEntries: usize = 0;
let stepScratch: usize = 0;

// ---- A view mostly in name order already ----
// Performance (a live-sync joiner's join image, 1M records): a store imported from a snapshot
// holds its records in name order in memory, and the freeze lists them in address order, so the
// view is in order but for a few stretches (records the import put into freed holes, and what
// changed since: the catch-up's writes). The radix sort still took 181 ms cold there, most of
// it the first touches of its 48 MB of entries. The sort now scans the view first
// (STEP_PRESCAN) with an insertion sort that moves a record back at most PRESCAN_WINDOW places:
// enough for the freeze's order, which is by address only to 512 bytes (keystore.ts
// orderRecords). A record it cannot place starts a new run, and a run's start never moves
// again (the records after it move back less far). Then the longest run stays, the other
// records are radix-sorted aside and merged into it (STEP_MERGE). When runs come often, or
// the longest leaves more than 1/2^ASIDE_SHARE_SHIFT of the view aside, the whole view is
// radix-sorted as before (a store written key by key: its records are not in name order).
// Records written since the import (at most that share of the view) are merged too.
// The order is compareRecords' either way.

/** The most records left out of the longest run for the merge (else the whole view is sorted):
 * 1/2^ASIDE_SHARE_SHIFT of the view, or ASIDE_MIN. An import leaves about 900 records in
 * short runs whatever its size (the holes of the tables and buffers it freed). */
const ASIDE_SHARE_SHIFT: u32 = 3;
const ASIDE_MIN: u32 = 4096;
/** More runs than RUNS_MIN and one per 2^RUNS_RATE_SHIFT records scanned, and the scan gives up
 * where it is: about 220 runs after an import, one per record or two in a store written in
 * random order. Records written since an import lie after it, at the end of the view, each
 * its own run: up to the aside limit they are merged too. */
const RUNS_RATE_SHIFT: u32 = 2;
const RUNS_MIN: u32 = 1024;
/** How far back the scan moves a record to its place. */
const PRESCAN_WINDOW: u32 = 16;
/** How the last sort begun went (sort_path): for tests and benchmarks. */
export const PATH_NONE: u32 = 0;
export const PATH_IN_ORDER: u32 = 1;
export const PATH_MERGED: u32 = 2;
export const PATH_GAVE_UP: u32 = 3;
let lastPath: u32 = PATH_NONE;
/** The scan's runs: how many, where the current one starts, and the longest so far. */
let runs: u32 = 0;
let runStart: u32 = 0;
let longestStart: u32 = 0;
let longestLength: u32 = 0;
/** The records aside (sorted by the radix sort, then merged), and how many are left. */
let aside: usize = 0;
let asideCount: u32 = 0;
/** The view while the records aside are sorted and merged into it. */
let mergeView: usize = 0;
/** The longest run, at the view's front: the merge's read cursor from the back. */
let mergeKept: u32 = 0;

export function sortPath(): u32 { return lastPath; }

/** Starts sorting the `n` u32 record pointers at `view` by (kind, name); names must be distinct,
 * and the view must not change until done. */
export function sortBegin(view: usize, n: u32): void {
  sortAbandon();
  stepView = view;
  stepCount = n;
  stepCursor = 0;
  lastPath = PATH_IN_ORDER;
  if (n < 2) return;
  runs = 1;
  runStart = 0;
  longestStart = 0;
  longestLength = 0;
  stepPhase = STEP_PRESCAN;
}

/** Starts the radix sort of the `n` pointers at `view` (the whole view, or the records aside). */
function radixBegin(view: usize, n: u32): void {
  stepView = view;
  stepCount = n;
  stepEntries = heap.alloc(<usize>n * ENTRY);
  stepScratch = heap.alloc(<usize>n * ENTRY);
  memory.fill(histograms, 0, <usize>RADIX * KEY_BYTES * 4);
  nextPhase(STEP_KEYS);
}

/** Frees what a sort under way holds (an export ended before its view was sorted). */
export function sortAbandon(): void {
  freeEntries();
  if (aside != 0) heap.free(aside);
  aside = 0;
  asideCount = 0;
  mergeView = 0;
  mergeKept = 0;
  stepPhase = STEP_IDLE;
}

function freeEntries(): void {
  if (stepEntries != 0) heap.free(stepEntries);
  if (stepScratch != 0) heap.free(stepScratch);
  stepEntries = 0;
  stepScratch = 0;
}

/**
 * Sorts on for about `budget` records of work (at least one), through as many phases as that
 * covers (a small view is sorted in one call); true once the view is sorted.
 */
export function sortStep(budget: u32): bool {
  let left = max<u32>(budget, 1);
  while (stepPhase != STEP_IDLE && left > 0) {
    const from = stepCursor;
    const n = stepCount;
    let end = <u32>min<u64>(<u64>from + <u64>left, <u64>n);
    if (stepPhase == STEP_PRESCAN) {
      end = prescan(from, end);
    } else if (stepPhase == STEP_MERGE) {
      end = from + merge(left);
    } else if (stepPhase == STEP_KEYS) {
      readKeys(from, end);
      stepCursor = end;
      if (end == n) {
        stepPasses = 0;
        for (let b: u32 = 0; b < KEY_BYTES; b++) {
          if (toOffsets(histograms + ((<usize>b * RADIX) << 2), n)) stepPasses |= 1 << b;
        }
        nextPhase(stepPasses != 0 ? STEP_SCATTER : STEP_RUNS);
      }
    } else if (stepPhase == STEP_SCATTER) {
      const b = <u32>ctz<u32>(stepPasses);
      scatter(stepEntries, stepScratch, from, end, histograms + ((<usize>b * RADIX) << 2), <u64>b << 3);
      stepCursor = end;
      if (end == n) {
        const sorted = stepScratch;
        stepScratch = stepEntries;
        stepEntries = sorted;
        stepPasses &= ~(<u32>1 << b);
        if (stepPasses == 0) nextPhase(STEP_RUNS);
        else stepCursor = 0;
      }
    } else if (stepPhase == STEP_RUNS) {
      let start = from;
      while (start < end) start = finishRun(stepEntries, stepScratch, start, n, 0);
      stepCursor = start;
      end = start; // a run is finished whole, however far past the budget it goes
      if (start == n) nextPhase(STEP_COPY);
    } else {
      for (let i = from; i < end; i++) store<u32>(stepView + (<usize>i << 2), load<u32>(stepEntries + <usize>i * ENTRY, 8));
      stepCursor = end;
      if (end == n) {
        if (mergeView == 0) sortAbandon();
        else {
          freeEntries();
          nextPhase(STEP_MERGE);
        }
      }
    }
    left = end - from >= left ? 0 : left - (end - from);
  }
  return stepPhase == STEP_IDLE;
}

/**
 * Scans view records [from, to) (see "A view mostly in name order already"). Returns where it
 * stopped: `to`, or where it gave up (then the radix sort of the whole view has begun).
 */
function prescan(from: u32, to: u32): u32 {
  const view = stepView;
  const n = stepCount;
  for (let i = max<u32>(from, 1); i < to; i++) {
    const record = load<u32>(view + (<usize>i << 2));
    const floor = i > PRESCAN_WINDOW ? i - PRESCAN_WINDOW : 0;
    let place = i;
    while (place > floor && compareRecords(<usize>load<u32>(view + (<usize>(place - 1) << 2)), <usize>record) > 0) place--;
    if (place < i) {
      const at = view + (<usize>place << 2);
      memory.copy(at + 4, at, <usize>(i - place) << 2);
      store<u32>(at, record);
    }
    if (place > 0 && place == floor && compareRecords(<usize>load<u32>(view + (<usize>(place - 1) << 2)), <usize>record) > 0) {
      // Out of reach: a run ends before it. The scan gives up when runs come too often (a
      // store written in random order), or when the records before this run that the longest
      // so far leaves out are already too many to merge.
      endRun(place);
      if (++runs > RUNS_MIN + (i >> RUNS_RATE_SHIFT) || runStart - longestLength > asideMax(n)) {
        giveUp();
        return i + 1;
      }
    }
  }
  stepCursor = to;
  if (to < n) return to;
  endRun(n);
  if (longestLength == n) {
    sortAbandon();
    return to;
  }
  const m = n - longestLength;
  if (m > asideMax(n)) {
    giveUp();
    return to;
  }
  // Every record outside the longest run goes aside; the run moves to the front.
  lastPath = PATH_MERGED;
  aside = heap.alloc(<usize>m << 2);
  const after = longestStart + longestLength;
  memory.copy(aside, view, <usize>longestStart << 2);
  memory.copy(aside + (<usize>longestStart << 2), view + (<usize>after << 2), <usize>(n - after) << 2);
  memory.copy(view, view + (<usize>longestStart << 2), <usize>longestLength << 2);
  asideCount = m;
  mergeView = view;
  mergeKept = longestLength;
  radixBegin(aside, m);
  return to;
}

function asideMax(n: u32): u32 {
  return max<u32>(ASIDE_MIN, n >> ASIDE_SHARE_SHIFT);
}

function endRun(end: u32): void {
  if (end - runStart > longestLength) {
    longestStart = runStart;
    longestLength = end - runStart;
  }
  runStart = end;
}

/** The scan gives up: the whole view (a permutation of what it was) is radix-sorted. */
function giveUp(): void {
  lastPath = PATH_GAVE_UP;
  radixBegin(stepView, stepCount);
}

/**
 * Merges the sorted records aside into the view, from the back: each goes after the kept
 * records greater than it, found by a galloping search, which move up in one copy. Takes about
 * `budget` records moved (at least one placed); returns how many it moved. Done: the sort ends.
 */
function merge(budget: u32): u32 {
  const view = mergeView;
  let moved: u32 = 0;
  while (asideCount > 0 && moved < budget) {
    const record = <usize>load<u32>(aside + (<usize>(asideCount - 1) << 2));
    // The first kept record greater than this one: [low, mergeKept) move up by asideCount.
    // Galloping back from the end first: with many records aside each lands near the last
    // (a search over the whole run read ~20 records at random each: 99 ms for 60,000 aside
    // in 1M, slower than the radix sort), with few the search is short anyway.
    let low: u32 = 0;
    let high = mergeKept;
    let stride: u32 = 1;
    while (high > 0) {
      const at = high > stride ? high - stride : 0;
      if (compareRecords(<usize>load<u32>(view + (<usize>at << 2)), record) < 0) {
        low = at + 1;
        break;
      }
      high = at;
      stride <<= 1;
    }
    while (low < high) {
      const middle = low + ((high - low) >> 1);
      if (compareRecords(<usize>load<u32>(view + (<usize>middle << 2)), record) < 0) low = middle + 1;
      else high = middle;
    }
    const block = mergeKept - low;
    memory.copy(view + (<usize>(low + asideCount) << 2), view + (<usize>low << 2), <usize>block << 2);
    store<u32>(view + (<usize>(low + asideCount - 1) << 2), <u32>record);
    mergeKept = low;
    asideCount--;
    moved += block + 1;
  }
  if (asideCount == 0) sortAbandon();
  return moved;
}

function nextPhase(phase: u32): void {
  stepPhase = phase;
  stepCursor = 0;
}

/** Entries [from, to) from the view: the level-0 and level-1 keys and the pointer; counts the
 * level-0 key's bytes. */
function readKeys(from: u32, to: u32): void {
  for (let i = from; i < to; i++) {
    const e = stepEntries + <usize>i * ENTRY;
    const record = load<u32>(stepView + (<usize>i << 2));
    const key = nameKey(<usize>record, 0);
    store<u64>(e, key);
    store<u32>(e, record, 8);
    store<u64>(e, nameKey(<usize>record, 1), E_NEXT_KEY);
    for (let b: u32 = 0; b < KEY_BYTES; b++) {
      const h = histograms + ((<usize>b * RADIX + <usize>((key >> (<u64>b << 3)) & 0xff)) << 2);
      store<u32>(h, load<u32>(h) + 1);
    }
  }
}

/**
 * Finishes the run of equal keys at `depth` that starts at entry `start` of the `n` sorted by
 * those keys: deeper levels when a name goes on, else insertion sort. Returns the run's end.
 */
function finishRun(entries: usize, scratch: usize, start: u32, n: u32, depth: u32): u32 {
  const key = load<u64>(entries + <usize>start * ENTRY);
  let end = start + 1;
  while (end < n && load<u64>(entries + <usize>end * ENTRY) == key) end++;
  if (end - start > 1) {
    let deeper = false;
    for (let i = start; i < end && !deeper; i++) deeper = longerThanKeys(<usize>load<u32>(entries + <usize>i * ENTRY, 8), depth);
    const run = entries + <usize>start * ENTRY;
    if (deeper) sortRange(run, scratch, end - start, depth + 1);
    else insertionSort(run, end - start, depth <= 1);
  }
  return end;
}

/** Byte `at` of kind‖name, 0 past its end. */
// @ts-ignore: decorator
@inline
function keyByte(record: usize, at: u32): u64 {
  if (at == 0) return <u64>recordKind(record);
  return at - 1 < recordNameLength(record) ? <u64>load<u8>(recordName(record) + at - 1) : 0;
}

function nameKey(record: usize, depth: u32): u64 {
  const start = depth * KEY_BYTES;
  let key: u64 = 0;
  for (let i: u32 = 0; i < KEY_BYTES; i++) key = (key << 8) | keyByte(record, start + i);
  return key;
}

/** Whether kind‖name has bytes past the first `depth + 1` keys. */
// @ts-ignore: decorator
@inline
function longerThanKeys(record: usize, depth: u32): bool {
  return 1 + recordNameLength(record) > (depth + 1) * KEY_BYTES;
}

/** Sorts the n entries at `entries` (their keys at levels before `depth` are equal). */
function sortRange(entries: usize, scratch: usize, n: u32, depth: u32): void {
  if (n <= SMALL_RUN) {
    insertionSort(entries, n, depth <= 1);
    return;
  }
  // Level 0's keys and level 1's were read by readKeys; deeper ones come from the records.
  if (depth == 1) {
    for (let i: u32 = 0; i < n; i++) {
      const e = entries + <usize>i * ENTRY;
      store<u64>(e, load<u64>(e, E_NEXT_KEY));
    }
  } else if (depth > 1) {
    for (let i: u32 = 0; i < n; i++) {
      const e = entries + <usize>i * ENTRY;
      store<u64>(e, nameKey(<usize>load<u32>(e, 8), depth));
    }
  }
  radixSortKeys(entries, scratch, n);
  let start: u32 = 0;
  while (start < n) start = finishRun(entries, scratch, start, n, depth);
}

/** Stable LSD radix sort of n entries by key, a byte per pass; passes where all agree are skipped. */
function radixSortKeys(entries: usize, scratch: usize, n: u32): void {
  memory.fill(histograms, 0, <usize>RADIX * KEY_BYTES * 4);
  for (let i: u32 = 0; i < n; i++) {
    const key = load<u64>(entries + <usize>i * ENTRY);
    for (let b: u32 = 0; b < KEY_BYTES; b++) {
      const h = histograms + ((<usize>b * RADIX + <usize>((key >> (<u64>b << 3)) & 0xff)) << 2);
      store<u32>(h, load<u32>(h) + 1);
    }
  }
  let source = entries, target = scratch;
  for (let b: u32 = 0; b < KEY_BYTES; b++) {
    const histogram = histograms + ((<usize>b * RADIX) << 2);
    if (!toOffsets(histogram, n)) continue;
    scatter(source, target, 0, n, histogram, <u64>b << 3);
    const t = source; source = target; target = t;
  }
  if (source != entries) memory.copy(entries, source, <usize>n * ENTRY);
}

/** One LSD pass over entries [from, to) of `source` into `target`, by the key byte at `shift`
 * (`histogram`: that byte's next free offsets, advanced). */
function scatter(source: usize, target: usize, from: u32, to: u32, histogram: usize, shift: u64): void {
  for (let i = from; i < to; i++) {
    const e = source + <usize>i * ENTRY;
    const key = load<u64>(e);
    const h = histogram + (<usize>((key >> shift) & 0xff) << 2);
    const at = load<u32>(h);
    store<u32>(h, at + 1);
    const t = target + <usize>at * ENTRY;
    store<u64>(t, key);
    store<u64>(t, load<u64>(e, 8), 8);
    store<u64>(t, load<u64>(e, E_NEXT_KEY), E_NEXT_KEY);
  }
}

/** Turns counts into start offsets; false when one digit holds all n (the pass is skipped). */
function toOffsets(histogram: usize, n: u32): bool {
  let sum: u32 = 0;
  for (let d: u32 = 0; d < RADIX; d++) {
    const h = histogram + (<usize>d << 2);
    const c = load<u32>(h);
    if (c == n) return false;
    store<u32>(h, sum);
    sum += c;
  }
  return true;
}

/**
 * Sorts n entries by (kind, name). With `keyed` (levels 0 and 1, whose keys readKeys read:
 * an entry holds the key of its level, or of level 0 while level 1 has not started, then the
 * key of level 1), entries compare by their two keys first and read their records only on a
 * tie. Performance: names like `k0000000`..`k0999999` leave runs of ten at level 1, and
 * comparing those by records alone read two records per comparison. With the records scattered
 * in memory, the first export of 1M of them took 533-625 ms that way and 347-392 ms now; with
 * them in name order (a joiner's import) it makes no difference. Keys that differ order the names as compareRecords does (the
 * zero padding, above); equal keys say nothing, and compareRecords decides.
 */
function insertionSort(entries: usize, n: u32, keyed: bool): void {
  for (let i: u32 = 1; i < n; i++) {
    const e = entries + <usize>i * ENTRY;
    const record = load<u32>(e, 8);
    const key = load<u64>(e);
    const nextKey = load<u64>(e, E_NEXT_KEY);
    let j = i;
    while (j > 0) {
      const b = entries + <usize>(j - 1) * ENTRY;
      const before = load<u32>(b, 8);
      if (keyed) {
        const beforeKey = load<u64>(b);
        const beforeNext = load<u64>(b, E_NEXT_KEY);
        if (beforeKey < key || (beforeKey == key && beforeNext < nextKey)) break;
        if (beforeKey == key && beforeNext == nextKey && compareRecords(<usize>before, <usize>record) <= 0) break;
      } else if (compareRecords(<usize>before, <usize>record) <= 0) break;
      memory.copy(entries + <usize>j * ENTRY, b, ENTRY);
      j--;
    }
    const e2 = entries + <usize>j * ENTRY;
    store<u64>(e2, key);
    store<u32>(e2, record, 8);
    store<u64>(e2, nextKey, E_NEXT_KEY);
  }
}
