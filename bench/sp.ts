// The Sync-Point benchmark (issue 2, "Benchmark"): one process, one table, bench/results/sp.json.
//   npm run bench:sp [-- --records N] [-- --wasm path/to/core.wasm] [-- --rounds R]
// Measures the SP from scratch over a store of N (default 1,000,000) object records of 64 and
// of 300 bytes loaded through batches of 256 INSERT writes, the packed-frames path, the cost
// of one record change (the SP update alone, and all-in through store_apply), and, in the same
// run, SHA-256 per record (node:crypto), xxhash64 per call (hash-wasm) and a memory-read
// bandwidth probe (Buffer.compare of two equal 256 MiB buffers).
// The machine is shared, so measures are interleaved: each round runs every measure once, and
// a burst of load from other processes hits all of them alike; the table gives the best and
// the median over the rounds, and the load average before and after. Targets are reported as
// met or not; nothing here asserts them. Every random choice comes from the printed seed.

import { createHash } from 'node:crypto';
import { createXXHash64, type IHasher } from 'hash-wasm';
import { encodeBatch, type Write } from '../host/core/batch.ts';
import type { Core } from '../host/core/core.ts';
import { BATCH_WRITES_MAX, IO_BUFFER_SIZE, R_ACC_HI, R_ACC_LO } from '../host/core/layout.ts';
import { coreWasmPath } from '../host/core/load.node.ts';
import { resultPath, writeResult } from './lib/cli.ts';
import { writeSpSvg } from './lib/sp-svg.ts';
import { keyedCore } from './lib/load.ts';
import { machineInfo, uptimeLine } from './lib/machine.ts';
import {
  RECORD_INDEX_MAX,
  RecordFactory,
  SHAPE_300,
  SHAPE_64,
  type RecordShape,
} from './lib/records.ts';
import {
  figureOf,
  format,
  printTable,
  targetsOf,
  type Figure,
  type Measure,
  type StoreMeasures,
  type Unit,
} from './lib/sp-report.ts';
import { memoryReadProbe, secondsOf, seededRandom } from './lib/stats.ts';

const SEED = 20261122;
const ROUNDS_DEFAULT = 9;
const ROUNDS_MAX = 100;
const HASH_CALLS = 100_000;
const HASH_INPUTS = 1024;
const REPLACE_BATCHES = 32;
const SMALL_STORE_RECORDS = 4096;
const SINGLE_CALLS = 100_000;

interface Options {
  readonly records: number;
  readonly wasm: string;
  readonly rounds: number;
}

function parseOptions(argv: readonly string[]): Options {
  let records = 1_000_000;
  let wasm = coreWasmPath('release');
  let rounds = ROUNDS_DEFAULT;
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--records' && value !== undefined) records = Number(value);
    else if (argv[i] === '--wasm' && value !== undefined) wasm = value;
    else if (argv[i] === '--rounds' && value !== undefined) rounds = Number(value);
    else
      throw new RangeError(
        `unknown argument '${argv[i]}' (use --records N, --wasm FILE, --rounds R)`,
      );
    i++;
  }
  if (!Number.isInteger(records) || records < 1000 || records > RECORD_INDEX_MAX) {
    throw new RangeError(`--records: expected 1000..${RECORD_INDEX_MAX}, got ${records}`);
  }
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > ROUNDS_MAX) {
    throw new RangeError(`--rounds: expected 1..${ROUNDS_MAX}, got ${rounds}`);
  }
  return { records, wasm, rounds };
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

// ---- measures: each round calls run() once; it returns the seconds it measured ----

const measures: Measure[] = [];
const oneShot: Figure[] = [];

function measure(
  name: string,
  unit: Unit,
  amount: number,
  run: () => number,
  note?: string,
): Measure {
  const entry = { name, unit, amount, note, run, seconds: [] };
  measures.push(entry);
  return entry;
}

/** The runs of `m` again, shown as the bytes of its `records` records hashed per second. */
function bytesHashed(m: Measure, name: string, records: number, size: number): Measure {
  const last = (): number => m.seconds[m.seconds.length - 1];
  return measure(`${name}, record bytes hashed`, 'GB/s', (records * size) / 1e9, last);
}

function inputs(count: number, size: number, next: () => number): Uint8Array[] {
  return Array.from({ length: count }, () =>
    Uint8Array.from({ length: size }, () => next() & 0xff),
  );
}

function addReferences(
  next: () => number,
  hasher: IHasher,
): { sha64: Measure; bandwidth: Measure } {
  const sha = (size: number): Measure => {
    const records = inputs(HASH_INPUTS, size, next);
    return measure(
      `node:crypto SHA-256 per ${size}-byte record (createHash each)`,
      'ns/record',
      HASH_CALLS,
      () =>
        secondsOf(() => {
          for (let i = 0; i < HASH_CALLS; i++)
            createHash('sha256')
              .update(records[i % HASH_INPUTS])
              .digest();
        }),
    );
  };
  const sha64 = sha(64);
  sha(300);
  const records = inputs(HASH_INPUTS, 64, next);
  measure('hash-wasm xxhash64 per 64-byte call (init/update/digest)', 'ns/call', HASH_CALLS, () =>
    secondsOf(() => {
      for (let i = 0; i < HASH_CALLS; i++)
        hasher
          .init()
          .update(records[i % HASH_INPUTS])
          .digest('binary');
    }),
  );
  const probe = memoryReadProbe();
  const bandwidth = measure(
    'memory read bandwidth (Buffer.compare, 2 x 256 MiB)',
    'GB/s',
    probe.bytes / 1e9,
    () => secondsOf(probe.read),
  );
  return { sha64, bandwidth };
}

// ---- the store ----

/**
 * Loads `count` records through batches of 256 INSERT writes: seconds spent in Core.apply, and
 * the longest batch (the key table's growth used to stop one for 0.46 s at 2^19 records).
 */
function insertBatches(
  core: Core,
  factory: RecordFactory,
  count: number,
  seed: number,
): { total: number; longest: number; longestAt: number } {
  const next = seededRandom(seed);
  let total = 0;
  let longest = 0;
  let longestAt = 0;
  const records = Array.from({ length: BATCH_WRITES_MAX }, () => new Uint8Array(factory.size));
  for (let first = 0; first < count; first += BATCH_WRITES_MAX) {
    const n = Math.min(BATCH_WRITES_MAX, count - first);
    const writes: Write[] = [];
    for (let i = 0; i < n; i++) {
      factory.write(records[i], first + i, next);
      writes.push({ event: 'CREATE_OBJ', operations: [{ op: 'insert', record: records[i] }] });
    }
    const batch = encodeBatch(writes);
    let failed = -1;
    const seconds = secondsOf(() => {
      failed = core.apply(batch).writeResults.findIndex((code) => code !== 0);
    });
    if (failed >= 0) throw new Error(`insert of record ${first + failed} failed`);
    total += seconds;
    if (seconds > longest) {
      longest = seconds;
      longestAt = first;
    }
  }
  if (core.count() !== count)
    throw new Error(`store holds ${core.count()} records, expected ${count}`);
  return { total, longest, longestAt };
}

/**
 * Cross-check: the same records (regenerated from the seed) summed through the packed-frames
 * path, chunk by chunk, folded, must give the SP that recompute() gives.
 */
function crossCheckFrames(
  core: Core,
  factory: RecordFactory,
  count: number,
  seed: number,
  expectedHex: string,
): void {
  const next = seededRandom(seed);
  const chunk: Uint8Array[] = [];
  let lo = 0n;
  let hi = 0n;
  const mask = 0xffff_ffff_ffff_ffffn;
  const flush = (): void => {
    for (let from = 0; from < chunk.length;) {
      const packed = core.packFrames(chunk, from);
      core.sumPackedFrames(packed);
      const view = core.dataView();
      const sum = lo + view.getBigUint64(core.result + R_ACC_LO, true);
      lo = sum & mask;
      hi = (hi + view.getBigUint64(core.result + R_ACC_HI, true) + (sum >> 64n)) & mask;
      from += packed;
    }
    chunk.length = 0;
  };
  for (let i = 0; i < count; i++) {
    chunk.push(factory.make(i, next));
    if (chunk.length === 4096) flush();
  }
  flush();
  const folded = core.fold(lo, hi, BigInt(count));
  if (folded.hex !== expectedHex)
    throw new Error(`packed frames give SP ${folded.hex}, recompute gave ${expectedHex}`);
}

function replaceMeasures(
  core: Core,
  factory: RecordFactory,
  count: number,
  label: string,
): Measure[] {
  if (count < 2) throw new RangeError(`count: ${count}`);
  // Each measure replaces its own records: the same ones would be in cache from the
  // measure before, and a large store's figure would leave out its cache misses.
  const replaceBatches = (seed: number): Uint8Array[] => {
    const next = seededRandom(seed);
    const batches: Uint8Array[] = [];
    for (let b = 0; b < REPLACE_BATCHES; b++) {
      const writes: Write[] = [];
      for (let i = 0; i < BATCH_WRITES_MAX; i++) {
        writes.push({
          event: 'UPDATE_OBJ',
          operations: [{ op: 'replace', record: factory.make(next() % count, next) }],
        });
      }
      batches.push(encodeBatch(writes));
    }
    return batches;
  };
  const batches = replaceBatches(SEED + 11);
  const ownBatches = replaceBatches(SEED + 12);
  const changes = REPLACE_BATCHES * BATCH_WRITES_MAX;
  const host = measure(
    `${label}: REPLACE through Core.apply (copy in, decode, allocate, hash, index, results)`,
    'ns/change',
    changes,
    () =>
      secondsOf(() => {
        for (const batch of batches) {
          if (core.apply(batch).writeResults.some((code) => code !== 0))
            throw new Error('a replace failed');
        }
      }),
    `${REPLACE_BATCHES} batches of ${BATCH_WRITES_MAX} writes, random names`,
  );
  const inCore = measure(
    `${label}: REPLACE, store_apply only (decode, allocate, hash, index)`,
    'ns/change',
    changes,
    () => {
      let total = 0;
      for (const batch of ownBatches) {
        const at = core.put(batch);
        let code = 0;
        total += secondsOf(() => {
          code = core.exports.store_apply(at, batch.length, 1);
        });
        if (code !== 0) throw new Error(`store_apply returned ${code}`);
      }
      return total;
    },
  );
  return [host, inCore];
}

/** One loaded store under measure: its core, its records' shape and the rows' label. */
interface LoadedStore {
  readonly core: Core;
  readonly factory: RecordFactory;
  readonly shape: RecordShape;
  readonly records: number;
  readonly label: string;
}

function addStore(options: Options, shape: RecordShape): StoreMeasures {
  const { store, syncPoint } = loadStore(options, shape);
  const { scratch, scratchBytes } = scratchMeasures(store, syncPoint);
  const { frames, frameRecords, count } = frameMeasures(store);
  const update = updateMeasures(store, frameRecords, count);
  const replace = replaceMeasures(store.core, store.factory, store.records, store.label);
  return { scratch, scratchBytes, frames, update, replace };
}

/** Loads the store (timed once: INSERT while loading) and checks the SP two ways. */
function loadStore(
  options: Options,
  shape: RecordShape,
): { store: LoadedStore; syncPoint: string } {
  const label = `${shape.size} B`;
  const seed = SEED + shape.size;
  const core = keyedCore(options.wasm);
  const factory = new RecordFactory(core, shape);
  log(
    `${label}: loading ${options.records} records through batches of ${BATCH_WRITES_MAX} inserts`,
  );
  const load = insertBatches(core, factory, options.records, seed);
  oneShot.push(
    figureOf(
      {
        name: `${label}: INSERT while loading the store (Core.apply, once)`,
        unit: 'ns/change',
        amount: options.records,
        note: `longest batch ${(load.longest * 1e3).toFixed(1)} ms, from record ${load.longestAt}`,
      },
      [load.total],
    ),
  );
  const first = core.recompute();
  if (!first.consistent) throw new Error('recompute disagrees with the incremental SP');
  log(`${label}: cross-checking the packed-frames path against recompute`);
  crossCheckFrames(core, factory, options.records, seed, first.syncPoint.hex);
  const store = { core, factory, shape, records: options.records, label };
  return { store, syncPoint: first.syncPoint.hex };
}

/** The SP from scratch over the whole store, in records/s and in record bytes hashed. */
function scratchMeasures(
  { core, shape, records, label }: LoadedStore,
  syncPoint: string,
): { scratch: Measure; scratchBytes: Measure } {
  const recompute = (): number =>
    secondsOf(() => {
      if (!core.recompute().consistent)
        throw new Error('recompute disagrees with the incremental SP');
    });
  const scratch = measure(
    `${label}: SP from scratch over ${records} records`,
    'records/s',
    records,
    recompute,
    `SP after loading ${syncPoint}`,
  );
  const scratchBytes = bytesHashed(scratch, `${label}: SP from scratch`, records, shape.size);
  return { scratch, scratchBytes };
}

/** An IO buffer full of packed frames, hashed and accumulated (per record and in bytes). */
function frameMeasures({ core, factory, shape, label }: LoadedStore): {
  frames: Measure;
  frameRecords: Uint8Array[];
  count: number;
} {
  const next = seededRandom(SEED + 7);
  const frameRecords = Array.from(
    { length: Math.floor(IO_BUFFER_SIZE / (factory.size + 4)) },
    (_, i) => factory.make(i, next),
  );
  const count = core.packFrames(frameRecords);
  const frames = measure(
    `${label}: packed frames in the IO buffer (hash + accumulate, cache-warm)`,
    'ns/record',
    count,
    () => {
      core.packFrames(frameRecords);
      let total = 0;
      for (let r = 0; r < 3; r++) total += secondsOf(() => core.sumPackedFrames(count));
      return total / 3;
    },
    `${count} frames per call`,
  );
  bytesHashed(frames, `${label}: packed frames`, count, shape.size);
  return { frames, frameRecords, count };
}

/** The SP update alone per change, and (64 B only) the cost of one record per call. */
function updateMeasures(
  { core, shape, label }: LoadedStore,
  frameRecords: Uint8Array[],
  count: number,
): Measure {
  const update = (
    core.exports as unknown as { bench_sp_update(pointer: number, count: number): number }
  ).bench_sp_update;
  const spUpdate = measure(
    `${label}: incremental SP update per change (h(r) + accumulator, cache-warm)`,
    'ns/change',
    count,
    () => {
      core.packFrames(frameRecords);
      const before = core.syncPoint().hex;
      let code = 0;
      const time = secondsOf(() => {
        code = update(core.io, count);
      });
      if (code !== 0 || core.syncPoint().hex !== before)
        throw new Error('bench_sp_update failed or changed the SP');
      return time;
    },
  );
  if (shape.size === 64) {
    measure(
      `${label}: one record per call (sp_sum_frames(1): crossing + hash + fold)`,
      'ns/call',
      SINGLE_CALLS,
      () => {
        core.packFrames(frameRecords.slice(0, 1));
        return secondsOf(() => {
          for (let i = 0; i < SINGLE_CALLS; i++) core.exports.sp_sum_frames(core.io, 1);
        });
      },
    );
  }
  return spUpdate;
}

/** REPLACE on a store small enough to stay in cache: the all-in cost without memory misses. */
function addSmallStore(options: Options, shape: RecordShape): void {
  const core = keyedCore(options.wasm);
  const factory = new RecordFactory(core, shape);
  insertBatches(core, factory, SMALL_STORE_RECORDS, SEED + 3);
  replaceMeasures(
    core,
    factory,
    SMALL_STORE_RECORDS,
    `${shape.size} B, ${SMALL_STORE_RECORDS}-record store`,
  );
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const machine = machineInfo();
  log(`seed ${SEED}, ${options.records} records, ${options.rounds} rounds, core ${options.wasm}`);
  log(`machine: ${machine.cpuModel}, ${machine.logicalCores} cores, node ${machine.node}`);
  log(`load before: ${machine.uptime}`);

  const references = addReferences(seededRandom(SEED), await createXXHash64());
  const small = addStore(options, SHAPE_64);
  const large = addStore(options, SHAPE_300);
  addSmallStore(options, SHAPE_64);

  log(`running ${options.rounds} rounds of ${measures.length} measures (one untimed round first)`);
  for (const m of measures) m.run();
  for (let round = 0; round < options.rounds; round++) {
    for (const m of measures) m.seconds.push(m.run());
  }
  const loadAfter = uptimeLine();
  log(`load after: ${loadAfter}`);

  const figures = new Map(measures.map((m) => [m, figureOf(m, m.seconds)]));
  const figure = (m: Measure): Figure => figures.get(m)!;
  const targets = targetsOf(figure, references, small, large);
  const allFigures = [...oneShot, ...figures.values()];

  console.log(
    `\nSync-Point benchmark — ${machine.cpuModel}, ${machine.logicalCores} cores, node ${machine.node}, ${machine.date}`,
  );
  console.log(
    `${options.records} records per store, ${options.rounds} interleaved rounds; core ${options.wasm.replace(/^.*\/build\//, 'build/')}`,
  );
  console.log(`load before: ${machine.uptime}\nload after:  ${loadAfter}\n`);
  printTable([
    ['measure', 'best', 'median', 'note'],
    ...allFigures.map((f) => [
      f.name,
      format(f.best, f.unit),
      format(f.median, f.unit),
      f.note ?? '',
    ]),
  ]);
  console.log('');
  printTable([
    ['target', 'required', 'best', 'median', 'met (best)', 'met (median)'],
    ...targets.map((t) => [
      t.name,
      t.required,
      format(t.best, t.unit),
      format(t.median, t.unit),
      t.metBest ? 'met' : 'NOT MET',
      t.metMedian ? 'met' : 'NOT MET',
    ]),
  ]);

  const path = writeResult('sp.json', {
    benchmark: 'sp',
    command: 'npm run bench:sp',
    seed: SEED,
    records: options.records,
    rounds: options.rounds,
    core: options.wasm.replace(/^.*\/build\//, 'build/'),
    machine,
    loadAfter,
    figures: allFigures,
    targets,
  });
  writeSpSvg(allFigures, resultPath('sp.svg'));
  console.log(`\nwrote ${path.pathname} and sp.svg`);
}

await main();
