// What every part of the page shares: the pool it shows (one of three kinds), element lookup,
// HTML escaping, a node's state as the dashboard names it and the colour of a Sync-Point.

import type { RemotePool } from './remote-pool.ts';
import type { ReplayPool } from './replay.ts';
import type { TabNode, TabPool } from './tab-pool.ts';

/** The pool the page shows: appliances in workers, real processes, or a simulator replay. */
export type ShownPool = TabPool | RemotePool | ReplayPool;

export const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

export const escape = (text: string): string =>
  text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Equal Sync-Points get equal colours, so a glance finds the node that differs. */
export function spColor(hex: string | undefined): string {
  if (!hex) return '#555';
  const value = parseInt(hex.slice(0, 6), 16) ^ parseInt(hex.slice(6, 12), 16);
  return `hsl(${value % 360}, 65%, 55%)`;
}

export type NodeState =
  'dead' | 'joining' | 'starting' | 'paused' | 'fenced' | 'diverged' | 'member';

export function nodeState(node: TabNode): NodeState {
  if (!node.alive) return 'dead';
  if (node.failure) return 'dead';
  if (!node.ready || !node.status) return node.progress ? 'joining' : 'starting';
  if (node.paused) return 'paused';
  const info = node.status.info;
  if (info.fenced) return 'fenced';
  if (info.diverged) return 'diverged';
  const self = info.nodes.find((entry) => entry.self);
  return self && !self.member ? 'joining' : 'member';
}
