// The vocabulary of the replication protocol: node and transaction ids, the transaction a
// PREPARE carries, log records, messages, client requests and replies, and the Ready batch a
// replica hands its host after each step.

// A node (drawn when the node is created) and a transaction (64-bit pseudo-random, as
// DINAMO's): 16 lowercase hex digits each, branded in wire/ids.ts (a value gets the type only
// by passing its check).
export type { NodeId, TxId } from '../wire/ids.ts';
import type { NodeId, TxId } from '../wire/ids.ts';

/** A Sync-Point inside the host: the 64-bit SP and its 16-bit check number (SPVV). Hex only at
 * the JSON edges (peer envelopes, status, console text): core.ts syncPointHex. */
export interface SyncPointValue {
  readonly sp: bigint;
  readonly spvv: number;
}

export interface NodeAddress {
  readonly id: NodeId;
  readonly address: string;
}

/** The 2PC states DINAMO's console shows (numbers as DINAMO's). */
export const TX_STATE = { VIRTUAL: 1, PREPARED: 2, COMMITTED: 3, COMMITTED_TM: 4 } as const;
export type TxStateName = keyof typeof TX_STATE | 'ABORTED';

/** Everything needed to commit a transaction anywhere: what PREPARE carries and the log keeps. */
export interface Transaction {
  readonly txid: TxId;
  readonly epoch: number;
  readonly coordinator: NodeId;
  /** Every member but the coordinator when it began. */
  readonly participants: readonly NodeId[];
  /** The node list when it began. */
  readonly nodes: readonly NodeAddress[];
  readonly spBefore: bigint;
  readonly spvvBefore: number;
  readonly spAfter: bigint;
  readonly spvvAfter: number;
  /** Tick when it began (the console shows it as date/time). */
  readonly tick: number;
  /** DINAMO event type of the first write, source user and target (console). */
  readonly event: number;
  readonly sourceUser: string;
  readonly target: string;
  /** The operation batch (docs/FORMATS.md). */
  readonly batch: Uint8Array;
}

export type LogRecord =
  | { readonly type: 'prepare'; readonly tx: Transaction }
  | {
      readonly type: 'commit';
      readonly txid: TxId;
      readonly epoch: number;
      readonly sp: bigint;
      readonly spvv: number;
      readonly terminated: boolean;
    }
  | { readonly type: 'abort'; readonly txid: TxId; readonly epoch: number; readonly reason: number }
  | { readonly type: 'node-down'; readonly node: NodeId; readonly epoch: number }
  | { readonly type: 'node-added'; readonly node: NodeAddress; readonly epoch: number };

export type TxStatus = 'committed' | 'aborted' | 'prepared' | 'undecided' | 'unknown';

export type MessageBody =
  | { readonly type: 'prepare'; readonly tx: Transaction }
  | { readonly type: 'vote'; readonly txid: TxId; readonly yes: boolean; readonly code: number }
  | { readonly type: 'decision'; readonly txid: TxId; readonly commit: boolean }
  | { readonly type: 'ack'; readonly txid: TxId }
  | { readonly type: 'query'; readonly txid: TxId }
  | { readonly type: 'status'; readonly txid: TxId; readonly status: TxStatus }
  | { readonly type: 'probe'; readonly nonce: string }
  | { readonly type: 'probe-reply'; readonly nonce: string }
  | { readonly type: 'membership'; readonly membership: MembershipEvents }
  /** Sent by an idle member to its peers every `heartbeatTicks` so SPs and liveness stay fresh. */
  | { readonly type: 'heartbeat' }
  /** A write a member took from its client, handed to the coordinator of the pool's current
   * transaction so that its next batch carries it (forwarding.ts). */
  | { readonly type: 'forward'; readonly write: ForwardedWrite }
  /** The coordinator's answer to a forward: the write's outcome, or `refused` (it is not queued
   * there, so the forwarding member may run it itself). */
  | {
      readonly type: 'forward-reply';
      readonly requestId: string;
      readonly code: number;
      readonly txid?: TxId;
      readonly refused: boolean;
    }
  | LiveSyncBody;

/** A client write as a member forwards it: what its batch needs, without the host's token. */
export type ForwardedWrite = Omit<WriteRequest, 'kind' | 'attempt'>;

/** Live-sync (live-sync.ts, docs/LIVE_SYNC.md): a joiner asks a donor, which streams a snapshot,
 * then the transactions it committed since, then the membership naming the joiner. One ordered
 * stream numbered by `seq` (go-back-N, acked cumulatively). These bypass the envelope checks. */
export type LiveSyncBody =
  | {
      readonly type: 'live-sync-request';
      readonly session: string;
      readonly address: string;
      readonly domain: string;
      /** The joiner's release and operating mode (core/version.ts): the donor refuses others. */
      readonly version?: string;
      readonly mode?: string;
      /** The live-sync stream format it reads (LIVE_SYNC_STREAM_VERSION); absent before 2. */
      readonly stream?: number;
      /** A member syncing in place: the transactions it decided most recently (node-host.ts), so
       * the donor sends DONE only once it has them resolved too (live-sync.ts, DonorSession). */
      readonly decided?: readonly TxId[];
    }
  | { readonly type: 'live-sync-refused'; readonly session: string; readonly code: number }
  | {
      readonly type: 'live-sync-begin';
      readonly session: string;
      readonly seq: number;
      readonly poolId: string;
      readonly records: number;
      /** The snapshot's frame bytes, all CHUNKs together (stream format 4): the joiner touches
       * that much memory for them while the donor sorts. */
      readonly bytes: number;
      readonly header: Uint8Array;
    }
  | {
      readonly type: 'live-sync-chunk';
      readonly session: string;
      readonly seq: number;
      readonly records: number;
      readonly data: Uint8Array;
    }
  | {
      readonly type: 'live-sync-outcomes';
      readonly session: string;
      readonly seq: number;
      /** Write outcomes as entries (wire/outcome-entries.ts), 28 bytes each, oldest first. */
      readonly entries: Uint8Array;
    }
  | {
      readonly type: 'live-sync-commit';
      readonly session: string;
      readonly seq: number;
      readonly tx: Transaction;
      readonly sp: bigint;
      readonly spvv: number;
    }
  | {
      readonly type: 'live-sync-done';
      readonly session: string;
      readonly seq: number;
      readonly membership: MembershipEvents;
    }
  | { readonly type: 'live-sync-ack'; readonly session: string; readonly seq: number };

export type MessageType = MessageBody['type'];

/** Every message carries the sender's epoch, membership digest and Sync-Point (SPs are bigints
 * in the host; the envelope codec writes them as 16 upper-case hex digits). */
export interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly epoch: number;
  readonly digest: string;
  /** Undefined from a joiner, which has no state yet ('' on the wire). */
  readonly sp: bigint | undefined;
  readonly spvv: number;
  readonly body: MessageBody;
}

export type { RequestOutcome } from '../wire/outcome-entries.ts';

/** The grow-only set of membership events; see membership.ts. */
export interface MembershipEvents {
  readonly founders: readonly NodeAddress[];
  readonly added: readonly NodeAddress[];
  readonly down: readonly NodeId[];
}

/** A client's write: one request, one write, one result. */
export interface WriteRequest {
  readonly kind: 'write';
  /** 32 hex digits (16 bytes); a retry with the same id gets the original outcome. */
  readonly requestId: string;
  readonly event: import('../core/batch.ts').EventType;
  readonly operations: readonly import('../core/batch.ts').Operation[];
  readonly sourceUser: string;
  readonly target: string;
  /** The host's token for this one submission: a refusal of it (busy, fenced, malformed) names
   * it, so it answers this submission only, never another attempt of the same request id that
   * is queued or in flight by then. */
  readonly attempt?: number;
}

/** The administrative node-down message (the appliance accepts it from the remote console only). */
export interface NodeDownRequest {
  readonly kind: 'node-down';
  readonly requestId: string;
  readonly node: NodeId;
}

/** Planned removal of this node (the local console's): it leaves the pool for good. */
export interface LeaveRequest {
  readonly kind: 'leave';
  readonly requestId: string;
}

/** What this node knows of a write's outcome, by its request id (the reply carries `requestId`,
 * the caller's key for the answer; the outcome's code and txid; docs/CLIENT.md "Outcomes"). */
export interface OutcomeRequest {
  readonly kind: 'outcome';
  readonly requestId: string;
  /** The write's request id (32 lowercase hex digits). */
  readonly subject: string;
}

export type ClientRequest = WriteRequest | NodeDownRequest | LeaveRequest | OutcomeRequest;

export interface ClientReply {
  readonly requestId: string;
  /** 0 = done; otherwise a documented return code. */
  readonly code: number;
  /** For a write that committed or failed deterministically: the transaction that carried it. */
  readonly txid?: TxId;
  /** Set: the refusal of that one submission (WriteRequest.attempt); the host answers only its
   * waiter. Unset: the write's outcome, for every waiter of the request id. */
  readonly attempt?: number;
  /** An outcome (no `attempt`): it answers the waiters whose submission token is at most this
   * (those made before it was decided); a later submission gets its own answer. */
  readonly upToAttempt?: number;
}

/** What a step produced. The host persists `persist` durably, in order, BEFORE it sends
 * `messages` and `replies` (persist before you speak). `early` promises nothing (a
 * coordinator's PREPARE: a coordinator that loses it aborts by presumed abort), so the host may
 * send it at once, while `persist` is being written; any later record (the COMMIT decision) is
 * appended after this batch's, hence durable only after it. */
export interface Ready {
  readonly persist: LogRecord[];
  readonly early: Envelope[];
  readonly messages: Envelope[];
  readonly replies: ClientReply[];
}
