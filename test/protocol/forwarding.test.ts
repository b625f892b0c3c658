// Forwarding (host/protocol/forwarding.ts), two replicas pumped by hand. A write b takes while
// a batches goes into a's next transaction, and b answers it from what it learns as a
// participant. A coordinator that withdraws a forwarded write gives it back, and b runs it
// itself, exactly once. A copy of a forward that comes late gets the first answer, never a
// second run.

import { describe, expect, it } from 'vitest';
import {
  FORWARD_ANSWERS_TICKS,
  FORWARD_STICKY_TICKS,
  RELAY_QUEUED_TICKS,
} from '../../host/protocol/forwarding.ts';
import { Random } from '../../host/protocol/random.ts';
import { Replica } from '../../host/protocol/replica.ts';
import { OUTCOME_NONE, OUTCOME_PENDING } from '../../host/protocol/state.ts';
import type { Envelope } from '../../host/protocol/types.ts';
import { CountingStore, nodes, pool, run, write, type Node } from './two-replicas.ts';

const W1 = '11111111111111111111111111111111';
const W2 = '22222222222222222222222222222222';
const W3 = '33333333333333333333333333333333';

/** The coordinators of the transactions a node prepared, in order. */
const coordinators = (node: Node): string[] =>
  node.persisted.flatMap((record) => (record.type === 'prepare' ? [record.tx.coordinator] : []));

/** Each request id, the number of committed transactions that carried it on `node`. */
function commitsCarrying(node: Node, requestId: string): number {
  const committed = new Set(
    node.persisted.flatMap((record) => (record.type === 'commit' ? [record.txid] : [])),
  );
  return node.persisted.filter(
    (record) =>
      record.type === 'prepare' &&
      committed.has(record.tx.txid) &&
      node.replica.outcomeOf(requestId).txid === record.tx.txid,
  ).length;
}

const answerTo = (node: Node, requestId: string) =>
  node.replies.filter((reply) => reply.requestId === requestId && reply.attempt === undefined);

function tick(nodes: Node[], times: number, keep?: (envelope: Envelope) => boolean): void {
  for (let i = 0; i < times; i++) {
    for (const node of nodes) node.replica.tick();
    run(nodes, keep);
  }
}

describe('forwarding', () => {
  it("a write taken while another member's transaction is pending here rides in that member's next batch", () => {
    const [a, b] = pool();
    a.replica.request(write(W1));
    // a's PREPARE reaches b; b's vote is lost, so a's transaction stays pending on both.
    run([a, b], (envelope) => envelope.from === a.replica.id);
    b.replica.request({ ...write(W2), attempt: 1 });
    const sent = b.replica.ready();
    b.persisted.push(...sent.persist);
    expect(sent.messages.map((m) => m.body.type)).toEqual(['forward']);
    expect(sent.messages[0].to).toBe(a.replica.id);
    a.replica.receive(sent.messages[0]);
    tick([a, b], 20); // a's manager asks b again for its lost vote
    expect(coordinators(b)).toEqual([a.replica.id, a.replica.id]); // b coordinated nothing
    const answer = answerTo(b, W2);
    expect(answer).toHaveLength(1);
    expect(answer[0].code).toBe(0);
    expect(answer[0].txid).toBe(a.replica.outcomeOf(W2).txid);
    expect(b.replica.forwarded.size).toBe(0);
    expect(a.replica.relayTo.size).toBe(0);
  });

  it('follows the last coordinator for FORWARD_STICKY_TICKS after its commit, then batches itself', () => {
    const [a, b] = pool();
    a.replica.request(write(W1));
    run([a, b]);
    b.replica.request(write(W2));
    run([a, b]);
    expect(coordinators(b).at(-1)).toBe(a.replica.id);
    tick([a, b], FORWARD_STICKY_TICKS + 1);
    b.replica.request(write(W3));
    run([a, b]);
    expect(coordinators(b).at(-1)).toBe(b.replica.id);
    for (const id of [W1, W2, W3]) expect(b.replica.outcomeOf(id).code).toBe(0);
  });

  it('a forwarded write still only queued at its deadline is withdrawn and given back: b runs it, once', () => {
    const [a, b] = pool();
    a.replica.request(write(W1));
    // Every vote of b is lost: a's transaction stays pending, and with it a's queue.
    const noVotes = (envelope: Envelope) => envelope.body.type !== 'vote';
    run([a, b], noVotes);
    b.replica.request({ ...write(W2), attempt: 1 });
    run([a, b], noVotes);
    expect(a.replica.queue.map((queued) => queued.requestId)).toEqual([W2]);
    tick([a, b], RELAY_QUEUED_TICKS, noVotes);
    expect(a.replica.queue).toEqual([]); // withdrawn at a ...
    expect(b.replica.queue.map((queued) => queued.requestId)).toEqual([W2]); // ... back on b
    expect(answerTo(b, W2)).toEqual([]); // nobody was told "not committed"
    tick([a, b], 20);
    expect(b.replica.outcomeOf(W2).code).toBe(0);
    expect(commitsCarrying(a, W2)).toBe(1);
    expect(coordinators(a).at(-1)).toBe(b.replica.id);
    expect(answerTo(b, W2).map((reply) => reply.code)).toEqual([0]);
  });

  it('a copy of a forward arriving after it was answered gets the answer again and never runs twice', () => {
    const [a, b] = pool();
    a.replica.request(write(W1));
    run([a, b], (envelope) => envelope.from === a.replica.id);
    b.replica.request(write(W2));
    const forward = b.replica.ready().messages.find((m) => m.body.type === 'forward')!;
    a.replica.receive(forward);
    tick([a, b], 20);
    const committedIn = a.replica.outcomeOf(W2).txid;
    a.replica.receive(forward); // sent again, or duplicated by the network
    const again = a.replica.ready();
    expect(again.messages.map((m) => m.body)).toEqual([
      expect.objectContaining({ type: 'forward-reply', requestId: W2, code: 0, txid: committedIn }),
    ]);
    expect(a.replica.queue).toEqual([]);
    run([a, b]);
    expect(commitsCarrying(a, W2)).toBe(1);
  });
});

describe('forwarding after a restart', () => {
  it('a node restored from storage refuses forwards while a late copy of one it answered may come; the member runs the write', () => {
    const [a, b] = pool();
    a.replica.request(write(W1));
    run([a, b], (envelope) => envelope.from === a.replica.id);
    b.replica.request(write(W2));
    const forward = b.replica.ready().messages.find((m) => m.body.type === 'forward')!;
    // a restarts: what it answered to forwards before is gone with its memory.
    const restarted = new Replica({
      id: a.replica.id,
      core: new CountingStore(),
      random: new Random(9),
      founders: nodes,
    });
    restarted.restore({
      pending: undefined,
      outcomes: [],
      requestOutcomes: [],
      added: [],
      down: [],
    });
    restarted.receive(forward);
    const refusal = restarted.ready().messages;
    expect(refusal.map((m) => m.body)).toEqual([
      expect.objectContaining({ type: 'forward-reply', requestId: W2, refused: true }),
    ]);
    expect(restarted.outcomeOf(W2).code).toBe(OUTCOME_NONE);
    b.replica.receive(refusal[0]);
    expect(b.replica.queue.map((queued) => queued.requestId)).toContain(W2); // b runs it itself
    // Once the answers it could have given are forgotten anyway, forwards are queued again.
    for (let i = 0; i <= FORWARD_ANSWERS_TICKS; i++) restarted.tick();
    restarted.ready();
    restarted.receive(forward);
    expect(restarted.outcomeOf(W2).code).toBe(OUTCOME_PENDING); // queued, or in its batch
  });
});
