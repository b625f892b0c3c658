// A CPU profile of one stretch of a benchmark (node:inspector): written to the temp directory
// as a .cpuprofile (open it in Chrome DevTools), and summarised: the functions with the most
// self time, and the share of the stages a live-sync goes through (inclusive time).

import { Session } from 'node:inspector/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string };
  readonly children?: number[];
}
interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
  readonly timeDeltas: number[];
}

/** Stages by the function that does them and its file (inclusive time: with what it calls). */
const STAGES: readonly (readonly [string, string, string])[] = [
  ['exportSnapshot', 'core/core.ts', "donor: freeze and sort the store's view (core)"],
  ['next', 'core/core.ts', 'donor: copy chunks out of the store (core)'],
  ['encodeEnvelope', 'transport/envelope-codec.ts', 'encode envelopes'],
  ['sealNext', 'transport/secure-channel.ts', 'seal (secure channel, ChaCha20-Poly1305)'],
  ['open', 'transport/secure-channel.ts', 'open (secure channel, ChaCha20-Poly1305)'],
  ['decodeEnvelope', 'transport/envelope-codec.ts', 'decode envelopes'],
  ['importChunk', 'core/core.ts', 'joiner: verify and insert records (core)'],
  ['writeJoinImage', 'log/join-image.ts', 'joiner: write the join image (checkpoint)'],
  ['open', 'appliance/appliance.ts', 'joiner: open the appliance from it'],
];

/** Node flags for a benchmark's child processes: with HSMPOOL_BENCH_PROFILE=<dir>, each node
 * writes a V8 CPU profile there when it stops (NODE_OPTIONS may not carry --cpu-prof). */
export const PROFILE_ARGS: readonly string[] = process.env.HSMPOOL_BENCH_PROFILE
  ? ['--cpu-prof', `--cpu-prof-dir=${process.env.HSMPOOL_BENCH_PROFILE}`]
  : [];

export interface Profiler {
  /** Stops, writes `<name>.cpuprofile` to the temp directory and prints the summary. */
  stop(name: string): Promise<void>;
}

export async function startProfile(): Promise<Profiler> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  return {
    async stop(name) {
      const { profile } = (await session.post('Profiler.stop')) as { profile: Profile };
      session.disconnect();
      const path = join(tmpdir(), `${name}.cpuprofile`);
      writeFileSync(path, JSON.stringify(profile));
      summarise(profile, path);
    },
  };
}

/** The summary of a .cpuprofile written by another process (`node --cpu-prof`, its whole
 * life): shares of the time it was busy, its idle samples left out. */
export function summariseFile(path: string): void {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const idle = new Set(
    profile.nodes.filter((node) => node.callFrame.functionName === '(idle)').map((n) => n.id),
  );
  const kept = profile.samples.flatMap((id, i) => (idle.has(id) ? [] : [i]));
  summarise(
    {
      nodes: profile.nodes,
      samples: kept.map((i) => profile.samples[i]),
      timeDeltas: kept.map((i) => profile.timeDeltas[i]),
    },
    `${path}, busy time only`,
  );
}

function summarise(profile: Profile, path: string): void {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const label = (id: number): string => {
    const frame = byId.get(id)!.callFrame;
    return `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-2).join('/')}`;
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    self.set(label(id), (self.get(label(id)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at))
      seen.add(label(at));
    for (const name of seen) inclusive.set(name, (inclusive.get(name) ?? 0) + dt);
  });
  const share = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
  console.log(`  CPU profile (${(total / 1e6).toFixed(2)} s sampled, ${path}):`);
  for (const [name, file, what] of STAGES)
    console.log(`    ${share(inclusive.get(`${name} ${file}`) ?? 0)}  ${what}`);
  console.log('    self time, top functions:');
  for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 10))
    console.log(`    ${share(us)}  ${name}`);
}
