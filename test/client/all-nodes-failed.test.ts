// ALL_NODES_FAILED names every node's failure, not only the last one's (issue 15 item 6): an
// operator reading the error sees why each node of the list was given up.

import { expect, it } from 'vitest';
import { HsmClient } from '../../host/client/client.ts';
import { nodeConnections } from '../../host/client/ws-client.node.ts';
import { CODE, HsmError } from '../../host/core/codes.ts';
import { freePort } from '../../host/testing/free-port.node.ts';

it('a login where no node answers fails with ALL_NODES_FAILED naming each node and its reason', async () => {
  const nodes = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
  const error = await HsmClient.connect({
    nodes,
    user: 'admin',
    password: 'x',
    connections: nodeConnections(),
    loadBalancing: false,
  }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(HsmError);
  expect((error as HsmError).code).toBe(CODE.ALL_NODES_FAILED);
  for (const address of nodes)
    expect((error as HsmError).message).toMatch(new RegExp(`${address}: NET_CONNECT_FAILED`));
});
