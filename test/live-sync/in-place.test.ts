// Live-sync in place (host/appliance/node-host.ts, docs/LIVE_SYNC.md "In place"): a running
// node whose state diverged, or that was declared down, takes the pool image from a member
// without a restart; the refusals change nothing; a donor that dies mid-transfer leaves the
// node running on its old state.

import { describe, expect, it } from 'vitest';
import { InProcessPool } from '../../host/testing/in-process-pool.ts';
import { NodeHost } from '../../host/appliance/node-host.ts';
import { runCommand } from '../../host/server/console-commands.ts';
import { MemoryTransport } from '../../host/transport/memory.ts';
import { codeOf } from '../fixtures.ts';
import { objectWrites, applyObject } from '../pool-writes.ts';
import { driveWithHost as drive, poolWithHost } from '../node-host-pool.ts';
import { toNodeId } from '../../host/wire/ids.ts';

const write = objectWrites(23);

/** Commits `count` writes on node `at`, retrying busy answers as a client would (a link may
 * still be reconnecting); the final codes. */
async function commitAll(
  pool: InProcessPool,
  host: NodeHost,
  at: number,
  prefix: string,
  count: number,
  attempts = 20,
): Promise<number[]> {
  const once = async (request: ReturnType<typeof write>): Promise<number> => {
    for (let attempt = 1; ; attempt++) {
      const reply = await pool.appliances[at].write(request);
      if (reply.code !== 36000 || attempt >= attempts) return reply.code;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return drive(
    pool,
    host,
    Promise.all(Array.from({ length: count }, (_, i) => once(write(`${prefix}${i}`)))),
  );
}

describe('live-sync in place', () => {
  it('a diverged member takes the pool image under its own id; writes flow again', async () => {
    const { pool, host } = await poolWithHost(5, { stallMs: 2000 });
    expect(new Set(await commitAll(pool, host, 0, 'a', 200))).toEqual(new Set([0]));
    // Node 3's store is changed behind replication's back (a corrupted node): its SP differs.
    applyObject(host.appliance.core, 'rogue');
    const rogueSp = host.appliance.info().syncPoint.hex;
    expect(rogueSp).not.toBe(pool.appliances[0].info().syncPoint.hex);
    const blocked = await commitAll(pool, host, 0, 'blocked', 1, 3);
    expect(blocked[0]).not.toBe(0); // not synced: the pool refuses to commit past a diverged member

    const before = host.identity.id;
    const result = await drive(
      pool,
      host,
      runCommand(host.appliance, 'local', 'live-sync', {
        liveSync: (target) => host.liveSync(target),
      }),
    );
    expect(result.code, result.text).toBe(0);
    expect(host.identity.id).toBe(before);
    expect(host.appliance.id).toBe(before);
    const sp = pool.appliances[0].info().syncPoint;
    expect(host.appliance.info().syncPoint.hex).toBe(sp.hex);
    expect(host.appliance.core.get('object', 'rogue')).toBeUndefined();
    expect(new Set(await commitAll(pool, host, 2, 'after', 20))).toEqual(new Set([0]));
    await drive(pool, host, new Promise((resolve) => setTimeout(resolve, 50)));
    expect(host.appliance.info().syncPoint.hex).toBe(pool.appliances[1].info().syncPoint.hex);
    expect(host.appliance.info().syncPoint.count).toBe(220);
    await pool.close();
  }, 60_000);

  it('a node declared down comes back under a new id; every member learns it', async () => {
    const { pool, host } = await poolWithHost(6, { stallMs: 2000 });
    await commitAll(pool, host, 0, 'a', 50);
    const old = host.identity.id;
    pool.hub.setIsolated(pool.founders[2].address, true);
    expect((await drive(pool, host, pool.appliances[0].nodeDown(old))).code).toBe(0);
    pool.hub.setIsolated(pool.founders[2].address, false);
    await drive(
      pool,
      host,
      (async () => {
        while (!host.appliance.info().fenced)
          await new Promise((resolve) => setTimeout(resolve, 5));
      })(),
    );
    expect(await commitAll(pool, host, 2, 'fenced', 1, 1)).not.toEqual([0]);

    const summary = await drive(pool, host, host.liveSync());
    expect(summary.previousId).toBe(old);
    expect(summary.id).not.toBe(old);
    expect(host.appliance.id).toBe(summary.id);
    expect(host.appliance.info().fenced).toBe(false);
    for (const appliance of pool.appliances.slice(0, 2)) {
      const entry = appliance.info().nodes.find((n) => n.id === summary.id);
      expect(entry?.member).toBe(true);
    }
    expect(new Set(await commitAll(pool, host, 2, 'back', 10))).toEqual(new Set([0]));
    await drive(pool, host, new Promise((resolve) => setTimeout(resolve, 50)));
    expect(host.appliance.info().syncPoint.hex).toBe(pool.appliances[0].info().syncPoint.hex);
    await pool.close();
  }, 60_000);

  it('refuses, changing nothing: clients connected (37033), a pending transaction here (37038), no peer (37034), another SVMK (5306)', async () => {
    const { pool, host } = await poolWithHost(7, { stallMs: 2000 });
    await commitAll(pool, host, 0, 'a', 10);
    const sp = host.appliance.info().syncPoint.hex;
    const appliance = host.appliance;

    host.clientConnections = 1;
    expect(await codeOf(host.liveSync())).toBe(37033);
    host.clientConnections = 0;

    // Node 3 coordinates a write that waits on an unreachable node 2: it holds a PTL.
    pool.hub.setIsolated(pool.founders[1].address, true);
    const waiting = host.appliance.write(write('waits'));
    await drive(pool, host, new Promise((resolve) => setTimeout(resolve, 30)));
    expect(host.appliance.info().pending.length).toBe(1);
    expect(await codeOf(host.liveSync())).toBe(37038);
    pool.hub.setIsolated(pool.founders[1].address, false);
    expect((await drive(pool, host, waiting)).code).toBe(0);

    expect(await codeOf(host.liveSync('127.0.9.9:7001'))).toBe(37034); // nothing listens there
    expect(await codeOf(host.liveSync('00000000000000aa'))).toBe(37034); // no such node in the list
    expect(await codeOf(host.liveSync('zz@127.0.9.9:7001'))).toBe(37034); // not a node id
    const foreignSvmk = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
    const foreign = new MemoryTransport({
      hub: pool.hub,
      nodeId: toNodeId('00000000000000f0'),
      address: '127.0.9.8:7001',
      svmk: foreignSvmk,
    });
    expect(await codeOf(host.liveSync('127.0.9.8:7001'))).toBe(5306);
    await foreign.close();

    // Still the same appliance, the same state, and it still takes part in commits.
    expect(host.appliance).toBe(appliance);
    expect(new Set(await commitAll(pool, host, 2, 'still', 5))).toEqual(new Set([0]));
    expect(host.appliance.info().syncPoint.hex).not.toBe(sp);
    await pool.close();
  }, 60_000);

  it('a donor that dies mid-transfer: 37032, the node runs on its old state; a retry from another member succeeds', async () => {
    const { pool, host } = await poolWithHost(8, { stallMs: 2000 });
    for (let i = 0; i < 3; i++) await commitAll(pool, host, 0, `p${i}-`, 1000);
    // What node 3 holds durably; the rogue record below lives only in its memory.
    const storedSp = host.appliance.info().syncPoint.hex;
    applyObject(host.appliance.core, 'rogue');
    const rogueSp = host.appliance.info().syncPoint.hex;
    const donor = pool.founders[0];
    let chunks = 0;
    const failed = await drive(
      pool,
      host,
      codeOf(
        host.liveSync(donor.id, (progress) => {
          if (progress.phase === 'snapshot' && ++chunks === 2)
            pool.hub.setIsolated(donor.address, true);
        }),
      ),
    );
    expect(failed).toBe(37032);
    // Running again, on what its storage held: nothing of the half-received image was kept.
    expect(host.liveSyncing).toBe(false);
    expect(host.appliance.info().syncPoint.hex).toBe(storedSp);
    expect(rogueSp).not.toBe(storedSp);
    pool.hub.setIsolated(donor.address, false);

    const summary = await drive(pool, host, host.liveSync(pool.founders[1].address));
    expect(summary.donor.id).toBe(pool.founders[1].id);
    expect(host.appliance.info().syncPoint.hex).toBe(pool.appliances[1].info().syncPoint.hex);
    expect(host.appliance.core.get('object', 'rogue')).toBeUndefined();
    await pool.close();
  }, 60_000);
});
