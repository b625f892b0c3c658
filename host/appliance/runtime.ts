// One node's replication runtime, shared by the appliance and the simulator: recovers the
// key store and the replica from storage, and persists what the replica decides as
// transaction-log entries before anything it says leaves (persist before you speak).
// Browser-safe: storage and transport come in through interfaces.

import { syncPointHex, type Core } from '../core/core.ts';
import { batchRequestIdsHex } from '../core/batch.ts';
import { LogEncoder, type PrepareBody } from '../core/txlog.ts';
import { CODE, HsmError } from '../core/codes.ts';
import {
  compactLog,
  takeCheckpoint,
  writeCheckpointSnapshot,
  type CheckpointImage,
} from '../log/compaction.ts';
import {
  encodeRequestOutcomeEntries,
  nextCheckpoint,
  readRequestOutcomes,
  REQUEST_OUTCOMES_KEY,
} from '../log/request-outcomes.ts';
import {
  encodeTransactionOutcomes,
  loadTransactionOutcomes,
  TRANSACTION_OUTCOMES_KEY,
} from '../log/transaction-outcomes.ts';
import type { Random } from '../protocol/random.ts';
import { Replica, type Outcome, type Timers } from '../protocol/replica.ts';
import type { LogRecord, MembershipEvents, NodeAddress, NodeId, Ready } from '../protocol/types.ts';
import type { Storage } from '../storage/storage.ts';
import type { Sha256Factory } from '../wire/crypto-engine.ts';
import { nodeIdOfNumber, txIdOfNumber } from '../wire/ids.ts';
import {
  encodeRecords,
  fromPoolNode,
  membershipRecordsBeyond,
  toPoolNode,
  transactionOf,
} from '../log/log-records.ts';
import { recover, type RecoveredState } from '../log/recovery.ts';

/** Log bytes appended since the last checkpoint that trigger the next one (and a compaction). */
export const CHECKPOINT_LOG_BYTES = 16 << 20;
/** The range `hsmpool node --checkpoint-bytes` accepts: from a checkpoint every few entries
 * (fault campaigns) to one per GiB of log. */
export const CHECKPOINT_BYTES_MIN = 4096;
export const CHECKPOINT_BYTES_MAX = 1 << 30;

/** A checkpoint store does not match the log position it is written at (runtime.ts). */

/** What one turn of the flush loop carries out: a Ready, its log entries and, when one is
 * due, the checkpoint of the state those entries leave — all fixed at the same instant. */
export interface Batch {
  readonly ready: Ready;
  /** The entries of `ready.persist`, encoded and chained (empty: nothing to log). */
  readonly bytes: Uint8Array;
  /** Log sequence of the first entry of `bytes`. */
  readonly firstSequence: bigint;
  readonly checkpoint: PendingCheckpoint | undefined;
}

/** A checkpoint taken with its batch, to log once the batch's entries are durable
 * (logCheckpoint), then to write beside the pump (writeCheckpointSnapshot). */
export interface PendingCheckpoint {
  readonly image: CheckpointImage;
  /** The request outcomes of the same instant (request-outcomes.ts), saved with it. */
  readonly requestOutcomes: Uint8Array;
  /** The transaction outcomes of the same instant (transaction-outcomes.ts). */
  readonly transactionOutcomes: Uint8Array;
  /** Membership events logged after the CHECKPOINT entry (nodes fenced, not listed in it). */
  readonly after: readonly LogRecord[];
  readonly afterBytes: Uint8Array;
}

export interface RuntimeOptions {
  readonly id: NodeId;
  readonly poolId: bigint;
  readonly founders: readonly NodeAddress[];
  readonly storage: Storage;
  /** A keyed core with an empty store: recovery fills it (or, with `recovered`, filled). */
  readonly core: Core;
  /** The store already recovered into `core` by recoverStore over a read-only view of this
   * same storage, nothing written since (the CLI's start-up check, which holds the directory's
   * lock): open takes it instead of reading and importing the checkpoint again (0.5-0.7 s of a
   * 1M-key node's start), and only cuts the torn tail it found. */
  readonly recovered?: RecoveredStore;
  readonly random: Random;
  readonly groupCommit?: boolean;
  readonly timers?: Partial<Timers>;
  /** Override CHECKPOINT_LOG_BYTES (tests). */
  readonly checkpointBytes?: number;
  /** The SHA-256 of the request-outcomes blob's checksum (node:crypto's in Node: nodeSha256;
   * default noble's). */
  readonly sha256?: Sha256Factory;
  /** Membership events known beyond the log (a node that just joined by live-sync: its
   * checkpoint lists the members, not the nodes fenced before it joined). Merged, and those
   * recovery did not find are logged (`loggedAtOpen`) so that a restart recovers them too. */
  readonly membership?: MembershipEvents;
}

export class NodeRuntime {
  /** Bytes logged since the last checkpoint (or since recovery). */
  private appendedSinceCheckpoint = 0;
  /** The SP after the last COMMIT encoded (the recovered SP before any): what the store must
   * hold whenever the replica's output was just drained, so what a checkpoint records. */
  private loggedSp: bigint;
  /** A batch taken and not yet stored: the next one may only be taken after it. */
  private unstored = false;
  /** The snapshot of the last checkpoint logged, being written (and the log compacted after
   * it): no other checkpoint is taken meanwhile. */
  snapshotWrite: Promise<boolean> | undefined;
  /** Records `open` appended itself: the membership events given beyond the log. */
  loggedAtOpen: LogRecord[] = [];

  private constructor(
    readonly replica: Replica,
    readonly storage: Storage,
    private readonly encoder: LogEncoder,
    readonly recovered: RecoveredState,
    private readonly poolId: bigint,
    private readonly checkpointBytes: number,
    private readonly sha256: Sha256Factory | undefined,
  ) {
    this.loggedSp = replica.core.syncPoint().sp;
  }

  static async open(options: RuntimeOptions): Promise<NodeRuntime> {
    const { recovered, requestOutcomes, transactionOutcomes } =
      options.recovered ?? (await recoverStore(options));
    if (options.recovered && recovered.tornBytes > 0)
      await options.storage.truncateLog(recovered.logLength);
    const founderIds = new Set(options.founders.map((node) => node.id));
    // A node that joined by live-sync is no founder: its checkpoint and log name it. A node
    // added and later declared down is an added event still (the epoch counts it).
    const known = recovered.addedNodes.map(fromPoolNode).filter((node) => !founderIds.has(node.id));
    const replica = new Replica({
      id: options.id,
      core: options.core,
      random: options.random,
      founders: options.founders,
      groupCommit: options.groupCommit,
      timers: options.timers,
      membership: {
        founders: options.founders,
        added: [...known, ...(options.membership?.added ?? [])],
        down: [...(options.membership?.down ?? [])],
      },
    });
    replica.restore({
      pending:
        recovered.pending &&
        transactionOf(
          recovered.pending.transactionId,
          recovered.pending.epoch,
          recovered.pending.prepare,
        ),
      outcomes: [
        ...transactionOutcomes,
        ...[...recovered.outcomes].map(([id, committed]) => [txIdOfNumber(id), committed] as const),
      ],
      requestOutcomes,
      added: known,
      down: recovered.downNodes.map(nodeIdOfNumber),
    });
    const encoder = new LogEncoder(options.core, options.poolId, recovered.last, recovered.epoch);
    const runtime = new NodeRuntime(
      replica,
      options.storage,
      encoder,
      recovered,
      options.poolId,
      options.checkpointBytes ?? CHECKPOINT_LOG_BYTES,
      options.sha256,
    );
    // Events given beyond the log are logged now. A joined node is restarted with its founders
    // only (its checkpoint names the members, not the nodes fenced or added and fenced before
    // it joined): without these entries it would come back at a lower epoch than its log's,
    // start a transaction at that epoch, and its next recovery would refuse the log
    // (LOG_BROKEN_CHAIN: an entry's epoch below the one before). Found by the simulator.
    runtime.loggedAtOpen = membershipRecordsBeyond(replica.membership.events(), {
      added: new Set(known.map((node) => node.id)),
      down: new Set(recovered.downNodes.map(nodeIdOfNumber)),
    });
    await runtime.persist(runtime.loggedAtOpen);
    return runtime;
  }

  /**
   * Takes what the replica produced: its Ready, the Ready's log entries and, once enough log
   * accumulated, a checkpoint. All of it is fixed here, synchronously: the replica applies a
   * commit to the store when it decides it (or receives the COMMIT) and puts the COMMIT record
   * in its output at that moment, so right after the output is drained the store is exactly
   * the state the log holds once these entries are appended. A checkpoint chosen later, after
   * an await, would hold commits whose records come after its CHECKPOINT entry (issue 11).
   * The caller stores the batch (storeBatch, then storeCheckpoint) before taking the next.
   */
  takeBatch(): Batch {
    if (this.unstored) throw new Error('takeBatch: the previous batch is not stored yet');
    const ready = this.replica.ready();
    const firstSequence = this.encoder.last.sequence + 1n;
    const bytes = encodeRecords(this.encoder, ready.persist);
    this.appendedSinceCheckpoint += bytes.length;
    for (const record of ready.persist) if (record.type === 'commit') this.loggedSp = record.sp;
    // A live-sync donor's frozen view stays open across steps (from BEGIN to the last chunk),
    // and only one export is open at a time: the checkpoint waits for a batch after it closes
    // (the log keeps counting). Taking it then would throw 38405 and stop the node.
    const checkpoint =
      this.appendedSinceCheckpoint >= this.checkpointBytes &&
      !this.snapshotWrite &&
      !this.replica.core.exportHeld
        ? this.takeCheckpoint()
        : undefined;
    this.unstored = bytes.length > 0 || checkpoint !== undefined;
    return { ready, bytes, firstSequence, checkpoint };
  }

  private takeCheckpoint(): PendingCheckpoint {
    this.appendedSinceCheckpoint = 0;
    // The invariant, checked before anything is encoded: the store is at the SP after the
    // last COMMIT logged before the CHECKPOINT entry (else the checkpoint would hold a commit
    // the log lacks, or lack one it has).
    const sp = this.replica.core.syncPoint().sp;
    if (sp !== this.loggedSp)
      throw new HsmError(
        CODE.CHECKPOINT_NOT_AT_LOG_POSITION,
        `checkpoint after entry ${this.encoder.last.sequence}: the store is at SP ${syncPointHex(sp)}, the last COMMIT logged before it at ${syncPointHex(this.loggedSp)}`,
      );
    const members = this.replica.membership.members();
    // The request outcomes name the checkpoint they go with (recovery refuses a missing or
    // older blob, 38316): the CHECKPOINT entry about to be encoded, at this instant's SP.
    const requestOutcomes = encodeRequestOutcomeEntries(
      this.replica.requestOutcomeEntries(),
      nextCheckpoint(this.replica.core, this.encoder.last),
      this.sha256,
    );
    const image = takeCheckpoint(this.replica.core, this.encoder, members.map(toPoolNode));
    // The checkpoint lists the members only: the nodes fenced (and added, then fenced) follow
    // it as entries, so a recovery from it still has every event once compaction dropped the
    // entries before it (without them the node would come back at a lower epoch).
    const after = membershipRecordsBeyond(this.replica.membership.events(), {
      added: new Set(members.map((node) => node.id)),
      down: new Set(),
    });
    const afterBytes = encodeRecords(this.encoder, after);
    this.appendedSinceCheckpoint += afterBytes.length;
    return {
      image,
      requestOutcomes,
      transactionOutcomes: encodeTransactionOutcomes(this.replica.outcomes),
      after,
      afterBytes,
    };
  }

  /** Appends a batch's entries durably (one write, one sync: group commit of the log). */
  async storeBatch(batch: Batch): Promise<void> {
    if (batch.bytes.length > 0) await this.storage.appendLog(batch.bytes, true);
    if (!batch.checkpoint) this.unstored = false;
  }

  /**
   * Logs the checkpoint taken with a batch once the batch is durable: the request and
   * transaction outcomes of its instant (recovery finds those of the log before it only there
   * once compaction drops that log; they must be stored before the entry that names them),
   * then its CHECKPOINT entry and the events after it. The next batch may be taken after this;
   * the snapshot is written beside it (writeCheckpointSnapshot).
   */
  async logCheckpoint(checkpoint: PendingCheckpoint): Promise<void> {
    try {
      await this.storage.writeMeta(REQUEST_OUTCOMES_KEY, checkpoint.requestOutcomes);
      await this.storage.writeMeta(TRANSACTION_OUTCOMES_KEY, checkpoint.transactionOutcomes);
      const { entry } = checkpoint.image;
      const afterBytes = checkpoint.afterBytes;
      const bytes = new Uint8Array(entry.length + afterBytes.length);
      bytes.set(entry);
      bytes.set(afterBytes, entry.length);
      await this.storage.appendLog(bytes, true);
    } catch (error) {
      checkpoint.image.export.close();
      throw error;
    }
    this.unstored = false;
  }

  /**
   * Writes the snapshot of a logged checkpoint from its frozen export while commits go on,
   * then drops the log before the older kept checkpoint, so the log stays bounded (compaction
   * only drops a prefix: appends made meanwhile stay). Resolves true once done, false when the
   * export gave way to a live-sync donor's or a backup's (38405): that checkpoint's entry then
   * names no snapshot (recovery starts from the one before), and another is taken after more
   * log.
   * Rejects on a storage failure (the caller stops the node, as for a failed append).
   */
  writeCheckpointSnapshot(checkpoint: PendingCheckpoint): Promise<boolean> {
    const write = async (): Promise<boolean> => {
      try {
        await writeCheckpointSnapshot(this.storage, checkpoint.image);
      } catch (error) {
        // Taken again after another checkpointBytes of log, as when it is due while a donor
        // holds its export: retaken at once, it would cut short the backup that preempted it.
        if (!(error instanceof HsmError && error.code === CODE.SNAPSHOT_STATE)) throw error;
        return false;
      }
      await compactLog(this.storage, this.poolId);
      return true;
    };
    const written = write().finally(() => {
      if (this.snapshotWrite === written) this.snapshotWrite = undefined;
    });
    this.snapshotWrite = written;
    return written;
  }

  /** Logs a checkpoint and writes its snapshot, one after the other (tests, tools). */
  async storeCheckpoint(checkpoint: PendingCheckpoint): Promise<boolean> {
    await this.logCheckpoint(checkpoint);
    return this.writeCheckpointSnapshot(checkpoint);
  }

  /** Appends records that are no Ready's (those `open` logs) durably. */
  private async persist(records: readonly LogRecord[]): Promise<void> {
    if (records.length === 0) return;
    const bytes = encodeRecords(this.encoder, records);
    await this.storage.appendLog(bytes, true);
    this.appendedSinceCheckpoint += bytes.length;
  }
}

/** A recovered store: the state recovery found and the outcomes a restarted node answers
 * retries from. */
export interface RecoveredStore {
  readonly recovered: RecoveredState;
  readonly requestOutcomes: [string, Outcome][];
  readonly transactionOutcomes: Awaited<ReturnType<typeof loadTransactionOutcomes>>;
}

/** Recovers the store and log into `options.core`. `cutTornTail: false` (a read-only view)
 * leaves a torn tail in place: `recovered.tornBytes` and `logLength` say where to cut. */
export async function recoverStore(
  options: Pick<RuntimeOptions, 'core' | 'storage' | 'poolId' | 'founders' | 'sha256'> & {
    readonly cutTornTail?: boolean;
  },
): Promise<RecoveredStore> {
  // The outcomes kept with the last checkpoint first, then those of the commits in the log.
  const blob = await readRequestOutcomes(options.storage, options.sha256);
  const requestOutcomes: [string, Outcome][] = blob?.outcomes ?? [];
  // Likewise the transaction outcomes: a no-vote's ABORT entry may be compacted away.
  const transactionOutcomes = await loadTransactionOutcomes(options.storage);
  const onCommit = (
    transactionId: bigint,
    prepare: PrepareBody,
    results: readonly number[],
  ): void => {
    batchRequestIdsHex(prepare.batch).forEach((id, i) => {
      if (id) requestOutcomes.push([id, { code: results[i], txid: txIdOfNumber(transactionId) }]);
    });
  };
  const recovered = await recover(options.core, options.storage, {
    poolId: options.poolId,
    founders: options.founders.map(toPoolNode),
    onCommit,
    requestOutcomes: { present: blob !== undefined, checkpoint: blob?.checkpoint },
    cutTornTail: options.cutTornTail,
  });
  return { recovered, requestOutcomes, transactionOutcomes };
}
