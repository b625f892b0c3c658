// The live-sync figure (bench/results/live-sync.svg, linked from README): for each size and
// setting saved in bench/results/live-sync.json, live-sync beside backup + restore of the same
// state measured in the same run. Drawn from the saved results, so a run of one setting
// (in process, or --processes) keeps the other's last bars.

import { writeFileSync } from 'node:fs';
import { countLabel, groupedBars } from './svg.ts';

interface SavedRun {
  readonly keys: number;
  readonly liveSync: { readonly seconds: number };
  readonly backupRestore: { readonly seconds: number };
}

export interface SavedLiveSync {
  readonly runs?: readonly SavedRun[];
  readonly processes?: { readonly runs?: readonly SavedRun[] };
}

export function writeLiveSyncSvg(saved: SavedLiveSync, path: string | URL): void {
  const rows = [
    ...(saved.runs ?? []).map((run) => ({ run, where: 'one process' })),
    ...(saved.processes?.runs ?? []).map((run) => ({ run, where: 'loopback' })),
  ];
  if (rows.length === 0) return;
  const ms = (seconds: number): number => Math.round(seconds * 1000);
  writeFileSync(
    path,
    groupedBars(
      'Live-sync against backup + restore of the same state (same run)',
      'milliseconds (lower is better)',
      rows.map(({ run, where }) => `${countLabel(run.keys)}, ${where}`),
      [
        {
          name: 'live-sync to an open node',
          values: rows.map(({ run }) => ms(run.liveSync.seconds)),
        },
        {
          name: 'backup + restore',
          values: rows.map(({ run }) => ms(run.backupRestore.seconds)),
        },
      ],
    ),
  );
}
