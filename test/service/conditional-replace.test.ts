// A replace built from a read carries the read record's value: if another write changed the
// record meanwhile, the pool refuses it (38209) instead of silently undoing that write.

import { expect, it } from 'vitest';
import { encodeBatch, type Write } from '../../host/core/batch.ts';
import type { Core } from '../../host/core/core.ts';
import { keyedCore, sampleUser } from '../fixtures.ts';

/** The write results of one conditional replace of `record`, expecting the value `expected`. */
const replace = (core: Core, event: Write['event'], record: Uint8Array, expected: Uint8Array) =>
  core.apply(encodeBatch([{ event, operations: [{ op: 'replace', record, expected }] }]))
    .writeResults;

it('a conditional replace applies on an unchanged record and is refused, changing nothing, on a changed one', () => {
  const core = keyedCore();
  const original = core.encode(sampleUser('alice', 1));
  core.apply(
    encodeBatch([{ event: 'CREATE_USR', operations: [{ op: 'insert', record: original }] }]),
  );
  const token = core.recordToken(core.get('user', 'alice')!);

  // Two writers read the same record; the first commits a password change.
  const passwordChange = core.encode({ ...sampleUser('alice', 2) });
  const lockCount = core.encode({ ...sampleUser('alice', 1), failedLogins: 3 });
  expect(replace(core, 'CHANGE_USR_PWD', passwordChange, token)).toEqual([0]);
  const after = core.syncPoint();

  // The second, built from the stale read, is refused and the password change survives.
  expect(replace(core, 'SET_USR_LOCK_COUNT', lockCount, token)).toEqual([38209]);
  expect(core.syncPoint()).toEqual(after);
  expect(core.get('user', 'alice')).toEqual(passwordChange);

  // Built from a fresh read it applies.
  const fresh = core.recordToken(core.get('user', 'alice')!);
  expect(replace(core, 'SET_USR_LOCK_COUNT', lockCount, fresh)).toEqual([0]);
  expect(core.recompute().consistent).toBe(true);
});

it('a conditional replace of a missing record is 5004; a malformed one refuses the batch', () => {
  const core = keyedCore();
  const record = core.encode(sampleUser('bob', 1));
  expect(replace(core, 'UPDATE_OBJ', record, new Uint8Array(16))).toEqual([5004]);
  const batch = encodeBatch([
    { event: 'UPDATE_OBJ', operations: [{ op: 'replace', record, expected: new Uint8Array(16) }] },
  ]);
  // Cut the payload below the 16-byte expected value.
  const view = new DataView(batch.buffer);
  view.setUint32(4 + 20 + 4, 8, true);
  expect(() => core.apply(batch.subarray(0, 4 + 20 + 8 + 8))).toThrow(
    expect.objectContaining({ code: 38203 }),
  );
});
