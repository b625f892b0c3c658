// The transaction log codec over the core's exports (assembly/txlog*.ts): encode an entry
// from a typed value, decode one, scan a byte stream. The core checks and checksums; this
// file lays bytes out and reads results. Runs in Node and in browsers (no node:* imports).

import type { Core } from './core.ts';
import { CODE, HsmError, describe } from './codes.ts';
import { LOG_ENTRY_SIZE_MAX } from './layout.ts';
import {
  ENTRY_TYPES,
  ENTRY_TYPE_OF_NUMBER,
  parseBody,
  planBody,
  type EntryBody,
  type EntryType,
} from './txlog-body.ts';
import {
  H_VERSION,
  H_TYPE,
  H_BODY_LENGTH,
  H_POOL,
  H_EPOCH,
  H_SEQUENCE,
  H_TRANSACTION,
  H_PARENT,
  H_HEADER_CHECKSUM,
  S_CONSUMED,
  S_RESULT_COUNT,
  S_VALID_LENGTH,
  S_ENTRIES,
  S_NEXT,
  S_LAST_SEQUENCE,
  S_LAST_EPOCH,
  S_PARENT,
  S_POOL,
  S_DAMAGE_OFFSET,
  S_DAMAGE_CODE,
  S_ENTRY_LENGTH,
  S_WITNESS_OFFSET,
  E_OFFSET,
  E_SEQUENCE,
  E_TRANSACTION,
  E_EPOCH,
  E_LENGTH,
  E_TYPE,
  LOG_RESULT_SIZE,
  SCAN_MORE,
  SCAN_CHAIN_KNOWN,
  SCAN_ANY_POOL,
  LOG_HEADER_SIZE,
} from './txlog-layout.ts';
import { bytesToHex as toHex } from '@noble/hashes/utils.js';

export * from './txlog-body.ts';

/** The log's WebAssembly exports (the fuzz targets call them directly too). */
export interface LogExports {
  log_state_pointer(): number;
  log_results_pointer(): number;
  log_seal(pointer: number, length: number, parent: number): number;
  log_check(pointer: number, length: number, poolId: bigint, checkPool: number): number;
  log_scan_begin(
    poolId: bigint,
    flags: number,
    parent: number,
    lastSequence: bigint,
    lastEpoch: bigint,
  ): number;
  log_scan(pointer: number, length: number, final: number): number;
}

export const LOG_MAGIC = 0x474c5048;
export const LOG_VERSION = 1;
export const CHECKSUM_SIZE = 16;
export { LOG_HEADER_SIZE } from './txlog-layout.ts';

/**
 * Bytes a scan copies into the core per call: small enough that the copy is still in the
 * CPU's cache when the core checksums it (measured by bench/log.ts); a scan widens it up to
 * the IO buffer when one entry does not fit.
 */
export const SCAN_WINDOW_DEFAULT = 256 * 1024;
/** Where encode puts the parent checksum in the IO buffer: after the largest entry and its slack. */
const PARENT_OFFSET = LOG_ENTRY_SIZE_MAX + 64;

/** A 128-bit entry checksum (16 bytes): what the next entry names as its parent. */
export type Checksum = Uint8Array;
export const ZERO_CHECKSUM: Checksum = new Uint8Array(CHECKSUM_SIZE);

export interface EntryHeader {
  readonly poolId: bigint;
  readonly epoch: bigint;
  readonly sequence: bigint;
  /** Non-zero for PREPARE, COMMIT and ABORT. */
  readonly transactionId: bigint;
}

export interface LogEntry extends EntryHeader {
  readonly body: EntryBody;
  /** The previous entry's checksum (zero for sequence 1). */
  readonly parent: Checksum;
  /** This entry's checksum (its header checksum). */
  readonly checksum: Checksum;
  /** Bytes of the entry, header included. */
  readonly length: number;
}

/** Where a log stands: the last entry's sequence, epoch and checksum (all zero for an empty log). */
export interface ChainPosition {
  readonly sequence: bigint;
  readonly epoch: bigint;
  readonly checksum: Checksum;
}
export const LOG_START: ChainPosition = { sequence: 0n, epoch: 0n, checksum: ZERO_CHECKSUM };

export function logExportsOf(core: Core): LogExports {
  return core.exports as unknown as LogExports;
}

export function checksumHex(checksum: Checksum): string {
  return toHex(checksum);
}

/** Encodes and seals one entry after `parent`. Throws HsmError with the core's code for a bad entry. */
export function encodeEntry(
  core: Core,
  header: EntryHeader,
  body: EntryBody,
  parent: Checksum,
): { bytes: Uint8Array; checksum: Checksum } {
  if (parent.length !== CHECKSUM_SIZE)
    throw new RangeError(`parent: expected ${CHECKSUM_SIZE} bytes`);
  const plan = planBody(body);
  const length = LOG_HEADER_SIZE + plan.size;
  if (length > LOG_ENTRY_SIZE_MAX)
    throw new HsmError(CODE.LOG_OVERSIZE, `entry of ${length} bytes`);
  const memory = core.memory();
  const view = core.dataView();
  const at = core.io;
  memory.fill(0, at, at + LOG_HEADER_SIZE);
  view.setUint32(at, LOG_MAGIC, true);
  view.setUint16(at + H_VERSION, LOG_VERSION, true);
  view.setUint8(at + H_TYPE, ENTRY_TYPES[body.type]);
  view.setUint32(at + H_BODY_LENGTH, plan.size, true);
  view.setBigUint64(at + H_POOL, BigInt.asUintN(64, header.poolId), true);
  view.setBigUint64(at + H_EPOCH, BigInt.asUintN(64, header.epoch), true);
  view.setBigUint64(at + H_SEQUENCE, BigInt.asUintN(64, header.sequence), true);
  view.setBigUint64(at + H_TRANSACTION, BigInt.asUintN(64, header.transactionId), true);
  plan.write(memory, view, at + LOG_HEADER_SIZE);
  const parentAt = core.put(parent, PARENT_OFFSET);
  const code = logExportsOf(core).log_seal(at, length, parentAt);
  if (code !== 0) throw new HsmError(code, `cannot encode ${body.type} entry ${header.sequence}`);
  return {
    bytes: core.copyOut(at, length),
    checksum: core.copyOut(at + H_HEADER_CHECKSUM, CHECKSUM_SIZE),
  };
}

/** The decoder's code for the entry at the start of `bytes` (0 = valid); never throws. `poolId` undefined accepts any pool. */
export function checkEntry(core: Core, bytes: Uint8Array, poolId?: bigint): number {
  const length = Math.min(bytes.length, LOG_ENTRY_SIZE_MAX);
  const at = core.put(bytes.subarray(0, length));
  return logExportsOf(core).log_check(at, length, poolId ?? 0n, poolId === undefined ? 0 : 1);
}

/** Decodes the entry at the start of `bytes` (later bytes are ignored). Throws HsmError naming the reason. */
export function decodeEntry(core: Core, bytes: Uint8Array, poolId?: bigint): LogEntry {
  const code = checkEntry(core, bytes, poolId);
  if (code !== 0) throw new HsmError(code);
  const length = core
    .dataView()
    .getUint32(logExportsOf(core).log_state_pointer() + S_ENTRY_LENGTH, true);
  return parseEntry(bytes.subarray(0, length));
}

/** Reads an entry the core has accepted (decodeEntry or a scan); no checks of its own. */
export function parseEntry(bytes: Uint8Array): LogEntry {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = ENTRY_TYPE_OF_NUMBER[view.getUint8(H_TYPE)];
  const bodyLength = view.getUint32(H_BODY_LENGTH, true);
  if (!type || bytes.length < LOG_HEADER_SIZE + bodyLength)
    throw new HsmError(CODE.LOG_MALFORMED_BODY, 'not an accepted entry');
  return {
    poolId: view.getBigUint64(H_POOL, true),
    epoch: view.getBigUint64(H_EPOCH, true),
    sequence: view.getBigUint64(H_SEQUENCE, true),
    transactionId: view.getBigUint64(H_TRANSACTION, true),
    parent: bytes.slice(H_PARENT, H_PARENT + CHECKSUM_SIZE),
    checksum: bytes.slice(H_HEADER_CHECKSUM, H_HEADER_CHECKSUM + CHECKSUM_SIZE),
    length: LOG_HEADER_SIZE + bodyLength,
    body: parseBody(type, bytes.subarray(LOG_HEADER_SIZE, LOG_HEADER_SIZE + bodyLength)),
  };
}

/** Appends entries to a chain: keeps the sequence, epoch and parent checksum. */
export class LogEncoder {
  private position: ChainPosition;
  /** The epoch new entries get: the last entry's, or the one an EPOCH_RAISED entry named. */
  private epoch: bigint;

  /** `after`: the last entry of the log (recovery gives it); `epoch`: the node's epoch, if raised since. */
  constructor(
    private readonly core: Core,
    readonly poolId: bigint,
    after: ChainPosition = LOG_START,
    epoch = after.epoch,
  ) {
    this.position = after;
    this.epoch = epoch;
  }

  /** The epoch the next entry gets by default. */
  get currentEpoch(): bigint {
    return this.epoch;
  }

  /** The last entry encoded (or the position given at construction). */
  get last(): ChainPosition {
    return this.position;
  }

  /** Encodes the next entry; the epoch defaults to the last one's. */
  encode(body: EntryBody, options: { transactionId?: bigint; epoch?: bigint } = {}): Uint8Array {
    const epoch = options.epoch ?? this.epoch;
    const sequence = this.position.sequence + 1n;
    const header = {
      poolId: this.poolId,
      epoch,
      sequence,
      transactionId: options.transactionId ?? 0n,
    };
    const { bytes, checksum } = encodeEntry(this.core, header, body, this.position.checksum);
    this.position = { sequence, epoch, checksum };
    this.epoch = body.type === 'epoch-raised' ? body.epoch : epoch;
    return bytes;
  }
}

// ---- scanning a stream ----

/** A valid entry found by a scan. */
export interface ScannedEntry {
  readonly offset: number;
  readonly length: number;
  readonly type: EntryType;
  readonly sequence: bigint;
  readonly transactionId: bigint;
  readonly epoch: bigint;
}

/** clean: every byte is a valid entry; torn: a torn tail follows the valid prefix (cut it); corrupt: refused. */
export type LogTail = 'clean' | 'torn' | 'corrupt';

export interface LogDamage {
  /** Offset of the first entry that did not pass. */
  readonly offset: number;
  /** Its code (38301..38311) and name. */
  readonly code: number;
  readonly name: string;
}

/**
 * The entries of a log by their headers alone (offset, length, type, sequence, transaction,
 * epoch), in JavaScript, checking no checksum: for a log this node wrote and already trusts,
 * where only the entries' places matter (compaction). Verifying every entry through the core
 * (scanLog) took 25-52 ms of a running node's main thread at each checkpoint, commits waiting.
 * Throws HsmError 37027 CANNOT_LOAD_LOG at a header that is no entry of pool `poolId` or
 * runs past the end of `log`.
 */
export function entryHeaders(log: Uint8Array, poolId: bigint): ScannedEntry[] {
  const view = new DataView(log.buffer, log.byteOffset, log.byteLength);
  const entries: ScannedEntry[] = [];
  for (let offset = 0; offset < log.length;) {
    const fits = offset + LOG_HEADER_SIZE <= log.length;
    const type = fits ? ENTRY_TYPE_OF_NUMBER[view.getUint8(offset + H_TYPE)] : undefined;
    const length = fits ? LOG_HEADER_SIZE + view.getUint32(offset + H_BODY_LENGTH, true) : 0;
    if (
      !type ||
      view.getUint32(offset, true) !== LOG_MAGIC ||
      view.getUint16(offset + H_VERSION, true) !== LOG_VERSION ||
      view.getBigUint64(offset + H_POOL, true) !== BigInt.asUintN(64, poolId) ||
      length > LOG_ENTRY_SIZE_MAX ||
      offset + length > log.length
    )
      throw new HsmError(
        CODE.CANNOT_LOAD_LOG,
        `log entry header at offset ${offset}: not an entry`,
      );
    entries.push({
      offset,
      length,
      type,
      sequence: view.getBigUint64(offset + H_SEQUENCE, true),
      transactionId: view.getBigUint64(offset + H_TRANSACTION, true),
      epoch: view.getBigUint64(offset + H_EPOCH, true),
    });
    offset += length;
  }
  return entries;
}

export interface ScanResult {
  /** 0, or 37027 CANNOT_LOAD_LOG when the log is corrupt before its tail. */
  readonly code: number;
  readonly tail: LogTail;
  readonly entries: number;
  /** Bytes of the valid prefix: where a torn tail is cut. */
  readonly validLength: number;
  /** The last valid entry (the `after` position when there is none). */
  readonly last: ChainPosition;
  /** The pool of the entries (the one asked for, or the first entry's). */
  readonly poolId: bigint;
  readonly damage?: LogDamage;
  /** corrupt: where the evidence is — a well-formed header after the damage, or the damaged entry itself. */
  readonly witnessOffset?: number;
}

export interface ScanOptions {
  /** The pool every entry must belong to; undefined takes the first entry's. */
  readonly poolId?: bigint;
  /** The log continues a known chain: its first entry must follow this position. */
  readonly after?: ChainPosition;
  /** Bytes copied into the core per call (default SCAN_WINDOW_DEFAULT, at most the IO buffer); tests split with it. */
  readonly windowSize?: number;
}

function beginScan(core: Core, options: ScanOptions): void {
  const after = options.after;
  const flags = (after ? SCAN_CHAIN_KNOWN : 0) | (options.poolId === undefined ? SCAN_ANY_POOL : 0);
  const parentAt = core.put(after?.checksum ?? ZERO_CHECKSUM, PARENT_OFFSET);
  check(
    logExportsOf(core).log_scan_begin(
      options.poolId ?? 0n,
      flags,
      parentAt,
      after?.sequence ?? 0n,
      after?.epoch ?? 0n,
    ),
  );
}

function check(code: number): void {
  if (code !== 0) throw new HsmError(code);
}

function readResults(
  core: Core,
  state: number,
  results: number,
  visit: (entry: ScannedEntry) => void,
): void {
  const view = core.dataView();
  const count = view.getUint32(state + S_RESULT_COUNT, true);
  for (let i = 0; i < count; i++) {
    const at = results + i * LOG_RESULT_SIZE;
    visit({
      offset: Number(view.getBigUint64(at + E_OFFSET, true)),
      length: view.getUint32(at + E_LENGTH, true),
      type: ENTRY_TYPE_OF_NUMBER[view.getUint8(at + E_TYPE)]!,
      sequence: view.getBigUint64(at + E_SEQUENCE, true),
      transactionId: view.getBigUint64(at + E_TRANSACTION, true),
      epoch: view.getBigUint64(at + E_EPOCH, true),
    });
  }
}

function scanResult(core: Core, state: number, code: number, options: ScanOptions): ScanResult {
  const view = core.dataView();
  const entries = Number(view.getBigUint64(state + S_ENTRIES, true));
  const damageCode = view.getUint32(state + S_DAMAGE_CODE, true);
  const last: ChainPosition =
    entries === 0
      ? (options.after ?? LOG_START)
      : {
          sequence: view.getBigUint64(state + S_LAST_SEQUENCE, true),
          epoch: view.getBigUint64(state + S_LAST_EPOCH, true),
          checksum: core.copyOut(state + S_PARENT, CHECKSUM_SIZE),
        };
  const damage =
    damageCode === 0
      ? undefined
      : {
          offset: Number(view.getBigUint64(state + S_DAMAGE_OFFSET, true)),
          code: damageCode,
          name: describe(damageCode).name,
        };
  const corrupt = code === CODE.CANNOT_LOAD_LOG;
  return {
    code,
    tail: corrupt ? 'corrupt' : damage ? 'torn' : 'clean',
    entries,
    validLength: Number(view.getBigUint64(state + S_VALID_LENGTH, true)),
    last,
    poolId: view.getBigUint64(state + S_POOL, true),
    damage,
    witnessOffset: corrupt ? Number(view.getBigUint64(state + S_WITNESS_OFFSET, true)) : undefined,
  };
}

/**
 * Scans a log: the longest valid prefix, and whether the rest is a torn tail or corruption
 * (the rule is in assembly/txlog-scan.ts and docs/FORMATS.md). `visit` sees every valid entry
 * in order. Never throws for any content of `log`.
 */
export function scanLog(
  core: Core,
  log: Uint8Array,
  options: ScanOptions = {},
  visit?: (entry: ScannedEntry) => void,
): ScanResult {
  const exports = logExportsOf(core);
  const state = exports.log_state_pointer();
  const results = exports.log_results_pointer();
  let windowSize = Math.max(1, Math.min(options.windowSize ?? SCAN_WINDOW_DEFAULT, core.ioSize));
  beginScan(core, options);
  let next = 0;
  for (;;) {
    const end = Math.min(log.length, next + windowSize);
    const final = end === log.length;
    core.put(log.subarray(next, end));
    const code = exports.log_scan(core.io, end - next, final ? 1 : 0);
    if (visit) readResults(core, state, results, visit);
    if (code !== SCAN_MORE) return scanResult(core, state, code, options);
    const view = core.dataView();
    if (view.getUint32(state + S_CONSUMED, true) === 0) {
      // The window holds no whole entry: widen it (the IO buffer always holds the largest one).
      if (windowSize === core.ioSize)
        throw new Error('log scan made no progress with a full window');
      windowSize = Math.min(windowSize * 2, core.ioSize);
    }
    next = Number(view.getBigUint64(state + S_NEXT, true));
  }
}
