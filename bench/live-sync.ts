// bench:live-sync — the figure: live-sync of 100,000 and 1,000,000 keys into a new node
// while a writer keeps committing on the pool, beside the offline alternative (backup + restore
// of the same state) measured in the same run. In-process (bench/lib/live-sync-run.ts): donor,
// joiner and the rest of the pool share one thread, so every figure is CPU on one core.
// `--profile` adds a CPU profile of each join (where the time goes; the .cpuprofile files land
// in the temp directory). Writes bench/results/live-sync.json.
//
//   npm run bench:live-sync [-- --keys 100000,1000000] [--profile]

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { liveSyncRun } from './lib/live-sync-run.ts';
import { startProfile } from './lib/profile.ts';

const argKeys = process.argv.indexOf('--keys');
const SIZES = (argKeys > 0 ? process.argv[argKeys + 1] : '100000,1000000').split(',').map(Number);
const PROFILE = process.argv.includes('--profile');

const runs = [];
for (const keys of SIZES) {
  const run = await liveSyncRun(keys, PROFILE ? startProfile : undefined);
  const { liveSync: l, backupRestore: b } = run;
  console.log(
    `live-sync of ${keys} keys: ${l.seconds.toFixed(2)} s to an open node (CPU ${l.cpuSeconds.toFixed(2)} s), ${(l.snapshotBytes / 1e6).toFixed(1)} MB at ${l.mbPerSecond} MB/s ` +
      `(image received and verified in ${l.transferSeconds.toFixed(2)} s: ${l.transferMbPerSecond} MB/s); ` +
      `${l.catchUpTransactions} transactions caught up, writer ${run.writer.acknowledged} acknowledged\n` +
      `  backup + restore of the same state, same run: ${b.seconds.toFixed(2)} s (CPU ${b.cpuSeconds.toFixed(2)} s; backup ${b.backupSeconds.toFixed(2)} s, restore to a node's storage ${b.restoreSeconds.toFixed(2)} s) at ${b.mbPerSecond} MB/s, offline; ` +
      `into a bare core only ${b.intoCoreSeconds.toFixed(2)} s\n` +
      `  live-sync is ${run.liveSyncOverBackupRestore}x as fast as backup + restore; SPs equal: ${run.syncPointsEqual}; acknowledged writes missing on the joiner: ${run.acknowledgedMissingOnJoiner}`,
  );
  runs.push(run);
}

const result = {
  runs,
  machine: {
    cpus: cpus().length,
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
    node: process.version,
  },
  date: new Date().toISOString(),
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/live-sync.json', JSON.stringify(result, null, 2) + '\n');
if (runs.some((run) => !run.ok)) process.exitCode = 1;
