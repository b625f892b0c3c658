// What the page and its appliance workers say to each other (postMessage, structured clone).
// Peer connections between appliances run through the page: a worker dials an address, the
// page opens the matching connection in the worker that listens there, and relays each sealed
// frame (so it can draw it, cut a link or hold frames for a paused node). Client and console
// sessions from the page's SDK run the same way, as text frames.

import type { ReplicationEvent, ReplicationInfo } from '../host/appliance/appliance.ts';
import type { NodeAddress } from '../host/protocol/types.ts';

/** What a worker needs to run one appliance of the pool. */
export interface NodeConfig {
  readonly index: number;
  readonly id: string;
  readonly address: string;
  readonly domain: string;
  /** 16 hex digits. */
  readonly poolId: string;
  readonly founders: readonly NodeAddress[];
  readonly svmk: Uint8Array;
  /** IndexedDB database of this appliance. */
  readonly database: string;
  /** URL of core.wasm. */
  readonly wasmUrl: string;
  /** Node 1 of a new pool writes the first administrator (a replicated write). */
  readonly bootstrapPassword?: string;
  /** Protocol ticks per second (100 at full speed). */
  readonly ticksPerSecond: number;
}

export type PageToWorker =
  | { t: 'start'; config: NodeConfig }
  /** A connection some node dialed to this one: accept it as `conn`. */
  | { t: 'accept'; conn: number }
  /** The page's answer to a dial. */
  | { t: 'dialed'; conn: number; ok: boolean; code?: number; message?: string }
  | { t: 'frame'; conn: number; bytes: Uint8Array }
  | { t: 'close'; conn: number; code: number; reason: string }
  /** A client or console session from the page. */
  | { t: 'copen'; conn: number; path: '/client' | '/console' }
  | { t: 'cframe'; conn: number; text: string }
  | { t: 'cclose'; conn: number }
  | { t: 'console'; id: number; line: string; kind: 'local' | 'remote' }
  | { t: 'clock'; ticksPerSecond: number; paused: boolean }
  | { t: 'step'; ticks: number };

export interface NodeStatus {
  readonly index: number;
  readonly info: ReplicationInfo;
  readonly events: readonly ReplicationEvent[];
  readonly records: number;
  readonly bootstrapped: boolean;
}

export type WorkerToPage =
  | { t: 'ready'; index: number; id: string; recoveredMs: number }
  | { t: 'failed'; index: number; message: string }
  | { t: 'dial'; conn: number; to: string }
  | { t: 'frame'; conn: number; bytes: Uint8Array }
  | { t: 'close'; conn: number; code: number; reason: string }
  | { t: 'cframe'; conn: number; text: string }
  | { t: 'cclose'; conn: number; code: number; reason: string }
  | { t: 'console'; id: number; result: { code: number; text: string; data?: unknown } }
  | { t: 'status'; status: NodeStatus }
  | { t: 'log'; line: string };
