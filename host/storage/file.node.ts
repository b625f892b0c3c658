// Storage in a directory (Node only):
//   <dir>/log                 the transaction log, appended with O_APPEND and O_DSYNC
//   <dir>/snapshots/<name>    key-store snapshots
//   <dir>/meta/<key>          small blobs (node identity, node cache)
// Anything replaced is written to a temporary file (".tmp-<name>", a name no snapshot or key
// can have), fsynced, renamed over the old one, and the directory is fsynced, so a crash
// leaves the old content or the new. Leftover temporary files are removed on open.
// Operations run one at a time in call order: concurrent writes on the thread pool could
// otherwise reach the file out of order. Two long reads of the log hold its queue only for a
// stat: readLog and the copy compaction makes of the kept part. The bytes before the size they
// take change only by truncateLog or dropLogPrefix, which wait for them, so appends go on
// meanwhile (at a checkpoint of a running node the two held every commit for 110-150 ms).
// The log is opened with O_DSYNC where the platform has it: a write returns only once its bytes,
// and the file size needed to read them back, are on stable storage (what fdatasync promises),
// so a durable append is one thread-pool job instead of two (a write, then an fdatasync). Every
// append is then durable, which the contract allows (a non-durable append may be kept). Where
// O_DSYNC is missing (Windows), a durable append is a write followed by an fdatasync.

import {
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  rm,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import {
  checkLength,
  checkMetaSize,
  checkStorageName,
  STORAGE_NAME_PATTERN,
  type Storage,
} from './storage.ts';

const LOG_FILE = 'log';
const SNAPSHOT_DIRECTORY = 'snapshots';
const META_DIRECTORY = 'meta';
const TEMPORARY_PREFIX = '.tmp-';
/** O_DSYNC, or undefined where the platform lacks it. */
const O_DSYNC: number | undefined = constants.O_DSYNC;
/** How the log is opened: read and append, created if missing, each write synchronous if possible. */
const LOG_FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_APPEND | (O_DSYNC ?? 0);
/** Bytes read per call when compaction copies the kept part of the log. */
const COPY_CHUNK_SIZE = 1 << 20;

function openLog(directory: string): Promise<FileHandle> {
  return open(join(directory, LOG_FILE), LOG_FLAGS, 0o666);
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}

async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    const { bytesWritten } = await handle.write(bytes, at, bytes.length - at);
    at += bytesWritten;
  }
}

/** The pieces of an array, one per pull. */
function piecesOf(pieces: readonly Uint8Array[]): () => Uint8Array | undefined {
  let index = 0;
  return () => pieces[index++];
}

/** Bytes [from, to) of a file, in one array. */
async function readBytes(handle: FileHandle, from: number, to: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(to - from);
  for (let at = 0; at < bytes.length;) {
    const { bytesRead } = await handle.read(bytes, at, bytes.length - at, from + at);
    if (bytesRead === 0) throw new Error(`log shrank while read (at ${from + at} of ${to})`);
    at += bytesRead;
  }
  return bytes;
}

/** Appends bytes [from, to) of `source` to `target`, a chunk at a time. */
async function copyRange(
  source: FileHandle,
  target: FileHandle,
  from: number,
  to: number,
): Promise<void> {
  for (let at = from; at < to; at += COPY_CHUNK_SIZE)
    await writeAll(target, await readBytes(source, at, Math.min(at + COPY_CHUNK_SIZE, to)));
}

/** Writes the pieces `next` gives, each before pulling the next, to `directory/name`
 * atomically and durably. */
async function replaceFile(
  directory: string,
  name: string,
  next: () => Uint8Array | undefined,
): Promise<void> {
  const temporary = join(directory, TEMPORARY_PREFIX + name);
  const handle = await open(temporary, 'w');
  try {
    for (let piece = next(); piece; piece = next()) await writeAll(handle, piece);
    await handle.sync();
  } catch (error) {
    // A source that failed (an export that gave way) leaves no partial file behind.
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temporary, join(directory, name));
  await syncDirectory(directory);
}

/** A file's bytes, or undefined if it does not exist. */
export async function readOptional(path: string): Promise<Uint8Array | undefined> {
  try {
    // A plain Uint8Array over the Buffer's own memory: the Uint8Array constructor would copy
    // it, 50-70 ms of a 1M-key node's start from its checkpoint (94 MB), and Buffer's slice()
    // would share memory where callers expect Uint8Array's copy.
    const bytes = await readFile(path);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

async function removeTemporaryFiles(directory: string): Promise<void> {
  for (const name of await readdir(directory)) {
    if (name.startsWith(TEMPORARY_PREFIX)) await rm(join(directory, name), { force: true });
  }
}

/** A dropLogPrefix in progress: its copy of the log up to `copiedTo`, and how it ends. */
class PendingDrop {
  readonly outcome: Promise<void>;
  settle!: (error?: unknown) => void;

  constructor(
    readonly temporary: string,
    readonly copiedTo: number,
    readonly copied: Promise<void>,
  ) {
    this.outcome = new Promise<void>((resolve, reject) => {
      this.settle = (error?: unknown) => (error === undefined ? resolve() : reject(error));
    });
    // Handled when the drop's caller awaits it; a drop finished by another call must not be
    // reported unhandled before that.
    this.outcome.catch(() => undefined);
  }
}

/** FileStorage's two queues of calls. */
type Queue = 'log' | 'files';

export class FileStorage implements Storage {
  /** The log's calls, one at a time in call order; and the snapshots' and metadata's, likewise,
   * beside them: a running node's checkpoint snapshot (94 MB at 1M keys) is written while its
   * log appends go on (storage.ts). */
  private readonly queues: Record<Queue, Promise<unknown>> = {
    log: Promise.resolve(),
    files: Promise.resolve(),
  };
  private closed = false;
  /** Reads of the log running beside its queue (readLog, compaction's copy). */
  private readonly logReaders = new Set<Promise<unknown>>();
  /** A dropLogPrefix whose copy of the kept part runs beside the queue; it takes effect (the
   * copy renamed over the log) before the next call on the log that reads or moves its bytes. */
  private pendingDrop: PendingDrop | undefined;

  private constructor(
    readonly directory: string,
    private log: FileHandle,
  ) {}

  /** Opens (creating if needed) a storage directory. */
  static async open(directory: string): Promise<FileStorage> {
    for (const sub of [
      directory,
      join(directory, SNAPSHOT_DIRECTORY),
      join(directory, META_DIRECTORY),
    ]) {
      await mkdir(sub, { recursive: true });
      await removeTemporaryFiles(sub);
    }
    const log = await openLog(directory);
    await syncDirectory(directory);
    return new FileStorage(directory, log);
  }

  /** Runs the operations of a queue one at a time, in call order. */
  private serial<T>(operation: () => Promise<T>, queue: Queue = 'log'): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`storage ${this.directory} is closed`));
    const result = this.queues[queue].then(operation);
    this.queues[queue] = result.catch(() => undefined);
    return result;
  }

  appendLog(bytes: Uint8Array, durable: boolean): Promise<void> {
    const copy = bytes.slice(); // the caller may reuse its buffer before the write runs
    return this.serial(async () => {
      await writeAll(this.log, copy);
      if (durable && O_DSYNC === undefined) await this.log.datasync();
    });
  }

  syncLog(): Promise<void> {
    return this.serial(() => this.log.datasync());
  }

  /**
   * Runs `turn` in the log's queue, then the read it returns beside the queue: appends queued
   * after it go on meanwhile, while a later truncateLog, dropLogPrefix or close waits for it.
   */
  private async besideLog<T>(turn: () => Promise<() => Promise<T>>): Promise<T> {
    const { reading } = await this.serial(async () => {
      const reading = (await turn())();
      const tracked = reading.then(
        () => undefined,
        () => undefined,
      );
      this.logReaders.add(tracked);
      void tracked.then(() => this.logReaders.delete(tracked));
      return { reading };
    });
    return reading;
  }

  /** Waits for the reads running beside the log's queue; in the queue, before a call that
   * changes bytes they read or closes the file. */
  private async logReadersDone(): Promise<void> {
    await Promise.all([...this.logReaders]);
  }

  readLog(): Promise<Uint8Array> {
    return this.besideLog(async () => {
      await this.finishDrop();
      const log = this.log;
      const size = (await log.stat()).size;
      return () => readBytes(log, 0, size);
    });
  }

  logSize(): Promise<number> {
    return this.serial(async () => {
      await this.finishDrop();
      return (await this.log.stat()).size;
    });
  }

  truncateLog(length: number): Promise<void> {
    return this.serial(async () => {
      await this.finishDrop();
      checkLength(length, (await this.log.stat()).size);
      await this.logReadersDone();
      await this.log.truncate(length);
      await this.log.datasync(); // flushes the new size too: it is needed to read the file back
    });
  }

  /**
   * Copies the kept part of the log to a temporary file and syncs it beside the log's queue (16
   * MiB or more at a running node's compaction), so appends go on meanwhile. The drop takes
   * effect when the copy is done, in the queue: what was appended meanwhile is copied too, and
   * the file renamed over the log. A later call that reads or moves the log's bytes (readLog,
   * logSize, truncateLog, another drop) makes it take effect first, so calls keep their order.
   */
  async dropLogPrefix(length: number): Promise<void> {
    const { drop } = await this.serial(async () => {
      await this.finishDrop();
      const size = (await this.log.stat()).size;
      checkLength(length, size);
      const log = this.log;
      const temporary = join(this.directory, TEMPORARY_PREFIX + LOG_FILE);
      const copy = async () => {
        const target = await open(temporary, 'w');
        try {
          await copyRange(log, target, length, size);
          await target.sync();
        } finally {
          await target.close();
        }
      };
      const drop = new PendingDrop(temporary, size, copy());
      this.pendingDrop = drop;
      return { drop };
    });
    await drop.copied.catch(() => undefined);
    // Rejected only when the storage closed meanwhile: close() finished the drop then.
    await this.serial(() => this.finishDrop()).catch(() => undefined);
    return drop.outcome;
  }

  /** Makes the pending drop take effect, or fail leaving the log as it was. */
  private async finishDrop(): Promise<void> {
    const drop = this.pendingDrop;
    if (!drop) return;
    this.pendingDrop = undefined;
    try {
      await drop.copied;
      await this.logReadersDone();
      const target = await open(drop.temporary, 'a');
      try {
        await copyRange(this.log, target, drop.copiedTo, (await this.log.stat()).size);
        await target.sync();
      } finally {
        await target.close();
      }
      await rename(drop.temporary, join(this.directory, LOG_FILE));
      await syncDirectory(this.directory);
      await this.log.close();
      this.log = await openLog(this.directory);
      drop.settle();
    } catch (error) {
      await rm(drop.temporary, { force: true });
      drop.settle(error);
      // The caller that finished it goes on with the log as it was; the drop's own caller is
      // told. A log file that failed to reopen fails every later call, as it should.
    }
  }

  writeSnapshot(name: string, chunks: Iterable<Uint8Array>): Promise<void> {
    checkStorageName(name, 'snapshot name');
    const owned = [...chunks]; // drained now; owned from here on (storage.ts)
    return this.serial(
      () => replaceFile(join(this.directory, SNAPSHOT_DIRECTORY), name, piecesOf(owned)),
      'files',
    );
  }

  writeSnapshotFrom(name: string, next: () => Uint8Array | undefined): Promise<void> {
    checkStorageName(name, 'snapshot name');
    return this.serial(
      () => replaceFile(join(this.directory, SNAPSHOT_DIRECTORY), name, next),
      'files',
    );
  }

  readSnapshot(name: string): Promise<Uint8Array | undefined> {
    checkStorageName(name, 'snapshot name');
    return this.serial(() => readOptional(join(this.directory, SNAPSHOT_DIRECTORY, name)), 'files');
  }

  listSnapshots(): Promise<string[]> {
    return this.serial(
      async () =>
        (await readdir(join(this.directory, SNAPSHOT_DIRECTORY))).filter((name) =>
          STORAGE_NAME_PATTERN.test(name),
        ),
      'files',
    );
  }

  deleteSnapshot(name: string): Promise<void> {
    checkStorageName(name, 'snapshot name');
    return this.serial(async () => {
      const directory = join(this.directory, SNAPSHOT_DIRECTORY);
      try {
        await unlink(join(directory, name));
      } catch (error) {
        if (!isMissing(error)) throw error;
        return;
      }
      await syncDirectory(directory);
    }, 'files');
  }

  writeMeta(key: string, bytes: Uint8Array): Promise<void> {
    checkStorageName(key, 'metadata key');
    checkMetaSize(bytes);
    const copy = bytes.slice();
    return this.serial(
      () => replaceFile(join(this.directory, META_DIRECTORY), key, piecesOf([copy])),
      'files',
    );
  }

  readMeta(key: string): Promise<Uint8Array | undefined> {
    checkStorageName(key, 'metadata key');
    return this.serial(() => readOptional(join(this.directory, META_DIRECTORY, key)), 'files');
  }

  /** Waits for pending operations and closes the log file. */
  /** Idempotent: a node that stops cleanly and its host's clean-up both close it. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.serial(async () => undefined, 'files');
    await this.serial(async () => {
      await this.finishDrop();
      await this.logReadersDone();
      await this.log.close();
    });
    this.closed = true;
  }
}
