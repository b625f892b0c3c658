// The pooled random source (host/wire/random.ts pooledRandom): every byte the filler gives is
// handed out once at most, what was handed out is zeroed in the pool, large requests bypass it.

import { expect, it, vi } from 'vitest';
import { pooledRandom, pooledSecureRandom, RANDOM_POOL_BYTES } from '../../host/wire/random.ts';

/** A filler that writes a counter (never the same byte sequence twice), counting its calls. */
function counting(): { fill: (bytes: Uint8Array) => void; calls: () => number } {
  let next = 1;
  let calls = 0;
  return {
    fill: (bytes) => {
      calls++;
      for (let i = 0; i < bytes.length; i++) bytes[i] = next++ & 0xff || 1;
    },
    calls: () => calls,
  };
}

it('hands out each pooled byte once, in order, refilling only when the pool runs out', () => {
  const source = counting();
  const random = pooledRandom(source.fill, 64);
  const taken = [random(4), random(4), random(3)];
  expect(source.calls()).toBe(1);
  expect([...taken[0]]).toEqual([1, 2, 3, 4]);
  expect([...taken[1]]).toEqual([5, 6, 7, 8]);
  expect([...taken[2]]).toEqual([9, 10, 11]);
  for (let i = 0; i < 13; i++) random(4); // 52 more: 63 of 64 taken
  expect(source.calls()).toBe(1);
  expect([...random(4)]).toEqual([65, 66, 67, 68]); // 1 left was too few: a fresh pool
  expect(source.calls()).toBe(2);
});

it('zeroes what it handed out, so no used byte stays in memory', () => {
  let pool: Uint8Array | undefined;
  const random = pooledRandom((bytes) => {
    pool = bytes;
    bytes.fill(0xaa);
  }, 32);
  const out = random(2);
  expect([...out]).toEqual([0xaa, 0xaa]);
  expect([...pool!.subarray(0, 2)]).toEqual([0, 0]);
  expect(pool![2]).toBe(0xaa);
  out[0] = 1; // the caller owns its copy
  expect(pool![0]).toBe(0);
});

it('fills requests above a sixteenth of the pool directly', () => {
  const source = counting();
  const random = pooledRandom(source.fill);
  const large = random(RANDOM_POOL_BYTES / 16 + 1);
  expect(large.length).toBe(RANDOM_POOL_BYTES / 16 + 1);
  expect(source.calls()).toBe(1);
  random(32); // the pool's first fill
  expect(source.calls()).toBe(2);
  expect(random(0).length).toBe(0);
});

it("the SDK's default draws distinct request ids, fewer calls into the system's generator than ids", () => {
  const real = globalThis.crypto.getRandomValues.bind(globalThis.crypto);
  let calls = 0;
  const spy = vi.spyOn(globalThis.crypto, 'getRandomValues').mockImplementation((array) => {
    calls++;
    return real(array as Uint8Array);
  });
  try {
    const random = pooledSecureRandom();
    const ids = new Set<string>();
    for (let i = 0; i < 1000; i++) ids.add(Buffer.from(random(16)).toString('hex'));
    expect(ids.size).toBe(1000);
    expect(calls).toBe(Math.ceil((1000 * 16) / RANDOM_POOL_BYTES));
  } finally {
    spy.mockRestore();
  }
});
