// Where an appliance keeps what must survive a crash: the transaction log, snapshots of the
// key store, and small metadata blobs (node identity, node cache). Two implementations:
// memory.ts (simulator, browser; can simulate a crash) and file.ts (Node; fsync).
//
// Durability contract, which recovery relies on:
//   - appendLog(bytes, true) resolves only once those bytes and every byte before them are on
//     stable storage ("persist before you speak": a PREPARED vote, a coordinator's decision).
//     appendLog(bytes, false) may lose them, and any later ones, in a crash; a crash keeps a
//     prefix of the log (possibly ending in a torn, partial entry or garbage after it).
//   - truncateLog, dropLogPrefix, writeSnapshot, deleteSnapshot and writeMeta are durable and
//     atomic when they resolve: after a crash you see the old content or the new, never a mix.
//   - The log's calls take effect in call order, and so do those on snapshots and metadata; the
//     two kinds may overlap (a running node's checkpoint snapshot is written while it appends
//     to its log). A caller that needs one before the other awaits it (runtime.ts writes the
//     request outcomes before the CHECKPOINT entry that names them).
//   - Appends called after a readLog or a dropLogPrefix may complete before it does (the file
//     storage reads and copies the log beside its queue: a compaction of 16 MiB held every
//     commit for 110-150 ms): the outcome is still that of the calls in call order.
// The log is one byte stream; its entry format is the core's (host/core/txlog.ts).

/** Longest metadata blob (node identity, node cache, request outcomes: 65,536 × 28 bytes). */
export const META_SIZE_MAX = 2 << 20;
/** Metadata keys and snapshot names: file-name safe, and never a temporary file's name. */
export const STORAGE_NAME_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;

export interface Storage {
  /** Appends to the log; with `durable`, resolves once every appended byte is stable. */
  appendLog(bytes: Uint8Array, durable: boolean): Promise<void>;
  /** Makes every appended byte stable (a group-commit point). */
  syncLog(): Promise<void>;
  /** The whole log as stored now (synced or not). */
  readLog(): Promise<Uint8Array>;
  logSize(): Promise<number>;
  /** Cuts the log to `length` bytes (a torn tail), durably. */
  truncateLog(length: number): Promise<void>;
  /**
   * Compaction: drops the first `length` bytes of the log, atomically and durably, keeping
   * every byte after them (including any appended while it runs).
   */
  dropLogPrefix(length: number): Promise<void>;

  /**
   * Writes a snapshot atomically and durably (temporary file, fsync, rename, fsync of the
   * directory). `chunks` is read in full during the call (a generator over a live export is
   * drained before anything awaits); from then on the storage owns the arrays and does not copy
   * them, so the caller must not change them. A checkpoint of a 1M-key store is 94 MB: a copy
   * cost 0.4 s of a 1M live-sync join (bench:live-sync --processes).
   */
  writeSnapshot(name: string, chunks: Iterable<Uint8Array>): Promise<void>;
  /**
   * Writes a snapshot as writeSnapshot does, pulling its pieces one at a time when the write
   * runs: `next` returns a piece that stays valid only until it is called again (a view of a
   * live export's I/O buffer), or undefined at the end. The storage writes or copies each piece
   * before it pulls the next, so a store nothing changes meanwhile goes to disk without a copy
   * in memory (a live-sync joiner's join image: copying 94 MB out of the core took 0.3 s).
   */
  writeSnapshotFrom(name: string, next: () => Uint8Array | undefined): Promise<void>;
  readSnapshot(name: string): Promise<Uint8Array | undefined>;
  /** Names of complete snapshots, in no particular order. */
  listSnapshots(): Promise<string[]>;
  deleteSnapshot(name: string): Promise<void>;

  /** Small blobs (node identity, node cache), replaced atomically and durably. */
  writeMeta(key: string, bytes: Uint8Array): Promise<void>;
  readMeta(key: string): Promise<Uint8Array | undefined>;

  /** Finishes pending operations and releases files (storage that holds none need not). */
  close?(): Promise<void>;
}

/** Throws RangeError naming the argument when a snapshot name or metadata key is not file-name safe. */
export function checkStorageName(name: string, what: string): void {
  if (!STORAGE_NAME_PATTERN.test(name))
    throw new RangeError(`${what}: '${name}' must match ${STORAGE_NAME_PATTERN}`);
}

export function checkMetaSize(bytes: Uint8Array): void {
  if (bytes.length > META_SIZE_MAX)
    throw new RangeError(`metadata: at most ${META_SIZE_MAX} bytes, got ${bytes.length}`);
}

export function checkLength(length: number, size: number): void {
  if (!Number.isSafeInteger(length) || length < 0 || length > size)
    throw new RangeError(`length: ${length} outside 0..${size}`);
}

/** Pulls every piece of a writeSnapshotFrom source, each copied (a piece is valid only until the
 * next pull): for the storages that keep a snapshot in memory or hand it on whole. */
export function pullCopies(next: () => Uint8Array | undefined): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let piece = next(); piece; piece = next()) pieces.push(piece.slice());
  return pieces;
}

/** `storage` read only: reads pass through, and every write calls `write` instead (restore.ts
 * ignores them while it reads a node's previous state; a test refuses them). */
export function readOnlyView(storage: Storage, write: () => Promise<void>): Storage {
  return {
    readLog: () => storage.readLog(),
    logSize: () => storage.logSize(),
    readSnapshot: (name) => storage.readSnapshot(name),
    listSnapshots: () => storage.listSnapshots(),
    readMeta: (key) => storage.readMeta(key),
    appendLog: write,
    syncLog: write,
    truncateLog: write,
    dropLogPrefix: write,
    writeSnapshot: write,
    writeSnapshotFrom: write,
    deleteSnapshot: write,
    writeMeta: write,
  };
}
