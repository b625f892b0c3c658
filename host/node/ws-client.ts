// The SDK's WebSocket connections in Node (the `ws` package; Node 20 has no global WebSocket).

import WebSocket from 'ws';
import type { ConnectionFactory } from '../client/connection.ts';
import { webSocketConnections, type WebSocketConstructor } from '../client/ws-connection.ts';

export function nodeConnections(path: '/client' | '/console' = '/client'): ConnectionFactory {
  return webSocketConnections(WebSocket as unknown as WebSocketConstructor, path);
}
