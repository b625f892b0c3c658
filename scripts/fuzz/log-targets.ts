// The log fuzz targets (assembly/txlog*.ts, through the exports host/core/txlog.ts declares):
// log_entry checks one entry, seals it back and compares; log_scan scans a stream in windows
// and compares the results with one whole scan. scripts/fuzz/targets.ts dispatches to them.

import { CODE, describe as describeCode } from '../../host/core/codes.ts';
import type { Core } from '../../host/core/core.ts';
import { logExportsOf } from '../../host/core/txlog.ts';
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
import { equalBytes } from '../../host/wire/bytes.ts';
import { FUZZ_POOL_ID, Recorder, copyOf, place, refillSlack } from './harness.ts';

export function checkLogEntry(core: Core, input: Uint8Array, recorder: Recorder): void {
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

export function replayLogScan(core: Core, input: Uint8Array, recorder: Recorder): void {
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
