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

import { Membership } from './membership.ts';
import type { Replica, TxState } from './replica.ts';
import type { MembershipEvents, NodeDownRequest, NodeId, TxId, TxStatus } from './types.ts';
import * as coordinator from './coordinator.ts';
import { abortHere, commitHere } from './participant.ts';

export function onTick(replica: Replica): void {
  for (const [nonce, probe] of [...replica.probes]) {
    if (replica.now >= probe.deadline) {
      replica.probes.delete(nonce);
      fence(replica, probe.node, probe.requestId);
    }
  }
  if (replica.now % replica.timers.managerPulseTicks === 0) pulse(replica);
  const heartbeat = replica.timers.heartbeatTicks;
  if (heartbeat > 0 && replica.now % heartbeat === 0 && !replica.fenced)
    for (const peer of replica.peersInPool()) replica.send(peer, { type: 'heartbeat' });
}

function pulse(replica: Replica): void {
  for (const held of [...replica.transactions.values()]) {
    if (replica.fenced) break;
    if (held.role === 'coordinator') coordinator.resend(replica, held);
    else if (replica.now - held.since >= replica.timers.inDoubtTicks) inquire(replica, held);
  }
  // Anti-entropy: members that lag, and fenced nodes until they show they know (a fenced
  // node that missed the news would otherwise go on believing it is a member).
  const digest = replica.membership.digest();
  const events = replica.membership.events();
  for (const peer of [...replica.peersInPool(), ...events.down.filter((id) => id !== replica.id)]) {
    if (replica.peers.get(peer)?.digest !== digest)
      replica.send(peer, { type: 'membership', membership: events });
  }
}

/** Surviving participants of a transaction other than this node. */
function survivors(replica: Replica, held: TxState): NodeId[] {
  return held.tx.participants.filter((id) => id !== replica.id && !replica.membership.isFenced(id));
}

function inquire(replica: Replica, held: TxState): void {
  held.since = replica.now;
  held.statuses.clear();
  const coordinatorFenced = replica.membership.isFenced(held.tx.coordinator);
  const targets = coordinatorFenced
    ? survivors(replica, held)
    : [held.tx.coordinator, ...survivors(replica, held)];
  for (const target of targets) replica.send(target, { type: 'query', txid: held.tx.txid });
  if (coordinatorFenced) terminate(replica, held);
}

export function answerQuery(replica: Replica, txid: TxId): TxStatus {
  return replica.statusOf(txid);
}

export function onStatus(replica: Replica, from: NodeId, txid: TxId, status: TxStatus): void {
  const held = replica.transactions.get(txid);
  if (!held || held.role !== 'participant' || held.state !== 'PREPARED') return;
  if (status === 'committed') return commitHere(replica, held, false);
  if (status === 'aborted') return abortHere(replica, held, 0);
  // Presumed abort: the coordinator logs a transaction before it sends PREPARE, so one it
  // does not know was never decided there and never will be.
  if (from === held.tx.coordinator && status === 'unknown') return abortHere(replica, held, 0);
  held.statuses.set(from, status);
  if (replica.membership.isFenced(held.tx.coordinator)) terminate(replica, held);
}

/** Decides a transaction whose coordinator is fenced once every survivor has answered. */
function terminate(replica: Replica, held: TxState): void {
  const answers = survivors(replica, held).map((id) => held.statuses.get(id));
  if (answers.some((answer) => answer === undefined)) return;
  if (answers.some((answer) => answer === 'unknown')) abortHere(replica, held, 38502);
  else commitHere(replica, held, true);
}

// ---- node-down ----

export function nodeDown(replica: Replica, request: NodeDownRequest): void {
  if (replica.fenced) return replica.fail(request.requestId, 38502);
  if (request.node === replica.id || !replica.membership.isMember(request.node))
    return replica.fail(request.requestId, 37017);
  const nonce = replica.random.id64();
  replica.probes.set(nonce, {
    node: request.node,
    requestId: request.requestId,
    deadline: replica.now + replica.timers.probeTimeoutTicks,
  });
  replica.send(request.node, { type: 'probe', nonce });
}

/** Planned removal: refused while this node holds or queues anything others may depend on. */
export function leave(replica: Replica, requestId: string): void {
  if (replica.fenced) return replica.fail(requestId, 38502);
  if (replica.hasPendingTransaction() || replica.queue.length > 0)
    return replica.fail(requestId, 36000);
  if (replica.peersInPool().length === 0) return replica.fail(requestId, 37017);
  fence(replica, replica.id, requestId);
}

export function onProbeReply(replica: Replica, nonce: string): void {
  const probe = replica.probes.get(nonce);
  if (!probe) return;
  replica.probes.delete(nonce);
  replica.fail(probe.requestId, 38501);
}

function fence(replica: Replica, node: NodeId, requestId: string): void {
  if (replica.membership.markDown(node)) replica.onMembershipChanged({ added: [], down: [node] });
  replica.reply({ requestId, code: 0 });
  const events = replica.membership.events();
  for (const peer of [...replica.peersInPool(), node])
    if (peer !== replica.id) replica.send(peer, { type: 'membership', membership: events });
}

export function onMembership(replica: Replica, from: NodeId, events: MembershipEvents): void {
  const theirs = Membership.from(events).digest();
  const changes = replica.membership.merge(events);
  const changed = changes.added.length + changes.down.length > 0;
  if (changed) replica.onMembershipChanged(changes);
  const previous = replica.peers.get(from);
  replica.peers.set(from, {
    sp: previous?.sp ?? '',
    spvv: previous?.spvv ?? 0,
    epoch: events.added.length + events.down.length,
    digest: theirs,
    tick: replica.now,
    notSynced: previous?.notSynced ?? false,
  });
  if (changed || theirs !== replica.membership.digest()) {
    replica.send(from, { type: 'membership', membership: replica.membership.events() });
  }
}
