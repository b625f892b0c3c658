// Live-sync: a new node takes the pool image from a donor without stopping the pool
// (docs/LIVE_SYNC.md). Pure state machines, no I/O, no clock: the donor session lives beside
// the donor's Replica and speaks through it; the joiner session fills an empty core.
//
// One ordered stream, numbered by `seq` from 0: BEGIN (snapshot header, pool id, record count),
// CHUNKs of the snapshot (a frozen view: the donor keeps serving meanwhile), then a COMMIT for
// every transaction the donor committed after the snapshot point, then DONE with the
// membership that names the joiner. A window of unacknowledged items bounds what is in flight;
// the joiner acknowledges cumulatively; the donor goes back to the first unacknowledged item
// when acknowledgements stop (go-back-N), so a dropped message costs a resend, never a hole.
//
// Why no commit can miss the joiner: the donor adds it (NODE_ADDED, epoch + 1) only in a step
// in which it holds no pending transaction, and in that same step appends DONE after every
// COMMIT it queued, so the joiner receives, in order, every transaction the donor committed.
// Every later transaction needs the donor's vote, and the donor now votes only on PREPAREs of
// the new epoch, which name the joiner: none can commit without it.

import { HSMPOOL_VERSION, OPERATING_MODE } from '../../core/version.ts';
import { CODE, HsmError } from '../../core/codes.ts';
import { syncPointHex, type Core, type SnapshotReader, type SyncPoint } from '../../core/core.ts';
import { BATCH_SIZE_MAX, NODES_MAX, SNAPSHOT_HEADER_SIZE } from '../../core/layout.ts';
import type { Replica } from '../replica.ts';
import { REQUEST_OUTCOMES_MAX } from '../state.ts';
import type {
  LiveSyncBody,
  MembershipEvents,
  NodeAddress,
  NodeId,
  Transaction,
  TxId,
} from '../types.ts';
import { batchRequestIdsHex } from '../../core/batch.ts';
import { equalBytes, joinBytes } from '../../wire/bytes.ts';
import {
  OUTCOME_ENTRY_SIZE,
  areOutcomeEntries,
  encodeOutcomeEntries,
  newestOutcomeEntries,
} from '../../wire/outcome-entries.ts';

/** The live-sync stream's format: 1 sent CHUNKs as base64 in the JSON envelope, 2 as binary
 * frames (transport/live-sync-frame.ts) and OUTCOMES as JSON, 3 both as binary frames, 4 the
 * same with the snapshot's byte count in BEGIN. A joiner states it; a donor refuses another
 * (38813). */
export const LIVE_SYNC_STREAM_VERSION = 4;
/** Snapshot bytes per CHUNK (whole records), the most a message's data may hold. */
export const LIVE_SYNC_CHUNK_BYTES = BATCH_SIZE_MAX;
/** Write outcomes per OUTCOMES item (the codec's LIVE_SYNC_OUTCOMES_MAX). */
export const LIVE_SYNC_OUTCOMES_PER_ITEM = 4096;
/** Items sent and not yet acknowledged: at most 8 MiB of chunks in flight, half of what a peer
 * link queues before it drops (PEER_LINK_LIMITS.queueBytesMax). */
export const LIVE_SYNC_WINDOW = 8;
/** Ticks without an acknowledgement before the donor resends from the first unacknowledged item. */
export const LIVE_SYNC_RESEND_TICKS = 50;
/** Ticks without an acknowledgement before the donor gives the session up. */
export const LIVE_SYNC_ABANDON_TICKS = 3000;

/** The membership digest a node answers probes with while it joins: it has none yet, and has
 * committed nothing (a donor confirming an add counts it; DonorSession.onProbeReply). */
export const JOINING_DIGEST = '';

export const isLiveSync = (body: { readonly type: string }): body is LiveSyncBody =>
  body.type.startsWith('live-sync-');

/** Records (frames) in a chunk of snapshot bytes: each frame is a u32 length and its bytes. */
export function framesIn(chunk: Uint8Array): number {
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  let n = 0;
  for (let at = 0; at + 4 <= chunk.length; at += 4 + view.getUint32(at, true)) n++;
  return n;
}

/** This node's release, mode and live-sync stream format, as a joiner states them. */
export const RELEASE = {
  version: HSMPOOL_VERSION,
  mode: OPERATING_MODE,
  stream: LIVE_SYNC_STREAM_VERSION,
} as const;

/** Why a donor refuses a joiner (0: it serves it). */
export function donorRefusal(
  replica: Replica,
  joiner: NodeId,
  joinerDomain: string,
  domain: string,
  joinerRelease: {
    readonly version?: string;
    readonly mode?: string;
    readonly stream?: number;
  } = RELEASE,
): number {
  // A donor that was declared down, or whose state diverged, has no pool image to give.
  if (replica.fenced || replica.diverged) return CODE.SELF_LIVE_SYNC;
  if (joinerDomain !== domain || joiner === replica.id) return CODE.INVALID_OPERATION;
  // The same release and operating mode on every member (DINAMO: same firmware and mode).
  // And the same stream format: a joiner that reads CHUNKs as JSON could not read ours.
  if (
    joinerRelease.version !== RELEASE.version ||
    joinerRelease.mode !== RELEASE.mode ||
    joinerRelease.stream !== RELEASE.stream
  )
    return CODE.LIVE_SYNC_VERSION_MISMATCH;
  // The joiner's id was declared down: it may come back only under a new id (it retries with one).
  if (replica.membership.isFenced(joiner)) return CODE.NODE_FENCED;
  if (!replica.membership.isMember(joiner) && replica.membership.members().length >= NODES_MAX)
    return CODE.MAX_NODE_COUNT_REACHED;
  return 0;
}

/**
 * Whether a request from `joiner` should end the donor's `current` session for another joiner
 * instead of being refused as busy. A joiner the pool already counts as a member (a donor added
 * it and DONE never reached it) blocks every write until it is in: each PREPARE waits for its
 * vote. Meanwhile a session for a node that is not a member yet cannot finish (its donor never
 * has the idle moment it needs to add it), and its joiner, retrying after each stall, would
 * hold the donors forever: the member goes first (simulator seed 2040).
 */
export function donorPreempts(replica: Replica, current: DonorSession, joiner: NodeId): boolean {
  return (
    !current.finished &&
    !current.added &&
    current.joiner.id !== joiner &&
    replica.membership.isMember(joiner) &&
    !replica.membership.isMember(current.joiner.id)
  );
}

/** Adds a node to the membership: NODE_ADDED persisted, the new membership pushed to the others. */
export function addMember(replica: Replica, node: NodeAddress): void {
  replica.addMember(node);
  const events = replica.membership.events();
  for (const peer of replica.peersInPool())
    if (peer !== node.id) replica.send(peer, { type: 'membership', membership: events });
}

type Item = Extract<LiveSyncBody, { seq: number }>;

/**
 * The phases of a donor session, in order (any of them may end in 'finished': abandoned,
 * preempted, or completed once DONE is acknowledged):
 * - 'snapshot': BEGIN and the snapshot's CHUNKs are streaming; commits queue behind them.
 * - 'catching-up': the snapshot is out; OUTCOMES, then the commits made since, stream; at an
 *   idle moment with little outstanding, the joiner is added (NODE_ADDED).
 * - 'confirming': added; no commit is queued any more (none can commit without the joiner);
 *   waiting for every other member to show this donor's membership.
 * - 'done-queued': DONE is in the stream, after every COMMIT queued; waiting for its ack.
 */
export type DonorState = 'snapshot' | 'catching-up' | 'confirming' | 'done-queued' | 'finished';

const DONOR_NEXT: Readonly<Record<DonorState, DonorState>> = {
  snapshot: 'catching-up',
  'catching-up': 'confirming',
  confirming: 'done-queued',
  'done-queued': 'finished',
  finished: 'finished',
};

/** The donor's side of one transfer. Feed it `onAck` and `onTick`; it sends through the replica. */
export class DonorSession {
  private readonly unacked: Item[] = [];
  private readonly commits: Item[] = [];
  /** The donor's remembered write outcomes at the snapshot point (retries on the joiner get
   * them), as entries (wire/outcome-entries.ts): those not sent yet. */
  private outcomes: Uint8Array;
  private nextSeq = 0;
  private acked = -1;
  private phase: DonorState = 'snapshot';
  /** The phase the session was in when it finished. */
  private finishedIn: DonorState | undefined;
  /** Sent again while confirming, as a keepalive: the joiner, which has every item, would
   * otherwise hear nothing and give up (it answers a repeated BEGIN with an acknowledgement). */
  private readonly begin: Item;
  private confirmNonce = '';
  private lastProbe = 0;
  private readonly confirmedBy = new Map<NodeId, string>();
  private lastProgress: number;
  private lastResend: number;
  readonly stats = { snapshotBytes: 0, records: 0, commits: 0, resends: 0 };

  constructor(
    private readonly replica: Replica,
    readonly joiner: NodeAddress,
    readonly session: string,
    private readonly reader: SnapshotReader,
    poolId: string,
    /** A member syncing in place: the transactions it decided last (it may have voted on them). */
    private readonly decidedByJoiner: ReadonlySet<TxId> = new Set(),
    private readonly log: (line: string) => void = () => {},
  ) {
    this.lastProgress = replica.now;
    this.lastResend = replica.now;
    const sp = replica.core.syncPoint();
    this.stats.records = sp.count;
    this.outcomes = replica.requestOutcomeEntries();
    this.begin = {
      type: 'live-sync-begin',
      session,
      seq: 0,
      poolId,
      records: sp.count,
      bytes: reader.bytes,
      header: reader.header,
    };
    // BEGIN goes out alone; the chunks wait for its acknowledgement (pump). The first read
    // sorts the view (snapshot.ts exportBegin), and the joiner prepares its core for BEGIN's
    // count and bytes meanwhile (JoinerSession.prepareImport) instead of after the sort. A lost BEGIN
    // is sent again like any unacknowledged item.
    this.push(this.begin);
  }

  get state(): DonorState {
    return this.phase;
  }

  get finished(): boolean {
    return this.phase === 'finished';
  }

  /** Whether the joiner was added to the membership by this session. */
  get added(): boolean {
    const phase = this.finishedIn ?? this.phase;
    return phase === 'confirming' || phase === 'done-queued';
  }

  /** Whether DONE is in this session's stream (the add confirmed): nothing after it. */
  get doneSent(): boolean {
    return (this.finishedIn ?? this.phase) === 'done-queued';
  }

  /** Every change of phase: forward one step, or to 'finished' from any. */
  private moveTo(next: DonorState): void {
    if (next !== 'finished' && DONOR_NEXT[this.phase] !== next)
      throw new Error(`live-sync donor: no transition from ${this.phase} to ${next}`);
    if (next === 'finished') {
      if (this.phase === 'finished') return;
      if (this.phase === 'snapshot') this.reader.close();
      this.finishedIn = this.phase;
      this.unacked.length = 0;
      this.commits.length = 0;
    }
    if (this.phase === 'snapshot' && next === 'catching-up') this.reader.close();
    this.phase = next;
  }

  /** The replica committed a transaction (called in the committing step). */
  onCommit(tx: Transaction, sp: bigint, spvv: number): void {
    if (this.phase !== 'snapshot' && this.phase !== 'catching-up') return;
    this.commits.push({ type: 'live-sync-commit', session: this.session, seq: -1, tx, sp, spvv });
    this.stats.commits++;
  }

  /** No transaction is pending at the donor: the moment to add the joiner, if it is close. */
  onIdle(): void {
    if (this.phase !== 'catching-up' || this.outcomes.length > 0) return;
    // Add only once little is outstanding, so the pool waits briefly for the joiner's vote.
    if (this.commits.length + this.unacked.length > LIVE_SYNC_WINDOW) return;
    this.moveTo('confirming'); // nothing commits from now on without the joiner's vote
    addMember(this.replica, this.joiner); // (already a member: only pushes the membership again)
    this.log(
      `live-sync: node ${this.joiner.id} at ${this.joiner.address} added to the pool (epoch ${this.replica.membership.epoch})`,
    );
    // "Nothing commits without the joiner's vote" holds only where the others know the joiner
    // and still count this donor in. A donor cut off and declared down does not know it, and
    // its image is stale: the others commit without it and without a joiner they never heard
    // of. So DONE leaves only once every other member showed this donor's membership (a probe
    // reply carrying its digest): one that fenced the donor shows another digest, and pushes
    // the news that fences it. The same holds for a joiner that is a member already (a retry):
    // whoever added it may have been such a donor (test/live-sync/findings.test.ts).
    this.probeMembers();
  }

  /** A probe reply: a member confirms the add when it carries this donor's membership, or
   * none at all (JOINING_DIGEST: a node still joining, which has committed nothing). */
  onProbeReply(from: NodeId, nonce: string, digest: string): void {
    if (this.phase !== 'confirming' || nonce !== this.confirmNonce) return;
    const current = this.replica.membership.digest();
    if (digest === current || digest === JOINING_DIGEST) this.confirmedBy.set(from, current);
    this.doneIfConfirmed();
  }

  /** Members other than this donor and the joiner, which must confirm the add. */
  private confirmers(): NodeId[] {
    return this.replica.peersInPool().filter((id) => id !== this.joiner.id);
  }

  private probeMembers(): void {
    this.confirmNonce = this.replica.random.id64();
    this.lastProbe = this.replica.now;
    const digest = this.replica.membership.digest();
    for (const id of this.confirmers())
      if (this.confirmedBy.get(id) !== digest)
        this.replica.send(id, { type: 'probe', nonce: this.confirmNonce });
    this.doneIfConfirmed();
  }

  private doneIfConfirmed(): void {
    const digest = this.replica.membership.digest();
    if (
      this.phase !== 'confirming' ||
      this.replica.fenced ||
      !this.confirmers().every((id) => this.confirmedBy.get(id) === digest)
    )
      return;
    this.moveTo('done-queued');
    this.commits.push({
      type: 'live-sync-done',
      session: this.session,
      seq: -1,
      membership: this.replica.membership.events(),
    });
    this.pump();
  }

  onAck(seq: number): void {
    if (this.finished || seq <= this.acked || seq >= this.nextSeq) return;
    this.acked = seq;
    this.lastProgress = this.replica.now;
    this.lastResend = this.replica.now;
    while (this.unacked.length > 0 && this.unacked[0].seq <= seq) this.unacked.shift();
    if (this.phase === 'done-queued' && this.unacked.length === 0 && this.commits.length === 0)
      return this.finish();
    this.pump();
  }

  onTick(): void {
    if (this.finished) return;
    const now = this.replica.now;
    if (now - this.lastProgress >= LIVE_SYNC_ABANDON_TICKS) return this.finish();
    if (this.phase === 'confirming') {
      // Declared down meanwhile (the others' news fenced us): this donor's image is no pool's.
      if (this.replica.fenced) return this.finish();
      if (now - this.lastProbe >= LIVE_SYNC_RESEND_TICKS) {
        this.probeMembers();
        if (this.phase === 'confirming') this.replica.send(this.joiner.id, this.begin);
      } else this.doneIfConfirmed(); // a member declared down meanwhile no longer needs to confirm
    }
    // A joiner already in the membership (an earlier donor added it and died before DONE got
    // through): a transaction that names it cannot commit without its vote, so DONE need not
    // wait for those (waiting could wait forever: a PREPARE pending on its vote). But one of
    // the epoch before the add does not name it, and may be committed already at its
    // coordinator while this donor is still in doubt: DONE must wait until it is resolved
    // here, or the joiner would miss it (simulator seed 219).
    // A member syncing in place voted, before it stopped, on what it lists as decided: such a
    // transaction may be committed at its coordinator while still in doubt here, so DONE waits
    // for it too (it resolves without the joiner: its coordinator has the joiner's vote).
    if (
      this.phase === 'catching-up' &&
      this.replica.membership.isMember(this.joiner.id) &&
      this.pendingAllName(this.joiner.id) &&
      !this.pendingDecidedByJoiner()
    )
      this.onIdle();
    this.pump();
    if (this.unacked.length > 0 && now - this.lastResend >= LIVE_SYNC_RESEND_TICKS) {
      this.lastResend = now;
      this.stats.resends++;
      for (const item of this.unacked) this.replica.send(this.joiner.id, item);
    }
  }

  finish(): void {
    this.moveTo('finished');
  }

  /** Whether every transaction pending at the donor names `node` (needs its vote to commit). */
  private pendingAllName(node: NodeId): boolean {
    for (const held of this.replica.transactions.values()) {
      if (held.tx.coordinator !== node && !held.tx.participants.includes(node)) return false;
    }
    return true;
  }

  private pendingDecidedByJoiner(): boolean {
    for (const txid of this.replica.transactions.keys())
      if (this.decidedByJoiner.has(txid)) return true;
    return false;
  }

  private push(item: Item): void {
    const numbered = { ...item, seq: this.nextSeq++ } as Item;
    this.unacked.push(numbered);
    this.replica.send(this.joiner.id, numbered);
  }

  /** Sends new items while the window has room: snapshot chunks first, then commits. */
  private pump(): void {
    while (!this.finished && this.unacked.length < LIVE_SYNC_WINDOW) {
      if (this.phase === 'snapshot') {
        if (this.acked < 0) return; // BEGIN first (constructor)
        const data = this.reader.next();
        if (data === undefined) {
          this.moveTo('catching-up');
          continue;
        }
        this.stats.snapshotBytes += data.length;
        this.push({
          type: 'live-sync-chunk',
          session: this.session,
          seq: -1,
          records: framesIn(data),
          data,
        });
        continue;
      }
      if (this.outcomes.length > 0) {
        const length = Math.min(
          this.outcomes.length,
          LIVE_SYNC_OUTCOMES_PER_ITEM * OUTCOME_ENTRY_SIZE,
        );
        this.push({
          type: 'live-sync-outcomes',
          session: this.session,
          seq: -1,
          entries: this.outcomes.subarray(0, length),
        });
        this.outcomes = this.outcomes.subarray(length);
        continue;
      }
      const next = this.commits.shift();
      if (next === undefined) return;
      this.push(next);
    }
  }
}

export interface JoinProgress {
  readonly phase: 'snapshot' | 'catch-up' | 'done';
  /** Snapshot bytes received. */
  readonly bytes: number;
  readonly records: number;
  readonly totalRecords: number;
  /** Transactions applied after the snapshot. */
  readonly commits: number;
}

export interface JoinResult {
  readonly poolId: string;
  readonly membership: MembershipEvents;
  readonly syncPoint: SyncPoint;
  readonly bytes: number;
  readonly records: number;
  readonly commits: number;
  /** Write outcomes the donor remembered, and those of the transactions caught up, as entries
   * (wire/outcome-entries.ts), oldest first: the joiner's request-outcomes blob holds them, so
   * its replica answers a retried write with the original answer. */
  readonly requestOutcomes: Uint8Array;
}

/** The joiner's side: applies the stream, in order, to an empty core. */
export class JoinerSession {
  private expected = 0;
  private beginHeader: Uint8Array | undefined;
  private poolId = '';
  private totalRecords = 0;
  /** BEGIN's count of snapshot bytes (prepareImport). */
  private announcedBytes = 0;
  private bytes = 0;
  private records = 0;
  private commits = 0;
  private importing = false;
  private imported = false;
  /** Write outcomes received, as runs of entries. */
  private readonly outcomes: Uint8Array[] = [];
  result: JoinResult | undefined;

  constructor(
    readonly session: string,
    private readonly core: Core,
  ) {}

  /** Prepares the core for BEGIN's count and bytes at once (Core.importReserve: the table
   * sized, the records' memory touched), if no chunk came yet. The host calls it once BEGIN is
   * acknowledged, while the donor sorts its view; without it the table grows at the first
   * chunk, as in an import from a file. */
  prepareImport(): void {
    if (this.importing && this.bytes === 0 && this.records === 0)
      this.core.importReserve(this.announcedBytes);
  }

  /**
   * Applies an item if it is the next one. Returns the sequence number to acknowledge (the last
   * item applied, -1 before any), or throws HsmError 37032 when the data does not verify.
   */
  receive(item: Item): number {
    this.refuseRestartedStream(item);
    if (item.session !== this.session || item.seq !== this.expected || this.result)
      return this.expected - 1;
    switch (item.type) {
      case 'live-sync-begin':
        this.beginImport(item);
        break;
      case 'live-sync-chunk':
        if (!this.importing)
          throw new HsmError(
            CODE.UNDEFINED_LIVE_SYNC,
            'live-sync: snapshot data after the snapshot ended',
          );
        this.core.importChunk(item.data);
        this.bytes += item.data.length;
        this.records += item.records;
        break;
      case 'live-sync-outcomes':
        if (!areOutcomeEntries(item.entries))
          throw new HsmError(CODE.UNDEFINED_LIVE_SYNC, 'live-sync: malformed write outcomes');
        this.outcomes.push(item.entries);
        break;
      case 'live-sync-commit':
        this.endImport();
        this.applyCommit(item);
        break;
      case 'live-sync-done':
        this.endImport();
        this.result = {
          poolId: this.poolId,
          membership: item.membership,
          syncPoint: this.core.syncPoint(),
          bytes: this.bytes,
          records: this.records,
          commits: this.commits,
          // The newest a replica keeps: giving it more would only make it evict as it goes.
          requestOutcomes: newestOutcomeEntries(joinBytes(this.outcomes), REQUEST_OUTCOMES_MAX),
        };
        break;
    }
    this.expected++;
    return item.seq;
  }

  /** A donor that restarted serves the same session id from seq 0 again, over a snapshot that
   * may differ: never splice two streams (a resent BEGIN has the same header). */
  private refuseRestartedStream(item: Item): void {
    if (
      item.session === this.session &&
      item.type === 'live-sync-begin' &&
      this.beginHeader &&
      !equalBytes(item.header, this.beginHeader)
    ) {
      throw new HsmError(
        CODE.UNDEFINED_LIVE_SYNC,
        'live-sync: the donor started the transfer over (it restarted); retry',
      );
    }
  }

  private beginImport(item: Extract<Item, { type: 'live-sync-begin' }>): void {
    if (item.header.length !== SNAPSHOT_HEADER_SIZE)
      throw new HsmError(CODE.UNDEFINED_LIVE_SYNC, 'live-sync: bad snapshot header');
    this.beginHeader = item.header;
    this.poolId = item.poolId;
    this.totalRecords = item.records;
    this.announcedBytes = item.bytes;
    this.core.importBegin(item.header);
    this.importing = true;
  }

  /** A transaction the donor committed after its snapshot: it must give the donor's SP here. */
  private applyCommit(item: Extract<Item, { type: 'live-sync-commit' }>): void {
    const applied = this.core.apply(item.tx.batch);
    if (applied.syncPoint.sp !== item.sp || applied.syncPoint.spvv !== item.spvv) {
      throw new HsmError(
        CODE.UNDEFINED_LIVE_SYNC,
        `live-sync: transaction ${item.tx.txid} gave SP ${applied.syncPoint.hex} here, ${syncPointHex(item.sp)} at the donor`,
      );
    }
    const outcomes = batchRequestIdsHex(item.tx.batch).flatMap((requestId, i) =>
      requestId
        ? [[requestId, { code: applied.writeResults[i], txid: item.tx.txid }] as const]
        : [],
    );
    this.outcomes.push(encodeOutcomeEntries(outcomes));
    this.commits++;
  }

  progress(): JoinProgress {
    return {
      phase: this.result ? 'done' : this.imported ? 'catch-up' : 'snapshot',
      bytes: this.bytes,
      records: this.records,
      totalRecords: this.totalRecords,
      commits: this.commits,
    };
  }

  /** Drops a half-done import (the core is left empty). */
  abort(): void {
    if (this.importing && !this.imported) this.core.importAbort();
    this.importing = false;
  }

  private endImport(): void {
    if (this.imported) return;
    if (!this.importing)
      throw new HsmError(
        CODE.UNDEFINED_LIVE_SYNC,
        'live-sync: no snapshot before the transactions',
      );
    try {
      this.core.importEnd();
    } catch (error) {
      this.core.importAbort();
      this.importing = false;
      throw error instanceof HsmError
        ? new HsmError(
            CODE.UNDEFINED_LIVE_SYNC,
            `live-sync: the snapshot does not verify: ${error.message}`,
          )
        : error;
    }
    this.imported = true;
  }
}
