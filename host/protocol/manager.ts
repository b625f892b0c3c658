// The replication manager: on its pulse it re-sends what is missing (PREPAREs without a vote,
// decisions without an ack), asks about in-doubt transactions (cooperative termination),
// pushes membership to peers that lag (anti-entropy), and carries out node-down.
//
// Termination when a coordinator is fenced: the surviving participants' states are frozen
// (the fenced coordinator's messages are refused), so the rule below gives every survivor
// the same answer: any survivor committed -> commit; any aborted or never prepared -> abort
// (the coordinator cannot have committed without its vote); all prepared -> commit
// (COMMITTED_TM): the coordinator either committed or had not decided, and since it aborts
// only on a no-vote, which no survivor gave, committing cannot contradict it.

import { CODE } from '../core/codes.ts';
import { Membership } from './membership.ts';
import type { Probe, ReplicaState, TxState } from './state.ts';
import type {
  MembershipEvents,
  NodeAddress,
  NodeDownRequest,
  NodeId,
  TxId,
  TxStatus,
} from './types.ts';
import * as coordinator from './coordinator.ts';
import { abortHere, commitHere } from './participant.ts';

export function onTick(state: ReplicaState): void {
  for (const [nonce, probe] of [...state.probes]) {
    if (state.now < probe.deadline) continue;
    state.probes.delete(nonce);
    if (probe.witnessFor === undefined) probeTimedOut(state, probe);
  }
  if (state.now % state.timers.managerPulseTicks === 0) pulse(state);
  const heartbeat = state.timers.heartbeatTicks;
  if (heartbeat > 0 && state.now % heartbeat === 0 && !state.fenced)
    for (const peer of state.peersInPool()) state.send(peer, { type: 'heartbeat' });
}

function pulse(state: ReplicaState): void {
  for (const held of [...state.transactions.values()]) {
    if (state.fenced) break;
    if (held.role === 'coordinator') coordinator.resend(state, held);
    else if (state.now - held.since >= state.timers.inDoubtTicks) inquire(state, held);
  }
  // Anti-entropy: members that lag, and fenced nodes until they show they know (a fenced
  // node that missed the news would otherwise go on believing it is a member).
  const digest = state.membership.digest();
  const events = state.membership.events();
  for (const peer of [...state.peersInPool(), ...events.down.filter((id) => id !== state.id)]) {
    if (state.peers.get(peer)?.digest !== digest)
      state.send(peer, { type: 'membership', membership: events });
  }
}

/** Surviving participants of a transaction other than this node. */
function survivors(state: ReplicaState, held: TxState): NodeId[] {
  return held.tx.participants.filter((id) => id !== state.id && !state.membership.isFenced(id));
}

function inquire(state: ReplicaState, held: TxState): void {
  held.since = state.now;
  held.statuses.clear();
  const coordinatorFenced = state.membership.isFenced(held.tx.coordinator);
  const targets = coordinatorFenced
    ? survivors(state, held)
    : [held.tx.coordinator, ...survivors(state, held)];
  for (const target of targets) state.send(target, { type: 'query', txid: held.tx.txid });
  if (coordinatorFenced) terminate(state, held);
}

export function answerQuery(state: ReplicaState, txid: TxId): TxStatus {
  return state.statusOf(txid);
}

export function onStatus(state: ReplicaState, from: NodeId, txid: TxId, status: TxStatus): void {
  const held = state.transactions.get(txid);
  if (!held || held.role !== 'participant' || held.state !== 'PREPARED') return;
  if (status === 'committed') return commitHere(state, held, false);
  if (status === 'aborted') return abortHere(state, held, 0);
  // Presumed abort: the coordinator logs a transaction before it sends PREPARE, so one it
  // does not know was never decided there and never will be.
  if (from === held.tx.coordinator && status === 'unknown') return abortHere(state, held, 0);
  held.statuses.set(from, status);
  if (state.membership.isFenced(held.tx.coordinator)) terminate(state, held);
}

/** Decides a transaction whose coordinator is fenced once every survivor has answered. */
function terminate(state: ReplicaState, held: TxState): void {
  const answers = survivors(state, held).map((id) => held.statuses.get(id));
  if (answers.some((answer) => answer === undefined)) return;
  if (answers.some((answer) => answer === 'unknown')) abortHere(state, held, CODE.NODE_FENCED);
  else commitHere(state, held, true);
}

// ---- node-down ----

export function nodeDown(state: ReplicaState, request: NodeDownRequest): void {
  if (state.fenced) return state.fail(request.requestId, CODE.NODE_FENCED);
  if (request.node === state.id || !state.membership.isMember(request.node))
    return state.fail(request.requestId, CODE.INVALID_OPERATION);
  const nonce = state.random.id64();
  const deadline = state.now + state.timers.probeTimeoutTicks;
  state.probes.set(nonce, {
    node: request.node,
    requestId: request.requestId,
    deadline,
    witnesses: new Set(),
  });
  state.send(request.node, { type: 'probe', nonce });
  // The other members are probed too: the target is fenced only if this node reaches a
  // majority of the pool, so that the two sides of a partition cannot fence each other.
  for (const member of state.membership.memberIds()) {
    if (member === state.id || member === request.node) continue;
    const witnessNonce = state.random.id64();
    state.probes.set(witnessNonce, {
      node: member,
      requestId: request.requestId,
      deadline,
      witnessFor: nonce,
    });
    state.send(member, { type: 'probe', nonce: witnessNonce });
  }
}

/** Pools of more members than this fence only from a majority (pools of two: DINAMO's rule). */
export const NODE_DOWN_MAJORITY_FROM = 3;

/** The target did not answer: fence it if this node reached a majority of the members. */
function probeTimedOut(state: ReplicaState, probe: Probe): void {
  const members = state.membership.memberIds().length;
  const reached = 1 + (probe.witnesses?.size ?? 0);
  if (members >= NODE_DOWN_MAJORITY_FROM && reached * 2 <= members)
    return state.fail(probe.requestId, CODE.NODE_DOWN_NO_MAJORITY);
  fence(state, probe.node, probe.requestId);
}

/** Planned removal: refused while this node holds or queues anything others may depend on. */
export function leave(state: ReplicaState, requestId: string): void {
  if (state.fenced) return state.fail(requestId, CODE.NODE_FENCED);
  if (state.hasPendingTransaction() || state.queue.length > 0)
    return state.fail(requestId, CODE.REPLICATION_BUSY);
  if (state.peersInPool().length === 0) return state.fail(requestId, CODE.INVALID_OPERATION);
  fence(state, state.id, requestId);
}

export function onProbeReply(state: ReplicaState, nonce: string): void {
  const probe = state.probes.get(nonce);
  if (!probe) return;
  state.probes.delete(nonce);
  if (probe.witnessFor !== undefined) {
    state.probes.get(probe.witnessFor)?.witnesses?.add(probe.node);
    return;
  }
  for (const [other, witness] of [...state.probes])
    if (witness.witnessFor === nonce) state.probes.delete(other);
  state.fail(probe.requestId, CODE.NODE_STILL_ALIVE);
}

function fence(state: ReplicaState, node: NodeId, requestId: string): void {
  if (state.membership.markDown(node)) membershipChanged(state, { added: [], down: [node] });
  state.reply({ requestId, code: 0 });
  const events = state.membership.events();
  for (const peer of [...state.peersInPool(), node])
    if (peer !== state.id) state.send(peer, { type: 'membership', membership: events });
}

/** Membership changed (merged, node-down, a node added): log the events, fence this node if it
 * is now down (its queue fails), and re-evaluate what waited on the fenced. */
export function membershipChanged(
  state: ReplicaState,
  newEvents: { added: readonly NodeAddress[]; down: readonly NodeId[] },
): void {
  const epoch = state.membership.epoch;
  for (const node of newEvents.added) state.persist({ type: 'node-added', node, epoch });
  for (const node of newEvents.down) state.persist({ type: 'node-down', node, epoch });
  if (state.membership.isFenced(state.id) && !state.fenced) {
    state.fenced = true;
    for (const request of state.queue.splice(0)) state.fail(request.requestId, CODE.NODE_FENCED);
  }
  for (const held of [...state.transactions.values()]) {
    if (held.role === 'coordinator') coordinator.reevaluate(state, held);
    else held.since = Math.min(held.since, state.now - state.timers.inDoubtTicks);
  }
}

export function onMembership(state: ReplicaState, from: NodeId, events: MembershipEvents): void {
  const theirs = Membership.from(events).digest();
  const changes = state.membership.merge(events);
  const changed = changes.added.length + changes.down.length > 0;
  if (changed) membershipChanged(state, changes);
  const previous = state.peers.get(from);
  state.peers.set(from, {
    sp: previous?.sp,
    spvv: previous?.spvv ?? 0,
    epoch: events.added.length + events.down.length,
    digest: theirs,
    tick: state.now,
    notSynced: previous?.notSynced ?? false,
  });
  if (changed || theirs !== state.membership.digest()) {
    state.send(from, { type: 'membership', membership: state.membership.events() });
  }
}
