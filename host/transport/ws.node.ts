// The node's port (Node only): one HTTP server, WebSocket upgrades routed by path.
//   /peer     peer links: PeerLinkTransport (handshake under the SVMK, sealed frames)
//   /client   client sessions  } handed to onClientConnection as a ClientConnection;
//   /console  remote console   } framing limits and close codes are enforced here
// Anything else is answered 404 and closed; plain HTTP gets 426. Binary messages only on
// /peer (the ws library refuses a message above maxPayload with close code 1009 before it is
// buffered whole); no compression (sealed frames do not compress, and inflating is where
// decompression bombs live). docs/TRANSPORT.md.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type ClientOptions, type RawData } from 'ws';
import { CODE, HsmError } from '../core/codes.ts';
import type { NodeId } from '../protocol/types.ts';
import { PEER_MESSAGE_SIZE_MAX } from './envelope-codec.ts';
import {
  CLIENT_MESSAGE_SIZE_MAX,
  CONNECTIONS_PER_SOURCE_MAX,
  PARTIAL_MESSAGE_MS,
  PEER_CONNECTIONS_RESERVED,
  POLICY_VIOLATION,
  SourceCounter,
} from './connection-limits.ts';
import { PEER_FRAME_SIZE_MAX } from './link.ts';
import type { PeerLinkLimits } from './peer-link-limits.ts';
import { PeerLinkTransport } from './peer-link.ts';
import { UNMASKED_FRAMES } from '../wire/ws-unmasked.node.ts';
import { NODE_CHACHA } from '../wire/crypto-engine.node.ts';
import {
  CLIENT_PATHS,
  CLOSE_CODES,
  PEER_PATH,
  type ClientConnection,
  type ClientPath,
  type FramedSocket,
} from './transport.ts';

/** TCP connect plus the HTTP upgrade, when dialing a peer. */
export const CONNECT_TIMEOUT_MS = 5_000;
/** How long a closing socket may wait for the other end's close frame before it is destroyed. */
export const CLOSE_TIMEOUT_MS = 2_000;
/** WebSocket connections on one port, all paths together; more are answered 503. */
export const CONNECTIONS_MAX = 512;
/** How long close() lets open connections finish their closing handshake. */
export const SERVER_CLOSE_GRACE_MS = 1_000;

export interface NodeServerOptions {
  /** Where to listen: nothing is assumed (tests use 127.0.0.1 and port 0). */
  readonly host: string;
  readonly port: number;
  readonly nodeId: NodeId;
  readonly svmk: Uint8Array;
  /** Client sessions and the remote console; without it those paths answer 404. */
  readonly onClientConnection?: (path: ClientPath, connection: ClientConnection) => void;
  /** Plain HTTP requests (GET /metrics, /healthz, /readyz): true when it answered. */
  readonly onHttpRequest?: (request: IncomingMessage, response: ServerResponse) => boolean;
  /** The largest client or console message (default CLIENT_MESSAGE_SIZE_MAX). */
  readonly clientMessageSizeMax?: number;
  readonly connectionsMax?: number;
  /** Of connectionsMax, kept for peer links (default PEER_CONNECTIONS_RESERVED, at most half). */
  readonly peerConnectionsReserved?: number;
  /** Client and console connections from one address (default CONNECTIONS_PER_SOURCE_MAX). */
  readonly connectionsPerSourceMax?: number;
  /** A client message begun must arrive whole within this long (default PARTIAL_MESSAGE_MS). */
  readonly partialMessageMs?: number;
  readonly limits?: Partial<PeerLinkLimits>;
  readonly random?: () => number;
  /** TLS with the pool certificate (pool-certificate.node.ts): the port serves wss:// only,
   * and peer links dial wss:// trusting exactly that certificate. */
  readonly tls?: NodeTls;
}

/** The pool certificate and its key, PEM. */
export interface NodeTls {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface NodeServer {
  readonly host: string;
  /** The port listened on (the one the OS chose for port 0). */
  readonly port: number;
  /** "host:port", what peers put in their address books. */
  readonly address: string;
  /** The peer transport of the node id the port presents now. */
  readonly peers: WsPeerTransport;
  /** Presents another node id from now on (live-sync of a node declared down: it comes back
   * under a new id): a new peer transport takes the /peer path; close the old one first. */
  renamePeers(nodeId: NodeId): WsPeerTransport;
  /** Stop: peer links and clients get 1001, then after `graceMs` (default SERVER_CLOSE_GRACE_MS)
   * whatever is still open is destroyed. `graceMs: 0` destroys at once, as a crash would. */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** Peer links over WebSocket: dials ws://ADDRESS/peer; inbound links come from the node server. */
export class WsPeerTransport extends PeerLinkTransport {
  constructor(
    options: Omit<
      NodeServerOptions,
      | 'host'
      | 'port'
      | 'onClientConnection'
      | 'clientMessageSizeMax'
      | 'connectionsMax'
      | 'peerConnectionsReserved'
      | 'connectionsPerSourceMax'
      | 'partialMessageMs'
    >,
    track: (ws: WebSocket) => void = () => {},
  ) {
    super({
      aead: NODE_CHACHA,
      ...options,
      dial: (address) => dialPeer(address, track, options.tls?.certPem),
    });
  }
}

export async function startNodeServer(options: NodeServerOptions): Promise<NodeServer> {
  checkOptions(options);
  const sockets = new Set<WebSocket>();
  const track = (ws: WebSocket): void => {
    sockets.add(ws);
    ws.once('close', () => sockets.delete(ws));
  };
  let peers = new WsPeerTransport(options, track);
  const connectionsMax = options.connectionsMax ?? CONNECTIONS_MAX;
  const peerServer = new WebSocketServer({
    noServer: true,
    maxPayload: PEER_FRAME_SIZE_MAX,
    perMessageDeflate: false,
    ...closeTimeout(),
  });
  const acceptClient = clientAcceptor(options, connectionsMax, track);
  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    if (options.onHttpRequest?.(request, response)) return;
    response
      .writeHead(426, { 'content-type': 'text/plain', connection: 'close' })
      .end('hsmpool node: WebSocket only (/peer, /client, /console)\n');
  };
  const http = options.tls
    ? createHttpsServer({ cert: options.tls.certPem, key: options.tls.keyPem }, handler)
    : createServer(handler);
  http.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (sockets.size >= connectionsMax) return rejectUpgrade(socket, 503, 'Service Unavailable');
    const path = pathOf(request);
    if (path === PEER_PATH) {
      return peerServer.handleUpgrade(request, socket, head, (ws) => {
        track(ws);
        peers.accept(framedSocket(ws));
      });
    }
    acceptClient(request, socket, head, path);
  });
  await listen(http, options.host, options.port);
  const port = (http.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    host: options.host,
    port,
    address: `${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    get peers() {
      return peers;
    },
    renamePeers: (nodeId) => (peers = new WsPeerTransport({ ...options, nodeId }, track)),
    close: (closeOptions) =>
      (closing ??= stopServer(
        http,
        peers,
        sockets,
        closeOptions?.graceMs ?? SERVER_CLOSE_GRACE_MS,
      )),
  };
}

/** Upgrades to /client and /console within the client limits, or refuses them (404, 503). */
function clientAcceptor(
  options: NodeServerOptions,
  connectionsMax: number,
  track: (ws: WebSocket) => void,
): (request: IncomingMessage, socket: Duplex, head: Buffer, path: string) => void {
  // Clients never take the connections kept for peers: a flood of them cannot keep a restarted
  // node from linking back (docs/SECURITY.md).
  const clientConnectionsMax =
    connectionsMax -
    Math.min(options.peerConnectionsReserved ?? PEER_CONNECTIONS_RESERVED, connectionsMax >> 1);
  const sources = new SourceCounter(options.connectionsPerSourceMax ?? CONNECTIONS_PER_SOURCE_MAX);
  const partialMessageMs = options.partialMessageMs ?? PARTIAL_MESSAGE_MS;
  const clientServer = new WebSocketServer({
    noServer: true,
    maxPayload: options.clientMessageSizeMax ?? CLIENT_MESSAGE_SIZE_MAX,
    perMessageDeflate: false,
    ...closeTimeout(),
  });
  return (request, socket, head, path) => {
    const hook = options.onClientConnection;
    const clientPath = CLIENT_PATHS.find((candidate) => candidate === path);
    if (clientPath === undefined || hook === undefined)
      return rejectUpgrade(socket, 404, 'Not Found');
    if (sources.total >= clientConnectionsMax)
      return rejectUpgrade(socket, 503, 'Service Unavailable');
    const source = (request.socket as Socket).remoteAddress ?? '?';
    if (!sources.admit(source)) return rejectUpgrade(socket, 503, 'Service Unavailable');
    let released = false;
    const release = (): void => {
      if (!released) sources.release(source);
      released = true;
    };
    socket.once('close', release);
    clientServer.handleUpgrade(request, socket, head, (ws) => {
      track(ws);
      ws.once('close', release);
      partialMessageDeadline(ws, request.socket as Socket, partialMessageMs);
      hook(clientPath, clientConnection(ws, clientPath, request.socket as Socket));
    });
  };
}

async function stopServer(
  http: Server,
  peers: WsPeerTransport,
  sockets: Set<WebSocket>,
  graceMs: number,
): Promise<void> {
  const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
  if (graceMs > 0) {
    await peers.close();
    for (const ws of sockets) ws.close(CLOSE_CODES.GOING_AWAY, 'node stopping');
    await allClosed(sockets, graceMs);
  }
  for (const ws of sockets) ws.terminate();
  if (graceMs <= 0) await peers.close();
  http.closeAllConnections();
  await stopped;
}

function allClosed(sockets: Set<WebSocket>, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    const check = (): void => {
      if (sockets.size > 0) return;
      clearTimeout(timer);
      resolve();
    };
    for (const ws of sockets) ws.once('close', () => queueMicrotask(check));
    check();
  });
}

function dialPeer(
  address: string,
  track: (ws: WebSocket) => void,
  poolCertificate?: string,
): Promise<FramedSocket> {
  return new Promise((resolve, reject) => {
    let ws: WebSocket;
    try {
      const options: ClientOptions & { closeTimeout: number } = {
        maxPayload: PEER_FRAME_SIZE_MAX,
        perMessageDeflate: false,
        handshakeTimeout: CONNECT_TIMEOUT_MS,
        followRedirects: false,
        closeTimeout: CLOSE_TIMEOUT_MS,
        ...UNMASKED_FRAMES,
        ...(poolCertificate ? { ca: poolCertificate } : {}),
      };
      ws = new WebSocket(`${poolCertificate ? 'wss' : 'ws'}://${address}${PEER_PATH}`, options);
    } catch (error) {
      reject(
        new HsmError(
          CODE.CANNOT_P2P_CONNECT,
          `${address}: ${error instanceof Error ? error.message : 'bad address'}`,
        ),
      );
      return;
    }
    track(ws);
    const onError = (error: Error): void =>
      reject(new HsmError(CODE.CANNOT_P2P_CONNECT, `${address}: ${error.message}`));
    ws.once('error', onError);
    ws.once('open', () => {
      ws.off('error', onError);
      resolve(framedSocket(ws));
    });
  });
}

/** A ws WebSocket as a FramedSocket: bytes in and out, errors folded into close. */
function framedSocket(ws: WebSocket): FramedSocket {
  // After 'error' ws always emits 'close'; without a listener an error would crash the process.
  // When ws itself refused a frame, its 'close' reports the code the other end echoed (often
  // 1005), so keep the code ws closed with: that is the reason.
  let refusedWith: number | undefined;
  ws.on('error', (error: Error & { code?: string }) => {
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
      refusedWith = CLOSE_CODES.MESSAGE_TOO_BIG;
    else if (error.code?.startsWith('WS_ERR_')) refusedWith = CLOSE_CODES.PROTOCOL_ERROR;
  });
  return {
    send(frame, onWritten) {
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send(frame, { binary: true }, (error) => {
        if (error === undefined || error === null) onWritten?.();
      });
    },
    bufferedBytes: () => ws.bufferedAmount,
    close: (code, reason) => closeSocket(ws, code, reason),
    onFrame(handler) {
      ws.on('message', (data: RawData) => handler(bytesOf(data)));
    },
    onClose(handler) {
      ws.once('close', (code: number, reason: Buffer) =>
        handler(refusedWith ?? code, reason.toString('utf8')),
      );
    },
  };
}

function clientConnection(ws: WebSocket, path: ClientPath, socket: Socket): ClientConnection {
  const framed = framedSocket(ws);
  return {
    path,
    remoteAddress: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`,
    send: (bytes) => framed.send(bytes),
    bufferedBytes: framed.bufferedBytes,
    onMessage: (handler) => framed.onFrame(handler),
    onClose: (handler) => framed.onClose(handler),
    close: (code = CLOSE_CODES.NORMAL, reason = '') => framed.close(code, reason),
  };
}

/** Bytes of a message arrived but not the whole of it within `ms`: a stalled partial message,
 * closed (38734). Looks at the ws receiver after each chunk (ws 8 parses a chunk in the same
 * turn as its 'data' event, before this listener runs). */
function partialMessageDeadline(ws: WebSocket, socket: Socket, ms: number): void {
  const receiver = (
    ws as unknown as { _receiver?: { _bufferedBytes?: number; _fragments?: unknown[] } }
  )._receiver;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const clear = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  socket.on('data', () => {
    if (receiver === undefined) return; // not the ws version this was written for: no deadline
    const partial = (receiver._bufferedBytes ?? 0) > 0 || (receiver._fragments?.length ?? 0) > 0;
    if (!partial) return clear();
    timer ??= setTimeout(() => {
      timer = undefined;
      closeSocket(ws, POLICY_VIOLATION, 'CONNECTION_LIMIT (38734): partial message');
      // A sender that stalls mid-message may not answer the close either.
      setTimeout(() => ws.terminate(), CLOSE_TIMEOUT_MS).unref();
    }, ms);
  });
  ws.once('close', clear);
}

/** ws refuses to send some codes (1006 is only observed) and reasons over 123 bytes; destroy then. */
function closeSocket(ws: WebSocket, code: number, reason: string): void {
  if (ws.readyState === WebSocket.CLOSING || ws.readyState === WebSocket.CLOSED) return;
  try {
    ws.close(code, reason);
  } catch {
    ws.terminate();
  }
}

function bytesOf(data: RawData): Uint8Array {
  const buffer = Array.isArray(data)
    ? Buffer.concat(data)
    : data instanceof ArrayBuffer
      ? Buffer.from(data)
      : data;
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

function pathOf(request: IncomingMessage): string {
  try {
    return new URL(request.url ?? '/', 'http://node').pathname;
  } catch {
    return '';
  }
}

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}

function listen(http: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen({ host, port }, () => {
      http.off('error', reject);
      resolve();
    });
  });
}

function closeTimeout(): { closeTimeout: number } {
  return { closeTimeout: CLOSE_TIMEOUT_MS };
}

function checkOptions(options: NodeServerOptions): void {
  if (typeof options.host !== 'string' || options.host.length === 0)
    throw new RangeError('host: say where to listen (e.g. 127.0.0.1)');
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535)
    throw new RangeError('port: expected 0 to 65535');
  const sizeMax = options.clientMessageSizeMax;
  if (
    sizeMax !== undefined &&
    (!Number.isInteger(sizeMax) || sizeMax <= 0 || sizeMax > PEER_MESSAGE_SIZE_MAX)
  )
    throw new RangeError(`clientMessageSizeMax: expected 1 to ${PEER_MESSAGE_SIZE_MAX}`);
  const connectionsMax = options.connectionsMax;
  if (connectionsMax !== undefined && (!Number.isInteger(connectionsMax) || connectionsMax <= 0))
    throw new RangeError('connectionsMax: expected a positive integer');
}
