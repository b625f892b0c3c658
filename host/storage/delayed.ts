// Storage whose every call completes later, as a file's does: the simulator and tests put it
// over MemoryStorage so that the replica goes on receiving messages and deciding while a flush
// or a checkpoint awaits its storage (a double that completes at once hides those races).
// Browser-safe: when a call completes is up to the `wait` the caller supplies (the simulator's
// scheduler, in simulated time).
//
// Calls run one at a time in call order, as FileStorage's do: the log's in one queue, those on
// snapshots and metadata in another beside it. An append writes its bytes to
// the inner storage, unsynced, when its turn starts and syncs them when it completes, so a
// crash meanwhile keeps the prefix of them the inner storage's crash model allows (torn
// tails); every other call takes effect when it completes (they are atomic). After `halt`
// (the node crashed) no queued call touches the inner storage and none completes.
// As in FileStorage, readLog and dropLogPrefix wait beside the log's queue, so appends called
// after them go on meanwhile: readLog takes the log at its turn; a drop takes effect when its
// wait ends, or at the turn of a later readLog, logSize, truncateLog or drop, whichever comes
// first, so that the calls keep their order.

import { checkLength, pullCopies, type Storage } from './storage.ts';

/** The calls that go in the queue beside the log's. */
const FILE_OPERATIONS = new Set([
  'writeSnapshot',
  'readSnapshot',
  'listSnapshots',
  'deleteSnapshot',
  'writeMeta',
  'readMeta',
]);

/** Resolves when the storage call named `operation` is to complete. */
export type StorageWait = (operation: string) => Promise<void>;

export class DelayedStorage implements Storage {
  private readonly queues = {
    log: Promise.resolve() as Promise<unknown>,
    files: Promise.resolve() as Promise<unknown>,
  };
  private halted = false;
  /** A dropLogPrefix waiting beside the queue: the length it drops once it takes effect. */
  private pendingDrop: number | undefined;
  /** Calls made and not completed yet. */
  pending = 0;

  constructor(
    readonly inner: Storage,
    private readonly wait: StorageWait,
  ) {}

  /** The node crashed: queued and running calls never complete nor touch the inner storage. */
  halt(): void {
    this.halted = true;
  }

  private serial<T>(
    operation: string,
    run: () => Promise<T>,
    start?: () => Promise<void>,
  ): Promise<T> {
    this.pending++;
    const queue = FILE_OPERATIONS.has(operation) ? 'files' : 'log';
    const result = this.queues[queue].then(async () => {
      if (this.halted) return never<T>();
      await start?.();
      await this.wait(operation);
      if (this.halted) return never<T>();
      try {
        return await run();
      } finally {
        this.pending--;
      }
    });
    this.queues[queue] = result.catch(() => undefined);
    return result;
  }

  appendLog(bytes: Uint8Array, durable: boolean): Promise<void> {
    const copy = bytes.slice();
    return this.serial(
      'appendLog',
      async () => {
        if (durable) await this.inner.syncLog();
      },
      () => this.inner.appendLog(copy, false),
    );
  }

  syncLog(): Promise<void> {
    return this.serial('syncLog', () => this.inner.syncLog());
  }

  /** Runs `turn` in the log's queue, then waits beside it and completes with its result. */
  private async besideLog<T>(operation: string, turn: () => Promise<T>): Promise<T> {
    this.pending++;
    const taken = this.queues.log.then(async () => {
      if (this.halted) return never<{ result: T }>();
      return { result: await turn() };
    });
    this.queues.log = taken.catch(() => undefined);
    try {
      const { result } = await taken;
      await this.wait(operation);
      if (this.halted) return never<T>();
      return result;
    } finally {
      this.pending--;
    }
  }

  /** Makes a drop waiting beside the queue take effect now. */
  private async finishDrop(): Promise<void> {
    const length = this.pendingDrop;
    this.pendingDrop = undefined;
    if (length !== undefined) await this.inner.dropLogPrefix(length);
  }

  readLog(): Promise<Uint8Array> {
    return this.besideLog('readLog', async () => {
      await this.finishDrop();
      return this.inner.readLog();
    });
  }

  logSize(): Promise<number> {
    return this.serial('logSize', async () => {
      await this.finishDrop();
      return this.inner.logSize();
    });
  }

  truncateLog(length: number): Promise<void> {
    return this.serial('truncateLog', async () => {
      await this.finishDrop();
      await this.inner.truncateLog(length);
    });
  }

  async dropLogPrefix(length: number): Promise<void> {
    await this.besideLog('dropLogPrefix', async () => {
      await this.finishDrop();
      checkLength(length, await this.inner.logSize());
      this.pendingDrop = length;
    });
    // The rename over the log, in the queue (with its own wait, as the file storage's is).
    await this.serial('dropLogPrefix', () => this.finishDrop());
  }

  writeSnapshot(name: string, chunks: Iterable<Uint8Array>): Promise<void> {
    // Drained now, not copied: the same ownership as the file storage (storage.ts), so that a
    // caller that changed its chunks after the call would corrupt the simulator's images too.
    const owned = [...chunks];
    return this.serial('writeSnapshot', () => this.inner.writeSnapshot(name, owned));
  }

  writeSnapshotFrom(name: string, next: () => Uint8Array | undefined): Promise<void> {
    // Pulled when the write runs, after the operations queued before it, as the file storage
    // pulls: a caller that changed the store meanwhile would write a mixed snapshot here too.
    return this.serial('writeSnapshot', () => this.inner.writeSnapshot(name, pullCopies(next)));
  }

  readSnapshot(name: string): Promise<Uint8Array | undefined> {
    return this.serial('readSnapshot', () => this.inner.readSnapshot(name));
  }

  listSnapshots(): Promise<string[]> {
    return this.serial('listSnapshots', () => this.inner.listSnapshots());
  }

  deleteSnapshot(name: string): Promise<void> {
    return this.serial('deleteSnapshot', () => this.inner.deleteSnapshot(name));
  }

  writeMeta(key: string, bytes: Uint8Array): Promise<void> {
    const copy = bytes.slice();
    return this.serial('writeMeta', () => this.inner.writeMeta(key, copy));
  }

  readMeta(key: string): Promise<Uint8Array | undefined> {
    return this.serial('readMeta', () => this.inner.readMeta(key));
  }
}

/** A promise that never settles: what a call of a crashed node's storage gives back. */
function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}
