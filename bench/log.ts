// The transaction log benchmark (issue 3, "Benchmark"): one process, one table,
// bench/results/log.json.   npm run bench:log
// Entries encoded and decoded per second for small (a 128-byte COMMIT) and large (a ~4 KiB
// PREPARE) entries; recovery scan speed in MB/s over logs of each; and, in the same run, the
// checksum alone (what a scan cannot avoid), the host-to-wasm copy, and a memory-read
// bandwidth probe (Buffer.compare of two equal 256 MiB buffers), so the scan can be judged
// against the machine. Both builds (SIMD and scalar). Every byte comes from the printed seed;
// nothing here asserts a time.

import { encodeBatch } from '../host/core/batch.ts';
import type { Core } from '../host/core/core.ts';
import {
  LogEncoder,
  decodeEntry,
  scanLog,
  type EntryBody,
  type PrepareBody,
} from '../host/core/txlog.ts';
import { coreWasmPath, type CoreVariant } from '../host/core/load.node.ts';
import { writeResult } from './lib/cli.ts';
import { keyedCore } from './lib/load.ts';
import { machineInfo, uptimeLine } from './lib/machine.ts';
import { memoryReadProbe, randomBytes, repeat, seededRandom, type Samples } from './lib/stats.ts';

const SEED = 20261124;
const REPETITIONS = 7;
const POOL = 0x600d5eedn;
/** Entries per timed encode/decode repetition. */
const CODEC_ENTRIES = { small: 100_000, large: 10_000 } as const;
/** Bytes of log each scan repetition reads. */
const SCAN_LOG_BYTES = 64 * 2 ** 20;
const CHECKSUM_BUFFER_BYTES = 2 ** 20;
const LARGE_ENTRY_TARGET_BYTES = 4096;
const MB = 1e6;

const next = seededRandom(SEED);

interface Row {
  readonly measure: string;
  readonly build: CoreVariant | 'host';
  readonly unit: string;
  readonly best: number;
  readonly median: number;
}
const rows: Row[] = [];

/** Records a rate: `amount` units per repetition, higher is better. */
function record(
  measure: string,
  build: Row['build'],
  unit: string,
  amount: number,
  samples: Samples,
): void {
  const row = {
    measure,
    build,
    unit,
    best: amount / samples.bestSeconds,
    median: amount / samples.medianSeconds,
  };
  rows.push(row);
  const figure = (x: number): string =>
    x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(1);
  console.log(
    `${measure.padEnd(46)} ${build.padEnd(8)} ${figure(row.best).padStart(10)} ${unit.padEnd(10)} (median ${figure(row.median)})`,
  );
}

/** A PREPARE whose whole entry is about LARGE_ENTRY_TARGET_BYTES (one insert of seeded bytes). */
function largePrepare(): PrepareBody {
  const probe = encodeBatch([
    { event: 'CREATE_OBJ', operations: [{ op: 'insert', record: new Uint8Array(0) }] },
  ]);
  const fixed = 112 + 48 + 8 + 2 * (9 + 13) + 6 + 4 + probe.length;
  const batch = encodeBatch([
    {
      event: 'CREATE_OBJ',
      operations: [{ op: 'insert', record: randomBytes(LARGE_ENTRY_TARGET_BYTES - fixed, next) }],
    },
  ]);
  return {
    type: 'prepare',
    coordinator: 0xa1n,
    participants: [0xb2n],
    nodes: [
      { id: 0xa1n, address: '10.0.0.1:4433' },
      { id: 0xb2n, address: '10.0.0.2:4433' },
    ],
    spBefore: 1n,
    spvvBefore: 2,
    spAfter: 3n,
    spvvAfter: 4,
    createdTick: 5n,
    event: 4,
    sourceUser: 'master',
    targetName: 'key1',
    batch,
  };
}

const SMALL: EntryBody = { type: 'commit', spAfter: 0xca110f4b3a0662a2n, spvvAfter: 0x5058 };

function encodeMany(core: Core, body: EntryBody, count: number): Uint8Array[] {
  const encoder = new LogEncoder(core, POOL, undefined, 1n);
  const entries: Uint8Array[] = [];
  for (let i = 0; i < count; i++)
    entries.push(encoder.encode(body, { transactionId: BigInt(i + 1) }));
  return entries;
}

function benchCodec(
  core: Core,
  build: CoreVariant,
  size: 'small' | 'large',
  body: EntryBody,
): Uint8Array[] {
  const count = CODEC_ENTRIES[size];
  let entries: Uint8Array[] = [];
  const encode = repeat(REPETITIONS, () => {
    entries = encodeMany(core, body, count);
  });
  const bytes = entries[0].length;
  record(`encode ${size} entry (${bytes} B)`, build, 'entries/s', count, encode);
  const decode = repeat(REPETITIONS, () => {
    for (const entry of entries) decodeEntry(core, entry, POOL);
  });
  record(`decode ${size} entry (${bytes} B)`, build, 'entries/s', count, decode);
  return entries;
}

/** A log of about SCAN_LOG_BYTES made of a chain of `body` entries. */
function logOf(core: Core, body: EntryBody, entryBytes: number): Uint8Array {
  const entries = encodeMany(core, body, Math.floor(SCAN_LOG_BYTES / entryBytes));
  return Buffer.concat(entries);
}

function benchScan(core: Core, build: CoreVariant, size: string, log: Uint8Array): void {
  const expected = scanLog(core, log, { poolId: POOL });
  if (expected.tail !== 'clean')
    throw new Error(`benchmark log does not scan clean: ${expected.damage?.name}`);
  const plain = repeat(REPETITIONS, () => scanLog(core, log, { poolId: POOL }));
  record(`recovery scan, ${size} entries`, build, 'MB/s', log.length / MB, plain);
  let seen = 0;
  const visited = repeat(REPETITIONS, () =>
    scanLog(core, log, { poolId: POOL }, () => {
      seen++;
    }),
  );
  record(`recovery scan, ${size} entries, visiting each`, build, 'MB/s', log.length / MB, visited);
  if (seen === 0) throw new Error('scan visited nothing');
}

/** The checksum alone inside wasm (no copy), and the host-to-wasm copy alone. */
function benchFloor(core: Core, build: CoreVariant): void {
  const buffer = randomBytes(CHECKSUM_BUFFER_BYTES, next);
  const address = core.put(buffer);
  const checksum = repeat(REPETITIONS, () => {
    for (let i = 0; i < 16; i++) core.exports.checksum(address, buffer.length);
  });
  record('checksum alone (1 MiB, in wasm)', build, 'MB/s', (16 * buffer.length) / MB, checksum);
  const copy = repeat(REPETITIONS, () => {
    for (let i = 0; i < 16; i++) core.put(buffer);
  });
  record('copy into wasm memory (1 MiB)', build, 'MB/s', (16 * buffer.length) / MB, copy);
}

function benchMemory(): void {
  const probe = memoryReadProbe();
  const compare = repeat(REPETITIONS, probe.read);
  record('memory read (Buffer.compare 2 x 256 MiB)', 'host', 'MB/s', probe.bytes / MB, compare);
}

function main(): void {
  console.log(
    `transaction log benchmark, seed ${SEED}, ${REPETITIONS} repetitions; ${uptimeLine()}`,
  );
  benchMemory();
  const large = largePrepare();
  for (const build of ['release', 'scalar'] as const) {
    const core = keyedCore(coreWasmPath(build));
    benchFloor(core, build);
    const small = benchCodec(core, build, 'small', SMALL);
    const big = benchCodec(core, build, 'large', large);
    benchScan(core, build, `${small[0].length} B`, logOf(core, SMALL, small[0].length));
    benchScan(core, build, `${big[0].length} B`, logOf(core, large, big[0].length));
  }
  benchMemory();
  const path = writeResult('log.json', {
    benchmark: 'transaction log',
    seed: SEED,
    repetitions: REPETITIONS,
    scanLogBytes: SCAN_LOG_BYTES,
    machine: machineInfo(),
    rows,
  });
  console.log(`wrote ${path.pathname}`);
}

main();
