// A new node live-syncing into the simulated pool, driven by ticks: what liveSyncJoin
// (host/appliance/live-sync.ts) does with Date.now and setInterval, here with the world's clock
// and the seed. The stream itself is the real JoinerSession. The request is repeated until the
// stream starts; an attempt is given up when the donor has sent nothing for `stallTicks`
// (the donor died, or a partition cut it off) or refused; the next attempt goes to another
// donor under the SAME node id: if the first donor had already added this node, only the same
// id lets the pool's member that does not vote yet come to life (docs/LIVE_SYNC.md, Failures).

import { HsmError } from '../core/codes.ts';
import type { Core } from '../core/core.ts';
import {
  JOINING_DIGEST,
  JoinerSession,
  isLiveSync,
  type JoinResult,
} from '../protocol/live-sync.ts';
import type { Random } from '../protocol/random.ts';
import type { Envelope, LiveSyncBody, NodeId } from '../protocol/types.ts';
import { MemoryStorage } from '../storage/memory.ts';
import { SIM_DOMAIN } from './params.ts';

const UNDEFINED_LIVE_SYNC = 37032;

export interface JoinerEnv {
  readonly random: Random;
  readonly newCore: () => Core;
  readonly stallTicks: number;
  /** Hands an envelope to the network at the current tick. */
  send(envelope: Envelope): void;
  /** Nodes an operator could name as the donor (members as far as the world knows). */
  donors(): NodeId[];
  log(text: string): void;
}

export class SimJoiner {
  /** Storage of the node; written only at the end (the checkpoint), so a retry finds it empty. */
  readonly storage = new MemoryStorage();
  attempts = 0;
  crashes = 0;
  /** Set when DONE was applied: the world writes the checkpoint and opens the node. */
  result: JoinResult | undefined;
  core: Core | undefined;
  sessionId = '';
  private session: JoinerSession | undefined;
  private donor: NodeId | undefined;
  private started = false;
  private lastHeard = 0;
  private nextRequest = 0;

  constructor(
    readonly id: NodeId,
    readonly address: string,
    private readonly env: JoinerEnv,
    private resumeAt: number,
  ) {}

  get active(): boolean {
    return this.session !== undefined;
  }

  tick(now: number): void {
    if (this.result) return;
    if (!this.session) {
      if (now >= this.resumeAt) this.begin(now);
      return;
    }
    if (now - this.lastHeard > this.env.stallTicks)
      return this.fail(now, `donor ${short(this.donor!)} stalled`);
    // Repeated until the stream starts (a request may be lost, like anything else).
    if (!this.started && now >= this.nextRequest) this.request(now);
  }

  receive(envelope: Envelope, now: number): void {
    const body = envelope.body;
    // A member probing a node it counts in while it joins (a donor confirming an add): it holds
    // no membership yet and has committed nothing (as liveSyncJoin answers).
    if (body.type === 'probe' && this.session && !this.result) {
      this.env.send({
        from: this.id,
        to: envelope.from,
        epoch: 0,
        digest: JOINING_DIGEST,
        sp: '',
        spvv: 0,
        body: { type: 'probe-reply', nonce: body.nonce },
      });
      return;
    }
    if (
      !this.session ||
      envelope.from !== this.donor ||
      !isLiveSync(body) ||
      body.session !== this.sessionId
    )
      return;
    if (body.type === 'live-sync-refused')
      return this.fail(
        now,
        `refused by ${short(this.donor)} (${new HsmError(body.code).codeName})`,
      );
    if (body.type === 'live-sync-request' || body.type === 'live-sync-ack' || this.result) return;
    this.lastHeard = now;
    this.started = true;
    let ack: number;
    try {
      ack = this.session.receive(body);
    } catch (error) {
      if (error instanceof HsmError && error.code === UNDEFINED_LIVE_SYNC)
        return this.fail(now, error.message);
      throw error;
    }
    if (ack >= 0) this.send({ type: 'live-sync-ack', session: this.sessionId, seq: ack });
    if (this.session.result) {
      this.result = this.session.result;
      this.env.log(
        `join ${short(this.id)}: done from ${short(this.donor!)} (attempt ${this.attempts}, ${this.result.records} records, ${this.result.commits} transactions caught up)`,
      );
    }
  }

  /** The joiner's process dies: the session and the half-imported core are gone. */
  crash(restartAt: number): void {
    if (this.result) return;
    this.crashes++;
    this.session = undefined;
    this.core = undefined;
    this.resumeAt = restartAt;
    this.env.log(`join ${short(this.id)}: crashed`);
  }

  private begin(now: number): void {
    const candidates = this.env.donors().filter((id) => id !== this.id);
    if (candidates.length === 0) return;
    // Another donor than the last one when there is a choice (the last one may be dead).
    const others = candidates.filter((id) => id !== this.donor);
    this.donor = this.env.random.pick(others.length > 0 ? others : candidates);
    this.attempts++;
    this.sessionId = this.env.random.id64();
    this.core = this.env.newCore();
    this.session = new JoinerSession(this.sessionId, this.core);
    this.started = false;
    this.lastHeard = now;
    this.env.log(`join ${short(this.id)}: attempt ${this.attempts} from ${short(this.donor)}`);
    this.request(now);
  }

  private request(now: number): void {
    this.nextRequest = now + Math.max(5, Math.floor(this.env.stallTicks / 4));
    this.send({
      type: 'live-sync-request',
      session: this.sessionId,
      address: this.address,
      domain: SIM_DOMAIN,
    });
  }

  private fail(now: number, why: string): void {
    this.session?.abort();
    this.session = undefined;
    this.core = undefined;
    // The operator (or the CLI's wrapper) tries again after a moment.
    this.resumeAt = now + 1 + this.env.random.below(20);
    this.env.log(`join ${short(this.id)}: attempt ${this.attempts} failed: ${why}`);
  }

  private send(body: LiveSyncBody): void {
    this.env.send({ from: this.id, to: this.donor!, epoch: 0, digest: '', sp: '', spvv: 0, body });
  }
}

const short = (id: string): string => id.slice(-2);
