// The chaos campaign (issue 11, item 5; docs/CHAOS.md): a 3-node pool of real processes
// (pool.node.ts), concurrent SDK writers with unique names, a reader, and a nemesis drawing
// faults from a seeded generator: SIGKILL of one, two or all nodes (also during recovery and
// during write bursts), SIGSTOP, and link faults through the per-link proxies (drop,
// blackhole, delay, one-way and symmetric partitions, isolation). After each cycle it heals
// and measures the recovery; at the end it reads every node and judges (check.ts).
// Everything is bounded; every process and proxy it started is stopped, the temp dir removed.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmClient, type KeyOptions } from '../../host/client/package.node.ts';
import { randomBytes } from 'node:crypto';
import { CODE, HsmError } from '../../host/core/codes.ts';
import { nodeConnections } from '../../host/client/ws-client.node.ts';
import { Random } from '../../host/protocol/random.ts';
import {
  classify,
  judge,
  medianMax,
  type NodeState,
  type Verdict,
  type WriteRecord,
} from './check.ts';
import { ChaosPool, type NodeInfo } from './pool.node.ts';

export const CHAOS_CYCLES_MAX = 10_000;
export const CHAOS_WRITERS_MAX = 16;
/** From the heal to a committed write and equal SPs with nothing pending; longer fails the cycle. */
export const RECOVERY_TIMEOUT_MS = 60_000;
/** Pages of LIST_PAGE_SIZE_MAX names read per node at the end (1000 each). */
export const LIST_PAGES_MAX = 1000;
/** Writes one writer fires at once in a burst. */
export const BURST_WRITES = 8;
/** A writer's pause after a failed call. */
export const WRITER_BACKOFF_MS = 50;
const READER_KEY = 'chaos-reader';

export interface CampaignOptions {
  readonly cycles: number;
  readonly seed: number;
  readonly writers?: number;
  /** Longest fault in ms (each fault lasts a drawn time up to this). */
  readonly faultMsMax?: number;
  /** A line of progress (default: none). */
  readonly log?: (line: string) => void;
}

export type FaultKind =
  | 'kill-one'
  | 'kill-two'
  | 'kill-all'
  | 'kill-in-recovery'
  | 'kill-in-burst'
  | 'pause'
  | 'one-way'
  | 'symmetric'
  | 'isolate'
  | 'blackhole'
  | 'delay';

export const FAULT_KINDS: readonly FaultKind[] = [
  'kill-one',
  'kill-two',
  'kill-all',
  'kill-in-recovery',
  'kill-in-burst',
  'pause',
  'one-way',
  'symmetric',
  'isolate',
  'blackhole',
  'delay',
];

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

export interface CampaignResult {
  readonly seed: number;
  readonly cycles: number;
  readonly cycleReports: CycleReport[];
  readonly verdict: Verdict | undefined;
  readonly reads: { ok: number; failed: number; codes: Record<string, number> };
  readonly recovery: { median: number; max: number };
  /** Writes answered "not committed" yet present at the end, by the cycle that made them. */
  readonly falseNotCommittedByCycle: Record<string, number>;
  readonly problems: string[];
  readonly problemCount: number;
  readonly exitCodes: (number | null)[];
  readonly failures: string[];
  readonly passed: boolean;
  readonly seconds: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function codeOf(error: unknown): number {
  return error instanceof HsmError ? error.code : CODE.INTERNAL_ERROR;
}

/** The request id an error carries once the outcomes change lands (`error.requestId`). */
function requestIdOf(error: unknown): string | undefined {
  const id = (error as { requestId?: unknown } | undefined)?.requestId;
  return typeof id === 'string' ? id : undefined;
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const cycles = options.cycles;
  if (!Number.isInteger(cycles) || cycles < 1 || cycles > CHAOS_CYCLES_MAX)
    throw new RangeError(`cycles: 1 to ${CHAOS_CYCLES_MAX}`);
  const writerCount = options.writers ?? 3;
  if (!Number.isInteger(writerCount) || writerCount < 1 || writerCount > CHAOS_WRITERS_MAX)
    throw new RangeError(`writers: 1 to ${CHAOS_WRITERS_MAX}`);
  const faultMsMax = options.faultMsMax ?? 2500;
  const log = options.log ?? (() => {});
  const random = new Random(options.seed);
  const started = Date.now();
  const elapsed = (): number => Date.now() - started;
  const data = mkdtempSync(join(tmpdir(), 'hsmpool-chaos-'));
  const failures: string[] = [];
  const writes: WriteRecord[] = [];
  const cycleReports: CycleReport[] = [];
  const reads = { ok: 0, failed: 0, codes: {} as Record<string, number> };
  const clients: HsmClient[] = [];
  let pool: ChaosPool | undefined;
  let verdict: Verdict | undefined;
  let exitCodes: (number | null)[] = [];
  try {
    pool = await ChaosPool.create(data, 3);
    await pool.startAll();
    const p = pool;
    const client = async (nodes: string[], busyRetriesMax: number): Promise<HsmClient> => {
      const c = await HsmClient.connect({
        nodes,
        user: 'admin',
        password: p.password,
        connections: nodeConnections(),
        requestTimeoutMs: 4000,
        nodeRetryAfterMs: 200,
        retry: { busyRetriesMax, backoffBaseMs: 20, backoffMaxMs: 300 },
      });
      clients.push(c);
      return c;
    };
    // The administrator is node 1's bootstrap write: wait until it committed.
    let setup: HsmClient | undefined;
    for (let tries = 0; !setup; tries++) {
      try {
        setup = await client(p.addresses, 8);
      } catch (error) {
        if (tries >= 100) throw error;
        await sleep(200);
      }
    }
    await setup.generateKey(READER_KEY, 'ed25519');
    const writerClients = await Promise.all(
      Array.from({ length: writerCount }, () => client(p.addresses, 3)),
    );
    const reader = await client(p.addresses, 3);
    const prober = await client(p.addresses, 3);

    // ---- load: writers and the reader run until `running` is false ----
    let running = true;
    let cycle = 0;
    let burst = 0;
    const counter = new Map<string, number>();
    const write = async (c: HsmClient, prefix: string): Promise<WriteRecord> => {
      const n = counter.get(prefix) ?? 0;
      counter.set(prefix, n + 1);
      // A caller-chosen request id, so that client.outcome can resolve any write at the end.
      const requestId = randomBytes(16).toString('hex');
      const record: WriteRecord = {
        name: `${prefix}-${n}`,
        cycle,
        invokedMs: elapsed(),
        requestId,
      };
      writes.push(record);
      const keyOptions = { exportable: false, requestId } as KeyOptions;
      try {
        await c.generateKey(record.name, 'aes-256', keyOptions);
        record.code = 0;
      } catch (error) {
        record.code = codeOf(error);
        record.requestId = requestIdOf(error) ?? requestId;
      }
      record.answeredMs = elapsed();
      return record;
    };
    const writer = async (w: number): Promise<void> => {
      let seenBurst = burst; // only a burst asked for during this cycle
      while (running) {
        if (burst !== seenBurst) {
          seenBurst = burst;
          await Promise.all(
            Array.from({ length: BURST_WRITES }, () => write(writerClients[w], `c${cycle}-w${w}b`)),
          );
          await sleep(5);
        } else {
          const record = await write(writerClients[w], `c${cycle}-w${w}`);
          // A refusal or a dead pool: back off a little rather than spin (bounded load).
          await sleep(record.code === 0 ? 5 : WRITER_BACKOFF_MS);
        }
      }
    };
    const readLoop = async (): Promise<void> => {
      const message = new TextEncoder().encode('chaos');
      while (running) {
        try {
          await reader.sign(READER_KEY, message);
          reads.ok++;
        } catch (error) {
          reads.failed++;
          const code = codeOf(error);
          reads.codes[code] = (reads.codes[code] ?? 0) + 1;
        }
        await sleep(20);
      }
    };
    const startLoad = (): Promise<void[]> => {
      running = true;
      return Promise.all([...Array.from({ length: writerCount }, (_, w) => writer(w)), readLoop()]);
    };

    // ---- the nemesis ----
    const n = p.nodes.length;
    const pick = (count: number): number[] => {
      const all = Array.from({ length: n }, (_, i) => i);
      const chosen: number[] = [];
      while (chosen.length < count) chosen.push(all.splice(random.below(all.length), 1)[0]);
      return chosen;
    };
    const duration = (): number => random.between(200, faultMsMax);
    const link = (i: number, j: number) => p.link(i, j);
    const fault = async (kind: FaultKind): Promise<string> => {
      switch (kind) {
        case 'kill-one': {
          const [i] = pick(1);
          await p.nodes[i].kill();
          await sleep(duration());
          return `kill-one n${i + 1}`;
        }
        case 'kill-two': {
          const [i, j] = pick(2);
          await p.nodes[i].kill();
          await sleep(random.between(0, 300));
          await p.nodes[j].kill();
          await sleep(duration());
          return `kill-two n${i + 1},n${j + 1}`;
        }
        case 'kill-all': {
          const order = pick(n);
          for (const i of order) {
            await p.nodes[i].kill();
            await sleep(random.between(0, 100));
          }
          await sleep(duration());
          return `kill-all ${order.map((i) => `n${i + 1}`).join(',')}`;
        }
        case 'kill-in-recovery': {
          // Kill, restart, and kill again while it recovers (before or right after ready).
          const [i] = pick(1);
          const again = random.between(1, 3);
          const delays: number[] = [];
          await p.nodes[i].kill();
          for (let k = 0; k < again; k++) {
            const starting = p.nodes[i].start().catch(() => undefined);
            const delay = random.between(0, 600);
            delays.push(delay);
            await sleep(delay);
            await p.nodes[i].kill();
            await starting;
          }
          await sleep(duration());
          return `kill-in-recovery n${i + 1} after ${delays.join(',')}ms`;
        }
        case 'kill-in-burst': {
          const [i] = pick(1);
          burst++;
          const delay = random.between(0, 80);
          await sleep(delay);
          await p.nodes[i].kill();
          await sleep(duration());
          return `kill-in-burst n${i + 1} +${delay}ms`;
        }
        case 'pause': {
          const [i] = pick(1);
          p.nodes[i].pause();
          const d = duration();
          await sleep(d);
          p.nodes[i].resume();
          return `pause n${i + 1} ${d}ms`;
        }
        case 'one-way': {
          const [i, j] = pick(2);
          const how = random.chance(0.5) ? 'drop' : 'blackhole';
          link(i, j).setFault({ kind: how });
          await sleep(duration());
          return `one-way ${how} n${i + 1}->n${j + 1}`;
        }
        case 'symmetric': {
          const [i, j] = pick(2);
          link(i, j).setFault({ kind: 'drop' });
          link(j, i).setFault({ kind: 'drop' });
          await sleep(duration());
          return `symmetric n${i + 1}<->n${j + 1}`;
        }
        case 'isolate': {
          const [i] = pick(1);
          for (let j = 0; j < n; j++)
            if (j !== i) {
              link(i, j).setFault({ kind: 'drop' });
              link(j, i).setFault({ kind: 'drop' });
            }
          await sleep(duration());
          return `isolate n${i + 1}`;
        }
        case 'blackhole': {
          const [i, j] = pick(2);
          link(i, j).setFault({ kind: 'blackhole' });
          link(j, i).setFault({ kind: 'blackhole' });
          await sleep(duration());
          return `blackhole n${i + 1}<->n${j + 1}`;
        }
        case 'delay': {
          const delayMs = random.between(20, 400);
          const affected: string[] = [];
          for (let i = 0; i < n; i++)
            for (let j = 0; j < n; j++)
              if (i !== j && random.chance(0.5)) {
                link(i, j).setFault({ kind: 'delay', delayMs });
                affected.push(`n${i + 1}->n${j + 1}`);
              }
          await sleep(duration());
          return `delay ${delayMs}ms ${affected.join(',') || 'none'}`;
        }
      }
    };

    /** From the heal: a probe write that commits, then equal SPs with nothing pending. */
    const recover = async (
      healedAt: number,
    ): Promise<{ writeMs: number; convergedMs: number; converged: boolean }> => {
      const deadline = healedAt + RECOVERY_TIMEOUT_MS;
      let writeMs = -1;
      while (Date.now() < deadline) {
        const probe = await write(prober, `c${cycle}-probe`);
        if (probe.code === 0) {
          writeMs = Date.now() - healedAt;
          break;
        }
        await sleep(50);
      }
      while (writeMs >= 0 && Date.now() < deadline) {
        const infos = await Promise.all(p.nodes.map((_, i) => p.info(i).catch(() => undefined)));
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
    };

    for (cycle = 1; cycle <= cycles; cycle++) {
      const firstWrite = writes.length;
      const load = startLoad();
      await sleep(random.between(100, 600));
      const kinds: FaultKind[] = [FAULT_KINDS[random.below(FAULT_KINDS.length)]];
      if (random.chance(0.3)) kinds.push(FAULT_KINDS[random.below(FAULT_KINDS.length)]);
      const faults = await Promise.all(kinds.map((kind) => fault(kind)));
      running = false;
      try {
        await p.heal();
      } catch (error) {
        failures.push(`cycle ${cycle}: heal failed: ${(error as Error).message}`);
        await load;
        break;
      }
      const healedAt = Date.now();
      // The calls still in flight drain meanwhile (bounded by the clients' timeouts).
      const [recovery] = await Promise.all([recover(healedAt), load]);
      const mine = writes.slice(firstWrite);
      const count = (kind: string): number =>
        mine.filter((w) => classify(w.code ?? 1004).class === kind).length;
      const report: CycleReport = {
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
      cycleReports.push(report);
      log(
        `cycle ${cycle}/${cycles}: ${faults.join(' + ')}; ${report.writes} writes, ${report.acknowledged} ok; ` +
          `recovered in ${report.recoveryMs} ms${report.converged ? '' : ' (NOT CONVERGED)'}`,
      );
      if (!recovery.converged) {
        failures.push(
          `cycle ${cycle}: no ${recovery.writeMs < 0 ? 'committed write' : 'convergence'} within ${RECOVERY_TIMEOUT_MS} ms after the heal (${faults.join(' + ')})`,
        );
        break;
      }
    }
    running = false;

    // ---- the end: resolve unknown outcomes, read every node, judge ----
    // client.outcome(requestId): every write not acknowledged is asked about; what it says is
    // then held to the converged state.
    await settle(p);
    for (const record of writes) {
      if (!record.requestId || record.code === 0) continue;
      try {
        const report = await prober.outcome(record.requestId);
        record.resolvedState = report.state;
        if (report.state === 'committed') record.resolvedCode = 0;
        else if (report.state === 'not committed') record.resolvedCode = report.code ?? -1;
      } catch {
        record.resolvedState = 'no answer';
      }
    }
    // Late commits (a write answered busy that commits after all) land before the reads.
    await settle(p);
    const states: (NodeState & NodeInfo)[] = [];
    for (const [i, address] of p.addresses.entries()) {
      const [info, names] = await Promise.all([p.info(i), listAll(await client([address], 8))]);
      states.push({ node: i + 1, ...info, names });
    }
    verdict = judge(writes, states, new Set([READER_KEY]));
    for (const state of states)
      if (state.fenced || state.diverged)
        failures.push(`node ${state.node} is ${state.fenced ? 'fenced' : 'diverged'} at the end`);
  } catch (error) {
    failures.push(`campaign stopped: ${(error as Error).stack ?? String(error)}`);
  } finally {
    for (const c of clients) c.close();
    if (pool) {
      exitCodes = await pool.close().catch(() => []);
      pool.killAll();
    }
    rmSync(data, { recursive: true, force: true });
  }
  const problems = pool?.problems ?? [];
  const problemCount = pool?.problemCount ?? 0;
  if (exitCodes.some((code) => code !== 0))
    failures.push(`nodes stopped with exit codes ${exitCodes.join(', ')} (0 expected)`);
  if (problemCount > 0) failures.push(`${problemCount} unexpected exits or stderr lines`);
  if (verdict) {
    if (verdict.lost.length) failures.push(`${verdict.lost.length} acknowledged writes lost`);
    if (verdict.falseNotCommitted.length)
      failures.push(
        `${verdict.falseNotCommitted.length} writes answered "not committed" are present`,
      );
    if (verdict.phantoms.length) failures.push(`${verdict.phantoms.length} objects never written`);
    if (verdict.split.length) failures.push(`${verdict.split.length} objects on some nodes only`);
    if (!verdict.spEqual) failures.push('Sync-Points differ at the end');
    if (verdict.pendingLeft)
      failures.push(`${verdict.pendingLeft} pending transactions at the end`);
  } else failures.push('no verdict: the end check did not run');
  return {
    seed: options.seed,
    cycles: cycleReports.length,
    cycleReports,
    verdict,
    reads,
    recovery: medianMax(cycleReports.map((report) => report.recoveryMs)),
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
    seconds: Math.round(elapsed() / 100) / 10,
  };
}

/** Equal SPs and nothing pending on every node, seen twice 500 ms apart (bounded). */
async function settle(pool: ChaosPool): Promise<void> {
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

/** Every persistent key name a node lists (pages of 1000, at most LIST_PAGES_MAX pages). */
async function listAll(client: HsmClient): Promise<Set<string>> {
  const names = new Set<string>();
  let after: string | undefined;
  for (let page = 0; page < LIST_PAGES_MAX; page++) {
    const { keys, more } = await client.listKeys({ limit: 1000, ...(after ? { after } : {}) });
    for (const key of keys) names.add(key.name);
    if (!more || keys.length === 0) return names;
    after = keys[keys.length - 1].name;
  }
  throw new Error(`a node lists more than ${LIST_PAGES_MAX} pages of keys`);
}
