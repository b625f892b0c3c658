// A coordinator that restarts with its PREPARE durable and no decision settles at once what
// the votes already settle (host/protocol/restore.ts). A pool's only member (the others
// declared down) holds transactions without participants: no vote can come, and before the
// fix it stayed VIRTUAL for ever while every later write waited behind it (simulator seed
// 8334). Here a one-node pool's log is cut right after such a PREPARE, as a crash between
// the two appends leaves it.

import { expect, it } from 'vitest';
import type { NodeRuntime } from '../../host/appliance/runtime.ts';
import { H_BODY_LENGTH, LOG_HEADER_SIZE } from '../../host/core/txlog-layout.ts';
import { MemoryStorage } from '../../host/storage/memory.ts';
import { objectWrites, openLoneRuntime } from '../pool-writes.ts';

const write = objectWrites(881);
/** Each start draws its own transaction ids, as a real node's does (same seed: same ids). */
const open = (storage: MemoryStorage, seed: number): Promise<NodeRuntime> =>
  openLoneRuntime(storage, seed);

/** Takes the runtime's batches and stores them whole until it has nothing more to say. */
async function settle(runtime: NodeRuntime): Promise<void> {
  while (runtime.replica.hasReady()) await runtime.storeBatch(runtime.takeBatch());
}

it('a sole coordinator restarted after its PREPARE commits it at once, and its queue goes on', async () => {
  const storage = new MemoryStorage();
  const first = await open(storage, 1);
  const input = write('left-prepared');
  first.replica.request({ kind: 'write', ...input });
  // The batch holds the PREPARE and the COMMIT (no participant to wait for); only the
  // PREPARE reaches the disk.
  const batch = first.takeBatch();
  const records = batch.ready.persist.map((record) => record.type);
  expect(records).toEqual(['prepare', 'commit']);
  const view = new DataView(batch.bytes.buffer, batch.bytes.byteOffset);
  const prepareLength = LOG_HEADER_SIZE + view.getUint32(H_BODY_LENGTH, true);
  await storage.appendLog(batch.bytes.subarray(0, prepareLength), true);

  const restarted = await open(storage, 2);
  expect(restarted.recovered.pending?.prepare).toBeDefined();
  // Decided in the restore: the COMMIT is ready to log, the PTL is free.
  expect(restarted.replica.hasReady()).toBe(true);
  await settle(restarted);
  expect(restarted.replica.status().pending).toEqual([]);
  expect(restarted.replica.requestOutcomes.get(input.requestId)?.code).toBe(0);
  // A later write is not held behind it.
  const next = write('after');
  restarted.replica.request({ kind: 'write', ...next });
  await settle(restarted);
  expect(restarted.replica.requestOutcomes.get(next.requestId)?.code).toBe(0);
  // And a restart from that log holds both, nothing pending.
  const again = await open(storage, 3);
  expect(again.recovered.pending).toBeUndefined();
  expect(again.replica.core.count()).toBe(restarted.replica.core.count());
  expect(again.replica.core.syncPoint().sp).toBe(restarted.replica.core.syncPoint().sp);
});
