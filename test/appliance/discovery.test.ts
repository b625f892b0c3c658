// Auto-discovery (host/appliance/discovery.ts) and automatic live-sync (divergence.ts,
// node-host.ts): the node cache learns the nodes that answer under the pool's SVMK in the
// range, and a node that finds the pool's members agreeing against it takes the pool image.

import { describe, expect, it } from 'vitest';
import { InProcessPool } from '../../host/testing/in-process-pool.ts';
import { NodeHost } from '../../host/appliance/node-host.ts';
import {
  DISCOVERY_ADDRESSES_MAX,
  DISCOVERY_PULSE_TICKS,
  parseDiscoveryRange,
} from '../../host/appliance/discovery.ts';
import { HsmError } from '../../host/core/codes.ts';
import { MemoryTransport } from '../../host/transport/memory.ts';
import { TEST_SVMK } from '../fixtures.ts';
import { objectWrites, applyObject } from '../pool-writes.ts';
import { poolWithHost } from '../node-host-pool.ts';
import { toNodeId } from '../../host/wire/ids.ts';

const write = objectWrites(31);

/** Ticks the pool and the host (whose appliance may change) `ticks` times. */
async function run(
  pool: InProcessPool,
  host: NodeHost,
  ticks: number,
  until?: () => boolean,
): Promise<void> {
  for (let t = 0; t < ticks && !until?.(); t++) {
    host.tick();
    for (const appliance of pool.appliances.slice(0, 2)) appliance.tick();
    await Promise.all(pool.appliances.map((appliance) => appliance.settled()));
    await new Promise((resolve) => setTimeout(resolve, 0));
    // A live-sync replaces the host's appliance: the pool's list follows it.
    pool.appliances[2] = host.appliance;
  }
}

describe('discovery', () => {
  it('parses ranges, bounded and strict', () => {
    expect(parseDiscoveryRange('127.0.0.1:7001-7003')).toEqual([
      '127.0.0.1:7001',
      '127.0.0.1:7002',
      '127.0.0.1:7003',
    ]);
    expect(parseDiscoveryRange('a:1, b:2,a:1')).toEqual(['a:1', 'b:2']);
    for (const bad of [
      '',
      'nohost',
      '127.0.0.1:7003-7001',
      '127.0.0.1:0',
      '127.0.0.1:70000',
      `h:1-${DISCOVERY_ADDRESSES_MAX + 1}`,
    ]) {
      expect(() => parseDiscoveryRange(bad), bad).toThrow(HsmError);
    }
  });

  it('fills the node cache with the nodes that answer under the SVMK, and only those', async () => {
    const { pool, host } = await poolWithHost(41, {
      discovery: [
        '127.0.0.1:7001',
        '127.0.0.2:7001',
        '127.0.0.3:7001',
        '127.0.0.8:7001',
        '127.0.0.9:7001',
        '127.0.0.10:7001',
      ],
    });
    const [E9, E8] = [toNodeId('00000000000000e9'), toNodeId('00000000000000e8')];
    const stranger = new MemoryTransport({
      hub: pool.hub,
      nodeId: E9,
      address: '127.0.0.9:7001',
      svmk: TEST_SVMK,
    });
    const foreign = new MemoryTransport({
      hub: pool.hub,
      nodeId: E8,
      address: '127.0.0.8:7001',
      svmk: Uint8Array.from({ length: 32 }, (_, i) => 99 - i),
    });
    const cached = () => new Map(host.appliance.cache.entries());
    await run(pool, host, DISCOVERY_PULSE_TICKS * 2, () => cached().has(E9));
    expect(cached().get(E9)).toBe('127.0.0.9:7001');
    expect(cached().has(E8)).toBe(false);
    const info = host.appliance.info();
    expect(info.discovery?.addresses).toBe(6);
    expect(Object.values(info.discovery?.found ?? {})).toContain(E9);
    expect(info.discovery?.autoLiveSync).toBe(true);
    await stranger.close();
    await foreign.close();
    await pool.close();
  }, 60_000);

  it('a member that the others refuse as not synced, agreeing among themselves, live-syncs by itself', async () => {
    const { pool, host } = await poolWithHost(42, { discovery: pool3Addresses() });
    const writes = (at: number, prefix: string, n: number) =>
      Promise.all(
        Array.from({ length: n }, (_, i) => pool.appliances[at].write(write(`${prefix}${i}`))),
      );
    const first = writes(0, 'a', 20);
    await run(pool, host, 2000, () => host.appliance.info().syncPoint.count === 20);
    expect((await first).every((reply) => reply.code === 0)).toBe(true);
    const id = host.identity.id;
    applyObject(host.appliance.core, 'rogue');
    // Clients keep writing through nodes 1 and 2 (retrying busy answers): node 3 refuses them
    // as not synced (36500), and nodes 1 and 2 agree on one SP.
    const poolSp = () => pool.appliances[0].info().syncPoint.hex;
    const synced = () => host.appliance.info().syncPoint.hex === poolSp() && !host.liveSyncing;
    const clients = [0, 1].map(async (at) => {
      for (let i = 0; !synced() && i < 200; i++) {
        await pool.appliances[at].write(write(`w${at}-${i}`));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    });
    let clientsDone = false;
    void Promise.all(clients).then(() => (clientsDone = true));
    await run(pool, host, 6000, () => clientsDone);
    expect(host.appliance.info().syncPoint.hex).toBe(poolSp());
    expect(host.appliance.core.get('object', 'rogue')).toBeUndefined();
    expect(host.identity.id).toBe(id);
    // And it takes part again.
    const count = host.appliance.info().syncPoint.count;
    const after = writes(2, 'd', 5);
    await run(pool, host, 2000, () => host.appliance.info().syncPoint.count >= count + 5);
    const codes = (await after).map((reply) => reply.code);
    if (codes.some((c) => c !== 0))
      for (const a of pool.appliances)
        console.log(
          a.id,
          JSON.stringify(a.info().pending).slice(0, 400),
          a.info().epoch,
          a.info().syncPoint.hex,
          JSON.stringify(a.events.slice(-6)),
        );
    expect(codes).toEqual([0, 0, 0, 0, 0]);
    await pool.close();
  }, 60_000);
});

function pool3Addresses(): string[] {
  return ['127.0.0.1:7001', '127.0.0.2:7001', '127.0.0.3:7001'];
}
