// Replays every file of test/corpus/<target>/ — the fuzzing seeds and every crasher a campaign
// ever found (docs/FUZZING.md) — through the normal JS host and the real build/core.wasm.
// Each input must end in documented codes with every invariant of its target holding
// (scripts/fuzz/targets.ts checks the same things as scripts/fuzz/harness.c), and never trap.
// The campaign fuzzes the scalar build; the replay also runs it and requires the same codes.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describe as describeCode } from '../../host/core/codes.ts';
import type { Core } from '../../host/core/core.ts';
import { newCore, type CoreVariant } from '../../host/core/load.node.ts';
import { FUZZ_SP_KEY, TARGET_NAMES, replay, type TargetName } from '../../scripts/fuzz/targets.ts';

const CORPUS = fileURLToPath(new URL('../corpus/', import.meta.url));

/**
 * Known bugs: corpus files whose replay fails today, each naming the bug. Their tests are
 * skipped, not deleted, until the bug is fixed; then remove the entry.
 */
const KNOWN_BUGS: Readonly<Record<string, string>> = {};

function filesOf(target: TargetName): string[] {
  try {
    return readdirSync(join(CORPUS, target))
      .filter((name) => !name.startsWith('.'))
      .sort();
  } catch {
    return [];
  }
}

const cores = new Map<CoreVariant, Core>();
function coreFor(variant: CoreVariant): Core {
  let core = cores.get(variant);
  if (!core) {
    core = newCore(variant);
    core.setKey(FUZZ_SP_KEY);
    cores.set(variant, core);
  }
  return core;
}

describe('fuzzing corpus replay', () => {
  it('has a corpus for every target', () => {
    for (const target of TARGET_NAMES)
      expect(filesOf(target).length, `test/corpus/${target}/`).toBeGreaterThan(0);
  });

  for (const target of TARGET_NAMES) {
    describe(target, () => {
      for (const file of filesOf(target)) {
        const bug = KNOWN_BUGS[`${target}/${file}`];
        (bug ? it.skip : it)(`${file}${bug ? ` (known bug: ${bug})` : ''}`, () => {
          const input = new Uint8Array(readFileSync(join(CORPUS, target, file)));
          const release = replay(coreFor('release'), target, input);
          expect(release.problems).toEqual([]);
          for (const call of release.calls)
            expect(describeCode(call.code).name, `${call.entryPoint} → ${call.code}`).not.toBe(
              'UNKNOWN',
            );
          // The store is left empty for the next file.
          expect(coreFor('release').count()).toBe(0);
          const scalar = replay(coreFor('scalar'), target, input);
          expect(scalar.calls).toEqual(release.calls);
          expect(scalar.problems).toEqual([]);
          if (file.startsWith('seed-')) {
            // A seed is a valid input: if a format changed, regenerate with scripts/fuzz/seeds.ts.
            expect(
              release.calls.filter((call) => call.code !== 0),
              'stale seed: npx tsx scripts/fuzz/seeds.ts',
            ).toEqual([]);
          }
        });
      }
    });
  }
});
