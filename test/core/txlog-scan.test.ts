// Scanning damaged logs. Any truncation, bit flip, splice or duplication of a valid log must
// scan to a valid prefix or a documented refusal — never an exception — and the verdict must
// follow the rule of docs/FORMATS.md, checked here independently of the core's scan:
//   - every reported entry decodes on its own and follows its predecessor;
//   - 'torn': no well-formed header starts anywhere after the damaged entry;
//   - 'corrupt': the damage is not a torn write (a valid checksum over wrong content) or a
//     well-formed header follows it;
//   - the same answer whatever the window the stream is fed in.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HsmError } from '../../host/core/codes.ts';
import type { Core } from '../../host/core/core.ts';
import {
  LOG_HEADER_SIZE,
  LOG_MAGIC,
  ZERO_CHECKSUM,
  checkEntry,
  checksumHex,
  decodeEntry,
  entryHeaders,
  scanLog,
  type ScanResult,
  type ScannedEntry,
} from '../../host/core/txlog.ts';
import { keyedCore } from '../fixtures.ts';
import { bodiesArbitrary, encodeBodies } from '../txlog-arbitraries.ts';
import {
  POOL,
  concat,
  encodeChain,
  independentlyChecked,
  reseal,
  sampleChain,
  sampleLog,
} from '../txlog-helpers.ts';

const TORN_CODES = [38301, 38302, 38304, 38305];

/** A well-formed header (magic and header checksum, any version) at `at`. */
function wellFormedHeaderAt(core: Core, log: Uint8Array, at: number): boolean {
  if (at + LOG_HEADER_SIZE > log.length) return false;
  const view = new DataView(log.buffer, log.byteOffset + at, LOG_HEADER_SIZE);
  if (view.getUint32(0, true) !== LOG_MAGIC) return false;
  const [lo, hi] = core.checksum(log.subarray(at, at + 96));
  return view.getBigUint64(96, true) === lo && view.getBigUint64(104, true) === hi;
}

function scanWithEntries(
  core: Core,
  log: Uint8Array,
  windowSize?: number,
): { result: ScanResult; entries: ScannedEntry[] } {
  const entries: ScannedEntry[] = [];
  const result = scanLog(core, log, { poolId: POOL, windowSize }, (entry) => entries.push(entry));
  return { result, entries };
}

/** Checks a scan's verdict against the rule, recomputing what it can outside the scan. */
function checkVerdict(
  core: Core,
  log: Uint8Array,
  result: ScanResult,
  entries: readonly ScannedEntry[],
): void {
  expect([0, 37027]).toContain(result.code);
  let at = 0;
  let parent = ZERO_CHECKSUM;
  entries.forEach((entry, i) => {
    expect(entry.offset).toBe(at);
    const bytes = log.subarray(at, at + entry.length);
    const decoded = decodeEntry(core, bytes, POOL);
    if (i > 0) {
      expect(checksumHex(decoded.parent)).toBe(checksumHex(parent));
      expect(decoded.sequence).toBe(entries[i - 1].sequence + 1n);
    }
    parent = decoded.checksum;
    at += entry.length;
  });
  expect([result.entries, result.validLength]).toEqual([entries.length, at]);
  if (result.tail === 'clean') expect(at).toBe(log.length);
  if (result.tail === 'torn') {
    expect(TORN_CODES).toContain(result.damage!.code);
    for (let q = result.damage!.offset + 1; q < log.length; q++)
      expect(wellFormedHeaderAt(core, log, q)).toBe(false);
  }
  if (result.tail === 'corrupt') {
    const damage = result.damage!;
    const witnessed = TORN_CODES.includes(damage.code) && damage.code !== 38301;
    if (witnessed) expect(wellFormedHeaderAt(core, log, result.witnessOffset!)).toBe(true);
    else expect(result.witnessOffset).toBe(damage.offset);
    expect(result.witnessOffset!).toBeGreaterThanOrEqual(damage.offset);
  }
  if (result.tail !== 'clean') expect(result.damage!.offset).toBe(at);
}

const logArbitrary = bodiesArbitrary;

type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; bit: number }
  | { kind: 'remove'; from: number; length: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'duplicate'; from: number; length: number; at: number }
  | { kind: 'overwrite'; at: number; bytes: Uint8Array };

const fraction = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const mutationArbitrary: fc.Arbitrary<Mutation> = fc.oneof(
  fraction.map((at) => ({ kind: 'truncate' as const, at })),
  fraction.map((bit) => ({ kind: 'flip' as const, bit })),
  fc.record({
    kind: fc.constant('remove' as const),
    from: fraction,
    length: fc.integer({ min: 1, max: 400 }),
  }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fraction,
    bytes: fc.uint8Array({ minLength: 1, maxLength: 200 }),
  }),
  fc.record({
    kind: fc.constant('duplicate' as const),
    from: fraction,
    length: fc.integer({ min: 1, max: 600 }),
    at: fraction,
  }),
  fc.record({
    kind: fc.constant('overwrite' as const),
    at: fraction,
    bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  }),
);

function mutate(log: Uint8Array, mutation: Mutation): Uint8Array {
  const point = (f: number): number => Math.floor(f * (log.length + 1));
  switch (mutation.kind) {
    case 'truncate':
      return log.slice(0, point(mutation.at));
    case 'flip': {
      const out = log.slice();
      const bit = Math.floor(mutation.bit * log.length * 8);
      out[bit >> 3] ^= 1 << (bit & 7);
      return out;
    }
    case 'remove': {
      const from = point(mutation.from);
      return concat([log.subarray(0, from), log.subarray(from + mutation.length)]);
    }
    case 'insert':
      return concat([
        log.subarray(0, point(mutation.at)),
        mutation.bytes,
        log.subarray(point(mutation.at)),
      ]);
    case 'duplicate': {
      const from = point(mutation.from);
      const copy = log.slice(from, from + mutation.length);
      return concat([log.subarray(0, point(mutation.at)), copy, log.subarray(point(mutation.at))]);
    }
    case 'overwrite': {
      const out = log.slice();
      out.set(
        mutation.bytes.subarray(0, Math.max(0, out.length - point(mutation.at))),
        Math.min(point(mutation.at), out.length),
      );
      return out;
    }
  }
}

describe('scanning damaged logs', () => {
  it('any mutation scans to a valid prefix or a documented refusal, by the rule, in any window size', () => {
    const core = keyedCore();
    fc.assert(
      fc.property(
        logArbitrary,
        mutationArbitrary,
        fc.integer({ min: 1, max: 3000 }),
        (items, mutation, windowSize) => {
          const { log } = encodeBodies(core, items);
          const damaged = mutate(log, mutation);
          const whole = scanWithEntries(core, damaged);
          checkVerdict(core, damaged, whole.result, whole.entries);
          const split = scanWithEntries(core, damaged, windowSize);
          expect(split.result).toEqual(whole.result);
          expect(split.entries).toEqual(whole.entries);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('arbitrary bytes never make the scan throw', () => {
    const core = keyedCore();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        const { result, entries } = scanWithEntries(core, bytes);
        checkVerdict(core, bytes, result, entries);
        expect(checkEntry(core, bytes, POOL)).not.toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('a truncation at every byte keeps exactly the whole entries before the cut', () => {
    const { core, log, entries } = sampleLog();
    const ends = entries.reduce<number[]>(
      (list, entry) => [...list, (list.at(-1) ?? 0) + entry.length],
      [],
    );
    for (let cut = 0; cut <= log.length; cut++) {
      const result = scanLog(core, log.subarray(0, cut), { poolId: POOL });
      const whole = ends.filter((end) => end <= cut);
      expect([cut, result.entries, result.validLength, result.tail]).toEqual([
        cut,
        whole.length,
        whole.at(-1) ?? 0,
        ends.includes(cut) || cut === 0 ? 'clean' : 'torn',
      ]);
    }
  });

  it('a bit flip in the last entry is a torn tail; anywhere before, the log is refused', () => {
    const { core, log, entries } = sampleLog();
    const lastStart = log.length - entries.at(-1)!.length;
    for (let bit = 0; bit < log.length * 8; bit++) {
      const damaged = log.slice();
      damaged[bit >> 3] ^= 1 << (bit & 7);
      const result = scanLog(core, damaged, { poolId: POOL });
      const expected = bit >> 3 >= lastStart ? 'torn' : 'corrupt';
      if (result.tail !== expected)
        throw new Error(
          `bit ${bit}: expected ${expected}, got ${result.tail} (${result.damage?.name})`,
        );
      if (expected === 'torn') expect(result.validLength).toBe(lastStart);
    }
  });

  it('a duplicated entry, a swapped pair, a dropped entry or a foreign entry is refused', () => {
    const { core, entries } = sampleLog();
    const other = encodeChain(core, sampleChain(core), POOL + 1n).entries;
    const cases: [string, Uint8Array[], string][] = [
      ['duplicate last', [...entries, entries.at(-1)!], 'LOG_BROKEN_CHAIN'],
      [
        'duplicate middle',
        [...entries.slice(0, 3), entries[2], ...entries.slice(3)],
        'LOG_BROKEN_CHAIN',
      ],
      ['swap', [entries[0], entries[2], entries[1], ...entries.slice(3)], 'LOG_BROKEN_CHAIN'],
      ['drop', [entries[0], ...entries.slice(2)], 'LOG_BROKEN_CHAIN'],
      ['foreign', [...entries.slice(0, 2), other[2]], 'LOG_WRONG_POOL'],
    ];
    for (const [name, parts, damage] of cases) {
      const result = scanLog(core, concat(parts), { poolId: POOL });
      expect([name, result.code, result.damage?.name]).toEqual([name, 37027, damage]);
    }
  });

  it('a torn header (right magic, garbage after it) is a torn tail; an entry of another version is refused', () => {
    const { core, log, entries } = sampleLog();
    for (const kept of [4, 5, 6, 50]) {
      const torn = concat([
        log,
        entries[0].subarray(0, kept),
        Uint8Array.from({ length: 300 }, (_, i) => (i * 89 + kept) & 0xff),
      ]);
      expect(scanLog(core, torn, { poolId: POOL }).tail).toBe('torn');
    }
    const newer = entries[0].slice();
    newer[4] = 2;
    const result = scanLog(core, concat([log, reseal(core, newer)]), { poolId: POOL });
    expect([result.tail, result.damage?.name]).toEqual(['corrupt', 'LOG_UNKNOWN_VERSION']);
  });

  it('garbage or zeros after the last entry are a torn tail; a later valid entry makes it corruption', () => {
    const { core, log, entries } = sampleLog();
    for (const tail of [
      new Uint8Array(4096),
      Uint8Array.from({ length: 333 }, (_, i) => (i * 37) & 0xff),
    ]) {
      const result = scanLog(core, concat([log, tail]), { poolId: POOL });
      expect([result.tail, result.validLength]).toEqual(['torn', log.length]);
      const followed = scanLog(core, concat([log, tail, entries[0]]), { poolId: POOL });
      expect([followed.tail, followed.witnessOffset]).toEqual([
        'corrupt',
        log.length + tail.length,
      ]);
    }
  });

  it('a log that continues a known chain must start right after it', () => {
    const { core, entries } = sampleLog();
    const first = decodeEntry(core, entries[0]);
    const after = { sequence: first.sequence, epoch: first.epoch, checksum: first.checksum };
    expect(scanLog(core, concat(entries.slice(1)), { poolId: POOL, after }).tail).toBe('clean');
    const wrong = scanLog(core, concat(entries.slice(2)), { poolId: POOL, after });
    expect([wrong.code, wrong.damage?.name]).toEqual([37027, 'LOG_BROKEN_CHAIN']);
    expect(scanLog(core, new Uint8Array(0), { poolId: POOL, after }).last).toEqual(after);
  });

  it('the scan takes the pool of the first entry when none is given', () => {
    const { core, log } = sampleLog(99n);
    expect(scanLog(core, log).poolId).toBe(99n);
    expect(scanLog(core, log, { poolId: POOL }).damage?.name).toBe('LOG_WRONG_POOL');
  });

  it('the release and scalar builds give the same verdicts', () => {
    const release = keyedCore('release');
    const scalar = keyedCore('scalar');
    fc.assert(
      fc.property(logArbitrary, mutationArbitrary, (items, mutation) => {
        const damaged = mutate(encodeBodies(release, items).log, mutation);
        expect(scanWithEntries(scalar, damaged)).toEqual(scanWithEntries(release, damaged));
      }),
      { numRuns: 100 },
    );
  });

  it('the independent checker agrees with every entry of a scan', () => {
    const { core, log } = sampleLog();
    let parent = ZERO_CHECKSUM;
    scanLog(core, log, { poolId: POOL }, (entry) => {
      const bytes = log.subarray(entry.offset, entry.offset + entry.length);
      expect(independentlyChecked(core, bytes, parent)).toBeUndefined();
      parent = bytes.slice(96, 112);
    });
  });
});

describe('entryHeaders: the entries of a trusted log by their headers (compaction)', () => {
  it('finds what the scan finds in any valid chain', () => {
    fc.assert(
      fc.property(bodiesArbitrary, (bodies) => {
        const core = keyedCore();
        const { log } = encodeBodies(core, bodies);
        const { result, entries } = scanWithEntries(core, log);
        expect(result.tail).toBe('clean');
        expect(entryHeaders(log, POOL)).toEqual(entries);
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a header that is no entry of the pool, or one cut short (37027)', () => {
    const { log } = sampleLog();
    const first = entryHeaders(log, POOL)[1].offset;
    const refused = (bytes: Uint8Array, poolId = POOL) => {
      try {
        entryHeaders(bytes, poolId);
        return undefined;
      } catch (error) {
        return (error as HsmError).code;
      }
    };
    expect(refused(log)).toBeUndefined();
    expect(refused(log, POOL + 1n)).toBe(37027);
    expect(refused(log.subarray(0, log.length - 1))).toBe(37027);
    expect(refused(log.subarray(0, first + 10))).toBe(37027);
    const garbled = log.slice();
    garbled[first] ^= 1; // the second entry's magic
    expect(refused(garbled)).toBe(37027);
  });
});
