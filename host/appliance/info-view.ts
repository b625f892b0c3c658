// The Info view of one appliance (the replication menu's Info, docs/CONSOLE.md): the
// replica's read-only status joined with what only the appliance knows (node cache, log
// times, storage state, discovery). A pure function, so the view has one place.

import type { SyncPoint } from '../core/core.ts';
import type { PeerStatus, ReplicaStatus, Timers } from '../protocol/replica.ts';
import type { NodeId, TxStateName } from '../protocol/types.ts';
import type { DiscoveryStatus } from './discovery.ts';

/** What Info shows of auto-discovery. */
export interface DiscoveryInfo extends DiscoveryStatus {
  readonly autoLiveSync: boolean;
}

/** What the replication menu's Info shows (DINAMO's console, docs/CONSOLE.md). */
export interface ReplicationInfo {
  readonly domain: string;
  readonly id: NodeId;
  readonly address: string;
  readonly syncPoint: SyncPoint;
  readonly epoch: number;
  readonly fenced: boolean;
  readonly diverged: boolean;
  readonly tick: number;
  readonly timers: Timers & { readonly tickMs: number };
  readonly nodes: {
    id: NodeId;
    /** The address the transport dials: the node cache's (the membership's when not cached). */
    address: string;
    /** The address the membership records for a member (may differ from a wrong cache entry). */
    memberAddress?: string;
    member: boolean;
    fenced: boolean;
    self: boolean;
    peer?: PeerStatus;
  }[];
  readonly pending: {
    txid: string;
    state: TxStateName;
    stateNumber: number | undefined;
    role: string;
    tick: number;
    /** Wall-clock time this node logged the transaction (its PREPARE record). */
    loggedAt?: number;
    event: number;
    sourceUser: string;
    target: string;
    nodes: { id: NodeId; address: string; coordinator: boolean; pendingAck: boolean }[];
  }[];
  readonly queuedWrites: number;
  readonly storage: { broken: string | undefined };
  /** Absent: discovery is off (the node cache is filled by hand and from the membership). */
  readonly discovery?: DiscoveryInfo;
}

const STATE_NUMBERS: Partial<Record<TxStateName, number>> = {
  VIRTUAL: 1,
  PREPARED: 2,
  COMMITTED: 3,
  COMMITTED_TM: 4,
};

/** What the appliance adds to the replica's status. */
export interface ApplianceFacts {
  readonly domain: string;
  readonly id: NodeId;
  readonly address: string;
  readonly syncPoint: SyncPoint;
  /** The node cache's entries (id, address). */
  readonly cache: readonly (readonly [NodeId, string])[];
  /** Wall-clock time each pending transaction was logged, by txid. */
  readonly loggedAt: ReadonlyMap<string, number>;
  readonly broken: string | undefined;
  readonly discovery: DiscoveryInfo | undefined;
  readonly tickMs: number;
}

export function infoView(replica: ReplicaStatus, facts: ApplianceFacts): ReplicationInfo {
  const addresses = new Map(replica.nodes.map((node) => [node.id, node.address]));
  // The cache's address first: it is what the transport dials (a wrong entry must show).
  const known = new Map<NodeId, string>();
  for (const node of replica.members) known.set(node.id, node.address);
  for (const [id, address] of facts.cache) known.set(id, address);
  known.set(facts.id, facts.address);
  const addressOf = (id: NodeId): string => known.get(id) ?? addresses.get(id) ?? '?';
  return {
    domain: facts.domain,
    id: facts.id,
    address: facts.address,
    syncPoint: facts.syncPoint,
    epoch: replica.epoch,
    fenced: replica.fenced,
    diverged: replica.diverged,
    tick: replica.tick,
    timers: { ...replica.timers, tickMs: facts.tickMs },
    nodes: [...known.keys()].sort().map((id) => ({
      id,
      address: addressOf(id),
      memberAddress: addresses.get(id),
      member: replica.members.some((node) => node.id === id),
      fenced: replica.down.includes(id),
      self: id === facts.id,
      peer: replica.peers.get(id),
    })),
    pending: replica.pending.map((p) => ({
      txid: p.txid,
      state: p.state,
      stateNumber: STATE_NUMBERS[p.state],
      role: p.role,
      tick: p.tick,
      loggedAt: facts.loggedAt.get(p.txid),
      event: p.event,
      sourceUser: p.sourceUser,
      target: p.target,
      nodes: p.nodes.map((n) => ({
        id: n.id,
        address: addressOf(n.id),
        coordinator: n.id === p.coordinator,
        pendingAck: n.pendingAck,
      })),
    })),
    queuedWrites: replica.queueLength,
    storage: { broken: facts.broken },
    discovery: facts.discovery,
  };
}
