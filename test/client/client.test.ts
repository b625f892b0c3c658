// The client SDK over the in-memory network: load balancing, failover, busy retries with
// backoff, the same request id on every retry of a write, temporary keys pinned to their node,
// session renewal, and every failure an HsmError with code and name.

import { p256 } from '@noble/curves/nist.js';
import { describe, expect, it } from 'vitest';
import { HsmError, code } from '../../host/core/codes.ts';
import { HsmClient } from '../../host/client/client.ts';
import type { HsmClientOptions } from '../../host/client/options.ts';
import type {
  ConnectionFactory,
  FrameConnection,
  FrameListener,
} from '../../host/client/connection.ts';
import { MemoryNetwork } from '../../host/testing/memory-connection.ts';
import type { WriteRequest } from '../../host/protocol/types.ts';
import {
  ADMIN_PASSWORD,
  bytes,
  makePool,
  seededRandomBytes,
  type TestPool,
} from '../service-fixtures.ts';
import { rejection } from '../fixtures.ts';

interface Harness {
  readonly pool: TestPool;
  readonly network: MemoryNetwork;
  readonly addresses: string[];
  /** Every write each node submitted, in order. */
  readonly submitted: WriteRequest[][];
  readonly sleeps: number[];
  connect(options?: Partial<HsmClientOptions>): Promise<HsmClient>;
}

async function harness(count = 3): Promise<Harness> {
  const pool = await makePool(count);
  const network = new MemoryNetwork();
  const addresses = pool.nodes.map((_, i) => `node${i}`);
  const submitted = pool.nodes.map(() => [] as WriteRequest[]);
  pool.nodes.forEach((node, i) => {
    network.add(addresses[i], node.service);
    const submit = node.backend.submit.bind(node.backend);
    node.backend.submit = (write) => {
      submitted[i].push(write);
      return submit(write);
    };
  });
  const sleeps: number[] = [];
  let clients = 0;
  // Each client its own seed: two clients drawing the same request ids would be deduplicated as one.
  const connect = (options: Partial<HsmClientOptions> = {}) =>
    HsmClient.connect({
      nodes: addresses,
      user: 'admin',
      password: ADMIN_PASSWORD,
      connections: network,
      randomBytes: seededRandomBytes(1000 + clients++),
      sleep: async (ms) => void sleeps.push(ms),
      ...options,
    });
  return { pool, network, addresses, submitted, sleeps, connect };
}

async function expectCode(
  promise: Promise<unknown>,
  name: Parameters<typeof code>[0],
): Promise<HsmError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(HsmError);
  expect(error).toMatchObject({ code: code(name), codeName: name });
  return error as HsmError;
}

describe('HsmClient', () => {
  it('creates a key on one node and signs with it on another', async () => {
    const { pool, network, connect } = await harness(2);
    const writer = await connect({ nodes: ['node0'] });
    await writer.generateKey('payments', 'ec-p256');
    const reader = await connect({ nodes: ['node1'] });
    const signature = await reader.sign('payments', bytes('pay 10'));
    expect(
      p256.verify(signature, bytes('pay 10'), await writer.publicKey('payments'), { lowS: false }),
    ).toBe(true);
    expect(network.connectionCount('node0')).toBe(1);
    expect(pool.nodes[1].core.get('object', 'payments')).toBeDefined();
    writer.close();
    reader.close();
  });

  it('spreads reads across the nodes; bypassing load balancing keeps to the first', async () => {
    for (const [loadBalancing, connections] of [
      [true, [1, 1, 1]],
      [false, [1, 0, 0]],
    ] as const) {
      const { addresses, network, connect } = await harness(3);
      const client = await connect(loadBalancing ? {} : { loadBalancing });
      await client.generateKey('k', 'ed25519');
      for (let i = 0; i < 6; i++) await client.sign('k', bytes(`m${i}`));
      expect(addresses.map((address) => network.connectionCount(address))).toEqual(connections);
    }
  });

  it('fails over when a node dies, and reports ALL_NODES_FAILED when every node has', async () => {
    const { network, connect } = await harness(3);
    const client = await connect({ now: () => 1000 });
    await client.generateKey('k', 'aes-256');
    const ciphertext = await client.encrypt('k', bytes('secret'));
    network.kill('node0');
    network.kill('node1');
    for (let i = 0; i < 4; i++)
      expect(await client.decrypt('k', ciphertext)).toEqual(bytes('secret'));
    await client.generateKey('k2', 'aes-128'); // writes fail over too
    expect(client.nodes().find((node) => node.address === 'node2')!.downUntilMs).toBe(0);
    expect(client.nodes().some((node) => node.downUntilMs > 0)).toBe(true);
    network.kill('node2');
    const error = await expectCode(client.decrypt('k', ciphertext), 'ALL_NODES_FAILED');
    expect(error.code).toBe(-18);
    network.revive('node1');
    expect(await client.decrypt('k', ciphertext)).toEqual(bytes('secret'));
  });

  it('retries busy answers with jittered, bounded backoff and the same request id', async () => {
    const { pool, connect, sleeps } = await harness(1);
    const backend = pool.nodes[0].backend;
    const submit = backend.submit.bind(backend);
    const seen: string[] = [];
    let busyLeft = 3;
    backend.submit = async (write) => {
      seen.push(write.requestId);
      return busyLeft-- > 0 ? { requestId: write.requestId, code: 36000 } : submit(write);
    };
    const client = await connect({
      retry: { busyRetriesMax: 5, backoffBaseMs: 10, backoffMaxMs: 25 },
    });
    await client.generateKey('busy-key', 'hmac-sha256');
    expect(seen).toHaveLength(4);
    expect(new Set(seen).size).toBe(1);
    expect(sleeps).toHaveLength(3);
    sleeps.forEach((ms, retry) => expect(ms).toBeLessThanOrEqual(Math.min(25, 10 * 2 ** retry)));
    expect(pool.nodes[0].core.get('object', 'busy-key')).toBeDefined();
  });

  it('gives up after busyRetriesMax and reports the busy code', async () => {
    const { pool, connect, sleeps } = await harness(1);
    const backend = pool.nodes[0].backend;
    let attempts = 0;
    backend.submit = async (write) => {
      attempts++;
      return { requestId: write.requestId, code: 36000 };
    };
    const client = await connect({ retry: { busyRetriesMax: 2 } });
    await expectCode(client.generateKey('never', 'aes-128'), 'REPLICATION_BUSY');
    expect(attempts).toBe(3);
    expect(sleeps).toHaveLength(2);
  });

  it('reports WRITE_OUTCOME_UNKNOWN with the request id, not the busy code, when an attempt was sent and its reply lost; client.outcome() then finds it committed', async () => {
    const { pool, network, connect } = await harness(2);
    const client = await connect({ loadBalancing: false, retry: { busyRetriesMax: 1 } });
    network.loseReply('node0', (request) => (request as { type?: string }).type === 'key.generate');
    pool.nodes[1].backend.submit = async (write) => ({ requestId: write.requestId, code: 36000 });
    const error = await rejection(client.generateKey('lost-reply', 'ed25519'));
    // Committed on node0 (its reply was lost), then busy on node1: the old SDK said 36000.
    expect(error).toMatchObject({ code: 1006, codeName: 'WRITE_OUTCOME_UNKNOWN' });
    const requestId = (error as { requestId: string }).requestId;
    expect(requestId).toMatch(/^[0-9a-f]{32}$/);
    expect(pool.nodes[0].core.get('object', 'lost-reply')).toBeDefined();
    expect(await client.outcome(requestId)).toMatchObject({
      requestId,
      state: 'committed',
      code: 0,
    });
  });

  it('retries a write whose reply was lost on another node with the same request id, and it applies once', async () => {
    const { pool, network, connect, submitted } = await harness(2);
    const client = await connect({ loadBalancing: false });
    network.loseReply('node0', (request) => (request as { type?: string }).type === 'key.generate');
    const info = await client.generateKey('exactly-once', 'ed25519');
    expect(info).toMatchObject({ name: 'exactly-once', keyType: 'ed25519', owner: 'admin' });
    const ids = [...submitted[0], ...submitted[1]]
      .filter((write) => write.event === 'CREATE_OBJ')
      .map((write) => write.requestId);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBe(ids[1]);
    expect(submitted[1].filter((write) => write.event === 'CREATE_OBJ')).toHaveLength(1);
    const wrapped = pool.nodes[0].core.get('object', 'exactly-once');
    expect(pool.nodes[1].core.get('object', 'exactly-once')).toEqual(wrapped);
    await expectCode(client.generateKey('exactly-once', 'ed25519'), 'OBJ_ALREADY_EXISTS');
  });

  it.each([
    [
      'whose replication layer fails (CANNOT_WORK)',
      async (): Promise<never> => {
        throw new Error('disk full');
      },
    ],
    [
      'that was fenced by node-down (NODE_FENCED)',
      async (write: WriteRequest) => ({ requestId: write.requestId, code: 38502 }),
    ],
  ])('moves a write off a node %s, with the same request id', async (_, failingSubmit) => {
    const { pool, connect, submitted } = await harness(2);
    const client = await connect({ loadBalancing: false });
    pool.nodes[0].backend.submit = failingSubmit as (write: WriteRequest) => Promise<never>;
    await client.generateKey('moved', 'aes-128');
    expect(pool.nodes[1].core.get('object', 'moved')).toBeDefined();
    expect(submitted[1].filter((write) => write.event === 'CREATE_OBJ')).toHaveLength(1);
    expect(client.nodes()[0].downUntilMs).toBeGreaterThan(0);
  });

  it('keeps temporary keys on their node, and reports TEMPORARY_KEY_LOST when that session ends', async () => {
    const { network, connect } = await harness(3);
    const client = await connect();
    await client.generateKey('session-key', 'ed25519', { temporary: true });
    for (let i = 0; i < 5; i++) await client.sign('session-key', bytes(`m${i}`)); // reads rotate, but these stay pinned
    expect(client.temporaryKeys().map((key) => key.name)).toEqual(['session-key']);
    expect((await client.listKeys()).keys).toEqual([]);
    for (const address of ['node0', 'node1', 'node2']) network.kill(address);
    for (const address of ['node0', 'node1', 'node2']) network.revive(address);
    await expectCode(client.sign('session-key', bytes('m')), 'TEMPORARY_KEY_LOST');
    await client.removeKey('session-key');
    expect(client.temporaryKeys()).toEqual([]);
    await expectCode(client.sign('session-key', bytes('m')), 'CANNOT_OPEN_OBJ');
  });

  it('imports and exports key material sealed under the session key', async () => {
    const { connect } = await harness(2);
    const client = await connect();
    const material = new Uint8Array(32).fill(0x5a);
    await client.importKey('shared-secret', 'hmac-sha256', material, { exportable: true });
    expect(await client.exportKey('shared-secret')).toEqual(material);
    await client.generateKey('locked', 'aes-256');
    await expectCode(client.exportKey('locked'), 'KEY_NOT_EXPORTABLE');
    const mac = await client.mac('shared-secret', bytes('m'));
    expect(await client.verifyMac('shared-secret', bytes('m'), mac)).toBe(true);
  });

  it('manages users: create, log in as them, change passwords, grant', async () => {
    const { connect } = await harness(2);
    const admin = await connect();
    await admin.createUser('kim', 'kim-password');
    const kim = await connect({ user: 'kim', password: 'kim-password' });
    await kim.generateKey('kim-key', 'ed25519');
    await expectCode(admin.sign('kim-key', bytes('m')), 'ACCESS_DENIED');
    await kim.grant('kim-key', 'admin', { use: true });
    expect(await admin.sign('kim-key', bytes('m'))).toHaveLength(64);
    await kim.changePassword('kim-new-password');
    kim.close();
    await expectCode(connect({ user: 'kim', password: 'kim-password' }), 'AUTH_FAILED');
    const again = await connect({ user: 'kim', password: 'kim-new-password' });
    expect((await again.listKeys()).keys.map((key) => key.name)).toEqual(['kim-key']);
    await expectCode(again.createUser('lee', 'lee-password'), 'ACCESS_DENIED');
    expect((await admin.listUsers()).users.map((user) => user.name)).toEqual(['admin', 'kim']);
  });

  it('renews an expired session by itself', async () => {
    const { pool, connect } = await harness(1);
    const client = await connect();
    await client.generateKey('k', 'aes-128');
    pool.clock.advance(3_600_000);
    expect(await client.encrypt('k', bytes('x'))).toHaveLength(12 + 1 + 16);
  });

  it('refuses bad arguments before sending, and calls after close', async () => {
    const { connect, network } = await harness(1);
    await expectCode(
      HsmClient.connect({
        nodes: Array.from({ length: 17 }, (_, i) => `n${i}`),
        user: 'admin',
        password: 'x',
        connections: network,
      }),
      'INVALID_PARAM',
    );
    await expectCode(
      HsmClient.connect({ nodes: [], user: 'admin', password: 'x', connections: network }),
      'INVALID_PARAM',
    );
    await expectCode(connect({ retry: { busyRetriesMax: 1000 } }), 'INVALID_PARAM');
    const client = await connect();
    await expectCode(client.generateKey('x'.repeat(33), 'aes-128'), 'INVALID_OBJ_NAME');
    await expectCode(client.sign('k', 'text' as unknown as Uint8Array), 'INVALID_PARAM');
    await expectCode(client.sign('k', new Uint8Array(70_000)), 'INPUT_TOO_LARGE');
    client.close();
    await expectCode(client.sign('k', bytes('m')), 'CLIENT_CLOSED');
  });

  it('treats a node that never answers as failed (NET_TIMEOUT) and moves on', async () => {
    const { network, pool } = await harness(1);
    const silent: ConnectionFactory = {
      async open(address) {
        if (address !== 'silent') return network.open(address);
        return { send() {}, close() {}, listen() {} } satisfies FrameConnection;
      },
    };
    const client = await HsmClient.connect({
      nodes: ['silent', 'node0'],
      user: 'admin',
      password: ADMIN_PASSWORD,
      connections: silent,
      loadBalancing: false,
      requestTimeoutMs: 500,
    });
    await client.generateKey('k', 'aes-128');
    expect(client.nodes()[0].downUntilMs).toBeGreaterThan(0);
    expect(pool.nodes[0].core.get('object', 'k')).toBeDefined();
  });

  it('refuses a node that does not prove it holds the verifier (SERVER_AUTH_FAILED)', async () => {
    const { network } = await harness(1);
    const impostor: ConnectionFactory = {
      async open(address) {
        const real = await network.open(address);
        return {
          send: (frame) => real.send(frame),
          close: () => real.close(),
          listen: (listener: FrameListener) =>
            real.listen({
              closed: (reason) => listener.closed(reason),
              frame: (text) =>
                listener.frame(
                  text.replace(
                    /"serverFinal":"v=[^"]*"/,
                    '"serverFinal":"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="',
                  ),
                ),
            }),
        };
      },
    };
    await expectCode(
      HsmClient.connect({
        nodes: ['node0'],
        user: 'admin',
        password: ADMIN_PASSWORD,
        connections: impostor,
      }),
      'SERVER_AUTH_FAILED',
    );
  });
});
