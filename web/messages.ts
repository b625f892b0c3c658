// What the page and its appliance workers say to each other (postMessage, structured clone).
// Peer connections: a worker dials an address through the page, which checks the link (a dead
// node, a cut cable) and hands each end one port of a new MessageChannel; the sealed frames
// then go worker to worker, never through the page's thread. Each worker reports the frames it
// sent (for the picture), and the page tells it to drop the connections to a peer that died or
// whose cable was cut. Client and console sessions from the page's SDK run through the page,
// as text frames.

import type { ReplicationEvent, ReplicationInfo } from '../host/appliance/appliance.ts';
import type { JoinProgress } from '../host/protocol/live-sync/donor.ts';
import type { NodeAddress, NodeId } from '../host/protocol/types.ts';

/** What a worker needs to run one appliance of the pool. */
export interface NodeConfig {
  readonly index: number;
  readonly id: NodeId;
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
  /** A node added to a running pool: it takes the pool image from the member at `donor`
   * (live-sync) before it runs; absent for founders and for added nodes that already joined. */
  readonly join?: { readonly donor: string };
  /** Protocol ticks per second (100 at full speed). */
  readonly ticksPerSecond: number;
  /** A backup file to restore into the database before recovery (`hsmpool restore`). */
  readonly restore?: Uint8Array;
}

export type PageToWorker =
  | { t: 'start'; config: NodeConfig }
  /** A connection node `peer` dialed to this one, over `port`. */
  | { t: 'accept'; port: MessagePort; peer: number }
  /** The page's answer to a dial: the port of the new connection, or why there is none. */
  | {
      t: 'dialed';
      conn: number;
      ok: boolean;
      port?: MessagePort;
      peer?: number;
      code?: number;
      message?: string;
    }
  /** Node `peer` died or its cable was cut: its connections drop (1006). */
  | { t: 'drop'; peer: number; reason: string }
  /** A paused node holds the frames it receives until it resumes. */
  | { t: 'hold'; on: boolean }
  /** A client or console session from the page. */
  | { t: 'copen'; conn: number; path: '/client' | '/console' }
  | { t: 'cframe'; conn: number; text: string }
  | { t: 'cclose'; conn: number }
  /** A client session over a port of its own (its frames never cross the page's thread). */
  | { t: 'cport'; port: MessagePort }
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
  | { t: 'failed'; index: number; message: string; code?: number }
  | { t: 'progress'; index: number; progress: JoinProgress }
  | { t: 'joined'; index: number; poolId: string }
  /** The outcome of a restore (code 0, or why it was refused and nothing changed). */
  | { t: 'restored'; index: number; code: number; text: string }
  | { t: 'dial'; conn: number; to: string }
  /** Frames this node sent since its last report: [peer, bytes] pairs (the picture's dots). */
  | { t: 'flights'; sent: number[] }
  | { t: 'cframe'; conn: number; text: string }
  | { t: 'cclose'; conn: number; code: number; reason: string }
  | { t: 'console'; id: number; result: { code: number; text: string; data?: unknown } }
  | { t: 'status'; status: NodeStatus }
  | { t: 'log'; line: string };
