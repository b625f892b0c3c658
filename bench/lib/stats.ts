// Timing helpers for the benchmarks: several repetitions, best and median, no hidden warm-up.
// The machine is shared (2 cores, builds and fuzzers next to us), so the best of several
// runs is the figure closest to what the code can do and the median says how noisy it was.

import { performance } from 'node:perf_hooks';

export interface Samples {
  /** Seconds per repetition, in the order they ran. */
  readonly seconds: readonly number[];
  readonly bestSeconds: number;
  readonly medianSeconds: number;
}

export function summarize(seconds: readonly number[]): Samples {
  if (seconds.length === 0) throw new RangeError('summarize: no samples');
  const sorted = [...seconds].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const medianSeconds =
    sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return { seconds, bestSeconds: sorted[0], medianSeconds };
}

/** How long one call of `body` takes, in seconds. */
export function secondsOf(body: () => void): number {
  const start = performance.now();
  body();
  return (performance.now() - start) / 1000;
}

/** Runs `body` `repetitions` times (after `warmups` untimed runs); seconds per run. */
export function repeat(repetitions: number, body: () => void, warmups = 1): Samples {
  if (!Number.isInteger(repetitions) || repetitions < 1 || repetitions > 1000) {
    throw new RangeError(`repetitions: expected 1..1000, got ${repetitions}`);
  }
  for (let i = 0; i < warmups; i++) body();
  const seconds: number[] = [];
  for (let i = 0; i < repetitions; i++) seconds.push(secondsOf(body));
  return summarize(seconds);
}

/** The nearest-rank quantile of `sorted`: the smallest value with at least a fraction `q` of
 * the values at or below it (index ceil(q·n) − 1, clamped); NaN if empty. */
export const quantile = (sorted: readonly number[], q: number): number =>
  sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];

/** `count` calls awaited one after another; each one's latency in ms, sorted. */
export async function latenciesMs(
  count: number,
  call: (i: number) => Promise<unknown>,
): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await call(i);
    latencies.push(performance.now() - start);
  }
  return latencies.sort((a, b) => a - b);
}

/** `workers` closed loops side by side, each awaiting `body` again until `seconds` have passed. */
export async function closedLoops(
  workers: number,
  seconds: number,
  body: (worker: number) => Promise<unknown>,
): Promise<void> {
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (performance.now() < end) await body(worker);
    }),
  );
}

/** The memory-read bandwidth probe: each `read` compares two equal 256 MiB buffers (Buffer.compare),
 * `bytes` read in all, so the benches that hash memory can be judged against the machine. */
export function memoryReadProbe(): { read: () => void; bytes: number } {
  const a = Buffer.alloc(256 * 2 ** 20, 0x5a);
  const b = Buffer.alloc(a.length, 0x5a);
  const read = (): void => {
    if (Buffer.compare(a, b) !== 0) throw new Error('memory probe: buffers differ');
  };
  return { read, bytes: a.length + b.length };
}

/** A small seeded generator (SplitMix32): every random choice of a benchmark comes from a printed seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** `length` bytes from `next`, as fillRandom writes them. */
export function randomBytes(length: number, next: () => number): Uint8Array {
  const bytes = new Uint8Array(length);
  fillRandom(bytes, next);
  return bytes;
}

export function fillRandom(bytes: Uint8Array, next: () => number): void {
  let i = 0;
  for (; i + 4 <= bytes.length; i += 4) {
    const word = next();
    bytes[i] = word;
    bytes[i + 1] = word >>> 8;
    bytes[i + 2] = word >>> 16;
    bytes[i + 3] = word >>> 24;
  }
  if (i < bytes.length) {
    const word = next();
    for (let shift = 0; i < bytes.length; i++, shift += 8) bytes[i] = word >>> shift;
  }
}
