// Live-sync at the appliance: the donor side (one transfer at a time, beside the replica) and
// `liveSyncJoin`, which brings an empty node into a running pool. The state machines are in
// host/protocol/live-sync/donor.ts; docs/LIVE_SYNC.md describes the whole. Browser-safe.

import { CODE, HsmError } from '../core/codes.ts';
import type { Core } from '../core/core.ts';
import {
  DonorSession,
  LIVE_SYNC_CHUNK_BYTES,
  donorPreempts,
  donorRefusal,
  type JoinProgress,
  type JoinResult,
} from '../protocol/live-sync/donor.ts';
import { JoinerDriver } from '../protocol/live-sync/joiner.ts';
import type { Replica } from '../protocol/replica.ts';
import type { Envelope, LiveSyncBody, NodeAddress, NodeId } from '../protocol/types.ts';
import type { Storage } from '../storage/storage.ts';
import { PROBE_TIMEOUT_MS, probePeer } from '../transport/probe.ts';
import type { FramedSocket, PeerTransport } from '../transport/transport.ts';
import { writeJoinImage } from '../log/join-image.ts';
import type { Sha256Factory } from '../wire/crypto-engine.ts';
import { toHex, toHex64 } from '../wire/bytes.ts';
import type { TxId } from '../wire/ids.ts';

export type { JoinProgress, JoinResult } from '../protocol/live-sync/donor.ts';

/** The donor side of an appliance: serves one joiner at a time. The session it serves is the
 * replica's `donorSession`: the replica tells it of commits, idle steps and probe replies. */
export class LiveSyncDonor {
  private session: DonorSession | undefined;

  constructor(
    private readonly replica: Replica,
    /** Where a joiner listens (a real transport dials it there; the simulator needs none). */
    private readonly rememberAddress: (joiner: NodeId, address: string) => void,
    private readonly domain: string,
    private readonly poolId: bigint,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** The transfer under way, if any. */
  get active(): DonorSession | undefined {
    return this.session;
  }

  receive(envelope: Envelope): void {
    const body = envelope.body as LiveSyncBody;
    if (body.type === 'live-sync-request') return this.onRequest(envelope.from, body);
    if (
      body.type === 'live-sync-ack' &&
      this.session?.session === body.session &&
      this.session.joiner.id === envelope.from
    ) {
      this.session.onAck(body.seq);
      if (this.session.finished) this.end('completed');
    }
  }

  tick(): void {
    const session = this.session;
    if (!session) return;
    session.onTick();
    if (session.finished)
      this.end(session.added ? 'completed' : 'abandoned (the joiner stopped answering)');
  }

  private onRequest(
    from: NodeId,
    body: Extract<LiveSyncBody, { type: 'live-sync-request' }>,
  ): void {
    this.rememberAddress(from, body.address);
    const current = this.session;
    if (current && current.session === body.session) return; // a repeated request: the stream is under way
    let code = donorRefusal(this.replica, from, body.domain, this.domain, {
      version: body.version,
      mode: body.mode,
      stream: body.stream,
    });
    // A joiner the pool already counts as a member goes first: every write waits for its vote,
    // while a session for a node not added yet cannot finish meanwhile (simulator seed 2040).
    const preempt =
      code === 0 && current !== undefined && donorPreempts(this.replica, current, from);
    if (code === 0 && current && current.joiner.id !== from && !current.finished && !preempt)
      code = CODE.REPLICATION_BUSY;
    if (code !== 0) {
      this.log(`live-sync: refused node ${from} at ${body.address} (${code})`);
      this.replica.send(from, { type: 'live-sync-refused', session: body.session, code });
      return;
    }
    if (preempt)
      this.log(`live-sync: the transfer to node ${current!.joiner.id} gives way to member ${from}`);
    current?.finish(); // the same joiner starts over, or a member goes first
    const joiner: NodeAddress = { id: from, address: body.address };
    this.log(`live-sync: sending the pool image to node ${from} at ${body.address}`);
    this.session = new DonorSession(
      this.replica,
      joiner,
      body.session,
      this.replica.core.exportSnapshot(LIVE_SYNC_CHUNK_BYTES),
      toHex64(this.poolId),
      new Set(body.decided ?? []),
      this.log,
    );
    this.replica.donorSession = this.session;
  }

  private end(how: string): void {
    const session = this.session;
    if (!session) return;
    session.finish();
    this.session = undefined;
    if (this.replica.donorSession === session) this.replica.donorSession = undefined;
    const s = session.stats;
    this.log(
      `live-sync: transfer to node ${session.joiner.id} ${how}: ${s.snapshotBytes} snapshot bytes, ${s.records} records, ${s.commits} transactions after the snapshot, ${s.resends} resends`,
    );
  }
}

export interface DonorAddress {
  readonly id?: NodeId;
  readonly address: string;
}

export interface JoinOptions {
  /** This node: its new id and the address it listens at (peers will dial it there). */
  readonly id: NodeId;
  readonly address: string;
  readonly domain: string;
  readonly svmk: Uint8Array;
  /** The donor: any member of the pool; without an id, whichever node answers at the address. */
  readonly donor: DonorAddress;
  /** This node's peer transport (listening at `address`); the appliance keeps using it. */
  readonly transport: PeerTransport;
  /** Opens a raw connection to an address (the transport's own dialer), for the first check. */
  readonly dial: (address: string) => Promise<FramedSocket>;
  /** A core keyed with the SVMK's Sync-Point key, with an empty store. */
  readonly core: Core;
  /** This node's storage; whatever an earlier, interrupted attempt left is cleared first. */
  readonly storage: Storage;
  readonly randomBytes: (length: number) => Uint8Array;
  /** Client connections this node's service accepted since it started (refused if any: 37033). */
  readonly clientConnectionsSinceStart?: number;
  /** A member syncing in place: the transactions it decided last (replica.outcomes' newest). */
  readonly decided?: readonly TxId[];
  /** Give up when the donor has sent nothing for this long (37032). */
  readonly stallMs?: number;
  readonly onProgress?: (progress: JoinProgress) => void;
  /** Runs once the whole image arrived and verified, before `storage` is overwritten with it
   * (a host marks its directory as mid-join here: a crash from now on needs the join again). */
  readonly beforeOverwrite?: (result: JoinResult) => Promise<void> | void;
  /** The request-outcomes blob's checksum hash (node:crypto's in Node; default noble's). */
  readonly sha256?: Sha256Factory;
}

/** A node's state after it joined: open its Appliance with these (founders, pool id, membership). */
export interface Joined extends JoinResult {
  readonly poolIdValue: bigint;
  /** The member the image came from. */
  readonly donor: NodeAddress;
  /** The core that received the image: the node opens on it (recovery does not import the
   * checkpoint it wrote again). */
  readonly core: Core;
}

/**
 * Checks the donor before anything else: the address answers, holds our SVMK, and is the node
 * we name (or, with no id named, learns which node it is). Resolves with the donor's id, or
 * rejects with the code to refuse with (37034, 5306, 38604).
 */
export async function checkDonor(
  options: Pick<JoinOptions, 'id' | 'donor' | 'svmk' | 'dial' | 'randomBytes'>,
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<NodeId> {
  const { donor } = options;
  const probed = await probePeer({
    address: donor.address,
    expectedId: donor.id,
    localId: options.id,
    svmk: options.svmk,
    randomBytes: options.randomBytes,
    dial: options.dial,
    timeoutMs,
  });
  const named = donor.id ? `donor ${donor.id} at ${donor.address}` : `donor at ${donor.address}`;
  if (probed.code !== 0)
    throw new HsmError(
      probed.code,
      `live-sync: ${named}${probed.code === CODE.SELF_LIVE_SYNC ? ' does not answer' : ''}`,
    );
  return probed.id!;
}

/**
 * Live-sync into this node (new, or one whose state the pool image replaces): takes the pool image from `donor` while the pool runs, writes
 * a checkpoint of it (the log starts there), and resolves once the donor added this node to the
 * pool. Then open the node's Appliance from `storage` with the result's founders, pool id and
 * membership. Rejects with an HsmError (37033, 37034, 5306, 37037, 37032, 38502 this id was
 * declared down: retry under a new one, ...) and leaves `storage` as it was.
 */
export async function liveSyncJoin(options: JoinOptions): Promise<Joined> {
  if ((options.clientConnectionsSinceStart ?? 0) > 0)
    throw new HsmError(
      CODE.CONNECTED_LIVE_SYNC,
      "clients connected since this node's service started: restart it first",
    );
  if (options.donor.id === options.id || options.donor.address === options.address)
    throw new HsmError(CODE.SELF_LIVE_SYNC, 'the donor is this node');
  const donor: NodeAddress = { id: await checkDonor(options), address: options.donor.address };

  const stallMs = options.stallMs ?? 10_000;
  // Wall-clock ticks for the tick-driven driver: a few per stall period.
  const tickMs = Math.min(1000, Math.max(50, stallMs / 4));
  const transport = options.transport;
  const driver = new JoinerDriver({
    id: options.id,
    donor,
    session: toHex(options.randomBytes(8)),
    core: options.core,
    address: options.address,
    domain: options.domain,
    decided: options.decided,
    stallTicks: Math.max(1, Math.round(stallMs / tickMs)),
    requestEveryTicks: 1,
    // Acknowledge from a fresh task: the donor's next items wait for it, and whatever else
    // shares this thread (the memory transport's pool, this node's own work) gets a turn.
    // BEGIN's acknowledgement starts the donor's sort; the core is prepared meanwhile.
    send: (envelope) => {
      const body = envelope.body;
      if (body.type !== 'live-sync-ack') return transport.send(envelope);
      setTimeout(() => {
        transport.send(envelope);
        if (body.seq === 0) driver.prepareImport();
      }, 0);
    },
    onProgress: options.onProgress,
  });
  transport.setPeerAddress(donor.id, donor.address);
  const result = await new Promise<JoinResult>((resolve, reject) => {
    const settle = (): void => {
      if (driver.state === 'joined') resolve(driver.result!);
      else if (driver.state === 'failed') reject(driver.error);
      else return;
      clearInterval(timer);
    };
    const timer = setInterval(() => {
      driver.tick();
      settle();
    }, tickMs);
    // Envelopes go on reaching the driver after DONE (it repeats a lost acknowledgement)
    // until the node's appliance takes the transport over.
    transport.onEnvelope((envelope) => {
      driver.receive(envelope);
      settle();
    });
    driver.start();
  });

  // Nothing was written so far: a failure above left this node's storage as it was.
  await options.beforeOverwrite?.(result);
  const poolIdValue = await writeJoinImage(options.core, options.storage, result, options.sha256);
  return { ...result, poolIdValue, donor, core: options.core };
}
