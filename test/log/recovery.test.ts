// Recovery: an emulated appliance writes a log (transactions committed, aborted and left
// pending, membership and epoch changes, checkpoints, compaction); recovery into a fresh core
// must give back exactly the state it had — store, SP, PTL, node list, epoch, chain position —
// or the documented error when the log or the snapshots cannot support it.

import { describe, expect, it } from 'vitest';
import { encodeBatch } from '../../host/core/batch.ts';
import { HsmError } from '../../host/core/codes.ts';
import type { Core } from '../../host/core/core.ts';
import { LOG_START, LogEncoder, type EntryBody, type PrepareBody } from '../../host/core/txlog.ts';
import { recover, splitSnapshot } from '../../host/log/recovery.ts';
import { nextCheckpoint, type OutcomesCheckpoint } from '../../host/log/request-outcomes.ts';
import { checkpointName, compactLog, writeCheckpoint } from '../../host/log/compaction.ts';
import { MemoryStorage } from '../../host/storage/memory.ts';
import type { Storage } from '../../host/storage/storage.ts';
import { Random } from '../../host/protocol/random.ts';
import { newCore } from '../../host/core/load.node.ts';
import { keyedCore, sampleUser, rejection } from '../fixtures.ts';
import {
  ApplianceModel,
  FOUNDERS,
  POOL,
  nodesKey,
  recoverFresh,
  recoveredView,
  samplePrepare,
} from '../txlog-helpers.ts';

async function history(
  seed: number,
  steps: number,
  storage: Storage = new MemoryStorage(),
): Promise<ApplianceModel> {
  const model = new ApplianceModel(keyedCore(), storage, new Random(seed));
  for (let i = 0; i < steps; i++) await model.step();
  return model;
}

async function expectCode(promise: Promise<unknown>, code: number): Promise<HsmError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(HsmError);
  expect((error as HsmError).code).toBe(code);
  return error as HsmError;
}

describe('recovery gives back the state before the crash', () => {
  it('an empty storage is a fresh appliance', async () => {
    const state = await recoverFresh(new MemoryStorage());
    expect([state.syncPoint.count, state.pending, state.epoch, state.last, state.snapshot]).toEqual(
      [0, undefined, 0n, LOG_START, undefined],
    );
    expect(nodesKey(state.nodes)).toBe(nodesKey(FOUNDERS));
  });

  it('random histories with checkpoints recover exactly (seeds 1..25)', async () => {
    for (let seed = 1; seed <= 25; seed++) {
      const model = await history(seed, 40);
      const state = await recoverFresh(model.storage);
      expect({ seed, ...recoveredView(state) }).toEqual({ seed, ...model.states.at(-1)! });
      expect(state.tornBytes).toBe(0);
    }
  });

  it('the recovered store holds the same records, and the PTL carries everything to commit it later', async () => {
    const model = await history(7, 20);
    if (!model.pending) await model.prepare();
    const core = keyedCore();
    const state = await recoverFresh(model.storage, core);
    const records = (of: Core) => of.list().map((r) => Buffer.from(r).toString('hex'));
    expect(records(core).sort()).toEqual(records(model.core).sort());
    expect(state.pending?.transactionId).toBe(model.pending!.id);
    const prepare: PrepareBody = state.pending!.prepare;
    expect(Buffer.from(prepare.batch).equals(model.pending!.prepare.batch)).toBe(true);
    const after = core.apply(prepare.batch).syncPoint;
    expect([after.sp, after.spvv]).toEqual([prepare.spAfter, prepare.spvvAfter]);
    const encoder = new LogEncoder(core, POOL, state.last, state.epoch);
    await model.storage.appendLog(
      encoder.encode(
        { type: 'commit', spAfter: after.sp, spvvAfter: after.spvv },
        { transactionId: state.pending!.transactionId },
      ),
      true,
    );
    const again = await recoverFresh(model.storage);
    expect([
      again.pending,
      again.syncPoint.sp,
      again.outcomes.get(state.pending!.transactionId),
    ]).toEqual([undefined, after.sp, true]);
  });

  it('aborted transactions change nothing; membership and epoch entries rebuild the node list and epoch', async () => {
    const model = new ApplianceModel(keyedCore(), new MemoryStorage(), new Random(3));
    await model.prepare();
    await model.abort();
    await model.nodeAdded();
    await model.nodeDown();
    await model.raiseEpoch();
    await model.prepare();
    await model.commit();
    const state = await recoverFresh(model.storage);
    expect(recoveredView(state)).toEqual(model.states.at(-1));
    expect(state.epoch).toBe(2n);
    expect([...state.outcomes.values()]).toEqual([false, true]);
    expect(state.downNodes.length).toBe(1);
  });

  it('a PREPARE pending across a checkpoint and a compaction is still the PTL, and commits after it', async () => {
    const model = new ApplianceModel(keyedCore(), new MemoryStorage(), new Random(11));
    for (let i = 0; i < 3; i++) {
      await model.prepare();
      await model.commit();
    }
    await model.prepare();
    await model.checkpoint();
    await model.checkpoint();
    const compaction = await compactLog(model.storage, POOL);
    expect(compaction.droppedBytes).toBeGreaterThan(0);
    let state = await recoverFresh(model.storage);
    expect(recoveredView(state)).toEqual(model.states.at(-1));
    expect(state.pending?.transactionId).toBe(model.pending!.id);
    await model.commit();
    state = await recoverFresh(model.storage);
    expect(recoveredView(state)).toEqual(model.states.at(-1));
  });

  it('compaction keeps the log bounded and recovery exact over a long run', async () => {
    const model = new ApplianceModel(keyedCore(), new MemoryStorage(), new Random(5));
    let largest = 0;
    for (let i = 0; i < 300; i++) {
      await model.step();
      if (i % 25 === 24) {
        await model.checkpoint();
        await compactLog(model.storage, POOL);
        largest = Math.max(largest, await model.storage.logSize());
      }
    }
    const all = model.states.length;
    expect(largest).toBeLessThan(60 * 1024);
    expect((await model.storage.listSnapshots()).length).toBeLessThanOrEqual(2 + 1);
    const state = await recoverFresh(model.storage);
    expect(recoveredView(state)).toEqual(model.states[all - 1]);
    expect(state.entries).toBeLessThan(all);
  });
});

describe('snapshots', () => {
  it('a damaged newest snapshot falls back to the older checkpoint the log still covers', async () => {
    const model = await history(21, 30);
    await model.checkpoint();
    await model.prepare();
    await model.commit();
    await model.checkpoint();
    await model.prepare();
    await model.commit();
    await compactLog(model.storage, POOL);
    const names = (await model.storage.listSnapshots()).sort();
    const newest = names.at(-1)!;
    const bytes = (await model.storage.readSnapshot(newest))!;
    bytes[bytes.length - 3] ^= 0x10;
    await model.storage.writeSnapshot(newest, [bytes]);
    const state = await recoverFresh(model.storage);
    expect(state.snapshot).toBe(names[0]);
    expect(recoveredView(state)).toEqual(model.states.at(-1));
  });

  it('no usable snapshot and a compacted log: LOG_NO_BASE, and nothing changes', async () => {
    const model = await history(22, 10);
    await model.checkpoint();
    await compactLog(model.storage, POOL, 1);
    for (const name of await model.storage.listSnapshots())
      await model.storage.deleteSnapshot(name);
    const before = await model.storage.readLog();
    await expectCode(recoverFresh(model.storage), 38313);
    expect(await model.storage.readLog()).toEqual(before);
  });

  it('an empty log next to snapshots is LOG_NO_BASE, not a fresh appliance', async () => {
    const storage = new MemoryStorage();
    await storage.writeSnapshot('checkpoint-00000000000000000001', keyedCore().snapshotChunks());
    await expectCode(recoverFresh(storage), 38313);
  });

  it('a snapshot no CHECKPOINT entry names (a checkpoint cut short) is ignored, and compaction deletes it', async () => {
    const model = await history(23, 12);
    // What a crash between the snapshot and its CHECKPOINT entry leaves: the next sequence's name.
    const cutShort = checkpointName(model.encoder.last.sequence + 1n);
    await model.storage.writeSnapshot(cutShort, model.core.snapshotChunks());
    const state = await recoverFresh(model.storage);
    expect(recoveredView(state)).toEqual(model.states.at(-1));
    await model.step(); // the next entry takes that sequence; the snapshot stays unnamed
    await model.checkpoint();
    const compaction = await compactLog(model.storage, POOL);
    expect(compaction.deletedSnapshots).toContain(cutShort);
  });

  it('a log rolled back under a newer checkpoint snapshot is refused (38315), torn tail and all left as they were', async () => {
    for (let seed = 1; seed <= 10; seed++) {
      const model = await history(seed, 30);
      const older = (await model.storage.readLog()).slice();
      // More history and a checkpoint after the copy was taken.
      for (let i = 0; i < 5; i++) await model.step();
      await model.checkpoint();
      // The log goes back to the copy (a backup of the file put back, a filesystem rolled back),
      // with a torn append after it; the newer snapshots stay.
      const rolled = new MemoryStorage();
      await rolled.appendLog(Uint8Array.of(...older, 0x48, 0x50), true);
      for (const name of await model.storage.listSnapshots())
        await rolled.writeSnapshot(name, [(await model.storage.readSnapshot(name))!]);
      const error = await expectCode(recoverFresh(rolled), 38315);
      expect(error.message).toMatch(
        /snapshots\/checkpoint-\d{20} was written at log sequence \d+, but the log ends at sequence \d+/,
      );
      expect(await rolled.readLog()).toEqual(Uint8Array.of(...older, 0x48, 0x50));
    }
  });

  it('the request-outcomes blob must name the newest checkpoint, or a later one a crash cut short (38316)', async () => {
    for (let seed = 1; seed <= 10; seed++) {
      const model = await history(seed, 20);
      const commits = async (count: number): Promise<void> => {
        for (let i = 0; i < count; i++) {
          if (model.pending) await model.commit(true);
          await model.prepare();
          await model.commit(true);
        }
      };
      // As runtime.ts writes them: the blob naming the checkpoint, then the checkpoint.
      const older = nextCheckpoint(model.core, model.encoder.last);
      await model.checkpoint();
      await commits(3);
      const newest = nextCheckpoint(model.core, model.encoder.last);
      await model.checkpoint();
      await commits(3);
      // A blob written for a checkpoint that a crash cut short, then more history after the restart.
      const cutShort = nextCheckpoint(model.core, model.encoder.last);
      await commits(3);
      const recoverWith = (blob: {
        present: boolean;
        checkpoint: OutcomesCheckpoint | undefined;
      }): Promise<unknown> =>
        recover(keyedCore(), model.storage, {
          poolId: POOL,
          founders: FOUNDERS,
          requestOutcomes: blob,
        });
      for (const checkpoint of [newest, cutShort, undefined])
        await recoverWith({ present: true, checkpoint });
      await expectCode(recoverWith({ present: false, checkpoint: undefined }), 38316);
      await expectCode(recoverWith({ present: true, checkpoint: older }), 38316);
      await expectCode(
        recoverWith({ present: true, checkpoint: { ...newest, sp: newest.sp ^ 1n } }),
        38316,
      );
      await expectCode(
        recoverWith({ present: true, checkpoint: { ...cutShort, spvv: cutShort.spvv ^ 1 } }),
        38316,
      );
      const beyond = { ...cutShort, sequence: model.encoder.last.sequence + 2n };
      await expectCode(recoverWith({ present: true, checkpoint: beyond }), 38316);
    }
  });

  it('snapshots larger than the IO buffer import in chunks of whole frames', async () => {
    const core = keyedCore();
    const records = Array.from({ length: 400 }, (_, i) =>
      core.encode({ ...sampleUser(`user${i}`, i), salt: new Uint8Array(64).fill(i & 0xff) }),
    );
    for (let i = 0; i < records.length; i += 100) {
      core.apply(
        encodeBatch(
          records.slice(i, i + 100).map((record) => ({
            event: 'CREATE_USR' as const,
            operations: [{ op: 'insert' as const, record }],
          })),
        ),
      );
    }
    const bytes = Buffer.concat(core.snapshotChunks());
    const chunks = splitSnapshot(bytes, 4096);
    expect(chunks.length).toBeGreaterThan(10);
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
    const target = keyedCore();
    expect(target.importSnapshot(chunks).sp).toBe(core.syncPoint().sp);
  });
});

describe('refusals', () => {
  it('corruption before the tail: CANNOT_LOAD_LOG naming the entry, and the log is left as it was', async () => {
    const model = await history(31, 15);
    const log = await model.storage.readLog();
    log[200] ^= 0x01;
    const storage = new MemoryStorage();
    await storage.appendLog(log, true);
    const error = await expectCode(recoverFresh(storage), 37027);
    expect(error.message).toMatch(/offset \d+: LOG_/);
    expect(await storage.readLog()).toEqual(log);
  });

  it("another pool's log is refused", async () => {
    const model = await history(32, 5);
    const error = await expectCode(
      recover(keyedCore(), model.storage, { poolId: POOL + 1n }),
      37027,
    );
    expect(error.message).toMatch(/LOG_WRONG_POOL/);
  });

  it('a core without its Sync-Point key is refused before anything is read', async () => {
    await expectCode(recover(newCore(), new MemoryStorage(), { poolId: POOL }), 38202);
  });

  it('a store that is not empty is refused', async () => {
    const core = keyedCore();
    insertUser(core, 'x');
    await expectCode(recover(core, new MemoryStorage(), { poolId: POOL }), 38207);
  });

  it("a core already holding the last checkpoint's state is used as loaded; any other state is refused", async () => {
    const model = await history(21, 30);
    await model.checkpoint();
    const atCheckpoint = keyedCore();
    atCheckpoint.importSnapshot(model.core.snapshotChunks());
    const other = keyedCore();
    other.importSnapshot(model.core.snapshotChunks());
    await model.prepare();
    await model.commit();
    // The snapshot is not read again: a damaged copy does not matter to a core that holds it.
    const [name] = await model.storage.listSnapshots();
    const bytes = (await model.storage.readSnapshot(name))!;
    bytes[bytes.length - 3] ^= 0x10;
    await model.storage.writeSnapshot(name, [bytes]);
    const state = await recover(atCheckpoint, model.storage, { poolId: POOL, founders: FOUNDERS });
    expect(recoveredView(state)).toEqual(model.states.at(-1));
    insertUser(other, 'zz');
    const log = await model.storage.readLog();
    await expectCode(recover(other, model.storage, { poolId: POOL, founders: FOUNDERS }), 38207);
    expect(await model.storage.readLog()).toEqual(log);
  });

  /** A log on `core` of `entries`, each a body and its transaction. */
  async function logOf(core: Core, entries: [EntryBody, bigint][]): Promise<MemoryStorage> {
    const storage = new MemoryStorage();
    const encoder = new LogEncoder(core, POOL);
    for (const [body, transactionId] of entries)
      await storage.appendLog(encoder.encode(body, { transactionId }), true);
    return storage;
  }

  const mismatches: [string, (core: Core) => [EntryBody, bigint][]][] = [
    [
      'a COMMIT whose SP after differs',
      (core) => {
        const prepare = preparedOn(core);
        return [
          [prepare, 5n],
          [{ ...commitOf(prepare), spAfter: prepare.spAfter ^ 1n }, 5n],
        ];
      },
    ],
    ['a COMMIT without its PREPARE', () => [[{ type: 'commit', spAfter: 1n, spvvAfter: 1 }, 5n]]],
    [
      'two pending PREPAREs',
      (core) => [
        [preparedOn(core), 5n],
        [preparedOn(core), 6n],
      ],
    ],
    [
      'a PREPARE whose SP before is not the state',
      (core) => {
        const prepare = { ...preparedOn(core), spBefore: 12345n };
        return [
          [prepare, 5n],
          [commitOf(prepare), 5n],
        ];
      },
    ],
    [
      'committed and aborted',
      (core) => {
        const prepare = preparedOn(core);
        return [
          [prepare, 5n],
          [commitOf(prepare), 5n],
          [{ type: 'abort', reason: 1 }, 5n],
        ];
      },
    ],
  ];
  it.each(mismatches)('%s: LOG_REPLAY_MISMATCH', async (_name, build) => {
    const core = keyedCore();
    await expectCode(recoverFresh(await logOf(core, build(core))), 38312);
  });

  it('a repeated outcome and an ABORT for a transaction never prepared here are accepted', async () => {
    const core = keyedCore();
    const prepare = preparedOn(core);
    const storage = await logOf(core, [
      [{ type: 'abort', reason: 37001 }, 9n],
      [prepare, 5n],
      [commitOf(prepare), 5n],
      [commitOf(prepare), 5n],
    ]);
    const state = await recoverFresh(storage);
    expect([state.syncPoint.sp, state.outcomes.get(9n), state.outcomes.get(5n)]).toEqual([
      prepare.spAfter,
      false,
      true,
    ]);
  });
});

/** The COMMIT entry body of `prepare`. */
const commitOf = (prepare: PrepareBody) =>
  ({ type: 'commit', spAfter: prepare.spAfter, spvvAfter: prepare.spvvAfter }) as const;

/** Inserts the user `name` into `core` (outside any log). */
const insertUser = (core: Core, name: string) =>
  core.apply(
    encodeBatch([
      {
        event: 'CREATE_USR',
        operations: [{ op: 'insert', record: core.encode(sampleUser(name)) }],
      },
    ]),
  );

/** A PREPARE of one user insert on `core`'s current state (the state is left as it was). */
function preparedOn(core: Core): PrepareBody {
  const body = samplePrepare(core);
  const before = core.syncPoint();
  const after = core.apply(body.batch, true).syncPoint;
  return {
    ...body,
    spBefore: before.sp,
    spvvBefore: before.spvv,
    spAfter: after.sp,
    spvvAfter: after.spvv,
  };
}

describe('checkpoints', () => {
  it('writeCheckpoint names its snapshot by sequence and records what recovery verifies', async () => {
    const core = keyedCore();
    const storage = new MemoryStorage();
    const encoder = new LogEncoder(core, POOL);
    const { name, sequence } = await writeCheckpoint(core, storage, encoder, FOUNDERS);
    expect([name, sequence]).toEqual(['checkpoint-00000000000000000001', 1n]);
    const state = await recoverFresh(storage);
    expect([state.snapshot, state.entries, nodesKey(state.nodes)]).toEqual([
      name,
      1,
      nodesKey(FOUNDERS),
    ]);
  });

  it('a writeCheckpoint refused while another export is open writes nothing and leaves the chain', async () => {
    const core = keyedCore();
    core.apply(
      encodeBatch([
        { event: 'CREATE_USR', operations: [{ op: 'insert', record: core.encode(sampleUser()) }] },
      ]),
    );
    const storage = new MemoryStorage();
    const encoder = new LogEncoder(core, POOL);
    const open = core.exportSnapshot();
    await expect(writeCheckpoint(core, storage, encoder, FOUNDERS)).rejects.toThrow(HsmError);
    open.close();
    expect([await storage.listSnapshots(), await storage.logSize()]).toEqual([[], 0]);
    // The entry it did not write was not chained: the next checkpoint takes its sequence.
    expect(encoder.last.sequence).toBe(0n);
    const { name } = await writeCheckpoint(core, storage, encoder, FOUNDERS);
    expect(name).toBe('checkpoint-00000000000000000001');
    const state = await recoverFresh(storage);
    expect([state.snapshot, state.syncPoint]).toEqual([name, core.syncPoint()]);
  });
});
