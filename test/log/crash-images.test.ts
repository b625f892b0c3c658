// The crash-image check, short (npm run crash-images runs it long): real 3-node histories over
// FileStorage with concurrent writers and a checkpoint every few KiB; every disk image a crash
// could leave (after each storage call, and torn during each append) recovers exactly the
// durable prefix of what was appended (host/testing/crash-images.node.ts).

import { expect, it } from 'vitest';
import { durablePrefix, runHistory } from '../../host/testing/crash-images.node.ts';
import { keyedCore, sampleObject, TEST_SVMK } from '../fixtures.ts';

const codec = keyedCore();

it('the durable prefix is the whole entries of the bytes appended', () => {
  expect(durablePrefix(new Uint8Array(0))).toMatchObject({ entries: 0, lastSequence: 0n });
  expect(durablePrefix(new Uint8Array(111))).toMatchObject({ entries: 0, lastSequence: 0n });
});

it('every crash image of two pool histories recovers exactly the durable prefix', async () => {
  for (const seed of [1, 2]) {
    const result = await runHistory({
      seed,
      newCore: () => keyedCore(),
      svmk: TEST_SVMK,
      record: (name) => codec.encode(sampleObject(name)),
      rounds: 4,
      checkpointBytes: 1024, // checkpoints even when load makes writes time out
    });
    expect(result.failures.slice(0, 5)).toEqual([]);
    // The history did what the check needs: commits, checkpoints, many images.
    expect(result.committed).toBeGreaterThan(4);
    expect(result.checkpoints).toBeGreaterThan(0);
    expect(result.images).toBeGreaterThan(100);
  }
}, 120_000);
