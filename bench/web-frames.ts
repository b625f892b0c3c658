// bench:web's frame figures: the page records the requestAnimationFrame timestamp of every
// frame it draws during a load (web/load.ts); these turn them into frames/s per whole second
// (min and median) and frame intervals (median, 95th percentile, longest).

export interface FrameFigure {
  readonly frames: number;
  /** Frames drawn in each whole second of the load. */
  readonly fpsPerSecond: number[];
  readonly fpsMin: number;
  readonly fpsMedian: number;
  readonly intervalMedianMs: number;
  readonly intervalP95Ms: number;
  readonly intervalMaxMs: number;
}

import { quantile } from './lib/stats.ts';

export function frameFigure(times: readonly number[]): FrameFigure {
  const fpsPerSecond: number[] = [];
  if (times.length > 0) {
    const first = times[0];
    const seconds = Math.floor((times[times.length - 1] - first) / 1000);
    for (let s = 0; s < seconds; s++) fpsPerSecond.push(0);
    for (const t of times) {
      const s = Math.floor((t - first) / 1000);
      if (s < seconds) fpsPerSecond[s]++;
    }
  }
  const intervals = times.slice(1).map((t, i) => t - times[i]);
  const sortedFps = [...fpsPerSecond].sort((a, b) => a - b);
  const sortedIntervals = intervals.sort((a, b) => a - b);
  return {
    frames: times.length,
    fpsPerSecond,
    fpsMin: sortedFps[0] ?? 0,
    fpsMedian: quantile(sortedFps, 0.5),
    intervalMedianMs: quantile(sortedIntervals, 0.5),
    intervalP95Ms: quantile(sortedIntervals, 0.95),
    intervalMaxMs: sortedIntervals[sortedIntervals.length - 1] ?? NaN,
  };
}
