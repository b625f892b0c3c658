// The short chaos campaign (scripts/chaos/, docs/CHAOS.md): 3 cycles of faults on a pool of
// real processes behind fault proxies (seed 1: isolation of a node, kills during recovery),
// then the end checks. `npm run chaos -- --cycles N` is the long version.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCampaign, type CampaignResult } from '../../scripts/chaos/campaign.node.ts';

const SEED = 1;
const CYCLES = 3;
let result: CampaignResult;

beforeAll(async () => {
  result = await runCampaign({ cycles: CYCLES, seed: SEED, faultMsMax: 1500 });
}, 170_000);

afterAll(() => {
  const v = result?.verdict;
  if (v)
    console.log(
      `chaos (seed ${SEED}): ${v.writes} writes, ${v.acknowledged} acknowledged, ${v.notCommitted} not committed, ` +
        `${v.unknown} unknown; ${v.falseNotCommitted.length} false "not committed"; recovery max ${result.recovery.max} ms`,
    );
});

it('runs every cycle, recovers after each, and stops every node cleanly', () => {
  expect(result.failures.filter((f) => !f.includes('"not committed"'))).toEqual([]);
  expect(result.cycles).toBe(CYCLES);
  expect(result.cycleReports.every((cycle) => cycle.converged)).toBe(true);
  expect(result.exitCodes).toEqual([0, 0, 0]);
  expect(result.problems).toEqual([]);
  // Not vacuous: the faults left writes acknowledged, and the reader read.
  expect(result.verdict!.acknowledged).toBeGreaterThan(CYCLES);
  expect(result.reads.ok).toBeGreaterThan(0);
});

it('loses no acknowledged write, invents none, and converges to one Sync-Point', () => {
  const v = result.verdict!;
  expect(v.lost).toEqual([]);
  expect(v.phantoms).toEqual([]);
  expect(v.split).toEqual([]);
  expect(v.spEqual).toBe(true);
  expect(v.pendingLeft).toBe(0);
});

it('no write answered "not committed" is present', () => {
  expect(result.verdict!.falseNotCommitted).toEqual([]);
});
