// Live-sync in an InProcessPool: a new appliance on the pool's memory hub joins the running
// pool (tests, the benchmark, the browser page). The pool must keep ticking meanwhile (its
// clock, or `pool.run` in a loop); once joined, the new appliance is ticked with the others.

import type { Core } from '../core/core.ts';
import { Random } from '../protocol/random.ts';
import type { NodeAddress, NodeId } from '../protocol/types.ts';
import { toNodeId } from '../wire/ids.ts';
import { MemoryStorage } from '../storage/memory.ts';
import { MemoryTransport } from '../transport/memory.ts';
import { Appliance } from '../appliance/appliance.ts';
import type { InProcessPool } from './in-process-pool.ts';
import { liveSyncJoin, type JoinProgress, type Joined } from '../appliance/live-sync.ts';

export interface InProcessJoinOptions {
  /** The donor: a member of the pool (default: the first appliance). */
  readonly donor?: NodeAddress;
  readonly address?: string;
  readonly seed?: number;
  /** Another SVMK than the pool's (a refusal test). */
  readonly svmk?: Uint8Array;
  readonly newCore?: () => Core;
  readonly storage?: MemoryStorage;
  readonly id?: NodeId;
  readonly stallMs?: number;
  readonly clientConnectionsSinceStart?: number;
  readonly onProgress?: (progress: JoinProgress) => void;
}

export interface InProcessJoin {
  readonly node: NodeAddress;
  readonly storage: MemoryStorage;
  readonly transport: MemoryTransport;
  /** Resolves with the joined appliance (already ticked by the pool), rejects with the refusal. */
  readonly done: Promise<{ appliance: Appliance; joined: Joined }>;
}

/** Starts a live-sync of a new node into `pool`. The caller keeps the pool ticking until `done`. */
export function joinInProcess(
  pool: InProcessPool,
  options: InProcessJoinOptions = {},
): InProcessJoin {
  const random = new Random(options.seed ?? 99);
  const node: NodeAddress = {
    id: options.id ?? toNodeId(random.id64()),
    address: options.address ?? `127.0.1.${pool.appliances.length + 1}:7001`,
  };
  const svmk = options.svmk ?? pool.options.svmk;
  const storage = options.storage ?? new MemoryStorage();
  const transport = new MemoryTransport({
    hub: pool.hub,
    nodeId: node.id,
    address: node.address,
    svmk,
    randomBytes: (n) => random.bytes(n),
    aead: pool.options.aead,
  });
  const newCore = options.newCore ?? pool.options.newCore;
  const donor = options.donor ?? {
    id: pool.appliances[0].id,
    address: pool.appliances[0].info().address,
  };
  const done = (async () => {
    let joined: Joined;
    try {
      joined = await liveSyncJoin({
        id: node.id,
        address: node.address,
        domain: pool.options.domain ?? 'pool',
        svmk,
        donor,
        transport,
        dial: (address) => pool.hub.dial(node.address, address),
        core: newCore(),
        storage,
        randomBytes: (n) => random.bytes(n),
        stallMs: options.stallMs,
        clientConnectionsSinceStart: options.clientConnectionsSinceStart,
        onProgress: options.onProgress,
        sha256: pool.options.sha256,
      });
    } catch (error) {
      await transport.close();
      throw error;
    }
    const appliance = await Appliance.open({
      id: node.id,
      address: node.address,
      domain: pool.options.domain ?? 'pool',
      poolId: joined.poolIdValue,
      founders: joined.membership.founders,
      membership: joined.membership,
      storage,
      core: joined.core,
      random: random.fork(),
      transport,
      groupCommit: pool.options.groupCommit,
      checkpointBytes: pool.options.checkpointBytes,
      sha256: pool.options.sha256,
    });
    pool.appliances.push(appliance);
    pool.storages.push(storage);
    return { appliance, joined };
  })();
  return { node, storage, transport, done };
}
