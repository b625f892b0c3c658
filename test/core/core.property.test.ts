// Properties of the core: codec round trip, decoding arbitrary bytes, Sync-Point order
// independence and incremental == from scratch, snapshot round trip, batch atomicity.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeBatch, type Write } from '../../host/core/batch.ts';
import { describe as describeCode } from '../../host/core/codes.ts';
import type { Core } from '../../host/core/core.ts';
import { STORE_RECORDS_MAX } from '../../host/core/layout.ts';
import type { StoreRecord } from '../../host/core/records.ts';
import { joinBytes } from '../../host/wire/bytes.ts';
import {
  keyedCore,
  objectArbitrary,
  recordArbitrary,
  sampleObject,
  sampleUser,
  userArbitrary,
} from '../fixtures.ts';

const runs = { numRuns: 200, seed: 20261122 };
const core = keyedCore();

const canonical = (record: StoreRecord): StoreRecord =>
  record.kind === 'object'
    ? {
        ...record,
        acl: [...record.acl].sort((a, b) => (Buffer.from(a.user) < Buffer.from(b.user) ? -1 : 1)),
      }
    : record;

describe('record codec', () => {
  it('decode(encode(r)) is r, and encode(decode(b)) is b', () => {
    fc.assert(
      fc.property(recordArbitrary, (record) => {
        const bytes = core.encode(record);
        const decoded = core.decode(bytes);
        expect(decoded).toEqual(canonical(record));
        expect(core.encode(decoded)).toEqual(bytes);
      }),
      runs,
    );
  });

  it('arbitrary bytes decode to a documented code, never an exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const code = core.validate(bytes);
        expect(describeCode(code).name).not.toBe('UNKNOWN');
      }),
      { ...runs, numRuns: 2000 },
    );
  });

  it('mutated valid records are refused with a documented code or are still canonical', () => {
    fc.assert(
      fc.property(
        recordArbitrary,
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.nat(),
        (record, at, value, cut) => {
          const bytes = core.encode(record).slice();
          bytes[at % bytes.length] = value;
          for (const candidate of [bytes, bytes.subarray(0, cut % (bytes.length + 1))]) {
            const code = core.validate(candidate);
            expect(describeCode(code).name).not.toBe('UNKNOWN');
            if (code === 0) expect(core.encode(core.decode(candidate))).toEqual(candidate);
          }
        },
      ),
      { ...runs, numRuns: 1000 },
    );
  });
});

// A random history over a small name space so inserts, replaces and deletes collide.
type Step = { op: 'insert' | 'replace' | 'delete'; record: StoreRecord };
const smallNames = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h');
const stepArbitrary: fc.Arbitrary<Step> = fc.record({
  op: fc.constantFrom('insert' as const, 'replace' as const, 'delete' as const),
  record: fc.oneof(
    fc.tuple(objectArbitrary, smallNames).map(([o, name]) => ({ ...o, name })),
    fc.tuple(userArbitrary, smallNames).map(([u, name]) => ({ ...u, name })),
  ),
});

function writeOf(core: Core, step: Step): Write {
  if (step.op === 'delete')
    return {
      event: 'DELETE_OBJ',
      operations: [{ op: 'delete', kind: step.record.kind, name: step.record.name }],
    };
  return { event: 'CREATE_OBJ', operations: [{ op: step.op, record: core.encode(step.record) }] };
}

function contents(core: Core): string[] {
  return core
    .list()
    .map((record) => Buffer.from(record).toString('hex'))
    .sort();
}

describe('key store and Sync-Point', () => {
  it('incremental SP == from-scratch SP == SP of the same set inserted in another order (both builds)', () => {
    fc.assert(
      fc.property(
        fc.array(stepArbitrary, { maxLength: 40 }),
        fc.integer({ min: 1, max: 8 }),
        (steps, groupSize) => {
          const store = keyedCore();
          for (let i = 0; i < steps.length; i += groupSize) {
            store.apply(
              encodeBatch(steps.slice(i, i + groupSize).map((step) => writeOf(store, step))),
            );
          }
          const incremental = store.syncPoint();
          const scratch = store.recompute();
          expect(scratch.consistent).toBe(true);
          expect(scratch.syncPoint).toEqual(incremental);
          const records = store.list().reverse();
          for (const variant of ['release', 'scalar'] as const) {
            const other = keyedCore(variant);
            if (records.length > 0)
              other.apply(
                encodeBatch(
                  records.map((record) => ({
                    event: 'NULL',
                    operations: [{ op: 'insert', record }],
                  })),
                ),
              );
            expect(other.syncPoint()).toEqual(incremental);
          }
        },
      ),
      { ...runs, numRuns: 100 },
    );
  });

  it('a failing write leaves no trace and a dry run changes nothing', () => {
    fc.assert(
      fc.property(fc.array(stepArbitrary, { minLength: 1, maxLength: 20 }), (steps) => {
        const store = keyedCore();
        store.apply(encodeBatch(steps.slice(0, 5).map((step) => writeOf(store, step))));
        const before = { sp: store.syncPoint(), records: contents(store) };
        // One write holding every step: it fails as a whole as soon as one op fails.
        const write: Write = {
          event: 'UPDATE_OBJ',
          operations: steps.slice(0, 16).map((step) => writeOf(store, step).operations[0]),
        };
        const dry = store.apply(encodeBatch([write]), true);
        expect({ sp: store.syncPoint(), records: contents(store) }).toEqual(before);
        const real = store.apply(encodeBatch([write]));
        expect(real.writeResults).toEqual(dry.writeResults);
        expect(real.syncPoint).toEqual(dry.syncPoint);
        if (real.writeResults[0] !== 0)
          expect({ sp: store.syncPoint(), records: contents(store) }).toEqual(before);
        expect(store.recompute().consistent).toBe(true);
      }),
      runs,
    );
  });

  it('snapshots round-trip, and an export sees the state at its start while writes go on', () => {
    fc.assert(
      fc.property(
        fc.array(stepArbitrary, { maxLength: 40 }),
        fc.array(stepArbitrary, { maxLength: 4 }),
        fc.array(stepArbitrary, { maxLength: 10 }),
        fc.integer({ min: 8200, max: 40000 }),
        (steps, beforeFirstRead, during, chunkSize) => {
          const store = keyedCore();
          for (const step of steps) store.apply(encodeBatch([writeOf(store, step)]));
          const atStart = { sp: store.syncPoint(), records: contents(store) };
          const reader = store.exportSnapshot(chunkSize);
          // The view is sorted at the first read (a live-sync donor sends BEGIN first): writes
          // before it must not show either.
          for (const step of beforeFirstRead) store.apply(encodeBatch([writeOf(store, step)]));
          const chunks = [reader.header];
          let i = 0;
          for (let chunk = reader.next(); chunk; chunk = reader.next()) {
            chunks.push(chunk);
            if (i < during.length) store.apply(encodeBatch([writeOf(store, during[i++])]));
          }
          reader.close();
          for (; i < during.length; i++) store.apply(encodeBatch([writeOf(store, during[i])]));
          const copy = keyedCore('scalar');
          expect(copy.importSnapshot(chunks)).toEqual(atStart.sp);
          expect(contents(copy)).toEqual(atStart.records);
          expect(store.recompute().consistent).toBe(true);
        },
      ),
      { ...runs, numRuns: 100 },
    );
  });

  it('an export read as views of the I/O buffer gives the bytes of one read as copies', () => {
    fc.assert(
      fc.property(
        fc.array(stepArbitrary, { maxLength: 60 }),
        fc.integer({ min: 8200, max: 40000 }),
        (steps, chunkSize) => {
          const store = keyedCore();
          for (const step of steps) store.apply(encodeBatch([writeOf(store, step)]));
          const copies = store.snapshotChunks(chunkSize);
          const reader = store.exportSnapshot(chunkSize);
          const views = [reader.header];
          // Each view is valid only until the next read: copied here, as storage writes it.
          for (let view = reader.nextView(); view; view = reader.nextView())
            views.push(view.slice());
          reader.close();
          expect(joinBytes(views)).toEqual(joinBytes(copies));
        },
      ),
      { ...runs, numRuns: 50 },
    );
  });
});

describe('snapshot streams are in (kind, name) order', () => {
  // Hundreds of names with long shared prefixes and prefixes of each other: the export's radix
  // sort (assembly/name-sort.ts) goes several 8-byte levels deep and finishes runs by exact
  // comparison. Import refuses a stream out of order (38403), so a round trip checks the order.
  const nameArbitrary = fc
    .tuple(
      fc.constantFrom(
        '',
        'a',
        'k',
        'k00',
        'tenant-0001.',
        'tenant-0001.keys-',
        'Z.very.long.prefix.',
      ),
      // Digits after a short prefix leave runs of a few names at levels 0 and 1 that the sort
      // finishes by comparing their keys (names like k0000000..k0999999).
      fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.@-]{0,12}$/), fc.stringMatching(/^[0-9]{1,12}$/)),
    )
    .map(([prefix, rest]) => (prefix + rest).slice(0, 32))
    .filter((name) => name.length > 0);

  it('a store of many objects and users exports in order and imports to the same state', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(nameArbitrary, { minLength: 30, maxLength: 700 }),
        fc.integer({ min: 0, max: 3 }),
        (names, userEvery) => {
          const store = keyedCore();
          const writes: Write[] = names.map((name, i) => ({
            event: 'NULL',
            operations: [
              {
                op: 'insert',
                record: store.encode(
                  userEvery > 0 && i % (userEvery + 1) === 0
                    ? sampleUserFor(name)
                    : sampleObject(name, 'alice', 40, i),
                ),
              },
            ],
          }));
          for (let i = 0; i < writes.length; i += 256)
            store.apply(encodeBatch(writes.slice(i, i + 256)));
          const chunks = store.snapshotChunks();
          const copy = keyedCore('scalar');
          expect(copy.importSnapshot(chunks)).toEqual(store.syncPoint());
          expect(contents(copy)).toEqual(contents(store));
          // An import's table is the size a store grown write by write has.
          expect(copy.exports.store_slots()).toBe(store.exports.store_slots());
        },
      ),
      { ...runs, numRuns: 60 },
    );
  });

  it('a view ordered in steps of any budget, written past between steps, exports the bytes of one ordered at once', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(nameArbitrary, { minLength: 2, maxLength: 700 }),
        fc.array(fc.integer({ min: 1, max: 900 }), { minLength: 1, maxLength: 8 }),
        (names, budgets) => {
          const store = keyedCore();
          const insert = (name: string, seed: number): void => {
            store.apply(
              encodeBatch([
                {
                  event: 'NULL',
                  operations: [
                    { op: 'insert', record: store.encode(sampleObject(name, 'alice', 40, seed)) },
                  ],
                },
              ]),
            );
          };
          const half = Math.ceil(names.length / 2);
          names.slice(0, half).forEach(insert);
          const atOnce = Buffer.concat(store.snapshotChunks()).toString('hex');
          const reader = store.exportSnapshot();
          let steps = 0;
          let written = half;
          while (!reader.prepare(budgets[steps % budgets.length])) {
            steps++;
            // Writes between the steps: an insert, and a delete of a record the view holds.
            if (written < names.length) insert(names[written++], steps);
            store.apply(
              encodeBatch([
                {
                  event: 'DELETE_OBJ',
                  operations: [{ op: 'delete', kind: 'object', name: names[steps % half] }],
                },
              ]),
            );
          }
          const chunks = [reader.header];
          for (let chunk = reader.next(); chunk; chunk = reader.next()) chunks.push(chunk);
          reader.close();
          expect(Buffer.concat(chunks).toString('hex')).toBe(atOnce);
          // Each step stops near its budget: a view larger than every budget takes several.
          if (half > Math.max(...budgets) + 64) expect(steps).toBeGreaterThan(1);
        },
      ),
      { ...runs, numRuns: 80 },
    );
  });
});

describe('snapshot import refuses bad streams and leaves the store empty', () => {
  it('corrupted, truncated or foreign snapshots', () => {
    const store = keyedCore();
    store.apply(
      encodeBatch(
        ['a', 'b', 'c'].map((name) => ({
          event: 'CREATE_USR',
          operations: [{ op: 'insert', record: store.encode({ ...sampleUserFor(name) }) }],
        })),
      ),
    );
    const chunks = store.snapshotChunks();
    const body = chunks[1];
    const cases: [string, Uint8Array[], number][] = [
      ['cut frame', [chunks[0], body.subarray(0, body.length - 1)], 38402],
      [
        'missing records',
        [
          chunks[0],
          body.subarray(0, 4 + new DataView(body.buffer, body.byteOffset).getUint32(0, true)),
        ],
        38404,
      ],
      ['flipped salt byte (only the SP can tell)', [chunks[0], flip(body, 35)], 38404],
      ['flipped KDF field', [chunks[0], flip(body, 20)], 38107],
      ['bad magic', [flip(chunks[0], 0), body], 38401],
      ['reordered', [chunks[0], reorder(body)], 38403],
    ];
    for (const [, stream, expected] of cases) {
      const copy = keyedCore();
      expect(() => copy.importSnapshot(stream)).toThrow(
        expect.objectContaining({ code: expected }),
      );
      expect(copy.count()).toBe(0);
    }
    // A header that claims more records than a store may hold: refused, and the store takes a
    // true snapshot after it.
    const boastful = chunks[0].slice();
    new DataView(boastful.buffer).setBigUint64(8, 1n << 40n, true);
    const copy = keyedCore();
    const emptySlots = copy.exports.store_slots();
    expect(() => copy.importSnapshot([boastful, body])).toThrow(
      expect.objectContaining({ code: 38404 }),
    );
    expect(copy.exports.store_slots()).toBe(emptySlots);
    expect(copy.importSnapshot(chunks)).toEqual(store.syncPoint());
    const foreign = keyedCore('release', new Uint8Array(32).fill(9));
    expect(() => foreign.importSnapshot(chunks)).toThrow(expect.objectContaining({ code: 38404 }));
    expect(foreign.count()).toBe(0);
  });
});

describe('snapshot import past its read-ahead window (256 frames)', () => {
  const store = keyedCore();
  const names = Array.from({ length: 700 }, (_, i) => `user-${String(i).padStart(4, '0')}`);
  for (let i = 0; i < names.length; i += 256)
    store.apply(
      encodeBatch(
        names.slice(i, i + 256).map((name) => ({
          event: 'CREATE_USR',
          operations: [{ op: 'insert', record: store.encode({ ...sampleUserFor(name) }) }],
        })),
      ),
    );
  const [header, body, ...rest] = store.snapshotChunks();
  /** Where frame `i` of the body starts. */
  const frameAt = (i: number): number => {
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    let at = 0;
    for (let k = 0; k < i; k++) at += 4 + view.getUint32(at, true);
    return at;
  };

  it('takes 700 frames in one chunk', () => {
    expect(rest).toEqual([]);
    const reader = store.exportSnapshot();
    expect(reader.bytes).toBe(body.length); // what a live-sync BEGIN announces
    reader.close();
    const copy = keyedCore();
    expect(copy.importSnapshot([header, body])).toEqual(store.syncPoint());
    expect(copy.count()).toBe(700);
  });

  it('sizes the table for the header once it fills, at most for a full store, and gives it back when refused', () => {
    const boastful = header.slice();
    new DataView(boastful.buffer).setBigUint64(8, 1n << 40n, true);
    const copy = keyedCore();
    const emptySlots = copy.exports.store_slots();
    copy.importBegin(boastful);
    expect(copy.exports.store_slots()).toBe(emptySlots); // a header alone reserves nothing
    copy.importChunk(body);
    expect(copy.exports.store_slots()).toBe(2 * STORE_RECORDS_MAX);
    expect(() => copy.importEnd()).toThrow(expect.objectContaining({ code: 38404 }));
    expect(copy.exports.store_slots()).toBe(emptySlots);
    expect(copy.count()).toBe(0);
  });

  it('sizes the table at BEGIN when asked (a live-sync joiner), only within an import, and gives it back when refused', () => {
    const copy = keyedCore();
    const emptySlots = copy.exports.store_slots();
    expect(() => copy.importReserve()).toThrow(expect.objectContaining({ code: 38405 }));
    copy.importBegin(header);
    copy.importReserve();
    const reserved = copy.exports.store_slots();
    expect(reserved).toBeGreaterThanOrEqual(2 * 700);
    copy.importChunk(body);
    expect(copy.exports.store_slots()).toBe(reserved); // no growing as the records come
    expect(copy.importEnd()).toEqual(store.syncPoint());
    expect(() => copy.importReserve()).toThrow(expect.objectContaining({ code: 38405 }));

    // With the frames' bytes announced, it also touches the heap they will take, ahead.
    const touched = keyedCore();
    const before = touched.exports.memory.buffer.byteLength;
    touched.importBegin(header);
    touched.importReserve(8 << 20);
    expect(touched.exports.memory.buffer.byteLength - before).toBeGreaterThanOrEqual(8 << 20);
    touched.importChunk(body);
    expect(touched.importEnd()).toEqual(store.syncPoint());

    const boastful = header.slice();
    new DataView(boastful.buffer).setBigUint64(8, 1n << 40n, true);
    const refused = keyedCore();
    refused.importBegin(boastful);
    refused.importReserve();
    expect(refused.exports.store_slots()).toBe(2 * STORE_RECORDS_MAX);
    refused.importChunk(body);
    expect(() => refused.importEnd()).toThrow(expect.objectContaining({ code: 38404 }));
    expect(refused.exports.store_slots()).toBe(emptySlots);
    expect(refused.count()).toBe(0);
  });

  it('refuses a bad frame in a later window with the code one pass gives, and stays empty', () => {
    const nameByte = frameAt(600) + 4 + 8; // the first byte of frame 600's name
    const cases: [string, Uint8Array, number][] = [
      ['cut in frame 500', body.subarray(0, frameAt(500) + 10), 38402],
      ['frame 600 out of order', flip(body, nameByte), 38403],
      ['frame 600 too long', withLength(body, frameAt(600), 1 << 20), 38402],
    ];
    for (const [, chunk, expected] of cases) {
      const copy = keyedCore();
      expect(() => copy.importSnapshot([header, chunk])).toThrow(
        expect.objectContaining({ code: expected }),
      );
      expect(copy.count()).toBe(0);
    }
  });
});

function withLength(body: Uint8Array, frame: number, length: number): Uint8Array {
  const copy = body.slice();
  new DataView(copy.buffer).setUint32(frame, length, true);
  return copy;
}

function sampleUserFor(name: string) {
  return sampleUser(name, name.charCodeAt(0));
}
function flip(data: Uint8Array, at: number): Uint8Array {
  const copy = data.slice();
  copy[at] ^= 0x01;
  return copy;
}
function reorder(body: Uint8Array): Uint8Array {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const first = 4 + view.getUint32(0, true);
  const second = first + 4 + view.getUint32(first, true);
  const out = new Uint8Array(body.length);
  out.set(body.subarray(first, second), 0);
  out.set(body.subarray(0, first), second - first);
  out.set(body.subarray(second), second);
  return out;
}
