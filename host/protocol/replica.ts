// One appliance's replication state machine (etcd/raft's shape): `request`, `receive` and
// `tick` feed it; `ready()` returns what to persist, send and reply. It does no I/O and
// reads no clock: time arrives as ticks, randomness from a seeded generator. The key store
// is pure computation and lives inside it, behind the narrow KeyStore interface (state.ts).
//
// The protocol (docs/PROTOCOL.md): synchronous multi-master 2PC, one pending transaction
// pool-wide, every message stamped with epoch, membership digest and Sync-Point.
// This file is the only dispatcher and the only door from outside: its mutable data is the
// ReplicaState (state.ts), changed by coordinator.ts, participant.ts and manager.ts (the
// replication manager, cooperative termination and node-down); outside code reads `status()`
// and changes the replica through the named commands below.

import { CODE, HsmError } from '../core/codes.ts';
import type { Core } from '../core/core.ts';
import { assert } from './assert.ts';
import { Membership, type MembershipView } from './membership.ts';
import type { Random } from './random.ts';
import {
  DEFAULT_TIMERS,
  OUTCOMES_MAX,
  REQUEST_OUTCOMES_MAX,
  ReplicaState,
  WRITE_QUEUE_MAX,
  type KeyStore,
  type Outcome,
  type PeerStatus,
  type Forwarded,
  type Probe,
  type Relay,
  type Timers,
  type TxState,
} from './state.ts';
import type {
  ClientRequest,
  Envelope,
  LogRecord,
  MembershipEvents,
  MessageBody,
  NodeAddress,
  NodeId,
  Ready,
  Transaction,
  TxId,
  TxStateName,
  TxStatus,
  WriteRequest,
} from './types.ts';
import * as coordinator from './coordinator.ts';
import * as participant from './participant.ts';
import * as manager from './manager.ts';
import * as forwarding from './forwarding.ts';
import { restore, type ReplicaRecovery } from './restore.ts';

export {
  DEFAULT_TIMERS,
  GROUP_COMMIT_WRITES_MAX,
  OUTCOME_NONE,
  OUTCOME_PENDING,
  OUTCOMES_MAX,
  REQUEST_OUTCOMES_MAX,
  WRITE_QUEUE_MAX,
} from './state.ts';
export type { KeyStore, Outcome, PeerStatus, Timers, TxState } from './state.ts';

/** What the replica tells the live-sync donor session it serves (DonorSession, live-sync.ts;
 * an interface here so that the replica does not import live-sync). */
export interface DonorSessionEvents {
  /** A transaction committed here, in the step that commits it (with the SP it gave here). */
  onCommit(tx: Transaction, sp: bigint, spvv: number): void;
  /** The end of a step with no transaction pending here, before the next one may start: the
   * only moment a joiner can be added safely. */
  onIdle(): void;
  /** A probe reply, with the membership digest its sender had (a donor confirms an add with
   * every member before it lets the joiner in). */
  onProbeReply(from: NodeId, nonce: string, digest: string): void;
}

export interface ReplicaConfig<Store extends KeyStore = Core> {
  readonly id: NodeId;
  readonly core: Store;
  readonly random: Random;
  /** The pool's founding node list (all nodes, this one included). */
  readonly founders: readonly NodeAddress[];
  /** Batch queued writes into one transaction. */
  readonly groupCommit?: boolean;
  readonly timers?: Partial<Timers>;
  /** Membership events beyond the founders (a node that joined by live-sync is not a founder). */
  readonly membership?: MembershipEvents;
}

/** A pending transaction as the console shows it. */
export interface PendingTransaction {
  readonly txid: TxId;
  readonly state: TxStateName;
  readonly role: TxState['role'];
  readonly tick: number;
  readonly coordinator: NodeId;
  /** Every node of the transaction; `pendingAck`: the coordinator still waits for its vote
   * (VIRTUAL) or its acknowledgement. */
  readonly nodes: readonly { readonly id: NodeId; readonly pendingAck: boolean }[];
  readonly event: number;
  readonly sourceUser: string;
  readonly target: string;
}

/** A read-only view of one replica, taken when asked (console, divergence, checkers). */
export interface ReplicaStatus {
  readonly id: NodeId;
  readonly tick: number;
  readonly sp: bigint;
  readonly spvv: number;
  readonly epoch: number;
  readonly digest: string;
  readonly fenced: boolean;
  readonly diverged: boolean;
  readonly timers: Timers;
  /** Members now, sorted by id. */
  readonly members: readonly NodeAddress[];
  /** Every node heard of (founders and added, members or not), sorted by id. */
  readonly nodes: readonly NodeAddress[];
  /** Nodes declared down (fenced), sorted. */
  readonly down: readonly NodeId[];
  readonly peers: ReadonlyMap<NodeId, PeerStatus>;
  readonly pending: readonly PendingTransaction[];
  readonly queueLength: number;
  readonly probes: number;
}

export class Replica<Store extends KeyStore = Core> {
  readonly core: Store;
  private readonly state: ReplicaState;
  /** The live-sync transfer this node serves as a donor, if any (live-sync.ts): the replica
   * tells it of each commit, each step with no transaction pending, and each probe reply. */
  donorSession: DonorSessionEvents | undefined;

  constructor(config: ReplicaConfig<Store>) {
    this.core = config.core;
    const membership = new Membership(config.founders);
    if (config.membership) membership.merge(config.membership);
    if (!membership.isMember(config.id))
      throw new HsmError(
        CODE.INVALID_OPERATION,
        `node ${config.id} is not in the founding node list`,
      );
    this.state = new ReplicaState({
      id: config.id,
      store: config.core,
      random: config.random,
      timers: { ...DEFAULT_TIMERS, ...config.timers },
      groupCommit: config.groupCommit ?? true,
      membership,
      persisted: (record) => this.persist(record),
    });
  }

  /** Puts back what recovery found in the log (restore.ts); before the first input. */
  restore(recovery: ReplicaRecovery): void {
    restore(this.state, recovery);
  }

  // ---- inputs ----

  request(request: ClientRequest): void {
    if (request.kind === 'write' && request.attempt !== undefined)
      this.state.lastAttempt = Math.max(this.state.lastAttempt, request.attempt);
    if (request.kind === 'node-down') manager.nodeDown(this.state, request);
    else if (request.kind === 'leave') manager.leave(this.state, request.requestId);
    else if (request.kind === 'outcome')
      this.state.reply({ requestId: request.requestId, ...this.outcomeOf(request.subject) });
    else coordinator.submit(this.state, request);
    this.settle();
  }

  receive(envelope: Envelope): void {
    if (envelope.to !== this.id) return;
    if (this.admit(envelope)) this.dispatch(envelope);
    this.settle();
  }

  tick(): void {
    this.state.now++;
    manager.onTick(this.state);
    for (const back of forwarding.onTick(this.state)) coordinator.submit(this.state, back, false);
    this.settle();
  }

  /** Takes what the last steps produced. */
  ready(): Ready {
    return this.state.take();
  }

  /** The records produced and not yet taken by `ready()` (the simulator's history checks). */
  get persisting(): readonly LogRecord[] {
    return this.state.persisting;
  }

  hasReady(): boolean {
    return this.state.hasOutput();
  }

  // ---- outputs ----

  /** Every record as the state persists it: commits go to the live-sync donor session too. */
  private persist(record: LogRecord): void {
    if (record.type === 'commit' && this.donorSession) {
      const held = this.state.transactions.get(record.txid);
      if (held) this.donorSession.onCommit(held.tx, record.sp, record.spvv);
    }
  }

  /** A message to a peer, stamped like every other (live-sync's donor sends through this). */
  send(to: NodeId, body: MessageBody): void {
    this.state.send(to, body);
  }

  // ---- commands from outside ----

  /**
   * A caller stopped waiting for a write: if it is still only queued it leaves the queue, so it
   * can never start (true: it is certainly not committed). In a transaction, or not here, it is
   * left alone (false): its outcome is pending, the transaction goes on.
   */
  withdraw(requestId: string): boolean {
    const at = this.state.queue.findIndex((queued) => queued.requestId === requestId);
    if (at < 0) return false;
    this.state.queue.splice(at, 1);
    return true;
  }

  /** A write's outcome learned outside the protocol (the outcomes a live-sync brought). */
  rememberRequest(requestId: string, outcome: Outcome): void {
    this.state.rememberRequest(requestId, outcome);
  }

  /** A node a live-sync donor lets in: logged, and what waited on the membership re-evaluated. */
  addMember(node: NodeAddress): boolean {
    if (!this.state.membership.add(node)) return false;
    manager.membershipChanged(this.state, { added: [node], down: [] });
    return true;
  }

  /** Membership events learned out of band (a recovered log, a test): merged as a peer's
   * MEMBERSHIP message would be, fencing included. */
  mergeMembership(events: MembershipEvents): void {
    const changes = this.state.membership.merge(events);
    if (changes.added.length + changes.down.length > 0)
      manager.membershipChanged(this.state, changes);
  }

  // ---- read-only views ----

  get id(): NodeId {
    return this.state.id;
  }

  get now(): number {
    return this.state.now;
  }

  get fenced(): boolean {
    return this.state.fenced;
  }

  get diverged(): boolean {
    return this.state.diverged;
  }

  get timers(): Timers {
    return this.state.timers;
  }

  get random(): Random {
    return this.state.random;
  }

  /** The membership, read-only: it changes through addMember, mergeMembership and the protocol. */
  get membership(): MembershipView {
    return this.state.membership;
  }

  get transactions(): ReadonlyMap<TxId, Readonly<TxState>> {
    return this.state.transactions;
  }

  /** Recently decided transactions (true = committed), oldest first. */
  get outcomes(): ReadonlyMap<TxId, boolean> {
    return this.state.outcomes;
  }

  get requestOutcomes(): ReadonlyMap<string, Outcome> {
    return this.state.requestOutcomes;
  }

  /** The remembered request outcomes as entry bytes, oldest first (wire/outcome-entries.ts):
   * what a checkpoint's blob and a live-sync donor carry, copied rather than encoded. */
  requestOutcomeEntries(): Uint8Array {
    return this.state.requestOutcomeEntries.entries(this.state.requestOutcomes);
  }

  get queue(): readonly WriteRequest[] {
    return this.state.queue;
  }

  get peers(): ReadonlyMap<NodeId, PeerStatus> {
    return this.state.peers;
  }

  get probes(): ReadonlyMap<string, Probe> {
    return this.state.probes;
  }

  /** Writes this member forwarded and still waits to hear of (forwarding.ts). */
  get forwarded(): ReadonlyMap<string, Forwarded> {
    return this.state.forwarded;
  }

  /** Forwarded writes held here whose outcome goes back to their member. */
  get relayTo(): ReadonlyMap<string, ReadonlyMap<NodeId, Relay>> {
    return this.state.relayTo;
  }

  /** Members now, sorted by id. */
  members(): NodeAddress[] {
    return this.state.membership.members();
  }

  peersInPool(): NodeId[] {
    return this.state.peersInPool();
  }

  /** What this node can say of a write's outcome (state.ts). */
  outcomeOf(requestId: string): { code: number; txid?: TxId } {
    return this.state.outcomeOf(requestId);
  }

  whereIs(requestId: string): 'queued' | 'transaction' | undefined {
    return this.state.whereIs(requestId);
  }

  statusOf(txid: TxId): TxStatus {
    return this.state.statusOf(txid);
  }

  hasPendingTransaction(): boolean {
    return this.state.hasPendingTransaction();
  }

  /** The newest `max` transactions decided here, oldest first. */
  recentlyDecided(max: number): TxId[] {
    return [...this.state.outcomes.keys()].slice(-max);
  }

  status(): ReplicaStatus {
    const state = this.state;
    const membership = state.membership;
    const sp = state.store.syncPoint();
    const events = membership.events();
    return {
      id: state.id,
      tick: state.now,
      sp: sp.sp,
      spvv: sp.spvv,
      epoch: membership.epoch,
      digest: membership.digest(),
      fenced: state.fenced,
      diverged: state.diverged,
      timers: state.timers,
      members: membership.members(),
      nodes: [...events.founders, ...events.added].sort((a, b) => (a.id < b.id ? -1 : 1)),
      down: events.down,
      peers: new Map(state.peers),
      pending: this.pending(),
      queueLength: state.queue.length,
      probes: state.probes.size,
    };
  }

  /**
   * The invariants local to this replica (the simulator checks them after every step; a
   * broken one is fail-stop). At most one transaction in the PTL: a participant refuses a
   * PREPARE (busy) and a coordinator starts none while it holds one. Between steps a
   * participant's is PREPARED (it leaves the PTL as it is decided) and a coordinator's
   * VIRTUAL or COMMITTED (waiting for acks; an abort leaves at once). A fenced node queues
   * nothing (its commits are refused by ReplicaState.persist). Everything within its limit.
   */
  checkInvariants(): void {
    const state = this.state;
    assert(
      state.transactions.size <= 1,
      `${state.id} holds ${state.transactions.size} transactions`,
    );
    for (const held of state.transactions.values()) {
      const coordinating = held.tx.coordinator === state.id;
      assert(
        (held.role === 'coordinator') === coordinating,
        `${state.id} holds ${held.tx.txid} as ${held.role} of coordinator ${held.tx.coordinator}`,
      );
      const allowed: readonly TxStateName[] = coordinating
        ? ['VIRTUAL', 'COMMITTED']
        : ['PREPARED'];
      assert(
        allowed.includes(held.state),
        `${state.id} holds ${held.role}'s transaction ${held.tx.txid} in state ${held.state}`,
      );
    }
    if (state.fenced) {
      assert(state.queue.length === 0, `fenced ${state.id} still queues writes`);
      assert(state.membership.isFenced(state.id), `${state.id} fenced but a member`);
    }
    assert(state.queue.length <= WRITE_QUEUE_MAX, `${state.id}: queue over WRITE_QUEUE_MAX`);
    assert(state.outcomes.size <= OUTCOMES_MAX, `${state.id}: outcomes over OUTCOMES_MAX`);
    assert(
      state.requestOutcomes.size <= REQUEST_OUTCOMES_MAX,
      `${state.id}: request outcomes over REQUEST_OUTCOMES_MAX`,
    );
  }

  // ---- envelope checks ----

  /** Epoch, membership and fencing checks every message passes before its handler. */
  private admit(envelope: Envelope): boolean {
    const state = this.state;
    const body = envelope.body;
    if (body.type === 'probe') {
      state.send(envelope.from, { type: 'probe-reply', nonce: body.nonce });
      return false;
    }
    if (body.type === 'probe-reply')
      this.donorSession?.onProbeReply(envelope.from, body.nonce, envelope.digest);
    if (body.type === 'probe-reply' || body.type === 'membership') return true;
    // Live-sync messages are the appliance's (live-sync.ts), never the state machine's.
    if (body.type.startsWith('live-sync-')) return false;
    if (state.fenced) return false;
    if (state.membership.isFenced(envelope.from) || envelope.digest !== state.membership.digest()) {
      // Tell the sender what we know; it merges and its manager retries.
      state.send(envelope.from, { type: 'membership', membership: state.membership.events() });
      return false;
    }
    const previous = state.peers.get(envelope.from);
    state.peers.set(envelope.from, {
      sp: envelope.sp,
      spvv: envelope.spvv,
      epoch: envelope.epoch,
      digest: envelope.digest,
      tick: state.now,
      notSynced: previous?.notSynced ?? false,
    });
    return true;
  }

  private dispatch(envelope: Envelope): void {
    const state = this.state;
    const body = envelope.body;
    switch (body.type) {
      case 'prepare':
        return participant.onPrepare(state, envelope.from, body.tx);
      case 'vote':
        return coordinator.onVote(
          state,
          envelope.from,
          body.txid,
          body.yes,
          this.voteCode(envelope, body.txid, body.yes, body.code),
        );
      case 'decision':
        return participant.onDecision(state, envelope.from, body.txid, body.commit);
      case 'ack':
        return coordinator.onAck(state, envelope.from, body.txid);
      case 'query':
        return state.send(envelope.from, {
          type: 'status',
          txid: body.txid,
          status: manager.answerQuery(state, body.txid),
        });
      case 'status':
        return manager.onStatus(state, envelope.from, body.txid, body.status);
      case 'probe-reply':
        return manager.onProbeReply(state, body.nonce);
      case 'membership':
        return manager.onMembership(state, envelope.from, body.membership);
      case 'forward':
        return forwarding.onForward(state, envelope.from, body.write);
      case 'forward-reply': {
        const back = forwarding.onForwardReply(state, envelope.from, body);
        if (back) coordinator.submit(state, back, false);
        return;
      }
      case 'probe':
      case 'heartbeat':
        return;
    }
  }

  /** A PREPARE refused because the membership grew under it (a node-down or a live-sync join
   * raised the voter's epoch past the transaction's) is a race, not a fault: the writes get the
   * retryable busy code and the next transaction carries the new membership. */
  private voteCode(envelope: Envelope, txid: TxId, yes: boolean, code: number): number {
    if (yes || code !== CODE.TRANS_MISMATCH) return code;
    const held = this.state.transactions.get(txid);
    return held && envelope.epoch > held.tx.epoch ? CODE.REPLICATION_BUSY : code;
  }

  /** After every input: start the next transaction if the pool is free here. */
  private settle(): void {
    participant.resumeDeferred(this.state);
    if (this.donorSession && !this.hasPendingTransaction()) this.donorSession.onIdle();
    coordinator.startNext(this.state);
  }

  /** The pending transactions as the console shows them. */
  pending(): PendingTransaction[] {
    const state = this.state;
    return [...state.transactions.values()].map((held) => ({
      txid: held.tx.txid,
      state: held.state,
      role: held.role,
      tick: held.tx.tick,
      coordinator: held.tx.coordinator,
      event: held.tx.event,
      sourceUser: held.tx.sourceUser,
      target: held.tx.target,
      nodes: [held.tx.coordinator, ...held.tx.participants].map((id) => ({
        id,
        pendingAck:
          held.role === 'coordinator' &&
          id !== state.id &&
          !state.membership.isFenced(id) &&
          !(held.state === 'VIRTUAL' ? held.votes.has(id) : held.acks.has(id)),
      })),
    }));
  }
}
