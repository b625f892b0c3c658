// OldestFirst evicts exactly what `map.delete(map.keys().next().value)` would, in the same
// order, under any mix of inserts, updates, moves to the end and deletes of any key.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OldestFirst } from '../../host/wire/oldest-first.ts';

type Op =
  | { readonly kind: 'set'; readonly key: number; readonly value: number }
  | { readonly kind: 'move'; readonly key: number; readonly value: number }
  | { readonly kind: 'delete'; readonly key: number }
  | { readonly kind: 'trim'; readonly max: number };

const KEYS = 40;
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key: fc.nat(KEYS), value: fc.nat() }),
  fc.record({ kind: fc.constant('move' as const), key: fc.nat(KEYS), value: fc.nat() }),
  fc.record({ kind: fc.constant('delete' as const), key: fc.nat(KEYS) }),
  fc.record({ kind: fc.constant('trim' as const), max: fc.nat(KEYS) }),
);

/** The old way, as the bounded maps did it. */
function trimByFreshIterator(map: Map<number, number>, max: number): void {
  while (map.size > max) map.delete(map.keys().next().value!);
}

describe('OldestFirst', () => {
  it('leaves the same entries, in the same order, as deleting the first key each time', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const map = new Map<number, number>();
        const oldest = new OldestFirst(map);
        const model = new Map<number, number>();
        for (const o of ops) {
          for (const m of [map, model]) {
            if (o.kind === 'set') m.set(o.key, o.value);
            else if (o.kind === 'move') {
              m.delete(o.key);
              m.set(o.key, o.value);
            } else if (o.kind === 'delete') m.delete(o.key);
          }
          if (o.kind === 'trim') {
            oldest.trimTo(o.max);
            trimByFreshIterator(model, o.max);
          }
          expect([...map]).toEqual([...model]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the newest `max` of a long stream of inserts, trimming after each', () => {
    const map = new Map<string, number>();
    const oldest = new OldestFirst(map);
    const max = 1000;
    for (let i = 0; i < 50 * max; i++) {
      map.set(`k${i}`, i);
      oldest.trimTo(max);
    }
    const keys = [...map.keys()];
    expect(keys.length).toBe(max);
    expect(keys[0]).toBe(`k${49 * max}`);
    expect(keys[max - 1]).toBe(`k${50 * max - 1}`);
  });

  it('keeps no iterator past a call with nothing to evict (a kept one holds every table V8 rehashes)', () => {
    let iterators = 0;
    class Counting<K, V> extends Map<K, V> {
      override keys(): MapIterator<K> {
        iterators++;
        return super.keys();
      }
    }
    const map = new Counting<number, number>();
    const oldest = new OldestFirst(map);
    for (let i = 0; i < 100; i++) {
      map.set(i, i);
      oldest.trimTo(10);
    }
    expect(iterators).toBe(1); // one cursor for 90 evictions in a row
    oldest.trimTo(10); // nothing to evict: the cursor goes
    map.set(100, 100);
    oldest.trimTo(10);
    expect(iterators).toBe(2);
    expect([...map.keys()]).toEqual([91, 92, 93, 94, 95, 96, 97, 98, 99, 100]);
  });

  it('starts again after the map was emptied', () => {
    const map = new Map<number, number>([[1, 1]]);
    const oldest = new OldestFirst(map);
    oldest.trimTo(0);
    expect(map.size).toBe(0);
    oldest.trimTo(0);
    map.set(2, 2).set(3, 3);
    oldest.trimTo(1);
    expect([...map.keys()]).toEqual([3]);
  });
});
