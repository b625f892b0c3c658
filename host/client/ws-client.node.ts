// The SDK's WebSocket connections in Node (the `ws` package; Node 20 has no global WebSocket).

import WebSocket from 'ws';
import type { ConnectionFactory } from './connection.ts';
import { webSocketConnections, type WebSocketConstructor } from './ws-connection.ts';

export function nodeConnections(path: '/client' | '/console' = '/client'): ConnectionFactory {
  return webSocketConnections(WebSocket as unknown as WebSocketConstructor, path);
}
