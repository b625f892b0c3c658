// DelayedStorage (host/storage/delayed.ts): calls complete when their wait says, one at a
// time in call order; an append is on the disk unsynced from the start of its turn and synced
// when it completes; a halted storage completes nothing and touches nothing.

import { expect, it } from 'vitest';
import { DelayedStorage } from '../../host/storage/delayed.ts';
import { MemoryStorage } from '../../host/storage/memory.ts';

/** Waits released by hand, in any order. */
function manual(): {
  wait: () => Promise<void>;
  release: (i: number) => void;
  count: () => number;
} {
  const releases: (() => void)[] = [];
  return {
    wait: () => new Promise<void>((resolve) => releases.push(resolve)),
    release: (i) => releases[i](),
    count: () => releases.length,
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

it('runs calls in call order, each when its wait completes; appends sync on completion', async () => {
  const memory = new MemoryStorage();
  const waits = manual();
  const storage = new DelayedStorage(memory, waits.wait);
  const done: string[] = [];
  const first = storage.appendLog(new Uint8Array([1, 2, 3]), true).then(() => done.push('first'));
  const second = storage.appendLog(new Uint8Array([4]), true).then(() => done.push('second'));
  await tick();
  // The append's turn started: its bytes are there, unsynced; the second call waits its turn.
  expect(memory.unsyncedLength).toBe(3);
  expect(waits.count()).toBe(1);
  expect(storage.pending).toBe(2);
  waits.release(0);
  await first;
  expect(memory.syncedLength).toBe(3);
  await tick();
  expect(memory.unsyncedLength).toBe(1);
  waits.release(1);
  await second;
  expect(done).toEqual(['first', 'second']);
  expect(memory.syncedLength).toBe(4);
  expect(storage.pending).toBe(0);
});

it('runs snapshot and metadata calls beside the log calls, each queue in call order', async () => {
  const memory = new MemoryStorage();
  const waits = manual();
  const storage = new DelayedStorage(memory, waits.wait);
  const done: string[] = [];
  const append = storage.appendLog(new Uint8Array([1]), true).then(() => done.push('append'));
  const meta = storage.writeMeta('k', new Uint8Array([9])).then(() => done.push('meta'));
  const snapshot = storage.writeSnapshot('s', [new Uint8Array([2])]).then(() => done.push('snap'));
  await tick();
  // The append and the metadata write are both under way; the snapshot waits for the meta.
  expect(waits.count()).toBe(2);
  waits.release(1);
  await meta;
  expect(await memory.readMeta('k')).toEqual(new Uint8Array([9]));
  expect(memory.syncedLength).toBe(0);
  await tick();
  waits.release(2);
  await snapshot;
  waits.release(0);
  await append;
  expect(done).toEqual(['meta', 'snap', 'append']);
  expect(storage.pending).toBe(0);
});

it('after halt no call completes and none touches the inner storage', async () => {
  const memory = new MemoryStorage();
  const waits = manual();
  const storage = new DelayedStorage(memory, waits.wait);
  let settled = false;
  void storage.appendLog(new Uint8Array([1]), true).finally(() => (settled = true));
  void storage.writeSnapshot('s', [new Uint8Array([2])]).finally(() => (settled = true));
  await tick();
  storage.halt();
  waits.release(0);
  await tick();
  await tick();
  expect(settled).toBe(false);
  expect(memory.syncedLength).toBe(0); // the append stayed unsynced: a crash may drop it
  expect(await memory.listSnapshots()).toEqual([]);
});

it('pulls a streamed snapshot when its turn runs, not when it is called', async () => {
  const memory = new MemoryStorage();
  const waits = manual();
  const storage = new DelayedStorage(memory, waits.wait);
  const source = new Uint8Array([1, 2]);
  let pulled = false;
  const written = storage.writeSnapshotFrom('s', () => {
    if (pulled) return undefined;
    pulled = true;
    return source;
  });
  await tick();
  expect(pulled).toBe(false); // still waiting its turn: the source is read when the write runs
  source[0] = 7;
  waits.release(0);
  await written;
  expect(await memory.readSnapshot('s')).toEqual(new Uint8Array([7, 2]));
});

/** A delayed storage whose log holds `bytes`, durably, and whose first wait (index 0) is spent. */
async function withLog(bytes: number[]) {
  const memory = new MemoryStorage();
  const waits = manual();
  const storage = new DelayedStorage(memory, waits.wait);
  const first = storage.appendLog(new Uint8Array(bytes), true);
  await tick();
  waits.release(0);
  await first;
  return { memory, waits, storage };
}

it('reads and drops of the log wait beside its queue: later appends complete first and are kept', async () => {
  const { memory, waits, storage } = await withLog([1, 2, 3]);
  const read = storage.readLog();
  const dropped = storage.dropLogPrefix(1);
  const append = storage.appendLog(new Uint8Array([4]), true);
  await tick();
  expect(waits.count()).toBe(4); // the read, the drop and the append all wait at once
  waits.release(3);
  await append; // done while the read and the drop still wait
  waits.release(1);
  expect(Array.from(await read)).toEqual([1, 2, 3]); // the log at the read's turn
  expect(Array.from(await memory.readLog())).toEqual([1, 2, 3, 4]); // not dropped yet
  waits.release(2);
  await tick();
  waits.release(4); // the drop's own turn in the queue: the rename
  await dropped;
  expect(Array.from(await memory.readLog())).toEqual([2, 3, 4]);
  expect(storage.pending).toBe(0);
});

it('a crash while a drop waits leaves the log whole', async () => {
  const { memory, waits, storage } = await withLog([1, 2, 3]);
  void storage.dropLogPrefix(2);
  await tick();
  storage.halt();
  waits.release(1);
  await tick();
  expect(Array.from(await memory.readLog())).toEqual([1, 2, 3]);
});
