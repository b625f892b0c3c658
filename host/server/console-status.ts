// The console's `status`: one node's view of the pool for `hsmpool status` (host/cli/
// status-command.ts), which asks every member and runs the manual's four initial checks. What
// the transport dials (the node cache), what it last heard from each peer (SP, SPVV, epoch,
// how long ago, in milliseconds), the connection test to every cached node, the PTL with
// wall-clock times logged by this node. Browser-safe, no I/O of its own.

import { TICK_MS, type Appliance, type ReplicationInfo } from '../appliance/appliance.ts';
import { HSMPOOL_VERSION, OPERATING_MODE } from '../core/version.ts';
import { syncPointHex } from '../core/core.ts';
import type { CrossCheckResult } from '../transport/transport.ts';

export interface NodeStatus {
  readonly id: string;
  /** The address this node listens at. */
  readonly address: string;
  readonly domain: string;
  readonly version: string;
  readonly mode: string;
  /** member | fenced | diverged | stopped | not-member */
  readonly state: string;
  readonly epoch: number;
  readonly sp: string;
  readonly spvv: string;
  readonly records: number;
  /** Open client and console sessions (undefined when the host does not count them). */
  readonly sessions: number | undefined;
  /** Wall-clock time of this answer (ms since the epoch). */
  readonly now: number;
  readonly members: { id: string; address: string }[];
  readonly fencedNodes: string[];
  /** The node cache: the address the transport dials for each node. */
  readonly cache: { id: string; address: string }[];
  /** What this node last heard from each peer in the pool. */
  readonly peers: {
    id: string;
    sp: string;
    spvv: string;
    epoch: number;
    seenMsAgo: number;
    notSynced: boolean;
  }[];
  /** The connection test to every cached node (ids as text, like the lists above: `hsmpool
   * status` reads this JSON from another process and only shows and compares them). */
  readonly crossCheck: (Omit<CrossCheckResult, 'id'> & { readonly id: string })[];
  readonly pending: {
    txid: string;
    state: string;
    role: string;
    /** Wall-clock time this node logged it (undefined: logged before this process started). */
    loggedAt: number | undefined;
    ageMs: number;
    /** Addresses of the participants still owing an acknowledgement (PA). */
    pendingAck: string[];
    coordinator: string;
  }[];
  readonly queuedWrites: number;
}

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');

/** A peer's SP as the console's JSON carries it: hex, '' before the peer's first message. */
export function peerSpText(sp: bigint | undefined): string {
  return sp === undefined ? '' : syncPointHex(sp);
}

/** Info's node list as JSON carries it (the peers' SPs in hex; jsonSafe would write decimal). */
export function nodesAsJson(nodes: ReplicationInfo['nodes']): unknown[] {
  return nodes.map((node) =>
    node.peer ? { ...node, peer: { ...node.peer, sp: peerSpText(node.peer.sp) } } : node,
  );
}

/** The one word status, /healthz and the page show for a node: the first that holds. */
export function nodeState(info: ReplicationInfo, liveSyncing = false): string {
  if (info.storage.broken) return 'stopped';
  if (info.fenced) return 'fenced';
  if (info.diverged) return 'diverged';
  if (liveSyncing) return 'live-syncing';
  return info.nodes.some((n) => n.self && n.member) ? 'member' : 'not-member';
}

export async function nodeStatus(
  appliance: Appliance,
  options: { readonly sessions?: number; readonly crossCheckTimeoutMs: number },
): Promise<NodeStatus> {
  const crossCheck = await appliance.crossCheck(options.crossCheckTimeoutMs);
  const info = appliance.info();
  const now = appliance.now();
  const state = nodeState(info);
  return {
    id: info.id,
    address: info.address,
    domain: info.domain,
    version: HSMPOOL_VERSION,
    mode: OPERATING_MODE,
    state,
    epoch: info.epoch,
    sp: info.syncPoint.hex,
    spvv: info.syncPoint.spvvHex,
    records: info.syncPoint.count,
    sessions: options.sessions,
    now,
    members: info.nodes
      .filter((n) => n.member)
      .map((n) => ({ id: n.id, address: n.memberAddress ?? n.address })),
    fencedNodes: info.nodes.filter((n) => n.fenced).map((n) => n.id),
    cache: appliance.cache.entries().map(([id, address]) => ({ id, address })),
    peers: info.nodes
      .filter((n) => n.peer && !n.self)
      .map((n) => ({
        id: n.id,
        sp: peerSpText(n.peer!.sp),
        spvv: hex4(n.peer!.spvv),
        epoch: n.peer!.epoch,
        seenMsAgo: (info.tick - n.peer!.tick) * TICK_MS,
        notSynced: n.peer!.notSynced,
      })),
    crossCheck,
    pending: info.pending.map((p) => ({
      txid: p.txid,
      state: p.state,
      role: p.role,
      loggedAt: p.loggedAt,
      ageMs: p.loggedAt !== undefined ? now - p.loggedAt : (info.tick - p.tick) * TICK_MS,
      pendingAck: p.nodes.filter((n) => n.pendingAck).map((n) => n.address),
      coordinator: p.nodes.find((n) => n.coordinator)?.address ?? '?',
    })),
    queuedWrites: info.queuedWrites,
  };
}
