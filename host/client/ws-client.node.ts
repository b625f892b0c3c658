// The SDK's WebSocket connections in Node (the `ws` package; Node 20 has no global WebSocket).
// With the pool's certificate they go over TLS (wss://) and trust exactly that certificate:
// not the system's CAs, not another pool's (docs/SECURITY.md, "Two layers").

import WebSocket from 'ws';
import type { ConnectionFactory } from './connection.ts';
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
  if (pinned === undefined)
    return webSocketConnections(WebSocket as unknown as WebSocketConstructor, path);
  class PinnedWebSocket extends WebSocket {
    constructor(url: string) {
      super(url, { ca: pinned });
    }
  }
  return webSocketConnections(PinnedWebSocket as unknown as WebSocketConstructor, path, 'wss');
}
