// bench:commit — a 3-node pool of real processes on loopback (file storage, fsync on every
// decision): write commit latency p50/p99 and throughput with 1, 8 and 32 concurrent SDK
// clients, with and without group commit; then sign throughput against one node and against
// all three. Prints a table and writes bench/results/commit.json.
// Usage: npm run bench:commit [-- --seconds 5]   (needs `npm run build`)

import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmClient } from '../host/client/index.ts';
import { freeAddresses, startPool as startProcessPool } from '../test/processes.ts';
import { nodeConnections } from '../host/client/ws-client.node.ts';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 5;
const CLIENTS_MAX = 32;

async function startPool(
  groupCommit: boolean,
): Promise<{ addresses: string[]; password: string; stop: () => void }> {
  const data = mkdtempSync(join(tmpdir(), 'hsmpool-bench-'));
  const addresses = await freeAddresses(3);
  const nodeArgs = groupCommit ? [] : ['--no-group-commit'];
  const { password, nodes } = await startProcessPool(data, 'bench', addresses, nodeArgs);
  return {
    addresses,
    password,
    stop: () => {
      nodes.forEach((c) => c.kill('SIGTERM'));
      setTimeout(() => rmSync(data, { recursive: true, force: true }), 1500);
    },
  };
}

/** `count` clients logged in as the administrator (the pool waited for it to exist). */
async function connectMany(count: number, nodes: string[], password: string): Promise<HsmClient[]> {
  const clients: HsmClient[] = [];
  for (let i = 0; i < count; i++) {
    clients.push(
      await HsmClient.connect({
        nodes,
        user: 'admin',
        password,
        connections: nodeConnections(),
        retry: { busyRetriesMax: 100, backoffBaseMs: 5, backoffMaxMs: 200 },
      }),
    );
  }
  return clients;
}

const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

async function writes(
  clients: HsmClient[],
): Promise<{ perSecond: number; p50ms: number; p99ms: number; commits: number; failures: number }> {
  const latencies: number[] = [];
  let failures = 0;
  let counter = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    clients.map(async (client) => {
      while (performance.now() < end) {
        const started = performance.now();
        try {
          await client.generateKey(
            `w${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 8)}`,
            'aes-256',
          );
          latencies.push(performance.now() - started);
        } catch {
          failures++;
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    perSecond: latencies.length / seconds,
    p50ms: quantile(latencies, 0.5),
    p99ms: quantile(latencies, 0.99),
    commits: latencies.length,
    failures,
  };
}

async function signs(clients: HsmClient[], key: string): Promise<number> {
  let done = 0;
  const message = new Uint8Array(32);
  // Warm up: every client logs in on every node it will use before the clock starts.
  await Promise.all(
    clients.map(async (client) => {
      for (let i = 0; i < 6; i++) await client.sign(key, message);
    }),
  );
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    clients.map(async (client) => {
      while (performance.now() < end) {
        await client.sign(key, message);
        done++;
      }
    }),
  );
  return done / seconds;
}

const rows: Record<string, unknown>[] = [];
let reads: Record<string, number> = {};
for (const groupCommit of [true, false]) {
  const pool = await startPool(groupCommit);
  // Writers all use node 1: the pool runs one transaction at a time, so writers spread over
  // nodes mostly measure collisions (36000, retried) rather than commits.
  const clients = await connectMany(CLIENTS_MAX, [pool.addresses[0]], pool.password);
  for (const count of [1, 8, 32]) {
    const result = await writes(clients.slice(0, count));
    rows.push({ groupCommit, clients: count, ...result });
    console.log(
      `group commit ${groupCommit ? 'on ' : 'off'}  ${String(count).padStart(2)} clients  ${result.perSecond.toFixed(0).padStart(6)} commits/s  p50 ${result.p50ms.toFixed(1)} ms  p99 ${result.p99ms.toFixed(1)} ms`,
    );
  }
  if (groupCommit) {
    await clients[0].generateKey('bench-signer', 'ec-p256');
    const oneNode = await signs(clients, 'bench-signer');
    const spread = await connectMany(CLIENTS_MAX, pool.addresses, pool.password);
    const allNodes = await signs(spread, 'bench-signer');
    reads = { oneNodeSignsPerSecond: oneNode, allNodesSignsPerSecond: allNodes };
    console.log(
      `sign (ECDSA P-256), ${CLIENTS_MAX} clients: one node ${oneNode.toFixed(0)}/s, all three ${allNodes.toFixed(0)}/s`,
    );
    spread.forEach((c) => c.close());
  }
  clients.forEach((c) => c.close());
  pool.stop();
}
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/commit.json',
  JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      loadAverage: loadavg(),
      seconds,
      setup:
        '3 hsmpool node processes on 127.0.0.1, file storage with fsync, SDK clients in one bench process on the same 2-core machine',
      writes: rows,
      reads,
    },
    null,
    2,
  ) + '\n',
);
console.log('wrote bench/results/commit.json');
process.exit(0);
