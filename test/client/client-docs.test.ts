// docs/CLIENT.md's first example, as written there (production password hashing included):
// if this fails, the page is wrong.

import { expect, it } from 'vitest';
import { p256 } from '@noble/curves/nist.js';
import { HsmClient } from '../../host/client/index.ts';
import { MemoryNetwork } from '../../host/testing/memory-connection.ts';
import { Service, bootstrapPool, createLocalPool } from '../../host/service/index.ts';
import { TEST_SVMK as svmk, keyedCore } from '../fixtures.ts';

it('creates a key on one node and signs with it on another, as docs/CLIENT.md shows', async () => {
  const [coreA, coreB, coreC] = [keyedCore(), keyedCore(), keyedCore()];

  const backends = createLocalPool([coreA, coreB, coreC], svmk);
  const network = new MemoryNetwork();
  backends.forEach((backend, i) => network.add(`node${i}`, new Service(backend)));

  const { write } = await bootstrapPool({ core: coreA, password: 'correct horse battery' });
  await backends[0].submit(write);

  const a = await HsmClient.connect({
    nodes: ['node0'],
    user: 'admin',
    password: 'correct horse battery',
    connections: network,
  });
  await a.generateKey('payments', 'ec-p256');

  const b = await HsmClient.connect({
    nodes: ['node2'],
    user: 'admin',
    password: 'correct horse battery',
    connections: network,
  });
  const signature = await b.sign('payments', new TextEncoder().encode('pay 10 to bob'));
  const publicKey = await b.publicKey('payments');

  expect(
    p256.verify(signature, new TextEncoder().encode('pay 10 to bob'), publicKey, { lowS: false }),
  ).toBe(true);
  a.close();
  b.close();
});
