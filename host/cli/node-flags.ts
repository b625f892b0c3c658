// The V8 flags and the environment every `hsmpool node` process runs with. `hsmpool up` passes
// both to the nodes it starts; bin/hsmpool.js carries the flags in its `#!` line (a node started
// by hand gets libuv's thread pool size unless UV_THREADPOOL_SIZE is set: docs/CLI.md).
// Benches and the chaos campaign start nodes the same way, so they measure what users run.

import { availableParallelism } from 'node:os';

// --max-semi-space-size=4 (MiB; Node 20's default lets the young generation grow to 16 MiB).
// In a quiet run, each node scavenged every 0.3–0.7 s, and each pause took 2–6 ms. 14 of
// the 30 commits above p99 overlapped such a pause. With 4 MiB, scavenges are more frequent
// and shorter, and the young generation stays closer to the cache. Measured in alternating
// runs of 3,000 one-client commits on the 2-vCPU machine (docs/PERFORMANCE.md):
// - p99 was lower in 5 of 6 pairs, and the worst commit lower in 4 of 6;
// - p50 was unchanged within noise;
// - at 32 writers, throughput was not lower and the coordinator's CPU per commit fell 1–10 %
//   (2 pairs).
export const NODE_V8_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/** Bounds of a node's libuv thread pool: libuv's own default (4) is the most. */
export const THREADPOOL_SIZE_MIN = 2;
export const THREADPOOL_SIZE_MAX = 4;

/**
 * The threads of a node's libuv pool, which runs its log's forced writes, its snapshot files
 * and its signatures (node:crypto's callback form): the machine's cores, 2 to 4. libuv reads
 * UV_THREADPOOL_SIZE once, before a process's first job, and Node queues file reads of its own
 * while it loads the bundle, so it must come in the process's environment, not from the code.
 *
 * Measured on the 2-vCPU machine (docs/PERFORMANCE.md, "The thread pool"): with libuv's 4
 * threads in each of three nodes, nearly every signature woke a sleeping thread, and the
 * woken threads took the cores from the main threads. Seven alternating pairs of runs, 2
 * threads against 4: 32 clients signing on one node 6,908–9,428/s against 5,919–8,070/s (7 of
 * 7 pairs), 32 writers 3,160–4,662/s against 2,912–4,162/s (5 of 7), one client's p50
 * 2.22–2.96 ms against 2.11–3.31 ms (5 of 7). One thread signed as fast but serialized the
 * forced writes behind the signatures (one client's p50 3.27 and 3.57 ms).
 */
export function nodeThreadpoolSize(cores: number = availableParallelism()): number {
  return Math.min(THREADPOOL_SIZE_MAX, Math.max(THREADPOOL_SIZE_MIN, Math.floor(cores)));
}

/** The environment to spawn a node process with: `env`, with UV_THREADPOOL_SIZE set to
 * nodeThreadpoolSize() unless `env` sets it already (an operator's choice wins). */
export function nodeProcessEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (env.UV_THREADPOOL_SIZE !== undefined && env.UV_THREADPOOL_SIZE !== '') return { ...env };
  return { ...env, UV_THREADPOOL_SIZE: String(nodeThreadpoolSize()) };
}
