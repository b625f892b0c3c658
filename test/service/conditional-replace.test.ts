// A replace built from a read carries the read record's value: if another write changed the
// record meanwhile, the pool refuses it (38209) instead of silently undoing that write.

import { expect, it } from 'vitest';
import { encodeBatch } from '../../host/core/batch.ts';
import { keyedCore, sampleUser } from '../fixtures.ts';

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
  expect(
    core.apply(
      encodeBatch([
        {
          event: 'CHANGE_USR_PWD',
          operations: [{ op: 'replace', record: passwordChange, expected: token }],
        },
      ]),
    ).writeResults,
  ).toEqual([0]);
  const after = core.syncPoint();

  // The second, built from the stale read, is refused and the password change survives.
  expect(
    core.apply(
      encodeBatch([
        {
          event: 'SET_USR_LOCK_COUNT',
          operations: [{ op: 'replace', record: lockCount, expected: token }],
        },
      ]),
    ).writeResults,
  ).toEqual([38209]);
  expect(core.syncPoint()).toEqual(after);
  expect(core.get('user', 'alice')).toEqual(passwordChange);

  // Built from a fresh read it applies.
  const fresh = core.recordToken(core.get('user', 'alice')!);
  expect(
    core.apply(
      encodeBatch([
        {
          event: 'SET_USR_LOCK_COUNT',
          operations: [{ op: 'replace', record: lockCount, expected: fresh }],
        },
      ]),
    ).writeResults,
  ).toEqual([0]);
  expect(core.recompute().consistent).toBe(true);
});

it('a conditional replace of a missing record is 5004; a malformed one refuses the batch', () => {
  const core = keyedCore();
  const record = core.encode(sampleUser('bob', 1));
  expect(
    core.apply(
      encodeBatch([
        {
          event: 'UPDATE_OBJ',
          operations: [{ op: 'replace', record, expected: new Uint8Array(16) }],
        },
      ]),
    ).writeResults,
  ).toEqual([5004]);
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
