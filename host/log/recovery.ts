// Restart after a crash: the newest valid snapshot plus the log after it give back the key
// store, the Sync-Point, the pending transaction (PTL), the node list and the epoch exactly
// as they were. Pure except through the Storage interface; runs in Node and in browsers.
//
// 1. Scan the log (host/core/txlog.ts). Corruption before the tail is refused with 37027
//    CANNOT_LOAD_LOG and nothing is changed; a torn tail is cut (durably) and we go on.
// 2. The base: the newest CHECKPOINT entry in the log whose snapshot imports and gives the
//    SP, SPVV and record count the entry recorded; older checkpoints are tried in turn. With
//    none, a log that starts at sequence 1 replays from an empty store; otherwise 38313
//    LOG_NO_BASE. Snapshots no CHECKPOINT entry names (a joiner's checkpoint cut short by a
//    crash) are never used: nothing says which log position they match. A CHECKPOINT entry
//    whose snapshot is missing (a running node logs the entry first and writes the snapshot
//    after it: compaction.ts) is passed over for an older one, and replayed through.
// 3. Replay. Entries up to the base only resolve transactions (the snapshot holds their
//    effects), so a PREPARE pending at the checkpoint is still known. After the base:
//    PREPARE becomes pending; COMMIT applies its batch, checking the SP before against the
//    PREPARE's and the SP after against both entries (38312 LOG_REPLAY_MISMATCH otherwise);
//    ABORT drops it; NODE_ADDED / NODE_DOWN edit the node list; a later CHECKPOINT (whose
//    snapshot was unusable) must match the replayed SP. The epoch is the highest any entry
//    carries or raises to. A PREPARE left without outcome is the PTL.
// 4. Before anything is cut: a `checkpoint-<n>` snapshot beyond the log's end + 1 means the log
//    was rolled back (38315 LOG_ROLLED_BACK); a log with a node-written checkpoint needs the
//    request-outcomes blob written for it (38316 REQUEST_OUTCOMES_MISSING, when the caller
//    passes what it found). Only then is a torn tail cut.

import { CODE, HsmError } from '../core/codes.ts';
import type { Core, SyncPoint } from '../core/core.ts';
import {
  LOG_START,
  parseEntry,
  scanLog,
  type ChainPosition,
  type CheckpointBody,
  type EpochRaisedBody,
  type LogEntry,
  type PoolNode,
  type PrepareBody,
  type ScannedEntry,
} from '../core/txlog.ts';
import { SNAPSHOT_HEADER_SIZE } from '../core/layout.ts';
import type { Storage } from '../storage/storage.ts';
import type { OutcomesCheckpoint } from './request-outcomes.ts';
import { toHex64 } from '../wire/bytes.ts';

/** The snapshots checkpoints write (compaction.ts checkpointName): their name says their sequence. */
const CHECKPOINT_NAME = /^checkpoint-(\d{20})$/;
/** Snapshot bytes handed to the core per import call (whole frames; below the IO buffer). */
const SNAPSHOT_IMPORT_CHUNK = 1 << 20;
const FRAME_HEADER_SIZE = 4;

/** A transaction prepared here and not resolved: the PTL entry, with all it needs to commit. */
export interface PendingTransaction {
  readonly transactionId: bigint;
  readonly epoch: bigint;
  readonly sequence: bigint;
  readonly prepare: PrepareBody;
}

export interface RecoveredState {
  readonly syncPoint: SyncPoint;
  /** The PTL: a PREPARE without COMMIT or ABORT. */
  readonly pending: PendingTransaction | undefined;
  /** The node list: the base checkpoint's (or the founders), edited by NODE_ADDED and NODE_DOWN. */
  readonly nodes: readonly PoolNode[];
  /** Nodes declared down in the replayed log (fenced). */
  readonly downNodes: readonly bigint[];
  /** Every node the base checkpoint lists or a NODE_ADDED after it added, fenced since or not:
   * the membership's added events (a node added and then declared down counts in the epoch). */
  readonly addedNodes: readonly PoolNode[];
  readonly epoch: bigint;
  /** The last entry: continue the chain with new LogEncoder(core, poolId, last, epoch). */
  readonly last: ChainPosition;
  /** Transactions decided in the log: true = committed (answers late and duplicate messages). */
  readonly outcomes: ReadonlyMap<bigint, boolean>;
  /** The snapshot the store was loaded from (undefined: replayed from an empty store). */
  readonly snapshot: string | undefined;
  readonly entries: number;
  /** Bytes of log kept, and bytes of torn tail cut off. */
  readonly logLength: number;
  readonly tornBytes: number;
}

export interface RecoveryOptions {
  readonly poolId: bigint;
  /** Called for each transaction committed while replaying the log after the base, with the
   * per-write result codes (the replica rebuilds its request-id outcomes from them). */
  readonly onCommit?: (
    transactionId: bigint,
    prepare: PrepareBody,
    writeResults: readonly number[],
  ) => void;
  /** The node list of a log that starts at sequence 1 (the pool's founders). */
  readonly founders?: readonly PoolNode[];
  /** false: a dry run (the start-up check) that only measures a torn tail. Default true. */
  readonly cutTornTail?: boolean;
  /** The request-outcomes blob found (request-outcomes.ts): a log whose checkpoints were written
   * after one needs it, and the right one (38316). Absent: not checked. */
  readonly requestOutcomes?: {
    readonly present: boolean;
    readonly checkpoint: OutcomesCheckpoint | undefined;
  };
}

interface Base {
  /** Index in the scanned entries of the CHECKPOINT used, or -1 (empty store, log from sequence 1). */
  readonly index: number;
  readonly checkpoint: CheckpointBody | undefined;
}

function mismatch(detail: string): never {
  throw new HsmError(CODE.LOG_REPLAY_MISMATCH, detail);
}

/** Scans the log; refuses corruption; measures a torn tail (cut once recovery succeeds). */
async function readLog(
  core: Core,
  storage: Storage,
  poolId: bigint,
): Promise<{ log: Uint8Array; entries: ScannedEntry[]; tornBytes: number; last: ChainPosition }> {
  const log = await storage.readLog();
  const entries: ScannedEntry[] = [];
  const scan = scanLog(core, log, { poolId }, (entry) => entries.push(entry));
  if (scan.code === CODE.CANNOT_LOAD_LOG) {
    throw new HsmError(
      CODE.CANNOT_LOAD_LOG,
      `log entry at offset ${scan.damage?.offset}: ${scan.damage?.name}; valid data follows at offset ${scan.witnessOffset}`,
    );
  }
  const tornBytes = log.length - scan.validLength;
  return { log: log.subarray(0, scan.validLength), entries, tornBytes, last: scan.last };
}

function entryAt(log: Uint8Array, entry: ScannedEntry): LogEntry {
  return parseEntry(log.subarray(entry.offset, entry.offset + entry.length));
}

/** Splits snapshot bytes into the header and chunks of whole frames for the core. */
export function splitSnapshot(bytes: Uint8Array, chunkSize = SNAPSHOT_IMPORT_CHUNK): Uint8Array[] {
  const chunks = [bytes.subarray(0, Math.min(bytes.length, SNAPSHOT_HEADER_SIZE))];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let start = SNAPSHOT_HEADER_SIZE;
  let at = start;
  while (at < bytes.length) {
    const frame =
      at + FRAME_HEADER_SIZE <= bytes.length
        ? FRAME_HEADER_SIZE + view.getUint32(at, true)
        : bytes.length - at;
    if (at > start && at + frame - start > chunkSize) {
      chunks.push(bytes.subarray(start, at));
      start = at;
    }
    at = Math.min(bytes.length, at + frame);
  }
  if (at > start) chunks.push(bytes.subarray(start, at));
  return chunks;
}

/** Loads a checkpoint's snapshot; false (store left empty) if it is missing, corrupt or not what the entry recorded. */
async function loadCheckpoint(
  core: Core,
  storage: Storage,
  checkpoint: CheckpointBody,
): Promise<boolean> {
  const bytes = await storage.readSnapshot(checkpoint.snapshotName);
  if (!bytes) return false;
  let syncPoint: SyncPoint;
  try {
    syncPoint = core.importSnapshot(splitSnapshot(bytes));
  } catch (error) {
    if (error instanceof HsmError) return false;
    throw error;
  }
  if (isCheckpointState(syncPoint, checkpoint)) return true;
  core.clear();
  return false;
}

function isCheckpointState(syncPoint: SyncPoint, checkpoint: CheckpointBody): boolean {
  return (
    syncPoint.sp === checkpoint.sp &&
    syncPoint.spvv === checkpoint.spvv &&
    BigInt(syncPoint.count) === checkpoint.recordCount
  );
}

async function chooseBase(
  core: Core,
  storage: Storage,
  log: Uint8Array,
  entries: readonly ScannedEntry[],
  held: SyncPoint | undefined,
): Promise<Base> {
  for (let i = entries.length - 1; i >= 0; i--) {
    if (entries[i].type !== 'checkpoint') continue;
    const checkpoint = entryAt(log, entries[i]).body as CheckpointBody;
    if (held) {
      if (isCheckpointState(held, checkpoint)) return { index: i, checkpoint };
      throw new HsmError(
        CODE.STORE_NOT_EMPTY,
        "the store does not hold the last checkpoint's state",
      );
    }
    if (await loadCheckpoint(core, storage, checkpoint)) return { index: i, checkpoint };
  }
  if (entries.length > 0 && entries[0].sequence === 1n) return { index: -1, checkpoint: undefined };
  if (entries.length === 0 && (await storage.listSnapshots()).length === 0)
    return { index: -1, checkpoint: undefined };
  const first =
    entries.length > 0
      ? `the log starts at sequence ${entries[0].sequence}`
      : 'the log is empty but snapshots exist';
  throw new HsmError(CODE.LOG_NO_BASE, `no usable checkpoint snapshot and ${first}`);
}

/**
 * A log rolled back under newer snapshots: a snapshot `checkpoint-<n>` holds the state after
 * entry n − 1 and is named by the CHECKPOINT entry at sequence n, so one whose n is past the
 * log's last sequence + 1 was written after entries this log no longer has (a joiner that
 * crashes between its snapshot and its entry leaves n = last + 1 exactly: unused).
 */
async function refuseRolledBack(storage: Storage, last: ChainPosition): Promise<void> {
  for (const name of (await storage.listSnapshots()).sort()) {
    const match = CHECKPOINT_NAME.exec(name);
    if (!match) continue;
    const sequence = BigInt(match[1]);
    if (sequence > last.sequence + 1n)
      throw new HsmError(
        CODE.LOG_ROLLED_BACK,
        `snapshots/${name} was written at log sequence ${sequence}, but the log ends at sequence ${last.sequence}: the log was rolled back`,
      );
  }
}

/**
 * Every checkpoint a node writes (runtime.ts, and a joiner's first one) is preceded by the
 * request-outcomes blob naming it, so once compaction may have dropped commits from the log the
 * blob is the only record of their outcomes. The blob must name the newest such checkpoint in
 * the log (its sequence, SP and SPVV), or a later one that a crash cut short after the blob was
 * written (a sequence up to the log's end + 1 whose SP is the replay's after the entry before
 * it: a newer blob holds every outcome the older would, outcomes never change). An older blob,
 * another log's, or none at all is refused. A version-1 blob names no checkpoint: taken as is.
 */
function refuseWrongOutcomes(
  log: Uint8Array,
  entries: readonly ScannedEntry[],
  last: ChainPosition,
  blob: NonNullable<RecoveryOptions['requestOutcomes']>,
  spBefore: SyncPoint | undefined,
): void {
  let newest: { sequence: bigint; body: CheckpointBody } | undefined;
  for (let i = entries.length - 1; i >= 0 && !newest; i--) {
    if (entries[i].type !== 'checkpoint') continue;
    const body = entryAt(log, entries[i]).body as CheckpointBody;
    if (CHECKPOINT_NAME.test(body.snapshotName)) newest = { sequence: entries[i].sequence, body };
  }
  if (!newest) return;
  const file = 'meta/request-outcomes';
  if (!blob.present)
    throw new HsmError(
      CODE.REQUEST_OUTCOMES_MISSING,
      `${file} is missing, but the log's checkpoint at sequence ${newest.sequence} was written after it: retried writes could run twice`,
    );
  const named = blob.checkpoint;
  if (!named) return;
  const matches =
    named.sequence === newest.sequence
      ? named.sp === newest.body.sp && named.spvv === newest.body.spvv
      : named.sequence > newest.sequence &&
        named.sequence <= last.sequence + 1n &&
        spBefore !== undefined &&
        named.sp === spBefore.sp &&
        named.spvv === spBefore.spvv;
  if (!matches)
    throw new HsmError(
      CODE.REQUEST_OUTCOMES_MISSING,
      `${file} belongs with a checkpoint at sequence ${named.sequence} (SP ${toHex64(named.sp).toUpperCase()}), not with this log, whose newest is at sequence ${newest.sequence} (SP ${toHex64(newest.body.sp).toUpperCase()})`,
    );
}

/** The replay: state that is not in the key store. */
class Replay {
  pending: PendingTransaction | undefined;
  readonly outcomes = new Map<bigint, boolean>();
  readonly nodes = new Map<bigint, PoolNode>();
  readonly downNodes = new Set<bigint>();
  readonly addedNodes = new Map<bigint, PoolNode>();
  epoch = 0n;

  constructor(
    private readonly core: Core,
    private readonly log: Uint8Array,
    founders: readonly PoolNode[],
    private readonly onCommit?: RecoveryOptions['onCommit'],
  ) {
    for (const node of founders) this.nodes.set(node.id, node);
  }

  /** An entry up to the base: only transaction outcomes matter (the snapshot holds the rest). */
  beforeBase(scanned: ScannedEntry): void {
    this.raiseEpoch(scanned.epoch);
    if (scanned.type === 'prepare') this.prepare(entryAt(this.log, scanned));
    else if (scanned.type === 'commit' || scanned.type === 'abort')
      this.resolve(scanned, scanned.type === 'commit');
    else if (scanned.type === 'epoch-raised')
      this.raiseEpoch((entryAt(this.log, scanned).body as EpochRaisedBody).epoch);
  }

  /** The base CHECKPOINT: its node list replaces what came before. */
  atBase(scanned: ScannedEntry, checkpoint: CheckpointBody): void {
    this.raiseEpoch(scanned.epoch);
    this.nodes.clear();
    for (const node of checkpoint.nodes) this.nodes.set(node.id, node);
    for (const node of checkpoint.nodes) this.addedNodes.set(node.id, node);
  }

  afterBase(scanned: ScannedEntry): void {
    this.raiseEpoch(scanned.epoch);
    const entry = entryAt(this.log, scanned);
    const body = entry.body;
    if (body.type === 'prepare') this.prepare(entry);
    else if (body.type === 'commit') this.commit(scanned, body.spAfter, body.spvvAfter);
    else if (body.type === 'abort') this.resolve(scanned, false);
    else if (body.type === 'node-added') {
      this.nodes.set(body.node.id, body.node);
      this.addedNodes.set(body.node.id, body.node);
      this.downNodes.delete(body.node.id);
    } else if (body.type === 'node-down') {
      this.nodes.delete(body.nodeId);
      this.downNodes.add(body.nodeId);
    } else if (body.type === 'epoch-raised') this.raiseEpoch(body.epoch);
    else this.laterCheckpoint(scanned, body);
  }

  private raiseEpoch(epoch: bigint): void {
    if (epoch > this.epoch) this.epoch = epoch;
  }

  private prepare(entry: LogEntry): void {
    const id = entry.transactionId;
    if (this.pending)
      mismatch(
        `PREPARE ${toHex64(id)} at sequence ${entry.sequence} while ${toHex64(this.pending.transactionId)} is pending`,
      );
    if (this.outcomes.has(id))
      mismatch(`PREPARE ${toHex64(id)} at sequence ${entry.sequence} for a decided transaction`);
    this.pending = {
      transactionId: id,
      epoch: entry.epoch,
      sequence: entry.sequence,
      prepare: entry.body as PrepareBody,
    };
  }

  /** An outcome: repeated ones are idempotent; an ABORT may name a transaction never prepared here. */
  private resolve(scanned: ScannedEntry, committed: boolean): PendingTransaction | undefined {
    const id = scanned.transactionId;
    const known = this.outcomes.get(id);
    if (known !== undefined) {
      if (known !== committed)
        mismatch(
          `transaction ${toHex64(id)} both committed and aborted (sequence ${scanned.sequence})`,
        );
      return undefined;
    }
    const pending = this.pending?.transactionId === id ? this.pending : undefined;
    if (committed && !pending)
      mismatch(`COMMIT ${toHex64(id)} at sequence ${scanned.sequence} without its PREPARE`);
    if (pending) this.pending = undefined;
    this.outcomes.set(id, committed);
    return pending;
  }

  private commit(scanned: ScannedEntry, spAfter: bigint, spvvAfter: number): void {
    const pending = this.resolve(scanned, true);
    if (!pending) return;
    const { prepare } = pending;
    const before = this.core.syncPoint();
    if (before.sp !== prepare.spBefore || before.spvv !== prepare.spvvBefore) {
      mismatch(
        `COMMIT ${toHex64(scanned.transactionId)}: SP before is ${before.hex}, the PREPARE expected ${toHex64(prepare.spBefore).toUpperCase()}`,
      );
    }
    const applied = this.core.apply(prepare.batch);
    const after = applied.syncPoint;
    this.onCommit?.(scanned.transactionId, prepare, applied.writeResults);
    const expected =
      after.sp === spAfter &&
      after.spvv === spvvAfter &&
      after.sp === prepare.spAfter &&
      after.spvv === prepare.spvvAfter;
    if (!expected)
      mismatch(
        `COMMIT ${toHex64(scanned.transactionId)} at sequence ${scanned.sequence}: replay gives SP ${after.hex}, the log recorded ${toHex64(spAfter).toUpperCase()}`,
      );
  }

  private laterCheckpoint(scanned: ScannedEntry, checkpoint: CheckpointBody): void {
    const now = this.core.syncPoint();
    if (now.sp !== checkpoint.sp || now.spvv !== checkpoint.spvv) {
      mismatch(
        `CHECKPOINT at sequence ${scanned.sequence} recorded SP ${toHex64(checkpoint.sp).toUpperCase()}, replay gives ${now.hex}`,
      );
    }
    this.atBase(scanned, checkpoint);
  }
}

/**
 * Rebuilds an appliance's state from storage into `core`, which must be keyed (its SVMK's
 * Sync-Point key) and either empty or holding exactly the state of the log's last checkpoint
 * (that snapshot is then not read again). Throws HsmError: 37027 (log corrupt before its tail), 38313
 * (no base), 38312 (replay disagrees with the log), 38315 (a snapshot newer than the log),
 * 38316 (the request-outcomes blob missing or not the checkpoint's), 38207 (store neither empty nor the last checkpoint's). On an error
 * storage is unchanged and the core must be discarded; on success a torn tail has been cut.
 */
export async function recover(
  core: Core,
  storage: Storage,
  options: RecoveryOptions,
): Promise<RecoveredState> {
  core.syncPoint(); // throws 38202 STORE_NO_KEY before anything else if the core has no key
  // Performance (bench:live-sync): a joiner opens on the core that received the pool image,
  // which holds its join image's checkpoint already; reading and importing that snapshot again
  // took a quarter of a 1M-key join. Any other state in the core is refused.
  const held = core.count() !== 0 ? core.syncPoint() : undefined;
  const { log, entries, tornBytes, last } = await readLog(core, storage, options.poolId);
  await refuseRolledBack(storage, last);
  const base = await chooseBase(core, storage, log, entries, held);
  if (held && !base.checkpoint)
    throw new HsmError(
      CODE.STORE_NOT_EMPTY,
      'the store is not empty and the log has no checkpoint',
    );
  const replay = new Replay(core, log, options.founders ?? [], options.onCommit);
  // The state a blob's checkpoint would have recorded: right after the entry before it.
  const named = options.requestOutcomes?.checkpoint;
  let spBefore: SyncPoint | undefined;
  entries.forEach((entry, i) => {
    if (i < base.index) replay.beforeBase(entry);
    else if (i === base.index) replay.atBase(entry, base.checkpoint!);
    else replay.afterBase(entry);
    if (i >= base.index && named && entry.sequence === named.sequence - 1n)
      spBefore = core.syncPoint();
  });
  if (options.requestOutcomes)
    refuseWrongOutcomes(log, entries, last, options.requestOutcomes, spBefore);
  // Only now, so that a refused recovery changes nothing.
  if (tornBytes > 0 && options.cutTornTail !== false) await storage.truncateLog(log.length);
  return {
    syncPoint: core.syncPoint(),
    pending: replay.pending,
    nodes: [...replay.nodes.values()],
    downNodes: [...replay.downNodes],
    addedNodes: [...replay.addedNodes.values()],
    epoch: replay.epoch,
    last: entries.length > 0 ? last : LOG_START,
    outcomes: replay.outcomes,
    snapshot: base.checkpoint?.snapshotName,
    entries: entries.length,
    logLength: log.length,
    tornBytes,
  };
}
