// Write outcomes as 28-byte entries (host/wire/outcome-entries.ts): what a live-sync carries
// from the donor's list to the joiner's request-outcomes blob. The writes of one transaction
// share its txid; encoding and reading take that shortcut and must give what the long way gives.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  OUTCOME_ENTRY_SIZE,
  areOutcomeEntries,
  encodeOutcomeEntries,
  newestOutcomeEntries,
  readOutcomeEntries,
  readOutcomeEntry,
  writeOutcomeEntry,
} from '../../host/wire/outcome-entries.ts';
import { toTxId, type TxId } from '../../host/wire/ids.ts';
import { toHex } from '../../host/wire/bytes.ts';

const hex = (bytes: number) => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map(toHex);
// Few txids and codes, so that neighbours often share one, or both.
const outcomes = fc.array(
  fc.tuple(
    hex(16),
    fc.record({
      txid: fc.constantFrom('00000000000000aa', '00000000000000ab', 'ffffffffffffffff').map(toTxId),
      code: fc.constantFrom(0, -36000, 0x7fffffff, -0x7fffffff),
    }),
  ),
  { maxLength: 60 },
);

describe('outcome entries', () => {
  it('encode a list or a map as writeOutcomeEntry does, one by one, and read back the same', () => {
    fc.assert(
      fc.property(outcomes, (list) => {
        const bytes = encodeOutcomeEntries(list);
        const one = new Uint8Array(list.length * OUTCOME_ENTRY_SIZE);
        list.forEach(([requestId, o], i) =>
          writeOutcomeEntry(one, i * OUTCOME_ENTRY_SIZE, { requestId, ...o }),
        );
        expect(bytes).toEqual(one);
        expect(encodeOutcomeEntries(new Map(list))).toEqual(
          encodeOutcomeEntries([...new Map(list)]),
        );
        expect(areOutcomeEntries(bytes)).toBe(true);
        const read = readOutcomeEntries(bytes, 0, list.length);
        expect(read).toEqual(list.map(([id, o]) => [id, { txid: o.txid, code: o.code }]));
        read.forEach(([requestId, o], i) =>
          expect(readOutcomeEntry(bytes, i * OUTCOME_ENTRY_SIZE)).toEqual({ requestId, ...o }),
        );
      }),
      { seed: 20261206, numRuns: 300 },
    );
  });

  it('refuses a malformed id even right after a good one with the same txid text', () => {
    const txid = toTxId('00000000000000aa');
    const good = ['ab'.repeat(16), { txid, code: 0 }] as const;
    expect(() => encodeOutcomeEntries([good, ['AB'.repeat(16), { txid, code: 0 }]])).toThrow(
      RangeError,
    );
    expect(() =>
      encodeOutcomeEntries([good, ['cd'.repeat(16), { txid: 'x' as TxId, code: 0 }]]),
    ).toThrow(RangeError);
    expect(() => encodeOutcomeEntries([['cd'.repeat(16), { txid: '' as TxId, code: 0 }]])).toThrow(
      RangeError,
    );
  });

  it('tells whole entries with return codes from anything else, and keeps the newest', () => {
    const bytes = encodeOutcomeEntries([
      ['01'.repeat(16), { txid: toTxId('0000000000000001'), code: 1 }],
      ['02'.repeat(16), { txid: toTxId('0000000000000002'), code: 2 }],
    ]);
    expect(areOutcomeEntries(bytes.subarray(1))).toBe(false);
    const lowest = bytes.slice();
    lowest.set([0, 0, 0, 0x80], 24);
    expect(areOutcomeEntries(lowest)).toBe(false);
    expect(readOutcomeEntry(newestOutcomeEntries(bytes, 1), 0).code).toBe(2);
    expect(newestOutcomeEntries(bytes, 5)).toEqual(bytes);
  });
});
