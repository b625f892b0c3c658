// When does a node know that it is the one that diverged? Automatic live-sync (with discovery
// on) acts on this, so it must not fire on the ordinary lag of a commit in flight:
//   - the replica saw a commit give another SP here than at its coordinator (replica.diverged); or
//   - at least two other members, a majority of them, refused this node (or were refused by it)
//     as not synced (36500) within the last DIVERGENCE_WINDOW_TICKS, and all of them reported
//     one and the same SP, not ours — while this node holds no pending transaction.
// A two-node pool has no majority against either node: only the first rule applies there.
// A false alarm costs a live-sync in place under the same id, which is safe (the pool cannot
// commit without this member's vote, so it misses nothing).

import { syncPointHex } from '../core/core.ts';
import type { ReplicaStatus } from '../protocol/replica.ts';

/** Refusals older than this do not count. */
export const DIVERGENCE_WINDOW_TICKS = 1000;

/** Why this node should take the pool image, or undefined while nothing says so. */
export function divergenceReason(replica: ReplicaStatus): string | undefined {
  if (replica.fenced) return undefined;
  if (replica.diverged) return 'a commit gave another Sync-Point here than at its coordinator';
  if (replica.pending.length > 0) return undefined;
  const mine = replica.sp;
  const others = replica.members.filter((node) => node.id !== replica.id);
  const refusing = others
    .map((node) => replica.peers.get(node.id))
    .filter(
      (status) =>
        status !== undefined &&
        status.notSynced &&
        replica.tick - status.tick <= DIVERGENCE_WINDOW_TICKS,
    );
  if (refusing.length < 2 || refusing.length * 2 <= others.length) return undefined;
  const sps = new Set(refusing.map((status) => status!.sp));
  if (sps.size !== 1 || sps.has(mine)) return undefined;
  const [theirs] = sps;
  return `${refusing.length} of ${others.length} other members agree on SP ${theirs === undefined ? '' : syncPointHex(theirs)}, this node has ${syncPointHex(mine)}`;
}
