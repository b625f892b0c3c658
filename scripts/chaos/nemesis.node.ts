// The chaos campaign's nemesis (docs/CHAOS.md): the fault kinds it draws from the seeded
// generator, each one a short function that injects its fault, holds it for a drawn time and
// says what it did. The heal is the cycle's (cycle.node.ts), so a fault only ever breaks.
//
// The same seed must draw the same faults in the same order: every function draws from
// `random` in exactly the order it always has (a draw moved before or after an `await` changes
// which fault a seed replays when two faults run at once).

import type { Random } from '../../host/protocol/random.ts';
import type { ChaosPool } from './pool.node.ts';
import { sleep } from './workload.node.ts';

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

/** What a fault acts on. */
export interface Nemesis {
  readonly pool: ChaosPool;
  readonly random: Random;
  /** Longest fault in ms (each fault lasts a drawn time from 200 ms up to this). */
  readonly faultMsMax: number;
  /** Asks every writer for one burst of concurrent writes (kill-in-burst kills during it). */
  readonly burst: () => void;
}

/** A cycle's faults: one kind, and 30% of the time a second one at the same time. */
export function drawFaultKinds(random: Random): FaultKind[] {
  const kinds: FaultKind[] = [FAULT_KINDS[random.below(FAULT_KINDS.length)]];
  if (random.chance(0.3)) kinds.push(FAULT_KINDS[random.below(FAULT_KINDS.length)]);
  return kinds;
}

/** Injects one fault and holds it; resolves to its description (the cycle's log line). */
export function injectFault(nemesis: Nemesis, kind: FaultKind): Promise<string> {
  return FAULTS[kind](nemesis);
}

/** `count` distinct node indexes, in drawn order. */
function pick({ pool, random }: Nemesis, count: number): number[] {
  const all = Array.from({ length: pool.nodes.length }, (_, i) => i);
  const chosen: number[] = [];
  while (chosen.length < count) chosen.push(all.splice(random.below(all.length), 1)[0]);
  return chosen;
}

/** How long a fault is held. */
function duration({ random, faultMsMax }: Nemesis): number {
  return random.between(200, faultMsMax);
}

const FAULTS: Readonly<Record<FaultKind, (nemesis: Nemesis) => Promise<string>>> = {
  'kill-one': killOne,
  'kill-two': killTwo,
  'kill-all': killAll,
  'kill-in-recovery': killInRecovery,
  'kill-in-burst': killInBurst,
  pause: pauseOne,
  'one-way': oneWayPartition,
  symmetric: symmetricPartition,
  isolate: isolateOne,
  blackhole: blackholePair,
  delay: delayLinks,
};

async function killOne(nemesis: Nemesis): Promise<string> {
  const [i] = pick(nemesis, 1);
  await nemesis.pool.nodes[i].kill();
  await sleep(duration(nemesis));
  return `kill-one n${i + 1}`;
}

async function killTwo(nemesis: Nemesis): Promise<string> {
  const { pool, random } = nemesis;
  const [i, j] = pick(nemesis, 2);
  await pool.nodes[i].kill();
  await sleep(random.between(0, 300));
  await pool.nodes[j].kill();
  await sleep(duration(nemesis));
  return `kill-two n${i + 1},n${j + 1}`;
}

async function killAll(nemesis: Nemesis): Promise<string> {
  const { pool, random } = nemesis;
  const order = pick(nemesis, pool.nodes.length);
  for (const i of order) {
    await pool.nodes[i].kill();
    await sleep(random.between(0, 100));
  }
  await sleep(duration(nemesis));
  return `kill-all ${order.map((i) => `n${i + 1}`).join(',')}`;
}

/** Kill, restart, and kill again while it recovers (before or right after ready). */
async function killInRecovery(nemesis: Nemesis): Promise<string> {
  const { pool, random } = nemesis;
  const [i] = pick(nemesis, 1);
  const again = random.between(1, 3);
  const delays: number[] = [];
  await pool.nodes[i].kill();
  for (let k = 0; k < again; k++) {
    const starting = pool.nodes[i].start().catch(() => undefined);
    const delay = random.between(0, 600);
    delays.push(delay);
    await sleep(delay);
    await pool.nodes[i].kill();
    await starting;
  }
  await sleep(duration(nemesis));
  return `kill-in-recovery n${i + 1} after ${delays.join(',')}ms`;
}

async function killInBurst(nemesis: Nemesis): Promise<string> {
  const [i] = pick(nemesis, 1);
  nemesis.burst();
  const delay = nemesis.random.between(0, 80);
  await sleep(delay);
  await nemesis.pool.nodes[i].kill();
  await sleep(duration(nemesis));
  return `kill-in-burst n${i + 1} +${delay}ms`;
}

/** SIGSTOP then SIGCONT: the node is alive but silent (timeouts, not refused connections). */
async function pauseOne(nemesis: Nemesis): Promise<string> {
  const [i] = pick(nemesis, 1);
  nemesis.pool.nodes[i].pause();
  const d = duration(nemesis);
  await sleep(d);
  nemesis.pool.nodes[i].resume();
  return `pause n${i + 1} ${d}ms`;
}

async function oneWayPartition(nemesis: Nemesis): Promise<string> {
  const [i, j] = pick(nemesis, 2);
  const how = nemesis.random.chance(0.5) ? 'drop' : 'blackhole';
  nemesis.pool.link(i, j).setFault({ kind: how });
  await sleep(duration(nemesis));
  return `one-way ${how} n${i + 1}->n${j + 1}`;
}

/** The same fault on both directions of the link between nodes i and j. */
function bothWays(nemesis: Nemesis, i: number, j: number, kind: 'drop' | 'blackhole'): void {
  nemesis.pool.link(i, j).setFault({ kind });
  nemesis.pool.link(j, i).setFault({ kind });
}

async function symmetricPartition(nemesis: Nemesis): Promise<string> {
  const [i, j] = pick(nemesis, 2);
  bothWays(nemesis, i, j, 'drop');
  await sleep(duration(nemesis));
  return `symmetric n${i + 1}<->n${j + 1}`;
}

async function isolateOne(nemesis: Nemesis): Promise<string> {
  const [i] = pick(nemesis, 1);
  for (let j = 0; j < nemesis.pool.nodes.length; j++) if (j !== i) bothWays(nemesis, i, j, 'drop');
  await sleep(duration(nemesis));
  return `isolate n${i + 1}`;
}

async function blackholePair(nemesis: Nemesis): Promise<string> {
  const [i, j] = pick(nemesis, 2);
  bothWays(nemesis, i, j, 'blackhole');
  await sleep(duration(nemesis));
  return `blackhole n${i + 1}<->n${j + 1}`;
}

/** One delay for every directed link drawn (each with probability 1/2). */
async function delayLinks(nemesis: Nemesis): Promise<string> {
  const { pool, random } = nemesis;
  const n = pool.nodes.length;
  const delayMs = random.between(20, 400);
  const affected: string[] = [];
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++)
      if (i !== j && random.chance(0.5)) {
        pool.link(i, j).setFault({ kind: 'delay', delayMs });
        affected.push(`n${i + 1}->n${j + 1}`);
      }
  await sleep(duration(nemesis));
  return `delay ${delayMs}ms ${affected.join(',') || 'none'}`;
}
