// A simulator seed replayed in the page ends on the very Sync-Points the same seed reaches in
// Node (runSeed, as `npm run sim -- --seed S --nodes K --verbose` prints them): the page runs
// the real simulator, not a model of it. Seed 10 with 3 nodes has crashes and two live-sync
// joins, one retried five times.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finalSyncPoints, runSeed } from '../../host/sim/run.ts';
import type { World } from '../../host/sim/world.ts';
import { SIM_SVMK } from '../../web/replay.ts';
import { keyedCore } from '../fixtures.ts';
import { CHROMIUM, screenshot, startWeb, type WebHarness } from './browser.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */
const SEED = 10;
const NODES = 3;

async function nodeRun(): Promise<{ sps: string[]; ticks: number }> {
  let world: World | undefined;
  const result = await runSeed(
    SEED,
    () => keyedCore('release', SIM_SVMK),
    { nodes: NODES },
    (seen) => void (world = seen),
  );
  expect(result.ok).toBe(true);
  return { sps: finalSyncPoints(world!), ticks: result.ticks };
}

describe.skipIf(CHROMIUM === undefined)('a simulator seed replayed in the page', () => {
  let web: WebHarness;
  beforeAll(async () => {
    web = await startWeb();
  });
  afterAll(async () => {
    await web?.close();
  });

  it(`--seed ${SEED} --nodes ${NODES} ends on the SPs the simulator reaches in Node`, async () => {
    const expected = await nodeRun();
    const { page, errors } = await web.open(
      `?replay=${encodeURIComponent(`--seed ${SEED} --nodes ${NODES}`)}`,
    );
    await page.waitForFunction(
      () => (globalThis as any).hsmpool?.replay()?.done === true,
      undefined,
      {
        timeout: 60_000,
      },
    );
    const replay = await page.evaluate(() => (globalThis as any).hsmpool.replay());
    expect(replay.ok).toBe(true);
    expect(replay.tick).toBe(expected.ticks);
    expect(replay.finalSps).toEqual(expected.sps);
    expect(replay.finalSps.length).toBeGreaterThan(NODES); // the joined nodes are in the picture
    expect(errors).toEqual([]);
    await screenshot(page, 'page-replay.png');
    expect(errors).toEqual([]);
  });

  it('single-step advances the replay one tick per click', async () => {
    const { page, errors } = await web.open(
      `?replay=${encodeURIComponent('--seed 3 --nodes 3')}&step=1`,
    );
    await page.waitForFunction(() => (globalThis as any).hsmpool?.replay()?.phase === 'open');
    const before = await page.evaluate(() => (globalThis as any).hsmpool.replay().tick);
    for (let i = 0; i < 5; i++) await page.click('#step');
    await page.waitForFunction((t) => (globalThis as any).hsmpool.replay().tick >= t + 5, before);
    await page.waitForTimeout(200);
    const after = await page.evaluate(() => (globalThis as any).hsmpool.replay().tick);
    expect(after - before).toBe(5);
    expect(errors).toEqual([]);
  });
});
