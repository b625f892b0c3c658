// Membership as a grow-only set of events: the founders, nodes added (live-sync), nodes
// fenced by node-down. The epoch is the number of events after the founders, so it only
// rises and two nodes that merged the same events agree on it. Merging is set union, so
// concurrent node-downs issued at different nodes converge instead of conflicting, and a
// fenced node stays fenced (it may come back only as a new node, through live-sync).

import type { MembershipEvents, NodeAddress, NodeId } from './types.ts';

/** What outside the protocol may read of a membership. */
export type MembershipView = Pick<
  Membership,
  'epoch' | 'members' | 'memberIds' | 'isMember' | 'isFenced' | 'address' | 'events' | 'digest'
>;

export class Membership {
  private readonly founders: NodeAddress[];
  private readonly added: NodeAddress[] = [];
  private readonly downSet = new Set<NodeId>();
  /** Derived once per change (every message sent and received is stamped and checked with the
   * digest): cleared by `add` and `markDown`, the only two mutations. */
  private cache: { members?: NodeAddress[]; ids?: NodeId[]; digest?: string } = {};

  constructor(founders: readonly NodeAddress[]) {
    this.founders = [...founders].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  static from(events: MembershipEvents): Membership {
    const membership = new Membership(events.founders);
    membership.merge(events);
    return membership;
  }

  get epoch(): number {
    return this.added.length + this.downSet.size;
  }

  /** Nodes in the pool now, sorted by id. */
  members(): NodeAddress[] {
    this.cache.members ??= [...this.founders, ...this.added]
      .filter((node) => !this.downSet.has(node.id))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    return [...this.cache.members];
  }

  memberIds(): NodeId[] {
    this.cache.ids ??= this.members().map((node) => node.id);
    return [...this.cache.ids];
  }

  isMember(id: NodeId): boolean {
    return (
      !this.downSet.has(id) &&
      (this.founders.some((node) => node.id === id) || this.added.some((node) => node.id === id))
    );
  }

  isFenced(id: NodeId): boolean {
    return this.downSet.has(id);
  }

  address(id: NodeId): string | undefined {
    return [...this.founders, ...this.added].find((node) => node.id === id)?.address;
  }

  /** Fences a node. Returns false if it already was. */
  markDown(id: NodeId): boolean {
    if (this.downSet.has(id)) return false;
    this.downSet.add(id);
    this.cache = {};
    return true;
  }

  /** Adds a node. Returns false if it was already known. */
  add(node: NodeAddress): boolean {
    if (this.founders.some((n) => n.id === node.id) || this.added.some((n) => n.id === node.id))
      return false;
    this.added.push(node);
    this.added.sort((a, b) => (a.id < b.id ? -1 : 1));
    this.cache = {};
    return true;
  }

  /** Union with another node's events; returns the events that were new here. */
  merge(other: MembershipEvents): { added: NodeAddress[]; down: NodeId[] } {
    const added = other.added.filter((node) => this.add(node));
    const down = [...other.down].sort().filter((id) => this.markDown(id));
    return { added, down };
  }

  events(): MembershipEvents {
    return { founders: [...this.founders], added: [...this.added], down: [...this.downSet].sort() };
  }

  /** A short digest of the events: equal digests mean equal membership. */
  digest(): string {
    this.cache.digest ??= this.computeDigest();
    return this.cache.digest;
  }

  private computeDigest(): string {
    const text = JSON.stringify(this.events());
    let h1 = 0x811c9dc5;
    let h2 = 0x01000193;
    for (let i = 0; i < text.length; i++) {
      h1 = Math.imul(h1 ^ text.charCodeAt(i), 0x01000193) >>> 0;
      h2 = Math.imul(h2 ^ text.charCodeAt(i), 0x5bd1e995) >>> 0;
    }
    return `${this.epoch}:${h1.toString(16).padStart(8, '0')}${h2.toString(16).padStart(8, '0')}`;
  }
}
