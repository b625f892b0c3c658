// The SDK's WebSocket connections in Node (the `ws` package; Node 20 has no global WebSocket).
// With the pool's certificate they go over TLS (wss://) and trust exactly that certificate:
// not the system's CAs, not another pool's (docs/SECURITY.md, "Two layers").

import WebSocket from 'ws';
import type { ConnectionFactory } from './connection.ts';
import { UNMASKED_FRAMES } from '../wire/ws-unmasked.node.ts';
import { webSocketConnections, type WebSocketConstructor } from './ws-connection.ts';

export interface NodeConnectionOptions {
  /** PEM of the pool certificate (`hsmpool up --tls` writes pool-certificate.pem): wss://,
   * pinned to it. Without it: ws://, the session layer alone protects the traffic. */
  readonly poolCertificate?: string;
}

export function nodeConnections(
  path: '/client' | '/console' = '/client',
  options: NodeConnectionOptions = {},
): ConnectionFactory {
  const pinned = options.poolCertificate;
  // Sealed frames, sent unmasked (wire/ws-unmasked.node.ts).
  class NodeWebSocket extends WebSocket {
    constructor(url: string) {
      super(url, { ...UNMASKED_FRAMES, ...(pinned === undefined ? {} : { ca: pinned }) });
    }
  }
  return webSocketConnections(
    NodeWebSocket as unknown as WebSocketConstructor,
    path,
    pinned === undefined ? 'ws' : 'wss',
  );
}
