// bench:live-sync — the figure: live-sync of 100,000 and 1,000,000 keys into a new node
// while a writer keeps committing on the pool, beside the offline alternative (backup + restore
// of the same state) measured in the same run. In-process (bench/lib/live-sync-run.ts): donor,
// joiner and the rest of the pool share one thread, so every figure is CPU on one core.
// `--profile` adds a CPU profile of each join (where the time goes; the .cpuprofile files land
// in the temp directory); with --processes, of the donor's and the joiner's processes.
// `--processes` measures on loopback instead (bench/lib/live-sync-processes.ts): real
// `hsmpool node` processes (build/cli.js: `npm run build` first), a 4th one joining with
// `--join`, and `hsmpool backup` / `hsmpool restore` run as CLI processes; add `--in-process`
// to run both modes. Writes bench/results/live-sync.json: `runs` (in-process) and `processes`
// (loopback); a mode not run keeps what the file held.
//
//   npm run bench:live-sync [-- --keys 100000,1000000] [--profile]
//   npm run bench:live-sync -- --processes [--in-process] [--keys 100000,1000000]

import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { liveSyncRun } from './lib/live-sync-run.ts';
import { liveSyncProcessesRun } from './lib/live-sync-processes.ts';
import { startProfile } from './lib/profile.ts';
import { writeLiveSyncSvg } from './lib/live-sync-svg.ts';
import { resultPath, stringOption, writeResult } from './lib/cli.ts';

const SIZES = stringOption('keys', '100000,1000000').split(',').map(Number);
const PROFILE = process.argv.includes('--profile');
const PROCESSES = process.argv.includes('--processes');
const IN_PROCESS = !PROCESSES || process.argv.includes('--in-process');
const RESULTS = resultPath('live-sync.json');
const machine = () => ({
  cpus: cpus().length,
  loadavg: loadavg().map((x) => Number(x.toFixed(2))),
  node: process.version,
});

const runs = [];
for (const keys of IN_PROCESS ? SIZES : []) {
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

const processRuns = [];
for (const keys of PROCESSES ? SIZES : []) {
  const say = (line: string): void => console.error(`  [${keys}] ${line}`);
  const run = await liveSyncProcessesRun(keys, say, { profile: PROFILE });
  const { liveSync: l, backupRestore: b, writer: w } = run;
  const mb = (l.snapshotBytes / 1e6).toFixed(1);
  console.log(
    `loopback live-sync of ${keys} keys (${run.records} records), real processes: ${l.seconds.toFixed(2)} s spawn to ready at ${l.mbPerSecond} MB/s, ` +
      `${l.joinedSeconds.toFixed(2)} s spawn to joined at ${l.joinedMbPerSecond} MB/s (${mb} MB snapshot)\n` +
      `  image moved and verified in ${l.transferSeconds?.toFixed(2)} s (live-sync event to done): ${l.transferMbPerSecond} MB/s; ` +
      `${l.catchUpTransactions} transactions caught up; phases (s from spawn): ${JSON.stringify(l.phases)}\n` +
      `  writer on node 2: ${w.acknowledged} acknowledged (${w.acknowledgedDuringJoin} from the join's start to 1 s after ready), ${w.busyRetries} busy retries, failures ${JSON.stringify(w.failures)}; ` +
      `writes during the join: median ${w.joinWriteMedianMs} ms, longest ${w.joinWriteLongestMs} ms (started ${w.joinWriteLongestStartedAt} s from spawn)\n` +
      `  backup + restore of the same state, same run, CLI processes: ${b.seconds.toFixed(2)} s (backup ${b.backupSeconds.toFixed(2)} s, restore ${b.restoreSeconds.toFixed(2)} s; a bare CLI start ${b.cliStartSeconds.toFixed(2)} s) at ${b.mbPerSecond} MB/s, offline\n` +
      `  live-sync (to ready) is ${run.liveSyncOverBackupRestore}x as fast as backup + restore; SPs of the 4 nodes equal: ${run.syncPointsEqual}; ` +
      `keys checked usable on node 4: ${run.keysChecked - run.keysMissingOnJoiner}/${run.keysChecked}\n` +
      `  load average ${run.loadavg.before.join(' ')} before, ${run.loadavg.atJoin.join(' ')} at the join, ${run.loadavg.after.join(' ')} after`,
  );
  processRuns.push(run);
}

const previous = existsSync(RESULTS) ? JSON.parse(readFileSync(RESULTS, 'utf8')) : {};
const result = IN_PROCESS
  ? { ...previous, runs, machine: machine(), date: new Date().toISOString() }
  : { ...previous };
if (PROCESSES)
  result.processes = { runs: processRuns, machine: machine(), date: new Date().toISOString() };
writeResult('live-sync.json', result);
writeLiveSyncSvg(result, resultPath('live-sync.svg'));
if ([...runs, ...processRuns].some((run) => !run.ok)) process.exitCode = 1;
