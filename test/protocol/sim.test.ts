// The simulator in the default suite: 200 seeds of whole pools with faults, each checked for
// safety throughout and for liveness at the end, plus the seeds that found bugs in live-sync
// (kept as named regressions). A failure names the seed and its replay.

import { expect, it } from 'vitest';
import { keyedCore } from '../fixtures.ts';
import { replayCommand, runSeed, type SimResult } from '../../host/sim/run.ts';

const SEEDS = 200;
const factory = () => keyedCore('release', new Uint8Array(32).fill(0x42));

const failure = (result: SimResult): string =>
  `seed ${result.seed}: ${result.problems.join('; ')} — params ${JSON.stringify(result.params)} — replay: ${replayCommand(result, {})}`;

it(`${SEEDS} simulated pools stay safe and converge`, async () => {
  const failures: string[] = [];
  let acknowledged = 0;
  let crashes = 0;
  let joins = 0;
  let retried = 0;
  let checkpoints = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const result = await runSeed(seed, factory);
    acknowledged += result.acknowledged;
    crashes += result.crashes;
    joins += result.joinsCompleted;
    retried += result.joinRetries;
    checkpoints += result.checkpoints;
    if (!result.ok) failures.push(failure(result));
  }
  expect(failures).toEqual([]);
  // The runs did real work: writes were acknowledged, nodes crashed, new nodes joined by
  // live-sync, some only after a failed attempt.
  expect(acknowledged).toBeGreaterThan(SEEDS);
  expect(crashes).toBeGreaterThan(SEEDS / 4);
  expect(joins).toBeGreaterThan(SEEDS / 4);
  expect(retried).toBeGreaterThan(SEEDS / 10);
  // Checkpoints and compactions ran under load and crashes, over storage that takes time.
  expect(checkpoints).toBeGreaterThan(SEEDS * 5);
}, 300_000);

/** Seeds that found a checkpoint holding commits logged after it, when a node chose the
 * checkpoint's state after awaiting storage (issue 11; storage that takes time shows it):
 * 77 and 132 as a restart refused with 38312, 16 and 148 by the check of each checkpoint. */
const CHECKPOINT_REGRESSIONS = [16, 77, 132, 148];

for (const seed of CHECKPOINT_REGRESSIONS) {
  it(`seed ${seed}: every checkpoint is the state right before its CHECKPOINT entry`, async () => {
    const result = await runSeed(seed, factory);
    expect(result.ok ? [] : [failure(result)]).toEqual([]);
    expect(result.checkpoints).toBeGreaterThan(0);
  }, 60_000);
}

/** Seeds that found bugs in live-sync (docs/PROTOCOL.md, The simulator; test/live-sync/findings.test.ts). */
const REGRESSIONS: Record<number, string> = {
  219: 'a retried joiner got DONE while its donor was in doubt about a transaction already committed: it missed it',
  1221: "a joined node restarted at a lower epoch than its log's and wrote a PREPARE its next recovery refused",
  2040: 'two joiners, one already a member: the other held both donors, the pool stayed blocked',
  2226: "a joined node restarted and ran a client's retried write again (its received outcomes are durable now)",
  2305: 'a joined node declared down could not be opened again (not in its own membership)',
  6878: 'a donor restarted mid-transfer and served the same session again; DONE came only after the confirmed add, later than the add itself',
};

for (const [seed, story] of Object.entries(REGRESSIONS)) {
  it(`seed ${seed}: ${story}`, async () => {
    const result = await runSeed(Number(seed), factory);
    expect(result.ok ? [] : [failure(result)]).toEqual([]);
    expect(result.joinsCompleted).toBeGreaterThan(0);
  }, 60_000);
}

/** Seeds that found a replica stuck after a restart (docs/PROTOCOL.md, "What a crash does";
 * test/protocol/restored-coordinator.test.ts tells the story step by step). */
const RESTART_REGRESSIONS: Record<number, string> = {
  8334: "the pool's only member restarted as the coordinator of a PREPARE without participants and held it VIRTUAL for ever",
  677: 'a restarted coordinator queued a late copy of a forward it had answered "not committed" before its crash, and committed it',
};

for (const [seed, story] of Object.entries(RESTART_REGRESSIONS)) {
  it(`seed ${seed}: ${story}`, async () => {
    const result = await runSeed(Number(seed), factory);
    expect(result.ok ? [] : [failure(result)]).toEqual([]);
  }, 60_000);
}
