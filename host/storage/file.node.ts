// Storage in a directory (Node only):
//   <dir>/log                 the transaction log, appended with O_APPEND and O_DSYNC
//   <dir>/snapshots/<name>    key-store snapshots
//   <dir>/meta/<key>          small blobs (node identity, node cache)
// Anything replaced is written to a temporary file (".tmp-<name>", a name no snapshot or key
// can have), fsynced, renamed over the old one, and the directory is fsynced, so a crash
// leaves the old content or the new. Leftover temporary files are removed on open.
// Operations run one at a time in call order: concurrent writes on the thread pool could
// otherwise reach the file out of order.
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

  readLog(): Promise<Uint8Array> {
    return this.serial(async () => new Uint8Array(await readFile(join(this.directory, LOG_FILE))));
  }

  logSize(): Promise<number> {
    return this.serial(async () => (await this.log.stat()).size);
  }

  truncateLog(length: number): Promise<void> {
    return this.serial(async () => {
      checkLength(length, (await this.log.stat()).size);
      await this.log.truncate(length);
      await this.log.datasync(); // flushes the new size too: it is needed to read the file back
    });
  }

  dropLogPrefix(length: number): Promise<void> {
    return this.serial(async () => {
      const size = (await this.log.stat()).size;
      checkLength(length, size);
      await replaceFile(this.directory, LOG_FILE, piecesOf(await this.readRange(length, size)));
      await this.log.close();
      this.log = await openLog(this.directory);
    });
  }

  private async readRange(from: number, to: number): Promise<Uint8Array[]> {
    const chunks: Uint8Array[] = [];
    for (let at = from; at < to;) {
      const chunk = new Uint8Array(Math.min(COPY_CHUNK_SIZE, to - at));
      const { bytesRead } = await this.log.read(chunk, 0, chunk.length, at);
      if (bytesRead === 0) throw new Error(`log shrank while compacting (at ${at} of ${to})`);
      chunks.push(chunk.subarray(0, bytesRead));
      at += bytesRead;
    }
    return chunks;
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
    await this.serial(() => this.log.close());
    this.closed = true;
  }
}
