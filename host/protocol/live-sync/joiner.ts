// The joiner's driver of one live-sync attempt: the single piece of logic that a real node
// (appliance/live-sync.ts liveSyncJoin, with wall-clock ticks) and the simulator (with its
// ticks) both run. Pure: no clock, no timers, no I/O; time arrives as `tick()`, envelopes as
// `receive()`, and whatever it says leaves through `send`. The stream itself is the
// JoinerSession (live-sync.ts). docs/LIVE_SYNC.md describes the whole.
//
// The request is repeated until the stream starts (a request may be lost, like anything else);
// the attempt fails when the donor has sent nothing for `stallTicks` (it died, or a partition
// cut it off), when it refuses, or when what it sends does not verify. A retry is a new
// driver, by the caller (the operator, the CLI's wrapper, the simulator).

import { RELEASE } from './donor.ts';
import { CODE, HsmError } from '../../core/codes.ts';
import type { Core } from '../../core/core.ts';
import {
  JOINING_DIGEST,
  JoinerSession,
  isLiveSync,
  type JoinProgress,
  type JoinResult,
} from './donor.ts';
import type { Envelope, LiveSyncBody, NodeAddress, NodeId, TxId } from '../types.ts';

/** 'requesting' until the donor's first item, 'streaming' until DONE; then 'joined' or, at
 * any point, 'failed'. */
export type JoinerState = 'requesting' | 'streaming' | 'joined' | 'failed';

export interface JoinerDriverOptions {
  /** This node (the joiner). */
  readonly id: NodeId;
  readonly donor: NodeAddress;
  readonly session: string;
  /** An empty core keyed with the pool's Sync-Point key: the image goes into it. */
  readonly core: Core;
  /** What the request tells the donor: where this node listens, its domain, and (a member
   * syncing in place) the transactions it decided last. */
  readonly address: string;
  readonly domain: string;
  readonly decided?: readonly TxId[];
  /** Ticks without a word from the donor before the attempt fails (37032). */
  readonly stallTicks: number;
  /** Ticks between repeats of the request until the stream starts. */
  readonly requestEveryTicks: number;
  readonly send: (envelope: Envelope) => void;
  readonly onProgress?: (progress: JoinProgress) => void;
}

export class JoinerDriver {
  private phase: JoinerState = 'requesting';
  private readonly joiner: JoinerSession;
  private now = 0;
  private lastHeard = 0;
  private nextRequest = 0;
  /** Why the attempt failed (state 'failed'). */
  error: HsmError | undefined;

  constructor(private readonly options: JoinerDriverOptions) {
    this.joiner = new JoinerSession(options.session, options.core);
  }

  get state(): JoinerState {
    return this.phase;
  }

  get session(): string {
    return this.options.session;
  }

  /** The received image's result (state 'joined'). */
  get result(): JoinResult | undefined {
    return this.joiner.result;
  }

  progress(): JoinProgress {
    return this.joiner.progress();
  }

  /** Sends the first request. */
  start(): void {
    this.request();
  }

  tick(): void {
    if (this.settled) return;
    this.now++;
    if (this.now - this.lastHeard > this.options.stallTicks) return this.fail(this.stalled());
    if (this.phase === 'requesting' && this.now >= this.nextRequest) this.request();
  }

  receive(envelope: Envelope): void {
    const body = envelope.body;
    // Members probe a node they count in while it joins (a donor confirming an add): it
    // answers that it holds no membership yet and has committed nothing.
    if (body.type === 'probe') {
      if (!this.settled)
        this.sendTo(envelope.from, JOINING_DIGEST, {
          type: 'probe-reply',
          nonce: body.nonce,
        });
      return;
    }
    const { donor, session } = this.options;
    if (envelope.from !== donor.id || !isLiveSync(body) || body.session !== session) return;
    if (body.type === 'live-sync-refused')
      return this.fail(
        new HsmError(body.code, `live-sync: donor ${donor.id} at ${donor.address} refused`),
      );
    if (body.type === 'live-sync-request' || body.type === 'live-sync-ack') return;
    if (this.phase === 'joined') {
      // The donor did not hear our last acknowledgement: repeat it.
      if (body.type === 'live-sync-done')
        this.sendLiveSync({ type: 'live-sync-ack', session, seq: body.seq });
      return;
    }
    if (this.phase === 'failed') return;
    this.lastHeard = this.now;
    this.phase = 'streaming';
    let ack: number;
    try {
      ack = this.joiner.receive(body);
    } catch (error) {
      return this.fail(
        error instanceof HsmError && error.code === CODE.UNDEFINED_LIVE_SYNC
          ? error
          : new HsmError(CODE.UNDEFINED_LIVE_SYNC, `live-sync: ${(error as Error).message}`),
      );
    }
    if (ack >= 0) this.sendLiveSync({ type: 'live-sync-ack', session, seq: ack });
    this.options.onProgress?.(this.joiner.progress());
    if (this.joiner.result) this.phase = 'joined';
  }

  /** See JoinerSession.prepareImport: the host calls it once BEGIN's acknowledgement is sent
   * (from a task of its own). A core that cannot prepare (out of memory) fails the attempt as
   * the import itself would, rather than throwing into the host's task. */
  prepareImport(): void {
    if (this.phase !== 'streaming') return;
    try {
      this.joiner.prepareImport();
    } catch (error) {
      this.fail(new HsmError(CODE.UNDEFINED_LIVE_SYNC, `live-sync: ${(error as Error).message}`));
    }
  }

  private get settled(): boolean {
    return this.phase === 'joined' || this.phase === 'failed';
  }

  private request(): void {
    const { session, address, domain, decided } = this.options;
    this.nextRequest = this.now + this.options.requestEveryTicks;
    this.sendLiveSync({
      type: 'live-sync-request',
      session,
      address,
      domain,
      ...RELEASE,
      ...(decided ? { decided } : {}),
    });
  }

  private stalled(): HsmError {
    const { donor } = this.options;
    const p = this.joiner.progress();
    const where =
      this.phase === 'streaming'
        ? `after ${p.bytes} bytes, ${p.records} of ${p.totalRecords} records, ${p.commits} transactions`
        : 'before the transfer began';
    return new HsmError(
      CODE.UNDEFINED_LIVE_SYNC,
      `live-sync: donor ${donor.id} at ${donor.address} stopped answering (${where}); retry, from another donor if it is down`,
    );
  }

  private fail(error: HsmError): void {
    if (this.settled) return;
    this.phase = 'failed';
    this.error = error;
    this.joiner.abort();
  }

  private sendLiveSync(body: LiveSyncBody): void {
    this.sendTo(this.options.donor.id, '', body);
  }

  private sendTo(to: NodeId, digest: string, body: Envelope['body']): void {
    this.options.send({
      from: this.options.id,
      to,
      epoch: 0,
      digest,
      sp: undefined,
      spvv: 0,
      body,
    });
  }
}
