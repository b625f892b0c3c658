// The only mutable protocol data of one replica (its PTL, decided outcomes, write queue, what
// it knows of its peers, the tick), its limits, and the helpers that accumulate a step's
// output (the Ready). coordinator.ts, participant.ts, manager.ts and restore.ts change it;
// replica.ts dispatches inputs to them and is the only door from outside.

import { OutcomeEntryRing } from '../wire/outcome-ring.ts';
import { CODE } from '../core/codes.ts';
import { batchRequestIdsHex } from '../core/batch.ts';
import { assert } from './assert.ts';
import type { Membership } from './membership.ts';
import type { Random } from './random.ts';
import type {
  ClientReply,
  Envelope,
  LogRecord,
  MessageBody,
  NodeId,
  Ready,
  Transaction,
  TxId,
  TxStateName,
  TxStatus,
  WriteRequest,
  SyncPointValue,
} from './types.ts';
import { OldestFirst } from '../wire/oldest-first.ts';

/** A write queued or in a transaction here: its outcome is not known yet (38720). */
export const OUTCOME_PENDING = CODE.WRITE_OUTCOME_PENDING;
/** No outcome, queue entry or transaction here for that request id (38721). */
export const OUTCOME_NONE = CODE.REQUEST_ID_UNKNOWN;

/** Writes queued at a coordinator waiting for the next transaction. */
export const WRITE_QUEUE_MAX = 1024;
/** Writes in one transaction with group commit (BATCH_WRITES_MAX of the core). */
export const GROUP_COMMIT_WRITES_MAX = 256;
/** Times one write goes back to its coordinator's queue after its transaction lost a
 * collision (a busy no-vote); after that its caller is told busy (36000). */
export const BUSY_REQUEUES_MAX = 8;
/** Decided transactions remembered to answer late and duplicate messages. */
export const OUTCOMES_MAX = 4096;
/** Request ids remembered so a retried write gets its original outcome. */
export const REQUEST_OUTCOMES_MAX = 65536;
/** Writes this member has forwarded and waits to hear of (forwarding.ts). */
export const FORWARDED_MAX = 1024;
/** Forwarded writes a coordinator relays outcomes for. */
export const RELAYED_MAX = 4096;

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

/** The key store as the protocol uses it: exactly these two calls of host/core's Core, so a
 * protocol test can run on a small fake store without the wasm. */
export interface KeyStore {
  syncPoint(): SyncPointValue;
  /** Applies a batch (`dryRun`: computes results and the SP after, changes nothing); throws
   * HsmError for a batch it cannot apply. */
  apply(
    batch: Uint8Array,
    dryRun?: boolean,
  ): {
    readonly writeResults: readonly number[];
    readonly syncPoint: SyncPointValue;
  };
}

/** Which state may follow which (the only way a transaction's state changes: `enterState`).
 * A coordinator's transaction begins VIRTUAL, a participant's PREPARED; the ends are final. */
export const TX_TRANSITIONS: Readonly<Record<TxStateName, readonly TxStateName[]>> = {
  VIRTUAL: ['COMMITTED', 'ABORTED'],
  PREPARED: ['COMMITTED', 'COMMITTED_TM', 'ABORTED'],
  COMMITTED: [],
  COMMITTED_TM: [],
  ABORTED: [],
};

/** A transaction this node holds: its PTL entry. */
export interface TxState {
  readonly tx: Transaction;
  readonly role: 'coordinator' | 'participant';
  /** Changed only by `enterState` (the transition table). */
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
  /** Undefined until the peer's first message with its SP. */
  readonly sp: bigint | undefined;
  readonly spvv: number;
  readonly epoch: number;
  readonly digest: string;
  readonly tick: number;
  /** Set when this peer refused a PREPARE because its SP differed (it or we diverged). */
  readonly notSynced: boolean;
}

export type Outcome = { readonly code: number; readonly txid: TxId };

/** A forwarded write queued at this coordinator: whom to tell its outcome, until when it may
 * stay only queued, and whether the forward queued it (or found it here already). */
export interface Relay {
  readonly to: NodeId;
  readonly deadline: number;
  readonly queuedByForward: boolean;
}

/** The key of a member's forward of one write (each member that forwarded it gets an answer). */
export const forwardKey = (requestId: string, member: NodeId): string => `${requestId}/${member}`;

/** A coordinator's final answer to a member's forward. */
export interface ForwardAnswer {
  readonly requestId: string;
  readonly code: number;
  readonly txid: TxId | undefined;
  readonly refused: boolean;
  readonly to: NodeId;
  readonly tick: number;
}

/** A write this member forwarded: the submission itself (to run it here if it comes back) and
 * where and when it went. */
export interface Forwarded {
  readonly request: WriteRequest;
  readonly to: NodeId;
  readonly tick: number;
}

export interface Probe {
  readonly node: NodeId;
  readonly requestId: string;
  readonly deadline: number;
  /** A node-down's probe of its target: the other members that answered their witness probe. */
  readonly witnesses?: Set<NodeId>;
  /** A witness probe: the nonce of the node-down probe it counts for. */
  readonly witnessFor?: string;
}

/** Moves a transaction to its next state; an illegal transition is a bug (fail-stop). */
export function enterState(held: TxState, next: TxStateName): void {
  assert(
    TX_TRANSITIONS[held.state].includes(next),
    `transaction ${held.tx.txid} (${held.role}) may not go from ${held.state} to ${next}`,
  );
  held.state = next;
}

export interface ReplicaContext {
  readonly id: NodeId;
  readonly store: KeyStore;
  readonly random: Random;
  readonly timers: Timers;
  readonly groupCommit: boolean;
  readonly membership: Membership;
  /** Told of every record as it is persisted (the replica's commit observers). */
  readonly persisted?: (record: LogRecord) => void;
}

const carriedIds = new WeakMap<Transaction, Set<string>>();

export class ReplicaState {
  readonly id: NodeId;
  readonly store: KeyStore;
  readonly random: Random;
  readonly timers: Timers;
  readonly groupCommit: boolean;
  readonly membership: Membership;
  /** PTL: transactions not yet resolved here (normally at most one). */
  readonly transactions = new Map<TxId, TxState>();
  /** Recently decided transactions: true = committed. */
  readonly outcomes = new Map<TxId, boolean>();
  readonly requestOutcomes = new Map<string, Outcome>();
  private readonly outcomesOldest = new OldestFirst(this.outcomes);
  private readonly requestOutcomesOldest = new OldestFirst(this.requestOutcomes);
  /** requestOutcomes as entry bytes, for checkpoints and live-sync donors (outcome-ring.ts). */
  readonly requestOutcomeEntries = new OutcomeEntryRing(REQUEST_OUTCOMES_MAX);
  readonly queue: WriteRequest[] = [];
  readonly peers = new Map<NodeId, PeerStatus>();
  /** Node-down requests waiting for their probe to time out, by probe nonce. */
  readonly probes = new Map<string, Probe>();
  /** PREPAREs that met this node's pending transaction and wait for it to end instead of being
   * refused (participant.ts `mayWait`): at most one per coordinator, the latest it sent. */
  readonly deferred = new Map<NodeId, Transaction>();
  /** Writes this member forwarded to a coordinator, by request id (forwarding.ts). */
  readonly forwarded = new Map<string, Forwarded>();
  /** Forwarded writes queued here, by request id: the member to tell their outcome. */
  readonly relayTo = new Map<string, Map<NodeId, Relay>>();
  /** Final answers given to forwards lately, by request id and member (`forwardKey`). */
  readonly forwardAnswers = new Map<string, ForwardAnswer>();
  private readonly forwardAnswersOldest = new OldestFirst(this.forwardAnswers);
  /** Until this tick every forward is refused: a node restored from its storage lost the
   * answers it gave before (restore.ts, forwarding.ts). */
  forwardsRefusedUntil = 0;
  /** The coordinator of the last transaction committed here, and when. */
  lastCoordinator: { readonly id: NodeId; readonly tick: number } | undefined;
  now = 0;
  /** This node was declared down: it never commits again. */
  fenced = false;
  /** Committing here gave another SP than the coordinator's: this node's state diverged. */
  diverged = false;
  /** The highest submission token (WriteRequest.attempt) this replica has been given. */
  lastAttempt = 0;
  private output: Ready = { persist: [], early: [], messages: [], replies: [] };
  private readonly persisted: ((record: LogRecord) => void) | undefined;

  constructor(context: ReplicaContext) {
    this.id = context.id;
    this.store = context.store;
    this.random = context.random;
    this.timers = context.timers;
    this.groupCommit = context.groupCommit;
    this.membership = context.membership;
    this.persisted = context.persisted;
  }

  // ---- output: the Ready accumulation ----

  /** Takes what the last steps produced. */
  take(): Ready {
    const out = this.output;
    this.output = { persist: [], early: [], messages: [], replies: [] };
    return out;
  }

  /** The records produced and not yet taken. */
  get persisting(): readonly LogRecord[] {
    return this.output.persist;
  }

  hasOutput(): boolean {
    return (
      this.output.persist.length +
        this.output.early.length +
        this.output.messages.length +
        this.output.replies.length >
      0
    );
  }

  persist(record: LogRecord): void {
    assert(
      !(record.type === 'commit' && this.fenced),
      `fenced node ${this.id} may not commit ${record.type === 'commit' ? record.txid : ''}`,
    );
    this.output.persist.push(record);
    this.persisted?.(record);
  }

  send(to: NodeId, body: MessageBody): void {
    this.output.messages.push(this.envelope(to, body));
  }

  /** A message that promises nothing, so the host may send it before this step's records are
   * durable (Ready.early): only a coordinator's first PREPARE of a transaction (coordinator.ts
   * `begin`). */
  sendEarly(to: NodeId, body: MessageBody & { type: 'prepare' }): void {
    this.output.early.push(this.envelope(to, body));
  }

  private envelope(to: NodeId, body: MessageBody): Envelope {
    const sp = this.store.syncPoint();
    return {
      from: this.id,
      to,
      epoch: this.membership.epoch,
      digest: this.membership.digest(),
      sp: sp.sp,
      spvv: sp.spvv,
      body,
    };
  }

  /** An outcome reply answers the submissions made before it (attempt <= upToAttempt): the
   * host delivers it only once its batch is durable, and a submission of the same request id
   * made meanwhile (queued anew after an abort, say) is not the one it speaks of. */
  reply(reply: ClientReply): void {
    this.output.replies.push(
      reply.attempt === undefined ? { ...reply, upToAttempt: this.lastAttempt } : reply,
    );
    if (reply.attempt === undefined) this.relayOutcome(reply);
  }

  /** A forwarded write's outcome goes back to the members its callers wait on (they learn a
   * commit as participants too; this covers aborts, requeue limits and refusals by the core). */
  private relayOutcome(reply: ClientReply): void {
    const relays = this.relayTo.get(reply.requestId);
    if (relays !== undefined) {
      this.relayTo.delete(reply.requestId);
      for (const to of relays.keys())
        this.answerForward(to, {
          requestId: reply.requestId,
          code: reply.code,
          txid: reply.txid,
          refused: false,
        });
    }
  }

  /** Tells a member the final answer to its forward, and keeps it for FORWARD_ANSWERS_TICKS:
   * a copy of that forward arriving later (sent again, duplicated) gets the same answer instead
   * of queueing the write a second time. */
  answerForward(to: NodeId, answer: Omit<ForwardAnswer, 'to' | 'tick'>): void {
    const key = forwardKey(answer.requestId, to);
    this.forwardAnswers.delete(key);
    this.forwardAnswers.set(key, { ...answer, to, tick: this.now });
    this.forwardAnswersOldest.trimTo(RELAYED_MAX);
    this.send(to, {
      type: 'forward-reply',
      requestId: answer.requestId,
      code: answer.code,
      ...(answer.txid === undefined ? {} : { txid: answer.txid }),
      refused: answer.refused,
    });
  }

  fail(requestId: string, code: number): void {
    this.reply({ requestId, code });
  }

  /** A write queued here ended without a commit (its dry run failed, say). That answers the
   * call that queued it, not the callers here whose own call this node forwarded elsewhere
   * (that copy may still commit): then only the members it came from by forward are told. */
  failQueued(requestId: string, code: number): void {
    if (!this.forwarded.has(requestId)) return this.fail(requestId, code);
    this.relayOutcome({ requestId, code });
  }

  // ---- the PTL ----

  /** Holds a new transaction: a coordinator's begins VIRTUAL, a participant's PREPARED. */
  hold(tx: Transaction, role: TxState['role'], requests: WriteRequest[] = []): TxState {
    assert(!this.transactions.has(tx.txid), `transaction ${tx.txid} is already held`);
    const held: TxState = {
      tx,
      role,
      state: role === 'coordinator' ? 'VIRTUAL' : 'PREPARED',
      votes: new Set(),
      acks: new Set(),
      requests,
      since: this.now,
      statuses: new Map(),
    };
    this.transactions.set(tx.txid, held);
    return held;
  }

  /** True while any transaction is unresolved here: new distributed writes get busy. */
  hasPendingTransaction(): boolean {
    return this.transactions.size > 0;
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

  remember(txid: TxId, committed: boolean): void {
    this.outcomes.set(txid, committed);
    this.outcomesOldest.trimTo(OUTCOMES_MAX);
  }

  rememberRequest(requestId: string, outcome: Outcome): void {
    // Every member learns a commit's outcomes: the forwarding member needs no relay of them.
    this.forwarded.delete(requestId);
    this.relayTo.delete(requestId);
    const had = this.requestOutcomes.get(requestId);
    this.requestOutcomes.set(requestId, outcome);
    if (had === undefined) this.requestOutcomeEntries.added(requestId, outcome);
    else if (had.code !== outcome.code || had.txid !== outcome.txid)
      this.requestOutcomeEntries.changed();
    this.requestOutcomesOldest.trimTo(REQUEST_OUTCOMES_MAX);
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
    // Forwarded counts as queued: the coordinator may requeue it after an abort, so an abort
    // seen here must not answer it busy.
    if (this.forwarded.has(requestId) || this.isQueued(requestId)) return 'queued';
    return this.inTransaction(requestId) ? 'transaction' : undefined;
  }

  /** In this node's own queue. */
  isQueued(requestId: string): boolean {
    return this.queue.some((queued) => queued.requestId === requestId);
  }

  /** Carried by a transaction held here that may still commit. */
  inTransaction(requestId: string): boolean {
    for (const held of this.transactions.values())
      if (held.state !== 'ABORTED' && this.requestIdsOf(held.tx).has(requestId)) return true;
    return false;
  }

  /** What this node can say of a write's outcome: remembered (its code and txid), pending
   * (queued or in a transaction here) or none (OUTCOME_NONE; docs/CLIENT.md "Outcomes"). */
  outcomeOf(requestId: string): { code: number; txid?: TxId } {
    if (this.fenced) return { code: CODE.NODE_FENCED };
    const known = this.requestOutcomes.get(requestId);
    if (known) return { code: known.code, txid: known.txid };
    return { code: this.whereIs(requestId) ? OUTCOME_PENDING : OUTCOME_NONE };
  }

  // ---- peers ----

  /** Members other than this node. */
  peersInPool(): NodeId[] {
    return this.membership.memberIds().filter((id) => id !== this.id);
  }

  markPeerSynced(peer: NodeId, synced: boolean): void {
    const status = this.peers.get(peer);
    if (status) this.peers.set(peer, { ...status, notSynced: !synced });
  }
}
