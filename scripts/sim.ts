// npm run sim -- --seeds N [--seed S] [--nodes K] [--verbose]
// Runs whole pools in one process with faults drawn from each seed; on failure prints the
// seed, its parameters and the command that replays it, and exits 1.

import { finalSyncPoints, replayCommand, runSeed } from '../host/sim/run.ts';
import type { SimParams } from '../host/sim/params.ts';
import type { World } from '../host/sim/world.ts';
import { keyedCore } from '../test/fixtures.ts';

function argument(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

const SIM_SVMK = new Uint8Array(32).fill(0x42);
const factory = () => keyedCore('release', SIM_SVMK);

const first = Number(argument('seed') ?? 1);
const seeds = Number(argument('seeds') ?? (argument('seed') ? 1 : 100));
const overrides: Partial<SimParams> = argument('nodes') ? { nodes: Number(argument('nodes')) } : {};
const verbose = process.argv.includes('--verbose');
const started = performance.now();
let failures = 0;
let acknowledged = 0;
let crashes = 0;
let checkpoints = 0;
let crashesMidSnapshot = 0;
let writes = 0;
let joins = 0;
let joinsCompleted = 0;
let joinRetries = 0;
let rerun = 0;
let forwarded = 0;
for (let seed = first; seed < first + seeds; seed++) {
  let result;
  let world: World | undefined;
  try {
    result = await runSeed(seed, factory, overrides, (seen) => void (world = seen));
  } catch (error) {
    // A throw inside the simulated pool (a recovery that fails, say) is a finding like any other.
    console.log(`seed ${seed}: FAILED with an exception: ${(error as Error).stack}`);
    console.log(`  replay: npm run sim -- --seed ${seed}`);
    failures++;
    continue;
  }
  acknowledged += result.acknowledged;
  crashes += result.crashes;
  checkpoints += result.checkpoints;
  crashesMidSnapshot += result.crashesMidSnapshot;
  writes += result.writes;
  joins += result.joins;
  joinsCompleted += result.joinsCompleted;
  joinRetries += result.joinRetries;
  rerun += result.rerunWrites;
  forwarded += result.forwardedWrites;
  if (!result.ok || verbose) {
    console.log(
      `seed ${seed}: ${result.ok ? 'ok' : 'FAILED'} (${result.ticks} ticks, liveness ${result.livenessTicks}, ${result.acknowledged}/${result.writes} writes acknowledged, ${result.crashes} crashes, ${result.checkpoints} checkpoints, ${result.joinsCompleted}/${result.joins} joins, ${result.joinRetries} retried)`,
    );
    console.log('  parameters:', JSON.stringify(result.params));
    // The page's replay of this seed ends on the same Sync-Points (docs/img, README).
    console.log(`  final SPs: ${finalSyncPoints(world!).join(' ')}`);
    for (const problem of result.problems) console.log(`  problem: ${problem}`);
    if (!result.ok) {
      for (const event of result.events.slice(-40)) console.log(`  ${event}`);
      console.log(`  replay: ${replayCommand(result, overrides)}`);
      failures++;
    }
  }
  if ((seed - first + 1) % 500 === 0)
    console.log(
      `... ${seed - first + 1} seeds, ${failures} failed, ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `${seeds} seeds from ${first}: ${seeds - failures} passed, ${failures} failed; ${acknowledged} of ${writes} writes acknowledged (${forwarded} forwarded), ${crashes} crashes (${crashesMidSnapshot} while a checkpoint snapshot was written), ${checkpoints} checkpoints; ` +
    `${joinsCompleted} of ${joins} live-sync joins completed, ${joinRetries} join attempts retried, ${rerun} writes rerun after a joined node's restart; ${seconds.toFixed(1)} s`,
);
process.exit(failures === 0 ? 0 : 1);
