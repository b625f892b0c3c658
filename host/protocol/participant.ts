// The participant side of 2PC: validate a PREPARE against this node's own state (epoch,
// membership, Sync-Point before and after), persist it, then vote; apply the decision.
// A no-vote is logged as this node's abort, so a late duplicate PREPARE is answered from
// the log and can never be prepared afterwards.

import { CODE } from '../core/codes.ts';
import { rethrowAssertion } from './assert.ts';
import { enterState, type ReplicaState, type TxState } from './state.ts';
import type { NodeId, Transaction, TxId } from './types.ts';
import { batchRequestIdsHex } from '../core/batch.ts';

export function onPrepare(state: ReplicaState, from: NodeId, tx: Transaction): void {
  if (from !== tx.coordinator) return;
  const known = state.outcomes.get(tx.txid);
  if (known !== undefined)
    return state.send(from, {
      type: 'vote',
      txid: tx.txid,
      yes: known,
      code: known ? 0 : CODE.REPLICATION_BUSY,
    });
  if (state.transactions.has(tx.txid))
    return state.send(from, { type: 'vote', txid: tx.txid, yes: true, code: 0 });
  const code = refusal(state, tx);
  if (code === CODE.REPLICATION_BUSY && mayWait(state, tx)) {
    state.deferred.set(from, tx);
    return;
  }
  state.deferred.delete(from);
  // Either end of a not-synced refusal remembers it: a node that finds most members refusing
  // it, and agreeing among themselves, knows that it is the one that diverged (node-host.ts).
  if (code === 0 || code === CODE.REPLICATION_PEER_NOT_SYNCED)
    state.markPeerSynced(from, code === 0);
  if (code !== 0) return voteNo(state, tx, code);
  state.hold(tx, 'participant');
  state.persist({ type: 'prepare', tx });
  state.send(from, { type: 'vote', txid: tx.txid, yes: true, code: 0 });
}

/**
 * Whether a PREPARE that meets this node's pending transaction may wait for it (no vote yet;
 * `resumeDeferred` answers it when the PTL here is free) instead of being refused busy, which
 * would abort it. It may when that cannot deadlock: every transaction held here is decided
 * (it waits for acks only), or was left by the same coordinator (which has moved on), or loses
 * to the incoming one (the lower txid wins). A wait then only ever points from a winner to a
 * loser, and the loser is refused wherever it meets a winner, so of two coordinators that
 * prepared at the same moment one commits instead of both aborting.
 */
function mayWait(state: ReplicaState, tx: Transaction): boolean {
  for (const held of state.transactions.values()) {
    const undecided = held.state === 'VIRTUAL' || held.state === 'PREPARED';
    const leftBehind = held.role === 'participant' && held.tx.coordinator === tx.coordinator;
    if (undecided && !leftBehind && tx.txid >= held.tx.txid) return false;
  }
  return true;
}

/** Answers the deferred PREPAREs once the PTL here is free, the winning (lowest txid) first. */
export function resumeDeferred(state: ReplicaState): void {
  if (state.fenced) return state.deferred.clear();
  while (!state.hasPendingTransaction() && state.deferred.size > 0) {
    let next: Transaction | undefined;
    for (const tx of state.deferred.values()) if (!next || tx.txid < next.txid) next = tx;
    state.deferred.delete(next!.coordinator);
    onPrepare(state, next!.coordinator, next!);
  }
}

/** Why this node cannot prepare `tx` (0: it can). */
function refusal(state: ReplicaState, tx: Transaction): number {
  if (state.hasPendingTransaction()) return CODE.REPLICATION_BUSY;
  if (
    !tx.participants.includes(state.id) ||
    tx.epoch !== state.membership.epoch ||
    !state.membership.isMember(tx.coordinator)
  )
    return CODE.TRANS_MISMATCH;
  const sp = state.store.syncPoint();
  if (sp.sp !== tx.spBefore || sp.spvv !== tx.spvvBefore) return CODE.REPLICATION_PEER_NOT_SYNCED;
  try {
    const dry = state.store.apply(tx.batch, true);
    if (dry.syncPoint.sp !== tx.spAfter || dry.syncPoint.spvv !== tx.spvvAfter)
      return CODE.REPLICATION_PEER_NOT_SYNCED;
  } catch (error) {
    rethrowAssertion(error);
    return CODE.CANNOT_VALIDATE_EVENT;
  }
  return 0;
}

function voteNo(state: ReplicaState, tx: Transaction, code: number): void {
  state.persist({ type: 'abort', txid: tx.txid, epoch: state.membership.epoch, reason: code });
  state.remember(tx.txid, false);
  state.send(tx.coordinator, { type: 'vote', txid: tx.txid, yes: false, code });
}

export function onDecision(state: ReplicaState, from: NodeId, txid: TxId, commit: boolean): void {
  const held = state.transactions.get(txid);
  if (held && held.role === 'participant') {
    if (commit) commitHere(state, held, false);
    else abortHere(state, held, 0);
    state.send(from, { type: 'ack', txid });
    return;
  }
  if (state.outcomes.has(txid)) return state.send(from, { type: 'ack', txid });
  // An abort of a transaction never prepared here (its PREPARE was lost or is deferred):
  // nothing to undo, and a deferred PREPARE of it is dropped.
  if (!commit) {
    if (state.deferred.get(from)?.txid === txid) state.deferred.delete(from);
    state.send(from, { type: 'ack', txid });
  }
}

/** Applies a prepared transaction here. `terminated`: decided by termination, not by its coordinator. */
export function commitHere(state: ReplicaState, held: TxState, terminated: boolean): void {
  const applied = state.store.apply(held.tx.batch);
  if (applied.syncPoint.sp !== held.tx.spAfter || applied.syncPoint.spvv !== held.tx.spvvAfter)
    state.diverged = true;
  enterState(held, terminated ? 'COMMITTED_TM' : 'COMMITTED');
  if (!terminated) state.lastCoordinator = { id: held.tx.coordinator, tick: state.now };
  state.persist({
    type: 'commit',
    txid: held.tx.txid,
    epoch: state.membership.epoch,
    sp: applied.syncPoint.sp,
    spvv: applied.syncPoint.spvv,
    terminated,
  });
  rememberRequests(state, held.tx, applied.writeResults);
  answerCarried(state, held.tx, applied.writeResults);
  finish(state, held, true);
}

export function abortHere(state: ReplicaState, held: TxState, reason: number): void {
  enterState(held, 'ABORTED');
  state.persist({ type: 'abort', txid: held.tx.txid, epoch: state.membership.epoch, reason });
  // Retries that waited here for this transaction: it did not commit their write, and nothing
  // of it stays queued here (busy, not queued: the client may send it again).
  answerCarried(state, held.tx, CODE.REPLICATION_BUSY);
  finish(state, held, false);
}

function finish(state: ReplicaState, held: TxState, committed: boolean): void {
  state.remember(held.tx.txid, committed);
  state.transactions.delete(held.tx.txid);
}

/** Every node learns each write's outcome, so a retry on any node gets it. */
export function rememberRequests(
  state: ReplicaState,
  tx: Transaction,
  results: readonly number[],
): void {
  batchRequestIdsHex(tx.batch).forEach((id, i) => {
    if (id) state.rememberRequest(id, { code: results[i], txid: tx.txid });
  });
}

/**
 * Answers every write a decided transaction carries, by the request ids in its batch: the
 * coordinator's callers, and retries that waited on a participant or on a coordinator that
 * restarted (their `requests` are gone). `results`: each write's code, or one abort code for all.
 * A reply nobody waits for is dropped by the host.
 */
export function answerCarried(
  state: ReplicaState,
  tx: Transaction,
  results: readonly number[] | number,
): void {
  batchRequestIdsHex(tx.batch).forEach((id, i) => {
    // An abort does not answer a write still queued here (a retry that came here first): it
    // may yet commit, in this node's own transaction.
    if (id && !(typeof results === 'number' && state.whereIs(id) === 'queued'))
      state.reply({
        requestId: id,
        code: typeof results === 'number' ? results : results[i],
        txid: tx.txid,
      });
  });
}
