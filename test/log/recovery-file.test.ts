// Recovery from real files: the log file cut at every byte of its last entry, and bits flipped
// across the whole file. A cut or a flip inside the last entry is a torn tail: recovery gives
// the state before that entry and cuts the file. A flip before it is refused with 37027 and
// the file is left untouched.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsmError } from '../../host/core/codes.ts';
import { LogEncoder, decodeEntry } from '../../host/core/txlog.ts';
import { FileStorage } from '../../host/storage/file.node.ts';
import { Random } from '../../host/protocol/random.ts';
import { keyedCore } from '../fixtures.ts';
import {
  ApplianceModel,
  POOL,
  recoverFresh,
  recoveredView,
  type ExpectedState,
} from '../txlog-helpers.ts';

/** Bytes flipped by the file sweep: every FLIP_STRIDE-th byte, plus every byte of the last entry. */
const FLIP_STRIDE = 13;

let directory = '';
let original = new Uint8Array(0);
let states: ExpectedState[] = [];
let lastStart = 0;
const core = keyedCore();

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'hsmpool-recovery-'));
  const storage = await FileStorage.open(directory);
  const model = new ApplianceModel(keyedCore(), storage, new Random(2024));
  for (let i = 0; i < 6; i++) await model.step();
  await model.checkpoint();
  for (let i = 0; i < 4; i++) await model.step();
  // The log ends with a PREPARE and its COMMIT: cutting the COMMIT must give back the PTL.
  if (!model.pending) await model.prepare();
  await model.commit();
  await storage.close();
  original = new Uint8Array(await readFile(join(directory, 'log')));
  states = model.states;
  lastStart = model.ends.at(-2)!;
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/**
 * Writes `log` as the log file, recovers from the directory, and returns the outcome and the
 * file after. A restart opens the storage afresh; `shared` reuses one open storage (its log
 * file handle follows the rewritten file), which keeps a sweep of hundreds of trials fast.
 */
async function recoverFrom(
  log: Uint8Array,
  shared?: FileStorage,
): Promise<{ state?: ExpectedState; tornBytes?: number; code?: number; after: Uint8Array }> {
  await writeFile(join(directory, 'log'), log);
  const storage = shared ?? (await FileStorage.open(directory));
  try {
    const state = await recoverFresh(storage, core);
    return {
      state: recoveredView(state),
      tornBytes: state.tornBytes,
      after: new Uint8Array(await readFile(join(directory, 'log'))),
    };
  } catch (error) {
    if (!(error instanceof HsmError)) throw error;
    return { code: error.code, after: new Uint8Array(await readFile(join(directory, 'log'))) };
  } finally {
    if (!shared) await storage.close();
  }
}

describe('recovery from a log file', () => {
  it('the whole file recovers the last state', async () => {
    const outcome = await recoverFrom(original);
    expect(outcome.state).toEqual(states.at(-1));
    expect(states.at(-2)!.pending).toBeDefined();
  });

  it('cut at every byte of its last entry (a COMMIT): the state before it, PTL included, the torn bytes cut from the file', async () => {
    for (let cut = lastStart; cut < original.length; cut++) {
      const outcome = await recoverFrom(original.subarray(0, cut));
      expect({
        cut,
        state: outcome.state,
        torn: outcome.tornBytes,
        size: outcome.after.length,
      }).toEqual({ cut, state: states.at(-2), torn: cut - lastStart, size: lastStart });
    }
  });

  it('after a cut, the appliance goes on appending and recovers again', async () => {
    const cut = lastStart + 50;
    await recoverFrom(original.subarray(0, cut));
    const storage = await FileStorage.open(directory);
    const recovered = await recoverFresh(storage, core);
    const encoder = new LogEncoder(core, POOL, recovered.last, recovered.epoch);
    await storage.appendLog(
      encoder.encode({ type: 'epoch-raised', epoch: recovered.epoch + 1n }),
      true,
    );
    const again = await recoverFresh(storage, core);
    await storage.close();
    expect([again.epoch, again.entries, again.syncPoint.sp]).toEqual([
      recovered.epoch + 1n,
      recovered.entries + 1,
      recovered.syncPoint.sp,
    ]);
  });

  it('bits flipped across the file: a torn last entry, or a refusal that leaves the file untouched', async () => {
    const bytes = new Set<number>();
    for (let at = 0; at < original.length; at += FLIP_STRIDE) bytes.add(at);
    for (let at = lastStart; at < original.length; at++) bytes.add(at);
    const shared = await FileStorage.open(directory);
    for (const at of bytes) {
      const damaged = original.slice();
      damaged[at] ^= 1 << (at % 8);
      const outcome = await recoverFrom(damaged, shared);
      if (at >= lastStart) {
        expect({ at, state: outcome.state, size: outcome.after.length }).toEqual({
          at,
          state: states.at(-2),
          size: lastStart,
        });
      } else {
        expect({
          at,
          code: outcome.code,
          untouched: Buffer.from(outcome.after).equals(damaged),
        }).toEqual({ at, code: 37027, untouched: true });
      }
    }
    await shared.close();
  });

  it('the log file holds what the model wrote: entry by entry', async () => {
    let at = 0;
    let entries = 0;
    while (at < original.length) {
      at += decodeEntry(core, original.subarray(at), POOL).length;
      entries++;
    }
    expect(entries).toBe(states.length - 1);
  });
});
