// Puts a replica back as it was before a restart, from what recovery found in its log
// (host/log/recovery.ts rebuilt the key store itself): the pending transaction (the PTL
// carries everything needed to commit it), decided outcomes that answer late and duplicate
// messages, write outcomes that answer retried requests, and membership events.

import { reevaluate } from './coordinator.ts';
import { FORWARD_ANSWERS_TICKS } from './forwarding.ts';
import type { Outcome, ReplicaState } from './state.ts';
import type { NodeAddress, NodeId, Transaction, TxId } from './types.ts';

export interface ReplicaRecovery {
  readonly pending: Transaction | undefined;
  readonly outcomes: Iterable<readonly [TxId, boolean]>;
  readonly requestOutcomes: Iterable<readonly [string, Outcome]>;
  readonly added: readonly NodeAddress[];
  readonly down: readonly NodeId[];
}

export function restore(state: ReplicaState, recovery: ReplicaRecovery): void {
  for (const node of recovery.added) state.membership.add(node);
  for (const node of recovery.down) state.membership.markDown(node);
  for (const [txid, committed] of recovery.outcomes) state.remember(txid, committed);
  for (const [requestId, outcome] of recovery.requestOutcomes)
    state.rememberRequest(requestId, outcome);
  state.fenced = state.membership.isFenced(state.id);
  // The answers it gave to forwards before it stopped are gone, and a copy of a forward it
  // answered "not committed" may still be on its way: queued now, it could commit a write
  // whose member told its client it did not (simulator seed 677 of a run that moved log
  // reads beside the storage queue). It refuses forwards for as long as it would have kept
  // those answers; the members run their writes themselves meanwhile.
  state.forwardsRefusedUntil = state.now + FORWARD_ANSWERS_TICKS;
  const tx = recovery.pending;
  if (!tx) return;
  // A coordinator that restarts undecided asks for the votes again (it never aborts on its
  // own); a participant is in doubt until it hears the outcome.
  const held = state.hold(tx, tx.coordinator === state.id ? 'coordinator' : 'participant');
  // What the votes already settle is settled now, as when the transaction began: nothing else
  // would look at it again if no vote can come. A coordinator left the only member (the
  // others declared down) that crashed with its PREPARE durable restarted holding a
  // transaction without participants, VIRTUAL for ever, and its queue waited behind it
  // (simulator seed 8334). Participants declared down before they voted count as a no.
  if (held.role === 'coordinator') reevaluate(state, held);
}
