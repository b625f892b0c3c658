// Deletes a Map's oldest entries (insertion order), for the Maps bounded by evicting their first
// key on overflow. Browser-safe.
//
// Performance: `map.delete(map.keys().next().value)` is O(holes) in V8. A deleted entry stays a
// hole in the table until it is rehashed, and every new iterator walks past each hole at the
// front. A Map of 65,536 request outcomes took 8-30 µs per insert once full (0.5 µs with this),
// and every member pays it for every write: about 3 % of a coordinator's time at 1,500 writes/s
// (docs/PERFORMANCE.md). A live iterator kept between calls walks past each hole once. It sees
// entries added after it was made, and every entry it passed was deleted here, so its next
// entry is the oldest.
//
// Memory: a live iterator holds the table it started on, and V8 chains each table it rehashes to
// the next, so an iterator kept while a map is rehashed again and again holds every table of the
// chain (measured: 238 MB after 3M moves to the end of a 1,024-entry map). The cursor is kept
// only from one eviction to the next: a call with nothing to evict drops it. The owners call
// trimTo after every insert, so between two kept calls a map changes by a few operations.

export class OldestFirst<K> {
  private cursor: Iterator<K> | undefined;

  constructor(private readonly map: Map<K, unknown>) {}

  /** Deletes entries, oldest first, until the map holds at most `max`. Call it after every insert. */
  trimTo(max: number): void {
    if (this.map.size <= max) {
      this.cursor = undefined;
      return;
    }
    while (this.map.size > max) {
      let next = this.cursor?.next();
      if (next === undefined || next.done === true) {
        // An iterator that reached the end stays there: a fresh one starts at the oldest.
        this.cursor = this.map.keys();
        next = this.cursor.next();
      }
      this.map.delete(next.value as K);
    }
  }
}
