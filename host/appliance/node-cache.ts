// The node cache: where peers listen (id -> "host:port"), persisted in the node's metadata.
// Filled from the replicated membership (a node that knows one member learns them all), by
// hand from the console, and kept across restarts. Local: never part of the Sync-Point.

import { CODE, HsmError } from '../core/codes.ts';
import type { NodeId } from '../protocol/types.ts';
import type { Storage } from '../storage/storage.ts';
import { isNodeId } from '../wire/ids.ts';

export const NODE_CACHE_KEY = 'node-cache';
/** Peers a cache holds (DINAMO's load-balancing lists stop at 16 too). */
export const NODE_CACHE_MAX = 64;
const ADDRESS_PATTERN = /^[A-Za-z0-9.\-]{1,253}:\d{1,5}$/;

/** The entries of a saved node cache: a JSON object of node id -> "host:port", at most
 * NODE_CACHE_MAX; anything else is refused whole with 38314 (nothing is dropped silently). */
export function parseNodeCache(bytes: Uint8Array): [NodeId, string][] {
  const refuse = (why: string): never => {
    throw new HsmError(CODE.META_DAMAGED, `meta/${NODE_CACHE_KEY}: ${why}`);
  };
  let saved: unknown;
  try {
    saved = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    return refuse(`not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof saved !== 'object' || saved === null || Array.isArray(saved))
    return refuse('not a JSON object of node id -> "host:port"');
  const entries = Object.entries(saved as Record<string, unknown>);
  if (entries.length > NODE_CACHE_MAX) refuse(`${entries.length} nodes, at most ${NODE_CACHE_MAX}`);
  const nodes: [NodeId, string][] = [];
  for (const [id, address] of entries) {
    if (!isNodeId(id)) return refuse(`${JSON.stringify(id)} is not a node id`);
    const port = typeof address === 'string' ? Number(address.split(':').pop()) : 0;
    if (typeof address !== 'string' || !ADDRESS_PATTERN.test(address) || port < 1 || port > 65535)
      return refuse(`node ${id}: ${JSON.stringify(address)} is not a host:port address`);
    nodes.push([id, address]);
  }
  return nodes;
}

export class NodeCache {
  private readonly nodes = new Map<NodeId, string>();

  private constructor(
    private readonly storage: Storage,
    private readonly self: NodeId,
  ) {}

  /** The saved cache; HsmError 38314 META_DAMAGED, naming the file and why, if it is not one. */
  static async load(storage: Storage, self: NodeId): Promise<NodeCache> {
    const cache = new NodeCache(storage, self);
    const bytes = await storage.readMeta(NODE_CACHE_KEY);
    if (bytes) for (const [id, address] of parseNodeCache(bytes)) cache.nodes.set(id, address);
    return cache;
  }

  static checkAddress(address: string): void {
    const port = Number(address.split(':').pop());
    if (!ADDRESS_PATTERN.test(address) || port < 1 || port > 65535)
      throw new HsmError(
        CODE.ADDRESS_INVALID,
        `not a host:port address: ${JSON.stringify(address)}`,
      );
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
      throw new HsmError(
        CODE.MAX_NODE_COUNT_REACHED,
        `the node cache holds at most ${NODE_CACHE_MAX} nodes`,
      );
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
