// bench:commit — commit latency and throughput of a 3-node hsmpool of real processes on
// loopback (file storage, forced writes), side by side with the 3-node MariaDB Galera anchor
// (fsync at every commit) when MariaDB and galera-4 are installed, plus the fdatasync floor,
// all in one run with the same loops and client counts. Then sign throughput through the pool
// against raw node:crypto in this process. Prints a table, writes bench/results/commit.json and
// two SVGs next to it (latency CDF of one client, throughput by clients).
// Usage: npm run bench:commit [-- --seconds 10 --commits 2000 --warmup 10 --no-galera]
//        (needs `npm run build`; Galera: apt-get install mariadb-server galera-4 rsync socat)

import { generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import {
  fdatasyncFloorMs,
  galeraAnchor,
  startGalera,
  startHsmpool,
  type HsmpoolTarget,
  type Target,
  type Writer,
} from './lib/commit-targets.ts';
import { cdfPoints, groupedBars, latencyCdf } from './lib/svg.ts';
import { processCpuMs } from './lib/machine.ts';
import { numberOption, writeResult } from './lib/cli.ts';
import { closedLoops, latenciesMs, quantile } from './lib/stats.ts';

const seconds = numberOption('seconds', 10);
const commits = numberOption('commits', 2000);
const warmupSeconds = numberOption('warmup', 10);
/** Each throughput phase opens its clients anew: this many seconds of it are run and not
 * counted, on both systems, so the figure is the phase's steady rate, not its ramp-up. */
const phaseWarmupSeconds = numberOption('phase-warmup', 3);
const CLIENT_COUNTS = [8, 32];

const round3 = (x: number): number => Math.round(x * 1000) / 1000;
const summary = (sorted: readonly number[]) => ({
  n: sorted.length,
  p50ms: round3(quantile(sorted, 0.5)),
  p90ms: round3(quantile(sorted, 0.9)),
  p99ms: round3(quantile(sorted, 0.99)),
  maxms: round3(sorted[sorted.length - 1] ?? NaN),
});

/** `count` commits one after another, rotating over `writers`; sorted latencies (ms). */
const sequential = (writers: Writer[], count: number): Promise<number[]> =>
  latenciesMs(count, (i) => writers[i % writers.length]());

/** Every writer commits in a closed loop for `windowSeconds`. */
async function closedLoop(writers: Writer[], windowSeconds: number) {
  const latencies: number[] = [];
  let failures = 0;
  const started = performance.now();
  await closedLoops(writers.length, windowSeconds, async (i) => {
    const t = performance.now();
    try {
      await writers[i]();
      latencies.push(performance.now() - t);
    } catch {
      failures++;
    }
  });
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: Math.round(latencies.length / elapsed), failures, ...summary(latencies) };
}

/** What `run` gives, and the CPU (ms) each node process and this process used meanwhile. */
async function cpuUsedMs<T>(pids: readonly number[], run: () => Promise<T>) {
  const before = pids.map(processCpuMs);
  const client = process.cpuUsage();
  const result = await run();
  const used = process.cpuUsage(client);
  return {
    result,
    nodesMs: pids.map((pid, i) => (processCpuMs(pid) ?? NaN) - (before[i] ?? NaN)),
    clientMs: (used.user + used.system) / 1000,
  };
}

/** CPU per commit of each node process and of this process (the client) over `run`, in ms. */
async function cpuPerCommit(pids: readonly number[], run: () => Promise<number[]>) {
  const { result: latencies, nodesMs, clientMs } = await cpuUsedMs(pids, run);
  const per = (ms: number): number => round3(ms / latencies.length);
  return { latencies, cpu: { nodesMs: nodesMs.map(per), clientMs: per(clientMs) } };
}

async function measure(target: Target) {
  const first = await target.writers(1, 'first');
  await closedLoops(1, warmupSeconds, first[0]); // warm up
  const { latencies: oneClient, cpu } = await cpuPerCommit(target.pids ?? [], () =>
    sequential(first, commits),
  );
  const rotating = await sequential(await target.writers(3, 'spread'), commits);
  await target.closeWriters();
  console.log(
    `${target.name.padEnd(8)} 1 client  node 1 p50 ${quantile(oneClient, 0.5).toFixed(2)} ms p99 ${quantile(oneClient, 0.99).toFixed(2)} ms; rotating p50 ${quantile(rotating, 0.5).toFixed(2)} p99 ${quantile(rotating, 0.99).toFixed(2)}`,
  );
  if (cpu.nodesMs.length > 0)
    console.log(
      `${target.name.padEnd(8)} 1 client  CPU per commit: nodes ${cpu.nodesMs.map((ms) => `${ms} ms`).join(', ')} (node 1 coordinates); client ${cpu.clientMs} ms`,
    );
  const throughput: Record<string, unknown>[] = [];
  for (const clients of CLIENT_COUNTS) {
    for (const placement of ['first', 'spread'] as const) {
      const writers = await target.writers(clients, placement);
      await closedLoop(writers, phaseWarmupSeconds);
      const result = await closedLoop(writers, seconds);
      await target.closeWriters();
      throughput.push({ clients, placement, ...result });
      console.log(
        `${target.name.padEnd(8)} ${String(clients).padStart(2)} clients ${placement.padEnd(6)} ${String(result.perSecond).padStart(6)} commits/s  p50 ${result.p50ms} ms  p99 ${result.p99ms} ms  failures ${result.failures}`,
      );
    }
  }
  return { oneClient, oneClientCpu: cpu, rotating, throughput };
}

async function signs(pool: HsmpoolTarget) {
  const message = new Uint8Array(32);
  const admin = await pool.client([pool.addresses[0]]);
  await admin.generateKey('bench-signer', 'ec-p256');
  /** Signatures per second of 32 clients, and the CPU each signature cost each node process
   * and this process (the clients), in µs. */
  const rate = async (nodesOf: (i: number) => string[]) => {
    const clients = await Promise.all(
      Array.from({ length: 32 }, (_, i) => pool.client(nodesOf(i))),
    );
    await Promise.all(clients.map((c) => c.sign('bench-signer', message))); // sessions open
    let done = 0;
    const { nodesMs, clientMs } = await cpuUsedMs(pool.pids, () =>
      closedLoops(clients.length, seconds, async (i) => {
        await clients[i].sign('bench-signer', message);
        done++;
      }),
    );
    const perSignatureUs = (ms: number): number => Math.round((ms * 1000) / done);
    const cpu = { nodesUs: nodesMs.map(perSignatureUs), clientsUs: perSignatureUs(clientMs) };
    await pool.closeWriters();
    return { perSecond: Math.round(done / seconds), cpu };
  };
  const oneNode = await rate(() => [pool.addresses[0]]);
  const allNodes = await rate((i) => [pool.addresses[i % 3]]);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let raw = 0;
  const end = performance.now() + 2000;
  while (performance.now() < end) {
    nodeSign('sha256', message, privateKey);
    raw++;
  }
  const rawPerSecond = Math.round(raw / 2);
  console.log(
    `sign P-256, 32 clients: one node ${oneNode.perSecond}/s, three nodes ${allNodes.perSecond}/s; raw node:crypto in one thread ${rawPerSecond}/s`,
  );
  console.log(
    `  CPU per signature, one node: nodes ${oneNode.cpu.nodesUs.join(' / ')} µs, clients ${oneNode.cpu.clientsUs} µs; raw ${Math.round(1e6 / rawPerSecond)} µs`,
  );
  return {
    oneNodePerSecond: oneNode.perSecond,
    threeNodesPerSecond: allNodes.perSecond,
    rawNodeCryptoPerSecond: rawPerSecond,
    oneNodeCpuPerSignatureUs: oneNode.cpu,
  };
}

const floor = await fdatasyncFloorMs();
console.log(`fdatasync floor (512 B): p50 ${quantile(floor, 0.5).toFixed(3)} ms`);
const pool = await startHsmpool();
const hsmpool = await measure(pool);
const reads = await signs(pool);
await pool.stop();

const anchor = process.argv.includes('--no-galera') ? undefined : galeraAnchor();
let galera: Awaited<ReturnType<typeof measure>> | undefined;
if (anchor) {
  const cluster = await startGalera(anchor);
  try {
    galera = await measure(cluster);
  } finally {
    await cluster.stop();
  }
} else {
  console.log('Galera anchor not measured (not installed, or --no-galera)');
}

const ratio = (a: number, b: number | undefined): string => (b ? `${(a / b).toFixed(2)}×` : '-');
if (galera) {
  console.log('\nhsmpool / Galera, same run:');
  console.log(
    `  1 client p50 ${ratio(quantile(hsmpool.oneClient, 0.5), quantile(galera.oneClient, 0.5))}, p99 ${ratio(quantile(hsmpool.oneClient, 0.99), quantile(galera.oneClient, 0.99))} (lower is better)`,
  );
  hsmpool.throughput.forEach((row, i) => {
    const other = galera!.throughput[i];
    console.log(
      `  ${row.clients} clients ${row.placement}: throughput ${ratio(row.perSecond as number, other.perSecond as number)} (higher is better)`,
    );
  });
}

const summarize = (m: NonNullable<typeof galera>) => ({
  oneClientNode1: summary(m.oneClient),
  oneClientCpuPerCommitMs: m.oneClientCpu,
  oneClientRotating: summary(m.rotating),
  throughput: m.throughput,
});
writeResult('commit.json', {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  loadAverage: loadavg(),
  params: { seconds, commits, warmupSeconds, phaseWarmupSeconds, clientCounts: CLIENT_COUNTS },
  setup:
    'one bench process drives both systems with the same loops: a 3-node hsmpool (real processes, file storage, forced writes) and the 3-node MariaDB Galera anchor (innodb_flush_log_at_trx_commit=1), all on 127.0.0.1 on this machine; hsmpool measured warm after the warm-up window',
  fdatasyncFloor: summary(floor),
  hsmpool: summarize(hsmpool),
  galera: galera ? summarize(galera) : null,
  reads,
});
const series = [{ name: 'hsmpool, 1 client', points: cdfPoints(hsmpool.oneClient) }];
if (galera) series.push({ name: 'Galera, 1 client', points: cdfPoints(galera.oneClient) });
series.push({ name: 'fdatasync 512 B', points: cdfPoints(floor) });
const xMax = Math.max(
  ...series.map((s) =>
    quantile(
      s.points.map((p) => p[0]),
      0.99,
    ),
  ),
);
writeResult(
  'commit-latency.svg',
  latencyCdf('Commit latency, one client on node 1 (same run)', series, xMax * 1.2),
);
const labels = hsmpool.throughput.map(
  (r) => `${r.clients} ${r.placement === 'first' ? 'on node 1' : 'spread'}`,
);
const bars = [{ name: 'hsmpool', values: hsmpool.throughput.map((r) => r.perSecond as number) }];
if (galera)
  bars.push({ name: 'Galera', values: galera.throughput.map((r) => r.perSecond as number) });
writeResult(
  'commit-throughput.svg',
  groupedBars('Commits per second by concurrent clients (same run)', 'commits/s', labels, bars),
);
console.log('wrote bench/results/commit.json, commit-latency.svg, commit-throughput.svg');
process.exit(0);
