// The participant side of 2PC: validate a PREPARE against this node's own state (epoch,
// membership, Sync-Point before and after), persist it, then vote; apply the decision.
// A no-vote is logged as this node's abort, so a late duplicate PREPARE is answered from
// the log and can never be prepared afterwards.

import type { Replica, TxState } from './replica.ts';
import type { NodeId, Transaction, TxId } from './types.ts';
import { batchRequestIdsHex } from '../core/batch.ts';

export function onPrepare(replica: Replica, from: NodeId, tx: Transaction): void {
  if (from !== tx.coordinator) return;
  const known = replica.outcomes.get(tx.txid);
  if (known !== undefined)
    return replica.send(from, { type: 'vote', txid: tx.txid, yes: known, code: known ? 0 : 36000 });
  if (replica.transactions.has(tx.txid))
    return replica.send(from, { type: 'vote', txid: tx.txid, yes: true, code: 0 });
  const code = refusal(replica, tx);
  // Either end of a not-synced refusal remembers it: a node that finds most members refusing
  // it, and agreeing among themselves, knows that it is the one that diverged (node-host.ts).
  if (code === 0 || code === 36500) replica.markPeerSynced(from, code === 0);
  if (code !== 0) return voteNo(replica, tx, code);
  const held: TxState = {
    tx,
    role: 'participant',
    state: 'PREPARED',
    votes: new Set(),
    acks: new Set(),
    requests: [],
    since: replica.now,
    statuses: new Map(),
  };
  replica.transactions.set(tx.txid, held);
  replica.persist({ type: 'prepare', tx });
  replica.send(from, { type: 'vote', txid: tx.txid, yes: true, code: 0 });
}

/** Why this node cannot prepare `tx` (0: it can). */
function refusal(replica: Replica, tx: Transaction): number {
  if (replica.hasPendingTransaction()) return 36000;
  if (
    !tx.participants.includes(replica.id) ||
    tx.epoch !== replica.membership.epoch ||
    !replica.membership.isMember(tx.coordinator)
  )
    return 37030;
  const sp = replica.core.syncPoint();
  if (sp.hex !== tx.spBefore || sp.spvv !== tx.spvvBefore) return 36500;
  try {
    const dry = replica.core.apply(tx.batch, true);
    if (dry.syncPoint.hex !== tx.spAfter || dry.syncPoint.spvv !== tx.spvvAfter) return 36500;
  } catch {
    return 37029;
  }
  return 0;
}

function voteNo(replica: Replica, tx: Transaction, code: number): void {
  replica.persist({ type: 'abort', txid: tx.txid, epoch: replica.membership.epoch, reason: code });
  replica.remember(tx.txid, false);
  replica.send(tx.coordinator, { type: 'vote', txid: tx.txid, yes: false, code });
}

export function onDecision(replica: Replica, from: NodeId, txid: TxId, commit: boolean): void {
  const held = replica.transactions.get(txid);
  if (held && held.role === 'participant') {
    if (commit) commitHere(replica, held, false);
    else abortHere(replica, held, 0);
    replica.send(from, { type: 'ack', txid });
    return;
  }
  if (replica.outcomes.has(txid)) return replica.send(from, { type: 'ack', txid });
  // An abort of a transaction never prepared here (its PREPARE was lost): nothing to undo.
  if (!commit) replica.send(from, { type: 'ack', txid });
}

/** Applies a prepared transaction here. `terminated`: decided by termination, not by its coordinator. */
export function commitHere(replica: Replica, held: TxState, terminated: boolean): void {
  const applied = replica.core.apply(held.tx.batch);
  if (applied.syncPoint.hex !== held.tx.spAfter || applied.syncPoint.spvv !== held.tx.spvvAfter)
    replica.diverged = true;
  held.state = terminated ? 'COMMITTED_TM' : 'COMMITTED';
  replica.persist({
    type: 'commit',
    txid: held.tx.txid,
    epoch: replica.membership.epoch,
    sp: applied.syncPoint.hex,
    spvv: applied.syncPoint.spvv,
    terminated,
  });
  rememberRequests(replica, held.tx, applied.writeResults);
  answerCarried(replica, held.tx, applied.writeResults);
  finish(replica, held, true);
}

export function abortHere(replica: Replica, held: TxState, reason: number): void {
  held.state = 'ABORTED';
  replica.persist({ type: 'abort', txid: held.tx.txid, epoch: replica.membership.epoch, reason });
  // Retries that waited here for this transaction: it did not commit their write, and nothing
  // of it stays queued here (busy, not queued: the client may send it again).
  answerCarried(replica, held.tx, 36000);
  finish(replica, held, false);
}

function finish(replica: Replica, held: TxState, committed: boolean): void {
  replica.remember(held.tx.txid, committed);
  replica.transactions.delete(held.tx.txid);
}

/** Every node learns each write's outcome, so a retry on any node gets it. */
export function rememberRequests(
  replica: Replica,
  tx: Transaction,
  results: readonly number[],
): void {
  batchRequestIdsHex(tx.batch).forEach((id, i) => {
    if (id) replica.rememberRequest(id, { code: results[i], txid: tx.txid });
  });
}

/**
 * Answers every write a decided transaction carries, by the request ids in its batch: the
 * coordinator's callers, and retries that waited on a participant or on a coordinator that
 * restarted (their `requests` are gone). `results`: each write's code, or one abort code for all.
 * A reply nobody waits for is dropped by the host.
 */
export function answerCarried(
  replica: Replica,
  tx: Transaction,
  results: readonly number[] | number,
): void {
  batchRequestIdsHex(tx.batch).forEach((id, i) => {
    // An abort does not answer a write still queued here (a retry that came here first): it
    // may yet commit, in this node's own transaction.
    if (id && !(typeof results === 'number' && replica.whereIs(id) === 'queued'))
      replica.reply({
        requestId: id,
        code: typeof results === 'number' ? results : results[i],
        txid: tx.txid,
      });
  });
}
