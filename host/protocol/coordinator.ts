// The coordinator side of 2PC: queue client writes, start a transaction (group commit),
// collect votes, decide, collect acks. It aborts only on an explicit no-vote, never on a
// timeout: a silent participant is asked again by the manager until it answers or is
// declared down. That is what lets survivors commit a PTL after node-down of a coordinator
// (manager.ts) without ever contradicting a decision the coordinator could have made.

import { encodeBatch, EVENT_TYPES, operationSize, type Write } from '../core/batch.ts';
import { CODE, HsmError } from '../core/codes.ts';
import { rethrowAssertion } from './assert.ts';
import {
  BUSY_REQUEUES_MAX,
  enterState,
  GROUP_COMMIT_WRITES_MAX,
  OUTCOME_PENDING,
  WRITE_QUEUE_MAX,
  type ReplicaState,
  type TxState,
} from './state.ts';
import type { NodeId, Transaction, TxId, WriteRequest } from './types.ts';
import { BATCH_SIZE_MAX } from '../core/layout.ts';
import { answerCarried, rememberRequests } from './participant.ts';
import { isRequestId, requestIdBytes, toTxId } from '../wire/ids.ts';
import { forward } from './forwarding.ts';

/** `mayForward`: false for a write a coordinator gave back (forwarding.ts), which runs here. */
export function submit(state: ReplicaState, request: WriteRequest, mayForward = true): void {
  // A refusal answers this submission alone: by the time the host delivers it (after the
  // batch it belongs to is durable), another attempt of the same request id may be queued
  // here, and telling that one "busy" would be a lie (found by the simulator once storage
  // took time).
  const refuse = (code: number): void =>
    state.reply({ requestId: request.requestId, code, attempt: request.attempt });
  if (!isRequestId(request.requestId)) return refuse(CODE.INVALID_OPERATION);
  // Fenced: nothing new runs here. A retry of a write this node still holds in a transaction
  // is told its outcome is pending (the survivors may commit it by termination), never 38502:
  // the answer reaches the original's caller too.
  if (state.fenced)
    return state.whereIs(request.requestId) === 'transaction'
      ? state.fail(request.requestId, OUTCOME_PENDING)
      : refuse(CODE.NODE_FENCED);
  const known = state.requestOutcomes.get(request.requestId);
  if (known)
    return state.reply({ requestId: request.requestId, code: known.code, txid: known.txid });
  // A duplicate of a write still in flight here (queued, or in a transaction this node
  // coordinates or takes part in): no answer now; the caller waits with the original's waiter and
  // gets its outcome (the appliance adds a waiter; a busy answer would be a lie: it may commit).
  if (state.whereIs(request.requestId)) return;
  // Another member batches now: its next transaction carries this write (forwarding.ts).
  if (mayForward && forward(state, request)) return;
  // Queued even while another coordinator's transaction holds this node: it starts right after
  // that one ends (a busy answer would send the client into a backoff). The queue is bounded
  // here, and the host withdraws a write still queued at its caller's deadline.
  if (state.queue.length >= WRITE_QUEUE_MAX) return refuse(CODE.REPLICATION_BUSY);
  state.queue.push(request);
}

function writeOf(request: WriteRequest): Write {
  return {
    event: request.event,
    operations: request.operations,
    requestId: requestIdBytes(request.requestId),
  };
}

/** Takes the next writes from the queue: one, or as many as fit with group commit. */
function takeWrites(state: ReplicaState): WriteRequest[] {
  const limit = state.groupCommit ? GROUP_COMMIT_WRITES_MAX : 1;
  const taken: WriteRequest[] = [];
  let size = 4;
  while (taken.length < limit && state.queue.length > 0) {
    const next = state.queue[0];
    // A retry of a write another node committed while this one waited in the queue: answer
    // it with that outcome. (This node committed that transaction before it could start one.)
    const known = state.requestOutcomes.get(next.requestId);
    if (known) {
      state.queue.shift();
      state.reply({ requestId: next.requestId, code: known.code, txid: known.txid });
      continue;
    }
    const nextSize = 20 + next.operations.reduce((sum, op) => sum + operationSize(op), 0);
    if (taken.length > 0 && size + nextSize > BATCH_SIZE_MAX) break;
    taken.push(state.queue.shift()!);
    size += nextSize;
  }
  return taken;
}

/** Starts the next transaction if this node is free and writes wait. */
export function startNext(state: ReplicaState): void {
  while (!state.fenced && !state.hasPendingTransaction() && state.queue.length > 0) {
    const requests = takeWrites(state);
    if (requests.length === 0) continue;
    let batch: Uint8Array;
    let dry;
    try {
      batch = encodeBatch(requests.map(writeOf));
      dry = state.store.apply(batch, true);
    } catch (error) {
      rethrowAssertion(error);
      const code = error instanceof HsmError ? error.code : CODE.CANNOT_VALIDATE_EVENT;
      for (const request of requests) state.failQueued(request.requestId, code);
      continue;
    }
    if (dry.writeResults.every((code) => code !== 0)) {
      // Nothing would change: answer now, no transaction needed.
      requests.forEach((request, i) => state.failQueued(request.requestId, dry.writeResults[i]));
      continue;
    }
    begin(state, requests, batch, dry.syncPoint.sp, dry.syncPoint.spvv);
  }
}

function begin(
  state: ReplicaState,
  requests: WriteRequest[],
  batch: Uint8Array,
  spAfter: bigint,
  spvvAfter: number,
): void {
  const before = state.store.syncPoint();
  const tx: Transaction = {
    txid: toTxId(state.random.id64()),
    epoch: state.membership.epoch,
    coordinator: state.id,
    participants: state.peersInPool(),
    nodes: state.membership.members(),
    spBefore: before.sp,
    spvvBefore: before.spvv,
    spAfter,
    spvvAfter,
    tick: state.now,
    event: EVENT_TYPES[requests[0].event],
    sourceUser: requests[0].sourceUser,
    target: requests[0].target,
    batch,
  };
  const held = state.hold(tx, 'coordinator', requests);
  // The PREPARE goes out while its record is being written (Ready.early): it promises nothing.
  // A coordinator that crashes before the record is durable restarts not knowing the
  // transaction, and a participant that asks is told 'unknown', so it aborts (presumed abort).
  // The COMMIT record is appended after this one, so it is never durable without it.
  state.persist({ type: 'prepare', tx });
  for (const participant of tx.participants) state.sendEarly(participant, { type: 'prepare', tx });
  reevaluate(state, held);
}

export function onVote(
  state: ReplicaState,
  from: NodeId,
  txid: TxId,
  yes: boolean,
  code: number,
): void {
  const held = state.transactions.get(txid);
  if (!held || held.role !== 'coordinator' || !held.tx.participants.includes(from)) {
    const outcome = state.outcomes.get(txid);
    if (outcome !== undefined) state.send(from, { type: 'decision', txid, commit: outcome });
    return;
  }
  if (held.state !== 'VIRTUAL') {
    state.send(from, { type: 'decision', txid, commit: held.state !== 'ABORTED' });
    return;
  }
  if (yes) {
    held.votes.add(from);
    state.markPeerSynced(from, true);
    reevaluate(state, held);
  } else {
    if (code === CODE.REPLICATION_PEER_NOT_SYNCED) state.markPeerSynced(from, false);
    decide(state, held, false, code);
  }
}

export function onAck(state: ReplicaState, from: NodeId, txid: TxId): void {
  const held = state.transactions.get(txid);
  if (!held || held.role !== 'coordinator' || held.state === 'VIRTUAL') return;
  held.acks.add(from);
  reevaluate(state, held);
}

/** Decides when every live participant voted yes; finishes when every live one acknowledged. */
export function reevaluate(state: ReplicaState, held: TxState): void {
  if (state.fenced) return;
  const live = held.tx.participants.filter((id) => !state.membership.isFenced(id));
  if (held.state === 'VIRTUAL') {
    // A participant fenced before its yes arrived may have voted no (and others may have
    // learned that from it): count it as a no. Its clients are told the outcome is pending
    // (38720), not busy: if this coordinator was itself declared down unawares, the survivors
    // may commit the transaction by termination (manager.ts), so its abort here proves nothing.
    const lostVote = held.tx.participants.some(
      (id) => state.membership.isFenced(id) && !held.votes.has(id),
    );
    if (lostVote) decide(state, held, false, CODE.REPLICATION_BUSY, OUTCOME_PENDING);
    else if (live.every((id) => held.votes.has(id))) decide(state, held, true, 0);
    return;
  }
  // Presumed abort: an abort needs no acknowledgements (a participant in doubt asks, and an
  // unknown or aborted answer aborts it), so only a commit holds the PTL until acked.
  if (held.state === 'ABORTED' || live.every((id) => held.acks.has(id)))
    state.transactions.delete(held.tx.txid);
}

/** `answer`: what an abort tells the writes' callers (default: the abort's own code). */
function decide(
  state: ReplicaState,
  held: TxState,
  commit: boolean,
  code: number,
  answer = code,
): void {
  const { tx } = held;
  if (commit) {
    const applied = state.store.apply(tx.batch);
    if (applied.syncPoint.sp !== tx.spAfter) state.diverged = true;
    enterState(held, 'COMMITTED');
    state.lastCoordinator = { id: state.id, tick: state.now };
    state.persist({
      type: 'commit',
      txid: tx.txid,
      epoch: state.membership.epoch,
      sp: applied.syncPoint.sp,
      spvv: applied.syncPoint.spvv,
      terminated: false,
    });
    // From the batch itself: after a restart `held.requests` is empty, yet retries of these
    // writes may be queued here and must get this outcome, not run again.
    rememberRequests(state, tx, applied.writeResults);
    answerCarried(state, tx, applied.writeResults);
  } else {
    enterState(held, 'ABORTED');
    if (code === CODE.REPLICATION_BUSY && answer === code) requeue(state, held);
    state.persist({
      type: 'abort',
      txid: tx.txid,
      epoch: state.membership.epoch,
      reason: code,
    });
    answerCarried(state, tx, answer);
  }
  state.remember(tx.txid, commit);
  for (const participant of tx.participants) {
    if (!state.membership.isFenced(participant))
      state.send(participant, { type: 'decision', txid: tx.txid, commit });
  }
  reevaluate(state, held);
}

const requeues = new WeakMap<WriteRequest, number>();

/**
 * A transaction aborted on a busy no-vote lost a collision with another coordinator's: the
 * voter logged its abort, so it can never commit (not even by termination), and its writes go
 * back to the front of the queue for the next transaction instead of being answered busy
 * (answerCarried skips queued writes). At most BUSY_REQUEUES_MAX times per write.
 */
function requeue(state: ReplicaState, held: TxState): void {
  const again = held.requests.filter((request) => {
    const count = requeues.get(request) ?? 0;
    if (count >= BUSY_REQUEUES_MAX) return false;
    requeues.set(request, count + 1);
    return true;
  });
  state.queue.unshift(...again);
}

/** Manager pulse: ask again what is missing. */
export function resend(state: ReplicaState, held: TxState): void {
  for (const participant of held.tx.participants) {
    if (state.membership.isFenced(participant)) continue;
    if (held.state === 'VIRTUAL' && !held.votes.has(participant))
      state.send(participant, { type: 'prepare', tx: held.tx });
    if (held.state !== 'VIRTUAL' && !held.acks.has(participant)) {
      state.send(participant, {
        type: 'decision',
        txid: held.tx.txid,
        commit: held.state !== 'ABORTED',
      });
    }
  }
}
