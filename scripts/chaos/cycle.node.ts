// One cycle of the chaos campaign (docs/CHAOS.md): load → faults → heal → recovery measure,
// summed up in a CycleReport. Also how "the pool has converged" is seen from outside (equal
// Sync-Points, nothing pending), which the recovery measure and the end phase both wait for.

import type { HsmClient } from '../../host/client/package.node.ts';
import { classify, type WriteRecord } from './check.ts';
import { drawFaultKinds, injectFault, type Nemesis } from './nemesis.node.ts';
import type { ChaosPool, NodeInfo } from './pool.node.ts';
import { sleep, type Workload } from './workload.node.ts';

/** From the heal to a committed write and equal SPs with nothing pending; longer fails the cycle. */
export const RECOVERY_TIMEOUT_MS = 60_000;

export interface CycleReport {
  readonly cycle: number;
  readonly faults: string[];
  readonly writes: number;
  readonly acknowledged: number;
  readonly notCommitted: number;
  readonly unknown: number;
  /** Heal -> first committed write after it. */
  readonly writeRecoveryMs: number;
  /** Heal -> SPs equal on every node with nothing pending (the cycle's recovery time). */
  readonly recoveryMs: number;
  readonly converged: boolean;
}

/** What a cycle runs on. */
export interface CycleContext {
  readonly pool: ChaosPool;
  readonly nemesis: Nemesis;
  readonly workload: Workload;
  /** Every write call of the campaign (the workload appends to it). */
  readonly writes: readonly WriteRecord[];
  /** The client whose probe writes measure the recovery. */
  readonly prober: HsmClient;
}

/**
 * Runs cycle `workload.cycle`: the load starts, a drawn moment later the drawn faults strike
 * (concurrently) and are held, the load stops, the pool is healed and the recovery measured
 * while the calls still in flight drain. Undefined when the heal failed (`failures` says so).
 */
export async function runCycle(
  context: CycleContext,
  failures: string[],
): Promise<CycleReport | undefined> {
  const { pool, nemesis, workload, writes } = context;
  const cycle = workload.cycle;
  const firstWrite = writes.length;
  const load = workload.start();
  await sleep(nemesis.random.between(100, 600));
  const kinds = drawFaultKinds(nemesis.random);
  const faults = await Promise.all(kinds.map((kind) => injectFault(nemesis, kind)));
  workload.stop();
  try {
    await pool.heal();
  } catch (error) {
    failures.push(`cycle ${cycle}: heal failed: ${(error as Error).message}`);
    await load;
    return undefined;
  }
  const healedAt = Date.now();
  // The calls still in flight drain meanwhile (bounded by the clients' timeouts).
  const [recovery] = await Promise.all([recover(context, healedAt), load]);
  const mine = writes.slice(firstWrite);
  const count = (kind: string): number =>
    mine.filter((w) => classify(w.code ?? 1004).class === kind).length;
  return {
    cycle,
    faults,
    writes: mine.length,
    acknowledged: count('acknowledged'),
    notCommitted: count('not-committed'),
    unknown: count('unknown'),
    writeRecoveryMs: recovery.writeMs,
    recoveryMs: recovery.convergedMs,
    converged: recovery.converged,
  };
}

/** From the heal: a probe write that commits, then equal SPs with nothing pending. */
async function recover(
  { pool, workload, prober }: CycleContext,
  healedAt: number,
): Promise<{ writeMs: number; convergedMs: number; converged: boolean }> {
  const deadline = healedAt + RECOVERY_TIMEOUT_MS;
  let writeMs = -1;
  while (Date.now() < deadline) {
    const probe = await workload.write(prober, `c${workload.cycle}-probe`);
    if (probe.code === 0) {
      writeMs = Date.now() - healedAt;
      break;
    }
    await sleep(50);
  }
  while (writeMs >= 0 && Date.now() < deadline) {
    const infos = await Promise.all(pool.nodes.map((_, i) => pool.info(i).catch(() => undefined)));
    if (
      infos.every(
        (info): info is NodeInfo =>
          info !== undefined &&
          info.pending === 0 &&
          info.sp === infos[0]!.sp &&
          info.spvv === infos[0]!.spvv,
      )
    )
      return { writeMs, convergedMs: Date.now() - healedAt, converged: true };
    await sleep(100);
  }
  return { writeMs, convergedMs: Date.now() - healedAt, converged: false };
}

/** Equal SPs and nothing pending on every node, seen twice 500 ms apart (bounded). */
export async function settle(pool: ChaosPool): Promise<void> {
  const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
  let previous = '';
  while (Date.now() < deadline) {
    const infos = await Promise.all(pool.nodes.map((_, i) => pool.info(i).catch(() => undefined)));
    const key = infos.map((info) => (info ? `${info.sp}/${info.spvv}/${info.pending}` : 'none'));
    const same = infos.every((info) => info && info.pending === 0) && new Set(key).size === 1;
    if (same && key[0] === previous) return;
    previous = same ? key[0] : '';
    await sleep(500);
  }
}
