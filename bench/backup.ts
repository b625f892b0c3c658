// bench:backup — memory and time of a backup and of a restore, format version 2 (streamed)
// beside version 1 (whole in memory), at 10k, 100k and 1M keys. Each (format, phase, keys)
// runs in its own child process so that its peak RSS is its own; the runs are interleaved
// (v1, v2, v1, v2 ... per size) and the medians of ROUNDS reported. Writes
// bench/results/backup.json and backup.svg (memory by keys, v1 beside v2).
//
//   backup   a core holding the keys (applied directly: this measures the backup, not the
//            commit path) is written to a file: v2 = encodeBackupStream over a snapshot export,
//            a chunk at a time; v1 = encodeBackup, the whole file in memory, then written
//   restore  the file is read, checked and imported into an empty core: v2 =
//            importBackupStream over a file read stream; v1 = read whole, importBackup
//
// Memory: peak RSS (getrusage maxRSS, which covers transient peaks) above the process before
// the phase (the core built, or empty) and above it after the phase (for a restore, the store
// it restored, which grows with the keys whatever the format); the core's wasm memory growth;
// the largest JS heap + array buffers (wasm memory excluded) seen between chunks.
//
//   npm run bench:backup [-- --keys 10000,100000,1000000 --rounds 3]

import { spawnSync } from 'node:child_process';
import {
  closeSync,
  createReadStream,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Core } from '../host/core/core.ts';
import { encodeBackup } from '../host/backup/format.ts';
import { encodeBackupStream } from '../host/backup/format-v2.ts';
import { importBackup, importBackupStream } from '../host/backup/restore.ts';
import { filledCore, keyedCore, TEST_SVMK } from '../test/fixtures.ts';
import { resultPath, stringOption, writeResult } from './lib/cli.ts';
import { writeBackupSvg, type SavedBackupRow } from './lib/backup-svg.ts';

type Format = 'v1' | 'v2';
type Phase = 'backup' | 'restore';
interface Sample {
  format: Format;
  phase: Phase;
  keys: number;
  seconds: number;
  fileBytes: number;
  peakRssAboveMB: number;
  peakJsAboveMB: number;
  wasmGrowthMB: number;
  peakRssAboveEndMB: number;
}

const MB = 1024 * 1024;
const script = fileURLToPath(import.meta.url);
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
/** JS heap and array buffers, without the core's wasm memory (counted among array buffers). */
const jsBytes = (core: Core): number => {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers - wasmBytes(core);
};
const maxRss = (): number => process.resourceUsage().maxRSS * 1024;
const wasmBytes = (core: Core): number => core.memory().buffer.byteLength;

const input = (snapshot: Iterable<Uint8Array>) => ({
  poolId: 1n,
  domain: 'bench',
  createdMs: Date.now(),
  snapshot,
});

/** One phase in this process; prints its Sample as JSON. A backup is of a core holding alice
 * and `keys` objects of hers (test/fixtures.ts's filledCore, in batches of 100). */
async function child(format: Format, phase: Phase, keys: number, file: string): Promise<void> {
  const core = phase === 'backup' ? filledCore(keys) : keyedCore();
  gc();
  const rss0 = process.memoryUsage().rss;
  const js0 = jsBytes(core);
  const wasm0 = wasmBytes(core);
  let jsPeak = js0;
  const sample = (): void => {
    jsPeak = Math.max(jsPeak, jsBytes(core));
  };
  const start = performance.now();
  let fileBytes = 0;
  if (phase === 'backup') {
    const fd = openSync(file, 'w');
    try {
      const chunks =
        format === 'v2'
          ? encodeBackupStream(input(core.snapshotPieces()), TEST_SVMK)
          : [encodeBackup(input(core.snapshotChunks()), TEST_SVMK)];
      for (const chunk of chunks) {
        sample();
        writeSync(fd, chunk);
        fileBytes += chunk.length;
      }
    } finally {
      closeSync(fd);
    }
  } else if (format === 'v2') {
    const stream = createReadStream(file, { highWaterMark: 256 * 1024 });
    stream.on('data', (chunk) => {
      fileBytes += chunk.length;
      sample();
    });
    await importBackupStream(core, stream, TEST_SVMK);
  } else {
    const bytes = new Uint8Array(readFileSync(file));
    fileBytes = bytes.length;
    sample();
    importBackup(core, bytes, TEST_SVMK);
  }
  sample();
  const seconds = (performance.now() - start) / 1000;
  const peakRssAbove = Math.max(0, maxRss() - rss0);
  const wasmGrowth = wasmBytes(core) - wasm0;
  gc();
  const peakAboveEnd = Math.max(0, maxRss() - process.memoryUsage().rss);
  const result: Sample = {
    format,
    phase,
    keys,
    seconds: round(seconds, 3),
    fileBytes,
    peakRssAboveMB: round(peakRssAbove / MB, 1),
    peakJsAboveMB: round((jsPeak - js0) / MB, 1),
    wasmGrowthMB: round(wasmGrowth / MB, 1),
    peakRssAboveEndMB: round(peakAboveEnd / MB, 1),
  };
  console.log(JSON.stringify(result));
}

const round = (value: number, digits: number): number => Number(value.toFixed(digits));
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

function run(format: Format, phase: Phase, keys: number, file: string): Sample {
  const result = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', script, '--child', format, phase, String(keys), file],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  if (result.status !== 0) throw new Error(`${format} ${phase} ${keys}: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as Sample;
}

async function main(): Promise<void> {
  const keyCounts = stringOption('keys', '10000,100000,1000000').split(',').map(Number);
  const rounds = Number(stringOption('rounds', '3'));
  const directory = join(tmpdir(), `hsmpool-bench-backup-${process.pid}`);
  mkdirSync(directory, { recursive: true });
  const rows: SavedBackupRow[] = [];
  try {
    for (const keys of keyCounts) {
      const samples: Sample[] = [];
      for (let round = 0; round < rounds; round++)
        for (const format of ['v1', 'v2'] as const) {
          const file = join(directory, `${format}-${keys}.backup`);
          samples.push(run(format, 'backup', keys, file), run(format, 'restore', keys, file));
        }
      for (const format of ['v1', 'v2'] as const)
        for (const phase of ['backup', 'restore'] as const) {
          const mine = samples.filter((s) => s.format === format && s.phase === phase);
          const row = {
            format,
            phase,
            keys,
            rounds: mine.length,
            fileMB: round(mine[0].fileBytes / MB, 1),
            seconds: median(mine.map((s) => s.seconds)),
            peakRssAboveMB: median(mine.map((s) => s.peakRssAboveMB)),
            peakJsAboveMB: median(mine.map((s) => s.peakJsAboveMB)),
            wasmGrowthMB: median(mine.map((s) => s.wasmGrowthMB)),
            peakRssAboveEndMB: median(mine.map((s) => s.peakRssAboveEndMB)),
          };
          rows.push(row);
          console.log(JSON.stringify(row));
        }
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
  writeResult('backup.json', {
    description:
      'Backup and restore memory and time, format v2 (streamed) beside v1 (whole in memory); each row the median of interleaved child-process runs (bench/backup.ts). peakRssAboveMB: peak RSS above the process before the phase; peakRssAboveEndMB: peak RSS above the process after it (for restore: above the restored store); peakJsAboveMB: JS heap + array buffers (without wasm memory) sampled between chunks, garbage included.',
    rows,
    machine: {
      cpus: cpus().length,
      load: loadavg().map((l) => round(l, 2)),
      node: process.version,
    },
  });
  writeBackupSvg(rows, resultPath('backup.svg'));
}

if (process.argv[2] === '--child') {
  const [, , , format, phase, keys, file] = process.argv;
  await child(format as Format, phase as Phase, Number(keys), file);
} else await main();
