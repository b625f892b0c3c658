// The chaos campaign's judgement (scripts/chaos/check.ts): the classification table and what
// the converged pool must hold, on hand-made histories (no processes).

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  classify,
  judge,
  medianMax,
  type NodeState,
  type WriteRecord,
} from '../../scripts/chaos/check.ts';

const node = (i: number, names: string[], sp = 'AA', pending = 0): NodeState => ({
  node: i,
  sp,
  spvv: '01',
  records: names.length,
  pending,
  names: new Set(names),
});
const write = (name: string, code: number | undefined, extra: Partial<WriteRecord> = {}) =>
  ({ name, cycle: 1, invokedMs: 0, code, ...extra }) as WriteRecord;

describe('the classification table', () => {
  it('knows success, refusals and the client-side unknowns', () => {
    expect(classify(0)).toEqual({ class: 'acknowledged', listed: true });
    expect(classify(36000).class).toBe('not-committed');
    expect(classify(-18).class).toBe('not-committed'); // every attempt refused outright
    expect(classify(5022).class).toBe('not-committed'); // a retry never hears its own commit as 5022
    expect(classify(-12).class).toBe('unknown');
    expect(classify(1006).class).toBe('unknown');
    expect(classify(38720).class).toBe('unknown');
  });

  it('judges a code it does not list as unknown, and says so', () => {
    expect(classify(31337)).toEqual({ class: 'unknown', listed: false });
  });
});

describe('judge', () => {
  it('passes a history where every acknowledged write is everywhere and refusals nowhere', () => {
    const verdict = judge(
      [write('a', 0), write('b', 36000), write('c', 1006)],
      [node(1, ['a']), node(2, ['a']), node(3, ['a'])],
    );
    expect(verdict).toMatchObject({
      writes: 3,
      acknowledged: 1,
      notCommitted: 1,
      unknown: 1,
      lost: [],
      falseNotCommitted: [],
      phantoms: [],
      split: [],
      spEqual: true,
      pendingLeft: 0,
      unknownResolved: { committed: 0, notCommitted: 1, byOutcome: 0 },
    });
  });

  it('finds an acknowledged write missing on one node', () => {
    const verdict = judge([write('a', 0)], [node(1, ['a']), node(2, []), node(3, ['a'])]);
    expect(verdict.lost).toEqual([{ name: 'a', cycle: 1, missingOn: [2] }]);
    expect(verdict.split).toEqual([{ name: 'a', on: [1, 3] }]);
  });

  it('finds a write answered busy that committed after all (a false "not committed")', () => {
    const verdict = judge([write('b', 36000)], [node(1, ['b']), node(2, ['b'])]);
    expect(verdict.falseNotCommitted).toEqual([{ name: 'b', cycle: 1, code: 36000, on: [1, 2] }]);
  });

  it('finds objects no write named, and ignores the fixtures given', () => {
    const verdict = judge(
      [write('a', 0)],
      [node(1, ['a', 'ghost', 'fixture']), node(2, ['a', 'fixture'])],
      new Set(['fixture']),
    );
    expect(verdict.phantoms).toEqual([{ name: 'ghost', on: [1] }]);
  });

  it('resolves unknown outcomes by presence on every node or none', () => {
    const verdict = judge(
      [write('u1', 1006), write('u2', -12)],
      [node(1, ['u1']), node(2, ['u1'])],
    );
    expect(verdict.unknownResolved).toEqual({ committed: 1, notCommitted: 1, byOutcome: 0 });
    expect(verdict.lost).toEqual([]);
  });

  it('holds client.outcome answers to what the nodes hold', () => {
    const verdict = judge(
      [
        write('u1', 1006, { resolvedCode: 0, resolvedState: 'committed' }),
        write('u2', 1006, { resolvedCode: 36000, resolvedState: 'not committed' }),
      ],
      [node(1, ['u2']), node(2, ['u2'])],
    );
    expect(verdict.unknownResolved.byOutcome).toBe(2);
    expect(verdict.outcomeStates).toEqual({ committed: 1, 'not committed': 1 });
    expect(verdict.lost.map((item) => item.name)).toEqual(['u1']);
    expect(verdict.falseNotCommitted.map((item) => item.name)).toEqual(['u2']);
  });

  it('compares Sync-Points, SPVVs and record counts, and counts pending transactions', () => {
    expect(judge([], [node(1, [], 'AA'), node(2, [], 'AB')]).spEqual).toBe(false);
    expect(judge([], [node(1, []), { ...node(2, []), spvv: '02' }]).spEqual).toBe(false);
    expect(judge([], [node(1, [], 'AA', 1), node(2, [])]).pendingLeft).toBe(1);
    expect(judge([], []).spEqual).toBe(false);
  });

  it('never reports a committed write as lost when every node holds every write', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(0, 5022, 36000, -18, -12, 1006, 31337), { maxLength: 40 }),
        (codes) => {
          const writes = codes.map((code, i) => write(`w${i}`, code));
          const committed = writes.filter((w) => classify(w.code!).class !== 'not-committed');
          const names = committed.map((w) => w.name);
          const verdict = judge(writes, [node(1, names), node(2, names), node(3, names)]);
          expect(verdict.lost).toEqual([]);
          expect(verdict.falseNotCommitted).toEqual([]);
          expect(verdict.phantoms).toEqual([]);
          expect(verdict.acknowledged + verdict.notCommitted + verdict.unknown).toBe(codes.length);
          expect(verdict.unknownResolved.committed).toBe(verdict.unknown);
        },
      ),
    );
  });
});

it('medianMax', () => {
  expect(medianMax([])).toEqual({ median: 0, max: 0 });
  expect(medianMax([5, 1, 3])).toEqual({ median: 3, max: 5 });
  expect(medianMax([4, 1, 3, 2])).toEqual({ median: 2.5, max: 4 });
});
