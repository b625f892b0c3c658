// bench:sp's figures and targets: what a measure's seconds mean in its unit, the targets of
// issues 2 and 16 judged on them, and the tables printed. The measures themselves are in
// bench/sp.ts.

import { summarize } from './stats.ts';

export type Unit = 'records/s' | 'GB/s' | 'ns/record' | 'ns/change' | 'ns/call';

export interface Measure {
  readonly name: string;
  readonly unit: Unit;
  /** Items per run (ns/* units), or records or gigabytes per run (rates). */
  readonly amount: number;
  readonly note?: string;
  readonly run: () => number;
  readonly seconds: number[];
}

export interface Figure {
  readonly name: string;
  readonly unit: Unit;
  readonly best: number;
  readonly median: number;
  readonly note?: string;
  /** Seconds per run, round by round. */
  readonly seconds: readonly number[];
}

export interface StoreMeasures {
  readonly scratch: Measure;
  readonly scratchBytes: Measure;
  readonly frames: Measure;
  readonly update: Measure;
  readonly replace: Measure[];
}

export function figureOf(
  m: { name: string; unit: Unit; amount: number; note?: string },
  runSeconds: readonly number[],
): Figure {
  const { bestSeconds, medianSeconds } = summarize(runSeconds);
  const rate = m.unit === 'records/s' || m.unit === 'GB/s';
  return {
    name: m.name,
    unit: m.unit,
    best: rate ? m.amount / bestSeconds : (bestSeconds / m.amount) * 1e9,
    median: rate ? m.amount / medianSeconds : (medianSeconds / m.amount) * 1e9,
    note: m.note,
    seconds: runSeconds,
  };
}

export interface Target {
  readonly name: string;
  readonly required: string;
  readonly unit: Unit | 'x';
  readonly best: number;
  readonly median: number;
  readonly metBest: boolean;
  readonly metMedian: boolean;
}

export function format(value: number, unit: Unit | 'x'): string {
  if (unit === 'records/s') return `${(value / 1e6).toFixed(1)} M/s`;
  if (unit === 'GB/s') return `${value.toFixed(2)} GB/s`;
  if (unit === 'x') return `${value.toFixed(0)}x`;
  return `${value.toFixed(value < 10 ? 2 : 1)} ns`;
}

export function printTable(rows: readonly string[][]): void {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  for (const [i, row] of rows.entries()) {
    console.log(
      row
        .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
        .join('  '),
    );
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

function target(
  name: string,
  required: string,
  unit: Unit | 'x',
  best: number,
  median: number,
  met: (value: number) => boolean,
): Target {
  return { name, required, unit, best, median, metBest: met(best), metMedian: met(median) };
}

export function targetsOf(
  figure: (m: Measure) => Figure,
  references: { sha64: Measure; bandwidth: Measure },
  small: StoreMeasures,
  large: StoreMeasures,
): Target[] {
  return [
    ...scratchTargets(figure, references.sha64, small),
    ...replaceTargets(figure, small.replace),
    bandwidthTarget(figure(references.bandwidth), figure(large.scratchBytes)),
  ];
}

/** The 64 B store: SP from scratch, its speed-up over SHA-256, and the update per change. */
function scratchTargets(
  figure: (m: Measure) => Figure,
  sha64: Measure,
  small: StoreMeasures,
): Target[] {
  const sha = figure(sha64);
  const scratch = figure(small.scratch);
  const frames = figure(small.frames);
  const update = figure(small.update);
  const perRecord = (recordsPerSecond: number): number => 1e9 / recordsPerSecond;
  return [
    target(
      '64 B records from scratch',
      '>= 40 M records/s',
      'records/s',
      scratch.best,
      scratch.median,
      (v) => v >= 40e6,
    ),
    target(
      'vs node:crypto SHA-256 per 64 B record: from scratch',
      '>= 50x',
      'x',
      sha.best / perRecord(scratch.best),
      sha.median / perRecord(scratch.median),
      (v) => v >= 50,
    ),
    target(
      'vs node:crypto SHA-256 per 64 B record: hashing only (packed frames)',
      '>= 50x',
      'x',
      sha.best / frames.best,
      sha.median / frames.median,
      (v) => v >= 50,
    ),
    target(
      'incremental SP update per change (h(r) + accumulator, 64 B)',
      '< 100 ns',
      'ns/change',
      update.best,
      update.median,
      (v) => v < 100,
    ),
  ];
}

/** Each REPLACE measure against the all-in target, then against issue 16's write target. */
function replaceTargets(figure: (m: Measure) => Figure, replace: readonly Measure[]): Target[] {
  const allIn = replace.map((m) => {
    const f = figure(m);
    return target(
      `incremental all-in: ${f.name.replace(/ \(.*$/, '')}`,
      '< 100 ns',
      'ns/change',
      f.best,
      f.median,
      (v) => v < 100,
    );
  });
  // Issue 16: a write all-in in the large store.
  const write = replace.map((m) => {
    const f = figure(m);
    return target(
      `write all-in (issue 16): ${f.name.replace(/ \(.*$/, '')}`,
      '<= 200 ns',
      'ns/change',
      f.best,
      f.median,
      (v) => v <= 200,
    );
  });
  return [...allIn, ...write];
}

/** The 300 B store from scratch must hash at least half the memory read bandwidth. */
function bandwidthTarget(bandwidth: Figure, largeBytes: Figure): Target {
  return {
    ...target(
      '300 B records from scratch vs memory read bandwidth',
      `>= half (${(bandwidth.best / 2).toFixed(2)} GB/s best)`,
      'GB/s',
      largeBytes.best,
      largeBytes.median,
      () => false,
    ),
    metBest: largeBytes.best >= bandwidth.best / 2,
    metMedian: largeBytes.median >= bandwidth.median / 2,
  };
}
