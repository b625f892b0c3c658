// Simulation parameters, all drawn from the seed (and printed with it on failure).

import { Random } from '../protocol/random.ts';

/** The domain every simulated node and joiner names (live-sync requests carry it). */
export const SIM_DOMAIN = 'sim';

export interface SimParams {
  readonly seed: number;
  readonly nodes: number;
  readonly safetyTicks: number;
  /** Bound on the liveness phase: the pool must drain and converge within it. */
  readonly livenessTicksMax: number;
  readonly messageLoss: number;
  readonly messageDuplication: number;
  readonly delayTicksMax: number;
  /** Chance per tick that the partition layout changes. */
  readonly partitionChange: number;
  /** Chance per tick per node that it crashes. */
  readonly crashRate: number;
  /** Chance that a crash tears the record being written (a prefix survives). */
  readonly tornWrite: number;
  readonly restartTicksMax: number;
  /** Concurrent clients; each has at most one write outstanding (like SDK users). */
  readonly clients: number;
  /** Longest pause of a client between an answer and its next write. */
  readonly thinkTicksMax: number;
  /** Nodes that stay dead in the liveness phase and get node-down. */
  readonly staysDead: number;
  readonly groupCommit: boolean;
  /** New nodes that live-sync into the pool during the safety phase (docs/LIVE_SYNC.md). */
  readonly joins: number;
  /** Ticks without a word from the donor before a joiner gives the attempt up and retries
   * (the real joiner's stall timeout, shorter so retries happen within a run). */
  readonly joinStallTicks: number;
  /** Longest delay of a storage call, in ticks (each call draws 0..this): the replica goes on
   * receiving and deciding while a flush or a checkpoint awaits its storage. */
  readonly storageDelayTicksMax: number;
  /** Log bytes between checkpoints (small, so checkpoints and compactions run under load). */
  readonly checkpointBytes: number;
}

export function drawParams(seed: number, overrides: Partial<SimParams> = {}): SimParams {
  const random = new Random(seed ^ 0x5eed);
  const nodes = overrides.nodes ?? random.between(2, 5);
  return {
    seed,
    nodes,
    safetyTicks: random.between(200, 500),
    livenessTicksMax: 3000,
    messageLoss: random.pick([0, 0.01, 0.05, 0.15]),
    messageDuplication: random.pick([0, 0.02, 0.1]),
    delayTicksMax: random.between(1, 8),
    partitionChange: random.pick([0, 0.005, 0.02]),
    crashRate: random.pick([0, 0.001, 0.004]),
    tornWrite: random.pick([0, 0.5]),
    restartTicksMax: random.between(5, 80),
    clients: random.between(1, 8),
    thinkTicksMax: random.pick([1, 10, 50]),
    staysDead: random.chance(0.3) ? 1 : 0,
    groupCommit: random.chance(0.5),
    // Drawn last, so the seeds without joins run exactly as before joins existed.
    joins: random.pick([0, 0, 0, 1, 1, 2]),
    joinStallTicks: random.pick([100, 250]),
    // Drawn after the others, which keep their values for a seed.
    storageDelayTicksMax: random.pick([1, 2, 4, 8]),
    checkpointBytes: random.pick([1024, 2048, 4096, 8192]),
    ...overrides,
  };
}
