// OutcomeEntryRing (host/wire/outcome-ring.ts): whatever a replica remembers, in any order,
// with keys set again and the oldest evicted past capacity, the ring gives exactly the bytes an
// encode of the Map gives, and so does a replica's.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeOutcomeEntries } from '../../host/wire/outcome-entries.ts';
import { OutcomeEntryRing, type RingOutcome } from '../../host/wire/outcome-ring.ts';
import type { TxId } from '../../host/wire/ids.ts';
import { REQUEST_OUTCOMES_MAX } from '../../host/protocol/replica.ts';
import { pool } from '../protocol/two-replicas.ts';
import { equalBytes } from '../../host/wire/bytes.ts';

const id = (n: number): string => n.toString(16).padStart(32, '0');
const txid = (n: number): TxId => n.toString(16).padStart(16, '0') as TxId;

/** ReplicaState.rememberRequest's bookkeeping, with a small capacity. */
function remember(
  map: Map<string, RingOutcome>,
  ring: OutcomeEntryRing,
  requestId: string,
  outcome: RingOutcome,
): void {
  const had = map.get(requestId);
  map.set(requestId, outcome);
  if (had === undefined) ring.added(requestId, outcome);
  else if (had.code !== outcome.code || had.txid !== outcome.txid) ring.changed();
  if (map.size > ring.capacity) map.delete(map.keys().next().value!);
}

describe('OutcomeEntryRing', () => {
  it('gives the encode of the Map after any sequence of remembers, reads between them', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.array(
          fc.record({
            key: fc.integer({ min: 0, max: 20 }),
            tx: fc.integer({ min: 1, max: 3 }),
            code: fc.constantFrom(0, 5004, 38720),
            read: fc.boolean(),
          }),
          { maxLength: 60 },
        ),
        (capacity, steps) => {
          const map = new Map<string, RingOutcome>();
          const ring = new OutcomeEntryRing(capacity);
          for (const step of steps) {
            remember(map, ring, id(step.key), { txid: txid(step.tx), code: step.code });
            if (step.read) expect(ring.entries(map)).toEqual(encodeOutcomeEntries(map));
          }
          expect(ring.entries(map)).toEqual(encodeOutcomeEntries(map));
          expect(ring.entries(map)).toEqual(encodeOutcomeEntries(map)); // after a rebuild too
        },
      ),
      { numRuns: 500 },
    );
  });

  it('wraps many times around a full ring without a rebuild', () => {
    const map = new Map<string, RingOutcome>();
    const ring = new OutcomeEntryRing(1000);
    for (let i = 0; i < 25_000; i++)
      remember(map, ring, id(i), { txid: txid(i >> 4), code: i % 7 });
    expect(ring.entries(map)).toEqual(encodeOutcomeEntries(map));
  });

  it('a malformed id makes it fall back to the encode, which reports it', () => {
    const map = new Map<string, RingOutcome>();
    const ring = new OutcomeEntryRing(4);
    remember(map, ring, 'not hex', { txid: txid(1), code: 0 });
    expect(() => ring.entries(map)).toThrow(RangeError);
  });

  it('refuses a capacity that is no positive integer', () => {
    for (const capacity of [0, -1, 1.5, Number.NaN])
      expect(() => new OutcomeEntryRing(capacity)).toThrow(RangeError);
  });
});

/** toEqual walks 1.8 MB element by element: far slower than comparing the bytes. */
function expectSameEntries(replica: ReturnType<typeof pool>[number]['replica']): void {
  const entries = replica.requestOutcomeEntries();
  expect(equalBytes(entries, encodeOutcomeEntries(replica.requestOutcomes))).toBe(true);
}

describe("a replica's request outcomes as entries", () => {
  it('are the encode of its Map past REQUEST_OUTCOMES_MAX, with outcomes set again', () => {
    const replica = pool()[0].replica;
    const total = REQUEST_OUTCOMES_MAX + 5_000;
    for (let i = 0; i < total; i++) {
      replica.rememberRequest(id(i), { txid: txid(i >> 3), code: 0 });
      if (i % 10_000 === 9_999) {
        replica.rememberRequest(id(i - 5), { txid: txid((i - 5) >> 3), code: 0 }); // the same
        expectSameEntries(replica);
      }
    }
    replica.rememberRequest(id(total - 1), { txid: txid(1), code: 5004 }); // another outcome
    expectSameEntries(replica);
    expect(replica.requestOutcomes.size).toBe(REQUEST_OUTCOMES_MAX);
  });
});
