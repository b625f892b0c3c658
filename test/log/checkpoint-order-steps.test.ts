// A running node's checkpoint orders its frozen view by name in steps, with a turn of the
// event loop between them (compaction.ts writeCheckpointSnapshot): at 1M records ordering it
// at once stopped the node 0.1-0.4 s. Commits made between the steps must not show in the
// snapshot, which holds the store as it was when the checkpoint was taken.

import { describe, expect, it } from 'vitest';
import { encodeBatch } from '../../host/core/batch.ts';
import { LogEncoder } from '../../host/core/txlog.ts';
import {
  CHECKPOINT_ORDER_STEP_RECORDS,
  takeCheckpoint,
  writeCheckpointSnapshot,
} from '../../host/log/compaction.ts';
import { splitSnapshot } from '../../host/log/recovery.ts';
import { MemoryStorage } from '../../host/storage/memory.ts';
import { filledCore, keyedCore, sampleObject } from '../fixtures.ts';

describe('a checkpoint orders its view in steps', () => {
  it('commits between the steps do not show in its snapshot', async () => {
    const records = 2 * CHECKPOINT_ORDER_STEP_RECORDS + 1000;
    const core = filledCore(records);
    const atCheckpoint = Buffer.concat(core.snapshotChunks(core.ioSize)).toString('hex');
    const storage = new MemoryStorage();
    const image = takeCheckpoint(core, new LogEncoder(core, 1n), [
      { id: 1n, address: '127.0.0.1:1' },
    ]);
    let turns = 0;
    await writeCheckpointSnapshot(storage, image, async () => {
      turns++;
      // A commit per turn: one record removed, one added.
      core.apply(
        encodeBatch([
          {
            event: 'DELETE_OBJ',
            operations: [{ op: 'delete', kind: 'object', name: `key${turns}` }],
          },
          {
            event: 'CREATE_OBJ',
            operations: [
              { op: 'insert', record: core.encode(sampleObject(`late${turns}`, 'alice', 60, 7)) },
            ],
          },
        ]),
      );
    });
    expect(turns).toBeGreaterThan(2);
    expect(core.count()).toBe(records + 1);
    const stored = await storage.readSnapshot(image.name);
    expect(Buffer.from(stored!).toString('hex')).toBe(atCheckpoint);
    // And it imports to the checkpoint's state.
    const copy = keyedCore('scalar');
    expect(copy.importSnapshot(splitSnapshot(stored!))).toEqual(image.syncPoint);
  });
});
