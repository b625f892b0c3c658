// The simulator's write-outcome checker (host/sim/checkers.ts) on hand-made histories: a write a
// node answered "not committed" must not be committed by a transaction that node began from that
// attempt. (Over whole runs it passes every seed of test/protocol/sim.test.ts; with the old in-flight
// duplicate's busy answer restored it fails within 30 seeds.)

import { describe, expect, it } from 'vitest';
import { checkNotCommittedAnswers } from '../../host/sim/checkers.ts';
import { AnswerLog } from '../../host/sim/history.ts';
import type { World } from '../../host/sim/world.ts';
import type { Transaction } from '../../host/protocol/types.ts';

const ID = 'ab'.repeat(16);
const C = '0000000000000001';
const TX = '00000000000000aa';

/** The checker's view of a run whose only committed transaction TX, begun by C, carries ID. */
function check(script: (log: AnswerLog, begin: () => void) => void, result = 0): string[] {
  const answers = new AnswerLog();
  const begin = () =>
    answers.persisted(C, [{ type: 'prepare', tx: { txid: TX, coordinator: C } as Transaction }]);
  script(answers, begin);
  // One node that committed TX remembers the write's result in it.
  const requestOutcomes = new Map([[ID, { code: result, txid: TX }]]);
  const world = { answers, nodes: [{ replica: { requestOutcomes } }] } as unknown as World;
  return checkNotCommittedAnswers(world, new Map([[ID, new Map([[TX, C]])]]));
}

describe('checkNotCommittedAnswers', () => {
  it('passes a write committed from an attempt that got no "not committed" answer', () => {
    expect(check((log, begin) => (log.attempt(ID, C), begin(), log.answer(C, ID, 0, TX)))).toEqual(
      [],
    );
  });

  it('fails a write its coordinator answered busy while it was in flight (the old answer)', () => {
    expect(
      check((log, begin) => {
        log.attempt(ID, C);
        begin();
        log.attempt(ID, C);
        log.answer(C, ID, 36000, undefined);
      }),
    ).toHaveLength(1);
  });

  it('fails a write withdrawn (busy) and committed afterwards from no new attempt', () => {
    expect(
      check((log, begin) => (log.attempt(ID, C), log.answer(C, ID, 36000, undefined), begin())),
    ).toHaveLength(1);
  });

  it('passes a busy answer followed by a new attempt that the transaction carries', () => {
    expect(
      check((log, begin) => {
        log.attempt(ID, C);
        log.answer(C, ID, 36000, undefined);
        log.attempt(ID, C);
        begin();
      }),
    ).toEqual([]);
  });

  it('passes a failure answered from the carrying transaction itself (the write ran and failed: 5022)', () => {
    expect(
      check((log, begin) => (log.attempt(ID, C), begin(), log.answer(C, ID, 5022, TX)), 5022),
    ).toEqual([]);
  });

  it('fails an abort answered by a coordinator for a transaction the survivors committed', () => {
    expect(
      check((log, begin) => (log.attempt(ID, C), begin(), log.answer(C, ID, 36000, TX))),
    ).toHaveLength(1);
  });

  it('an attempt lost in a crash carries only a transaction begun before the crash', () => {
    expect(check((log, begin) => (log.attempt(ID, C), begin(), log.crashed(C)))).toEqual([]);
    expect(check((log, begin) => (log.attempt(ID, C), log.crashed(C), begin()))).toHaveLength(1);
  });
});
