// One emulated HSM: the replication runtime (core + protocol + storage) wired to a peer
// transport and driven by ticks from its host. Runs in Node and in a browser: no node:*
// imports; the host supplies storage, transport and the clock.
//
// Persist before you speak: each flush takes everything the replica produced, appends it to
// the log in one durable write (so concurrent writes share an fsync), and only then sends
// the messages and answers the clients of that batch. A storage failure stops the appliance
// (fail-stop): it never speaks after a write it could not make durable.

import { CODE, HsmError } from '../core/codes.ts';
import { syncPointHex, type Core } from '../core/core.ts';
import type { Operation, EventType } from '../core/batch.ts';
import type { Random } from '../protocol/random.ts';
import type { Timers } from '../protocol/replica.ts';
import type { ClientReply, Envelope, LogRecord, NodeAddress, NodeId } from '../protocol/types.ts';
import type { Storage } from '../storage/storage.ts';
import type { Sha256Factory } from '../wire/crypto-engine.ts';
import type { CrossCheckResult, PeerTransport } from '../transport/transport.ts';
import { NodeCache } from './node-cache.ts';
import { NodeRuntime, type RecoveredStore } from './runtime.ts';
import { LiveSyncDonor } from './live-sync.ts';
import { pumpReady } from './ready-pump.ts';
import { isLiveSync } from '../protocol/live-sync/donor.ts';
import { AssertionFailure } from '../protocol/assert.ts';
import type { MembershipEvents } from '../protocol/types.ts';
import { infoView, type DiscoveryInfo, type ReplicationInfo } from './info-view.ts';

export type { DiscoveryInfo, ReplicationInfo };

/** Real milliseconds per protocol tick on a live appliance. */
export const TICK_MS = 10;
/** Ticks a client write waits for its outcome. Then, still only queued, it is withdrawn and
 * answered busy (36000: certainly not committed); in a transaction it is answered
 * WRITE_OUTCOME_PENDING (38720: not known yet) and the transaction goes on. */
export const WRITE_TIMEOUT_TICKS = 500;
/** Client writes waiting for an outcome at once. */
export const WAITING_WRITES_MAX = 4096;
/** Replication events and Sync-Point changes kept for the console and the support bundle. */
export const EVENTS_KEPT = 256;

export interface ReplicationEvent {
  readonly tick: number;
  /** Wall-clock time (ms since the epoch) this node logged it. */
  readonly at?: number;
  readonly event: string;
  readonly txid?: string;
  readonly detail?: string;
}

export interface ApplianceOptions {
  readonly id: NodeId;
  readonly address: string;
  readonly domain: string;
  readonly poolId: bigint;
  readonly founders: readonly NodeAddress[];
  readonly storage: Storage;
  /** Keyed with the SVMK's Sync-Point key, empty: recovery fills it (or, with `recovered`,
   * filled already: runtime.ts). */
  readonly core: Core;
  readonly recovered?: RecoveredStore;
  readonly random: Random;
  readonly transport: PeerTransport;
  readonly groupCommit?: boolean;
  readonly timers?: Partial<Timers>;
  readonly checkpointBytes?: number;
  /** The request-outcomes blob's checksum hash (runtime.ts; node:crypto's in Node). */
  readonly sha256?: Sha256Factory;
  readonly log?: (line: string) => void;
  /** A node that just joined by live-sync: the membership the donor sent (runtime.ts). */
  readonly membership?: MembershipEvents;
  /** Auto-discovery's state, for Info (node-host.ts runs discovery; none: a manual cache). */
  readonly discovery?: () => DiscoveryInfo | undefined;
  /** Wall clock (ms since the epoch) for event and PTL times; default Date.now. */
  readonly now?: () => number;
  /** Told of what happens here (metrics, logs, the durable event history). */
  readonly observer?: ApplianceObserver;
}

/** Hooks for metrics and logs (Node code observes; the appliance never waits on them). */
export interface ApplianceObserver {
  /** Every replication event as it is recorded. */
  readonly event?: (event: ReplicationEvent) => void;
  /** A client write answered: its code and how long it took, in ms (monotonic clock). */
  readonly written?: (code: number, ms: number) => void;
  /** A durable log append (the write and its fsync): how long it took, in ms. */
  readonly persisted?: (ms: number) => void;
}

export interface WriteInput {
  readonly requestId: string;
  readonly event: EventType;
  readonly operations: readonly Operation[];
  readonly sourceUser: string;
  readonly target: string;
}

/** A caller waiting for a reply. At its deadline a write is withdrawn if it can be (`expiry`
 * 'write'); anything else is answered `expiry`. */
interface Waiter {
  readonly resolve: (reply: ClientReply) => void;
  readonly deadline: number;
  readonly expiry: 'write' | number;
  /** The submission this waiter made (WriteRequest.attempt): a refusal answers it alone. */
  readonly attempt?: number;
}

export class Appliance {
  private flushing: Promise<void> | undefined;
  private readonly waiting = new Map<string, Waiter[]>();
  /** Tokens for write submissions (ClientReply.attempt). */
  private attempts = 0;
  private queries = 0;
  private broken: string | undefined;
  private closed = false;
  readonly events: ReplicationEvent[] = [];
  readonly spHistory: { tick: number; at: number; sp: string; spvv: string; records: number }[] =
    [];
  /** Wall-clock time each pending transaction was logged here, by txid. */
  private readonly loggedAt = new Map<string, number>();
  /** Serves live-sync to nodes joining the pool (live-sync.ts). */
  readonly donor: LiveSyncDonor;

  private constructor(
    private readonly options: ApplianceOptions,
    readonly runtime: NodeRuntime,
    readonly cache: NodeCache,
  ) {
    this.donor = new LiveSyncDonor(
      runtime.replica,
      (joiner, address) => options.transport.setPeerAddress(joiner, address),
      options.domain,
      options.poolId,
      (line) => this.log(line),
    );
  }

  static async open(options: ApplianceOptions): Promise<Appliance> {
    // Every stored file is read and checked before recovery may cut a torn tail: a damaged
    // node cache refuses the start (38314) with the store exactly as it was.
    const cache = await NodeCache.load(options.storage, options.id);
    const runtime = await NodeRuntime.open(options);
    const appliance = new Appliance(options, runtime, cache);
    for (const node of runtime.replica.members()) cache.learn(node.id, node.address);
    for (const [id, address] of cache.entries()) options.transport.setPeerAddress(id, address);
    options.transport.onEnvelope((envelope) => appliance.receive(envelope));
    await cache.save();
    return appliance;
  }

  get id(): NodeId {
    return this.options.id;
  }

  get core(): Core {
    return this.runtime.replica.core;
  }

  /** The pool this node belongs to (log entries and backups carry it). */
  get poolId(): bigint {
    return this.options.poolId;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  // ---- inputs ----

  /** One replica step. A broken invariant (AssertionFailure) stops this appliance for good, as
   * a failed storage call does, and goes on up: nothing may catch it and continue (fail-stop). */
  private step(run: () => void): void {
    try {
      run();
    } catch (error) {
      if (!(error instanceof AssertionFailure)) throw error;
      this.broken ??= error.message;
      this.log(`${error.message}: appliance stopped (fail-stop)`);
      for (const [requestId, list] of this.waiting)
        for (const waiter of list) waiter.resolve({ requestId, code: CODE.CANNOT_WORK });
      this.waiting.clear();
      throw error;
    }
  }

  receive(envelope: Envelope): void {
    if (this.closed || this.broken) return;
    if (isLiveSync(envelope.body)) this.donor.receive(envelope);
    else this.step(() => this.runtime.replica.receive(envelope));
    this.learnMembers();
    this.schedule();
  }

  tick(): void {
    if (this.closed || this.broken) return;
    this.step(() => this.runtime.replica.tick());
    this.donor.tick();
    if (this.donor.active) this.learnMembers();
    this.expireWaiting();
    this.schedule();
  }

  /**
   * A replicated write; resolves with its outcome. 36000: not queued, and never will be from
   * this call (certainly not committed). 38720: queued or in a transaction past
   * WRITE_TIMEOUT_TICKS, outcome not known yet. A write with the request id of one in flight
   * here waits for that one's outcome.
   */
  write(input: WriteInput): Promise<ClientReply> {
    if (this.broken) return Promise.resolve({ requestId: input.requestId, code: CODE.CANNOT_WORK });
    if (this.closed)
      return Promise.resolve({ requestId: input.requestId, code: CODE.REPLICATION_BUSY });
    if (this.waitingCount() >= WAITING_WRITES_MAX)
      return Promise.resolve({ requestId: input.requestId, code: CODE.REPLICATION_BUSY });
    const attempt = ++this.attempts;
    const reply = this.wait(input.requestId, 'write', attempt);
    this.step(() => this.runtime.replica.request({ kind: 'write', ...input, attempt }));
    this.schedule();
    const written = this.options.observer?.written;
    if (!written) return reply;
    const started = performance.now();
    return reply.then((answer) => {
      written(answer.code, performance.now() - started);
      return answer;
    });
  }

  /**
   * What this node knows of a write's outcome, answered once what it reports is durable:
   * code and txid of a remembered outcome; 38720 queued or in a transaction here; 38721 none of
   * these (docs/CLIENT.md "Outcomes"); 38502 this node was declared down.
   */
  outcome(requestId: string): Promise<ClientReply> {
    if (this.broken) return Promise.resolve({ requestId, code: CODE.CANNOT_WORK });
    if (this.closed) return Promise.resolve({ requestId, code: CODE.REPLICATION_BUSY });
    if (this.waitingCount() >= WAITING_WRITES_MAX)
      return Promise.resolve({ requestId, code: CODE.REPLICATION_BUSY });
    const key = `outcome-${++this.queries}`;
    const reply = this.wait(key, CODE.WRITE_OUTCOME_PENDING);
    this.step(() =>
      this.runtime.replica.request({ kind: 'outcome', requestId: key, subject: requestId }),
    );
    this.schedule();
    return reply.then((answer) => ({ ...answer, requestId }));
  }

  /** Planned removal of this node (the local console's): it leaves the pool for good. */
  leave(): Promise<ClientReply> {
    const requestId = `leave-${this.runtime.replica.status().tick}`;
    const reply = this.wait(requestId, CODE.REPLICATION_BUSY);
    this.step(() => this.runtime.replica.request({ kind: 'leave', requestId }));
    this.schedule();
    return reply;
  }

  /** The administrative node-down (the remote console's; the local console refuses it). */
  nodeDown(node: NodeId): Promise<ClientReply> {
    const requestId = `node-down-${node}-${this.runtime.replica.status().tick}`;
    const reply = this.wait(requestId, CODE.REPLICATION_BUSY);
    this.step(() => this.runtime.replica.request({ kind: 'node-down', requestId, node }));
    this.schedule();
    return reply;
  }

  /** The connection test to every node in the node cache (never to transport peers that are
   * not cached, such as a live-sync joiner's link). */
  async crossCheck(timeoutMs = 2000): Promise<CrossCheckResult[]> {
    const results = await this.options.transport.crossCheck(timeoutMs);
    const cached = new Set(this.cache.entries().map(([id]) => id));
    return results.filter((result) => cached.has(result.id));
  }

  /** Wall clock, ms since the epoch. */
  now(): number {
    return this.options.now?.() ?? Date.now();
  }

  // ---- node cache ----

  async addNode(id: NodeId, address: string): Promise<void> {
    this.cache.set(id, address);
    this.options.transport.setPeerAddress(id, address);
    await this.cache.save();
  }

  async removeNode(id: NodeId): Promise<void> {
    if (this.runtime.replica.members().some((member) => member.id === id))
      throw new HsmError(
        CODE.INVALID_OPERATION,
        'a pool member stays in the cache; declare it down first',
      );
    this.cache.remove(id);
    this.options.transport.removePeer(id);
    await this.cache.save();
  }

  /** Hands every cached address to the transport again (the console's refresh). */
  refreshPeers(): void {
    for (const [id, address] of this.cache.entries())
      this.options.transport.setPeerAddress(id, address);
  }

  /** Members' addresses travel with the membership: whoever knows one member learns them all. */
  private learnMembers(): void {
    for (const node of this.runtime.replica.members()) {
      if (this.cache.learn(node.id, node.address)) {
        this.options.transport.setPeerAddress(node.id, node.address);
        void this.cache.save();
      }
    }
  }

  // ---- outputs ----

  private wait(
    requestId: string,
    expiry: Waiter['expiry'],
    attempt?: number,
  ): Promise<ClientReply> {
    return new Promise((resolve) => {
      const list = this.waiting.get(requestId) ?? [];
      list.push({
        resolve,
        deadline: this.runtime.replica.now + WRITE_TIMEOUT_TICKS,
        expiry,
        attempt,
      });
      this.waiting.set(requestId, list);
    });
  }

  private waitingCount(): number {
    let n = 0;
    for (const list of this.waiting.values()) n += list.length;
    return n;
  }

  /** A refusal answers its own submission's waiter; an outcome every waiter of its request id
   * whose submission came before it was decided (ClientReply.upToAttempt). */
  private answer(reply: ClientReply): void {
    const list = this.waiting.get(reply.requestId);
    if (!list) return;
    const { attempt, upToAttempt, ...answer } = reply;
    const answered = list.filter((waiter) =>
      attempt !== undefined
        ? waiter.attempt === attempt
        : upToAttempt === undefined ||
          waiter.attempt === undefined ||
          waiter.attempt <= upToAttempt,
    );
    const kept = list.filter((waiter) => !answered.includes(waiter));
    if (kept.length > 0) this.waiting.set(reply.requestId, kept);
    else this.waiting.delete(reply.requestId);
    for (const waiter of answered) waiter.resolve(answer);
  }

  /**
   * Waiters past their deadline. A write whose last waiter expires is withdrawn if it is still
   * only queued (it never starts: 36000 is the truth); otherwise (in a transaction, or its
   * answer is being made durable) its waiters get 38720, "outcome pending", and the write goes
   * on: a retry with the same request id, or an outcome query, learns how it ended.
   */
  private expireWaiting(): void {
    const now = this.runtime.replica.now;
    for (const [requestId, list] of this.waiting) {
      const expired = list.filter((waiter) => waiter.deadline <= now);
      if (expired.length === 0) continue;
      const kept = list.filter((waiter) => waiter.deadline > now);
      if (kept.length > 0) this.waiting.set(requestId, kept);
      else this.waiting.delete(requestId);
      const withdrawn =
        kept.length === 0 &&
        expired.some((waiter) => waiter.expiry === 'write') &&
        this.runtime.replica.withdraw(requestId);
      for (const waiter of expired)
        waiter.resolve({ requestId, code: this.expiryCode(waiter, withdrawn) });
    }
  }

  private expiryCode(waiter: Waiter, withdrawn: boolean): number {
    if (waiter.expiry !== 'write') return waiter.expiry;
    return withdrawn ? CODE.REPLICATION_BUSY : CODE.WRITE_OUTCOME_PENDING;
  }

  private schedule(): void {
    if (!this.flushing && this.runtime.replica.hasReady()) this.flushing = this.flush();
  }

  private async flush(): Promise<void> {
    let started = 0;
    try {
      await pumpReady(this.runtime, {
        running: () => !this.broken,
        send: (envelope) => this.options.transport.send(envelope),
        reply: (reply) => this.answer(reply),
        taken: () => {
          started = performance.now();
        },
        persisted: ({ ready }) => {
          if (ready.persist.length > 0)
            this.options.observer?.persisted?.(performance.now() - started);
          this.record(ready.persist);
        },
        checkpointStored: (_batch, stored) =>
          this.remember({
            tick: this.runtime.replica.now,
            event: stored ? 'checkpoint' : 'checkpoint-given-way',
            detail: stored
              ? 'snapshot written, log compacted'
              : 'snapshot not written: its export gave way to a live-sync or a backup; the next checkpoint follows more log',
          }),
        checkpointFailed: (error) => this.failStop(error),
      });
    } catch (error) {
      this.failStop(error);
    } finally {
      this.flushing = undefined;
    }
  }

  /** Storage failed: this appliance stops for good, and every waiting request is told so. */
  private failStop(error: unknown): void {
    this.broken = error instanceof Error ? error.message : String(error);
    this.log(`storage failed, appliance stopped (fail-stop): ${this.broken}`);
    for (const [requestId, list] of this.waiting)
      for (const waiter of list) waiter.resolve({ requestId, code: CODE.CANNOT_WORK });
    this.waiting.clear();
  }

  /** Resolves once everything produced so far is durable and sent (a checkpoint's snapshot
   * may still be being written: see idle). */
  async settled(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** settled, and no checkpoint snapshot being written: what a stop waits for. */
  private async idle(): Promise<void> {
    while (this.flushing || this.runtime.snapshotWrite) {
      await this.settled();
      await this.runtime.snapshotWrite?.catch(() => undefined);
    }
  }

  /** Keeps what was made durable as events for the console and the support bundle. */
  private record(records: readonly LogRecord[]): void {
    const tick = this.runtime.replica.now;
    for (const record of records) {
      if (record.type === 'prepare') this.loggedAt.set(record.tx.txid, this.now());
      else if (record.type === 'commit' || record.type === 'abort')
        this.loggedAt.delete(record.txid);
      if (record.type === 'prepare')
        this.remember({
          tick,
          event: 'prepare',
          txid: record.tx.txid,
          detail: `coordinator ${record.tx.coordinator}, event ${record.tx.event}, target ${record.tx.target}`,
        });
      else if (record.type === 'commit') {
        this.remember({
          tick,
          event: record.terminated ? 'commit (termination)' : 'commit',
          txid: record.txid,
          detail: `SP ${syncPointHex(record.sp)}`,
        });
        const sp = this.core.syncPoint();
        this.spHistory.push({
          tick,
          at: this.now(),
          sp: sp.hex,
          spvv: sp.spvvHex,
          records: sp.count,
        });
        if (this.spHistory.length > EVENTS_KEPT) this.spHistory.shift();
      } else if (record.type === 'abort')
        this.remember({
          tick,
          event: 'abort',
          txid: record.txid,
          detail: `reason ${record.reason}`,
        });
      else if (record.type === 'node-down') {
        this.remember({
          tick,
          event: 'node-down',
          detail: `${record.node} fenced, epoch ${record.epoch}`,
        });
        this.log(`node ${record.node} declared down (epoch ${record.epoch})`);
      } else
        this.remember({
          tick,
          event: 'node-added',
          detail: `${record.node.id} at ${record.node.address}`,
        });
    }
  }

  private remember(event: ReplicationEvent): void {
    event = { ...event, at: event.at ?? this.now() };
    this.options.observer?.event?.(event);
    this.events.push(event);
    if (this.events.length > EVENTS_KEPT) this.events.shift();
  }

  // ---- views ----

  info(): ReplicationInfo {
    return infoView(this.runtime.replica.status(), {
      domain: this.options.domain,
      id: this.options.id,
      address: this.options.address,
      syncPoint: this.core.syncPoint(),
      cache: this.cache.entries(),
      loggedAt: this.loggedAt,
      broken: this.broken,
      discovery: this.options.discovery?.(),
      tickMs: TICK_MS,
    });
  }

  /**
   * Stops this appliance but leaves its transport and storage open: live-sync in place hands
   * them on (node-host.ts). What was produced is made durable and sent first; then a write
   * still only queued is withdrawn (36000: it never runs), one in a transaction is answered
   * 38720 (outcome pending: the next appliance on this log, or another node, resolves it).
   */
  async detach(): Promise<void> {
    this.closed = true;
    await this.idle();
    for (const [requestId, list] of this.waiting) {
      const withdrawn =
        list.some((waiter) => waiter.expiry === 'write') &&
        this.runtime.replica.withdraw(requestId);
      for (const waiter of list)
        waiter.resolve({ requestId, code: this.expiryCode(waiter, withdrawn) });
    }
    this.waiting.clear();
  }

  async close(): Promise<void> {
    await this.detach();
    await this.options.transport.close();
    await this.options.storage.close?.();
  }
}
