// A checkpoint is exactly the state right before its CHECKPOINT entry (issue 11, item 2). A
// node's flush used to await storage (the request outcomes) before exporting the store, while
// the replica went on committing: the snapshot then held transactions whose COMMIT came after
// its CHECKPOINT entry, and the next clean restart was refused (38312). Only storage that
// completes later shows it, so these pools run over DelayedStorage.

import { describe, expect, it } from 'vitest';
import type { Core } from '../../host/core/core.ts';
import { parseEntry, scanLog } from '../../host/core/txlog.ts';
import type { CheckpointBody, CommitBody } from '../../host/core/txlog-body.ts';
import { DelayedStorage } from '../../host/storage/delayed.ts';
import { MemoryStorage } from '../../host/storage/memory.ts';
import { keyedCore, thrownCode } from '../fixtures.ts';
import {
  applyObject,
  drive,
  objectWrites,
  openLoneRuntime,
  restartAtSameSps,
  startPool,
} from '../pool-writes.ts';

const write = objectWrites(311);

const macrotask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/** Storage calls complete after macrotasks, as file calls do (a file replaced — snapshot,
 * metadata — takes longer than an append): other nodes' messages arrive meanwhile. */
const later = (memory: MemoryStorage): DelayedStorage =>
  new DelayedStorage(memory, async (operation) => {
    const hops = operation === 'writeMeta' || operation === 'writeSnapshot' ? 4 : 1;
    for (let i = 0; i < hops; i++) await macrotask();
  });

/** For each CHECKPOINT of a log: its SP and the SP after the last COMMIT before it, read
 * from the entries alone (the first checkpoint of a compacted log has no COMMIT before it). */
function checkpointPositions(
  core: Core,
  log: Uint8Array,
  poolId: bigint,
): { checkpoint: bigint; logged: bigint | undefined }[] {
  const out: { checkpoint: bigint; logged: bigint | undefined }[] = [];
  let logged: bigint | undefined;
  scanLog(core, log, { poolId }, (entry) => {
    const body = parseEntry(log.subarray(entry.offset, entry.offset + entry.length)).body;
    if (body.type === 'commit') logged = (body as CommitBody).spAfter;
    if (body.type === 'checkpoint') {
      const sp = (body as CheckpointBody).sp;
      out.push({ checkpoint: sp, logged: logged ?? sp });
      logged = sp;
    }
  });
  return out;
}

describe('checkpoints under storage that completes later', () => {
  it('every checkpoint holds the SP of the last COMMIT before it, and every node restarts cleanly', async () => {
    const pool = await startPool({
      nodes: 3,
      seed: 41,
      groupCommit: true,
      checkpointBytes: 3000,
      wrapStorage: later,
    });
    // Concurrent writers on every node, in rounds: many commits land while flushes await.
    const codes: number[] = [];
    for (let round = 0; round < 12; round++) {
      const replies = Array.from({ length: 6 }, (_, i) =>
        pool.appliances[i % 3].write(write(`r${round}-${i}`)),
      );
      for (const reply of await drive(pool, Promise.all(replies))) codes.push(reply.code);
    }
    expect(codes.filter((code) => code === 0).length).toBeGreaterThan(30);
    const checkpoints = pool.appliances.map(
      (appliance) => appliance.events.filter((event) => event.event === 'checkpoint').length,
    );
    expect(Math.min(...checkpoints)).toBeGreaterThan(2);

    const core = keyedCore();
    for (const storage of pool.storages) {
      const positions = checkpointPositions(core, await storage.readLog(), 1n);
      expect(positions.length).toBeGreaterThan(0);
      for (const { checkpoint, logged } of positions) expect(checkpoint).toBe(logged);
    }
    // A clean restart of every node recovers (it used to be refused with 38312).
    await restartAtSameSps(pool);
  }, 120_000);

  it('a checkpoint of a store that holds an unlogged commit is refused (38320) and nothing is written', async () => {
    const storage = new MemoryStorage();
    const runtime = await openLoneRuntime(storage, 3, 0); // 0: every batch takes a checkpoint
    // A write applied to the store behind the replica's back: no COMMIT record says it.
    const core = runtime.replica.core;
    applyObject(core, 'stray');
    const before = await storage.readLog();
    expect(thrownCode(() => runtime.takeBatch())).toBe(38320);
    expect(await storage.readLog()).toEqual(before);
    expect(await storage.listSnapshots()).toEqual([]);
  });

  it('a checkpoint that comes due while a live-sync view is open waits for it to close; the node keeps committing', async () => {
    const pool = await startPool({ nodes: 3, seed: 43, groupCommit: true, checkpointBytes: 2000 });
    const donor = pool.appliances[0];
    const checkpointsOf = (): number =>
      donor.events.filter((event) => event.event === 'checkpoint').length;
    // A donor's frozen view (live-sync holds one from BEGIN to its last chunk): only one
    // export is open at a time, so a checkpoint taken now would throw 38405 and stop the node.
    const view = donor.core.exportSnapshot();
    const before = checkpointsOf();
    for (let round = 0; round < 6; round++) {
      const replies = Array.from({ length: 4 }, (_, i) => donor.write(write(`held-${round}-${i}`)));
      for (const reply of await drive(pool, Promise.all(replies))) expect(reply.code).toBe(0);
    }
    expect(checkpointsOf()).toBe(before);
    expect(donor.info().storage.broken).toBeUndefined();
    view.close();
    await drive(pool, donor.write(write('after-close')));
    await drive(pool, donor.settled());
    expect(checkpointsOf()).toBeGreaterThan(before);
    await pool.close();
  }, 60_000);
});
