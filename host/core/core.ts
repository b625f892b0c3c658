// The only code that touches WebAssembly memory. Loads build/core.wasm (Node or browser:
// the caller supplies the bytes or a compiled module) and offers a typed API. Records cross
// in one copy into the core's IO buffer; views are re-created after any call that may have
// grown memory.

import { CODE, HsmError } from './codes.ts';
import type { CoreExports } from './core-exports.ts';
import * as L from './layout.ts';
import { decodeRecord, encodeRecord } from './record-codec.ts';
import { KIND_NUMBER, utf8, type RecordKind, type StoreRecord } from './records.ts';

export type { CoreExports } from './core-exports.ts';

export interface SyncPoint {
  /** The 64-bit Sync-Point. */
  readonly sp: bigint;
  /** The 16-bit check number. */
  readonly spvv: number;
  /** Records in the state. */
  readonly count: number;
  /** SP as 16 upper-case hex digits, the way the console shows it. */
  readonly hex: string;
  /** SPVV as 4 upper-case hex digits. */
  readonly spvvHex: string;
}

export interface ApplyResult {
  /** One code per write, in order (0 = applied). */
  readonly writeResults: number[];
  /** The Sync-Point after the batch (for a dry run: what it would be). */
  readonly syncPoint: SyncPoint;
}

const MODE_DRY_RUN = 0;
const MODE_COMMIT = 1;

/** An SP as 16 upper-case hex digits: how the console shows it and the JSON edges (peer
 * envelopes, status) carry it. Inside the host an SP is its bigint and SPVV number. */
export function syncPointHex(sp: bigint): string {
  return sp.toString(16).toUpperCase().padStart(16, '0');
}

export function formatSyncPoint(sp: bigint, spvv: number, count: number): SyncPoint {
  return {
    sp,
    spvv,
    count,
    hex: syncPointHex(sp),
    spvvHex: spvv.toString(16).toUpperCase().padStart(4, '0'),
  };
}

function check(code: number, detail?: string): void {
  if (code !== 0) throw new HsmError(code, detail);
}

export type CoreSource = WebAssembly.Module | BufferSource;

export class Core {
  /** @internal for sibling modules of host/core only (e.g. the log codec). */
  readonly exports: CoreExports;
  /** @internal address of the IO buffer */
  readonly io: number;
  /** @internal */
  readonly ioSize: number;
  /** @internal address of the result area */
  readonly result: number;
  private buffer: ArrayBuffer;
  private bytes: Uint8Array;
  private view: DataView;

  private constructor(instance: WebAssembly.Instance) {
    this.exports = instance.exports as unknown as CoreExports;
    check(this.exports.core_init());
    this.io = this.exports.io_pointer();
    this.ioSize = this.exports.io_size();
    this.result = this.exports.result_pointer();
    this.buffer = this.exports.memory.buffer;
    this.bytes = new Uint8Array(this.buffer);
    this.view = new DataView(this.buffer);
  }

  /** Instantiates the core from a compiled module (fast: share one module among appliances). */
  static fromModule(module: WebAssembly.Module): Core {
    const instance = new WebAssembly.Instance(module, {
      env: {
        abort(_message: number, _file: number, line: number, column: number): never {
          throw new Error(`core.wasm aborted at ${line}:${column}`);
        },
      },
    });
    return new Core(instance);
  }

  static async compile(source: BufferSource): Promise<WebAssembly.Module> {
    return WebAssembly.compile(source);
  }

  static async instantiate(source: CoreSource): Promise<Core> {
    const module =
      source instanceof WebAssembly.Module ? source : await WebAssembly.compile(source);
    return Core.fromModule(module);
  }

  /** Views over memory, re-created if memory grew. */
  /** @internal current view over memory */
  memory(): Uint8Array {
    if (this.exports.memory.buffer !== this.buffer) {
      this.buffer = this.exports.memory.buffer;
      this.bytes = new Uint8Array(this.buffer);
      this.view = new DataView(this.buffer);
    }
    return this.bytes;
  }

  /** @internal */
  dataView(): DataView {
    this.memory();
    return this.view;
  }

  /** Copies `data` into the IO buffer at `offset`; returns its address. */
  /** @internal */
  put(data: Uint8Array, offset = 0): number {
    if (offset + data.length > this.ioSize)
      throw new HsmError(
        CODE.RECORD_OVERSIZE,
        `input of ${data.length} bytes exceeds the IO buffer`,
      );
    this.memory().set(data, this.io + offset);
    return this.io + offset;
  }

  /** @internal */
  copyOut(address: number, length: number): Uint8Array {
    return this.memory().slice(address, address + length);
  }

  private readSyncPoint(): SyncPoint {
    const view = this.dataView();
    return formatSyncPoint(
      view.getBigUint64(this.result + L.R_SP, true),
      view.getUint32(this.result + L.R_SPVV, true),
      view.getUint32(this.result + L.R_COUNT, true),
    );
  }

  // ---- keys and the Sync-Point ----

  /** Sets the 32-byte Sync-Point key (derive it with deriveSyncPointKey). Only on an empty store. */
  setKey(key: Uint8Array): void {
    if (key.length !== L.SP_KEY_SIZE) throw new RangeError(`key: expected ${L.SP_KEY_SIZE} bytes`);
    check(this.exports.sp_set_key(this.put(key)));
  }

  syncPoint(): SyncPoint {
    check(this.exports.sp_current());
    return this.readSyncPoint();
  }

  /** Recomputes from scratch; `consistent` is false if it differs from the incremental SP. */
  recompute(): { syncPoint: SyncPoint; consistent: boolean } {
    const code = this.exports.sp_recompute();
    if (code !== 0 && code !== CODE.SYNC_POINT_MISMATCH) check(code);
    return { syncPoint: this.readSyncPoint(), consistent: code === 0 };
  }

  /** The 128-bit accumulator of the current state (lo, hi). */
  accumulator(): { lo: bigint; hi: bigint } {
    check(this.exports.sp_current());
    const view = this.dataView();
    return {
      lo: view.getBigUint64(this.result + L.R_ACC_LO, true),
      hi: view.getBigUint64(this.result + L.R_ACC_HI, true),
    };
  }

  /** SP and SPVV of an accumulator value (for the specification's vectors). */
  fold(lo: bigint, hi: bigint, count: bigint): SyncPoint {
    const input = new Uint8Array(24);
    const view = new DataView(input.buffer);
    view.setBigUint64(0, lo, true);
    view.setBigUint64(8, hi, true);
    view.setBigUint64(16, count, true);
    check(this.exports.sp_fold(this.put(input)));
    return this.readSyncPoint();
  }

  /** The record value h(r) and the two NH sums of a byte string. */
  recordValue(bytes: Uint8Array): { lo: bigint; hi: bigint; nh0: bigint; nh1: bigint } {
    if (bytes.length > L.RECORD_SIZE_MAX) throw new HsmError(CODE.RECORD_OVERSIZE);
    const address = this.put(bytes);
    this.memory().fill(0, address + bytes.length, address + bytes.length + 16);
    check(this.exports.record_value(address, bytes.length));
    const view = this.dataView();
    const at = this.result + L.R_HASH;
    return {
      lo: view.getBigUint64(at, true),
      hi: view.getBigUint64(at + 8, true),
      nh0: view.getBigUint64(at + 16, true),
      nh1: view.getBigUint64(at + 24, true),
    };
  }

  /** A record's value h(r) as 16 bytes: the `expected` of a conditional replace. */
  recordToken(record: Uint8Array): Uint8Array {
    const { lo, hi } = this.recordValue(record);
    const token = new Uint8Array(16);
    const view = new DataView(token.buffer);
    view.setBigUint64(0, lo, true);
    view.setBigUint64(8, hi, true);
    return token;
  }

  /** The 128-bit log/file checksum (assembly/checksum.ts) as [lo, hi]. */
  checksum(bytes: Uint8Array): [bigint, bigint] {
    const address = this.put(bytes);
    this.memory().fill(0, address + bytes.length, address + bytes.length + 16);
    check(this.exports.checksum(address, bytes.length));
    const view = this.dataView();
    return [
      view.getBigUint64(this.result + L.R_HASH, true),
      view.getBigUint64(this.result + L.R_HASH + 8, true),
    ];
  }

  /** SipHash-c-d (first and, with `wide`, second 64-bit output words). */
  sipHash(
    key: Uint8Array,
    message: Uint8Array,
    c: number,
    d: number,
    wide: boolean,
  ): [bigint, bigint] {
    if (key.length !== 16) throw new RangeError('key: expected 16 bytes');
    const keyAddress = this.put(key);
    const messageAddress = this.put(message, 16);
    check(this.exports.siphash(keyAddress, messageAddress, message.length, c, d, wide ? 1 : 0));
    const view = this.dataView();
    return [
      view.getBigUint64(this.result + L.R_HASH, true),
      view.getBigUint64(this.result + L.R_HASH + 8, true),
    ];
  }

  /**
   * Sums the record values of packed frames already laid out in the IO buffer by
   * `packFrames` (for benchmarks: one crossing per buffer, not per record).
   */
  sumPackedFrames(count: number): SyncPoint {
    check(this.exports.sp_sum_frames(this.io, count));
    return this.readSyncPoint();
  }

  /** Lays records out in the IO buffer as 16-byte-aligned frames (u32 length, record). Returns how many fit. */
  packFrames(records: readonly Uint8Array[], from = 0): number {
    const memory = this.memory();
    const view = this.dataView();
    let at = 0;
    let n = 0;
    for (let i = from; i < records.length; i++) {
      const record = records[i];
      const size = (4 + record.length + 15) & ~15;
      if (at + size + 16 > this.ioSize) break;
      view.setUint32(this.io + at, record.length, true);
      memory.set(record, this.io + at + 4);
      memory.fill(0, this.io + at + 4 + record.length, this.io + at + size);
      at += size;
      n++;
    }
    return n;
  }

  // ---- the record codec (record-codec.ts) ----

  encode(record: StoreRecord): Uint8Array {
    return encodeRecord(this, record);
  }

  /** Validates and decodes a record; throws HsmError with the codec's code. */
  decode(bytes: Uint8Array): StoreRecord {
    return decodeRecord(this, bytes);
  }

  /** The decoder's code for some bytes (0 = a valid record). Never throws. */
  validate(bytes: Uint8Array): number {
    if (bytes.length > this.ioSize) return CODE.RECORD_OVERSIZE;
    return this.exports.record_decode(this.put(bytes), bytes.length);
  }

  // ---- the key store ----

  /** Applies a batch (encodeBatch). `dryRun` computes results and the SP after without changing anything. */
  apply(batch: Uint8Array, dryRun = false): ApplyResult {
    if (batch.length > L.BATCH_SIZE_MAX) throw new HsmError(CODE.BATCH_TOO_LARGE);
    check(
      this.exports.store_apply(this.put(batch), batch.length, dryRun ? MODE_DRY_RUN : MODE_COMMIT),
    );
    const writes = new DataView(batch.buffer, batch.byteOffset, batch.byteLength).getUint16(
      0,
      true,
    );
    const view = this.dataView();
    const writeResults: number[] = [];
    for (let i = 0; i < writes; i++)
      writeResults.push(view.getUint32(this.result + L.R_WRITE_RESULTS + i * 4, true));
    return { writeResults, syncPoint: this.readSyncPoint() };
  }

  get(kind: RecordKind, name: string): Uint8Array | undefined {
    const nameBytes = utf8(name);
    if (nameBytes.length > L.NAME_LENGTH_MAX) return undefined;
    const nameAt = this.put(nameBytes);
    const out = this.io + 64;
    const length = this.exports.store_get(
      KIND_NUMBER[kind],
      nameAt,
      nameBytes.length,
      out,
      L.RECORD_SIZE_MAX,
    );
    if (length === -CODE.CANNOT_OPEN_OBJ || length === -CODE.RECORD_BAD_NAME) return undefined;
    if (length < 0) check(-length);
    return this.copyOut(out, length);
  }

  /** Every record (of one kind), in table order. */
  list(kind?: RecordKind): Uint8Array[] {
    const records: Uint8Array[] = [];
    const slots = this.exports.store_slots();
    let cursor = 0;
    while (cursor < slots) {
      const written = this.exports.store_list(
        kind ? KIND_NUMBER[kind] : 0,
        cursor,
        this.io,
        this.ioSize,
      );
      const memory = this.memory();
      const view = this.dataView();
      for (let at = 0; at < written;) {
        const length = view.getUint32(this.io + at, true);
        records.push(memory.slice(this.io + at + 4, this.io + at + 4 + length));
        at += 4 + length;
      }
      cursor = view.getUint32(this.result + L.R_CURSOR, true);
    }
    return records;
  }

  count(): number {
    return this.exports.store_count();
  }

  /** The key table's growth in steps (assembly/keystore.ts): 'none', 'zeroing' or 'moving'. */
  tableGrowth(): 'none' | 'zeroing' | 'moving' {
    return (['none', 'zeroing', 'moving'] as const)[this.exports.store_growth()];
  }

  /** How the last export ordered its view (assembly/name-sort.ts): 'in-order' already,
   * 'merged' (the records out of its longest run sorted and merged in), or 'gave-up' (too many
   * out of order: radix-sorted whole after the scan); 'none' before any. */
  exportSortPath(): 'none' | 'in-order' | 'merged' | 'gave-up' {
    return (['none', 'in-order', 'merged', 'gave-up'] as const)[this.exports.snapshot_sort_path()];
  }

  clear(): void {
    check(this.exports.store_clear());
  }

  // ---- snapshots ----

  /** The close of an open export that gives way to the next one (a backup being fetched). */
  private yieldingExport: (() => void) | undefined;
  /** Whether an export that does not give way is open (a live-sync donor's view). */
  private heldExport = false;

  /**
   * Starts a snapshot export. The returned reader yields the header, then bounded chunks;
   * writes may go on between reads. Always `close()` it (frees are deferred until then).
   * Only one export is open at a time: a `yielding` one (a backup fetched over many console
   * round trips) is closed when another starts (a checkpoint, a live-sync donor), and its
   * next read throws 38405 SNAPSHOT_STATE; any other open export makes this one throw.
   */
  exportSnapshot(chunkSize = 256 * 1024, options: { yielding?: boolean } = {}): SnapshotReader {
    if (chunkSize < L.RECORD_SIZE_MAX + 4 || chunkSize > this.ioSize)
      throw new RangeError('chunkSize out of range');
    this.yieldingExport?.();
    const headerLength = this.exports.snapshot_export_begin(this.io);
    if (headerLength < 0) check(-headerLength);
    const header = this.copyOut(this.io, headerLength);
    let done = false;
    let ended = false;
    let preempted = false;
    this.heldExport = !options.yielding;
    const close = (): void => {
      done = true;
      if (this.yieldingExport === preempt) this.yieldingExport = undefined;
      if (ended) return;
      ended = true;
      this.heldExport = false;
      this.exports.snapshot_export_end();
    };
    const preempt = (): void => {
      preempted = true;
      close();
    };
    if (options.yielding) this.yieldingExport = preempt;
    const throwIfPreempted = (): void => {
      if (preempted)
        throw new HsmError(
          CODE.SNAPSHOT_STATE,
          'the snapshot export gave way to a checkpoint or a live-sync transfer',
        );
    };
    /** Exports the next chunk into the I/O buffer; returns its length, 0 at the end. */
    const advance = (): number => {
      throwIfPreempted();
      if (done) return 0;
      const written = this.exports.snapshot_export_next(this.io, chunkSize);
      if (written < 0) check(-written);
      if (written === 0) done = true;
      return written;
    };
    return {
      header,
      bytes: this.exports.snapshot_export_bytes(),
      next: () => {
        const written = advance();
        return written === 0 ? undefined : this.copyOut(this.io, written);
      },
      nextView: () => {
        const written = advance();
        return written === 0 ? undefined : this.memory().subarray(this.io, this.io + written);
      },
      prepare: (budget) => {
        throwIfPreempted();
        if (done) return true;
        if (!Number.isInteger(budget) || budget < 1 || budget > 0xffff_ffff)
          throw new RangeError(`budget: ${budget}`);
        const code = this.exports.snapshot_export_prepare(budget);
        if (code < 0) check(-code);
        return code === 1;
      },
      close,
    };
  }

  /** Whether an export that does not give way to another is open (exportSnapshot without
   * `yielding`): while it is, another export throws 38405 SNAPSHOT_STATE. */
  get exportHeld(): boolean {
    return this.heldExport;
  }

  /** A snapshot a piece at a time as the caller pulls it: header, then every chunk (the
   * export is closed when the caller stops, early or not). */
  *snapshotPieces(chunkSize?: number): Generator<Uint8Array> {
    const reader = this.exportSnapshot(chunkSize);
    try {
      yield reader.header;
      for (let chunk = reader.next(); chunk; chunk = reader.next()) yield chunk;
    } finally {
      reader.close();
    }
  }

  /** All of a snapshot at once: header followed by every chunk. */
  snapshotChunks(chunkSize?: number): Uint8Array[] {
    return [...this.snapshotPieces(chunkSize)];
  }

  importBegin(header: Uint8Array): void {
    check(this.exports.snapshot_import_begin(this.put(header), header.length));
  }

  /** Sizes the table for the header's count at once and touches the heap that `frameBytes` of
   * frames will take (a live-sync joiner, whose donor is trusted with the store anyway: it
   * overlaps the donor's sort). A restore from a file does not: there the table grows only as
   * records arrive. */
  importReserve(frameBytes = 0): void {
    check(this.exports.snapshot_import_reserve(frameBytes));
  }

  importChunk(chunk: Uint8Array): void {
    check(this.exports.snapshot_import_chunk(this.put(chunk), chunk.length));
  }

  importEnd(): SyncPoint {
    check(this.exports.snapshot_import_end());
    return this.readSyncPoint();
  }

  importAbort(): void {
    this.exports.snapshot_import_abort();
  }

  /** Replaces the (empty) store's content with a snapshot; on failure the store is left empty. */
  importSnapshot(chunks: Iterable<Uint8Array>): SyncPoint {
    const iterator = chunks[Symbol.iterator]();
    const first = iterator.next();
    if (first.done) throw new HsmError(CODE.SNAPSHOT_BAD_HEADER, 'empty snapshot');
    this.importBegin(first.value);
    try {
      for (let item = iterator.next(); !item.done; item = iterator.next())
        this.importChunk(item.value);
      return this.importEnd();
    } catch (error) {
      this.importAbort();
      throw error;
    }
  }
}

export interface SnapshotReader {
  readonly header: Uint8Array;
  /** The bytes of the frames that follow the header, all chunks together. */
  readonly bytes: number;
  /** The next chunk, copied out of the core. */
  next(): Uint8Array | undefined;
  /** The next chunk as a view of the core's I/O buffer, without a copy: valid only until the
   * next call into the core. For writing a store nothing changes meanwhile straight to disk. */
  nextView(): Uint8Array | undefined;
  /** Orders about `budget` more records of the frozen view; true once it is ordered. The first
   * read orders what is left at once: taking these steps in separate turns first lets the
   * node's other work go on meanwhile (a 1M-record view takes 0.1-0.4 s to order). */
  prepare(budget: number): boolean;
  close(): void;
}
