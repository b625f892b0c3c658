// Live-sync joins in a simulated pool: when each new node starts, its messages and ticks, its
// crashes, and the end of a join, which is what liveSyncJoin's caller does: write the
// checkpoint of the received state (the first entry of the node's log, at the membership's
// epoch), open the node with the membership from DONE, and give its replica the remembered
// write outcomes. From then on the node is a member like the founders.

import { writeJoinImage } from '../log/join-image.ts';
import { nodeIdOfNumber } from '../wire/ids.ts';
import type { Random } from '../protocol/random.ts';
import type { Envelope, NodeId } from '../protocol/types.ts';
import { SimJoiner } from './joiner.ts';
import type { CoreFactory, World } from './world.ts';

export class Joins {
  readonly joiners: SimJoiner[] = [];
  private readonly starts: number[] = [];
  private random: Random | undefined;

  constructor(
    private readonly world: World,
    private readonly newCore: CoreFactory,
  ) {
    // Only a seed with joins draws anything here: the others run exactly as before joins existed.
    if (world.params.joins === 0) return;
    this.random = world.random.fork();
    for (let i = 0; i < world.params.joins; i++)
      this.starts.push(1 + this.random.below(world.params.safetyTicks - 1));
  }

  /** Joiners still syncing. */
  unfinished(): SimJoiner[] {
    return this.joiners.filter((joiner) => !joiner.result);
  }

  ids(): NodeId[] {
    return this.unfinished().map((joiner) => joiner.id);
  }

  async deliver(envelope: Envelope): Promise<void> {
    const joiner = this.unfinished().find((j) => j.id === envelope.to);
    if (!joiner) return;
    joiner.receive(envelope, this.world.now);
    if (joiner.result) await this.finish(joiner);
  }

  async tick(): Promise<void> {
    const world = this.world;
    while (
      this.joiners.length < this.starts.length &&
      this.starts[this.joiners.length] <= world.now
    )
      this.add();
    for (const joiner of this.unfinished()) joiner.tick(world.now);
  }

  /** A new node starts to join now, from `donors` (default: any member the world knows). */
  add(donors?: () => NodeId[]): SimJoiner {
    const world = this.world;
    this.random ??= world.random.fork();
    const n = this.joiners.length + 1;
    // Fresh ids outside the founders' range (founders are 1..5).
    const joiner = new SimJoiner(
      nodeIdOfNumber(BigInt(0xa0 + n)),
      `10.0.1.${n}:7001`,
      {
        random: this.random.fork(),
        newCore: this.newCore,
        stallTicks: world.params.joinStallTicks,
        send: (envelope) => world.network.send(world.now, envelope),
        donors:
          donors ??
          (() =>
            world.nodes
              .filter((node) => !node.staysDead && node.fencedAtLog === undefined)
              .map((node) => node.id)),
        log: (text) => world.log(text),
      },
      world.now,
    );
    this.joiners.push(joiner);
    return joiner;
  }

  /** Random crashes of joiners mid-transfer (a restart starts over, same id). */
  crashSome(): void {
    const { random, params, now } = this.world;
    for (const joiner of this.unfinished()) {
      if (joiner.active && random.chance(params.crashRate))
        joiner.crash(now + 1 + random.below(params.restartTicksMax));
    }
  }

  private async finish(joiner: SimJoiner): Promise<void> {
    const result = joiner.result!;
    const core = joiner.core!;
    const world = this.world;
    const members = result.membership;
    const live = [...members.founders, ...members.added].filter(
      (node) => !members.down.includes(node.id),
    );
    if (!live.some((node) => node.id === joiner.id))
      world.problems.push(`joiner ${joiner.id} got DONE with a membership that does not name it`);
    // The image liveSyncJoin writes.
    await writeJoinImage(core, joiner.storage, result);
    const inherited = world.doneHistories.get(joiner.sessionId);
    if (!inherited)
      world.problems.push(
        `joiner ${joiner.id} got DONE of session ${joiner.sessionId}, which no donor queued`,
      );
    await world.addJoined(
      {
        id: joiner.id,
        storage: joiner.storage,
        inherited: inherited ?? { txids: [], sps: [] },
        joinedAtSp: result.syncPoint.sp,
      },
      members,
      core,
    );
  }
}
