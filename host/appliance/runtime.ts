// One node's replication runtime, shared by the appliance and the simulator: recovers the
// key store and the replica from storage, and persists what the replica decides as
// transaction-log entries before anything it says leaves (persist before you speak).
// Browser-safe: storage and transport come in through interfaces.

import type { Core } from '../core/core.ts';
import { batchRequestIdsHex } from '../core/batch.ts';
import { LogEncoder, type PrepareBody } from '../core/txlog.ts';
import { compactLog, writeCheckpoint } from '../storage/compaction.ts';
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
   * checkpoint lists the members, not the nodes fenced before it joined). Merged, not logged. */
  readonly membership?: MembershipEvents;
}

export class NodeRuntime {
  /** Bytes appended since the last checkpoint (or since recovery). */
  private appendedSinceCheckpoint = 0;

  private constructor(
    readonly replica: Replica,
    readonly storage: Storage,
    private readonly encoder: LogEncoder,
    readonly recovered: RecoveredState,
    private readonly poolId: bigint,
    private readonly checkpointBytes: number,
  ) {}

  static async open(options: RuntimeOptions): Promise<NodeRuntime> {
    const requestOutcomes: [string, Outcome][] = [];
    const onCommit = (transactionId: bigint, prepare: PrepareBody, results: readonly number[]): void => {
      batchRequestIdsHex(prepare.batch).forEach((id, i) => {
        if (id) requestOutcomes.push([id, { code: results[i], txid: toHex(transactionId) }]);
      });
    };
    const recovered = await recover(options.core, options.storage, { poolId: options.poolId, founders: options.founders.map(toPoolNode), onCommit });
    const founderIds = new Set(options.founders.map((node) => node.id));
    // A node that joined by live-sync is no founder: its checkpoint and log name it.
    const known = recovered.nodes.map(fromPoolNode).filter((node) => !founderIds.has(node.id));
    const replica = new Replica({
      id: options.id, core: options.core, random: options.random, founders: options.founders,
      groupCommit: options.groupCommit, timers: options.timers,
      membership: { founders: options.founders, added: [...known, ...(options.membership?.added ?? [])], down: [...(options.membership?.down ?? [])] },
    });
    restore(replica, {
      pending: recovered.pending && transactionOf(recovered.pending.transactionId, recovered.pending.epoch, recovered.pending.prepare),
      outcomes: [...recovered.outcomes].map(([id, committed]) => [toHex(id), committed] as const),
      requestOutcomes,
      added: recovered.nodes.map(fromPoolNode).filter((node) => !founderIds.has(node.id)),
      down: recovered.downNodes.map(toHex),
    });
    const encoder = new LogEncoder(options.core, options.poolId, recovered.last, recovered.epoch);
    return new NodeRuntime(replica, options.storage, encoder, recovered, options.poolId, options.checkpointBytes ?? CHECKPOINT_LOG_BYTES);
  }

  takeReady(): Ready {
    return this.replica.ready();
  }

  /** Log entries for records, chained after the last one encoded. */
  encode(records: readonly LogRecord[]): Uint8Array {
    const parts = records.map((record) => {
      const entry = toEntry(record);
      return this.encoder.encode(entry.body, { transactionId: entry.transactionId, epoch: entry.epoch });
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
    await writeCheckpoint(this.replica.core, this.storage, this.encoder, this.replica.membership.members().map(toPoolNode));
    await compactLog(this.replica.core, this.storage, this.poolId);
    return true;
  }
}
