// The backup figure (bench/results/backup.svg, linked from README): memory of a backup and of a
// restore by number of keys, format v1 (the whole file in memory) beside v2 (streamed a chunk at
// a time), from the rows bench:backup saves. Backup: peak RSS above the process before it.
// Restore: JS heap and buffers above it (the restored store's wasm memory grows with the keys
// in either format, so RSS would hide what the format costs).

import { writeFileSync } from 'node:fs';
import { countLabel, groupedBars } from './svg.ts';

export interface SavedBackupRow {
  readonly format: 'v1' | 'v2';
  readonly phase: 'backup' | 'restore';
  readonly keys: number;
  readonly peakRssAboveMB: number;
  readonly peakJsAboveMB: number;
}

export function writeBackupSvg(rows: readonly SavedBackupRow[], path: string | URL): void {
  const keys = [...new Set(rows.map((row) => row.keys))].sort((a, b) => a - b);
  if (keys.length === 0) return;
  const values = (
    format: SavedBackupRow['format'],
    phase: SavedBackupRow['phase'],
    measure: (row: SavedBackupRow) => number,
  ): number[] =>
    keys.map((n) => {
      const row = rows.find((r) => r.format === format && r.phase === phase && r.keys === n);
      if (!row) throw new Error(`backup.svg: no ${format} ${phase} row for ${n} keys`);
      return measure(row);
    });
  const rss = (row: SavedBackupRow): number => row.peakRssAboveMB;
  const js = (row: SavedBackupRow): number => row.peakJsAboveMB;
  writeFileSync(
    path,
    groupedBars(
      'Backup and restore memory by keys: format v1 (whole file) against v2 (streamed)',
      'MB above the process (lower is better)',
      keys.map((n) => `${countLabel(n)} keys`),
      [
        { name: 'backup v1, peak RSS', values: values('v1', 'backup', rss) },
        { name: 'backup v2, peak RSS', values: values('v2', 'backup', rss) },
        { name: 'restore v1, JS memory', values: values('v1', 'restore', js) },
        { name: 'restore v2, JS memory', values: values('v2', 'restore', js) },
      ],
    ),
  );
}
