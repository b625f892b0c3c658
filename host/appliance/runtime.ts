// One node's replication runtime, shared by the appliance and the simulator: recovers the
// key store and the replica from storage, and persists what the replica decides as
// transaction-log entries before anything it says leaves (persist before you speak).
// Browser-safe: storage and transport come in through interfaces.

import type { Core } from '../core/core.ts';
import { batchRequestIdsHex } from '../core/batch.ts';
import { LogEncoder, type PrepareBody } from '../core/txlog.ts';
import { compactLog, writeCheckpoint } from '../storage/compaction.ts';
import { nextCheckpoint, readRequestOutcomes, saveRequestOutcomes } from './request-outcomes.ts';
import type { Random } from '../protocol/random.ts';
import { Replica, type Outcome, type Timers } from '../protocol/replica.ts';
import { restore } from '../protocol/restore.ts';
import type { LogRecord, MembershipEvents, NodeAddress, NodeId, Ready } from '../protocol/types.ts';
import { concatBytes, type Storage } from '../storage/storage.ts';
import { fromPoolNode, toEntry, toHex, toPoolNode, transactionOf } from './log-records.ts';
import { recover, type RecoveredState } from './recovery.ts';

/** Log bytes appended since the last checkpoint that trigger the next one (and a compaction). */
export const CHECKPOINT_LOG_BYTES = 16 << 20;

export interface RuntimeOptions {
  readonly id: NodeId;
  readonly poolId: bigint;
  readonly founders: readonly NodeAddress[];
  readonly storage: Storage;
  /** A keyed core with an empty store: recovery fills it. */
  readonly core: Core;
  readonly random: Random;
  readonly groupCommit?: boolean;
  readonly timers?: Partial<Timers>;
  /** Override CHECKPOINT_LOG_BYTES (tests). */
  readonly checkpointBytes?: number;
  /** Membership events known beyond the log (a node that just joined by live-sync: its
   * checkpoint lists the members, not the nodes fenced before it joined). Merged, and those
   * recovery did not find are logged (`loggedAtOpen`) so that a restart recovers them too. */
  readonly membership?: MembershipEvents;
}

export class NodeRuntime {
  /** Bytes appended since the last checkpoint (or since recovery). */
  private appendedSinceCheckpoint = 0;
  /** Records `open` appended itself: the membership events given beyond the log. */
  loggedAtOpen: LogRecord[] = [];

  private constructor(
    readonly replica: Replica,
    readonly storage: Storage,
    private readonly encoder: LogEncoder,
    readonly recovered: RecoveredState,
    private readonly poolId: bigint,
    private readonly checkpointBytes: number,
  ) {}

  static async open(options: RuntimeOptions): Promise<NodeRuntime> {
    // The outcomes kept with the last checkpoint first, then those of the commits in the log.
    const blob = await readRequestOutcomes(options.storage);
    const requestOutcomes: [string, Outcome][] = blob?.outcomes ?? [];
    const onCommit = (
      transactionId: bigint,
      prepare: PrepareBody,
      results: readonly number[],
    ): void => {
      batchRequestIdsHex(prepare.batch).forEach((id, i) => {
        if (id) requestOutcomes.push([id, { code: results[i], txid: toHex(transactionId) }]);
      });
    };
    const recovered = await recover(options.core, options.storage, {
      poolId: options.poolId,
      founders: options.founders.map(toPoolNode),
      onCommit,
      requestOutcomes: { present: blob !== undefined, checkpoint: blob?.checkpoint },
    });
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
    restore(replica, {
      pending:
        recovered.pending &&
        transactionOf(
          recovered.pending.transactionId,
          recovered.pending.epoch,
          recovered.pending.prepare,
        ),
      outcomes: [...recovered.outcomes].map(([id, committed]) => [toHex(id), committed] as const),
      requestOutcomes,
      added: known,
      down: recovered.downNodes.map(toHex),
    });
    const encoder = new LogEncoder(options.core, options.poolId, recovered.last, recovered.epoch);
    const runtime = new NodeRuntime(
      replica,
      options.storage,
      encoder,
      recovered,
      options.poolId,
      options.checkpointBytes ?? CHECKPOINT_LOG_BYTES,
    );
    // Events given beyond the log are logged now. A joined node is restarted with its founders
    // only (its checkpoint names the members, not the nodes fenced or added and fenced before
    // it joined): without these entries it would come back at a lower epoch than its log's,
    // start a transaction at that epoch, and its next recovery would refuse the log
    // (LOG_BROKEN_CHAIN: an entry's epoch below the one before). Found by the simulator.
    runtime.loggedAtOpen = runtime.eventsBeyond(
      new Set(known.map((node) => node.id)),
      new Set(recovered.downNodes.map(toHex)),
    );
    await runtime.persist(runtime.loggedAtOpen);
    return runtime;
  }

  /** Membership events as log records, except the nodes added and the nodes down the log
   * already says (a checkpoint's node list says which nodes are members, nothing more). */
  private eventsBeyond(added: ReadonlySet<NodeId>, down: ReadonlySet<NodeId>): LogRecord[] {
    const events = this.replica.membership.events();
    const epoch = this.replica.membership.epoch;
    return [
      ...events.added
        .filter((node) => !added.has(node.id))
        .map((node): LogRecord => ({ type: 'node-added', node, epoch })),
      ...events.down
        .filter((id) => !down.has(id))
        .map((node): LogRecord => ({ type: 'node-down', node, epoch })),
    ];
  }

  takeReady(): Ready {
    return this.replica.ready();
  }

  /** Log entries for records, chained after the last one encoded. */
  encode(records: readonly LogRecord[]): Uint8Array {
    const parts = records.map((record) => {
      const entry = toEntry(record);
      return this.encoder.encode(entry.body, {
        transactionId: entry.transactionId,
        epoch: entry.epoch,
      });
    });
    return parts.length === 1 ? parts[0] : concatBytes(parts);
  }

  /** Appends the records durably (one write, one sync: group commit of the log). */
  async persist(records: readonly LogRecord[]): Promise<void> {
    if (records.length === 0) return;
    const bytes = this.encode(records);
    await this.storage.appendLog(bytes, true);
    this.appendedSinceCheckpoint += bytes.length;
  }

  /**
   * Once enough log accumulated: snapshot the key store, log a CHECKPOINT naming it, and drop
   * the log before the older kept checkpoint, so the log stays bounded. The caller must not
   * append meanwhile (the appliance calls it from its flush loop, the only appender).
   */
  async checkpointIfDue(): Promise<boolean> {
    if (this.appendedSinceCheckpoint < this.checkpointBytes) return false;
    this.appendedSinceCheckpoint = 0;
    const members = this.replica.membership.members();
    // Before the checkpoint: once compaction drops the log before it, recovery finds the
    // outcomes of the writes committed there only in this blob.
    await saveRequestOutcomes(
      this.storage,
      this.replica.requestOutcomes,
      nextCheckpoint(this.replica.core, this.encoder.last),
    );
    await writeCheckpoint(this.replica.core, this.storage, this.encoder, members.map(toPoolNode));
    // The checkpoint lists the members only: the nodes fenced (and added, then fenced) follow
    // it as entries, so a recovery from it still has every event once compaction dropped the
    // entries before it (without them the node would come back at a lower epoch).
    await this.persist(this.eventsBeyond(new Set(members.map((node) => node.id)), new Set()));
    await compactLog(this.replica.core, this.storage, this.poolId);
    return true;
  }
}
