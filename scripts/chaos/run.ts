// npm run chaos -- --cycles N [--seed S] [--writers W] [--out FILE]
// The fault campaign on real processes (docs/CHAOS.md). Prints its seed first, one line per
// cycle, a summary line; writes bench/results/chaos.json (or --out). Exit 0 only if every
// check passed.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { machineInfo } from '../../bench/lib/machine.ts';
import { CHAOS_CYCLES_MAX, runCampaign, type CampaignResult } from './campaign.node.ts';
import { CLI } from './pool.node.ts';

const DEFAULT_OUT = new URL('../../bench/results/chaos.json', import.meta.url).pathname;

function parse(argv: string[]): { cycles: number; seed: number; writers: number; out: string } {
  const options = {
    cycles: 20,
    seed: randomBytes(4).readUInt32LE(0),
    writers: 3,
    out: DEFAULT_OUT,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag}: a value is required`);
    if (flag === '--out') options.out = value;
    else if (flag === '--cycles' || flag === '--seed' || flag === '--writers') {
      const number = Number(value);
      if (!Number.isInteger(number) || number < 0 || number > 0xffffffff)
        throw new Error(`${flag}: an integer, not ${value}`);
      options[flag.slice(2) as 'cycles' | 'seed' | 'writers'] = number;
    } else throw new Error(`unknown option ${flag} (--cycles N --seed S --writers W --out FILE)`);
  }
  if (options.cycles < 1 || options.cycles > CHAOS_CYCLES_MAX)
    throw new Error(`--cycles: 1 to ${CHAOS_CYCLES_MAX}`);
  return options;
}

export function summaryLine(result: CampaignResult): string {
  const v = result.verdict;
  return (
    `chaos seed ${result.seed}: ${result.passed ? 'PASSED' : 'FAILED'} — ${result.cycles} cycles, ` +
    (v
      ? `${v.writes} writes: ${v.acknowledged} acknowledged, ${v.notCommitted} not committed, ` +
        `${v.unknown} unknown (resolved ${v.unknownResolved.committed} committed / ${v.unknownResolved.notCommitted} not, ${v.unknownResolved.byOutcome} by client.outcome); ` +
        `${v.lost.length} lost, ${v.falseNotCommitted.length} false "not committed", ${v.phantoms.length} phantoms, ` +
        `SPs ${v.spEqual ? 'equal' : 'DIFFER'}; `
      : 'no verdict; ') +
    `reads ${result.reads.ok} ok / ${result.reads.failed} failed; ` +
    `recovery median ${result.recovery.median} ms, max ${result.recovery.max} ms; ` +
    `${result.checkpoints.stored} checkpoints stored (${result.checkpoints.givenWay} given way); ${result.seconds} s`
  );
}

/** The failures, then (first items of each) what the judge found, the codes and outcomes. */
function printFindings(result: CampaignResult): void {
  for (const failure of result.failures) console.log(`FAIL: ${failure}`);
  for (const problem of result.problems.slice(0, 20)) console.log(`  ${problem}`);
  const v = result.verdict;
  if (v) {
    for (const item of v.lost.slice(0, 10))
      console.log(`  lost: ${item.name} (cycle ${item.cycle}) missing on ${item.missingOn}`);
    for (const item of v.falseNotCommitted.slice(0, 10))
      console.log(
        `  false not-committed: ${item.name} (cycle ${item.cycle}, code ${item.code}) on ${item.on}`,
      );
    for (const item of v.phantoms.slice(0, 10))
      console.log(`  phantom: ${item.name} on ${item.on}`);
    if (v.unclassifiedCodes.length)
      console.log(`  unclassified codes (judged unknown): ${v.unclassifiedCodes.join(', ')}`);
    console.log(`  codes: ${JSON.stringify(v.codes)}`);
    if (Object.keys(v.outcomeStates).length)
      console.log(
        `  client.outcome of the writes not acknowledged: ${JSON.stringify(v.outcomeStates)}`,
      );
    const byCycle = Object.entries(result.falseNotCommittedByCycle);
    if (byCycle.length)
      console.log(
        `  false "not committed" in ${byCycle.length} of ${result.cycles} cycles: ` +
          byCycle.map(([cycle, count]) => `cycle ${cycle}: ${count}`).join(', '),
      );
  }
}

async function main(): Promise<number> {
  const options = parse(process.argv.slice(2));
  if (!existsSync(CLI)) {
    console.error(`${CLI} is missing: run npm run build first`);
    return 2;
  }
  console.log(`chaos: seed ${options.seed}, ${options.cycles} cycles, ${options.writers} writers`);
  const result = await runCampaign({
    cycles: options.cycles,
    seed: options.seed,
    writers: options.writers,
    log: (line) => console.log(line),
  });
  printFindings(result);
  console.log(summaryLine(result));
  const v = result.verdict;
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(
    options.out,
    JSON.stringify(
      {
        machine: machineInfo(),
        setup:
          '3 hsmpool node processes on 127.0.0.1, one fault-injecting TCP proxy per directed peer link, ' +
          `${options.writers} SDK writers + 1 reader + 1 recovery prober in this process`,
        summary: summaryLine(result),
        ...result,
        verdict: v && {
          ...v,
          lost: v.lost.slice(0, 100),
          falseNotCommitted: v.falseNotCommitted.slice(0, 100),
          phantoms: v.phantoms.slice(0, 100),
          split: v.split.slice(0, 100),
          counts: {
            lost: v.lost.length,
            falseNotCommitted: v.falseNotCommitted.length,
            phantoms: v.phantoms.length,
            split: v.split.length,
          },
        },
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`written ${options.out}`);
  return result.passed ? 0 : 1;
}

// Ctrl-C or a kill: exit, and the pool's exit hook SIGKILLs every node it started.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    console.error(`chaos: ${signal}, stopping every node`);
    process.exit(130);
  });

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(2);
  },
);
