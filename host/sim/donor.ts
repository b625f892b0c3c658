// The live-sync donor of a simulated node: the appliance's own LiveSyncDonor, so the code the
// simulator exercises is the code a real node runs. It speaks through the replica (its items
// leave in the replica's Ready, which the world persists and sends like any message); the only
// thing it asks of a transport is to remember the joiner's address, which the simulated
// network does not need. A crash drops it with the replica: its session is in memory only.

import { LiveSyncDonor } from '../appliance/live-sync.ts';
import type { Replica } from '../protocol/replica.ts';
import type { Envelope } from '../protocol/types.ts';
import type { CrossCheckResult, PeerTransport } from '../transport/transport.ts';

export const SIM_DOMAIN = 'sim';

/** The transport a simulated donor is given: addresses are not needed, sending goes elsewhere. */
class NoTransport implements PeerTransport {
  send(_envelope: Envelope): void {
    throw new Error('the simulated donor sends through its replica');
  }
  onEnvelope(): void {}
  setPeerAddress(): void {}
  removePeer(): void {}
  async crossCheck(): Promise<CrossCheckResult[]> {
    return [];
  }
  async close(): Promise<void> {}
}

export function simDonor(
  replica: Replica,
  poolId: bigint,
  log: (line: string) => void,
): LiveSyncDonor {
  return new LiveSyncDonor(replica, new NoTransport(), SIM_DOMAIN, poolId, log);
}
