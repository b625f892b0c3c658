// A pool driven by hand for readable scenarios: messages wait in one queue until a step
// delivers or drops them, nodes crash and restart from their durable logs, and an operator
// issues node-down. No randomness but the seed of each replica's transaction ids.

import { NodeRuntime } from '../appliance/runtime.ts';
import { pumpReady } from '../appliance/ready-pump.ts';
import type { Core } from '../core/core.ts';
import { Random } from '../protocol/random.ts';
import type { Replica } from '../protocol/replica.ts';
import type {
  ClientReply,
  Envelope,
  LogRecord,
  MessageType,
  NodeAddress,
  NodeId,
} from '../protocol/types.ts';
import { MemoryStorage } from '../storage/memory.ts';
import { toHex } from '../wire/bytes.ts';
import { nodeIdOfNumber } from '../wire/ids.ts';

export interface ScenarioNode {
  readonly name: string;
  readonly id: NodeId;
  runtime: NodeRuntime | undefined;
  readonly storage: MemoryStorage;
  /** The records persisted, in order (for the stories' assertions). */
  readonly log: LogRecord[];
}

type Filter = { from?: string; to?: string; type?: MessageType };

export class ScenarioPool {
  readonly nodes: ScenarioNode[];
  readonly founders: NodeAddress[];
  queue: Envelope[] = [];
  readonly replies = new Map<string, ClientReply>();
  /** Which nodes each request id was sent to (their replies are the answers). */
  private readonly askedAt = new Map<string, Set<string>>();
  private seed = 1;

  private constructor(
    names: readonly string[],
    private readonly newCore: () => Core,
  ) {
    this.founders = names.map((name, i) => ({
      id: nodeIdOfNumber(BigInt(i + 1)),
      address: `${name}:7001`,
    }));
    this.nodes = names.map((name, i) => ({
      name,
      id: this.founders[i].id,
      runtime: undefined,
      storage: new MemoryStorage(),
      log: [],
    }));
  }

  static async create(names: readonly string[], newCore: () => Core): Promise<ScenarioPool> {
    const pool = new ScenarioPool(names, newCore);
    for (const node of pool.nodes) await pool.restart(node.name);
    return pool;
  }

  node(name: string): ScenarioNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name}`);
    return node;
  }

  replica(name: string): Replica {
    const runtime = this.node(name).runtime;
    if (!runtime) throw new Error(`${name} is down`);
    return runtime.replica;
  }

  private nameOf(id: string): string {
    return this.nodes.find((n) => n.id === id)!.name;
  }

  /** The appliance's Ready pump: persists, then queues messages and records replies.
   * `crashWhileWriting`: the node crashes as its next batch is being written (what left early,
   * Ready.early, stays in flight; the batch's entries are lost). */
  private async drain(node: ScenarioNode, crashWhileWriting = false): Promise<void> {
    const runtime = node.runtime;
    if (!runtime) return;
    await pumpReady(runtime, {
      running: () => node.runtime === runtime,
      taken: () => {
        if (crashWhileWriting) node.runtime = undefined;
      },
      persisted: ({ ready }) => node.log.push(...ready.persist),
      send: (envelope) => this.queue.push(envelope),
      // Only the node a request was sent to answers its caller; a reply elsewhere (a
      // participant answering the writes of a transaction it aborted) reaches nobody.
      reply: (reply) => {
        if (this.askedAt.get(reply.requestId)?.has(node.id))
          this.replies.set(reply.requestId, reply);
      },
    });
  }

  /** A write labelled `label` (its request id is the label's bytes in hex; replies are keyed by label). */
  private asked(requestId: string, name: string): void {
    const nodes = this.askedAt.get(requestId) ?? new Set();
    nodes.add(this.node(name).id);
    this.askedAt.set(requestId, nodes);
  }

  /** `crashWhileWriting`: the node crashes while it writes what the write caused (drain). */
  async write(
    name: string,
    label: string,
    record: Uint8Array,
    crashWhileWriting = false,
  ): Promise<void> {
    this.asked(labelId(label), name);
    this.replica(name).request({
      kind: 'write',
      requestId: labelId(label),
      event: 'CREATE_OBJ',
      operations: [{ op: 'insert', record }],
      sourceUser: 'alice',
      target: label,
    });
    await this.drain(this.node(name), crashWhileWriting);
  }

  reply(label: string): ClientReply | undefined {
    return this.replies.get(labelId(label)) ?? this.replies.get(label);
  }

  forget(label: string): void {
    this.replies.delete(labelId(label));
  }

  async nodeDown(issuer: string, target: string, requestId = `down-${target}`): Promise<void> {
    this.asked(requestId, issuer);
    this.replica(issuer).request({ kind: 'node-down', requestId, node: this.node(target).id });
    await this.drain(this.node(issuer));
  }

  private matches(envelope: Envelope, filter: Filter): boolean {
    return (
      (!filter.from || this.nameOf(envelope.from) === filter.from) &&
      (!filter.to || this.nameOf(envelope.to) === filter.to) &&
      (!filter.type || envelope.body.type === filter.type)
    );
  }

  /** Delivers queued messages matching the filter (and what they cause, if `rounds` > 1). */
  async deliver(filter: Filter = {}, rounds = 1): Promise<void> {
    for (let round = 0; round < rounds; round++) {
      const now = this.queue.filter((e) => this.matches(e, filter));
      this.queue = this.queue.filter((e) => !this.matches(e, filter));
      for (const envelope of now) {
        const node = this.nodes.find((n) => n.id === envelope.to)!;
        if (!node.runtime) continue;
        node.runtime.replica.receive(envelope);
        await this.drain(node);
      }
    }
  }

  drop(filter: Filter = {}): void {
    this.queue = this.queue.filter((e) => !this.matches(e, filter));
  }

  crash(name: string): void {
    this.node(name).runtime = undefined;
    this.queue = this.queue.filter(
      (e) => this.nameOf(e.to) !== name && this.nameOf(e.from) !== name,
    );
  }

  /** Starts (or restarts) a node from its storage through real recovery. */
  async restart(name: string): Promise<void> {
    const node = this.node(name);
    node.runtime = await NodeRuntime.open({
      id: node.id,
      poolId: 1n,
      founders: this.founders,
      storage: node.storage,
      core: this.newCore(),
      random: new Random(this.seed++),
    });
  }

  /** Ticks every live node, delivering everything between ticks, except messages cut by `blocked`. */
  async run(
    ticks: number,
    blocked: (from: string, to: string) => boolean = () => false,
  ): Promise<void> {
    for (let t = 0; t < ticks; t++) {
      for (const node of this.nodes) {
        node.runtime?.replica.tick();
        await this.drain(node);
      }
      this.queue = this.queue.filter((e) => !blocked(this.nameOf(e.from), this.nameOf(e.to)));
      await this.deliver({}, 1);
    }
  }

  committed(name: string): string[] {
    return this.node(name).log.flatMap((r) => (r.type === 'commit' ? [r.txid] : []));
  }

  aborted(name: string): string[] {
    return this.node(name).log.flatMap((r) => (r.type === 'abort' ? [r.txid] : []));
  }

  states(name: string): string[] {
    return this.replica(name)
      .pending()
      .map((p) => p.state);
  }
}

function labelId(label: string): string {
  return toHex(new TextEncoder().encode(label.padEnd(16, '.').slice(0, 16)));
}
