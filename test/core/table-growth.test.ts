// The key table grows in steps taken by the writes after it passes half full
// (assembly/keystore.ts "Growth in steps"): first the next table is zeroed, then the records
// move into it a few slots per operation while lookups search both tables. Every operation must
// see the store a table that grew in one go would show: lookups, replaces, deletes, failing
// writes and dry runs, listings, exports started in either phase, the from-scratch Sync-Point.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeBatch, type Write } from '../../host/core/batch.ts';
import type { Core } from '../../host/core/core.ts';
import type { StoreRecord } from '../../host/core/records.ts';
import { Random } from '../../host/protocol/random.ts';
import { keyedCore, sampleObject, sampleUser, toHex } from '../fixtures.ts';

type Phase = ReturnType<Core['tableGrowth']>;

const keyOf = (kind: StoreRecord['kind'], name: string): string => `${kind}/${name}`;

function recordOf(kind: 'object' | 'user', name: string, version: number): StoreRecord {
  return kind === 'object'
    ? sampleObject(name, 'alice', 29 + (version % 40), version)
    : sampleUser(name, version);
}

function contents(core: Core): string[] {
  return core.list().map(toHex).sort();
}

/** A store holding exactly `model`'s records, each inserted once into a table sized in one go. */
function rebuilt(variant: 'release' | 'scalar', model: Map<string, Uint8Array>): Core {
  const core = keyedCore(variant);
  const records = [...model.values()];
  for (let i = 0; i < records.length; i += 256) {
    core.apply(
      encodeBatch(
        records.slice(i, i + 256).map((record) => ({
          event: 'NULL',
          operations: [{ op: 'insert', record }],
        })),
      ),
    );
  }
  return core;
}

describe.each(['release', 'scalar', 'debug'] as const)(
  'the key table growing in steps (%s build)',
  (variant) => {
    it('every operation agrees with a model in each phase of three growths', () => {
      const phasesChecked = new Set<Phase>();
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 2 ** 31 - 1 }),
          fc.integer({ min: 1, max: 6 }),
          (seed, batchMax) => {
            const random = new Random(seed);
            const store = keyedCore(variant);
            const model = new Map<string, Uint8Array>();
            const names: { kind: 'object' | 'user'; name: string }[] = [];
            let version = 0;
            // Grows 1024 -> 2048 -> 4096 -> 8192 slots (at 512, 1024 and 2048 records).
            while (model.size < 2300) {
              const writes: Write[] = [];
              const touched: { kind: 'object' | 'user'; name: string }[] = [];
              const count = 1 + random.below(batchMax);
              for (let w = 0; w < count; w++) {
                const roll = random.below(100);
                if (roll < 62 || names.length === 0) {
                  const kind = random.below(4) === 0 ? 'user' : 'object';
                  const name = `n${names.length}`;
                  names.push({ kind, name });
                  const record = store.encode(recordOf(kind, name, ++version));
                  writes.push({ event: 'CREATE_OBJ', operations: [{ op: 'insert', record }] });
                  touched.push({ kind, name });
                  continue;
                }
                const { kind, name } = names[random.below(names.length)];
                touched.push({ kind, name });
                if (roll < 80) {
                  const record = store.encode(recordOf(kind, name, ++version));
                  writes.push({ event: 'UPDATE_OBJ', operations: [{ op: 'replace', record }] });
                } else if (roll < 95) {
                  writes.push({ event: 'DELETE_OBJ', operations: [{ op: 'delete', kind, name }] });
                } else {
                  // A delete, then the same insert twice: the write always fails (at the delete of a
                  // name gone, or at the second insert) and a delete that ran is rolled back.
                  const record = store.encode(recordOf(kind, name, ++version));
                  writes.push({
                    event: 'CREATE_OBJ',
                    operations: [
                      { op: 'delete', kind, name },
                      { op: 'insert', record },
                      { op: 'insert', record },
                    ],
                  });
                }
              }
              const batch = encodeBatch(writes);
              if (random.below(8) === 0) {
                const before = store.syncPoint();
                store.apply(batch, true);
                expect(store.syncPoint()).toEqual(before);
              }
              const result = store.apply(batch);
              // The model's view of each write: apply in order, a failing write changes nothing.
              for (const [w, write] of writes.entries()) {
                if (result.writeResults[w] !== 0) continue;
                for (const op of write.operations) {
                  if (op.op === 'delete') model.delete(keyOf(op.kind, op.name));
                  else {
                    const decoded = store.decode(op.record);
                    model.set(keyOf(decoded.kind, decoded.name), op.record);
                  }
                }
              }
              expect(store.count()).toBe(model.size);
              for (const { kind, name } of touched) {
                const got = store.get(kind, name);
                const want = model.get(keyOf(kind, name));
                expect(got && toHex(got), keyOf(kind, name)).toBe(want && toHex(want));
              }
              const phase = store.tableGrowth();
              if (phase === 'none' && random.below(40) !== 0) continue;
              phasesChecked.add(phase);
              expect(contents(store)).toEqual([...model.values()].map(toHex).sort());
              const scratch = store.recompute();
              expect(scratch.consistent).toBe(true);
              expect(scratch.syncPoint).toEqual(store.syncPoint());
              if (phase === 'none') continue;
              // Every name, in random order: while records move, the lookups that move one out of
              // the middle of a probe chain leave MOVED marks the later ones must pass over.
              for (let i = 0; i < names.length; i++) {
                const { kind, name } =
                  names[(i * 7919 + random.below(names.length)) % names.length];
                const got = store.get(kind, name);
                const want = model.get(keyOf(kind, name));
                expect(got && toHex(got), keyOf(kind, name)).toBe(want && toHex(want));
              }
              expect(rebuilt('scalar', model).syncPoint()).toEqual(store.syncPoint());
              // An export begun in this phase, written past while read, gives the state at its start.
              const atStart = contents(store);
              const reader = store.exportSnapshot(16 * 1024);
              const chunks = [reader.header];
              for (let chunk = reader.next(); chunk; chunk = reader.next()) {
                chunks.push(chunk);
                const name = `n${names.length}`;
                names.push({ kind: 'object', name });
                const record = store.encode(recordOf('object', name, ++version));
                store.apply(
                  encodeBatch([{ event: 'CREATE_OBJ', operations: [{ op: 'insert', record }] }]),
                );
                model.set(keyOf('object', name), record);
              }
              reader.close();
              const copy = keyedCore('scalar');
              copy.importSnapshot(chunks);
              expect(contents(copy)).toEqual(atStart);
            }
            expect(store.tableGrowth() === 'none' || store.count() >= 2300).toBe(true);
          },
        ),
        { numRuns: variant === 'debug' ? 3 : 8, seed: 20261207 },
      );
      expect([...phasesChecked].sort()).toEqual(['moving', 'none', 'zeroing']);
    });

    it('a growth under way finishes at once when the store is cleared, and the table is reused', () => {
      const store = keyedCore(variant);
      const insert = (from: number, to: number) => {
        for (let i = from; i < to; i += 256) {
          store.apply(
            encodeBatch(
              Array.from({ length: Math.min(256, to - i) }, (_, j) => ({
                event: 'NULL' as const,
                operations: [
                  { op: 'insert' as const, record: store.encode(sampleObject(`k${i + j}`)) },
                ],
              })),
            ),
          );
        }
      };
      insert(0, 512);
      expect(store.tableGrowth()).toBe('none');
      insert(512, 513);
      expect(store.tableGrowth()).toBe('zeroing');
      store.clear();
      expect(store.tableGrowth()).toBe('none');
      expect(store.count()).toBe(0);
      expect(store.list()).toEqual([]);
      insert(0, 1500);
      expect(store.count()).toBe(1500);
      expect(store.recompute().consistent).toBe(true);
      expect(store.get('object', 'k1499')).toEqual(store.encode(sampleObject('k1499')));
    });
  },
);
