// A whole pool in one process: real replicas and cores over the simulated network, with
// crashes at any step of a Ready (before persist, a torn persist, between persist and send,
// after send), restarts from the durable log, clients that retry busy writes, and
// administrative node-downs, and new nodes joining by live-sync (joins.ts). Everything random
// comes from the seed.

import { CODE, HsmError } from '../core/codes.ts';
import { syncPointHex, type Core } from '../core/core.ts';
import type { Operation } from '../core/batch.ts';
import { LiveSyncDonor } from '../appliance/live-sync.ts';
import { NodeRuntime } from '../appliance/runtime.ts';
import { pumpReady } from '../appliance/ready-pump.ts';
import { isLiveSync } from '../protocol/live-sync/donor.ts';
import { Random } from '../protocol/random.ts';
import { OUTCOME_PENDING, type Replica } from '../protocol/replica.ts';
import type {
  ClientReply,
  LogRecord,
  MembershipEvents,
  NodeAddress,
  NodeId,
} from '../protocol/types.ts';
import { nodeIdOfNumber } from '../wire/ids.ts';
import { parseEntry, scanLog } from '../core/txlog.ts';
import type { CheckpointBody } from '../core/txlog-body.ts';
import { DelayedStorage } from '../storage/delayed.ts';
import { MemoryStorage } from '../storage/memory.ts';
import { AnswerLog, historyOf, NO_HISTORY, type Commits } from './history.ts';
import { Joins } from './joins.ts';
import { SimNetwork } from './network.ts';
import { SIM_DOMAIN, type SimParams } from './params.ts';
import { settleDefault, StorageClock, type Settle } from './storage-clock.ts';

export type CoreFactory = () => Core;

export const SIM_POOL_ID = 0x51313n;

export interface SimNode {
  readonly id: NodeId;
  replica: Replica | undefined;
  runtime: NodeRuntime | undefined;
  /** Serves live-sync beside the replica, as on an appliance (lost in a crash). */
  donor: LiveSyncDonor | undefined;
  /** What survives a crash (the node's disk). */
  readonly storage: MemoryStorage;
  /** The storage the running node uses: every call completes after a seeded delay in
   * simulated time (a new one per life; halted in a crash). */
  io: DelayedStorage | undefined;
  /** The records of the log, in order (a mirror kept for the checkers): each batch from the
   * moment its append starts; a restart drops those its recovery did not find. */
  readonly log: LogRecord[];
  /** The log sequence of each record of `log`. */
  readonly logSequences: bigint[];
  /** A flush loop is carrying the replica's output out (at most one per node). */
  flushing: boolean;
  /** Checkpoints stored. */
  checkpoints: number;
  /** Crashes while a checkpoint's snapshot was being written (its entry logged already). */
  crashesMidSnapshot: number;
  /** 1 for a joined node, whose log starts with the image of its join (its CHECKPOINT and the
   * membership events after it, join-image.ts), which `log` does not mirror; 0 for a founder. */
  readonly logBase: number;
  /** History received by live-sync (empty for a founder). */
  readonly inherited: Commits;
  /** A joined node's SP when it joined. */
  readonly joinedAtSp: bigint | undefined;
  restartAt: number;
  staysDead: boolean;
  crashes: number;
  /** Log length when this node learned it was fenced (it must not commit after). */
  fencedAtLog: number | undefined;
}

/** A node that has not started yet (its disk, and what it inherited if it joined). */
function newSimNode(
  fixed: Pick<SimNode, 'id' | 'storage' | 'logBase' | 'inherited' | 'joinedAtSp'>,
): SimNode {
  return {
    ...fixed,
    replica: undefined,
    runtime: undefined,
    donor: undefined,
    io: undefined,
    log: [],
    logSequences: [],
    flushing: false,
    checkpoints: 0,
    crashesMidSnapshot: 0,
    restartAt: 0,
    staysDead: false,
    crashes: 0,
    fencedAtLog: undefined,
  };
}

export interface ClientWrite {
  readonly requestId: string;
  readonly name: string;
  readonly op: 'insert' | 'replace' | 'delete';
  submittedAt: number;
  /** When the client asks again if no definite answer came. */
  retryAt: number;
  /** The node it was last submitted to (none before its first submission). */
  node: NodeId | undefined;
  /** The token of the latest submission (AnswerLog seq): like the SDK, the client hears only
   * the answer to that one, from that node. */
  attempt: number;
  /** Definite answer: 0 = committed. */
  code: number | undefined;
  txid: string | undefined;
  retries: number;
}

export class World {
  readonly random: Random;
  readonly network: SimNetwork;
  readonly nodes: SimNode[];
  readonly founders: NodeAddress[];
  readonly writes = new Map<string, ClientWrite>();
  /** Client attempts and answers, for the write-outcome checkers. */
  readonly answers = new AnswerLog();
  readonly events: string[] = [];
  readonly joins: Joins;
  /** A donor's history when it queued DONE, by session: what the joiner inherits. */
  readonly doneHistories = new Map<string, Commits>();
  /** Violations found while the run goes (checkSafety reports them). */
  readonly problems: string[] = [];
  now = 0;
  faultsOn = true;
  clientsOn = true;
  private nameCounter = 0;
  /** Per client: its outstanding write and when it may send the next one. */
  private readonly clientState: { outstanding: ClientWrite | undefined; nextAt: number }[];
  private readonly codec: Core;
  private readonly storageClock: StorageClock;

  constructor(
    readonly params: SimParams,
    private readonly newCore: CoreFactory,
    settle: Settle = settleDefault,
  ) {
    this.storageClock = new StorageClock(settle);
    this.random = new Random(params.seed);
    this.network = new SimNetwork(this.random.fork(), {
      loss: params.messageLoss,
      duplication: params.messageDuplication,
      delayTicksMax: params.delayTicksMax,
    });
    this.founders = Array.from({ length: params.nodes }, (_, i) => ({
      id: nodeIdOfNumber(BigInt(i + 1)),
      address: `10.0.0.${i + 1}:7001`,
    }));
    this.nodes = this.founders.map((node) =>
      newSimNode({
        id: node.id,
        storage: new MemoryStorage(),
        logBase: 0,
        inherited: NO_HISTORY,
        joinedAtSp: undefined,
      }),
    );
    this.codec = newCore();
    this.clientState = Array.from({ length: params.clients }, () => ({
      outstanding: undefined,
      nextAt: 0,
    }));
    this.joins = new Joins(this, newCore);
  }

  async open(): Promise<void> {
    for (const node of this.nodes) await this.start(node);
  }

  log(text: string): void {
    if (this.events.length < 400) this.events.push(`t${this.now} ${text}`);
  }

  /** Restarts a node from its storage: real recovery (scan, torn tail cut, replay). A joined
   * node is opened the first time with the membership from DONE (as joinInProcess does) and
   * later with the founders only (as the CLI restarts it): its checkpoint and log name it. */
  /** Opens `node` from its storage; a joiner passes the core that received the image. */
  private async start(node: SimNode, membership?: MembershipEvents, core?: Core): Promise<void> {
    // Recovery's calls complete at once (the node is not up yet); every later call after a
    // seeded delay, delivered by the storage clock.
    let opening = true;
    const io = new DelayedStorage(node.storage, () =>
      opening ? Promise.resolve() : this.storageDelay(),
    );
    node.io = io;
    node.flushing = false;
    const runtime = await NodeRuntime.open({
      id: node.id,
      poolId: SIM_POOL_ID,
      founders: this.founders,
      storage: io,
      checkpointBytes: this.params.checkpointBytes,
      core: core ?? this.newCore(),
      random: this.random.fork(),
      groupCommit: this.params.groupCommit,
      membership,
    });
    opening = false;
    // What a crash cut (a torn or unsynced append) is gone.
    const last = runtime.recovered.last.sequence;
    const cut = node.logSequences.findIndex((sequence) => sequence > last);
    if (cut >= 0) {
      node.log.splice(cut);
      node.logSequences.splice(cut);
    }
    this.mirror(node, runtime.loggedAtOpen, last + 1n);
    node.runtime = runtime;
    node.replica = runtime.replica;
    // The appliance's donor: the simulated network needs no joiner addresses.
    node.donor = new LiveSyncDonor(
      runtime.replica,
      () => {},
      SIM_DOMAIN,
      SIM_POOL_ID,
      (line) => this.log(`${node.id.slice(-2)} ${line}`),
    );
    if (runtime.replica.fenced && node.fencedAtLog === undefined)
      node.fencedAtLog = node.log.length;
  }

  crash(node: SimNode, why: string): void {
    if (!node.replica) return;
    if (node.runtime?.snapshotWrite) node.crashesMidSnapshot++;
    node.replica = undefined;
    node.runtime = undefined;
    node.donor = undefined;
    node.io?.halt();
    node.io = undefined;
    node.flushing = false;
    node.storage.crash(this.random);
    node.crashes++;
    this.answers.crashed(node.id);
    node.restartAt = this.now + 1 + this.random.below(this.params.restartTicksMax);
    this.log(`crash ${node.id.slice(-2)} ${why}`);
  }

  alive(): SimNode[] {
    return this.nodes.filter((node) => node.replica !== undefined);
  }

  /** A storage call's delay: resolves once the storage clock reaches its time. */
  private storageDelay(): Promise<void> {
    return this.storageClock.delay(
      this.now + this.random.below(this.params.storageDelayTicksMax + 1),
    );
  }

  /** No storage call pending and no flush under way: everything produced is durable. */
  storageQuiet(): boolean {
    return this.storageClock.idle && this.nodes.every((node) => !node.flushing);
  }

  /** Checkpoints stored by every node so far. */
  get checkpoints(): number {
    return this.nodes.reduce((sum, node) => sum + node.checkpoints, 0);
  }

  /** Crashes of every node so far while a checkpoint's snapshot was being written. */
  get crashesMidSnapshot(): number {
    return this.nodes.reduce((sum, node) => sum + node.crashesMidSnapshot, 0);
  }

  private mirror(node: SimNode, records: readonly LogRecord[], first: bigint): void {
    records.forEach((record, i) => {
      node.log.push(record);
      node.logSequences.push(first + BigInt(i));
    });
  }

  /** Runs one tick: storage completions, deliveries, clients, timers, faults. */
  async step(): Promise<void> {
    this.now++;
    await this.storageClock.pump(this.now);
    for (const envelope of this.network.due(this.now)) {
      const node = this.nodes.find((n) => n.id === envelope.to);
      if (!node) await this.joins.deliver(envelope);
      else if (node.replica) {
        // As an appliance does: live-sync is the donor's, everything else the replica's.
        if (isLiveSync(envelope.body)) node.donor!.receive(envelope);
        else node.replica.receive(envelope);
        this.drain(node);
      }
    }
    if (this.clientsOn) await this.clients();
    await this.retryBusy();
    for (const node of this.nodes) {
      if (!node.replica) continue;
      node.replica.tick();
      node.donor!.tick();
      this.drain(node);
    }
    await this.storageClock.pump(this.now);
    await this.joins.tick();
    if (this.faultsOn) await this.faults();
    for (const node of this.nodes)
      if (!node.replica && !node.staysDead && this.now >= node.restartAt) await this.start(node);
    // The replica's own invariants (one pending transaction, fenced never commits, ...) after
    // every tick: an AssertionFailure fails the seed with its message.
    for (const node of this.nodes) node.replica?.checkInvariants();
  }

  /** Starts carrying a node's output out, unless a flush is under way (it takes it next). */
  private drain(node: SimNode): void {
    this.noteDone(node);
    if (node.flushing || !node.replica?.hasReady()) return;
    node.flushing = true;
    const runtime = node.runtime!;
    this.flush(node, runtime).then(
      () => {
        if (node.runtime === runtime) node.flushing = false;
      },
      (error: unknown) => {
        this.problems.push(`node ${node.id} flush failed: ${(error as Error).stack ?? error}`);
        if (node.runtime === runtime) node.flushing = false;
      },
    );
  }

  /** The appliance's Ready pump over the node's runtime (its storage completes in simulated
   * time, so the node receives and decides meanwhile), with a crash possibly at any step of a
   * batch: before it is persisted, during (torn), between persist and send, after send. */
  private async flush(node: SimNode, runtime: NodeRuntime): Promise<void> {
    let point: 'before-persist' | 'torn' | 'after-persist' | 'after-send' | undefined;
    await pumpReady(runtime, {
      running: () => node.runtime === runtime,
      send: (envelope) => {
        if (envelope.body.type === 'forward')
          this.answers.forwarded(envelope.from, envelope.to, envelope.body.write.requestId);
        this.network.send(this.now, envelope);
      },
      reply: (reply) => this.onReply(node, reply),
      taken: async ({ ready, bytes, firstSequence }) => {
        const crashing = this.faultsOn && this.random.chance(this.params.crashRate * 10);
        point = !crashing
          ? undefined
          : this.random.chance(this.params.tornWrite)
            ? 'torn'
            : this.random.pick(['before-persist', 'after-persist', 'after-send'] as const);
        // Its PREPAREs are out already (Ready.early): the transactions it begins have begun.
        this.answers.persisted(node.id, ready.persist);
        if (point === 'before-persist') return this.crash(node, 'before persist');
        this.mirror(node, ready.persist, firstSequence);
        if (point === 'torn' && ready.persist.length > 0) {
          // The append is under way when the power goes: the crash keeps some prefix of it.
          await node.storage.appendLog(bytes, false);
          this.answers.persisted(node.id, ready.persist);
          this.crash(node, 'during persist (torn)');
        }
      },
      persisted: ({ ready }) => {
        this.answers.persisted(node.id, ready.persist);
        if (runtime.replica.fenced && node.fencedAtLog === undefined)
          node.fencedAtLog = node.log.length;
        if (point === 'after-persist') this.crash(node, 'after persist, before send');
      },
      sent: () => {
        if (point === 'after-send') this.crash(node, 'after send');
      },
      checkpointLogged: () => this.checkCheckpoint(node),
      checkpointStored: async (batch, stored) => {
        if (!stored) return;
        node.checkpoints++;
        const name = batch.checkpoint!.image.name;
        if (!(await node.storage.listSnapshots()).includes(name))
          this.problems.push(`node ${node.id}: checkpoint ${name} stored, not on its disk`);
      },
      checkpointFailed: (error) =>
        this.problems.push(`node ${node.id} checkpoint failed: ${(error as Error).stack ?? error}`),
    });
  }

  /** The checkpoint just logged holds the state after the last commit logged before it (read
   * from the node's disk and the history mirror, not from the runtime that wrote it). */
  private async checkCheckpoint(node: SimNode): Promise<void> {
    const log = await node.storage.readLog();
    let sp: bigint | undefined;
    scanLog(this.codec, log, { poolId: SIM_POOL_ID }, (entry) => {
      if (entry.type !== 'checkpoint') return;
      sp = (
        parseEntry(log.subarray(entry.offset, entry.offset + entry.length)).body as CheckpointBody
      ).sp;
    });
    const logged = historyOf(node).sps.at(-1);
    if (sp === undefined)
      this.problems.push(`node ${node.id}: a checkpoint stored, none in its log`);
    else if (logged !== undefined && sp !== logged)
      this.problems.push(
        `node ${node.id}: checkpoint at SP ${syncPointHex(sp)}, but the last commit before it gives ${syncPointHex(logged)}`,
      );
  }

  /** The step that queued DONE did so after every commit the joiner will receive: the donor's
   * history then (with this Ready's commits) is the joiner's. (DONE follows the add once the
   * members confirmed it, not in the add's own step.) */
  private noteDone(node: SimNode): void {
    const session = node.donor?.active;
    if (session?.doneSent && !this.doneHistories.has(session.session))
      this.doneHistories.set(session.session, historyOf(node, node.replica!.persisting));
  }

  /** A joiner completed: it becomes a node of the world, opened from the image it wrote (the
   * received write outcomes included: a retry on it gets the pool's answer). */
  async addJoined(
    joined: Pick<SimNode, 'id' | 'storage' | 'inherited' | 'joinedAtSp'>,
    membership: MembershipEvents,
    core: Core,
  ): Promise<void> {
    const node = newSimNode({ ...joined, logBase: 1 });
    this.nodes.push(node);
    await this.start(node, membership, core);
    this.log(
      `${node.id.slice(-2)} joined at epoch ${node.replica!.membership.epoch}, SP ${syncPointHex(joined.joinedAtSp!).slice(0, 8)}`,
    );
  }

  private onReply(node: SimNode, reply: ClientReply): void {
    const write = this.writes.get(reply.requestId);
    if (!write) return this.onAdminReply(node, reply);
    this.answers.answer(
      node.id,
      reply.requestId,
      reply.code,
      reply.txid,
      reply.attempt,
      reply.upToAttempt,
    );
    if (write.code !== undefined) return;
    const mine =
      node.id === write.node &&
      (reply.attempt !== undefined
        ? reply.attempt === write.attempt
        : reply.upToAttempt === undefined || write.attempt <= reply.upToAttempt);
    if (!mine) return;
    // Busy, fenced, or outcome pending: the client retries (the same request id).
    if (
      reply.code === CODE.REPLICATION_BUSY ||
      reply.code === CODE.NODE_FENCED ||
      reply.code === OUTCOME_PENDING
    )
      return;
    write.code = reply.code;
    write.txid = reply.txid;
    const client = this.clientState.find((c) => c.outstanding === write);
    if (client) {
      client.outstanding = undefined;
      client.nextAt = this.now + 1 + this.random.below(this.params.thinkTicksMax);
    }
  }

  private onAdminReply(node: SimNode, reply: ClientReply): void {
    this.log(
      `node-down ${reply.requestId} at ${node.id.slice(-2)}: ${reply.code === 0 ? 'done' : new HsmError(reply.code).codeName}`,
    );
  }

  // ---- clients ----

  private async clients(): Promise<void> {
    for (const client of this.clientState) {
      if (client.outstanding || this.now < client.nextAt) continue;
      const targets = this.alive();
      if (targets.length === 0) return;
      client.outstanding = this.newWrite();
      await this.submit(this.random.pick(targets), client.outstanding);
    }
  }

  private newWrite(): ClientWrite {
    const acked = [...this.writes.values()].filter((w) => w.code === 0 && w.op === 'insert');
    const roll = this.random.float();
    const op = acked.length === 0 || roll < 0.7 ? 'insert' : roll < 0.85 ? 'replace' : 'delete';
    const name =
      op === 'insert'
        ? this.random.chance(0.05) && acked.length > 0
          ? this.random.pick(acked).name
          : `o${++this.nameCounter}`
        : this.random.pick(acked).name;
    const write: ClientWrite = {
      requestId: this.random.id64() + this.random.id64(),
      name,
      op,
      submittedAt: this.now,
      retryAt: 0,
      node: undefined,
      attempt: 0,
      code: undefined,
      txid: undefined,
      retries: 0,
    };
    this.writes.set(write.requestId, write);
    return write;
  }

  private operation(write: ClientWrite): Operation {
    if (write.op === 'delete') return { op: 'delete', kind: 'object', name: write.name };
    const record = this.codec.encode({
      kind: 'object',
      name: write.name,
      keyType: 'aes-256',
      exportable: false,
      temporary: false,
      owner: 'alice',
      acl: [],
      wrapped: this.random.bytes(40),
    });
    return { op: write.op, record };
  }

  async submit(node: SimNode, write: ClientWrite): Promise<void> {
    write.node = node.id;
    const attempt = this.answers.attempt(write.requestId, node.id);
    write.attempt = attempt;
    this.scheduleRetry(write);
    node.replica!.request({
      kind: 'write',
      attempt,
      requestId: write.requestId,
      event: write.op === 'delete' ? 'DELETE_OBJ' : 'CREATE_OBJ',
      operations: [this.operation(write)],
      sourceUser: 'alice',
      target: write.name,
    });
    this.drain(node);
  }

  /** Unanswered writes are retried (same request id) on a random live node, with jittered
   * exponential backoff as the SDK does. */
  private async retryBusy(): Promise<void> {
    for (const write of this.writes.values()) {
      if (write.code !== undefined || this.now < write.retryAt) continue;
      const targets = this.alive();
      if (targets.length === 0) return;
      write.retries++;
      await this.submit(this.random.pick(targets), write);
    }
  }

  private scheduleRetry(write: ClientWrite): void {
    const ceiling = 10 * 2 ** Math.min(write.retries, 5);
    write.retryAt = this.now + 5 + this.random.below(ceiling);
  }

  // ---- faults ----

  private async faults(): Promise<void> {
    for (const node of this.alive())
      if (this.random.chance(this.params.crashRate)) this.crash(node, 'idle');
    this.joins.crashSome();
    if (this.random.chance(this.params.partitionChange))
      this.log(
        `partition ${this.network.repartition([...this.nodes.map((n) => n.id), ...this.joins.ids()])}`,
      );
    if (this.random.chance(0.002)) await this.randomNodeDown();
  }

  /** An operator declares a node down: refused if it answers, fenced if it does not. */
  async randomNodeDown(target?: SimNode, by?: SimNode): Promise<void> {
    const issuers = this.alive().filter((n) => !n.replica!.fenced);
    const candidates = this.nodes.filter(
      (n) => issuers.length > 0 && !issuers[0].replica!.membership.isFenced(n.id),
    );
    if (issuers.length === 0 || candidates.length < 3) return;
    const issuer = by ?? this.random.pick(issuers);
    const node = target ?? this.random.pick(candidates.filter((n) => n !== issuer));
    if (!node) return;
    const requestId = `down-${node.id.slice(-2)}-${this.now}`;
    this.log(`node-down of ${node.id.slice(-2)} issued at ${issuer.id.slice(-2)}`);
    issuer.replica!.request({ kind: 'node-down', requestId, node: node.id });
    this.drain(issuer);
  }

  /** Liveness phase: faults stop, partitions heal, dead nodes restart except those that stay dead. */
  async beginLiveness(): Promise<void> {
    this.faultsOn = false;
    this.clientsOn = false;
    this.network.faults = { loss: 0, duplication: 0, delayTicksMax: this.params.delayTicksMax };
    this.network.heal();
    const members = this.nodes.filter((n) => n.fencedAtLog === undefined);
    if (this.params.staysDead > 0 && members.length >= 3) {
      const victim = this.random.pick(members);
      victim.staysDead = true;
      this.crash(victim, 'stays dead');
    }
    for (const node of this.nodes) if (!node.replica && !node.staysDead) await this.start(node);
    this.log('liveness phase');
  }

  /** Issues node-down for every node that stays dead (from a live member). */
  async nodeDownTheDead(): Promise<void> {
    for (const node of this.nodes.filter((n) => n.staysDead)) {
      const issuer = this.alive().find((n) => !n.replica!.fenced);
      if (issuer && issuer.replica!.membership.isMember(node.id)) {
        issuer.replica!.request({
          kind: 'node-down',
          requestId: `down-${node.id.slice(-2)}-${this.now}`,
          node: node.id,
        });
        this.drain(issuer);
      }
    }
  }
}
