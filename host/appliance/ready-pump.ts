// The Ready pump: the one loop that carries a replica's output out, used by every appliance
// (real nodes, in-process pools, the page) and by the simulator. Persist before you speak:
// each turn takes a batch (runtime.takeBatch), sends its early messages (those that promise
// nothing: a coordinator's PREPARE), makes its log entries durable, THEN sends its messages,
// THEN delivers its client replies, and only then logs the checkpoint taken with it (its
// CHECKPOINT entry). The checkpoint's snapshot is written beside the pump, from the store's
// frozen view, while the next batches go on. The replica goes on deciding while storage works;
// what it decides meanwhile is the next turn's batch. Browser-safe.

import type { ClientReply, Envelope } from '../protocol/types.ts';
import type { Batch, NodeRuntime } from './runtime.ts';

/** Where a pump's output goes, and the points at which its caller looks on (the simulator
 * crashes the node at them). The pump stops as soon as `running()` turns false. */
export interface ReadySink {
  /** Whether the node still runs (false after a crash or a fail-stop). */
  running(): boolean;
  send(envelope: Envelope): void;
  reply(reply: ClientReply): void;
  /** A batch was taken and its early messages sent; its entries are about to be written. */
  taken?(batch: Batch): Promise<void> | void;
  /** The batch's entries are durable; nothing of it was sent yet. */
  persisted?(batch: Batch): void;
  /** The batch's messages and replies are out; its checkpoint (if any) is not logged yet. */
  sent?(batch: Batch): void;
  /** The checkpoint taken with the batch is logged (its CHECKPOINT entry is durable); its
   * snapshot is being written. */
  checkpointLogged?(batch: Batch): Promise<void> | void;
  /** The checkpoint's snapshot is stored and the log compacted (`stored`), or its export gave
   * way to a live-sync donor's or a backup's (`false`: another is taken later). Called while
   * the node still runs only. */
  checkpointStored?(batch: Batch, stored: boolean): Promise<void> | void;
  /** Writing the checkpoint's snapshot, or compacting after it, failed (storage): the caller
   * stops the node, as it does when the pump throws. */
  checkpointFailed?(error: unknown): void;
}

/** Runs until the replica has nothing more to carry out (or the node stops). At most one pump
 * per runtime at a time: takeBatch refuses a batch while the previous one is not stored. */
export async function pumpReady(runtime: NodeRuntime, sink: ReadySink): Promise<void> {
  while (sink.running() && runtime.replica.hasReady()) {
    const batch = runtime.takeBatch();
    const { checkpoint } = batch;
    let handedOn = false;
    try {
      // What promises nothing leaves at once, while the batch is written (Ready.early).
      for (const envelope of batch.ready.early) sink.send(envelope);
      await sink.taken?.(batch);
      if (!sink.running()) return;
      await runtime.storeBatch(batch);
      if (!sink.running()) return;
      sink.persisted?.(batch);
      if (!sink.running()) return;
      for (const envelope of batch.ready.messages) sink.send(envelope);
      for (const reply of batch.ready.replies) sink.reply(reply);
      sink.sent?.(batch);
      if (!sink.running() || !checkpoint) continue;
      await runtime.logCheckpoint(checkpoint);
      if (!sink.running()) return;
      handedOn = true;
      runtime
        .writeCheckpointSnapshot(checkpoint)
        .then(async (stored) => {
          if (sink.running()) await sink.checkpointStored?.(batch, stored);
        })
        .catch((error: unknown) => {
          if (sink.running()) sink.checkpointFailed?.(error);
        });
      await sink.checkpointLogged?.(batch);
    } finally {
      // A checkpoint not handed on to its snapshot write is dropped with its export (the node
      // stopped, or storage failed).
      if (checkpoint && !handedOn) checkpoint.image.export.close();
    }
  }
}
