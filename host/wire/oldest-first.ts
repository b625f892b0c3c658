// Deletes a Map's oldest entries (insertion order), for the Maps bounded by evicting their first
// key on overflow. Browser-safe.
//
// Performance: `map.delete(map.keys().next().value)` is O(holes) in V8. A deleted entry stays a
// hole in the table until it is rehashed, and every new iterator walks past each hole at the
// front. A Map of 65,536 request outcomes took 8-30 µs per insert once full (0.5 µs with this),
// and every member pays it for every write: a pool lost a quarter to a third of its commit
// throughput after its first 65,536 writes. A live iterator kept between calls walks past each
// hole once. It sees entries added after it was made, and every entry it passed was deleted
// here, so its next entry is the oldest.

export class OldestFirst<K> {
  private cursor: Iterator<K> | undefined;

  constructor(private readonly map: Map<K, unknown>) {}

  /** Deletes entries, oldest first, until the map holds at most `max`. */
  trimTo(max: number): void {
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
