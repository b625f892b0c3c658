// The connections an HsmClient uses when the application passes none: WebSocket, the
// browser's (or a runtime's global one), or the one the Node entry point registers (the `ws`
// package: Node 20 has no global WebSocket). Tests and in-process pools pass their own.
// Likewise its crypto engine: noble everywhere, node:crypto once the Node entry registers it.

import { CODE, HsmError } from '../core/codes.ts';
import { CryptoEngine } from '../wire/crypto-engine.ts';
import type { ConnectionFactory } from './connection.ts';
import { webSocketConnections, type WebSocketConstructor } from './ws-connection.ts';

let registered: (() => ConnectionFactory) | undefined;

/** What `connections` defaults to from now on (the Node entry point registers `ws`). */
export function setDefaultConnections(factory: () => ConnectionFactory): void {
  registered = factory;
}

/** The default connections: the registered ones, else WebSocket over the global one. */
export function defaultConnections(): ConnectionFactory {
  if (registered) return registered();
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global) return webSocketConnections(global);
  throw new HsmError(
    CODE.INVALID_PARAM,
    "no WebSocket in this runtime: import the SDK as 'hsmpool' (Node) or pass `connections`",
  );
}

let registeredEngine: (() => CryptoEngine) | undefined;

/** What `engine` defaults to from now on (the Node entry point registers node:crypto's). */
export function setDefaultEngine(factory: () => CryptoEngine): void {
  registeredEngine = factory;
}

/** The default crypto engine: the registered one, else noble's (runs anywhere). */
export function defaultEngine(): CryptoEngine {
  return registeredEngine ? registeredEngine() : new CryptoEngine();
}
