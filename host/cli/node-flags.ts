// The V8 flags every `hsmpool node` process runs with. `hsmpool up` passes them to the nodes
// it starts, and bin/hsmpool.js carries them in its `#!` line. Benches and the chaos campaign
// start nodes the same way, so they measure what users run.
//
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
