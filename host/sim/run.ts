// Runs one seed: a safety phase with faults, then a liveness phase in which faults stop,
// partitions heal, node-down is issued for the nodes that stay dead, and the pool must
// drain its PTLs and converge within a bound.

import { checkFinal, checkSafety, converged, rerunWrites } from './checkers.ts';
import { drawParams, type SimParams } from './params.ts';
import { World, type CoreFactory } from './world.ts';

export interface SimResult {
  readonly seed: number;
  readonly params: SimParams;
  readonly ok: boolean;
  readonly problems: string[];
  readonly ticks: number;
  readonly livenessTicks: number;
  readonly writes: number;
  readonly acknowledged: number;
  readonly crashes: number;
  /** Checkpoints stored (each followed by a compaction). */
  readonly checkpoints: number;
  /** Crashes while a checkpoint's snapshot was being written beside the log. */
  readonly crashesMidSnapshot: number;
  readonly messages: number;
  /** Live-sync joins: started, completed, and attempts beyond each joiner's first. */
  readonly joins: number;
  readonly joinsCompleted: number;
  readonly joinRetries: number;
  /** Writes run a second time by a joined node after its restart (a documented limitation). */
  readonly rerunWrites: number;
  /** Writes a member forwarded to a coordinator (forwarding.ts), each counted once. */
  readonly forwardedWrites: number;
  readonly events: string[];
}

/** Sees the world after it opened and after every step (the browser page's replay draws it);
 * it must not change the world, so a run with an observer is the run without. */
export type SimObserver = (world: World, phase: 'open' | 'safety' | 'liveness') => unknown;

/** Each node's SP/SPVV at the end of a run ('down' for a node not running): what
 * `npm run sim -- --verbose` prints and the page's replay ends on. */
export function finalSyncPoints(world: World): string[] {
  return world.nodes.map((node) => {
    const sp = node.replica?.core.syncPoint();
    return sp ? `${sp.hex}/${sp.spvvHex}` : 'down';
  });
}

export async function runSeed(
  seed: number,
  newCore: CoreFactory,
  overrides: Partial<SimParams> = {},
  observe?: SimObserver,
): Promise<SimResult> {
  const params = drawParams(seed, overrides);
  const world = new World(params, newCore);
  await world.open();
  await observe?.(world, 'open');
  const problems: string[] = [];
  for (let t = 0; t < params.safetyTicks && problems.length === 0; t++) {
    await world.step();
    await observe?.(world, 'safety');
    if (t % 50 === 0) problems.push(...checkSafety(world, true));
  }
  await world.beginLiveness();
  let livenessTicks = 0;
  let nodeDownIssued = false;
  // Converged once nothing is left to make durable either (storage calls take time).
  while (problems.length === 0 && !(converged(world) && world.storageQuiet())) {
    if (livenessTicks >= params.livenessTicksMax) {
      problems.push(`liveness: not converged within ${params.livenessTicksMax} ticks`);
      break;
    }
    await world.step();
    await observe?.(world, 'liveness');
    livenessTicks++;
    // Give the dead node time to be noticed as dead, then the operator issues node-down (again if needed).
    if (livenessTicks % 200 === 20 || (!nodeDownIssued && livenessTicks === 20)) {
      await world.nodeDownTheDead();
      nodeDownIssued = true;
    }
  }
  problems.push(...checkSafety(world));
  if (problems.length === 0) problems.push(...checkFinal(world));
  const unfinished = world.joins.unfinished();
  if (unfinished.length > 0 && problems.some((p) => p.startsWith('liveness'))) {
    problems.push(
      `joiners not in: ${unfinished.map((j) => `${j.id} (${j.attempts} attempts)`).join(', ')}`,
    );
  }
  const writes = [...world.writes.values()];
  const joiners = world.joins.joiners;
  return {
    seed,
    params,
    ok: problems.length === 0,
    problems,
    ticks: world.now,
    livenessTicks,
    writes: writes.length,
    acknowledged: writes.filter((w) => w.code === 0).length,
    crashes: world.nodes.reduce((sum, node) => sum + node.crashes, 0),
    checkpoints: world.checkpoints,
    crashesMidSnapshot: world.crashesMidSnapshot,
    messages: world.network.sent,
    joins: joiners.length,
    joinsCompleted: joiners.filter((j) => j.result).length,
    joinRetries: joiners.reduce((sum, j) => sum + Math.max(0, j.attempts - 1), 0),
    rerunWrites: rerunWrites(world),
    forwardedWrites: world.answers.forwards.size,
    events: world.events,
  };
}

export function replayCommand(result: SimResult, overrides: Partial<SimParams>): string {
  const nodes = overrides.nodes !== undefined ? ` --nodes ${overrides.nodes}` : '';
  return `npm run sim -- --seed ${result.seed}${nodes}`;
}
