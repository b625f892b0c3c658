// An in-process pool of 3 in which node 3 runs under a NodeHost, as `hsmpool node` runs it, so
// tests can live-sync it in place (test/live-sync/in-place.test.ts, test/appliance/discovery.test.ts);
// and a new node joined over the pool's hub with what `hsmpool node --join` gets (joinOverHub).

import type { InProcessPool } from '../host/testing/in-process-pool.ts';
import { NodeHost, type NodeHostOptions } from '../host/appliance/node-host.ts';
import { liveSyncJoin, type DonorAddress } from '../host/appliance/live-sync.ts';
import { Random } from '../host/protocol/random.ts';
import { MemoryTransport } from '../host/transport/memory.ts';
import { MemoryStorage } from '../host/storage/memory.ts';
import { keyedCore, TEST_SVMK } from './fixtures.ts';
import { drive, startPool } from './pool-writes.ts';
import { toNodeId } from '../host/wire/ids.ts';

/** What `hsmpool node` gives a NodeHost, for a node at `address` on `pool`'s memory hub
 * (memory storage unless `options` give one). */
export function hostOptions(
  pool: InProcessPool,
  address: string,
  random: Random,
  options: Partial<NodeHostOptions> = {},
): NodeHostOptions {
  return {
    address,
    svmk: TEST_SVMK,
    storage: new MemoryStorage(),
    newCore: () => keyedCore(),
    random,
    randomBytes: (n) => random.bytes(n),
    transportFor: (id) =>
      new MemoryTransport({
        hub: pool.hub,
        nodeId: id,
        address,
        svmk: TEST_SVMK,
        randomBytes: (n) => random.bytes(n),
      }),
    dial: (to) => pool.hub.dial(address, to),
    newId: () => toNodeId(random.id64()),
    groupCommit: true,
    ...options,
  };
}

/** The pool ticks node 3's current appliance: keep `pool.appliances[2] = host.appliance` after
 * anything that may live-sync it. */
export async function poolWithHost(
  seed: number,
  options: Partial<NodeHostOptions> = {},
): Promise<{ pool: InProcessPool; host: NodeHost }> {
  const pool = await startPool({ nodes: 3, seed, groupCommit: true });
  await pool.appliances[2].close();
  const node = pool.founders[2];
  const random = new Random(seed + 1);
  const host = await NodeHost.open(
    hostOptions(pool, node.address, random, { storage: pool.storages[2], ...options }),
    { id: node.id, domain: 'pool', poolId: 1n, founders: pool.founders },
  );
  pool.appliances[2] = host.appliance;
  return { pool, host };
}

/** Runs the pool, node 3's host included, until `promise` settles (or `ticksMax` ticks). */
export function driveWithHost<T>(
  pool: InProcessPool,
  host: NodeHost,
  promise: Promise<T>,
  ticksMax = 20_000,
): Promise<T> {
  return drive(pool, promise, ticksMax, async () => {
    host.tick();
    await pool.run(1);
    // A live-sync replaces the host's appliance: the pool's list follows it.
    pool.appliances[2] = host.appliance;
  });
}

/** A new node at 127.0.1.9:7001 (its id drawn from `random`) live-synced into `pool` from
 * `donor` on a fresh core, over what `hostOptions` give it (with `overrides`); its transport
 * stays open. */
export async function joinOverHub(
  pool: InProcessPool,
  random: Random,
  donor: DonorAddress,
  overrides: Partial<NodeHostOptions> = {},
) {
  const node = { id: toNodeId(random.id64()), address: '127.0.1.9:7001' };
  const options = hostOptions(pool, node.address, random, overrides);
  const transport = options.transportFor(node.id);
  const joined = await drive(
    pool,
    liveSyncJoin({
      id: node.id,
      address: node.address,
      domain: 'pool',
      svmk: TEST_SVMK,
      donor,
      transport,
      dial: options.dial,
      core: keyedCore(),
      storage: options.storage,
      randomBytes: options.randomBytes,
    }),
  );
  return { node, options, transport, joined };
}
