// What group commit buys: a 3-node pool in one process (memory transport with the real
// secure channel, FILE storage with fsync on every decision), N writers each with one write
// outstanding, group commit on and off. Prints a table and writes
// bench/results/group-commit.json. Usage: npm run bench:group-commit [-- --seconds 5]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { Appliance, TICK_MS } from '../host/appliance/appliance.ts';
import { Random } from '../host/protocol/random.ts';
import { toNodeId } from '../host/wire/ids.ts';
import { FileStorage } from '../host/storage/file.node.ts';
import { MemoryHub, MemoryTransport } from '../host/transport/memory.ts';
import { keyedCore, sampleObject } from '../test/fixtures.ts';
import { numberOption, writeResult } from './lib/cli.ts';

const seconds = numberOption('seconds', 4);
const svmk = new Uint8Array(32).fill(7);
const keyed = () => keyedCore('release', svmk);
const codec = keyed();

async function pool(
  groupCommit: boolean,
  dir: string,
): Promise<{ appliances: Appliance[]; stop: () => Promise<void> }> {
  const hub = new MemoryHub();
  const random = new Random(1);
  const founders = [1, 2, 3].map((i) => ({
    id: toNodeId(random.id64()),
    address: `127.0.0.${i}:7001`,
  }));
  const appliances: Appliance[] = [];
  for (const [i, node] of founders.entries()) {
    const storage = await FileStorage.open(join(dir, `n${i}`));
    const transport = new MemoryTransport({ hub, nodeId: node.id, address: node.address, svmk });
    appliances.push(
      await Appliance.open({
        id: node.id,
        address: node.address,
        domain: 'bench',
        poolId: 1n,
        founders,
        storage,
        core: keyed(),
        random: random.fork(),
        transport,
        groupCommit,
      }),
    );
  }
  const clock = setInterval(() => appliances.forEach((a) => a.tick()), TICK_MS);
  return {
    appliances,
    stop: async () => {
      clearInterval(clock);
      await Promise.all(appliances.map((a) => a.close()));
    },
  };
}

interface Row {
  groupCommit: boolean;
  clients: number;
  commits: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
  busy: number;
}

async function measure(groupCommit: boolean, clients: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'hsmpool-gc-'));
  const { appliances, stop } = await pool(groupCommit, dir);
  const ids = new Random(clients * 2 + (groupCommit ? 1 : 0));
  const latencies: number[] = [];
  let busy = 0;
  let counter = 0;
  const end = performance.now() + seconds * 1000;
  // Every writer talks to node 1: the pool admits one transaction at a time, so writers on
  // different nodes would mostly measure busy answers (36000), not commits.
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const name = `k${++counter}`;
        const started = performance.now();
        const reply = await appliances[0].write({
          requestId: ids.id64() + ids.id64(),
          event: 'CREATE_OBJ',
          sourceUser: 'bench',
          target: name,
          operations: [
            {
              op: 'insert',
              record: codec.encode({ ...sampleObject(name, 'bench'), wrapped: new Uint8Array(60) }),
            },
          ],
        });
        if (reply.code === 0) latencies.push(performance.now() - started);
        else busy++;
      }
    }),
  );
  await stop();
  rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const at = (q: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return {
    groupCommit,
    clients,
    commits: latencies.length,
    perSecond: latencies.length / seconds,
    p50ms: at(0.5),
    p99ms: at(0.99),
    busy,
  };
}

const rows: Row[] = [];
for (const clients of [1, 8, 32])
  for (const groupCommit of [false, true]) rows.push(await measure(groupCommit, clients));
console.log(
  `3-node pool in one process, file storage with fsync, ${seconds} s per row, tick ${TICK_MS} ms`,
);
console.log('group commit  clients  commits/s   p50 ms   p99 ms  busy');
for (const r of rows)
  console.log(
    `${String(r.groupCommit).padEnd(12)}  ${String(r.clients).padStart(7)}  ${r.perSecond.toFixed(0).padStart(9)}  ${r.p50ms.toFixed(1).padStart(7)}  ${r.p99ms.toFixed(1).padStart(7)}  ${r.busy}`,
  );
writeResult('group-commit.json', {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model,
  seconds,
  rows,
});
