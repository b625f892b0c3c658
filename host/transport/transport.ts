// What the appliance sees of the network: a best-effort, authenticated pipe of envelopes to
// peers named by node id, an address book, and a connection test. Implementations: memory.ts
// (one process: tests and the browser page) and ws.node.ts (WebSocket between processes).
// Both run the same peer links (peer-link.ts) over a FramedSocket, so the handshake, the
// sealing and the limits are the same code in the page as between real processes.
// Browser-safe: no node:* imports here.

import type { Envelope, NodeId } from '../protocol/types.ts';
import { CODE } from '../core/codes.ts';
import { isNodeId } from '../wire/ids.ts';

export interface CrossCheckResult {
  readonly id: NodeId;
  readonly address: string;
  /** Round-trip time of an authenticated ping, when the peer answered. */
  readonly rttMs?: number;
  /** A documented return code (docs/RETURN_CODES.md) when it did not. */
  readonly code?: number;
}

export interface PeerTransport {
  /** Best effort: queue for the peer's connection, (re)connecting as needed. Never throws for
   * network trouble (an envelope that breaks the codec's rules is a caller bug and throws). */
  send(envelope: Envelope): void;
  onEnvelope(handler: (envelope: Envelope) => void): void;
  /** Address book: where a node id listens. */
  setPeerAddress(id: NodeId, address: string): void;
  removePeer(id: NodeId): void;
  /** Connection test: round-trip time to each known peer, or an error code. */
  crossCheck(timeoutMs: number): Promise<CrossCheckResult[]>;
  close(): Promise<void>;
}

/** Counters a console or a test can read; they only grow. */
export interface TransportStats {
  /** Envelopes handed to send(). */
  sent: number;
  /** Envelopes passed to the onEnvelope handler. */
  delivered: number;
  /** Envelopes dropped because a peer's queue was full (oldest first). */
  droppedQueueFull: number;
  /** Envelopes dropped because no address is known for their destination (or it is us). */
  droppedUnroutable: number;
  /** Authenticated envelopes addressed to another node, ignored. */
  droppedMisdirected: number;
  /** Connections this transport closed because of a bad frame or a failed handshake. */
  connectionsRefused: number;
}

/** A connection that carries whole binary messages: a WebSocket, or an in-memory pipe. */
export interface FramedSocket {
  /** Queue one message; `onWritten` runs once it left our buffers (backpressure). */
  send(frame: Uint8Array, onWritten?: () => void): void;
  /** Bytes queued locally and not yet written. */
  bufferedBytes(): number;
  close(code: number, reason: string): void;
  onFrame(handler: (frame: Uint8Array) => void): void;
  /** Runs once, whoever closed. */
  onClose(handler: (code: number, reason: string) => void): void;
}

/** A client session or remote console connection (the /client and /console paths of a node's
 * port). Messages are whole and at most the server's client message limit. */
export interface ClientConnection {
  readonly path: ClientPath;
  /** The remote end, "host:port", for logs. */
  readonly remoteAddress: string;
  /** Dropped silently once the connection closed. */
  send(bytes: Uint8Array): void;
  /** Bytes queued and not yet written (backpressure: stop sending above your own limit). */
  bufferedBytes(): number;
  onMessage(handler: (bytes: Uint8Array) => void): void;
  /** Runs once, whoever closed; `code` is a WebSocket close code (CLOSE_CODES). */
  onClose(handler: (code: number, reason: string) => void): void;
  /** Close with a code from CLOSE_CODES (1000 by default); `reason` at most 123 bytes. */
  close(code?: number, reason?: string): void;
}

export type ClientPath = '/client' | '/console';
export const CLIENT_PATHS: readonly ClientPath[] = ['/client', '/console'];
export const PEER_PATH = '/peer';

/** WebSocket close codes (RFC 6455 numbers, 4xxx ours); docs/TRANSPORT.md lists them. */
export const CLOSE_CODES = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  /** Sent by the ws library for a frame that breaks RFC 6455 (bad opcode, mask, UTF-8 in text). */
  PROTOCOL_ERROR: 1002,
  ABNORMAL: 1006,
  /** Sent by the ws library itself when a message exceeds maxPayload. */
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  /** Too many connections; come back later. */
  TRY_AGAIN_LATER: 1013,
  SVMK_MISMATCH: 4306,
  MALFORMED: 4400,
  UNAUTHENTICATED: 4401,
  HANDSHAKE_FAILED: 4402,
  PEER_ID_MISMATCH: 4403,
  TOO_LARGE: 4413,
} as const;

const CLOSE_CODE_OF_RETURN_CODE = new Map<number, number>([
  [CODE.SVMK_MISMATCH, CLOSE_CODES.SVMK_MISMATCH],
  [CODE.FRAME_MALFORMED, CLOSE_CODES.MALFORMED],
  [CODE.FRAME_UNAUTHENTICATED, CLOSE_CODES.UNAUTHENTICATED],
  [CODE.CANNOT_P2P_HANDSHAKE, CLOSE_CODES.HANDSHAKE_FAILED],
  [CODE.PEER_ID_MISMATCH, CLOSE_CODES.PEER_ID_MISMATCH],
  [CODE.FRAME_TOO_LARGE, CLOSE_CODES.TOO_LARGE],
]);
const RETURN_CODE_OF_CLOSE_CODE = new Map<number, number>([
  ...[...CLOSE_CODE_OF_RETURN_CODE].map(([returnCode, closeCode]): [number, number] => [
    closeCode,
    returnCode,
  ]),
  [CLOSE_CODES.MESSAGE_TOO_BIG, CODE.FRAME_TOO_LARGE],
  [CLOSE_CODES.PROTOCOL_ERROR, CODE.FRAME_MALFORMED],
]);

/** The close code that tells the other end why we closed. */
export function closeCodeFor(returnCode: number): number {
  return CLOSE_CODE_OF_RETURN_CODE.get(returnCode) ?? CLOSE_CODES.INTERNAL_ERROR;
}

/** The return code a close code from the other end stands for (5001 NET_FAIL when it names none). */
export function returnCodeForClose(closeCode: number): number {
  return RETURN_CODE_OF_CLOSE_CODE.get(closeCode) ?? CODE.NET_FAIL;
}

/** Argument check for ids the caller gives us (a bad one is a caller bug). */
export function assertNodeId(value: unknown, what: string): asserts value is NodeId {
  if (!isNodeId(value))
    throw new RangeError(`${what}: expected 16 lowercase hex digits, got ${JSON.stringify(value)}`);
}
