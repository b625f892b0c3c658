// The simulator in the default suite: 200 seeds of whole pools with faults, each checked for
// safety throughout and for liveness at the end. A failure names the seed and its replay.

import { expect, it } from 'vitest';
import { deriveSyncPointKey } from '../host/core/keys.ts';
import { newCore } from '../host/node/core-file.ts';
import { replayCommand, runSeed } from '../host/sim/run.ts';

const SEEDS = 200;
const spKey = deriveSyncPointKey(new Uint8Array(32).fill(0x42));
const factory = () => {
  const core = newCore();
  core.setKey(spKey);
  return core;
};

it(`${SEEDS} simulated pools stay safe and converge`, async () => {
  const failures: string[] = [];
  let acknowledged = 0;
  let crashes = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const result = await runSeed(seed, factory);
    acknowledged += result.acknowledged;
    crashes += result.crashes;
    if (!result.ok) failures.push(`seed ${seed}: ${result.problems.join('; ')} — params ${JSON.stringify(result.params)} — replay: ${replayCommand(result, {})}`);
  }
  expect(failures).toEqual([]);
  // The runs did real work: writes were acknowledged and nodes crashed.
  expect(acknowledged).toBeGreaterThan(SEEDS);
  expect(crashes).toBeGreaterThan(SEEDS / 4);
}, 300_000);
