// A running node writes its checkpoint's snapshot beside its log (runtime.ts
// writeCheckpointSnapshot): the CHECKPOINT entry is logged with a batch, the snapshot follows
// from the store's frozen view while commits go on. At 1M keys that snapshot is 94 MB: writes
// used to stop until it was on disk. These pools run over storage that completes later, with
// node 0's snapshot writes held at a gate the test opens.

import { describe, expect, it } from 'vitest';
import { recoverStore } from '../../host/appliance/runtime.ts';
import { parseEntry, scanLog } from '../../host/core/txlog.ts';
import type { CheckpointBody, CommitBody } from '../../host/core/txlog-body.ts';
import { DelayedStorage } from '../../host/storage/delayed.ts';
import type { MemoryStorage } from '../../host/storage/memory.ts';
import type { InProcessPool } from '../../host/testing/in-process-pool.ts';
import { keyedCore } from '../fixtures.ts';
import { drive, objectWrites, restartAtSameSps, startPool } from '../pool-writes.ts';

const write = objectWrites(523);
const macrotask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/** Node 0's snapshot writes wait while `held` is set (until the test resolves it). */
function gatedPool(seed: number): Promise<{ pool: InProcessPool; gate: Gate }> {
  const gate = new Gate();
  return startPool({
    nodes: 3,
    seed,
    groupCommit: true,
    checkpointBytes: 2500,
    wrapStorage: (memory, index) =>
      new DelayedStorage(memory, async (operation) => {
        await macrotask();
        if (index === 0 && operation === 'writeSnapshot') await gate.passed();
      }),
  }).then((pool) => ({ pool, gate }));
}

class Gate {
  private held: Promise<void> | undefined;
  private release: (() => void) | undefined;
  close(): void {
    this.held = new Promise((resolve) => (this.release = resolve));
  }
  open(): void {
    this.release?.();
    this.held = undefined;
  }
  passed(): Promise<void> {
    return this.held ?? Promise.resolve();
  }
}

/** The log's CHECKPOINT entries (snapshot names) and the SP after its last COMMIT. */
async function logOf(
  storage: MemoryStorage,
): Promise<{ checkpoints: string[]; lastCommitSp: bigint | undefined }> {
  const log = await storage.readLog();
  const checkpoints: string[] = [];
  let lastCommitSp: bigint | undefined;
  scanLog(keyedCore(), log, { poolId: 1n }, (entry) => {
    const body = parseEntry(log.subarray(entry.offset, entry.offset + entry.length)).body;
    if (body.type === 'checkpoint') checkpoints.push((body as CheckpointBody).snapshotName);
    if (body.type === 'commit') lastCommitSp = (body as CommitBody).spAfter;
  });
  return { checkpoints, lastCommitSp };
}

/** Writes rounds on every node until `done` holds (at most `rounds`); every write commits. */
async function writeUntil(
  pool: InProcessPool,
  label: string,
  done: () => Promise<boolean>,
  rounds = 40,
): Promise<number> {
  let committed = 0;
  for (let round = 0; round < rounds && !(await done()); round++) {
    const replies = Array.from({ length: 4 }, (_, i) =>
      pool.appliances[i % 3].write(write(`${label}-${round}-${i}`)),
    );
    for (const reply of await drive(pool, Promise.all(replies))) {
      expect(reply.code).toBe(0);
      committed++;
    }
  }
  return committed;
}

/** Node 0's newest CHECKPOINT entry names a snapshot not on its disk (being written). */
async function snapshotPending(storage: MemoryStorage): Promise<string | undefined> {
  const newest = (await logOf(storage)).checkpoints.at(-1);
  return newest && !(await storage.listSnapshots()).includes(newest) ? newest : undefined;
}

describe('checkpoint snapshots written beside the log', () => {
  it('commits go on while the snapshot is written; a crash then recovers from the checkpoint before it', async () => {
    const { pool, gate } = await gatedPool(61);
    const node = pool.appliances[0];
    const disk = pool.storages[0];
    const stored = (): number => node.events.filter((e) => e.event === 'checkpoint').length;
    await writeUntil(pool, 'base', async () => stored() >= 1);
    expect(stored()).toBeGreaterThanOrEqual(1);

    gate.close();
    await writeUntil(pool, 'held', async () => (await snapshotPending(disk)) !== undefined);
    const pending = await snapshotPending(disk);
    expect(pending).toBeDefined();
    // Writes keep committing on node 0 while its snapshot waits at the gate.
    const committed = await writeUntil(pool, 'during', async () => false, 6);
    expect(committed).toBe(24);
    expect(await snapshotPending(disk)).toBe(pending);
    expect(node.runtime.snapshotWrite).toBeDefined();

    // The disk as a crash would leave it now: recovery cannot use the pending checkpoint's
    // snapshot, starts from the one before, and replays through the pending CHECKPOINT entry.
    const { lastCommitSp } = await logOf(disk);
    const { recovered } = await recoverStore({
      core: keyedCore(),
      storage: disk,
      poolId: 1n,
      founders: pool.founders,
      cutTornTail: false,
    });
    expect(recovered.snapshot).toBeDefined();
    expect(recovered.snapshot).not.toBe(pending);
    expect(recovered.syncPoint.sp).toBe(lastCommitSp);

    gate.open();
    await drive(pool, node.runtime.snapshotWrite ?? Promise.resolve(true));
    expect(await disk.listSnapshots()).toContain(pending);
    expect(node.info().storage.broken).toBeUndefined();
    // The snapshot holds the frozen state its entry recorded, not the store as it was when it
    // was written: recovery takes it as its base (it skips one whose SP differs).
    const after = await recoverStore({
      core: keyedCore(),
      storage: disk,
      poolId: 1n,
      founders: pool.founders,
      cutTornTail: false,
    });
    expect(after.recovered.snapshot).toBe(pending);
    expect(after.recovered.syncPoint.sp).toBe((await logOf(disk)).lastCommitSp);
    await restartAtSameSps(pool);
  }, 120_000);

  it("an export that gives way to a donor's view stores nothing; later checkpoints and restarts are sound", async () => {
    const { pool, gate } = await gatedPool(67);
    const node = pool.appliances[0];
    const disk = pool.storages[0];
    const count = (event: string): number => node.events.filter((e) => e.event === event).length;
    gate.close();
    await writeUntil(pool, 'first', async () => (await snapshotPending(disk)) !== undefined);
    const pending = await snapshotPending(disk);
    expect(pending).toBeDefined();
    // A live-sync donor freezes its view: the checkpoint's export gives way to it.
    const view = node.core.exportSnapshot();
    gate.open();
    await drive(pool, node.runtime.snapshotWrite ?? Promise.resolve(true));
    expect(count('checkpoint-given-way')).toBe(1);
    expect(await disk.listSnapshots()).not.toContain(pending);
    expect(node.info().storage.broken).toBeUndefined();
    await writeUntil(pool, 'view', async () => false, 4);
    view.close();
    // Checkpoints resume; compaction keeps two whose snapshots are stored.
    await writeUntil(pool, 'after', async () => count('checkpoint') >= 3);
    await drive(pool, node.runtime.snapshotWrite ?? Promise.resolve(true));
    expect(count('checkpoint')).toBeGreaterThanOrEqual(3);
    const { checkpoints } = await logOf(disk);
    const snapshots = await disk.listSnapshots();
    expect(checkpoints.filter((name) => snapshots.includes(name)).length).toBeGreaterThanOrEqual(2);
    const sp = node.info().syncPoint.hex;
    await pool.close();
    const reopened = await pool.open(0);
    expect(reopened.info().syncPoint.hex).toBe(sp);
    await reopened.close();
  }, 120_000);
});
