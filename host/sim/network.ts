// The simulated network: every message gets a delivery tick (delay and so reordering), may
// be lost or duplicated, and is dropped at delivery if a partition separates the two ends.

import type { Random } from '../protocol/random.ts';
import type { Envelope, NodeId } from '../protocol/types.ts';

export interface NetworkFaults {
  loss: number;
  duplication: number;
  delayTicksMax: number;
}

export class SimNetwork {
  private inFlight: { at: number; envelope: Envelope }[] = [];
  /** Directed links that drop everything (asymmetric partitions are one direction only). */
  private readonly cut = new Set<string>();
  sent = 0;
  delivered = 0;

  constructor(
    private readonly random: Random,
    public faults: NetworkFaults,
  ) {}

  send(now: number, envelope: Envelope): void {
    this.sent++;
    if (this.random.chance(this.faults.loss)) return;
    const copies = this.random.chance(this.faults.duplication) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.inFlight.push({ at: now + 1 + this.random.below(this.faults.delayTicksMax), envelope });
    }
  }

  /** Messages due at `now` whose link is up, in a random order. */
  due(now: number): Envelope[] {
    const ready = this.inFlight.filter((m) => m.at <= now);
    this.inFlight = this.inFlight.filter((m) => m.at > now);
    const out = ready.map((m) => m.envelope).filter((e) => !this.cut.has(`${e.from}>${e.to}`));
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.random.below(i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    this.delivered += out.length;
    return out;
  }

  /** A new random layout: a symmetric split into two groups, or one asymmetric cut. */
  repartition(nodes: readonly NodeId[]): string {
    this.cut.clear();
    const kind = this.random.below(3);
    if (kind === 0) return 'healed';
    if (kind === 1) {
      const side = new Set(nodes.filter(() => this.random.chance(0.5)));
      for (const a of nodes)
        for (const b of nodes) if (side.has(a) !== side.has(b)) this.cut.add(`${a}>${b}`);
      return `split {${[...side].join(',')}}`;
    }
    const from = this.random.pick(nodes);
    const to = this.random.pick(nodes.filter((n) => n !== from));
    this.cut.add(`${from}>${to}`);
    return `cut ${from}>${to}`;
  }

  /** Cuts every link between `side` and the rest of `nodes`, both ways (a scenario's split). */
  split(side: readonly NodeId[], nodes: readonly NodeId[]): void {
    this.cut.clear();
    for (const a of nodes)
      for (const b of nodes) if (side.includes(a) !== side.includes(b)) this.cut.add(`${a}>${b}`);
  }

  heal(): void {
    this.cut.clear();
  }

  pending(): number {
    return this.inFlight.length;
  }
}
