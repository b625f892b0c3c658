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
  // Either end of a not-synced refusal remembers it: a node that finds most members refusing
  // it, and agreeing among themselves, knows that it is the one that diverged (node-host.ts).
  if (code === 0 || code === CODE.REPLICATION_PEER_NOT_SYNCED)
    state.markPeerSynced(from, code === 0);
  if (code !== 0) return voteNo(state, tx, code);
  state.hold(tx, 'participant');
  state.persist({ type: 'prepare', tx });
  state.send(from, { type: 'vote', txid: tx.txid, yes: true, code: 0 });
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
  // An abort of a transaction never prepared here (its PREPARE was lost): nothing to undo.
  if (!commit) state.send(from, { type: 'ack', txid });
}

/** Applies a prepared transaction here. `terminated`: decided by termination, not by its coordinator. */
export function commitHere(state: ReplicaState, held: TxState, terminated: boolean): void {
  const applied = state.store.apply(held.tx.batch);
  if (applied.syncPoint.sp !== held.tx.spAfter || applied.syncPoint.spvv !== held.tx.spvvAfter)
    state.diverged = true;
  enterState(held, terminated ? 'COMMITTED_TM' : 'COMMITTED');
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
