// The request outcomes a replica remembers, kept as entry bytes too (wire/outcome-entries.ts),
// oldest first, in a ring of the newest `capacity`: a checkpoint's request-outcomes blob and a
// live-sync donor's outcomes are then a copy, not an encode of 65,536 hex ids. At a checkpoint
// that encode took 46-149 ms of the step that holds a node's commits (it runs about once a
// minute, so it is never optimized). Browser-safe.
//
// It mirrors a Map that only ever evicts its oldest key past `capacity` (ReplicaState's). A key
// set again with another outcome keeps its place in the Map, not here: the ring is then stale
// and is rebuilt from the Map at the next read. (A recovery that replays commits its blob
// already holds sets them again with the same outcome, which changes nothing.)

import { OUTCOME_ENTRY_SIZE, encodeOutcomeEntries, writeOutcomeEntry } from './outcome-entries.ts';
import type { TxId } from './ids.ts';

export interface RingOutcome {
  readonly txid: TxId;
  readonly code: number;
}

export class OutcomeEntryRing {
  private bytes: Uint8Array;
  /** Index of the oldest entry. */
  private head = 0;
  private count = 0;
  private stale = false;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity: a positive integer, got ${capacity}`);
    this.bytes = new Uint8Array(capacity * OUTCOME_ENTRY_SIZE);
  }

  /** A key new to the Map was set (the Map evicts its oldest past `capacity`, as this does). */
  added(requestId: string, outcome: RingOutcome): void {
    const slot = (this.head + this.count) % this.capacity;
    if (this.count === this.capacity) this.head = (this.head + 1) % this.capacity;
    else this.count++;
    try {
      writeOutcomeEntry(this.bytes, slot * OUTCOME_ENTRY_SIZE, { requestId, ...outcome });
    } catch {
      this.stale = true; // a malformed id: the Map's own encode reports it
    }
  }

  /** A key already in the Map got another outcome. */
  changed(): void {
    this.stale = true;
  }

  /** The Map's outcomes as entries, oldest first (a new array): copied from the ring, or
   * encoded from `map` when the ring is stale (and the ring rebuilt from them). */
  entries(map: ReadonlyMap<string, RingOutcome>): Uint8Array {
    if (this.stale || this.count !== map.size) {
      const entries = encodeOutcomeEntries(map);
      this.bytes.set(entries.subarray(-this.capacity * OUTCOME_ENTRY_SIZE));
      this.head = 0;
      this.count = Math.min(map.size, this.capacity);
      this.stale = false;
      return entries;
    }
    const size = OUTCOME_ENTRY_SIZE;
    const out = new Uint8Array(this.count * size);
    const first = Math.min(this.count, this.capacity - this.head);
    out.set(this.bytes.subarray(this.head * size, (this.head + first) * size));
    out.set(this.bytes.subarray(0, (this.count - first) * size), first * size);
    return out;
  }
}
