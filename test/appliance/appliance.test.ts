// Appliances in one process over the memory transport (real secure channel, memory storage).

import { describe, expect, it } from 'vitest';
import { InProcessPool } from '../../host/testing/in-process-pool.ts';
import { keyedCore } from '../fixtures.ts';
import { objectWrites, startPool, drive } from '../pool-writes.ts';

const codec = keyedCore();
const write = objectWrites(7);

/** Runs the pool five ticks at a time until `promise` settles (400 ticks at most). */
const settle = <T>(pool: InProcessPool, promise: Promise<T>): Promise<T> =>
  drive(pool, promise, 80, () => pool.run(5));

describe('appliances over the memory transport', () => {
  it('writes on every node commit everywhere; SPs converge; nothing stays pending', async () => {
    const pool = await startPool({ nodes: 3 });
    await pool.run(5);
    for (const [i, appliance] of pool.appliances.entries()) {
      const reply = await settle(pool, appliance.write(write(`key${i}`)));
      expect(reply.code).toBe(0);
    }
    await pool.run(30);
    const infos = pool.appliances.map((a) => a.info());
    expect(new Set(infos.map((info) => info.syncPoint.hex)).size).toBe(1);
    expect(
      pool.appliances[0].core
        .list()
        .map((r) => codec.decode(r).name)
        .sort(),
    ).toEqual(['key0', 'key1', 'key2']);
    for (const info of infos) expect(info.pending).toEqual([]);
    await pool.close();
  });

  it('a crashed node recovers from its storage and catches up; node-down unblocks a pool with a dead member', async () => {
    const pool = await startPool({ nodes: 3 });
    expect((await settle(pool, pool.appliances[0].write(write('a')))).code).toBe(0);
    // Node 2 dies for good: writes block (CP), reads would still be served.
    const dead = pool.founders[2];
    await pool.appliances[2].close();
    pool.hub.setIsolated(dead.address, true);
    pool.appliances.splice(2, 1);
    const blocked = pool.appliances[0].write(write('b'));
    await pool.run(40);
    // Node 1 restarts from its storage meanwhile.
    await pool.appliances[1].close();
    await pool.open(1);
    const down = await settle(pool, pool.appliances[1].nodeDown(dead.id));
    expect(down.code).toBe(0);
    const outcome = await settle(pool, blocked);
    // Aborted because the dead node was fenced before its vote: "pending", never "busy" (had
    // this coordinator been declared down too, the survivors could have committed it).
    expect([0, 38720]).toContain(outcome.code);
    const again = await settle(pool, pool.appliances[0].write({ ...write('c') }));
    expect(again.code).toBe(0);
    await pool.run(30);
    const [a, b] = pool.appliances.map((x) => x.info());
    expect(a.syncPoint.hex).toBe(b.syncPoint.hex);
    expect(a.pending).toEqual([]);
    expect(a.nodes.find((n) => n.id === dead.id)?.fenced).toBe(true);
    await pool.close();
  });

  it('checkpoints keep the log bounded; a restart recovers from the snapshot plus the log after it', async () => {
    const pool = await startPool({ nodes: 2, checkpointBytes: 4096 });
    for (let i = 0; i < 40; i++)
      expect((await settle(pool, pool.appliances[i % 2].write(write(`c${i}`)))).code).toBe(0);
    await pool.run(20);
    const snapshots = await pool.storages[0].listSnapshots();
    expect(snapshots.length).toBeGreaterThan(0);
    expect(snapshots.length).toBeLessThanOrEqual(2);
    expect(await pool.storages[0].logSize()).toBeLessThan(3 * 4096 + 4096);
    const before = pool.appliances[0].info().syncPoint;
    await pool.appliances[0].close();
    const reopened = await pool.open(0);
    expect(reopened.info().syncPoint).toEqual(before);
    expect(reopened.runtime.recovered.snapshot).toBeDefined();
    await pool.close();
  });
});
