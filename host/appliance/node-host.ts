// One node as its host runs it: the current Appliance plus what outlives it — storage, the
// listening address, the SVMK — so a live-sync can replace the node's replicated state in
// place, without stopping its service or its consoles (DINAMO's live-sync from a console).
// Browser-safe: the host supplies storage, the peer transport (per node id) and the dialer.
//
// Live-sync in place (docs/LIVE_SYNC.md "In place"): refused, changing nothing, when clients
// connected since the service started (37033), when this node holds a pending transaction and
// is not fenced (37038: its vote may be all that decides it), when no donor answers (37034) or
// none holds our SVMK (5306). Then the appliance stops, the image streams in beside the old
// state, and only once it verified does it overwrite storage; a failure before that re-opens
// the old state. A node declared down comes back under a new id (a fenced id never returns);
// a member whose state diverged keeps its id (the pool cannot commit without its vote, so it
// misses nothing while it syncs).

import { CODE, HsmError } from '../core/codes.ts';
import type { Core } from '../core/core.ts';
import type { RecoveredStore } from './runtime.ts';
import type { Random } from '../protocol/random.ts';
import type { NodeAddress, NodeId, TxId, MembershipEvents } from '../protocol/types.ts';
import type { Storage } from '../storage/storage.ts';
import type { Sha256Factory } from '../wire/crypto-engine.ts';
import type { FramedSocket, PeerTransport } from '../transport/transport.ts';
import { PROBE_TIMEOUT_MS, probePeer } from '../transport/probe.ts';
import { LIVE_SYNC_DECIDED_MAX } from '../transport/envelope-codec.ts';
import { DISCOVERY_PROBE_TIMEOUT_MS, Discovery } from './discovery.ts';
import { divergenceReason } from './divergence.ts';
import { Appliance, type ApplianceObserver, type DiscoveryInfo } from './appliance.ts';
import type { Timers } from '../protocol/replica.ts';
import { liveSyncJoin, type DonorAddress, type JoinProgress, type Joined } from './live-sync.ts';
import { isNodeId } from '../wire/ids.ts';

/** Who this node is in its pool; changes only by live-sync. */
export interface NodeIdentity {
  readonly id: NodeId;
  readonly domain: string;
  readonly poolId: bigint;
  readonly founders: readonly NodeAddress[];
}

export interface NodeHostOptions {
  readonly address: string;
  readonly svmk: Uint8Array;
  readonly storage: Storage;
  /** A fresh core keyed with the SVMK's Sync-Point key. */
  readonly newCore: () => Core;
  readonly random: Random;
  /** Cryptographically secure bytes (session ids, handshake nonces). */
  readonly randomBytes: (length: number) => Uint8Array;
  /** A peer transport listening at `address` that presents `id`; the host closes the previous one first. */
  readonly transportFor: (id: NodeId) => PeerTransport;
  /** A raw peer connection (the probe before a live-sync). */
  readonly dial: (address: string) => Promise<FramedSocket>;
  /** A new random node id (live-sync of a fenced node). */
  readonly newId: () => NodeId;
  readonly groupCommit?: boolean;
  readonly timers?: Partial<Timers>;
  readonly checkpointBytes?: number;
  /** The request-outcomes blob's checksum hash (node:crypto's in Node: nodeSha256; default
   * noble's), for the node's checkpoints, its restarts and its live-sync joins. */
  readonly sha256?: Sha256Factory;
  readonly log?: (line: string) => void;
  /** Metrics and logs hooks, handed to every appliance this host opens. */
  readonly observer?: ApplianceObserver;
  /** Live-sync: the image verified and is about to overwrite storage (mark the directory mid-join). */
  readonly beforeOverwrite?: (identity: NodeIdentity) => Promise<void> | void;
  /** Live-sync: storage holds the new image; persist the identity before the node runs on it. */
  readonly onIdentity?: (identity: NodeIdentity) => Promise<void> | void;
  /** Give up on a silent donor after this long (default liveSyncJoin's). */
  readonly stallMs?: number;
  /** Auto-discovery: the addresses to look for pool nodes at (discovery.ts). */
  readonly discovery?: readonly string[];
  /** Live-sync by itself when this node finds it diverged (divergence.ts); default: on with discovery. */
  readonly autoLiveSync?: boolean;
}

/** A divergence must last this long before an automatic live-sync (2 s at 10 ms a tick). */
export const AUTO_LIVE_SYNC_CONFIRM_TICKS = 200;
/** After an automatic live-sync failed, the next try waits this long. */
export const AUTO_LIVE_SYNC_RETRY_TICKS = 1000;

/** What a completed live-sync reports (the console prints it). */
export interface LiveSyncSummary {
  readonly donor: NodeAddress;
  readonly previousId: NodeId;
  readonly id: NodeId;
  readonly sp: string;
  readonly spvv: string;
  readonly records: number;
  readonly bytes: number;
  readonly transactions: number;
  readonly ms: number;
}

export class NodeHost {
  private current: Appliance;
  private transport: PeerTransport;
  private transportId: NodeId;
  private syncing = false;
  /** The new id of a fenced node whose live-sync failed after the donor may have added it: a
   * retry must come back as that node, not as a second one (docs/LIVE_SYNC.md). */
  private pendingId: NodeId | undefined;
  /** Client (not console) connections that logged in since this node's service started (a
   * fenced or diverged node refuses client logins, so refused attempts never count). */
  clientConnections = 0;
  private readonly discovery: Discovery | undefined;
  private readonly autoLiveSync: boolean;
  private ticks = 0;
  private divergedSince: number | undefined;
  private autoRetryAt = 0;
  /** Set when an automatic live-sync was refused for clients connected (37033): a restart clears it. */
  private autoStopped = false;

  private constructor(
    private readonly options: NodeHostOptions,
    private identityValue: NodeIdentity,
    appliance: Appliance,
    transport: PeerTransport,
    discovery: Discovery | undefined,
  ) {
    this.current = appliance;
    this.transport = transport;
    this.transportId = identityValue.id;
    this.discovery = discovery;
    this.autoLiveSync = options.autoLiveSync ?? discovery !== undefined;
  }

  /** `joined`: the core a live-sync join filled; `checked`: a store the CLI's start-up check
   * recovered already (runtime.ts, `recovered`). */
  static async open(
    options: NodeHostOptions,
    identity: NodeIdentity,
    joined?: Joined,
    checked?: { readonly core: Core; readonly recovered: RecoveredStore },
  ): Promise<NodeHost> {
    let host: NodeHost | undefined;
    const discovery =
      options.discovery &&
      new Discovery({
        addresses: options.discovery,
        self: options.address,
        probe: (address) =>
          probePeer({
            address,
            localId: host?.identity.id ?? identity.id,
            svmk: options.svmk,
            randomBytes: options.randomBytes,
            dial: options.dial,
            timeoutMs: DISCOVERY_PROBE_TIMEOUT_MS,
          }),
        known: (address) =>
          host !== undefined &&
          host.appliance.cache.entries().some(([, cached]) => cached === address),
        onFound: (id, address) => host?.learnNode(id, address),
      });
    const status = (): DiscoveryInfo | undefined =>
      discovery && { ...discovery.status(), autoLiveSync: host?.autoLiveSync ?? false };
    const transport = options.transportFor(identity.id);
    const appliance = await openAppliance(
      options,
      identity,
      transport,
      joined?.membership,
      status,
      joined?.core ?? checked?.core,
      checked?.recovered,
    );
    host = new NodeHost(options, identity, appliance, transport, discovery);
    host.discoveryStatus = status;
    return host;
  }

  private discoveryStatus: () => DiscoveryInfo | undefined = () => undefined;

  get appliance(): Appliance {
    return this.current;
  }

  get identity(): NodeIdentity {
    return this.identityValue;
  }

  /** Whether a live-sync is replacing this node's state right now. */
  get liveSyncing(): boolean {
    return this.syncing;
  }

  tick(): void {
    this.ticks++;
    // Ticked until a live-sync detaches it (the donor probe first takes a while); a detached
    // appliance ignores ticks.
    this.current.tick();
    if (this.syncing) return;
    this.discovery?.tick(this.ticks);
    if (this.autoLiveSync) this.checkDivergence();
  }

  /** Discovery found a node: into the cache (an address now answering as another node replaces
   * a cached non-member there). */
  private learnNode(id: NodeId, address: string): void {
    if (this.syncing || id === this.identityValue.id) return;
    const appliance = this.current;
    const members = appliance.runtime.replica.members();
    void (async () => {
      for (const [cachedId, cachedAddress] of appliance.cache.entries()) {
        if (
          cachedAddress === address &&
          cachedId !== id &&
          !members.some((member) => member.id === cachedId)
        )
          await appliance.removeNode(cachedId);
      }
      if (
        !appliance.cache
          .entries()
          .some(([cachedId, cachedAddress]) => cachedId === id && cachedAddress === address)
      )
        await appliance.addNode(id, address);
    })().catch((error: unknown) =>
      this.log(
        `discovery: could not cache ${id} at ${address}: ${error instanceof Error ? error.message : String(error)}`,
      ),
    );
  }

  /** Auto live-sync: once this node has known for a while that it diverged (divergence.ts). */
  private checkDivergence(): void {
    const reason = divergenceReason(this.current.runtime.replica.status());
    if (!reason) {
      this.divergedSince = undefined;
      return;
    }
    this.divergedSince ??= this.ticks;
    if (
      this.autoStopped ||
      this.ticks - this.divergedSince < AUTO_LIVE_SYNC_CONFIRM_TICKS ||
      this.ticks < this.autoRetryAt
    )
      return;
    this.log(`auto live-sync: ${reason}`);
    this.divergedSince = undefined;
    this.liveSync().then(
      (done) =>
        this.log(
          `auto live-sync done: SP ${done.sp} from ${done.donor.id} at ${done.donor.address}, ${done.records} records in ${done.ms} ms`,
        ),
      (error: unknown) => {
        const code = error instanceof HsmError ? error.code : 0;
        if (code === CODE.CONNECTED_LIVE_SYNC) this.autoStopped = true;
        this.autoRetryAt = this.ticks + AUTO_LIVE_SYNC_RETRY_TICKS;
        this.log(
          `auto live-sync failed: ${error instanceof Error ? error.message : String(error)}${code === CODE.CONNECTED_LIVE_SYNC ? ' (restart the node to let it live-sync)' : ''}`,
        );
      },
    );
  }

  /**
   * Live-sync in place from `target` (ID, HOST:PORT or ID@HOST:PORT), or from the first member
   * in this node's list that answers. Resolves once this node runs on the pool image.
   */
  async liveSync(
    target?: string,
    onProgress?: (progress: JoinProgress) => void,
  ): Promise<LiveSyncSummary> {
    const candidates = this.liveSyncCandidates(target);
    const replica = this.current.runtime.replica;
    const fenced = replica.status().fenced;
    this.syncing = true;
    const started = Date.now();
    const previous = this.identityValue;
    try {
      const firstId = fenced ? (this.pendingId ??= this.options.newId()) : previous.id;
      // Find a donor that answers under our SVMK before anything stops: a refusal here changes nothing.
      const donor = await this.firstAnswering(firstId, candidates);
      await this.current.detach();
      // What this node decided last (it voted on those): the donor resolves them before DONE.
      const decided = replica.recentlyDecided(LIVE_SYNC_DECIDED_MAX);
      const { joined, id } = await this.joinAs(firstId, donor, decided, onProgress);
      this.pendingId = undefined;
      const identity: NodeIdentity = {
        id,
        domain: previous.domain,
        poolId: joined.poolIdValue,
        founders: joined.membership.founders,
      };
      await this.options.onIdentity?.(identity);
      await this.reopen(identity, joined);
      const sp = joined.syncPoint;
      this.log(
        `live-sync: this node now runs on the pool image from ${joined.donor.id} at ${joined.donor.address} (SP ${sp.hex}, ${sp.count} records)${id !== previous.id ? `, as node ${id} (node ${previous.id} was declared down)` : ''}`,
      );
      return {
        donor: joined.donor,
        previousId: previous.id,
        id,
        sp: sp.hex,
        spvv: sp.spvvHex,
        records: sp.count,
        bytes: joined.bytes,
        transactions: joined.commits,
        ms: Date.now() - started,
      };
    } finally {
      this.syncing = false;
    }
  }

  /** The donors a live-sync may use, or the refusal that says why it cannot start now. */
  private liveSyncCandidates(target?: string): DonorAddress[] {
    if (this.syncing)
      throw new HsmError(CODE.REPLICATION_BUSY, 'a live-sync of this node is already under way');
    if (this.clientConnections > 0)
      throw new HsmError(
        CODE.CONNECTED_LIVE_SYNC,
        `${this.clientConnections} client connection(s) since this node's service started: restart the node, then live-sync before clients connect`,
      );
    const status = this.current.runtime.replica.status();
    if (!status.fenced && status.pending.length > 0) {
      throw new HsmError(
        CODE.CANNOT_PREPARE_LS_TRANS,
        'this node holds a pending transaction; let the replication manager resolve it (info shows it), then live-sync',
      );
    }
    const candidates = this.donorCandidates(target);
    if (candidates.length === 0)
      throw new HsmError(
        CODE.SELF_LIVE_SYNC,
        target
          ? `no node ${target} in this node's list`
          : 'no peers to sync from: add one with nodes add ID HOST:PORT',
      );
    return candidates;
  }

  /** Joins as `id`; if the pool fenced this node's own id meanwhile (it had not heard of it
   * yet), once more as a new node. On failure the node reopens on its previous state. */
  private async joinAs(
    id: NodeId,
    donor: NodeAddress,
    decided: readonly TxId[],
    onProgress?: (progress: JoinProgress) => void,
  ): Promise<{ joined: Joined; id: NodeId }> {
    const previous = this.identityValue;
    let lastError: unknown;
    for (let attempt = 0; attempt < 2; attempt++) {
      const joined = await this.join(
        id,
        donor,
        id === previous.id ? decided : [],
        onProgress,
      ).catch((error: unknown) => {
        lastError = error;
        return undefined;
      });
      if (joined) return { joined, id };
      const fencedMeanwhile =
        lastError instanceof HsmError && lastError.code === CODE.NODE_FENCED && id === previous.id;
      if (!fencedMeanwhile) break;
      id = this.pendingId ??= this.options.newId();
    }
    await this.reopen(previous, undefined);
    throw lastError;
  }

  async close(): Promise<void> {
    await this.current.close();
  }

  /** The first candidate that proves our SVMK, with its id; the most telling refusal otherwise. */
  private async firstAnswering(
    id: NodeId,
    candidates: readonly DonorAddress[],
  ): Promise<NodeAddress> {
    let refusal: HsmError | undefined;
    for (const candidate of candidates) {
      const probed = await probePeer({
        address: candidate.address,
        expectedId: candidate.id,
        localId: id,
        svmk: this.options.svmk,
        randomBytes: this.options.randomBytes,
        dial: this.options.dial,
        timeoutMs: PROBE_TIMEOUT_MS,
      });
      if (probed.code === 0) return { id: probed.id!, address: candidate.address };
      // Another SVMK or another node says more than "does not answer".
      if (!refusal || refusal.code === CODE.SELF_LIVE_SYNC)
        refusal = new HsmError(
          probed.code,
          `live-sync: the node at ${candidate.address}${probed.code === CODE.SELF_LIVE_SYNC ? ' does not answer' : ''}`,
        );
    }
    throw refusal ?? new HsmError(CODE.SELF_LIVE_SYNC, 'no peers to sync from');
  }

  private async join(
    id: NodeId,
    donor: NodeAddress,
    decided: readonly TxId[],
    onProgress?: (progress: JoinProgress) => void,
  ): Promise<Joined> {
    return liveSyncJoin({
      id,
      address: this.options.address,
      decided,
      domain: this.identityValue.domain,
      svmk: this.options.svmk,
      donor,
      transport: await this.transportAs(id),
      dial: this.options.dial,
      core: this.options.newCore(),
      storage: this.options.storage,
      randomBytes: this.options.randomBytes,
      stallMs: this.options.stallMs,
      sha256: this.options.sha256,
      onProgress,
      beforeOverwrite: () => this.options.beforeOverwrite?.({ ...this.identityValue, id }),
    });
  }

  /** Members first (they hold the image), then the rest of the node cache; never this node or a fenced one. */
  private donorCandidates(target?: string): DonorAddress[] {
    const info = this.current.info();
    const others = info.nodes.filter(
      (node) => !node.self && !node.fenced && node.address !== this.options.address,
    );
    if (target !== undefined) {
      const at = target.indexOf('@');
      if (at > 0) {
        const id = target.slice(0, at);
        return isNodeId(id) ? [{ id, address: target.slice(at + 1) }] : [];
      }
      const known = others.find((node) => node.id === target || node.address === target);
      if (known) return [{ id: known.id, address: known.address }];
      return isNodeId(target) ? [] : [{ address: target }];
    }
    return [...others.filter((n) => n.member), ...others.filter((n) => !n.member)].map((node) => ({
      id: node.id,
      address: node.address,
    }));
  }

  /** The peer transport presenting `id`: the current one, or a new one once the old is closed. */
  private async transportAs(id: NodeId): Promise<PeerTransport> {
    if (id !== this.transportId) {
      await this.transport.close();
      this.transport = this.options.transportFor(id);
      this.transportId = id;
    }
    return this.transport;
  }

  private async reopen(identity: NodeIdentity, joined: Joined | undefined): Promise<void> {
    const transport = await this.transportAs(identity.id);
    this.current = await openAppliance(
      this.options,
      identity,
      transport,
      joined?.membership,
      this.discoveryStatus,
      joined?.core,
    );
    this.identityValue = identity;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }
}

function openAppliance(
  options: NodeHostOptions,
  identity: NodeIdentity,
  transport: PeerTransport,
  membership: MembershipEvents | undefined,
  discovery: () => DiscoveryInfo | undefined,
  core?: Core,
  recovered?: RecoveredStore,
): Promise<Appliance> {
  return Appliance.open({
    discovery,
    id: identity.id,
    address: options.address,
    domain: identity.domain,
    poolId: identity.poolId,
    founders: identity.founders,
    membership,
    storage: options.storage,
    core: core ?? options.newCore(),
    recovered,
    random: options.random.fork(),
    transport,
    groupCommit: options.groupCommit,
    timers: options.timers,
    checkpointBytes: options.checkpointBytes,
    sha256: options.sha256,
    log: options.log,
    observer: options.observer,
  });
}
