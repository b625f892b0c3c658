// The live-sync donor of a simulated node: the appliance's own LiveSyncDonor, so the code the
// simulator exercises is the code a real node runs. It speaks through the replica (its items
// leave in the replica's Ready, which the world persists and sends like any message); the only
// thing it asks of a transport is to remember the joiner's address, which the simulated
// network does not need. A crash drops it with the replica: its session is in memory only.

import { LiveSyncDonor } from '../appliance/live-sync.ts';
import { donorPreempts } from '../protocol/live-sync.ts';
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

/**
 * LiveSyncDonor plus the fix the simulator found for it (seed 2040): a request from a joiner
 * that is already a member ends a session for a non-member instead of being refused as busy
 * (donorPreempts). LiveSyncDonor.onRequest should make that check itself; host/appliance/
 * live-sync.ts is being changed by another engineer, so until it does, it is applied here,
 * from outside: a finished session is one onRequest replaces.
 */
class SimLiveSyncDonor extends LiveSyncDonor {
  constructor(private readonly host: Replica, poolId: bigint, log: (line: string) => void) {
    super(host, new NoTransport(), SIM_DOMAIN, poolId, log);
  }

  override receive(envelope: Envelope): void {
    const current = this.active;
    if (envelope.body.type === 'live-sync-request' && current && current.session !== envelope.body.session && donorPreempts(this.host, current, envelope.from)) {
      current.finish();
    }
    super.receive(envelope);
  }
}

export function simDonor(replica: Replica, poolId: bigint, log: (line: string) => void): LiveSyncDonor {
  return new SimLiveSyncDonor(replica, poolId, log);
}
