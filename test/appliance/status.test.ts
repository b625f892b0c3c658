// What `hsmpool status` is built on, against appliances in one process: idle heartbeats keep
// every peer's SP fresh, the connection test covers the node cache and fails when a node does
// not answer, info shows the address the transport dials and a fenced node's own row, PTL times
// are the wall-clock times the node logged, and the four checks over members' answers.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InProcessPool } from '../../host/testing/in-process-pool.ts';
import { runCommand } from '../../host/server/console-commands.ts';
import { nodeStatus, type NodeStatus } from '../../host/server/console-status.ts';
import { poolChecks, type MemberRow } from '../../host/cli/status-command.ts';
import { HSMPOOL_VERSION } from '../../host/core/version.ts';
import { startPool, objectWrites } from '../pool-writes.ts';

const write = objectWrites(15);

describe('status: one node', () => {
  it('idle peers heartbeat: every peer was heard within the heartbeat period', async () => {
    const pool = await startPool({ nodes: 3, timers: { heartbeatTicks: 20 } });
    await pool.run(300); // idle: no write at all
    const status = await statusOf(pool, 0);
    expect(status.peers.map((p) => p.id).sort()).toEqual(
      [pool.founders[1].id, pool.founders[2].id].sort(),
    );
    for (const peer of status.peers) {
      expect(peer.seenMsAgo).toBeLessThanOrEqual(20 * 10);
      expect(peer.sp).toBe(status.sp);
    }
    await pool.close();
  });

  it('cross-check tests the cached nodes and fails (37004) when one does not answer', async () => {
    const pool = await startPool({ nodes: 3 });
    const [a] = pool.appliances;
    pool.hub.setIsolated(pool.founders[2].address, true);
    const check = runCommand(a, 'remote', 'cross-check 100');
    await pool.run(30);
    const result = await check;
    expect(result.code).toBe(37004);
    const rows = result.data as { id: string; rttMs?: number }[];
    expect(rows.find((r) => r.id === pool.founders[2].id)!.rttMs).toBeUndefined();
    expect(rows.find((r) => r.id === pool.founders[1].id)!.rttMs).toBeGreaterThanOrEqual(0);
    await pool.close();
  });

  it("info shows the cache's address when it differs from the membership's", async () => {
    const pool = await startPool({ nodes: 2 });
    const [a] = pool.appliances;
    const b = pool.founders[1];
    await a.addNode(b.id, '127.0.0.9:9999');
    const row = a.info().nodes.find((n) => n.id === b.id)!;
    expect(row.address).toBe('127.0.0.9:9999');
    expect(row.memberAddress).toBe(b.address);
    expect((await runCommand(a, 'remote', 'info')).text).toContain(`(membership: ${b.address})`);
    await pool.close();
  });

  it("a fenced node's info keeps its own row", async () => {
    const pool = await startPool({ nodes: 3 });
    const [a, , c] = pool.appliances;
    pool.hub.setIsolated(pool.founders[2].address, true);
    const down = runCommand(a, 'remote', `node-down ${pool.founders[2].id}`);
    await pool.run(60);
    expect((await down).code).toBe(0);
    pool.hub.setIsolated(pool.founders[2].address, false);
    for (let i = 0; i < 20 && !c.info().fenced; i++) await pool.run(10);
    expect(c.info().fenced).toBe(true);
    const self = c.info().nodes.find((n) => n.self);
    expect(self?.id).toBe(pool.founders[2].id);
    expect((await statusOf(pool, 2)).state).toBe('fenced');
    await pool.close();
  });

  it("a PTL's age is from the wall-clock time this node logged it, not from ticks", async () => {
    let clock = 1_700_000_000_000;
    const pool = await startPool({ nodes: 3, now: () => clock });
    const [a] = pool.appliances;
    pool.hub.setIsolated(pool.founders[2].address, true);
    void a.write(write('k1'));
    await pool.run(10);
    const loggedAt = clock;
    clock += 90_000; // ticks do not advance: only the wall clock does
    const status = await statusOf(pool, 0);
    expect(status.pending).toHaveLength(1);
    expect(status.pending[0].loggedAt).toBe(loggedAt);
    expect(status.pending[0].ageMs).toBe(90_000);
    expect(status.pending[0].pendingAck).toContain(pool.founders[2].address);
    pool.hub.setIsolated(pool.founders[2].address, false);
    await pool.close();
  });

  it("the version shown is package.json's", () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(HSMPOOL_VERSION).toBe(pkg.version);
  });
});

async function statusOf(pool: InProcessPool, i: number): Promise<NodeStatus> {
  const pending = nodeStatus(pool.appliances[i], { crossCheckTimeoutMs: 50 });
  await pool.run(10);
  return pending;
}

describe('status: the four checks', () => {
  const node = (id: string, port: number, extra: Partial<NodeStatus> = {}): NodeStatus => ({
    id,
    address: `127.0.0.1:${port}`,
    domain: 'd',
    version: '0.1.0',
    mode: 'normal',
    state: 'member',
    epoch: 0,
    sp: 'AA',
    spvv: '0001',
    records: 1,
    sessions: 0,
    now: 0,
    members: [],
    fencedNodes: [],
    cache: [],
    peers: [],
    crossCheck: [],
    pending: [],
    queuedWrites: 0,
    ...extra,
  });
  /** Member `id` at `port`, its cache and cross check naming `peer` at `peerPort`. */
  const row = (
    id: string,
    port: number,
    peer: string,
    peerPort: number,
    extra: Partial<NodeStatus>,
  ) => {
    const address = `127.0.0.1:${peerPort}`;
    const cache = [{ id: peer, address }];
    const crossCheck = [{ id: peer, address, rttMs: 1 }];
    return {
      id,
      address: `127.0.0.1:${port}`,
      status: node(id, port, { cache, crossCheck, ...extra }),
    };
  };
  const pair = (
    aExtra: Partial<NodeStatus> = {},
    bExtra: Partial<NodeStatus> = {},
  ): MemberRow[] => [row('a', 1, 'b', 2, aExtra), row('b', 2, 'a', 1, bExtra)];
  const failed = (rows: MemberRow[]) =>
    poolChecks(rows)
      .filter((c) => !c.pass)
      .map((c) => c.name);

  it('a healthy pair passes all four', () => {
    expect(failed(pair())).toEqual([]);
  });
  it('each failure names its check', () => {
    expect(failed(pair({ cache: [{ id: 'b', address: '127.0.0.1:9' }] }))).toEqual(['node cache']);
    expect(failed(pair({ cache: [], crossCheck: [] }))).toEqual(['node cache', 'communication']);
    expect(
      failed(pair({ crossCheck: [{ id: 'b', address: '127.0.0.1:2', code: 37004 }] })),
    ).toEqual(['communication']);
    expect(failed(pair({}, { sp: 'BB' }))).toEqual(['sync point']);
    expect(failed(pair({}, { spvv: '0002' }))).toEqual(['sync point']);
    expect(failed(pair({}, { state: 'diverged' }))).toEqual(['sync point']);
    expect(
      failed(
        pair({
          pending: [
            {
              txid: 't',
              state: 'PREPARED',
              role: 'participant',
              loggedAt: 0,
              ageMs: 5,
              pendingAck: [],
              coordinator: 'x',
            },
          ],
        }),
      ),
    ).toEqual(['PTL']);
    const rows = pair();
    expect(failed([rows[0], { id: 'b', address: '127.0.0.1:2', error: 'unreachable' }])).toEqual([
      'communication',
    ]);
  });
});
