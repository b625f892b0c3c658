// Real processes on 127.0.0.1: a 3-node pool of `hsmpool node` processes (build/cli.js),
// writes through the SDK on every node, kill -9 of a coordinator in the middle of a stream of
// writes and its restart, node-down (remote console) for a node that stays dead, and
// convergence of the Sync-Points. Ports are chosen free; every process is killed at the end.

import { expect, it } from 'vitest';
import { HsmClient } from '../../host/client/index.ts';
import { nodeConnections } from '../../host/client/ws-client.node.ts';
import {
  consoleJson,
  freeAddresses,
  patientClient,
  startNode,
  startPool,
  until,
  scratchDir,
} from '../processes.ts';

/** Writes in the stream, and how many are acknowledged before the coordinator is killed. */
const STREAM_WRITES = 40;
const KILL_AFTER = 8;
const data = scratchDir('it');

it('a pool of processes survives kill -9 of a coordinator and node-down of a dead node', async () => {
  const addresses = await freeAddresses(3);
  const { password, nodes: processes } = await startPool(data, 'it', addresses);
  const client = (i: number) => patientClient(addresses[i], 'admin', password);

  // Writes on every node.
  const clients = await Promise.all([0, 1, 2].map(client));
  const acknowledged: string[] = [];
  for (const [i, c] of clients.entries()) {
    await c.generateKey(`first-${i}`, 'aes-256');
    acknowledged.push(`first-${i}`);
  }

  // A stream of writes coordinated by node 1 (the client fails over to node 2 while node 1
  // is dead); kill -9 node 1 in the middle; restart it.
  const streaming = await HsmClient.connect({
    nodes: [addresses[0], addresses[1]],
    user: 'admin',
    password,
    connections: nodeConnections(),
    loadBalancing: false,
    nodeRetryAfterMs: 200,
    retry: { busyRetriesMax: 60, backoffBaseMs: 20, backoffMaxMs: 500 },
  });
  let beforeKill = 0;
  let killed!: () => void;
  const kill = new Promise<void>((resolve) => (killed = resolve));
  let streamAcknowledged = 0;
  const stream = (async () => {
    for (let n = 0; n < STREAM_WRITES; n++) {
      try {
        await streaming.generateKey(`stream-${n}`, 'hmac-sha256');
        acknowledged.push(`stream-${n}`);
        // Kill the coordinator right at the KILL_AFTER-th acknowledgement, mid-stream.
        if (++streamAcknowledged === KILL_AFTER) {
          beforeKill = acknowledged.length;
          processes[0].kill('SIGKILL');
          killed();
        }
      } catch {
        // refused or unknown: the client was not told it committed
      }
    }
    killed(); // never reached KILL_AFTER: the assertions below say so
  })();
  await kill;
  await new Promise((resolve) => setTimeout(resolve, 300));
  processes[0] = await startNode(data, 0);
  await stream;
  // The kill landed in the middle of the stream: writes were acknowledged before and after it.
  expect(beforeKill).toBeGreaterThan(3);
  expect(acknowledged.length).toBeGreaterThan(beforeKill);
  expect(acknowledged.length).toBeLessThan(3 + STREAM_WRITES + 1);

  // Node 3 dies for good: node-down from the remote console unblocks the pool.
  processes[2].kill('SIGKILL');
  await new Promise((resolve) => processes[2].once('exit', resolve));
  const down = await consoleJson(addresses[1], password, 'node-down ' + addresses[2]);
  expect(down.code).toBe(0);
  const after = await client(1);
  await after.generateKey('after-node-down', 'ed25519');
  acknowledged.push('after-node-down');

  // The survivors converge: same SP, nothing pending, every acknowledged write on both.
  await until('SPs converge with no PTL', async () => {
    const [a, b] = await Promise.all(
      [0, 1].map((i) => consoleJson(addresses[i], password, 'info')),
    );
    return (
      a.data.syncPoint.hex === b.data.syncPoint.hex &&
      a.data.pending.length === 0 &&
      b.data.pending.length === 0
    );
  });
  for (const i of [0, 1]) {
    const c = await client(i);
    const names = new Set((await c.listKeys({ limit: 1000 })).keys.map((key) => key.name));
    for (const name of acknowledged) expect(names, `${name} on node ${i + 1}`).toContain(name);
    c.close();
  }
  for (const c of [...clients, after, streaming]) c.close();
  console.log(
    `integration: ${acknowledged.length} writes acknowledged (${beforeKill - 3} of the stream before the kill)`,
  );
}, 180_000);
