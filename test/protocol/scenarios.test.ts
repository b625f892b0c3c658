// Named replication scenarios, step by step. Each reads as the story it tells.

import { describe, expect, it } from 'vitest';
import { writeOutcome } from '../../host/core/codes.ts';
import { ScenarioPool } from '../../host/sim/scenario.ts';
import { keyedCore, sampleObject } from '../fixtures.ts';
import { applyObject } from '../pool-writes.ts';

const core = keyedCore();
const key = (name: string): Uint8Array => core.encode(sampleObject(name));
const pool = (...names: string[]): Promise<ScenarioPool> =>
  ScenarioPool.create(names, () => keyedCore());
const sp = (p: ScenarioPool, name: string): string => p.replica(name).core.syncPoint().hex;
/** A, B and C, A's write w1 prepared on B and C. */
async function preparedPool(): Promise<ScenarioPool> {
  const p = await pool('A', 'B', 'C');
  await p.write('A', 'w1', key('k1'));
  await p.deliver({ type: 'prepare' });
  return p;
}

describe('replication scenarios', () => {
  it('a write commits on every member and is acknowledged after the commit point', async () => {
    const p = await pool('A', 'B', 'C');
    await p.write('A', 'w1', key('k1'));
    expect(p.states('A')).toEqual(['VIRTUAL']);
    await p.deliver({ type: 'prepare' });
    expect(p.states('B')).toEqual(['PREPARED']);
    expect(p.replies.has('w1')).toBe(false);
    await p.deliver({ type: 'vote' });
    expect(p.reply('w1')?.code).toBe(0);
    expect(p.states('A')).toEqual(['COMMITTED']); // pending acks
    await p.deliver({}, 3);
    expect(p.states('A')).toEqual([]);
    expect(new Set(['A', 'B', 'C'].map((n) => sp(p, n))).size).toBe(1);
  });

  it("a second writer waits in its node's queue while a PTL holds the pool, then commits after it", async () => {
    const p = await preparedPool();
    await p.write('B', 'w2', key('k2'));
    expect(p.reply('w2')).toBeUndefined(); // queued at B, not answered busy
    expect(p.states('B')).toEqual(['PREPARED']); // one pending transaction: A's
    await p.run(10);
    expect(p.reply('w1')?.code).toBe(0);
    expect(p.reply('w2')?.code).toBe(0);
    for (const name of ['A', 'B', 'C']) expect(p.committed(name)).toHaveLength(2);
  });

  it('two coordinators that prepare at the same moment: the lower txid commits, the other retries from its queue', async () => {
    const p = await pool('A', 'B', 'C');
    await p.write('A', 'w1', key('k1'));
    await p.write('B', 'w2', key('k2'));
    expect(p.states('A')).toEqual(['VIRTUAL']);
    expect(p.states('B')).toEqual(['VIRTUAL']);
    await p.run(10);
    expect(p.reply('w1')?.code).toBe(0);
    expect(p.reply('w2')?.code).toBe(0); // never told busy
    for (const name of ['A', 'B', 'C']) expect(p.committed(name)).toHaveLength(2);
    expect(p.aborted('A').length + p.aborted('B').length).toBeGreaterThan(0);
    expect(new Set(['A', 'B', 'C'].map((n) => sp(p, n))).size).toBe(1);
  });

  it('coordinator crashes after PREPARE: on restart it re-asks, the participants vote again, it commits', async () => {
    const p = await preparedPool();
    p.crash('A'); // the votes are lost with it
    expect(p.states('B')).toEqual(['PREPARED']);
    await p.restart('A');
    expect(p.states('A')).toEqual(['VIRTUAL']);
    await p.run(40);
    for (const name of ['A', 'B', 'C']) expect(p.states(name)).toEqual([]);
    expect(p.committed('B')).toEqual(p.committed('A'));
    expect(p.committed('A')).toHaveLength(1);
    expect(sp(p, 'B')).toBe(sp(p, 'A'));
  });

  it('coordinator crashes before its PREPARE is durable, the PREPARE out already: the participants abort (presumed abort)', async () => {
    const p = await pool('A', 'B', 'C');
    await p.write('A', 'w1', key('k1'), true); // PREPARE sent early, A lost with its record
    expect(p.node('A').log).toEqual([]);
    await p.deliver({ type: 'prepare' });
    expect(p.states('B')).toEqual(['PREPARED']);
    expect(p.states('C')).toEqual(['PREPARED']);
    await p.restart('A');
    expect(p.states('A')).toEqual([]); // it does not know the transaction
    await p.run(40); // B and C in doubt ask A: 'unknown', so they abort
    for (const name of ['A', 'B', 'C']) expect(p.states(name)).toEqual([]);
    expect(p.aborted('B')).toHaveLength(1);
    expect(p.aborted('C')).toEqual(p.aborted('B'));
    expect(p.committed('B')).toEqual([]);
    await p.write('A', 'w1', key('k1')); // the client's retry commits it, once
    await p.run(5);
    expect(p.reply('w1')?.code).toBe(0);
    for (const name of ['A', 'B', 'C']) expect(p.committed(name)).toHaveLength(1);
    expect(sp(p, 'B')).toBe(sp(p, 'A'));
  });

  it('participant partitioned after its vote: it stays in doubt, then learns the commit by asking', async () => {
    const p = await preparedPool();
    await p.deliver({ type: 'vote' });
    expect(p.reply('w1')?.code).toBe(0);
    const cut = (from: string, to: string): boolean => from === 'C' || to === 'C';
    await p.run(60, cut);
    expect(p.states('C')).toEqual(['PREPARED']); // in doubt, the pool blocked for writes
    expect(p.states('A')).toEqual(['COMMITTED']); // waiting for C's ack
    await p.write('B', 'w2', key('k2'));
    await p.run(5, cut);
    expect(p.reply('w2')).toBeUndefined(); // A still holds the PTL: B's PREPARE waits there
    expect(p.states('A')).toEqual(['COMMITTED']);
    await p.run(60); // partition healed: the manager re-sends, C commits and acks
    for (const name of ['A', 'B', 'C']) expect(p.states(name)).toEqual([]);
    expect(p.committed('C')).toEqual(p.committed('A'));
    expect(p.reply('w2')?.code).toBe(0); // then B's transaction commits
  });

  it('node-down of a coordinator that had logged COMMIT: the survivors commit its PTL (COMMITTED_TM)', async () => {
    const p = await preparedPool();
    await p.deliver({ type: 'vote' });
    expect(p.reply('w1')?.code).toBe(0); // acknowledged: it must never be lost
    p.drop({ type: 'decision' });
    p.crash('A'); // COMMIT is in A's log, but nobody heard it
    await p.run(40);
    expect(p.states('B')).toEqual(['PREPARED']);
    await p.nodeDown('B', 'A');
    await p.run(80);
    expect(p.replies.get('down-A')?.code).toBe(0);
    for (const name of ['B', 'C']) {
      expect(p.states(name)).toEqual([]);
      expect(p.committed(name)).toEqual(p.committed('A'));
    }
    expect(p.node('B').log.some((r) => r.type === 'commit' && r.terminated)).toBe(true);
    await p.write('B', 'w2', key('k2')); // the pool is writable again, with two members
    await p.run(20);
    expect(p.reply('w2')?.code).toBe(0);
  });

  it('a coordinator cut off cannot fence a participant (38505, no majority): the others fence it and commit its write by termination, and it never says "not committed"', async () => {
    const p = await pool('A', 'B', 'C', 'D');
    await p.write('A', 'w1', key('k1'));
    await p.deliver({ type: 'prepare' }); // B, C and D prepared
    p.drop({ type: 'vote' });
    const isolatedA = (from: string, to: string): boolean => from === 'A' || to === 'A';
    await p.nodeDown('A', 'D'); // A, cut off, reaches no majority: refused
    await p.nodeDown('B', 'A'); // B reaches C and D: A is fenced, its transaction terminated
    await p.run(80, isolatedA);
    expect(p.replies.get('down-D')?.code).toBe(38505);
    expect(p.replica('A').membership.isFenced(p.node('D').id)).toBe(false);
    expect(p.replies.get('down-A')?.code).toBe(0);
    const [txid] = p.committed('B');
    expect(txid).toBeDefined();
    for (const name of ['C', 'D']) expect(p.committed(name)).toEqual([txid]);
    await p.run(20); // A hears it was declared down
    expect(p.replica('A').fenced).toBe(true);
    expect(p.aborted('A')).toEqual([]); // it did not abort what the others committed
    const answer = p.reply('w1')?.code;
    if (answer !== undefined) expect(writeOutcome(answer)).not.toBe('not committed');
  });

  it('a fenced coordinator answers a retry of the write it still holds "outcome pending" (38720), not 38502: the survivors committed it', async () => {
    const p = await preparedPool();
    p.drop({ type: 'vote' });
    await p.nodeDown('B', 'A');
    await p.run(60, (from, to) => from === 'A' || to === 'A');
    expect(p.committed('B')).toHaveLength(1);
    await p.run(20); // A hears it was declared down; its transaction stays as it was
    expect(p.replica('A').fenced).toBe(true);
    expect(p.states('A')).toEqual(['VIRTUAL']);
    await p.write('A', 'w1', key('k1')); // a client's retry, same request id
    // The old answer, 38502, also answered the original's caller: "not committed", wrongly.
    expect(p.reply('w1')?.code).toBe(38720);
    await p.write('A', 'w2', key('k2'));
    expect(p.reply('w2')?.code).toBe(38502);
  });

  it('node-down is refused while the node answers a probe (38501)', async () => {
    const p = await pool('A', 'B', 'C');
    await p.nodeDown('B', 'C');
    await p.run(5);
    expect(p.replies.get('down-C')?.code).toBe(38501);
    expect(p.replica('B').membership.isMember(p.node('C').id)).toBe(true);
  });

  it('a fenced node refuses writes (38502) and never commits again', async () => {
    const p = await pool('A', 'B', 'C');
    const cut = (from: string, to: string): boolean => from === 'C' || to === 'C';
    await p.nodeDown('A', 'C');
    await p.run(40, cut); // C does not answer the probe: fenced
    expect(p.replies.get('down-C')?.code).toBe(0);
    await p.run(20); // healed: C hears it was fenced
    expect(p.replica('C').fenced).toBe(true);
    await p.write('C', 'w1', key('k1'));
    expect(p.reply('w1')?.code).toBe(38502);
    await p.write('A', 'w2', key('k2'));
    await p.run(20);
    expect(p.reply('w2')?.code).toBe(0);
    expect(p.committed('C')).toEqual([]);
  });

  it('a diverged participant refuses the PREPARE (36500) and the coordinator shows which one', async () => {
    const p = await pool('A', 'B', 'C');
    // Corrupt C's state behind the protocol's back.
    applyObject(p.replica('C').core, 'rogue');
    await p.write('A', 'w1', key('k1'));
    await p.deliver({}, 4);
    expect(p.reply('w1')?.code).toBe(36500);
    expect(p.replica('A').peers.get(p.node('C').id)?.notSynced).toBe(true);
    expect(p.committed('A')).toEqual([]);
  });

  it('a retried write with the same request id gets the original outcome, on any node', async () => {
    const p = await pool('A', 'B', 'C');
    await p.write('A', 'w1', key('k1'));
    await p.run(10);
    const first = p.reply('w1');
    p.forget('w1');
    await p.write('C', 'w1', key('k1'));
    expect(p.reply('w1')).toEqual(first);
    expect(p.committed('C')).toHaveLength(1);
  });
});
