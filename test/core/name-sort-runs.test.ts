// An export orders its view by (kind, name). A store imported from a snapshot holds its records
// in that order in memory already, but for a few stretches; the sort then keeps the longest
// run, radix-sorts the rest aside and merges it in (assembly/name-sort.ts "A view mostly in
// name order already"). Every path must give exactly the order of an independent sort of the
// store's records, whether the view is ordered at once or in steps with writes between them.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeBatch, type Write } from '../../host/core/batch.ts';
import type { Core } from '../../host/core/core.ts';
import { Random } from '../../host/protocol/random.ts';
import { keyedCore, sampleObject, sampleUser } from '../fixtures.ts';

/** Names of varied length sharing prefixes, so several levels of the radix sort are taken. */
const nameOf = (i: number): string =>
  i % 5 === 0 ? `k${i}` : `key-${String(i).padStart(7, '0')}${i % 3 === 0 ? '-x' : ''}`;

function insertAll(core: Core, names: readonly string[], version = 1): void {
  for (let i = 0; i < names.length; i += 256) {
    const writes: Write[] = names.slice(i, i + 256).map((name, j) => ({
      event: 'NULL',
      operations: [
        {
          op: 'insert',
          record: core.encode(
            (i + j) % 7 === 0 ? sampleUser(name, version) : sampleObject(name, 'alice', 40, i + j),
          ),
        },
      ],
    }));
    expect(core.apply(encodeBatch(writes)).writeResults.every((code) => code === 0)).toBe(true);
  }
}

/** The store's records framed in (kind, name) order, sorted here, not by the core. */
function expectedStream(core: Core): string {
  const key = (record: Uint8Array): string =>
    String.fromCharCode(record[1]) +
    Buffer.from(record.subarray(8, 8 + record[2])).toString('latin1');
  const records = core.list().sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const frames = records.map((record) => {
    const frame = new Uint8Array(4 + record.length);
    new DataView(frame.buffer).setUint32(0, record.length, true);
    frame.set(record, 4);
    return frame;
  });
  return Buffer.concat(frames).toString('hex');
}

/** The export's frames (without its header), ordered in steps of `budget` or at once. */
function exportedStream(core: Core, budget?: number, between?: () => void): string {
  const reader = core.exportSnapshot();
  const expected = between ? undefined : expectedStream(core);
  if (budget !== undefined) while (!reader.prepare(budget)) between?.();
  const chunks: Uint8Array[] = [];
  for (let chunk = reader.next(); chunk; chunk = reader.next()) chunks.push(chunk);
  reader.close();
  const stream = Buffer.concat(chunks).toString('hex');
  if (expected !== undefined) expect(stream).toBe(expected);
  return stream;
}

describe.each(['release', 'scalar', 'debug'] as const)('export order (%s build)', (variant) => {
  it('an imported store, and one written past since, is ordered by a merge; a store written in random order by the radix sort', () => {
    const source = keyedCore(variant);
    const names = Array.from({ length: 6000 }, (_, i) => nameOf(i));
    const random = new Random(7);
    const shuffled = [...names];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = random.below(i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    insertAll(source, shuffled);
    exportedStream(source);
    expect(source.exportSortPath()).toBe('gave-up');

    const imported = keyedCore(variant);
    imported.importSnapshot(source.snapshotChunks());
    exportedStream(imported);
    // The import fills the holes of its freed tables too: short runs beside a long one.
    expect(imported.exportSortPath()).toBe('merged');
    // Writes since the import lie after it in memory, each its own run: up to 1/8 of the
    // view (here more than ASIDE_MIN, 4,096) they are merged too.
    const large = keyedCore(variant);
    const imported48k = Array.from({ length: 48_000 }, (_, i) => nameOf(i * 2));
    insertAll(large, imported48k);
    const since = keyedCore(variant);
    since.importSnapshot(large.snapshotChunks());
    const written = Array.from({ length: 5_000 }, () => nameOf(random.below(48_000) * 2 + 1));
    insertAll(since, [...new Set(written)]);
    expect(since.count()).toBeGreaterThan(48_000 + 4_096);
    exportedStream(since);
    expect(since.exportSortPath()).toBe('merged');

    const few = keyedCore(variant);
    insertAll(few, ['b', 'a']);
    exportedStream(few);
    expect(few.exportSortPath()).toBe('in-order');
  });

  it('an imported store written past, ordered at once or in steps with writes between them, gives the order of an independent sort', () => {
    const base = keyedCore(variant);
    const names = Array.from({ length: 3000 }, (_, i) => nameOf(i * 2));
    insertAll(base, names);
    const chunks = base.snapshotChunks();
    const paths = new Set<string>();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 0, max: 400 }),
        fc.option(fc.integer({ min: 1, max: 5000 }), { nil: undefined }),
        (seed, writes, budget) => {
          const random = new Random(seed);
          const core = keyedCore(variant);
          core.importSnapshot(chunks);
          // The catch-up after a join: inserts of new names (odd numbers fall between the
          // image's), replaces and deletes of the image's.
          const change = (): void => {
            const n = random.below(3);
            const name = nameOf(random.below(6000));
            const operation =
              n === 0
                ? {
                    op: 'insert' as const,
                    record: core.encode(sampleObject(`${name}.n`, 'bob', 40, seed)),
                  }
                : n === 1
                  ? {
                      op: 'replace' as const,
                      record: core.encode(sampleObject(name, 'carol', 50, seed)),
                    }
                  : { op: 'delete' as const, kind: 'object' as const, name };
            core.apply(encodeBatch([{ event: 'NULL', operations: [operation] }]));
          };
          for (let i = 0; i < writes; i++) change();
          const atOnce = exportedStream(core);
          paths.add(core.exportSortPath());
          // In steps, the writes going on between them: the export keeps the state it froze.
          const stepped = exportedStream(core, budget ?? 1, () => change());
          expect(stepped).toBe(atOnce);
        },
      ),
      { numRuns: variant === 'debug' ? 15 : 40, seed: 20261207 },
    );
    expect(paths).toContain('merged');
  });
});
