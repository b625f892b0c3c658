// What group commit buys: a 3-node pool in one process (memory transport with the real
// secure channel, FILE storage with fsync on every decision), N writers each with one write
// outstanding, group commit on and off. Prints a table and writes
// bench/results/group-commit.json. Usage: npm run bench:group-commit [-- --seconds 5]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { TICK_MS } from '../host/appliance/appliance.ts';
import { Random } from '../host/protocol/random.ts';
import { FileStorage } from '../host/storage/file.node.ts';
import { InProcessPool } from '../host/testing/in-process-pool.ts';
import { keyedCore, sampleObject } from '../test/fixtures.ts';
import { numberOption, writeResult } from './lib/cli.ts';
import { closedLoops, quantile } from './lib/stats.ts';

const seconds = numberOption('seconds', 4);
const svmk = new Uint8Array(32).fill(7);
const keyed = () => keyedCore('release', svmk);
const codec = keyed();

/** The in-process pool of tests and bench:web, each appliance on its own FILE storage under
 * `dir`, ticking in real time. */
async function pool(groupCommit: boolean, dir: string): Promise<InProcessPool> {
  const files = await Promise.all([0, 1, 2].map((i) => FileStorage.open(join(dir, `n${i}`))));
  const started = await InProcessPool.start({
    nodes: 3,
    svmk,
    newCore: keyed,
    domain: 'bench',
    groupCommit,
    wrapStorage: (_, i) => files[i],
  });
  started.startClock();
  return started;
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
  const writing = await pool(groupCommit, dir);
  const ids = new Random(clients * 2 + (groupCommit ? 1 : 0));
  const latencies: number[] = [];
  let busy = 0;
  let counter = 0;
  // Every writer talks to node 1: the pool admits one transaction at a time, so writers on
  // different nodes would mostly measure busy answers (36000), not commits.
  await closedLoops(clients, seconds, async () => {
    const name = `k${++counter}`;
    const started = performance.now();
    const reply = await writing.appliances[0].write({
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
  });
  await writing.close();
  rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  return {
    groupCommit,
    clients,
    commits: latencies.length,
    perSecond: latencies.length / seconds,
    p50ms: quantile(latencies, 0.5),
    p99ms: quantile(latencies, 0.99),
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
