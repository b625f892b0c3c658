// A checkpoint lists the pool's members only; the nodes declared down (and those added, then
// declared down) must still be known after the log before it is compacted away, or a restarted
// node comes back at a lower epoch than its log's and cannot recover its own next entries
// (runtime.ts checkpointIfDue). Small checkpoints make compaction happen within the test.

import { expect, it } from 'vitest';
import { InProcessPool } from '../../host/testing/in-process-pool.ts';
import { joinInProcess } from '../../host/testing/live-sync-pool.ts';
import { Appliance } from '../../host/appliance/appliance.ts';
import { Random } from '../../host/protocol/random.ts';
import { keyedCore } from '../fixtures.ts';
import { drive, objectWrites, startPool } from '../pool-writes.ts';
import { joinOverHub } from '../node-host-pool.ts';

const write = objectWrites(91);

async function commit(pool: InProcessPool, at: number, name: string): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const reply = await drive(pool, pool.appliances[at].write(write(name)));
    if (reply.code !== 36000 || attempt > 50) return reply.code;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

it('a node restarted after checkpoints still knows the nodes declared down and joined, at the right epoch', async () => {
  const pool = await startPool({ nodes: 3, seed: 12, groupCommit: true, checkpointBytes: 4096 });
  // A node joins, and then it and a founder are declared down.
  const join = joinInProcess(pool, { seed: 5 });
  const { appliance: joiner } = await drive(pool, join.done);
  expect(await commit(pool, 0, 'after-join')).toBe(0);
  for (const gone of [joiner, pool.appliances[2]]) {
    pool.hub.setIsolated(gone.info().address, true);
    expect((await drive(pool, pool.appliances[0].nodeDown(gone.id))).code).toBe(0);
  }
  pool.appliances.splice(2);
  const epoch = pool.appliances[0].info().epoch;
  expect(epoch).toBe(3);
  // Enough writes for several checkpoints and compactions on both survivors.
  for (let i = 0; i < 60; i++) expect(await commit(pool, i % 2, `k${i}`)).toBe(0);
  expect(pool.appliances[1].events.some((event) => event.event === 'checkpoint')).toBe(true);

  // Node 2 restarts from its storage: same epoch, same fenced nodes, and it commits on.
  await pool.appliances[1].close();
  const reopened = await pool.open(1);
  expect(reopened.info().epoch).toBe(epoch);
  const fenced = reopened
    .info()
    .nodes.filter((node) => node.fenced)
    .map((node) => node.id)
    .sort();
  expect(fenced).toEqual([joiner.id, pool.founders[2].id].sort());
  expect(await commit(pool, 1, 'after-restart')).toBe(0);
  // And once more, after the entries it wrote at this epoch.
  await reopened.close();
  const again = await pool.open(1);
  expect(again.info().epoch).toBe(epoch);
  expect(again.info().syncPoint.hex).toBe(pool.appliances[0].info().syncPoint.hex);
  await pool.close();
}, 120_000);

it("a joined node that dies before its appliance first opens still restarts at the pool's epoch", async () => {
  const pool = await startPool({ nodes: 3, seed: 13, groupCommit: true });
  const gone = pool.appliances[2];
  pool.hub.setIsolated(gone.info().address, true);
  expect((await drive(pool, pool.appliances[0].nodeDown(gone.id))).code).toBe(0);
  pool.appliances.splice(2);
  const random = new Random(3);
  const { node, options, transport, joined } = await joinOverHub(pool, random, {
    address: pool.founders[0].address,
  });
  // It dies here; it restarts as the CLI restarts it: the founders from node.json, nothing more.
  const restarted = await Appliance.open({
    id: node.id,
    address: node.address,
    domain: 'pool',
    poolId: joined.poolIdValue,
    founders: joined.membership.founders,
    storage: options.storage,
    core: keyedCore(),
    random: random.fork(),
    transport,
  });
  expect(restarted.info().epoch).toBe(pool.appliances[0].info().epoch);
  expect(restarted.runtime.replica.membership.isFenced(gone.id)).toBe(true);
  pool.appliances.push(restarted);
  expect(await commit(pool, 2, 'from-the-joiner')).toBe(0);
  await pool.close();
}, 60_000);
