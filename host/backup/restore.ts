// Restore: a node's storage replaced by a backup's state, durably, so that its next start
// (host/log/recovery.ts) recovers exactly the backup's Sync-Point. Pure over the
// Storage interface (browser-safe); the CLI (host/cli/restore-command.ts) adds the node
// directory, its lock and its SVMK.
//
// Nothing is written until the backup has been read to its end, verified, decrypted and
// imported into a fresh core, as it streams in (so its SP is checked against the SVMK). Then:
//   1. the snapshot is written under a name no existing snapshot has (`restored-...`);
//   2. a CHECKPOINT entry naming it is appended, durably, to the old log: sequence 1 of a new
//      chain (LOG_START), the node's epoch, the node list it had;
//   3. the old log before that entry is dropped (dropLogPrefix: atomic and durable);
//   4. every other snapshot is deleted. Metadata (node cache) is kept.
// A crash before 3 leaves the old log followed by an entry that does not continue its chain:
// the node either recovers its old state (the entry is cut as a torn tail) or refuses to
// start (37027); running restore again finishes the job. A crash after 3 leaves the restored
// state (and at worst stale snapshots, which compaction deletes).

import {
  encodeTransactionOutcomes,
  TRANSACTION_OUTCOMES_KEY,
} from '../log/transaction-outcomes.ts';
import { CODE, HsmError } from '../core/codes.ts';
import type { Core, SyncPoint } from '../core/core.ts';
import { LOG_START, LogEncoder, type PoolNode } from '../core/txlog.ts';
import { recover, splitSnapshot } from '../log/recovery.ts';
import { writeStoreSnapshot } from '../log/compaction.ts';
import { readOnlyView, type Storage } from '../storage/storage.ts';
import type { ChaChaAead } from '../wire/crypto-engine.ts';
import { decodeBackup, hex16 } from './format.ts';
import { openBackup, type BackupSource, type BackupSummary } from './stream.ts';

export interface RestoreTarget {
  readonly poolId: bigint;
  readonly domain: string;
  /** The node list to use when the node's own log cannot be read (its config's founders). */
  readonly founders: readonly PoolNode[];
}

export interface RestoreResult {
  readonly header: BackupSummary;
  readonly syncPoint: SyncPoint;
  readonly snapshotName: string;
  readonly nodes: readonly PoolNode[];
  readonly epoch: bigint;
  /** Whether the node list and epoch came from the node's previous state (else: founders, epoch 0). */
  readonly previousStateRead: boolean;
  readonly deletedSnapshots: readonly string[];
}

/**
 * Verifies a backup as it reads it and imports it into `core` (keyed with the SVMK's
 * Sync-Point key, empty), piece by piece. Throws 38801/38802/38803 (format), 38804 (another
 * pool or domain, before anything is decrypted), 384xx (snapshot); on failure the core is
 * left empty.
 */
export async function importBackupStream(
  core: Core,
  source: BackupSource | Uint8Array,
  svmk: Uint8Array,
  target?: { poolId: bigint; domain: string },
  aead?: ChaChaAead,
): Promise<{ header: BackupSummary; syncPoint: SyncPoint }> {
  const opened = await openBackup(source);
  checkTarget(opened.header, target);
  return {
    header: opened.header,
    syncPoint: checkImported(
      core,
      opened.header,
      await importPieces(core, opened.pieces(svmk, aead)),
    ),
  };
}

/** A version-1 backup held whole in memory, imported at once (benches and tests). */
export function importBackup(
  core: Core,
  bytes: Uint8Array,
  svmk: Uint8Array,
  target?: { poolId: bigint; domain: string },
): { header: BackupSummary; syncPoint: SyncPoint } {
  const { header, snapshot } = decodeBackup(bytes, svmk);
  checkTarget(header, target);
  return {
    header,
    syncPoint: checkImported(core, header, core.importSnapshot(splitSnapshot(snapshot))),
  };
}

function checkTarget(header: BackupSummary, target?: { poolId: bigint; domain: string }): void {
  if (target && (header.poolId !== target.poolId || header.domain !== target.domain)) {
    throw new HsmError(
      CODE.BACKUP_POOL_MISMATCH,
      `the backup is of pool ${hex16(header.poolId)} (domain ${JSON.stringify(header.domain)}), this node belongs to pool ${hex16(target.poolId)} (domain ${JSON.stringify(target.domain)})`,
    );
  }
}

/** The imported store must give the header's SP, SPVV and count (else it is emptied, 38404). */
function checkImported(core: Core, header: BackupSummary, syncPoint: SyncPoint): SyncPoint {
  if (
    syncPoint.sp !== header.sp ||
    syncPoint.spvv !== header.spvv ||
    BigInt(syncPoint.count) !== header.recordCount
  ) {
    core.clear();
    throw new HsmError(
      CODE.SNAPSHOT_MISMATCH,
      'backup: the imported snapshot does not give the SP of the backup header',
    );
  }
  return syncPoint;
}

/** Core.importSnapshot over pieces that arrive asynchronously; the store is empty on failure. */
async function importPieces(core: Core, pieces: AsyncGenerator<Uint8Array>): Promise<SyncPoint> {
  const first = await pieces.next();
  if (first.done) throw new HsmError(CODE.SNAPSHOT_BAD_HEADER, 'empty snapshot');
  core.importBegin(first.value);
  try {
    for await (const piece of pieces) core.importChunk(piece);
    return core.importEnd();
  } catch (error) {
    core.importAbort();
    throw error;
  }
}

/** The node list and epoch of the node's current state, if its storage recovers. */
async function previousState(
  scratch: Core,
  storage: Storage,
  target: RestoreTarget,
): Promise<{ nodes: readonly PoolNode[]; epoch: bigint } | undefined> {
  try {
    const state = await recover(
      scratch,
      readOnlyView(storage, () => Promise.resolve()),
      {
        poolId: target.poolId,
        founders: target.founders,
      },
    );
    return { nodes: state.nodes, epoch: state.epoch };
  } catch (error) {
    if (error instanceof HsmError) return undefined;
    throw error;
  }
}

function snapshotNameFor(header: BackupSummary, existing: readonly string[]): string {
  const base = `restored-${hex16(header.sp).toLowerCase()}-${header.createdMs}`;
  let name = base;
  for (let i = 1; existing.includes(name); i++) name = `${base}-${i}`;
  return name;
}

/**
 * Replaces a node's storage with a backup. `core` receives the restored state (keyed, empty);
 * `scratch` (keyed, empty) is used to read the node's previous node list and epoch.
 * Refusals throw before anything is written.
 */
export async function restoreBackup(
  core: Core,
  scratch: Core,
  storage: Storage,
  source: BackupSource | Uint8Array,
  svmk: Uint8Array,
  target: RestoreTarget,
  aead?: ChaChaAead,
): Promise<RestoreResult> {
  const { header, syncPoint } = await importBackupStream(core, source, svmk, target, aead);
  const previous = await previousState(scratch, storage, target);
  const nodes = previous?.nodes.length ? previous.nodes : target.founders;
  const epoch = previous?.epoch ?? 0n;
  const existing = await storage.listSnapshots();
  const snapshotName = snapshotNameFor(header, existing);
  // From the core's I/O buffer, without a copy of the store (nothing changes it meanwhile).
  await writeStoreSnapshot(core, storage, snapshotName);
  const encoder = new LogEncoder(core, target.poolId, LOG_START, epoch);
  const entry = encoder.encode({
    type: 'checkpoint',
    snapshotSequence: 0n,
    sp: syncPoint.sp,
    spvv: syncPoint.spvv,
    recordCount: BigInt(syncPoint.count),
    snapshotName,
    nodes,
  });
  // The transaction outcomes of the state replaced are not the backup's: forgotten with it.
  await storage.writeMeta(TRANSACTION_OUTCOMES_KEY, encodeTransactionOutcomes([]));
  const oldLength = await storage.logSize();
  await storage.appendLog(entry, true);
  // The old snapshots go before the old log: a crash in between leaves the old log followed by
  // an entry that does not continue it (refused, 37027; restore again), never the restored log
  // beside an old `checkpoint-<n>` newer than it, which recovery takes for a rolled-back log.
  const deletedSnapshots = existing.filter((name) => name !== snapshotName);
  for (const name of deletedSnapshots) await storage.deleteSnapshot(name);
  if (oldLength > 0) await storage.dropLogPrefix(oldLength);
  return {
    header,
    syncPoint,
    snapshotName,
    nodes,
    epoch,
    previousStateRead: previous !== undefined,
    deletedSnapshots,
  };
}
