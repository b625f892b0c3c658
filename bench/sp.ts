// The Sync-Point benchmark (issue 2, "Benchmark"): one process, one table, bench/results/sp.json.
//   npm run bench:sp [-- --records N] [-- --wasm path/to/core.wasm]
// Measures the SP from scratch over a store of N (default 1,000,000) object records of 64 and
// of 300 bytes loaded through batches of 256 INSERT writes, the packed-frames path, the cost
// of one record change (all-in through store_apply, and the pure hash + accumulator update),
// and, in the same run, SHA-256 per record (node:crypto), xxhash64 per call (hash-wasm) and a
// memory-read bandwidth probe. Targets are reported as met or not; nothing here asserts them.
// Every random choice comes from the printed seed.

import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createXXHash64 } from 'hash-wasm';
import { encodeBatch, type Write } from '../host/core/batch.ts';
import type { Core } from '../host/core/core.ts';
import { BATCH_WRITES_MAX, IO_BUFFER_SIZE, R_ACC_HI, R_ACC_LO } from '../host/core/layout.ts';
import { coreWasmPath } from '../host/node/core-file.ts';
import { keyedCore } from './lib/load.ts';
import { machineInfo, uptimeLine } from './lib/machine.ts';
import { RECORD_INDEX_MAX, RecordFactory, SHAPE_300, SHAPE_64, type RecordShape } from './lib/records.ts';
import { repeat, seededRandom, summarize, type Samples } from './lib/stats.ts';

const SEED = 20261122;
const REPETITIONS = 9;
const HASH_CALLS = 200_000;
const BANDWIDTH_BUFFER_BYTES = 256 * 2 ** 20;
const REPLACE_BATCHES = 32;
const SMALL_STORE_RECORDS = 4096;
const RESULT_PATH = new URL('./results/sp.json', import.meta.url);

interface Options {
  readonly records: number;
  readonly wasm: string;
}

function parseOptions(argv: readonly string[]): Options {
  let records = 1_000_000;
  let wasm = coreWasmPath('release');
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--records' && value !== undefined) {
      records = Number(value);
      i++;
    } else if (argv[i] === '--wasm' && value !== undefined) {
      wasm = value;
      i++;
    } else {
      throw new RangeError(`unknown argument '${argv[i]}' (use --records N, --wasm FILE)`);
    }
  }
  if (!Number.isInteger(records) || records < 1000 || records > RECORD_INDEX_MAX) {
    throw new RangeError(`--records: expected 1000..${RECORD_INDEX_MAX}, got ${records}`);
  }
  return { records, wasm };
}

// ---- figures ----

type Unit = 'records/s' | 'GB/s' | 'ns/record' | 'ns/change' | 'ns/call';

interface Figure {
  readonly name: string;
  readonly unit: Unit;
  readonly best: number;
  readonly median: number;
  readonly note?: string;
}

const figures: Figure[] = [];

/** Records a per-item time figure from samples of `items` items each. */
function perItem(name: string, unit: 'ns/record' | 'ns/change' | 'ns/call', samples: Samples, items: number, note?: string): Figure {
  const figure = { name, unit, best: (samples.bestSeconds / items) * 1e9, median: (samples.medianSeconds / items) * 1e9, note };
  figures.push(figure);
  return figure;
}

function rate(name: string, unit: 'records/s' | 'GB/s', samples: Samples, amount: number, note?: string): Figure {
  const figure = { name, unit, best: amount / samples.bestSeconds, median: amount / samples.medianSeconds, note };
  figures.push(figure);
  return figure;
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

// ---- side-by-side references ----

function memoryBandwidth(): Figure {
  const a = Buffer.alloc(BANDWIDTH_BUFFER_BYTES, 0x5a);
  const b = Buffer.alloc(BANDWIDTH_BUFFER_BYTES, 0x5a);
  const samples = repeat(7, () => {
    if (Buffer.compare(a, b) !== 0) throw new Error('bandwidth probe: buffers differ');
  });
  return rate('memory read bandwidth (Buffer.compare, 2 x 256 MiB)', 'GB/s', samples, (2 * BANDWIDTH_BUFFER_BYTES) / 1e9);
}

function inputs(count: number, size: number, next: () => number): Uint8Array[] {
  return Array.from({ length: count }, () => Uint8Array.from({ length: size }, () => next() & 0xff));
}

function sha256PerRecord(size: number, next: () => number): Figure {
  const records = inputs(1024, size, next);
  const samples = repeat(5, () => {
    for (let i = 0; i < HASH_CALLS; i++) createHash('sha256').update(records[i & 1023]).digest();
  });
  return perItem(`node:crypto SHA-256 per ${size}-byte record (createHash each)`, 'ns/record', samples, HASH_CALLS);
}

async function xxhash64PerCall(size: number, next: () => number): Promise<Figure> {
  const records = inputs(1024, size, next);
  const hasher = await createXXHash64();
  const samples = repeat(5, () => {
    for (let i = 0; i < HASH_CALLS; i++) hasher.init().update(records[i & 1023]).digest('binary');
  });
  return perItem(`hash-wasm xxhash64 per ${size}-byte call (init/update/digest)`, 'ns/call', samples, HASH_CALLS);
}

// ---- the store ----

function insertBatches(core: Core, factory: RecordFactory, count: number, seed: number): Samples {
  const next = seededRandom(seed);
  const seconds: number[] = [];
  const records = Array.from({ length: BATCH_WRITES_MAX }, () => new Uint8Array(factory.size));
  for (let first = 0; first < count; first += BATCH_WRITES_MAX) {
    const n = Math.min(BATCH_WRITES_MAX, count - first);
    const writes: Write[] = [];
    for (let i = 0; i < n; i++) {
      factory.write(records[i], first + i, next);
      writes.push({ event: 'CREATE_OBJ', operations: [{ op: 'insert', record: records[i] }] });
    }
    const batch = encodeBatch(writes);
    const start = performance.now();
    const result = core.apply(batch);
    seconds.push((performance.now() - start) / 1000);
    const failed = result.writeResults.findIndex((code) => code !== 0);
    if (failed >= 0) throw new Error(`insert of record ${first + failed} failed with code ${result.writeResults[failed]}`);
  }
  if (core.count() !== count) throw new Error(`store holds ${core.count()} records, expected ${count}`);
  return summarize([seconds.reduce((sum, s) => sum + s, 0)]);
}

/**
 * Cross-check: the same records (regenerated from the seed) summed through the packed-frames
 * path, chunk by chunk, folded, must give the SP that recompute() gave.
 */
function crossCheckFrames(core: Core, factory: RecordFactory, count: number, seed: number, expectedHex: string): void {
  const next = seededRandom(seed);
  const chunk: Uint8Array[] = [];
  let lo = 0n;
  let hi = 0n;
  const flush = (): void => {
    let from = 0;
    while (from < chunk.length) {
      const packed = core.packFrames(chunk, from);
      core.sumPackedFrames(packed);
      const view = core.dataView();
      const sum = lo + view.getBigUint64(core.result + R_ACC_LO, true);
      lo = sum & 0xffff_ffff_ffff_ffffn;
      hi = (hi + view.getBigUint64(core.result + R_ACC_HI, true) + (sum >> 64n)) & 0xffff_ffff_ffff_ffffn;
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
  if (folded.hex !== expectedHex) throw new Error(`packed frames give SP ${folded.hex}, recompute gave ${expectedHex}`);
}

function frameRecords(core: Core, factory: RecordFactory): number {
  const next = seededRandom(SEED + 7);
  const records = Array.from({ length: Math.floor(IO_BUFFER_SIZE / (factory.size + 4)) }, (_, i) => factory.make(i, next));
  return core.packFrames(records);
}

/** The packed-frames path: hash + accumulate over the IO buffer, one crossing per buffer. */
function packedFrames(core: Core, factory: RecordFactory, label: string): Figure {
  const count = frameRecords(core, factory);
  const samples = repeat(REPETITIONS * 3, () => core.sumPackedFrames(count), 3);
  const frame = perItem(`${label}: packed frames in the IO buffer (hash + accumulate, cache-warm)`, 'ns/record', samples, count,
    `${count} frames per call`);
  figures.push({
    name: `${label}: packed frames, record bytes hashed`, unit: 'GB/s',
    best: factory.size / frame.best, median: factory.size / frame.median,
  });
  return frame;
}

/** The SP part of one record change: h(r) as a REPLACE computes it, then the accumulator (bench_sp_update). */
function spUpdate(core: Core, factory: RecordFactory, label: string): Figure {
  const count = frameRecords(core, factory);
  const update = (core.exports as unknown as { bench_sp_update(pointer: number, count: number): number }).bench_sp_update;
  const before = core.syncPoint().hex;
  const samples = repeat(REPETITIONS * 3, () => {
    if (update(core.io, count) !== 0) throw new Error('bench_sp_update failed');
  }, 3);
  if (core.syncPoint().hex !== before) throw new Error('bench_sp_update changed the SP');
  return perItem(`${label}: incremental SP update per change (h(r) + accumulator, cache-warm)`, 'ns/change', samples, count);
}

function replaceBatches(core: Core, factory: RecordFactory, count: number, label: string): void {
  if (count < 2) throw new RangeError(`count: ${count}`);
  const next = seededRandom(SEED + 11);
  const batches: Uint8Array[] = [];
  for (let b = 0; b < REPLACE_BATCHES; b++) {
    const writes: Write[] = [];
    for (let i = 0; i < BATCH_WRITES_MAX; i++) {
      const record = factory.make(next() % count, next);
      writes.push({ event: 'UPDATE_OBJ', operations: [{ op: 'replace', record }] });
    }
    batches.push(encodeBatch(writes));
  }
  const changes = REPLACE_BATCHES * BATCH_WRITES_MAX;
  const host = repeat(REPETITIONS, () => {
    for (const batch of batches) {
      const result = core.apply(batch);
      if (result.writeResults.some((code) => code !== 0)) throw new Error('a replace failed');
    }
  });
  perItem(`${label}: REPLACE through Core.apply (copy in, decode, allocate, hash, index, results)`, 'ns/change', host, changes,
    `${REPLACE_BATCHES} batches of ${BATCH_WRITES_MAX} writes, random names`);
  const seconds: number[] = [];
  for (let r = 0; r < REPETITIONS; r++) {
    let total = 0;
    for (const batch of batches) {
      const at = core.put(batch);
      const start = performance.now();
      const code = core.exports.store_apply(at, batch.length, 1);
      total += performance.now() - start;
      if (code !== 0) throw new Error(`store_apply returned ${code}`);
    }
    seconds.push(total / 1000);
  }
  perItem(`${label}: REPLACE, store_apply only (decode, allocate, hash, index)`, 'ns/change', summarize(seconds), changes);
}

interface StoreFigures {
  readonly scratchRate: Figure;
  readonly scratchBandwidth: Figure;
  readonly frames: Figure;
  readonly update: Figure;
}

function storeBenchmarks(options: Options, shape: RecordShape, withSingleCall: boolean): StoreFigures {
  const label = `${shape.size} B`;
  const seed = SEED + shape.size;
  const core = keyedCore(options.wasm);
  const factory = new RecordFactory(core, shape);
  log(`${label}: loading ${options.records} records through batches of ${BATCH_WRITES_MAX} inserts`);
  const load = insertBatches(core, factory, options.records, seed);
  perItem(`${label}: INSERT while loading the store (Core.apply)`, 'ns/change', load, options.records);
  log(`${label}: recompute from scratch`);
  let hex = '';
  const scratch = repeat(REPETITIONS, () => {
    const { syncPoint, consistent } = core.recompute();
    if (!consistent) throw new Error('recompute disagrees with the incremental SP');
    hex = syncPoint.hex;
  });
  const scratchRate = rate(`${label}: SP from scratch over ${options.records} records`, 'records/s', scratch, options.records, `SP ${hex}`);
  const scratchBandwidth = rate(`${label}: SP from scratch, record bytes hashed`, 'GB/s', scratch, (options.records * shape.size) / 1e9);
  crossCheckFrames(core, factory, options.records, seed, hex);
  const frames = packedFrames(core, factory, label);
  const update = spUpdate(core, factory, label);
  if (withSingleCall) {
    const samples = repeat(5, () => {
      for (let i = 0; i < 100_000; i++) core.exports.sp_sum_frames(core.io, 1);
    });
    perItem(`${label}: one record per call (sp_sum_frames(1): crossing + hash + fold)`, 'ns/call', samples, 100_000);
  }
  log(`${label}: replace batches`);
  replaceBatches(core, factory, options.records, label);
  return { scratchRate, scratchBandwidth, frames, update };
}

/** REPLACE on a store small enough to stay in cache: the all-in cost without memory misses. */
function smallStoreReplace(options: Options, shape: RecordShape): void {
  const core = keyedCore(options.wasm);
  const factory = new RecordFactory(core, shape);
  insertBatches(core, factory, SMALL_STORE_RECORDS, SEED + 3);
  replaceBatches(core, factory, SMALL_STORE_RECORDS, `${shape.size} B, ${SMALL_STORE_RECORDS}-record store`);
}

// ---- report ----

interface Target {
  readonly name: string;
  readonly required: string;
  readonly best: number;
  readonly median: number;
  readonly metBest: boolean;
  readonly metMedian: boolean;
}

function format(value: number, unit: Unit | 'x'): string {
  if (unit === 'records/s') return `${(value / 1e6).toFixed(1)} M/s`;
  if (unit === 'GB/s') return `${value.toFixed(2)} GB/s`;
  if (unit === 'x') return `${value.toFixed(0)}x`;
  return `${value.toFixed(value < 10 ? 2 : 1)} ns`;
}

function printTable(rows: readonly string[][]): void {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  for (const [i, row] of rows.entries()) {
    console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const machineBefore = machineInfo();
  log(`seed ${SEED}, ${options.records} records, core ${options.wasm}`);
  log(`machine: ${machineBefore.cpuModel}, ${machineBefore.logicalCores} cores, node ${machineBefore.node}`);
  log(`load before: ${machineBefore.uptime}`);
  const next = seededRandom(SEED);

  log('memory bandwidth probe');
  const bandwidth = memoryBandwidth();
  log('node:crypto SHA-256 and hash-wasm xxhash64');
  const sha64 = sha256PerRecord(64, next);
  sha256PerRecord(300, next);
  await xxhash64PerCall(64, next);

  const small = storeBenchmarks(options, SHAPE_64, true);
  const large = storeBenchmarks(options, SHAPE_300, false);
  log('replace batches on a small store');
  smallStoreReplace(options, SHAPE_64);
  const loadAfter = uptimeLine();
  log(`load after: ${loadAfter}`);

  const ratio = (sha: number, sp: number): number => sha / (1e9 / sp);
  const targets: Target[] = [
    {
      name: '64 B records from scratch', required: '>= 40 M records/s',
      best: small.scratchRate.best, median: small.scratchRate.median,
      metBest: small.scratchRate.best >= 40e6, metMedian: small.scratchRate.median >= 40e6,
    },
    {
      name: 'vs node:crypto SHA-256 per 64 B record', required: '>= 50x',
      best: ratio(sha64.best, small.scratchRate.best), median: ratio(sha64.median, small.scratchRate.median),
      metBest: ratio(sha64.best, small.scratchRate.best) >= 50, metMedian: ratio(sha64.median, small.scratchRate.median) >= 50,
    },
    {
      name: 'incremental SP update per change (h(r) + accumulator, 64 B)', required: '< 100 ns',
      best: small.update.best, median: small.update.median,
      metBest: small.update.best < 100, metMedian: small.update.median < 100,
    },
    ...['REPLACE through Core.apply', 'REPLACE, store_apply only'].map((prefix) => {
      const figure = figures.find((f) => f.name.startsWith(`64 B: ${prefix}`))!;
      return {
        name: `incremental, all-in: ${prefix} (64 B)`, required: '< 100 ns',
        best: figure.best, median: figure.median, metBest: figure.best < 100, metMedian: figure.median < 100,
      };
    }),
    {
      name: '300 B records from scratch vs memory read bandwidth', required: `>= ${(bandwidth.best / 2).toFixed(2)} GB/s (half)`,
      best: large.scratchBandwidth.best, median: large.scratchBandwidth.median,
      metBest: large.scratchBandwidth.best >= bandwidth.best / 2, metMedian: large.scratchBandwidth.median >= bandwidth.median / 2,
    },
  ];

  console.log(`\nSync-Point benchmark — ${machineBefore.cpuModel}, ${machineBefore.logicalCores} cores, node ${machineBefore.node}, ${machineBefore.date}`);
  console.log(`load before: ${machineBefore.uptime}\nload after:  ${loadAfter}\n`);
  printTable([
    ['measure', 'best', 'median', 'note'],
    ...figures.map((f) => [f.name, format(f.best, f.unit), format(f.median, f.unit), f.note ?? '']),
  ]);
  console.log('');
  printTable([
    ['target', 'required', 'best', 'median', 'met (best)', 'met (median)'],
    ...targets.map((t) => {
      const unit: Unit | 'x' = t.required.startsWith('>= 50x') ? 'x' : t.required.includes('M records') ? 'records/s'
        : t.required.includes('GB/s') ? 'GB/s' : 'ns/record';
      return [t.name, t.required, format(t.best, unit), format(t.median, unit), t.metBest ? 'met' : 'NOT MET', t.metMedian ? 'met' : 'NOT MET'];
    }),
  ]);

  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  const report = {
    benchmark: 'sp',
    command: 'npm run bench:sp',
    seed: SEED,
    records: options.records,
    core: options.wasm.replace(/^.*\/build\//, 'build/'),
    repetitions: REPETITIONS,
    machine: machineBefore,
    loadAfter,
    figures,
    targets,
  };
  writeFileSync(RESULT_PATH, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${RESULT_PATH.pathname}`);
}

await main();
