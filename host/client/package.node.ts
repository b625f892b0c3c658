// The SDK as Node applications import it: `import { HsmClient } from 'hsmpool'`. The same
// API as the browser entry (index.ts), with WebSocket connections over the `ws` package and
// node:crypto's engine (the same bytes as noble's, faster: channel sealing) chosen by default.

import { NodeCryptoEngine } from '../wire/crypto-engine.node.ts';
import { setDefaultConnections, setDefaultEngine } from './default-connections.ts';
import { nodeConnections } from './ws-client.node.ts';

setDefaultConnections(() => nodeConnections());
setDefaultEngine(() => new NodeCryptoEngine());

export * from './index.ts';
export { nodeConnections } from './ws-client.node.ts';
