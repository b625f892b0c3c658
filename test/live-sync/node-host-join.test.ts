// A node that joins by `hsmpool node --join` (host/cli/node-command.ts) opens through
// NodeHost.open on the core that received the pool image: it does not read its join image's
// checkpoint back from storage and import it a second time (a quarter of a 1M-key join).

import { expect, it } from 'vitest';
import { NodeHost } from '../../host/appliance/node-host.ts';
import { Random } from '../../host/protocol/random.ts';
import { keyedCore } from '../fixtures.ts';
import { drive, objectWrites, startPool } from '../pool-writes.ts';
import { joinOverHub } from '../node-host-pool.ts';

it('a node that joined opens on the core that received the image, at the pool SP', async () => {
  const pool = await startPool({ nodes: 3, seed: 41, groupCommit: true });
  const write = objectWrites(41);
  for (let i = 0; i < 20; i++)
    expect((await drive(pool, pool.appliances[0].write(write(`k${i}`)))).code).toBe(0);

  const random = new Random(42);
  let coresMade = 0;
  const donor = pool.appliances[0];
  const { node, options, transport, joined } = await joinOverHub(
    pool,
    random,
    { id: donor.id, address: donor.info().address },
    { newCore: () => (coresMade++, keyedCore()) },
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
