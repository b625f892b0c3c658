// The coordinator side of 2PC: queue client writes, start a transaction (group commit),
// collect votes, decide, collect acks. It aborts only on an explicit no-vote, never on a
// timeout: a silent participant is asked again by the manager until it answers or is
// declared down. That is what lets survivors commit a PTL after node-down of a coordinator
// (manager.ts) without ever contradicting a decision the coordinator could have made.

import { encodeBatch, type Write } from '../core/batch.ts';
import { HsmError } from '../core/codes.ts';
import {
  GROUP_COMMIT_WRITES_MAX,
  OUTCOME_PENDING,
  WRITE_QUEUE_MAX,
  type Replica,
  type TxState,
} from './replica.ts';
import type { Transaction, TxId, WriteRequest } from './types.ts';
import { BATCH_SIZE_MAX } from '../core/layout.ts';
import { EVENT_TYPES, operationSize } from '../core/batch.ts';
import { answerCarried, rememberRequests } from './participant.ts';

/** A request id (32 hex digits, checked by submit) as the 16 bytes a batch carries. */
export function requestIdBytes(requestId: string): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(requestId.slice(i * 2, i * 2 + 2), 16);
  return out;
}

const REQUEST_ID_PATTERN = /^[0-9a-f]{32}$/;

export function submit(replica: Replica, request: WriteRequest): void {
  // A refusal answers this submission alone: by the time the host delivers it (after the
  // batch it belongs to is durable), another attempt of the same request id may be queued
  // here, and telling that one "busy" would be a lie (found by the simulator once storage
  // took time).
  const refuse = (code: number): void =>
    replica.reply({ requestId: request.requestId, code, attempt: request.attempt });
  if (!REQUEST_ID_PATTERN.test(request.requestId)) return refuse(37017);
  // Fenced: nothing new runs here. A retry of a write this node still holds in a transaction
  // is told its outcome is pending (the survivors may commit it by termination), never 38502:
  // the answer reaches the original's caller too.
  if (replica.fenced)
    return replica.whereIs(request.requestId) === 'transaction'
      ? replica.fail(request.requestId, OUTCOME_PENDING)
      : refuse(38502);
  const known = replica.requestOutcomes.get(request.requestId);
  if (known)
    return replica.reply({ requestId: request.requestId, code: known.code, txid: known.txid });
  // A duplicate of a write still in flight here (queued, or in a transaction this node
  // coordinates or takes part in): no answer now; the caller waits with the original's waiter and
  // gets its outcome (the appliance adds a waiter; a busy answer would be a lie: it may commit).
  if (replica.whereIs(request.requestId)) return;
  const coordinatingOnly = [...replica.transactions.values()].every(
    (held) => held.role === 'coordinator',
  );
  if (!coordinatingOnly || replica.queue.length >= WRITE_QUEUE_MAX) return refuse(36000);
  replica.queue.push(request);
}

function writeOf(request: WriteRequest): Write {
  return {
    event: request.event,
    operations: request.operations,
    requestId: requestIdBytes(request.requestId),
  };
}

/** Takes the next writes from the queue: one, or as many as fit with group commit. */
function takeWrites(replica: Replica): WriteRequest[] {
  const limit = replica.groupCommit ? GROUP_COMMIT_WRITES_MAX : 1;
  const taken: WriteRequest[] = [];
  let size = 4;
  while (taken.length < limit && replica.queue.length > 0) {
    const next = replica.queue[0];
    // A retry of a write another node committed while this one waited in the queue: answer
    // it with that outcome. (This node committed that transaction before it could start one.)
    const known = replica.requestOutcomes.get(next.requestId);
    if (known) {
      replica.queue.shift();
      replica.reply({ requestId: next.requestId, code: known.code, txid: known.txid });
      continue;
    }
    const nextSize = 20 + next.operations.reduce((sum, op) => sum + operationSize(op), 0);
    if (taken.length > 0 && size + nextSize > BATCH_SIZE_MAX) break;
    taken.push(replica.queue.shift()!);
    size += nextSize;
  }
  return taken;
}

/** Starts the next transaction if this node is free and writes wait. */
export function startNext(replica: Replica): void {
  while (
    !replica.fenced &&
    !replica.hasPendingTransaction() &&
    replica.queue.length > 0 &&
    replica.now >= replica.backoffUntil
  ) {
    const requests = takeWrites(replica);
    if (requests.length === 0) continue;
    let batch: Uint8Array;
    let dry;
    try {
      batch = encodeBatch(requests.map(writeOf));
      dry = replica.core.apply(batch, true);
    } catch (error) {
      const code = error instanceof HsmError ? error.code : 37029;
      for (const request of requests) replica.fail(request.requestId, code);
      continue;
    }
    if (dry.writeResults.every((code) => code !== 0)) {
      // Nothing would change: answer now, no transaction needed.
      requests.forEach((request, i) => replica.fail(request.requestId, dry.writeResults[i]));
      continue;
    }
    begin(replica, requests, batch, dry.syncPoint.hex, dry.syncPoint.spvv);
  }
}

function begin(
  replica: Replica,
  requests: WriteRequest[],
  batch: Uint8Array,
  spAfter: string,
  spvvAfter: number,
): void {
  const before = replica.core.syncPoint();
  const tx: Transaction = {
    txid: replica.random.id64(),
    epoch: replica.membership.epoch,
    coordinator: replica.id,
    participants: replica.peersInPool(),
    nodes: replica.membership.members(),
    spBefore: before.hex,
    spvvBefore: before.spvv,
    spAfter,
    spvvAfter,
    tick: replica.now,
    event: EVENT_TYPES[requests[0].event],
    sourceUser: requests[0].sourceUser,
    target: requests[0].target,
    batch,
  };
  const held: TxState = {
    tx,
    role: 'coordinator',
    state: 'VIRTUAL',
    votes: new Set(),
    acks: new Set(),
    requests,
    since: replica.now,
    statuses: new Map(),
  };
  replica.transactions.set(tx.txid, held);
  replica.persist({ type: 'prepare', tx });
  for (const participant of tx.participants) replica.send(participant, { type: 'prepare', tx });
  reevaluate(replica, held);
}

export function onVote(
  replica: Replica,
  from: string,
  txid: TxId,
  yes: boolean,
  code: number,
): void {
  const held = replica.transactions.get(txid);
  if (!held || held.role !== 'coordinator' || !held.tx.participants.includes(from)) {
    const outcome = replica.outcomes.get(txid);
    if (outcome !== undefined) replica.send(from, { type: 'decision', txid, commit: outcome });
    return;
  }
  if (held.state !== 'VIRTUAL') {
    replica.send(from, { type: 'decision', txid, commit: held.state !== 'ABORTED' });
    return;
  }
  if (yes) {
    held.votes.add(from);
    replica.markPeerSynced(from, true);
    reevaluate(replica, held);
  } else {
    if (code === 36500) replica.markPeerSynced(from, false);
    decide(replica, held, false, code);
  }
}

export function onAck(replica: Replica, from: string, txid: TxId): void {
  const held = replica.transactions.get(txid);
  if (!held || held.role !== 'coordinator' || held.state === 'VIRTUAL') return;
  held.acks.add(from);
  reevaluate(replica, held);
}

/** Decides when every live participant voted yes; finishes when every live one acknowledged. */
export function reevaluate(replica: Replica, held: TxState): void {
  if (replica.fenced) return;
  const live = held.tx.participants.filter((id) => !replica.membership.isFenced(id));
  if (held.state === 'VIRTUAL') {
    // A participant fenced before its yes arrived may have voted no (and others may have
    // learned that from it): count it as a no. Its clients are told the outcome is pending
    // (38720), not busy: if this coordinator was itself declared down unawares, the survivors
    // may commit the transaction by termination (manager.ts), so its abort here proves nothing.
    const lostVote = held.tx.participants.some(
      (id) => replica.membership.isFenced(id) && !held.votes.has(id),
    );
    if (lostVote) decide(replica, held, false, 36000, OUTCOME_PENDING);
    else if (live.every((id) => held.votes.has(id))) decide(replica, held, true, 0);
    return;
  }
  // Presumed abort: an abort needs no acknowledgements (a participant in doubt asks, and an
  // unknown or aborted answer aborts it), so only a commit holds the PTL until acked.
  if (held.state === 'ABORTED' || live.every((id) => held.acks.has(id)))
    replica.transactions.delete(held.tx.txid);
}

/** `answer`: what an abort tells the writes' callers (default: the abort's own code). */
function decide(
  replica: Replica,
  held: TxState,
  commit: boolean,
  code: number,
  answer = code,
): void {
  const { tx } = held;
  if (commit) {
    const applied = replica.core.apply(tx.batch);
    if (applied.syncPoint.hex !== tx.spAfter) replica.diverged = true;
    held.state = 'COMMITTED';
    replica.persist({
      type: 'commit',
      txid: tx.txid,
      epoch: replica.membership.epoch,
      sp: applied.syncPoint.hex,
      spvv: applied.syncPoint.spvv,
      terminated: false,
    });
    // From the batch itself: after a restart `held.requests` is empty, yet retries of these
    // writes may be queued here and must get this outcome, not run again.
    rememberRequests(replica, tx, applied.writeResults);
    answerCarried(replica, tx, applied.writeResults);
  } else {
    held.state = 'ABORTED';
    if (code === 36000)
      replica.backoffUntil =
        replica.now + 1 + replica.random.below(2 * replica.timers.managerPulseTicks);
    replica.persist({
      type: 'abort',
      txid: tx.txid,
      epoch: replica.membership.epoch,
      reason: code,
    });
    answerCarried(replica, tx, answer);
  }
  replica.remember(tx.txid, commit);
  for (const participant of tx.participants) {
    if (!replica.membership.isFenced(participant))
      replica.send(participant, { type: 'decision', txid: tx.txid, commit });
  }
  reevaluate(replica, held);
}

/** Manager pulse: ask again what is missing. */
export function resend(replica: Replica, held: TxState): void {
  for (const participant of held.tx.participants) {
    if (replica.membership.isFenced(participant)) continue;
    if (held.state === 'VIRTUAL' && !held.votes.has(participant))
      replica.send(participant, { type: 'prepare', tx: held.tx });
    if (held.state !== 'VIRTUAL' && !held.acks.has(participant)) {
      replica.send(participant, {
        type: 'decision',
        txid: held.tx.txid,
        commit: held.state !== 'ABORTED',
      });
    }
  }
}
