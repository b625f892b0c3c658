// The fuzz targets through the JS host: the input format of each and a replay that feeds one
// input to the real core and checks the same things scripts/fuzz/harness.c checks. The seed
// generator (scripts/fuzz/seeds.ts) writes inputs in these formats; test/core/corpus.test.ts
// replays every file of test/corpus/<target>/ with `replay`. Change a format here and in
// harness.c together.

import { CODE, describe as describeCode } from '../../host/core/codes.ts';
import type { Core } from '../../host/core/core.ts';
import * as L from '../../host/core/layout.ts';
import { logExportsOf } from '../../host/core/txlog.ts';
import { equalBytes } from '../../host/wire/bytes.ts';
import {
  LOG_HEADER_SIZE,
  LOG_HEADER_CHECKED_SIZE,
  H_BODY_LENGTH,
  H_POOL,
  H_SEQUENCE,
  H_BODY_CHECKSUM,
  H_PARENT,
  H_HEADER_CHECKSUM,
  S_CONSUMED,
  S_RESULT_COUNT,
  S_VALID_LENGTH,
  S_ENTRIES,
  S_NEXT,
  S_LAST_SEQUENCE,
  S_POOL,
  S_MODE,
  S_DAMAGE_OFFSET,
  S_DAMAGE_CODE,
  S_ENTRY_LENGTH,
  S_WITNESS_OFFSET,
  S_ENTRY_CHECKSUM,
  LOG_RESULT_SIZE,
  E_OFFSET,
  E_SEQUENCE,
  E_EPOCH,
  E_LENGTH,
  SCAN_MORE,
  SCAN_CHAIN_KNOWN,
  SCAN_ANY_POOL,
} from '../../host/core/txlog-layout.ts';

/** The Sync-Point key every target runs under (harness.c: sp_key). */
export const FUZZ_SP_KEY: Uint8Array = Uint8Array.from({ length: L.SP_KEY_SIZE }, (_, i) => i);

/** Bytes io_pointer() guarantees after the IO buffer (harness.c: SLACK). */
export const SLACK = 64;

/** The pool every log seed belongs to (harness.c: FUZZ_POOL_ID). */
export const FUZZ_POOL_ID = 0x1122334455667788n;

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

/** What one entry-point call returned. */
export interface Call {
  readonly entryPoint: string;
  readonly code: number;
}

export interface Replay {
  readonly calls: Call[];
  /** Broken invariants, in words; empty when all held. */
  readonly problems: string[];
}

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

/** Pages of the input zone: the largest input (the IO buffer) plus slack (harness.c: ZONE_PAGES). */
const ZONE_PAGES = Math.ceil((L.IO_BUFFER_SIZE + SLACK) / 65536);
const zoneEnds = new WeakMap<Core, number>();

/**
 * A copy in a fresh ArrayBuffer at offset 0. (Not `.slice()`: an input may be a Node Buffer,
 * whose slice is a view, and writing to it would change the caller's bytes.)
 */
function copyOf(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy;
}

/**
 * Copies `bytes` to the very end of linear memory, followed by `slack` bytes of `fill` and
 * nothing else, so a read past input + slack traps (harness.c: place). The zone is memory
 * this grows and the core's allocator never hands out; it is grown again whenever the core
 * grew memory past it. Returns the address.
 */
function place(core: Core, bytes: Uint8Array, fill = 0, slack = SLACK): number {
  const memory = core.exports.memory;
  if (zoneEnds.get(core) !== memory.buffer.byteLength) {
    memory.grow(ZONE_PAGES);
    zoneEnds.set(core, memory.buffer.byteLength);
  }
  const end = zoneEnds.get(core)!;
  const address = end - slack - bytes.length;
  const view = core.memory();
  view.set(bytes, address);
  view.fill(fill, address + bytes.length, end);
  return address;
}

function refillSlack(core: Core, address: number, length: number, fill: number): void {
  core.memory().fill(fill, address + length, address + length + SLACK);
}

class Recorder {
  readonly calls: Call[] = [];
  readonly problems: string[] = [];
  record(entryPoint: string, code: number): number {
    this.calls.push({ entryPoint, code });
    if (describeCode(code).name === 'UNKNOWN')
      this.problems.push(`${entryPoint} returned undocumented code ${code}`);
    return code;
  }
  expect(condition: boolean, problem: string): void {
    if (!condition) this.problems.push(problem);
  }
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

// ---- log targets (assembly/txlog*.ts, through the exports host/core/txlog.ts declares) ----

function checkLogEntry(core: Core, input: Uint8Array, recorder: Recorder): void {
  const log = logExportsOf(core);
  const state = log.log_state_pointer();
  const address = place(core, input, 0xa5);
  const code = recorder.record('log_check (any pool)', log.log_check(address, input.length, 0n, 0));
  const view = core.dataView();
  const length = view.getUint32(state + S_ENTRY_LENGTH, true);
  const checksum = core.copyOut(state + S_ENTRY_CHECKSUM, 16);
  refillSlack(core, address, input.length, 0x00);
  const again = log.log_check(address, input.length, 0n, 0);
  recorder.expect(
    again === code,
    `log_check returned ${code}, then ${again} with other bytes in the slack`,
  );
  const pooled = recorder.record(
    'log_check (pool)',
    log.log_check(address, input.length, FUZZ_POOL_ID, 1),
  );
  if (code !== 0) return;

  const fields = new DataView(input.buffer, input.byteOffset, input.byteLength);
  recorder.expect(
    length === LOG_HEADER_SIZE + fields.getUint32(H_BODY_LENGTH, true) && length <= input.length,
    'log_check accepted an entry of the wrong length',
  );
  recorder.expect(
    equalBytes(checksum, input.subarray(H_HEADER_CHECKSUM, H_HEADER_CHECKSUM + 16)),
    'log_check reported another checksum',
  );
  const expected = fields.getBigUint64(H_POOL, true) === FUZZ_POOL_ID ? 0 : CODE.LOG_WRONG_POOL;
  recorder.expect(
    pooled === expected,
    `log_check with the pool returned ${pooled}, expected ${expected}`,
  );

  const entry = copyOf(input.subarray(0, length));
  entry.fill(0, H_BODY_CHECKSUM, H_BODY_CHECKSUM + 16);
  entry.fill(0, H_HEADER_CHECKSUM, H_HEADER_CHECKSUM + 16);
  const parentAt = core.put(input.subarray(H_PARENT, H_PARENT + 16), core.ioSize - 16);
  const copy = place(core, entry);
  const sealed = log.log_seal(copy, length, parentAt);
  recorder.expect(sealed === 0, `log_seal refused (${sealed}) an entry log_check accepted`);
  recorder.expect(
    equalBytes(core.copyOut(copy, length), input.subarray(0, length)),
    'log_seal of an accepted entry gave other bytes',
  );
}

/** The log_entry_fixed input after the harness's fix-up: correct body and header checksums. */
export function fixLogChecksums(core: Core, input: Uint8Array): Uint8Array {
  const fixed = copyOf(input);
  if (fixed.length < LOG_HEADER_SIZE) return fixed;
  const view = new DataView(fixed.buffer);
  const bodyLength = view.getUint32(H_BODY_LENGTH, true);
  if (bodyLength <= fixed.length - LOG_HEADER_SIZE) {
    const [lo, hi] = core.checksum(fixed.subarray(LOG_HEADER_SIZE, LOG_HEADER_SIZE + bodyLength));
    view.setBigUint64(H_BODY_CHECKSUM, lo, true);
    view.setBigUint64(H_BODY_CHECKSUM + 8, hi, true);
  }
  const [lo, hi] = core.checksum(fixed.subarray(0, LOG_HEADER_CHECKED_SIZE));
  view.setBigUint64(H_HEADER_CHECKSUM, lo, true);
  view.setBigUint64(H_HEADER_CHECKSUM + 8, hi, true);
  return fixed;
}

/** What a scan decided, read from the state block at its end (harness.c: scan_outcome). */
interface ScanOutcome {
  readonly code: number;
  readonly validLength: bigint;
  readonly entries: bigint;
  /** Last sequence, last epoch, parent checksum and pool, as hex. */
  readonly chain: string;
  readonly mode: number;
  readonly damageOffset: bigint;
  readonly damageCode: number;
  readonly witnessOffset: bigint;
  /** The first entry found: where it ends and the chain position after it. */
  readonly first?: { readonly end: bigint; readonly sequence: bigint; readonly epoch: bigint };
}

/** Where a scan that knows the chain starts from (SCAN_CHAIN_KNOWN). */
interface ChainPosition {
  readonly sequence: bigint;
  readonly epoch: bigint;
  readonly parent: Uint8Array;
}
const LOG_START: ChainPosition = { sequence: 0n, epoch: 0n, parent: new Uint8Array(16) };

/** Scans as the host does (host/core/txlog.ts scanLog): windows from S_NEXT, widened when one holds no whole entry. */
function scanLog(
  core: Core,
  input: Uint8Array,
  firstWindow: number,
  flags: number,
  pool: bigint,
  after: ChainPosition,
  recorder: Recorder,
): ScanOutcome {
  const log = logExportsOf(core);
  const scan: LogScan = {
    core,
    state: log.log_state_pointer(),
    results: log.log_results_pointer(),
  };
  const parentAt = core.put(after.parent, core.ioSize - 16);
  recorder.expect(
    log.log_scan_begin(pool, flags, parentAt, after.sequence, after.epoch) === 0,
    'log_scan_begin failed',
  );
  const tiling: Tiling = { tiled: 0n, entries: 0n, lastSequence: after.sequence };
  const code = scanWindows(scan, input, firstWindow, flags, tiling, recorder);
  recorder.record('log_scan', code);
  return scanEnd(scan, input, code, tiling, recorder);
}

/** The core under scan and where its scan state and per-entry results are. */
interface LogScan {
  readonly core: Core;
  readonly state: number;
  readonly results: number;
}

/** The scan results seen so far: they must tile the stream, in sequence order. */
interface Tiling {
  /** Where the last result ended (the next one must start there). */
  tiled: bigint;
  entries: bigint;
  lastSequence: bigint;
  first?: ScanOutcome['first'];
}

/** Calls log_scan window after window until it stops asking for more; its last code. */
function scanWindows(
  scan: LogScan,
  input: Uint8Array,
  firstWindow: number,
  flags: number,
  tiling: Tiling,
  recorder: Recorder,
): number {
  const { core, state } = scan;
  const log = logExportsOf(core);
  let window = firstWindow;
  let next = 0;
  let code: number;
  for (let calls = 0; ; calls++) {
    if (calls > input.length + 64)
      throw new Error(`the scan of ${input.length} bytes did not end (window ${firstWindow})`);
    const end = Math.min(input.length, next + window);
    const address = place(core, input.subarray(next, end));
    code = log.log_scan(address, end - next, end === input.length ? 1 : 0);
    tileResults(scan, flags, tiling, recorder);
    if (code !== SCAN_MORE) return code;
    const view = core.dataView();
    if (view.getUint32(state + S_CONSUMED, true) === 0) {
      if (end === input.length)
        throw new Error('log_scan asked for more with the whole rest of the stream in its window');
      window = Math.min(window * 2, core.ioSize);
    }
    const now = Number(view.getBigUint64(state + S_NEXT, true));
    if (now < next || now > input.length)
      throw new Error(`log_scan moved S_NEXT from ${next} to ${now}`);
    next = now;
  }
}

/** Checks one log_scan call's results against the tiling so far, and adds them to it. */
function tileResults(
  { core, state, results }: LogScan,
  flags: number,
  tiling: Tiling,
  recorder: Recorder,
): void {
  const view = core.dataView();
  const count = view.getUint32(state + S_RESULT_COUNT, true);
  for (let i = 0; i < count; i++) {
    const at = results + i * LOG_RESULT_SIZE;
    const sequence = view.getBigUint64(at + E_SEQUENCE, true);
    recorder.expect(
      view.getBigUint64(at + E_OFFSET, true) === tiling.tiled,
      `scan result ${tiling.entries} is not where the previous one ended`,
    );
    recorder.expect(
      (tiling.entries === 0n && (flags & SCAN_CHAIN_KNOWN) === 0) ||
        sequence === tiling.lastSequence + 1n,
      `scan result sequence ${sequence} after ${tiling.lastSequence}`,
    );
    tiling.tiled += BigInt(view.getUint32(at + E_LENGTH, true));
    if (tiling.entries === 0n)
      tiling.first = {
        end: tiling.tiled,
        sequence,
        epoch: view.getBigUint64(at + E_EPOCH, true),
      };
    tiling.lastSequence = sequence;
    tiling.entries++;
  }
}

/** The finished scan's state, checked: results tile the valid prefix, damage is named. */
function scanEnd(
  { core, state }: LogScan,
  input: Uint8Array,
  code: number,
  { tiled, entries, first }: Tiling,
  recorder: Recorder,
): ScanOutcome {
  const view = core.dataView();
  const validLength = view.getBigUint64(state + S_VALID_LENGTH, true);
  const damageCode = view.getUint32(state + S_DAMAGE_CODE, true);
  const damageOffset = view.getBigUint64(state + S_DAMAGE_OFFSET, true);
  recorder.expect(
    tiled === validLength && entries === view.getBigUint64(state + S_ENTRIES, true),
    'the scan results do not tile the valid prefix',
  );
  if (code === 0 && damageCode === 0)
    recorder.expect(validLength === BigInt(input.length), 'a clean scan did not keep every byte');
  if (damageCode !== 0) {
    recorder.expect(
      describeCode(damageCode).name !== 'UNKNOWN',
      `log_scan names undocumented damage code ${damageCode}`,
    );
    recorder.expect(damageOffset === validLength, 'the damage is not where the valid prefix ends');
  }
  if (code === CODE.CANNOT_LOAD_LOG)
    recorder.expect(damageCode !== 0, 'a refused log names no damage');
  return {
    code,
    validLength,
    entries,
    first,
    damageCode,
    damageOffset,
    chain: Buffer.from(
      core.copyOut(state + S_LAST_SEQUENCE, S_POOL + 8 - S_LAST_SEQUENCE),
    ).toString('hex'),
    mode: view.getUint32(state + S_MODE, true),
    witnessOffset: view.getBigUint64(state + S_WITNESS_OFFSET, true),
  };
}

/** Compares scan `b` of the stream from byte `shift` on with scan `a` of the whole stream. */
function compareScans(
  a: ScanOutcome,
  b: ScanOutcome,
  shift: bigint,
  skipped: bigint,
  how: string,
  recorder: Recorder,
): void {
  recorder.expect(a.code === b.code, `one scan returned ${a.code}, ${how} returned ${b.code}`);
  recorder.expect(
    a.validLength === b.validLength + shift && a.entries === b.entries + skipped,
    `${how} found another valid prefix`,
  );
  recorder.expect(a.chain === b.chain, `${how} ended in another chain position or pool`);
  recorder.expect(
    a.mode === b.mode && a.damageCode === b.damageCode,
    `${how} ended in mode ${b.mode} damage ${b.damageCode}, not ${a.mode} ${a.damageCode}`,
  );
  if (a.damageCode !== 0)
    recorder.expect(
      a.damageOffset === b.damageOffset + shift,
      `${how} placed the damage elsewhere`,
    );
  if (a.code !== 0)
    recorder.expect(
      a.witnessOffset === b.witnessOffset + shift,
      `${how} named another witness offset`,
    );
}

function replayLogScan(core: Core, input: Uint8Array, recorder: Recorder): void {
  const one = scanLog(
    core,
    input,
    Math.max(input.length, 1),
    SCAN_ANY_POOL,
    0n,
    LOG_START,
    recorder,
  );
  const small = scanLog(
    core,
    input,
    64 + Math.floor(input.length / 16),
    SCAN_ANY_POOL,
    0n,
    LOG_START,
    recorder,
  );
  compareScans(one, small, 0n, 0n, 'a scan in small windows', recorder);
  if (!one.first) return;
  const after = {
    sequence: one.first.sequence,
    epoch: one.first.epoch,
    parent: copyOf(input.subarray(H_HEADER_CHECKSUM, H_HEADER_CHECKSUM + 16)),
  };
  const pool = Buffer.from(one.chain, 'hex').readBigUInt64LE(S_POOL - S_LAST_SEQUENCE);
  const rest = input.subarray(Number(one.first.end));
  const continued = scanLog(
    core,
    rest,
    Math.floor(rest.length / 3) + 1,
    SCAN_CHAIN_KNOWN,
    pool,
    after,
    recorder,
  );
  compareScans(
    one,
    continued,
    one.first.end,
    1n,
    'a scan of the rest after the first entry',
    recorder,
  );
}

/** The log_scan_fixed input after the harness's fix-up: each whole entry gets correct checksums and its parent link. */
export function fixLogStream(core: Core, input: Uint8Array): Uint8Array {
  const fixed = copyOf(input);
  const view = new DataView(fixed.buffer);
  let parent: Uint8Array | undefined;
  for (let at = 0; fixed.length - at >= LOG_HEADER_SIZE;) {
    const bodyLength = view.getUint32(at + H_BODY_LENGTH, true);
    if (bodyLength > fixed.length - at - LOG_HEADER_SIZE) break;
    if (parent && view.getBigUint64(at + H_SEQUENCE, true) !== 1n) fixed.set(parent, at + H_PARENT);
    const entry = fixLogChecksums(core, fixed.subarray(at, at + LOG_HEADER_SIZE + bodyLength));
    fixed.set(entry, at);
    parent = copyOf(entry.subarray(H_HEADER_CHECKSUM, H_HEADER_CHECKSUM + 16));
    at += LOG_HEADER_SIZE + bodyLength;
  }
  return fixed;
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
