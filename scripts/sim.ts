// npm run sim -- --seeds N [--seed S] [--nodes K] [--verbose]
// Runs whole pools in one process with faults drawn from each seed; on failure prints the
// seed, its parameters and the command that replays it, and exits 1.

import { newCore } from '../host/node/core-file.ts';
import { deriveSyncPointKey } from '../host/core/keys.ts';
import { replayCommand, runSeed } from '../host/sim/run.ts';
import type { SimParams } from '../host/sim/params.ts';

function argument(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

const SIM_SVMK = new Uint8Array(32).fill(0x42);
const spKey = deriveSyncPointKey(SIM_SVMK);
const factory = () => {
  const core = newCore();
  core.setKey(spKey);
  return core;
};

const first = Number(argument('seed') ?? 1);
const seeds = Number(argument('seeds') ?? (argument('seed') ? 1 : 100));
const overrides: Partial<SimParams> = argument('nodes') ? { nodes: Number(argument('nodes')) } : {};
const verbose = process.argv.includes('--verbose');
const started = performance.now();
let failures = 0;
let acknowledged = 0;
let crashes = 0;
for (let seed = first; seed < first + seeds; seed++) {
  const result = await runSeed(seed, factory, overrides);
  acknowledged += result.acknowledged;
  crashes += result.crashes;
  if (!result.ok || verbose) {
    console.log(`seed ${seed}: ${result.ok ? 'ok' : 'FAILED'} (${result.ticks} ticks, liveness ${result.livenessTicks}, ${result.acknowledged}/${result.writes} writes acknowledged, ${result.crashes} crashes)`);
    console.log('  parameters:', JSON.stringify(result.params));
    for (const problem of result.problems) console.log(`  problem: ${problem}`);
    if (!result.ok) {
      for (const event of result.events.slice(-40)) console.log(`  ${event}`);
      console.log(`  replay: ${replayCommand(result, overrides)}`);
      failures++;
    }
  }
  if ((seed - first + 1) % 500 === 0) console.log(`... ${seed - first + 1} seeds, ${failures} failed, ${((performance.now() - started) / 1000).toFixed(0)} s`);
}
const seconds = (performance.now() - started) / 1000;
console.log(`${seeds} seeds from ${first}: ${seeds - failures} passed, ${failures} failed; ${acknowledged} writes acknowledged, ${crashes} crashes; ${seconds.toFixed(1)} s`);
process.exit(failures === 0 ? 0 : 1);
