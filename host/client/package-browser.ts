// The SDK as browser applications import it: `import { HsmClient } from 'hsmpool/browser'`.
// Connections default to the browser's WebSocket.

export * from './index.ts';
export { webSocketConnections } from './ws-connection.ts';
