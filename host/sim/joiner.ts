// A new node live-syncing into the simulated pool: the sim-side plumbing around the joiner
// driver that real nodes run (protocol/live-sync/joiner.ts), fed the world's ticks. What is
// the simulator's own: when an attempt starts, which donor it asks, the process dying, and
// the retry after a failure, which an operator (or the CLI's wrapper) makes after a moment:
// another donor under the SAME node id: if the first donor had already added this node, only
// the same id lets the pool's member that does not vote yet come to life (docs/LIVE_SYNC.md,
// Failures).

import type { Core } from '../core/core.ts';
import type { JoinResult } from '../protocol/live-sync/donor.ts';
import { JoinerDriver } from '../protocol/live-sync/joiner.ts';
import type { Random } from '../protocol/random.ts';
import type { Envelope, NodeId } from '../protocol/types.ts';
import { MemoryStorage } from '../storage/memory.ts';
import { SIM_DOMAIN } from './params.ts';

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
  /** Storage of the node; written only at the end (the join's image), so a retry finds it empty. */
  readonly storage = new MemoryStorage();
  attempts = 0;
  crashes = 0;
  /** Set when DONE was applied: the world writes the image and opens the node. */
  result: JoinResult | undefined;
  core: Core | undefined;
  private driver: JoinerDriver | undefined;
  private donor: NodeId | undefined;

  constructor(
    readonly id: NodeId,
    readonly address: string,
    private readonly env: JoinerEnv,
    private resumeAt: number,
  ) {}

  get active(): boolean {
    return this.driver !== undefined;
  }

  /** The session of the current attempt. */
  get sessionId(): string {
    return this.driver?.session ?? '';
  }

  tick(now: number): void {
    if (this.result) return;
    if (!this.driver) {
      if (now >= this.resumeAt) this.begin();
      return;
    }
    this.driver.tick();
    this.settle(now);
  }

  receive(envelope: Envelope, now: number): void {
    if (this.result || !this.driver) return;
    this.driver.receive(envelope);
    this.settle(now);
  }

  /** The joiner's process dies: the attempt and the half-imported core are gone. */
  crash(restartAt: number): void {
    if (this.result) return;
    this.crashes++;
    this.driver = undefined;
    this.core = undefined;
    this.resumeAt = restartAt;
    this.env.log(`join ${short(this.id)}: crashed`);
  }

  private begin(): void {
    const candidates = this.env.donors().filter((id) => id !== this.id);
    if (candidates.length === 0) return;
    // Another donor than the last one when there is a choice (the last one may be dead).
    const others = candidates.filter((id) => id !== this.donor);
    this.donor = this.env.random.pick(others.length > 0 ? others : candidates);
    this.attempts++;
    this.core = this.env.newCore();
    const driver: JoinerDriver = new JoinerDriver({
      id: this.id,
      donor: { id: this.donor, address: `node ${short(this.donor)}` },
      session: this.env.random.id64(),
      core: this.core,
      address: this.address,
      domain: SIM_DOMAIN,
      stallTicks: this.env.stallTicks,
      requestEveryTicks: Math.max(5, Math.floor(this.env.stallTicks / 4)),
      // As liveSyncJoin does: BEGIN's acknowledgement out, then the core prepared.
      send: (envelope) => {
        this.env.send(envelope);
        if (envelope.body.type === 'live-sync-ack' && envelope.body.seq === 0)
          driver.prepareImport();
      },
    });
    this.driver = driver;
    this.env.log(`join ${short(this.id)}: attempt ${this.attempts} from ${short(this.donor)}`);
    this.driver.start();
  }

  private settle(now: number): void {
    const driver = this.driver!;
    if (driver.state === 'joined') {
      this.result = driver.result;
      this.env.log(
        `join ${short(this.id)}: done from ${short(this.donor!)} (attempt ${this.attempts}, ${this.result!.records} records, ${this.result!.commits} transactions caught up)`,
      );
    } else if (driver.state === 'failed') {
      this.driver = undefined;
      this.core = undefined;
      // The operator (or the CLI's wrapper) tries again after a moment.
      this.resumeAt = now + 1 + this.env.random.below(20);
      this.env.log(
        `join ${short(this.id)}: attempt ${this.attempts} failed: ${driver.error!.message}`,
      );
    }
  }
}

const short = (id: string): string => id.slice(-2);
