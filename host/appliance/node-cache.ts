// The node cache: where peers listen (id -> "host:port"), persisted in the node's metadata.
// Filled from the replicated membership (a node that knows one member learns them all), by
// hand from the console, and kept across restarts. Local: never part of the Sync-Point.

import { HsmError } from '../core/codes.ts';
import type { NodeId } from '../protocol/types.ts';
import type { Storage } from '../storage/storage.ts';

export const NODE_CACHE_KEY = 'node-cache';
/** Peers a cache holds (DINAMO's load-balancing lists stop at 16 too). */
export const NODE_CACHE_MAX = 64;
const ADDRESS_PATTERN = /^[A-Za-z0-9.\-]{1,253}:\d{1,5}$/;

export class NodeCache {
  private readonly nodes = new Map<NodeId, string>();

  private constructor(
    private readonly storage: Storage,
    private readonly self: NodeId,
  ) {}

  static async load(storage: Storage, self: NodeId): Promise<NodeCache> {
    const cache = new NodeCache(storage, self);
    const bytes = await storage.readMeta(NODE_CACHE_KEY);
    if (bytes) {
      const saved = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, string>;
      for (const [id, address] of Object.entries(saved))
        if (ADDRESS_PATTERN.test(address)) cache.nodes.set(id, address);
    }
    return cache;
  }

  static checkAddress(address: string): void {
    const port = Number(address.split(':').pop());
    if (!ADDRESS_PATTERN.test(address) || port < 1 || port > 65535)
      throw new HsmError(37017, `not a host:port address: ${JSON.stringify(address)}`);
  }

  /** Records an address; returns true if it was new or changed. */
  learn(id: NodeId, address: string): boolean {
    if (id === this.self || this.nodes.get(id) === address) return false;
    this.set(id, address);
    return true;
  }

  set(id: NodeId, address: string): void {
    NodeCache.checkAddress(address);
    if (!this.nodes.has(id) && this.nodes.size >= NODE_CACHE_MAX)
      throw new HsmError(37037, `the node cache holds at most ${NODE_CACHE_MAX} nodes`);
    this.nodes.set(id, address);
  }

  remove(id: NodeId): void {
    this.nodes.delete(id);
  }

  entries(): [NodeId, string][] {
    return [...this.nodes.entries()].sort();
  }

  async save(): Promise<void> {
    await this.storage.writeMeta(
      NODE_CACHE_KEY,
      new TextEncoder().encode(JSON.stringify(Object.fromEntries(this.entries()))),
    );
  }
}
