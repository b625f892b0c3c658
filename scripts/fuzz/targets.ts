// The fuzz targets through the JS host: the input format of each and a replay that feeds one
// input to the real core and checks the same things scripts/fuzz/harness.c checks. The seed
// generator (scripts/fuzz/seeds.ts) writes inputs in these formats; test/core/corpus.test.ts
// replays every file of test/corpus/<target>/ with `replay`. Change a format here and in
// harness.c together.

import { CODE } from '../../host/core/codes.ts';
import type { Core } from '../../host/core/core.ts';
import * as L from '../../host/core/layout.ts';
import { Recorder, place, refillSlack, type Replay } from './harness.ts';
import { checkLogEntry, fixLogChecksums, fixLogStream, replayLogScan } from './log-targets.ts';

export { FUZZ_POOL_ID, FUZZ_SP_KEY, type Replay } from './harness.ts';

export const TARGET_NAMES = [
  'record',
  'batch',
  'snapshot',
  'log_entry',
  'log_entry_fixed',
  'log_scan',
  'log_scan_fixed',
] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** A snapshot target input: the header, then each chunk as u32 LE length + bytes. */
export function snapshotInput(header: Uint8Array, chunks: readonly Uint8Array[]): Uint8Array {
  const size = header.length + chunks.reduce((sum, chunk) => sum + 4 + chunk.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(header, 0);
  let at = header.length;
  for (const chunk of chunks) {
    view.setUint32(at, chunk.length, true);
    out.set(chunk, at + 4);
    at += 4 + chunk.length;
  }
  return out;
}

/** The inverse of snapshotInput for any bytes (harness.c: run_snapshot). */
export function splitSnapshotInput(input: Uint8Array): {
  header: Uint8Array;
  chunks: Uint8Array[];
} {
  const headerSize = Math.min(input.length, L.SNAPSHOT_HEADER_SIZE);
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const chunks: Uint8Array[] = [];
  let at = headerSize;
  while (at < input.length) {
    let length = input.length - at;
    if (length >= 4) {
      length = Math.min(view.getUint32(at, true), input.length - at - 4);
      at += 4;
    }
    chunks.push(input.subarray(at, at + length));
    at += length;
  }
  return { header: input.subarray(0, headerSize), chunks };
}

function syncPointBytes(core: Core): Uint8Array {
  return core.copyOut(core.result + L.R_SP, 16);
}

function checkConsistent(core: Core, recorder: Recorder, after: string): void {
  const code = core.exports.sp_recompute();
  recorder.expect(code === 0, `after ${after}, sp_recompute returned ${code}`);
}

function clearStore(core: Core, recorder: Recorder): void {
  core.exports.snapshot_import_abort();
  recorder.expect(core.exports.store_clear() === 0, 'store_clear failed');
}

function replayRecord(core: Core, input: Uint8Array, recorder: Recorder): void {
  const code = recorder.record(
    'record_decode',
    core.exports.record_decode(place(core, input, 0, 0), input.length),
  );
  if (code === 0) {
    const length = core.dataView().getUint32(core.result + L.R_VIEW + 3 * 4, true);
    recorder.expect(
      length === input.length,
      'record_decode accepted a record but its view has another length',
    );
  }
}

function replayBatch(core: Core, input: Uint8Array, recorder: Recorder): void {
  const address = place(core, input, 0xa5);
  const dry = recorder.record(
    'store_apply (dry run)',
    core.exports.store_apply(address, input.length, 0),
  );
  const writes = Math.min(input.length >= 2 ? input[0] | (input[1] << 8) : 0, L.BATCH_WRITES_MAX);
  const dryPoint = syncPointBytes(core);
  const dryResults = core.copyOut(core.result + L.R_WRITE_RESULTS, writes * 4);
  recorder.expect(core.exports.store_count() === 0, 'a dry run left records in the store');
  checkConsistent(core, recorder, 'a dry run');

  refillSlack(core, address, input.length, 0x00);
  const commit = recorder.record(
    'store_apply (commit)',
    core.exports.store_apply(address, input.length, 1),
  );
  recorder.expect(commit === dry, `dry run returned ${dry} but commit returned ${commit}`);
  if (commit === 0 && dry === 0) {
    recorder.expect(
      Buffer.from(dryResults).equals(core.copyOut(core.result + L.R_WRITE_RESULTS, writes * 4)),
      'dry run and commit gave different per-write results',
    );
    recorder.expect(
      Buffer.from(dryPoint).equals(syncPointBytes(core)),
      'dry run and commit gave different Sync-Points',
    );
  } else {
    recorder.expect(core.exports.store_count() === 0, 'a refused batch left records in the store');
  }
  checkConsistent(core, recorder, 'a commit');
  clearStore(core, recorder);
}

function checkExportMatches(
  core: Core,
  header: Uint8Array,
  frames: Uint8Array,
  recorder: Recorder,
): void {
  const chunks = core.snapshotChunks();
  recorder.expect(
    Buffer.from(chunks[0]).equals(header),
    'the exported header differs from the imported one',
  );
  recorder.expect(
    Buffer.concat(chunks.slice(1)).equals(frames),
    'the exported frames differ from the imported ones',
  );
}

function replaySnapshot(core: Core, input: Uint8Array, recorder: Recorder): void {
  const { header, chunks } = splitSnapshotInput(input);
  let code = recorder.record(
    'snapshot_import_begin',
    core.exports.snapshot_import_begin(place(core, header), header.length),
  );
  if (code !== 0) {
    recorder.expect(core.exports.store_count() === 0, 'a refused header left records in the store');
    clearStore(core, recorder);
    return;
  }
  const imported: Uint8Array[] = [];
  for (const chunk of chunks) {
    code = recorder.record(
      'snapshot_import_chunk',
      core.exports.snapshot_import_chunk(place(core, chunk), chunk.length),
    );
    imported.push(chunk);
    if (code !== 0) break;
  }
  if (code !== 0) {
    recorder.expect(core.exports.store_count() === 0, 'a refused chunk left records in the store');
    const end = core.exports.snapshot_import_end();
    recorder.expect(
      end === CODE.SNAPSHOT_STATE,
      `snapshot_import_end after a refused chunk returned ${end}, not SNAPSHOT_STATE`,
    );
    clearStore(core, recorder);
    return;
  }
  code = recorder.record('snapshot_import_end', core.exports.snapshot_import_end());
  if (code !== 0) {
    recorder.expect(core.exports.store_count() === 0, 'a refused import left records in the store');
  } else {
    checkConsistent(core, recorder, 'an import');
    const promised = new DataView(header.buffer, header.byteOffset, header.byteLength).getBigUint64(
      8,
      true,
    );
    recorder.expect(
      BigInt(core.exports.store_count()) === promised,
      'the import does not hold the promised count',
    );
    checkExportMatches(core, header, Buffer.concat(imported), recorder);
  }
  clearStore(core, recorder);
}

const REPLAYS: Record<TargetName, (core: Core, input: Uint8Array, recorder: Recorder) => void> = {
  record: replayRecord,
  batch: replayBatch,
  snapshot: replaySnapshot,
  log_entry: checkLogEntry,
  log_entry_fixed: (core, input, recorder) =>
    checkLogEntry(core, fixLogChecksums(core, input), recorder),
  log_scan: replayLogScan,
  log_scan_fixed: (core, input, recorder) =>
    replayLogScan(core, fixLogStream(core, input), recorder),
};

/**
 * Feeds one input to a target on `core` (keyed with FUZZ_SP_KEY, store empty) and leaves the
 * store empty again. Throws only if the core traps.
 */
export function replay(core: Core, target: TargetName, input: Uint8Array): Replay {
  if (input.length > core.ioSize)
    throw new RangeError(`input of ${input.length} bytes exceeds the IO buffer`);
  const recorder = new Recorder();
  REPLAYS[target](core, input, recorder);
  return { calls: recorder.calls, problems: recorder.problems };
}
