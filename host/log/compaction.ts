// Checkpoints and log compaction, so the log does not grow without bound.
//
// A node being set up (a live-sync joiner, a restore) writes a checkpoint's snapshot, then
// appends the CHECKPOINT entry naming it (writeCheckpoint): a crash between the two leaves a
// snapshot no entry names, which recovery ignores and the next compaction deletes.
//
// A running node cannot stop its writes for that: at 1M keys the snapshot is 94 MB. It fixes
// the checkpoint's state with a batch (takeCheckpoint: a frozen export of the store and the
// CHECKPOINT entry of that instant), appends the entry, and writes the snapshot from the
// frozen export while commits go on (writeCheckpointSnapshot). A crash before the snapshot is
// complete leaves an entry whose snapshot is missing: recovery starts from the checkpoint
// before it and replays through it (recovery.ts checks the replayed SP against the entry's).
//
// Compaction drops the log before the CHECKPOINTS_KEPT-th newest checkpoint — or before the
// PREPARE pending at that checkpoint, which recovery still needs — and then deletes every
// snapshot no remaining CHECKPOINT entry names. Keeping two checkpoints means one damaged
// snapshot file still leaves a base to recover from; only checkpoints whose snapshot was
// stored count (a running node's may be missing: cut short by a crash, or given way to a
// live-sync donor's export).

import type { Core, SnapshotReader, SyncPoint } from '../core/core.ts';
import {
  entryHeaders,
  parseEntry,
  type CheckpointBody,
  type LogEncoder,
  type PoolNode,
  type ScannedEntry,
} from '../core/txlog.ts';
import type { Storage } from '../storage/storage.ts';
import { nextTurn } from './next-turn.ts';

export const CHECKPOINTS_KEPT = 2;

/** The snapshot name of the checkpoint at `sequence` (fixed width: names sort by sequence). */
export function checkpointName(sequence: bigint): string {
  return `checkpoint-${sequence.toString().padStart(20, '0')}`;
}

/** A checkpoint fixed in memory: a frozen export of the store and the CHECKPOINT entry that
 * names it. */
export interface CheckpointImage {
  readonly name: string;
  readonly sequence: bigint;
  readonly syncPoint: SyncPoint;
  /** The store as it was when the checkpoint was taken, whatever commits follow (the core
   * defers frees while an export is open); it gives way to a live-sync donor's or a backup's. */
  readonly export: SnapshotReader;
  /** The CHECKPOINT entry, chained after the last entry the encoder wrote. */
  readonly entry: Uint8Array;
}

/** The snapshot name, sequence, SP and CHECKPOINT entry of a checkpoint of `core` now. */
function checkpointEntry(
  core: Core,
  encoder: LogEncoder,
  nodes: readonly PoolNode[],
): Omit<CheckpointImage, 'export'> {
  const sequence = encoder.last.sequence + 1n;
  const name = checkpointName(sequence);
  const syncPoint = core.syncPoint();
  const entry = encoder.encode({
    type: 'checkpoint',
    snapshotSequence: sequence - 1n,
    sp: syncPoint.sp,
    spvv: syncPoint.spvv,
    recordCount: BigInt(syncPoint.count),
    snapshotName: name,
    nodes,
  });
  return { name, sequence, syncPoint, entry };
}

/**
 * Takes a checkpoint of `core` as it is now, synchronously: the export begins (the store's
 * view frozen) and the CHECKPOINT entry is encoded at the same instant, with no await in
 * between, so nothing can change the state between choosing it and freezing it. The caller
 * must take it when the store matches the log position after the last entry `encoder`
 * encoded, append the entry, then write the snapshot (writeCheckpointSnapshot), which closes
 * the export.
 */
export function takeCheckpoint(
  core: Core,
  encoder: LogEncoder,
  nodes: readonly PoolNode[],
): CheckpointImage {
  // The export first: one that throws (another is open) must leave the encoder's chain as it
  // was. It gives way (yielding) to a live-sync donor's or a backup's: a checkpoint is cheap
  // to take again, a transfer is not.
  const reader = core.exportSnapshot(core.ioSize, { yielding: true });
  return { ...checkpointEntry(core, encoder, nodes), export: reader };
}

/** Records of a checkpoint's frozen view ordered per step: at 1M records here 76 steps of at
 * most 1.3 ms (6-12 ms the first time, when the sort's memory is fresh). */
export const CHECKPOINT_ORDER_STEP_RECORDS = 65_536;

/** Writes the snapshot of a checkpoint taken by takeCheckpoint from its frozen export, durably
 * and atomically, and closes the export. Commits may go on meanwhile: each piece is copied out
 * of the core as the storage pulls it (a view of the I/O buffer would change under it). Throws
 * 38405 SNAPSHOT_STATE when the export gave way to another; nothing is stored then. */
export async function writeCheckpointSnapshot(
  storage: Storage,
  image: CheckpointImage,
  between: () => Promise<void> = nextTurn,
): Promise<void> {
  try {
    // Ordering the frozen view by name takes 0.1-0.4 s at 1M records: in steps, with a turn
    // `between` them, so the node goes on committing (a small view is ordered in one step).
    while (!image.export.prepare(CHECKPOINT_ORDER_STEP_RECORDS)) await between();
    await storage.writeSnapshotFrom(image.name, piecesOf(image.export, 'copies'));
  } finally {
    image.export.close();
  }
}

/**
 * Writes a checkpoint of `core` after the last entry `encoder` wrote. Only for a store nothing
 * else changes while this runs (a node being set up: live-sync, tests); a running node takes
 * its checkpoint with takeCheckpoint when it takes a batch (runtime.ts). The export goes to
 * storage straight from the core's I/O buffer, a piece at a time: no copy of the store.
 */
export async function writeCheckpoint(
  core: Core,
  storage: Storage,
  encoder: LogEncoder,
  nodes: readonly PoolNode[],
): Promise<{ name: string; sequence: bigint }> {
  // The entry is chained only once its snapshot is stored: a refused export or a failed write
  // leaves the encoder as it was.
  await writeStoreSnapshot(core, storage, checkpointName(encoder.last.sequence + 1n));
  const checkpoint = checkpointEntry(core, encoder, nodes);
  await storage.appendLog(checkpoint.entry, true);
  return { name: checkpoint.name, sequence: checkpoint.sequence };
}

/**
 * Writes a snapshot of `core` to storage straight from the core's I/O buffer, a piece at a
 * time: no copy of the store in memory. Only for a store nothing changes while this runs (a
 * node being set up: a live-sync join, a restore).
 */
export async function writeStoreSnapshot(
  core: Core,
  storage: Storage,
  name: string,
): Promise<void> {
  const reader = core.exportSnapshot(core.ioSize);
  try {
    await storage.writeSnapshotFrom(name, piecesOf(reader, 'views'));
  } finally {
    reader.close();
  }
}

/** An open export as writeSnapshotFrom pulls it: the header, then each chunk, as large as
 * the I/O buffer. As views (no copy, and fewer writes to await) when nothing changes the store
 * meanwhile; as copies when commits go on between pulls (the I/O buffer would change under a
 * view). */
function piecesOf(
  reader: SnapshotReader,
  pieces: 'views' | 'copies',
): () => Uint8Array | undefined {
  let header: Uint8Array | undefined = reader.header;
  return () => {
    if (!header) return pieces === 'views' ? reader.nextView() : reader.next();
    const first = header;
    header = undefined;
    return first;
  };
}

export interface CompactionResult {
  readonly droppedBytes: number;
  readonly keptSnapshots: readonly string[];
  readonly deletedSnapshots: readonly string[];
}

/** Offset the compacted log starts at: the kept checkpoint, or the PREPARE pending there. */
function keepFrom(entries: readonly ScannedEntry[], checkpointIndex: number): number {
  let pending: ScannedEntry | undefined;
  for (let i = 0; i < checkpointIndex; i++) {
    const entry = entries[i];
    if (entry.type === 'prepare') pending = entry;
    else if (
      (entry.type === 'commit' || entry.type === 'abort') &&
      pending?.transactionId === entry.transactionId
    )
      pending = undefined;
  }
  return (pending ?? entries[checkpointIndex]).offset;
}

/** Compacts the log of pool `poolId`, keeping `keep` checkpoints. Refuses a log whose headers are
 * not entries of that pool (37027). */
export async function compactLog(
  storage: Storage,
  poolId: bigint,
  keep = CHECKPOINTS_KEPT,
): Promise<CompactionResult> {
  if (!Number.isInteger(keep) || keep < 1)
    throw new RangeError(`keep: at least 1 checkpoint, got ${keep}`);
  const log = await storage.readLog();
  // By the headers only: this node wrote the log and recovery checked it when the node opened.
  const entries = entryHeaders(log, poolId);
  const snapshotOf = (index: number): string =>
    (
      parseEntry(log.subarray(entries[index].offset, entries[index].offset + entries[index].length))
        .body as CheckpointBody
    ).snapshotName;
  // Only a checkpoint whose snapshot is stored is a base to keep.
  const stored = new Set(await storage.listSnapshots());
  const checkpoints = entries.flatMap((entry, index) =>
    entry.type === 'checkpoint' && stored.has(snapshotOf(index)) ? [index] : [],
  );
  if (checkpoints.length === 0) return { droppedBytes: 0, keptSnapshots: [], deletedSnapshots: [] };
  const firstKept = checkpoints[Math.max(0, checkpoints.length - keep)];
  const droppedBytes = keepFrom(entries, firstKept);
  if (droppedBytes > 0) await storage.dropLogPrefix(droppedBytes);
  const kept = entries.flatMap((entry, index) =>
    entry.type === 'checkpoint' && entry.offset >= droppedBytes ? [snapshotOf(index)] : [],
  );
  const deletedSnapshots = [...stored].filter((name) => !kept.includes(name));
  for (const name of deletedSnapshots) await storage.deleteSnapshot(name);
  return { droppedBytes, keptSnapshots: kept, deletedSnapshots };
}
