// The SDK as Node applications import it: `import { HsmClient } from 'hsmpool'`. The same
// API as the browser entry (index.ts), with WebSocket connections over the `ws` package chosen
// by default.

import { setDefaultConnections } from './default-connections.ts';
import { nodeConnections } from './ws-client.node.ts';

setDefaultConnections(() => nodeConnections());

export * from './index.ts';
export { nodeConnections } from './ws-client.node.ts';
