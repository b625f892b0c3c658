// One appliance's replication state machine (etcd/raft's shape): `request`, `receive` and
// `tick` feed it; `ready()` returns what to persist, send and reply. It does no I/O and
// reads no clock: time arrives as ticks, randomness from a seeded generator. The key store
// (host/core) is pure computation and lives inside it.
//
// The protocol (docs/PROTOCOL.md): synchronous multi-master 2PC, one pending transaction
// pool-wide, every message stamped with epoch, membership digest and Sync-Point.
// Coordinator logic: coordinator.ts; participant: participant.ts; replication manager,
// cooperative termination and node-down: manager.ts.

import { HsmError } from '../core/codes.ts';
import type { Core } from '../core/core.ts';
import { Membership } from './membership.ts';
import type { Random } from './random.ts';
import type {
  ClientReply,
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
import { batchRequestIdsHex } from '../core/batch.ts';

/** A write queued or in a transaction here: its outcome is not known yet (38720). */
export const OUTCOME_PENDING = 38720;
/** No outcome, queue entry or transaction here for that request id (38721). */
export const OUTCOME_NONE = 38721;

export interface Timers {
  /** Ticks between replication-manager pulses (re-sends, queries, anti-entropy). */
  readonly managerPulseTicks: number;
  /** Ticks a prepared participant waits before it asks about the outcome. */
  readonly inDoubtTicks: number;
  /** Ticks node-down waits for the node to answer a probe before it fences it. */
  readonly probeTimeoutTicks: number;
  /** Ticks between heartbeats to every peer in the pool (0: none; the simulator runs without,
   * live nodes send one a second so an idle pool's SPs and liveness stay fresh). */
  readonly heartbeatTicks: number;
}

export const DEFAULT_TIMERS: Timers = {
  managerPulseTicks: 10,
  inDoubtTicks: 20,
  probeTimeoutTicks: 30,
  heartbeatTicks: 0,
};

/** What the replica tells the live-sync donor session it serves (DonorSession, live-sync.ts;
 * an interface here so that the replica does not import live-sync). */
export interface DonorSessionEvents {
  /** A transaction committed here, in the step that commits it (with the SP it gave here). */
  onCommit(tx: Transaction, sp: string, spvv: number): void;
  /** The end of a step with no transaction pending here, before the next one may start: the
   * only moment a joiner can be added safely. */
  onIdle(): void;
  /** A probe reply, with the membership digest its sender had (a donor confirms an add with
   * every member before it lets the joiner in). */
  onProbeReply(from: NodeId, nonce: string, digest: string): void;
}

/** Writes queued at a coordinator waiting for the next transaction. */
export const WRITE_QUEUE_MAX = 1024;
/** Writes in one transaction with group commit (BATCH_WRITES_MAX of the core). */
export const GROUP_COMMIT_WRITES_MAX = 256;
/** Decided transactions remembered to answer late and duplicate messages. */
export const OUTCOMES_MAX = 4096;
/** Request ids remembered so a retried write gets its original outcome. */
export const REQUEST_OUTCOMES_MAX = 65536;

const carriedIds = new WeakMap<Transaction, Set<string>>();

export interface ReplicaConfig {
  readonly id: NodeId;
  readonly core: Core;
  readonly random: Random;
  /** The pool's founding node list (all nodes, this one included). */
  readonly founders: readonly NodeAddress[];
  /** Batch queued writes into one transaction. */
  readonly groupCommit?: boolean;
  readonly timers?: Partial<Timers>;
  /** Membership events beyond the founders (a node that joined by live-sync is not a founder). */
  readonly membership?: MembershipEvents;
}

/** A transaction this node holds: its PTL entry. */
export interface TxState {
  readonly tx: Transaction;
  readonly role: 'coordinator' | 'participant';
  state: TxStateName;
  /** Coordinator: participants that voted yes. */
  readonly votes: Set<NodeId>;
  /** Coordinator: participants that acknowledged the decision. */
  readonly acks: Set<NodeId>;
  /** Coordinator: the client writes this transaction carries, in batch order. */
  readonly requests: WriteRequest[];
  /** Tick of the last state change or query. */
  since: number;
  /** Participant in doubt: statuses gathered from peers. */
  readonly statuses: Map<NodeId, TxStatus>;
}

export interface PeerStatus {
  readonly sp: string;
  readonly spvv: number;
  readonly epoch: number;
  readonly digest: string;
  readonly tick: number;
  /** Set when this peer refused a PREPARE because its SP differed (it or we diverged). */
  readonly notSynced: boolean;
}

export type Outcome = { readonly code: number; readonly txid: TxId };

export class Replica {
  readonly id: NodeId;
  readonly core: Core;
  readonly random: Random;
  readonly timers: Timers;
  readonly groupCommit: boolean;
  readonly membership: Membership;
  /** PTL: transactions not yet resolved here (normally at most one). */
  readonly transactions = new Map<TxId, TxState>();
  /** Recently decided transactions: true = committed. */
  readonly outcomes = new Map<TxId, boolean>();
  readonly requestOutcomes = new Map<string, Outcome>();
  readonly queue: WriteRequest[] = [];
  readonly peers = new Map<NodeId, PeerStatus>();
  /** Node-down requests waiting for their probe to time out, by probe nonce. */
  readonly probes = new Map<string, { node: NodeId; requestId: string; deadline: number }>();
  now = 0;
  /** After a transaction aborted on a busy vote, the next one waits until this tick (jitter
   * breaks the symmetry of coordinators that keep colliding). */
  backoffUntil = 0;
  /** This node was declared down: it never commits again. */
  fenced = false;
  /** Committing here gave another SP than the coordinator's: this node's state diverged. */
  diverged = false;
  private output: Ready = { persist: [], messages: [], replies: [] };
  /** The highest submission token (WriteRequest.attempt) this replica has been given. */
  private lastAttempt = 0;
  /** The live-sync transfer this node serves as a donor, if any (live-sync.ts): the replica
   * tells it of each commit, each step with no transaction pending, and each probe reply. */
  donorSession: DonorSessionEvents | undefined;

  constructor(config: ReplicaConfig) {
    this.id = config.id;
    this.core = config.core;
    this.random = config.random;
    this.timers = { ...DEFAULT_TIMERS, ...config.timers };
    this.groupCommit = config.groupCommit ?? true;
    this.membership = new Membership(config.founders);
    if (config.membership) this.membership.merge(config.membership);
    if (!this.membership.isMember(this.id))
      throw new HsmError(37017, `node ${this.id} is not in the founding node list`);
  }

  // ---- inputs ----

  request(request: ClientRequest): void {
    if (request.kind === 'write' && request.attempt !== undefined)
      this.lastAttempt = Math.max(this.lastAttempt, request.attempt);
    if (request.kind === 'node-down') manager.nodeDown(this, request);
    else if (request.kind === 'leave') manager.leave(this, request.requestId);
    else if (request.kind === 'outcome')
      this.reply({ requestId: request.requestId, ...this.outcomeOf(request.subject) });
    else coordinator.submit(this, request);
    this.settle();
  }

  receive(envelope: Envelope): void {
    if (envelope.to !== this.id) return;
    if (this.admit(envelope)) this.dispatch(envelope);
    this.settle();
  }

  tick(): void {
    this.now++;
    manager.onTick(this);
    this.settle();
  }

  /** Takes what the last steps produced. */
  ready(): Ready {
    const out = this.output;
    this.output = { persist: [], messages: [], replies: [] };
    return out;
  }

  /** The records produced and not yet taken by `ready()` (the simulator's history checks). */
  get persisting(): readonly LogRecord[] {
    return this.output.persist;
  }

  hasReady(): boolean {
    return (
      this.output.persist.length + this.output.messages.length + this.output.replies.length > 0
    );
  }

  // ---- outputs (used by coordinator.ts, participant.ts, manager.ts) ----

  persist(record: LogRecord): void {
    this.output.persist.push(record);
    if (record.type === 'commit' && this.donorSession) {
      const held = this.transactions.get(record.txid);
      if (held) this.donorSession.onCommit(held.tx, record.sp, record.spvv);
    }
  }

  send(to: NodeId, body: MessageBody): void {
    const sp = this.core.syncPoint();
    this.output.messages.push({
      from: this.id,
      to,
      epoch: this.membership.epoch,
      digest: this.membership.digest(),
      sp: sp.hex,
      spvv: sp.spvv,
      body,
    });
  }

  /** An outcome reply answers the submissions made before it (attempt <= upToAttempt): the
   * host delivers it only once its batch is durable, and a submission of the same request id
   * made meanwhile (queued anew after an abort, say) is not the one it speaks of. */
  reply(reply: ClientReply): void {
    this.output.replies.push(
      reply.attempt === undefined ? { ...reply, upToAttempt: this.lastAttempt } : reply,
    );
  }

  fail(requestId: string, code: number): void {
    this.reply({ requestId, code });
  }

  // ---- request ids in flight ----

  /** The request ids a transaction carries, from its batch: a participant's and a restarted
   * coordinator's too (their `requests` are empty). */
  requestIdsOf(tx: Transaction): ReadonlySet<string> {
    let ids = carriedIds.get(tx);
    if (!ids) {
      ids = new Set(batchRequestIdsHex(tx.batch).filter((id): id is string => id !== undefined));
      carriedIds.set(tx, ids);
    }
    return ids;
  }

  /** Where a write is here: queued (it has not started), in a transaction (VIRTUAL, PREPARED or
   * in doubt: it may commit), or neither. */
  whereIs(requestId: string): 'queued' | 'transaction' | undefined {
    if (this.queue.some((queued) => queued.requestId === requestId)) return 'queued';
    for (const held of this.transactions.values()) {
      if (held.state === 'ABORTED') continue;
      if (this.requestIdsOf(held.tx).has(requestId)) return 'transaction';
    }
    return undefined;
  }

  /**
   * A caller stopped waiting for a write: if it is still only queued it leaves the queue, so it
   * can never start (true: it is certainly not committed). In a transaction, or not here, it is
   * left alone (false): its outcome is pending, the transaction goes on.
   */
  withdraw(requestId: string): boolean {
    const at = this.queue.findIndex((queued) => queued.requestId === requestId);
    if (at < 0) return false;
    this.queue.splice(at, 1);
    return true;
  }

  /** What this node can say of a write's outcome: remembered (its code and txid), pending
   * (queued or in a transaction here) or none (OUTCOME_NONE; docs/CLIENT.md "Outcomes"). */
  outcomeOf(requestId: string): { code: number; txid?: TxId } {
    if (this.fenced) return { code: 38502 };
    const known = this.requestOutcomes.get(requestId);
    if (known) return { code: known.code, txid: known.txid };
    return { code: this.whereIs(requestId) ? OUTCOME_PENDING : OUTCOME_NONE };
  }

  // ---- state helpers ----

  /** Members other than this node. */
  peersInPool(): NodeId[] {
    return this.membership.memberIds().filter((id) => id !== this.id);
  }

  /** True while any transaction is unresolved here: new distributed writes get busy. */
  hasPendingTransaction(): boolean {
    return this.transactions.size > 0;
  }

  remember(txid: TxId, committed: boolean): void {
    this.outcomes.set(txid, committed);
    if (this.outcomes.size > OUTCOMES_MAX) this.outcomes.delete(this.outcomes.keys().next().value!);
  }

  rememberRequest(requestId: string, outcome: Outcome): void {
    this.requestOutcomes.set(requestId, outcome);
    if (this.requestOutcomes.size > REQUEST_OUTCOMES_MAX)
      this.requestOutcomes.delete(this.requestOutcomes.keys().next().value!);
  }

  /** What this node knows of a transaction. */
  statusOf(txid: TxId): TxStatus {
    const outcome = this.outcomes.get(txid);
    if (outcome !== undefined) return outcome ? 'committed' : 'aborted';
    const held = this.transactions.get(txid);
    if (!held) return 'unknown';
    if (held.state === 'COMMITTED' || held.state === 'COMMITTED_TM') return 'committed';
    if (held.state === 'ABORTED') return 'aborted';
    return held.role === 'coordinator' ? 'undecided' : 'prepared';
  }

  /** Membership changed (merged or node-down): fenced? re-evaluate what waited on the fenced. */
  onMembershipChanged(newEvents: { added: readonly NodeAddress[]; down: readonly NodeId[] }): void {
    const epoch = this.membership.epoch;
    for (const node of newEvents.added) this.persist({ type: 'node-added', node, epoch });
    for (const node of newEvents.down) this.persist({ type: 'node-down', node, epoch });
    if (this.membership.isFenced(this.id) && !this.fenced) {
      this.fenced = true;
      for (const request of this.queue.splice(0)) this.fail(request.requestId, 38502);
    }
    for (const held of [...this.transactions.values()]) {
      if (held.role === 'coordinator') coordinator.reevaluate(this, held);
      else held.since = Math.min(held.since, this.now - this.timers.inDoubtTicks);
    }
  }

  // ---- envelope checks ----

  /** Epoch, membership and fencing checks every message passes before its handler. */
  private admit(envelope: Envelope): boolean {
    const body = envelope.body;
    if (body.type === 'probe') {
      this.send(envelope.from, { type: 'probe-reply', nonce: body.nonce });
      return false;
    }
    if (body.type === 'probe-reply')
      this.donorSession?.onProbeReply(envelope.from, body.nonce, envelope.digest);
    if (body.type === 'probe-reply' || body.type === 'membership') return true;
    // Live-sync messages are the appliance's (live-sync.ts), never the state machine's.
    if (body.type.startsWith('live-sync-')) return false;
    if (this.fenced) return false;
    if (this.membership.isFenced(envelope.from) || envelope.digest !== this.membership.digest()) {
      // Tell the sender what we know; it merges and its manager retries.
      this.send(envelope.from, { type: 'membership', membership: this.membership.events() });
      return false;
    }
    const previous = this.peers.get(envelope.from);
    this.peers.set(envelope.from, {
      sp: envelope.sp,
      spvv: envelope.spvv,
      epoch: envelope.epoch,
      digest: envelope.digest,
      tick: this.now,
      notSynced: previous?.notSynced ?? false,
    });
    return true;
  }

  markPeerSynced(peer: NodeId, synced: boolean): void {
    const status = this.peers.get(peer);
    if (status) this.peers.set(peer, { ...status, notSynced: !synced });
  }

  private dispatch(envelope: Envelope): void {
    const body = envelope.body;
    switch (body.type) {
      case 'prepare':
        return participant.onPrepare(this, envelope.from, body.tx);
      case 'vote':
        return coordinator.onVote(
          this,
          envelope.from,
          body.txid,
          body.yes,
          this.voteCode(envelope, body.txid, body.yes, body.code),
        );
      case 'decision':
        return participant.onDecision(this, envelope.from, body.txid, body.commit);
      case 'ack':
        return coordinator.onAck(this, envelope.from, body.txid);
      case 'query':
        return this.send(envelope.from, {
          type: 'status',
          txid: body.txid,
          status: manager.answerQuery(this, body.txid),
        });
      case 'status':
        return manager.onStatus(this, envelope.from, body.txid, body.status);
      case 'probe-reply':
        return manager.onProbeReply(this, body.nonce);
      case 'membership':
        return manager.onMembership(this, envelope.from, body.membership);
      case 'probe':
      case 'heartbeat':
        return;
    }
  }

  /** A PREPARE refused because the membership grew under it (a node-down or a live-sync join
   * raised the voter's epoch past the transaction's) is a race, not a fault: the writes get the
   * retryable busy code and the next transaction carries the new membership. */
  private voteCode(envelope: Envelope, txid: TxId, yes: boolean, code: number): number {
    if (yes || code !== 37030) return code;
    const held = this.transactions.get(txid);
    return held && envelope.epoch > held.tx.epoch ? 36000 : code;
  }

  /** After every input: start the next transaction if the pool is free here. */
  private settle(): void {
    if (this.donorSession && !this.hasPendingTransaction()) this.donorSession.onIdle();
    coordinator.startNext(this);
  }

  // ---- views ----

  /** The pending transactions as the console shows them. */
  pending(): {
    txid: TxId;
    state: TxStateName;
    role: string;
    tick: number;
    coordinator: NodeId;
    nodes: { id: NodeId; pendingAck: boolean }[];
    event: number;
    sourceUser: string;
    target: string;
  }[] {
    return [...this.transactions.values()].map((held) => ({
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
          id !== this.id &&
          !this.membership.isFenced(id) &&
          !(held.state === 'VIRTUAL' ? held.votes.has(id) : held.acks.has(id)),
      })),
    }));
  }
}
