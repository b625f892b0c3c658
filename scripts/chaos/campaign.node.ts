// The chaos campaign (issue 11, item 5; docs/CHAOS.md): a 3-node pool of real processes
// (pool.node.ts), concurrent SDK writers with unique names, a reader, and a nemesis drawing
// faults from a seeded generator: SIGKILL of one, two or all nodes (also during recovery and
// during write bursts), SIGSTOP, and link faults through the per-link proxies (drop,
// blackhole, delay, one-way and symmetric partitions, isolation). After each cycle it heals
// and measures the recovery; at the end it reads every node and judges (check.ts).
// Everything is bounded; every process and proxy it started is stopped, the temp dir removed.
//
// This file sets the campaign up, runs the cycles and sums up; the parts, one concern each:
// the fault kinds in nemesis.node.ts, the writers and the reader in workload.node.ts, one
// cycle (load, faults, heal, recovery) in cycle.node.ts, the end checks in end.node.ts.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmClient } from '../../host/client/package.node.ts';
import { nodeConnections } from '../../host/client/ws-client.node.ts';
import { Random } from '../../host/protocol/random.ts';
import { medianMax, type Verdict, type WriteRecord } from './check.ts';
import {
  RECOVERY_TIMEOUT_MS,
  runCycle,
  type CycleContext,
  type CycleReport,
} from './cycle.node.ts';
import { endCheck, type ConnectClient } from './end.node.ts';
import type { Nemesis } from './nemesis.node.ts';
import { ChaosPool } from './pool.node.ts';
import { READER_KEY, sleep, Workload, type ReadCounts } from './workload.node.ts';

export const CHAOS_CYCLES_MAX = 10_000;
export const CHAOS_WRITERS_MAX = 16;

export interface CampaignOptions {
  readonly cycles: number;
  readonly seed: number;
  readonly writers?: number;
  /** Longest fault in ms (each fault lasts a drawn time up to this). */
  readonly faultMsMax?: number;
  /** A line of progress (default: none). */
  readonly log?: (line: string) => void;
}

export interface CampaignResult {
  readonly seed: number;
  readonly cycles: number;
  readonly cycleReports: CycleReport[];
  readonly verdict: Verdict | undefined;
  readonly reads: { ok: number; failed: number; codes: Record<string, number> };
  readonly recovery: { median: number; max: number };
  /** Checkpoints the nodes reported (every CHAOS_CHECKPOINT_BYTES of log): stored, and given
   * way to a live-sync's or a backup's export. */
  readonly checkpoints: { stored: number; givenWay: number };
  /** Writes answered "not committed" yet present at the end, by the cycle that made them. */
  readonly falseNotCommittedByCycle: Record<string, number>;
  readonly problems: string[];
  readonly problemCount: number;
  readonly exitCodes: (number | null)[];
  readonly failures: string[];
  readonly passed: boolean;
  readonly seconds: number;
}

/** What the campaign gathers as it runs; the result is made of it (campaignResult). */
interface Gathered {
  readonly failures: string[];
  readonly writes: WriteRecord[];
  readonly cycleReports: CycleReport[];
  readonly reads: ReadCounts;
  verdict?: Verdict;
  exitCodes: (number | null)[];
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const cycles = options.cycles;
  if (!Number.isInteger(cycles) || cycles < 1 || cycles > CHAOS_CYCLES_MAX)
    throw new RangeError(`cycles: 1 to ${CHAOS_CYCLES_MAX}`);
  const writerCount = options.writers ?? 3;
  if (!Number.isInteger(writerCount) || writerCount < 1 || writerCount > CHAOS_WRITERS_MAX)
    throw new RangeError(`writers: 1 to ${CHAOS_WRITERS_MAX}`);
  const random = new Random(options.seed);
  const started = Date.now();
  const elapsed = (): number => Date.now() - started;
  const data = mkdtempSync(join(tmpdir(), 'hsmpool-chaos-'));
  const gathered: Gathered = {
    failures: [],
    writes: [],
    cycleReports: [],
    reads: { ok: 0, failed: 0, codes: {} },
    exitCodes: [],
  };
  const clients: HsmClient[] = [];
  let pool: ChaosPool | undefined;
  try {
    pool = await ChaosPool.create(data, 3);
    await pool.startAll();
    const connect = clientOpener(pool, clients);
    const { writers, reader, prober } = await connectLoad(pool, connect, writerCount);
    const { writes, reads } = gathered;
    const workload = new Workload({ writers, reader, writes, reads, elapsed });
    const nemesis: Nemesis = {
      pool,
      random,
      faultMsMax: options.faultMsMax ?? 2500,
      burst: () => workload.requestBurst(),
    };
    const context = { pool, nemesis, workload, writes, prober };
    await runCycles(context, cycles, gathered, options.log ?? (() => {}));
    gathered.verdict = await endCheck(pool, writes, prober, connect, gathered.failures);
  } catch (error) {
    gathered.failures.push(`campaign stopped: ${(error as Error).stack ?? String(error)}`);
  } finally {
    for (const c of clients) c.close();
    if (pool) {
      gathered.exitCodes = await pool.close().catch(() => []);
      pool.killAll();
    }
    rmSync(data, { recursive: true, force: true });
  }
  return campaignResult(options.seed, pool, gathered, elapsed());
}

/** Opens SDK clients on the pool, each kept in `clients` to be closed at the end. */
function clientOpener(pool: ChaosPool, clients: HsmClient[]): ConnectClient {
  return async (nodes, busyRetriesMax) => {
    const c = await HsmClient.connect({
      nodes,
      user: 'admin',
      password: pool.password,
      connections: nodeConnections(),
      requestTimeoutMs: 4000,
      nodeRetryAfterMs: 200,
      retry: { busyRetriesMax, backoffBaseMs: 20, backoffMaxMs: 300 },
    });
    clients.push(c);
    return c;
  };
}

/** The reader's key, then a client per writer, the reader's and the recovery prober's. */
async function connectLoad(
  pool: ChaosPool,
  connect: ConnectClient,
  writerCount: number,
): Promise<{ writers: HsmClient[]; reader: HsmClient; prober: HsmClient }> {
  // The administrator is node 1's bootstrap write: wait until it committed.
  let setup: HsmClient | undefined;
  for (let tries = 0; !setup; tries++) {
    try {
      setup = await connect(pool.addresses, 8);
    } catch (error) {
      if (tries >= 100) throw error;
      await sleep(200);
    }
  }
  await setup.generateKey(READER_KEY, 'ed25519');
  const writers = await Promise.all(
    Array.from({ length: writerCount }, () => connect(pool.addresses, 3)),
  );
  const reader = await connect(pool.addresses, 3);
  const prober = await connect(pool.addresses, 3);
  return { writers, reader, prober };
}

/** Cycle after cycle, each logged; stops at the first one that does not heal or converge. */
async function runCycles(
  context: CycleContext,
  cycles: number,
  { cycleReports, failures }: Gathered,
  log: (line: string) => void,
): Promise<void> {
  const { workload } = context;
  for (workload.cycle = 1; workload.cycle <= cycles; workload.cycle++) {
    const report = await runCycle(context, failures);
    if (!report) break;
    cycleReports.push(report);
    const { cycle, faults } = report;
    log(
      `cycle ${cycle}/${cycles}: ${faults.join(' + ')}; ${report.writes} writes, ${report.acknowledged} ok; ` +
        `recovered in ${report.recoveryMs} ms${report.converged ? '' : ' (NOT CONVERGED)'}`,
    );
    if (!report.converged) {
      failures.push(
        `cycle ${cycle}: no ${report.writeRecoveryMs < 0 ? 'committed write' : 'convergence'} within ${RECOVERY_TIMEOUT_MS} ms after the heal (${faults.join(' + ')})`,
      );
      break;
    }
  }
  workload.stop();
}

/** The result: the failures the pool's exits and the verdict add, and the figures. */
function campaignResult(
  seed: number,
  pool: ChaosPool | undefined,
  { failures, cycleReports, reads, verdict, exitCodes }: Gathered,
  elapsedMs: number,
): CampaignResult {
  const problems = pool?.problems ?? [];
  const problemCount = pool?.problemCount ?? 0;
  if (exitCodes.some((code) => code !== 0))
    failures.push(`nodes stopped with exit codes ${exitCodes.join(', ')} (0 expected)`);
  if (problemCount > 0) failures.push(`${problemCount} unexpected exits or stderr lines`);
  if (verdict) failures.push(...verdictFailures(verdict));
  else failures.push('no verdict: the end check did not run');
  return {
    seed,
    cycles: cycleReports.length,
    cycleReports,
    verdict,
    reads,
    recovery: medianMax(cycleReports.map((report) => report.recoveryMs)),
    checkpoints: {
      stored: pool?.nodes.reduce((sum, node) => sum + node.checkpoints, 0) ?? 0,
      givenWay: pool?.nodes.reduce((sum, node) => sum + node.checkpointsGivenWay, 0) ?? 0,
    },
    falseNotCommittedByCycle: Object.fromEntries(
      [...new Set((verdict?.falseNotCommitted ?? []).map((item) => item.cycle))].map((cycle) => [
        cycle,
        verdict!.falseNotCommitted.filter((item) => item.cycle === cycle).length,
      ]),
    ),
    problems,
    problemCount,
    exitCodes,
    failures,
    passed: failures.length === 0,
    seconds: Math.round(elapsedMs / 100) / 10,
  };
}

/** What the judge found wrong, one line per kind of wrong. */
function verdictFailures(verdict: Verdict): string[] {
  const failures: string[] = [];
  if (verdict.lost.length) failures.push(`${verdict.lost.length} acknowledged writes lost`);
  if (verdict.falseNotCommitted.length)
    failures.push(
      `${verdict.falseNotCommitted.length} writes answered "not committed" are present`,
    );
  if (verdict.phantoms.length) failures.push(`${verdict.phantoms.length} objects never written`);
  if (verdict.split.length) failures.push(`${verdict.split.length} objects on some nodes only`);
  if (!verdict.spEqual) failures.push('Sync-Points differ at the end');
  if (verdict.pendingLeft) failures.push(`${verdict.pendingLeft} pending transactions at the end`);
  return failures;
}
