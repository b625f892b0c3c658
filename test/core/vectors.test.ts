// Golden vectors: any change to a record encoding, the Sync-Point or the checksum fails here.
// The vectors were made by scripts/make-vectors.ts from the reference implementation.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeBatch } from '../../host/core/batch.ts';
import { deriveSyncPointKey } from '../../host/core/keys.ts';
import { TEST_SVMK, fromHex, keyedCore, toHex } from '../fixtures.ts';
import * as ref from '../reference/sync-point.ts';

const load = (name: string) =>
  JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), 'utf8'));
const records = load('records.json');
const syncPoint = load('sync-point.json');
const checksums = load('checksum.json');
const hex64 = (x: bigint): string => x.toString(16).padStart(16, '0');
const encoded: Uint8Array[] = records.records.map((entry: { hex: string }) => fromHex(entry.hex));

describe.each(['release', 'scalar'] as const)('golden vectors on the %s build', (variant) => {
  it('records decode to their values and re-encode to the same bytes', () => {
    const core = keyedCore(variant);
    for (const entry of records.records) {
      const decoded = core.decode(fromHex(entry.hex));
      const shown = JSON.parse(
        JSON.stringify(decoded, (_k, v) => (v instanceof Uint8Array ? toHex(v) : v)),
      );
      expect(shown).toEqual(entry.record);
      expect(toHex(core.encode(decoded))).toBe(entry.hex);
    }
  });

  it('the sample batch gives its per-write results', () => {
    const core = keyedCore(variant);
    expect(core.apply(fromHex(records.batch.hex)).writeResults).toEqual(records.batch.writeResults);
  });

  it('the Sync-Point key, record values and states match', () => {
    expect(toHex(deriveSyncPointKey(TEST_SVMK))).toBe(syncPoint.spKey);
    const core = keyedCore(variant);
    syncPoint.recordValues.forEach((expected: Record<string, string | number>, i: number) => {
      const value = core.recordValue(encoded[i]);
      expect({
        length: encoded[i].length,
        nh0: hex64(value.nh0),
        nh1: hex64(value.nh1),
        lo: hex64(value.lo),
        hi: hex64(value.hi),
      }).toEqual(expected);
    });
    for (const state of syncPoint.states) {
      const fresh = keyedCore(variant);
      for (const i of state.records) fresh.apply(batchInsert(encoded[i]));
      const sp = fresh.syncPoint();
      expect({ sp: sp.hex, spvv: sp.spvv }).toEqual({ sp: state.sp, spvv: state.spvv });
      const { lo, hi } = fresh.accumulator();
      expect(((hi << 64n) | lo).toString(16).padStart(32, '0')).toBe(state.accumulator);
    }
  });

  it('SipHash matches the reference outputs', () => {
    const core = keyedCore(variant);
    for (const vector of syncPoint.siphash) {
      const [first, second] = core.sipHash(
        fromHex(vector.key),
        fromHex(vector.message),
        vector.c,
        vector.d,
        vector.wide,
      );
      expect(hex64(first)).toBe(vector.out);
      if (vector.wide) expect(hex64(second)).toBe(vector.out2);
    }
  });

  it('the checksum matches', () => {
    const core = keyedCore(variant);
    for (const vector of checksums.vectors) {
      const input = Uint8Array.from({ length: vector.length }, (_, i) => (i * 7 + 3) & 0xff);
      const [lo, hi] = core.checksum(input);
      expect({ length: vector.length, lo: hex64(lo), hi: hex64(hi) }).toEqual(vector);
    }
  });
});

describe('the reference implementation (docs/SYNC_POINT.md) reproduces the vectors', () => {
  it('record values, states and checksums', () => {
    const keys = ref.referenceKeys(TEST_SVMK);
    expect(keys.nhKey.slice(0, 8).map((w) => w.toString(16).padStart(8, '0'))).toEqual(
      syncPoint.nhKeyFirstWords,
    );
    for (const state of syncPoint.states) {
      const value = ref.syncPoint(
        keys,
        state.records.map((i: number) => encoded[i]),
      );
      expect(hex64(value.sp).toUpperCase()).toBe(state.sp);
      expect(value.spvv).toBe(state.spvv);
    }
    for (const vector of checksums.vectors.slice(0, 4)) {
      const input = Uint8Array.from({ length: vector.length }, (_, i) => (i * 7 + 3) & 0xff);
      expect(hex64(ref.checksum(input)[0])).toBe(vector.lo);
    }
  });
});

function batchInsert(record: Uint8Array): Uint8Array {
  return encodeBatch([{ event: 'NULL', operations: [{ op: 'insert', record }] }]);
}
