// Forwarding: a member that takes a client write while another member coordinates the pool's
// transaction, or coordinated the last one recently, hands the built write (key generated and
// wrapped where the client asked) to that coordinator, so that one batch carries the writes of
// every member instead of the members taking turns with a third of them each
// (docs/PERFORMANCE.md, "What bounds it now"). The PTL rule is untouched: still one
// transaction at a time, pool-wide.
//
// What the client is told stays true under any fault. The forwarding member answers with:
// - the outcome it learns as a participant when a transaction carrying the request id commits;
// - an outcome the coordinator relays;
// - "outcome pending" at its caller's deadline.
// It never says "not committed" for a write it forwarded, unless the coordinator says it will
// never run it:
// - The coordinator refuses a forward that it does not queue.
// - It withdraws a forwarded write still queued after RELAY_QUEUED_TICKS, and says so.
// - Restarted, it refuses every forward for FORWARD_ANSWERS_TICKS: it lost the answers it
//   gave before, and a late copy of a forward it answered "not committed" must not run.
// Either way the member takes the write back and runs it itself. So does a live member whose
// target was declared down: it took part in every transaction that could have carried the
// write, so it knows whether one did. A request id never commits
// twice: every member remembers each write's outcome, and every transaction needs every
// member's vote.

import { CODE } from '../core/codes.ts';
import {
  FORWARDED_MAX,
  RELAYED_MAX,
  WRITE_QUEUE_MAX,
  forwardKey,
  type Forwarded,
  type ReplicaState,
  type Relay,
} from './state.ts';
import type { ForwardedWrite, MessageBody, NodeId, WriteRequest } from './types.ts';

/** A member keeps forwarding to the coordinator of the last transaction it committed for this
 * many ticks after that commit (the coordinator stays the pool's batcher while writes flow). */
export const FORWARD_STICKY_TICKS = 100;
/** A coordinator withdraws a forwarded write still only queued after this many ticks and tells
 * the member (which runs it itself, its caller still waiting: WRITE_TIMEOUT_TICKS is 500). */
export const RELAY_QUEUED_TICKS = 200;
/** A coordinator keeps its final answer to a forward this long, for copies of the forward
 * still on their way (a member sends an unanswered forward again on every manager pulse). */
export const FORWARD_ANSWERS_TICKS = 300;

/** Where a write taken here should go, if not into this node's own queue. */
export function forwardTarget(state: ReplicaState): NodeId | undefined {
  let target: NodeId | undefined;
  for (const held of state.transactions.values()) {
    if (held.role === 'coordinator') return undefined; // this node batches: queue it here
    if (held.state !== 'ABORTED') target = held.tx.coordinator;
  }
  const last = state.lastCoordinator;
  if (target === undefined && last && state.now - last.tick <= FORWARD_STICKY_TICKS)
    target = last.id;
  if (target === undefined || target === state.id) return undefined;
  if (!state.membership.isMember(target) || state.membership.isFenced(target)) return undefined;
  return target;
}

/** Forwards a client write if another member batches now; false: queue it here. */
export function forward(state: ReplicaState, request: WriteRequest): boolean {
  if (state.forwarded.size >= FORWARDED_MAX) return false;
  const to = forwardTarget(state);
  if (to === undefined) return false;
  const entry = { request, to, tick: state.now };
  state.forwarded.set(request.requestId, entry);
  sendForward(state, entry);
  return true;
}

function sendForward(state: ReplicaState, entry: Forwarded): void {
  const { kind: _kind, attempt: _attempt, ...write } = entry.request;
  state.send(entry.to, { type: 'forward', write });
}

/** A member's forward reaches this node: queue it for the next batch here, or refuse it. */
export function onForward(state: ReplicaState, from: NodeId, write: ForwardedWrite): void {
  const { requestId } = write;
  // A copy of a forward already answered (sent again, or duplicated): the same answer.
  const answered = state.forwardAnswers.get(forwardKey(requestId, from));
  if (answered) {
    const { to: _to, tick: _tick, ...answer } = answered;
    return state.answerForward(from, answer);
  }
  const known = state.requestOutcomes.get(requestId);
  if (known) return state.answerForward(from, { requestId, ...known, refused: false });
  if (relayCount(state) >= RELAYED_MAX || state.now < state.forwardsRefusedUntil)
    return refuse(state, from, requestId);
  const deadline = state.now + RELAY_QUEUED_TICKS;
  // Already here: queued or carried by this forward (sent again), or by a retry a caller of
  // this node waits for (then it is not withdrawn). Its outcome is relayed when known. (A write
  // this node forwarded itself does not count: two members forwarding one write to each other
  // would each wait for the other.)
  if (state.isQueued(requestId) || state.inTransaction(requestId)) {
    if (!state.relayTo.get(requestId)?.has(from))
      addRelay(state, requestId, { to: from, deadline, queuedByForward: false });
    return;
  }
  if (state.fenced || state.queue.length >= WRITE_QUEUE_MAX) return refuse(state, from, requestId);
  addRelay(state, requestId, { to: from, deadline, queuedByForward: true });
  state.queue.push({ kind: 'write', ...write });
}

function addRelay(state: ReplicaState, requestId: string, relay: Relay): void {
  const relays = state.relayTo.get(requestId) ?? new Map<NodeId, Relay>();
  relays.set(relay.to, relay);
  state.relayTo.set(requestId, relays);
}

/** Forwards waiting here for their outcome, every member's counted. */
function relayCount(state: ReplicaState): number {
  let count = 0;
  for (const relays of state.relayTo.values()) count += relays.size;
  return count;
}

function refuse(state: ReplicaState, to: NodeId, requestId: string): void {
  state.answerForward(to, {
    requestId,
    code: CODE.REPLICATION_BUSY,
    txid: undefined,
    refused: true,
  });
}

/** The coordinator's answer. Returns the write to run here when it was refused. */
export function onForwardReply(
  state: ReplicaState,
  from: NodeId,
  reply: Extract<MessageBody, { type: 'forward-reply' }>,
): WriteRequest | undefined {
  const entry = state.forwarded.get(reply.requestId);
  if (!entry || entry.to !== from) return undefined; // answered already, or forgotten
  state.forwarded.delete(reply.requestId);
  if (reply.refused) return entry.request;
  // Another member's forward of the same write is queued or in a transaction here: this
  // node's callers get that copy's outcome (the host answers every waiter of a request id).
  if (state.isQueued(reply.requestId) || state.inTransaction(reply.requestId)) return undefined;
  state.reply({
    requestId: reply.requestId,
    code: reply.code,
    ...(reply.txid === undefined ? {} : { txid: reply.txid }),
  });
  return undefined;
}

/** On every tick. Coordinator side: withdraws forwarded writes still only queued past their
 * deadline and says so, and forgets old answers. Member side: sends unanswered forwards again
 * on the manager's pulse (until answered, their outcome is learned, or their target is
 * declared down: it never forgets one, since an abort seen here must never answer a write its
 * coordinator may requeue), and returns the writes to run here because their target was
 * declared down. */
export function onTick(state: ReplicaState): WriteRequest[] {
  for (const [requestId, relays] of state.relayTo) {
    const waits = [...relays.values()];
    if (!waits.some((relay) => relay.deadline <= state.now)) continue;
    if (state.inTransaction(requestId)) continue; // its outcome is relayed when decided
    // Withdrawn only when every wait on it came by forward and all have run out: a caller of
    // this node may wait for it too, and a member still in time keeps it queued.
    const at = state.queue.findIndex((queued) => queued.requestId === requestId);
    const withdraw = waits.every((relay) => relay.queuedByForward && relay.deadline <= state.now);
    if (at >= 0 && !withdraw) continue;
    state.relayTo.delete(requestId);
    if (at >= 0) {
      state.queue.splice(at, 1);
      for (const to of relays.keys()) refuse(state, to, requestId);
    }
  }
  for (const [key, answer] of state.forwardAnswers)
    if (state.now - answer.tick >= FORWARD_ANSWERS_TICKS) state.forwardAnswers.delete(key);
  const back: WriteRequest[] = [];
  const pulse = state.now % state.timers.managerPulseTicks === 0;
  for (const [requestId, entry] of state.forwarded) {
    // Taken back only by a live member: it took part in every transaction that could have
    // carried the write, so it knows whether one did (committed here, or in doubt here). A
    // fenced node may have missed that commit: its callers are told "pending" at their deadline.
    if (state.membership.isFenced(entry.to) && !state.fenced) {
      state.forwarded.delete(requestId);
      back.push(entry.request);
    } else if (pulse && !state.fenced) sendForward(state, entry);
  }
  return back;
}
