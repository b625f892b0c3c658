// The image a completed live-sync join writes: what both a real node (liveSyncJoin) and the
// simulator's joiners leave in storage before the node's appliance first opens. The received
// write outcomes (a client retrying on this node after its restart still gets its write's
// original answer), then a checkpoint of the received state at the membership's epoch (the
// first entry of the log), then the membership events the checkpoint cannot say. Browser-safe.

import type { Core } from '../core/core.ts';
import { LOG_START, LogEncoder } from '../core/txlog.ts';
import type { JoinResult } from '../protocol/live-sync/donor.ts';
import type { NodeAddress } from '../protocol/types.ts';
import { writeCheckpoint } from './compaction.ts';
import type { Storage } from '../storage/storage.ts';
import type { Sha256Factory } from '../wire/crypto-engine.ts';
import {
  REQUEST_OUTCOMES_KEY,
  encodeRequestOutcomeEntries,
  nextCheckpoint,
} from './request-outcomes.ts';
import { encodeRecords, membershipRecordsBeyond, toPoolNode } from './log-records.ts';
import { encodeTransactionOutcomes, TRANSACTION_OUTCOMES_KEY } from './transaction-outcomes.ts';

/** Replaces whatever `storage` holds (a node's previous state, or what an interrupted attempt
 * left) with the image of a join; `core` holds the received state. Returns the pool id.
 * `sha256`: the request-outcomes blob's checksum hash (request-outcomes.ts). */
export async function writeJoinImage(
  core: Core,
  storage: Storage,
  result: JoinResult,
  sha256?: Sha256Factory,
): Promise<bigint> {
  await clearStorage(storage);
  await storage.writeMeta(
    REQUEST_OUTCOMES_KEY,
    encodeRequestOutcomeEntries(result.requestOutcomes, nextCheckpoint(core, LOG_START), sha256),
  );
  const poolId = BigInt(`0x${result.poolId}`);
  const members = result.membership;
  const epoch = BigInt(members.added.length + members.down.length);
  const encoder = new LogEncoder(core, poolId, LOG_START, epoch);
  const live: NodeAddress[] = [...members.founders, ...members.added].filter(
    (node) => !members.down.includes(node.id),
  );
  await writeCheckpoint(core, storage, encoder, live.map(toPoolNode));
  // The checkpoint names the members only. The nodes declared down (and those added, then
  // declared down) follow it as entries, so that a restart with the founders alone comes back
  // at this epoch, even if the node dies before its appliance first opens.
  const beyond = membershipRecordsBeyond(members, {
    added: new Set(live.map((node) => node.id)),
    down: new Set(),
  });
  if (beyond.length > 0) await storage.appendLog(encodeRecords(encoder, beyond), true);
  return poolId;
}

async function clearStorage(storage: Storage): Promise<void> {
  const log = await storage.readLog();
  if (log.length > 0) await storage.dropLogPrefix(log.length);
  for (const name of await storage.listSnapshots()) await storage.deleteSnapshot(name);
  // The transaction outcomes of the previous state are not the image's (a diverged node may
  // have aborted what the pool committed): forgotten with it.
  await storage.writeMeta(TRANSACTION_OUTCOMES_KEY, encodeTransactionOutcomes([]));
}
