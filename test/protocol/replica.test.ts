// The replication protocol on its own, without the wasm: two replicas over a tiny fake key
// store (the KeyStore interface is all the protocol uses), messages pumped by hand.

import { describe, expect, it } from 'vitest';
import { AssertionFailure } from '../../host/protocol/assert.ts';
import { Membership } from '../../host/protocol/membership.ts';
import { Random } from '../../host/protocol/random.ts';
import { Replica } from '../../host/protocol/replica.ts';
import {
  DEFAULT_TIMERS,
  ReplicaState,
  TX_TRANSITIONS,
  enterState,
} from '../../host/protocol/state.ts';
import type {
  ClientReply,
  LogRecord,
  NodeAddress,
  TxStateName,
} from '../../host/protocol/types.ts';
import { toNodeId, toTxId } from '../../host/wire/ids.ts';
import { CountingStore, nodes, pool, REQUEST, run, write } from './two-replicas.ts';

describe('2PC between two replicas over a fake key store', () => {
  it('a write commits on both nodes: same SP, prepare then commit in each log, answered 0', () => {
    const [a, b] = pool();
    a.replica.request(write(REQUEST));
    run([a, b]);
    expect(a.replica.core.applied).toBe(1);
    expect(b.replica.core.applied).toBe(1);
    expect(a.persisted.map((r) => r.type)).toEqual(['prepare', 'commit']);
    expect(b.persisted.map((r) => r.type)).toEqual(['prepare', 'commit']);
    const txid = a.replica.recentlyDecided(1)[0];
    expect(a.replies).toContainEqual(
      expect.objectContaining({ requestId: REQUEST, code: 0, txid }),
    );
    expect(b.replica.statusOf(txid)).toBe('committed');
    expect(a.replica.status().pending).toEqual([]);
    expect(b.replica.outcomeOf(REQUEST)).toEqual({ code: 0, txid });
  });

  it('a participant whose SP differs votes no: nothing applied anywhere, the write gets 36500', () => {
    const [a, b] = pool();
    b.replica.core.applied = 5; // b's state is not a's
    a.replica.request(write(REQUEST));
    run([a, b]);
    expect(a.replica.core.applied).toBe(0);
    expect(b.replica.core.applied).toBe(5);
    expect(a.persisted.map((r) => r.type)).toEqual(['prepare', 'abort']);
    expect(b.persisted.map((r) => r.type)).toEqual(['abort']);
    expect(a.replies).toContainEqual(expect.objectContaining({ requestId: REQUEST, code: 36500 }));
    expect(a.replica.status().peers.get(b.replica.id)?.notSynced).toBe(true);
  });
});

describe('assertions', () => {
  const state = (): ReplicaState =>
    new ReplicaState({
      id: nodes[0].id,
      store: new CountingStore(),
      random: new Random(1),
      timers: DEFAULT_TIMERS,
      groupCommit: true,
      membership: new Membership(nodes),
    });
  const tx = {
    txid: toTxId('00000000000000f1'),
    epoch: 0,
    coordinator: nodes[1].id,
    participants: [nodes[0].id],
    nodes,
    spBefore: 0n,
    spvvBefore: 0,
    spAfter: 0n,
    spvvAfter: 0,
    tick: 0,
    event: 4,
    sourceUser: 'alice',
    target: 'k',
    batch: new Uint8Array(4),
  };

  it('the transition table: a decided transaction never changes again, a prepared one may end three ways', () => {
    const ends: TxStateName[] = ['COMMITTED', 'COMMITTED_TM', 'ABORTED'];
    for (const end of ends) expect(TX_TRANSITIONS[end]).toEqual([]);
    expect(TX_TRANSITIONS.PREPARED).toEqual(ends);
    const held = state().hold(tx, 'participant');
    expect(held.state).toBe('PREPARED');
    enterState(held, 'ABORTED');
    expect(() => enterState(held, 'COMMITTED')).toThrow(AssertionFailure);
    expect(() => enterState(held, 'COMMITTED')).toThrow(/from ABORTED to COMMITTED/);
  });

  it('a fenced node never commits, and a transaction is held once', () => {
    const fenced = state();
    fenced.fenced = true;
    const commit = { type: 'commit', txid: tx.txid, epoch: 1, sp: 0n, spvv: 0, terminated: false };
    expect(() => fenced.persist(commit as LogRecord)).toThrow(AssertionFailure);
    expect(fenced.persisting).toEqual([]);
    fenced.hold(tx, 'participant');
    expect(() => fenced.hold(tx, 'participant')).toThrow(/already held/);
  });
});

describe('node-down needs a majority (the two sides of a partition cannot fence each other)', () => {
  const four: NodeAddress[] = ['a', 'b', 'c', 'd'].map((letter) => ({
    id: toNodeId(`000000000000000${letter}`),
    address: `${letter}:7001`,
  }));

  /** A pool of `members`, messages delivered only between nodes `reach` allows, the ticks
   * of a probe timeout run; returns the issuer's answer to node-down of `target`. */
  function nodeDownAnswer(
    members: NodeAddress[],
    reach: (from: string, to: string) => boolean,
    target: string,
  ): number | undefined {
    const replicas = members.map(
      (node, i) =>
        new Replica({
          id: node.id,
          core: new CountingStore(),
          random: new Random(i + 11),
          founders: members,
        }),
    );
    const issuer = replicas[0];
    issuer.request({ kind: 'node-down', requestId: 'down-1', node: target as never });
    const replies: ClientReply[] = [];
    for (let tick = 0; tick <= DEFAULT_TIMERS.probeTimeoutTicks + 1; tick++) {
      for (let round = 0; round < 5; round++)
        for (const replica of replicas) {
          const ready = replica.ready();
          if (replica === issuer) replies.push(...ready.replies);
          for (const envelope of [...ready.early, ...ready.messages])
            if (reach(envelope.from, envelope.to))
              replicas.find((r) => r.id === envelope.to)!.receive(envelope);
        }
      for (const replica of replicas) replica.tick();
    }
    replicas.forEach((replica) => replica.checkInvariants());
    return replies.find((reply) => reply.requestId === 'down-1')?.code;
  }

  const side = (id: string): number => ('ab'.includes(id.at(-1)!) ? 0 : 1);

  it('a 2-2 partition: node-down from either side is refused with 38505, nothing fenced', () => {
    const split = (from: string, to: string) => side(from) === side(to);
    expect(nodeDownAnswer(four, split, four[2].id)).toBe(38505);
  });

  it('a dead node in a pool of four: the three others fence it (0)', () => {
    const dead = four[3].id;
    expect(nodeDownAnswer(four, (f, t) => f !== dead && t !== dead, dead)).toBe(0);
  });

  it('a node that still answers is not fenced (38501), majority or not', () => {
    expect(nodeDownAnswer(four, () => true, four[1].id)).toBe(38501);
  });

  it('a pool of two keeps DINAMO rule: the operator judges (0 when the other does not answer)', () => {
    expect(nodeDownAnswer(four.slice(0, 2), () => false, four[1].id)).toBe(0);
  });
});

describe('membership', () => {
  it('its members and digest follow every change (they are derived once per change)', () => {
    const node = (n: number): NodeAddress => ({
      id: toNodeId(`000000000000000${n}`),
      address: `n${n}:7001`,
    });
    const membership = new Membership([node(2), node(1)]);
    const before = membership.digest();
    expect(membership.memberIds()).toEqual([node(1).id, node(2).id]);
    membership.members().pop(); // a caller's copy: the membership does not change
    expect(membership.memberIds()).toEqual([node(1).id, node(2).id]);
    expect(membership.add(node(3))).toBe(true);
    expect(membership.memberIds()).toEqual([node(1).id, node(2).id, node(3).id]);
    const added = membership.digest();
    expect(added).not.toBe(before);
    expect(membership.markDown(node(1).id)).toBe(true);
    expect(membership.memberIds()).toEqual([node(2).id, node(3).id]);
    expect(membership.digest()).not.toBe(added);
    // Equal to a membership built from the same events, never a stale value.
    expect(membership.digest()).toBe(Membership.from(membership.events()).digest());
    expect(membership.markDown(node(1).id)).toBe(false);
  });
});
