// A node that joins by `hsmpool node --join` (host/cli/node-command.ts) opens through
// NodeHost.open on the core that received the pool image: it does not read its join image's
// checkpoint back from storage and import it a second time (a quarter of a 1M-key join).

import { expect, it } from 'vitest';
import { NodeHost } from '../../host/appliance/node-host.ts';
import { liveSyncJoin } from '../../host/appliance/live-sync.ts';
import { Random } from '../../host/protocol/random.ts';
import { toNodeId } from '../../host/wire/ids.ts';
import { keyedCore, TEST_SVMK } from '../fixtures.ts';
import { drive, objectWrites, startPool } from '../pool-writes.ts';
import { hostOptions } from '../node-host-pool.ts';

it('a node that joined opens on the core that received the image, at the pool SP', async () => {
  const pool = await startPool({ nodes: 3, seed: 41, groupCommit: true });
  const write = objectWrites(41);
  for (let i = 0; i < 20; i++)
    expect((await drive(pool, pool.appliances[0].write(write(`k${i}`)))).code).toBe(0);

  const random = new Random(42);
  const node = { id: toNodeId(random.id64()), address: '127.0.1.9:7001' };
  let coresMade = 0;
  const options = hostOptions(pool, node.address, random, {
    newCore: () => (coresMade++, keyedCore()),
  });
  const transport = options.transportFor(node.id);
  const donor = pool.appliances[0];
  const joined = await drive(
    pool,
    liveSyncJoin({
      id: node.id,
      address: node.address,
      domain: 'pool',
      svmk: TEST_SVMK,
      donor: { id: donor.id, address: donor.info().address },
      transport,
      dial: options.dial,
      core: keyedCore(),
      storage: options.storage,
      randomBytes: options.randomBytes,
    }),
  );
  await transport.close();

  const host = await NodeHost.open(
    options,
    {
      id: node.id,
      domain: 'pool',
      poolId: joined.poolIdValue,
      founders: joined.membership.founders,
    },
    joined,
  );
  expect(host.appliance.core).toBe(joined.core);
  expect(coresMade).toBe(0);
  expect(host.appliance.info().syncPoint.hex).toBe(donor.info().syncPoint.hex);
  await host.close();
  await pool.close();
});
