// The Sync-Point figure (bench/results/sp.svg, linked from README): the SP from scratch over a
// 1M-record store in records per second, beside the same records hashed alone from packed,
// cache-warm frames (what bounds it), node:crypto's SHA-256 with a createHash per record (what
// a user would reach for instead) and the goal of issue 16 (40 M/s for 64 B records; half the
// memory-read probe, in records, for 300 B). Drawn from the figures bench:sp saves.

import { writeFileSync } from 'node:fs';
import { groupedBars } from './svg.ts';

export interface SavedFigure {
  readonly name: string;
  readonly unit: string;
  readonly best: number;
}

const SIZES = [64, 300] as const;
const GOAL_64_RECORDS_PER_SECOND = 40e6;

export function writeSpSvg(figures: readonly SavedFigure[], path: string | URL): void {
  const best = (name: string): number => {
    const figure = figures.find((f) => f.name === name);
    if (!figure) throw new Error(`sp.svg: no figure named '${name}' in the results`);
    return figure.best;
  };
  const perSecond = (nanoseconds: number): number => 1e9 / nanoseconds;
  const millions = (values: number[]): number[] => values.map((v) => v / 1e6);
  const probeBytesPerSecond = best('memory read bandwidth (Buffer.compare, 2 x 256 MiB)') * 1e9;
  writeFileSync(
    path,
    groupedBars(
      'Sync-Point from scratch over 1M records, best of the rounds',
      'million records per second (higher is better)',
      SIZES.map((size) => `${size} B records`),
      [
        {
          name: 'SP from scratch',
          values: millions(SIZES.map((s) => best(`${s} B: SP from scratch over 1000000 records`))),
        },
        {
          name: 'hashing alone (packed frames, cache-warm)',
          values: millions(
            SIZES.map((s) =>
              perSecond(
                best(`${s} B: packed frames in the IO buffer (hash + accumulate, cache-warm)`),
              ),
            ),
          ),
        },
        {
          name: 'node:crypto SHA-256, createHash per record',
          values: millions(
            SIZES.map((s) =>
              perSecond(best(`node:crypto SHA-256 per ${s}-byte record (createHash each)`)),
            ),
          ),
        },
        {
          name: 'goal (issue 16)',
          values: millions([GOAL_64_RECORDS_PER_SECOND, probeBytesPerSecond / 2 / 300]),
        },
      ],
    ),
  );
}
