// bench:checkpoint — what a running node's checkpoints cost the pool's writes when its store is
// large. Real `hsmpool node` processes on loopback (build/cli.js: `npm run build` first), each
// pool given its keys offline (bench/lib/live-sync-processes.ts startLoadedPool), then
// `writers` SDK clients on node 1 generate keys in closed loops for `seconds`. Every node takes
// a checkpoint after each CHECKPOINT_LOG_BYTES (16 MiB) of log, so a run of a minute crosses
// one or two. The same loops run against a pool of `small` keys in the same run: the writes a user
// sees when a checkpoint is cheap. Prints and writes bench/results/checkpoint.json: write
// latencies (p50, p99, p99.9, longest, writes over 100 ms) and each node's checkpoints with
// the longest write in flight around each, and bench/results/checkpoint.svg: the longest write
// per 250 ms over the run, checkpoints marked.
//
//   npm run bench:checkpoint [-- --keys 1000000 --small 10000 --writers 8 --seconds 60]

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { freeAddresses, killAll, patientClient, stop } from '../test/processes.ts';
import { CHECKPOINT_LOG_BYTES } from '../host/appliance/runtime.ts';
import { startLoadedPool, startWriter } from './lib/live-sync-processes.ts';
import { loadAverage, machineInfo } from './lib/machine.ts';
import { numberOption, resultPath, writeResult } from './lib/cli.ts';
import { timeSeries } from './lib/svg.ts';
import { quantile } from './lib/stats.ts';

const KEYS = numberOption('keys', 1_000_000);
const SMALL = numberOption('small', 10_000);
const WRITERS = numberOption('writers', 8);
const SECONDS = numberOption('seconds', 60);
/** A write this long or longer is counted as stalled. */
const STALL_MS = 100;
/** The figure's resolution: the longest write started in each window of this many ms. */
const TIMELINE_WINDOW_MS = 250;

const round = (x: number, digits = 1): number => Number(x.toFixed(digits));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One pool of `keys` keys under the writers; its write latencies and its nodes' checkpoints. */
async function run(keys: number) {
  const data = mkdtempSync(join(tmpdir(), 'hsmpool-checkpoint-'));
  const running: ChildProcess[] = [];
  try {
    const addresses = await freeAddresses(3);
    const pool = await startLoadedPool(data, addresses, keys, console.log, running);
    const clients = await Promise.all(
      Array.from({ length: WRITERS }, () => patientClient(addresses[0], 'admin', pool.password)),
    );
    const writers = clients.map((client, i) => startWriter(client, `w${i}-`));
    // Wall-clock ms (Date.now) of the writers' performance.now() origin: node events carry ISO times.
    const origin = performance.timeOrigin;
    const started = Date.now();
    const loadBefore = loadAverage();
    await sleep(SECONDS * 1000);
    await Promise.all(writers.map((writer) => writer.stop()));
    const ended = Date.now();
    clients.forEach((client) => client.close());
    const timings = writers.flatMap((writer) =>
      writer.timings.map((t) => ({ startMs: origin + t.startMs, ms: t.ms })),
    );
    const sorted = timings.map((t) => t.ms).sort((a, b) => a - b);
    const checkpoints = pool.nodes.flatMap((node, index) =>
      node.events
        .filter((event) => event.event.startsWith('checkpoint'))
        .map((event) => ({
          node: index + 1,
          event: event.event,
          at: Date.parse(String(event.time)),
        }))
        .filter((event) => event.at >= started && event.at <= ended + 5_000),
    );
    // Around each checkpoint: the longest write in flight in the 3 s before its event (the
    // event comes when the snapshot is stored, after the stall it may have caused).
    const around = checkpoints.map((checkpoint) => {
      const inFlight = timings.filter(
        (t) => t.startMs + t.ms >= checkpoint.at - 3_000 && t.startMs <= checkpoint.at,
      );
      const longest = Math.max(0, ...inFlight.map((t) => t.ms));
      return {
        ...checkpoint,
        atS: round((checkpoint.at - started) / 1000),
        longestWriteMs: round(longest),
      };
    });
    // The longest write started in each window: what the figure draws.
    const windows = new Map<number, number>();
    for (const t of timings) {
      const at = Math.floor((t.startMs - started) / TIMELINE_WINDOW_MS);
      windows.set(at, Math.max(windows.get(at) ?? 0, t.ms));
    }
    const timeline = [...windows]
      .sort((a, b) => a[0] - b[0])
      .map(([at, ms]) => [round((at * TIMELINE_WINDOW_MS) / 1000), round(ms)]);
    const stalls = timings
      .filter((t) => t.ms >= STALL_MS)
      .map((t) => ({ atS: round((t.startMs - started) / 1000), ms: round(t.ms) }));
    const failures = writers.reduce(
      (sum, writer) => sum + [...writer.failures.values()].reduce((a, b) => a + b, 0),
      0,
    );
    for (const node of pool.nodes.reverse()) await stop(node);
    return {
      keys,
      records: pool.built.records,
      writes: timings.length,
      perSecond: Math.round(timings.length / ((ended - started) / 1000)),
      failures,
      busyRetries: writers.reduce((sum, writer) => sum + writer.busyRetries(), 0),
      p50ms: round(quantile(sorted, 0.5), 2),
      p99ms: round(quantile(sorted, 0.99), 2),
      p999ms: round(quantile(sorted, 0.999), 2),
      longestMs: round(sorted.at(-1) ?? 0),
      stalled: stalls.length,
      stalls: stalls.slice(0, 40),
      checkpoints: around,
      timeline,
      loadBefore,
    };
  } finally {
    for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
    killAll();
    rmSync(data, { recursive: true, force: true });
  }
}

console.log(
  `bench:checkpoint — ${WRITERS} writers on node 1 for ${SECONDS} s; checkpoints every ${CHECKPOINT_LOG_BYTES >> 20} MiB of log`,
);
const runs = [];
for (const keys of [KEYS, SMALL]) {
  console.log(`\n${keys.toLocaleString('en')} keys:`);
  const result = await run(keys);
  runs.push(result);
  console.log(
    `  ${result.writes} writes (${result.perSecond}/s, ${result.failures} failed, ${result.busyRetries} busy retries): ` +
      `p50 ${result.p50ms} ms, p99 ${result.p99ms} ms, p99.9 ${result.p999ms} ms, longest ${result.longestMs} ms; ` +
      `${result.stalled} writes ≥ ${STALL_MS} ms`,
  );
  for (const checkpoint of result.checkpoints)
    console.log(
      `  node ${checkpoint.node} ${checkpoint.event} at ${checkpoint.atS} s: longest write in flight in the 3 s before ${checkpoint.longestWriteMs} ms`,
    );
}
const svg = resultPath('checkpoint.svg');
writeFileSync(
  svg,
  timeSeries(
    "Longest write per 250 ms while nodes checkpoint (dashed: node 1's checkpoint stored)",
    'longest write (ms)',
    runs.map((run) => ({
      name: `${run.keys.toLocaleString('en')} keys`,
      points: run.timeline as [number, number][],
    })),
    runs.flatMap((run, series) =>
      run.checkpoints.filter((c) => c.node === 1).map((c) => ({ x: c.atS, series })),
    ),
  ),
);
const path = writeResult('checkpoint.json', {
  date: new Date().toISOString(),
  machine: machineInfo(),
  params: {
    writers: WRITERS,
    seconds: SECONDS,
    stallMs: STALL_MS,
    checkpointLogBytes: CHECKPOINT_LOG_BYTES,
  },
  setup:
    'a 3-node pool of real processes on 127.0.0.1 (file storage, forced writes), given its keys offline by restore; closed-loop generateKey writers on node 1; the small pool is the anchor: the same loops when a checkpoint is cheap',
  runs,
});
console.log(`\nwritten to ${path.pathname} and ${svg.pathname}`);
