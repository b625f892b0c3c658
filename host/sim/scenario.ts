// A pool driven by hand for readable scenarios: messages wait in one queue until a step
// delivers or drops them, nodes crash and restart from their durable logs, and an operator
// issues node-down. No randomness but the seed of each replica's transaction ids.

import type { Core } from '../core/core.ts';
import { Random } from '../protocol/random.ts';
import { Replica } from '../protocol/replica.ts';
import { restore } from '../protocol/restore.ts';
import type { ClientReply, Envelope, LogRecord, MessageType, NodeAddress } from '../protocol/types.ts';

export interface ScenarioNode {
  readonly name: string;
  readonly id: string;
  replica: Replica | undefined;
  readonly log: LogRecord[];
}

type Filter = { from?: string; to?: string; type?: MessageType };

export class ScenarioPool {
  readonly nodes: ScenarioNode[];
  readonly founders: NodeAddress[];
  queue: Envelope[] = [];
  readonly replies = new Map<string, ClientReply>();
  private seed = 1;

  constructor(names: readonly string[], private readonly newCore: () => Core) {
    this.founders = names.map((name, i) => ({ id: (i + 1).toString(16).padStart(16, '0'), address: `${name}:7001` }));
    this.nodes = names.map((name, i) => ({ name, id: this.founders[i].id, replica: undefined, log: [] }));
    for (const node of this.nodes) this.restart(node.name);
  }

  node(name: string): ScenarioNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name}`);
    return node;
  }

  replica(name: string): Replica {
    const replica = this.node(name).replica;
    if (!replica) throw new Error(`${name} is down`);
    return replica;
  }

  private nameOf(id: string): string {
    return this.nodes.find((n) => n.id === id)!.name;
  }

  /** Persists, then queues messages and records replies (what an appliance does). */
  private drain(node: ScenarioNode): void {
    while (node.replica?.hasReady()) {
      const ready = node.replica.ready();
      node.log.push(...ready.persist);
      this.queue.push(...ready.messages);
      for (const reply of ready.replies) this.replies.set(reply.requestId, reply);
    }
  }

  /** A write labelled `label` (its request id is the label's bytes in hex; replies are keyed by label). */
  write(name: string, label: string, record: Uint8Array): void {
    this.replica(name).request({ kind: 'write', requestId: labelId(label), event: 'CREATE_OBJ', operations: [{ op: 'insert', record }], sourceUser: 'alice', target: label });
    this.drain(this.node(name));
  }

  reply(label: string): ClientReply | undefined {
    return this.replies.get(labelId(label)) ?? this.replies.get(label);
  }

  forget(label: string): void {
    this.replies.delete(labelId(label));
  }

  nodeDown(issuer: string, target: string, requestId = `down-${target}`): void {
    this.replica(issuer).request({ kind: 'node-down', requestId, node: this.node(target).id });
    this.drain(this.node(issuer));
  }

  private matches(envelope: Envelope, filter: Filter): boolean {
    return (!filter.from || this.nameOf(envelope.from) === filter.from) && (!filter.to || this.nameOf(envelope.to) === filter.to)
      && (!filter.type || envelope.body.type === filter.type);
  }

  /** Delivers queued messages matching the filter (and what they cause, if `rounds` > 1). */
  deliver(filter: Filter = {}, rounds = 1): void {
    for (let round = 0; round < rounds; round++) {
      const now = this.queue.filter((e) => this.matches(e, filter));
      this.queue = this.queue.filter((e) => !this.matches(e, filter));
      for (const envelope of now) {
        const node = this.nodes.find((n) => n.id === envelope.to)!;
        if (!node.replica) continue;
        node.replica.receive(envelope);
        this.drain(node);
      }
    }
  }

  drop(filter: Filter = {}): void {
    this.queue = this.queue.filter((e) => !this.matches(e, filter));
  }

  crash(name: string): void {
    this.node(name).replica = undefined;
    this.queue = this.queue.filter((e) => this.nameOf(e.to) !== name && this.nameOf(e.from) !== name);
  }

  restart(name: string): void {
    const node = this.node(name);
    const replica = new Replica({ id: node.id, core: this.newCore(), random: new Random(this.seed++), founders: this.founders });
    restore(replica, node.log);
    node.replica = replica;
  }

  /** Ticks every live node, delivering everything between ticks, except messages cut by `blocked`. */
  run(ticks: number, blocked: (from: string, to: string) => boolean = () => false): void {
    for (let t = 0; t < ticks; t++) {
      for (const node of this.nodes) {
        node.replica?.tick();
        this.drain(node);
      }
      this.queue = this.queue.filter((e) => !blocked(this.nameOf(e.from), this.nameOf(e.to)));
      this.deliver({}, 1);
    }
  }

  committed(name: string): string[] {
    return this.node(name).log.flatMap((r) => (r.type === 'commit' ? [r.txid] : []));
  }

  aborted(name: string): string[] {
    return this.node(name).log.flatMap((r) => (r.type === 'abort' ? [r.txid] : []));
  }

  states(name: string): string[] {
    return this.replica(name).pending().map((p) => p.state);
  }
}

function labelId(label: string): string {
  return Array.from(new TextEncoder().encode(label.padEnd(16, '.').slice(0, 16)), (b) => b.toString(16).padStart(2, '0')).join('');
}
