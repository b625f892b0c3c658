// A fenced or diverged node serves nothing stale (host/service/service.ts, sessions.ts): after
// node-down it refuses client logins and reads (38503) and writes (38502), a diverged node
// refuses all three (38504); the console still works; the SDK fails over on those codes and
// the application sees a failure only when every node refuses; the refused attempts do not
// block the live-sync in place that brings the node back. An in-process pool over the memory
// transport, node 3 under a NodeHost, clients through the real SessionServer.

import { describe, expect, it } from 'vitest';
import type { NodeHost } from '../../host/appliance/node-host.ts';
import { SessionServer, applianceBackend } from '../../host/server/sessions.ts';
import { HsmClient } from '../../host/client/client.ts';
import type {
  ConnectionFactory,
  FrameConnection,
  FrameListener,
} from '../../host/client/connection.ts';
import { HsmError, CODE } from '../../host/core/codes.ts';
import { Service } from '../../host/service/service.ts';
import { bootstrapPool } from '../../host/service/users.ts';
import type { ClientConnection, ClientPath } from '../../host/transport/transport.ts';
import { TEST_SVMK, keyedCore, codeOf } from '../fixtures.ts';
import { driveWithHost as drive, poolWithHost } from '../node-host-pool.ts';
import { ADMIN_PASSWORD, Driver, TEST_KDF, seededRandomBytes } from '../service-fixtures.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const message = encoder.encode('pay 100 to bob');

/** The SDK's connections into each node's SessionServer, as a WebSocket on /client would carry them. */
class SessionConnections implements ConnectionFactory {
  constructor(private readonly servers: ReadonlyMap<string, SessionServer>) {}

  async open(address: string): Promise<FrameConnection> {
    const server = this.servers.get(address);
    if (!server) throw new HsmError(CODE.NET_CONNECT_FAILED, `${address} does not answer`);
    return SessionConnections.attach(server, '/client');
  }

  static attach(server: SessionServer, path: ClientPath): FrameConnection {
    let listener: FrameListener | undefined;
    let toNode: ((bytes: Uint8Array) => void) | undefined;
    let onClose: ((code: number, reason: string) => void) | undefined;
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      onClose?.(1000, 'closed');
    };
    const nodeEnd: ClientConnection = {
      path,
      remoteAddress: '127.0.0.1:50000',
      send: (bytes) => {
        if (!closed) listener?.frame(decoder.decode(bytes));
      },
      bufferedBytes: () => 0,
      onMessage: (handler) => (toNode = handler),
      onClose: (handler) => (onClose = handler),
      close,
    };
    server.attach(path, nodeEnd);
    return {
      // Like a socket, the frame reaches the node later, not within send().
      send: (frame) =>
        void Promise.resolve().then(() => {
          if (!closed) toNode?.(encoder.encode(frame));
        }),
      close,
      listen: (l) => (listener = l),
    };
  }
}

/** A 3-node pool with the administrator, a service and session server per node, and an SDK. */
async function servedPool(seed: number) {
  const { pool, host } = await poolWithHost(seed, { stallMs: 2000 });
  const randomBytes = seededRandomBytes(seed);
  const nodes = [0, 1, 2].map((i) =>
    i === 2
      ? host
      : ({
          get appliance() {
            return pool.appliances[i];
          },
          clientConnections: 0,
        } as unknown as NodeHost),
  );
  const services = nodes.map(
    (node) =>
      new Service(
        applianceBackend(node, TEST_SVMK, randomBytes, () => 1_000_000),
        {
          kdf: TEST_KDF,
        },
      ),
  );
  const servers = new Map(
    nodes.map((node, i) => [`node${i}`, new SessionServer(node, services[i])] as const),
  );
  const connections = new SessionConnections(servers);
  const bootstrap = await bootstrapPool({
    core: keyedCore(),
    password: ADMIN_PASSWORD,
    kdf: TEST_KDF,
    randomBytes,
  });
  const { kind: _kind, ...write } = bootstrap.write;
  expect((await drive(pool, host, pool.appliances[0].write(write))).code).toBe(0);
  let clients = 0;
  const connect = (
    nodeNames: string[],
    user = 'admin',
    password = ADMIN_PASSWORD,
  ): Promise<HsmClient> =>
    drive(
      pool,
      host,
      HsmClient.connect({
        nodes: nodeNames,
        user,
        password,
        connections,
        loadBalancing: false,
        randomBytes: seededRandomBytes(seed * 100 + clients++),
        sleep: async () => {},
      }),
    );
  return {
    pool,
    host,
    services,
    servers,
    connect,
    run: <T>(p: Promise<T>) => drive(pool, host, p),
  };
}

describe('a fenced or diverged node serves nothing stale', () => {
  it('after node-down: no stale key, no old password; the SDK fails over; live-sync in place brings it back', async () => {
    const { pool, host, services, connect, run } = await servedPool(31);
    const admin = await connect(['node0']);
    await run(admin.generateKey('removed', 'ec-p256'));
    await run(admin.generateKey('kept', 'ec-p256'));
    await run(admin.createUser('kim', 'kim-password-1'));
    // A session logged in on node 3 before it is fenced must stop working too (directly on the
    // service: a client logged in through the session server would block live-sync in place,
    // 37033, until a restart — DINAMO's rule, unchanged).
    const loggedIn = new Driver(services[2]);
    expect(await run(loggedIn.login('admin', ADMIN_PASSWORD))).toBe(0);
    expect(await loggedIn.code('key.list')).toBe(0);

    // Node 3 is cut off and declared down; meanwhile the pool removes a key and changes a password.
    const old = host.identity.id;
    pool.hub.setIsolated(pool.founders[2].address, true);
    expect((await run(pool.appliances[0].nodeDown(old))).code).toBe(0);
    await run(admin.removeKey('removed'));
    const kim = await connect(['node0'], 'kim', 'kim-password-1');
    await run(kim.changePassword('kim-password-2'));
    pool.hub.setIsolated(pool.founders[2].address, false);
    await run(
      (async () => {
        while (!host.appliance.info().fenced) await new Promise((r) => setTimeout(r, 5));
      })(),
    );
    expect(host.appliance.core.get('object', 'removed')).toBeDefined(); // the stale store

    // Reads and logins on node 3 alone: refused; the application sees the failure (all nodes refused).
    expect(await codeOf(connect(['node2']))).toBe(CODE.ALL_NODES_FAILED);
    expect(await codeOf(connect(['node2'], 'kim', 'kim-password-1'))).toBe(CODE.ALL_NODES_FAILED);
    // The node's own answers, request by request: 38503 for logins and reads, 38502 for writes.
    const fresh = new Driver(services[2]);
    expect(await fresh.code('ping')).toBe(0);
    expect(await run(fresh.login('admin', ADMIN_PASSWORD))).toBe(38503);
    expect(await loggedIn.code('key.list')).toBe(38503);
    expect(await loggedIn.code('sign', { name: 'removed', message: 'AAAA' })).toBe(38503);
    expect(await loggedIn.code('key.remove', { name: 'kept' })).toBe(38502);
    // The operator's console session still logs in and reads (to inspect and fix the node).
    const console_ = new Driver(services[2], services[2].openSession({ console: true }));
    expect(await run(console_.login('admin', ADMIN_PASSWORD))).toBe(0);
    expect(await console_.code('key.list')).toBe(0);
    // A console session serves an administrator only: another user's requests are refused.
    const kimConsole = new Driver(services[2], services[2].openSession({ console: true }));
    expect(await run(kimConsole.login('kim', 'kim-password-1'))).toBe(0);
    expect(await kimConsole.code('key.list')).toBe(38503);

    // With a healthy node in the list the SDK fails over: no stale signature, the new password.
    const both = await connect(['node2', 'node0']);
    expect(await codeOf(run(both.sign('removed', message)))).toBe(CODE.CANNOT_OPEN_OBJ);
    expect(await run(both.sign('kept', message))).toHaveLength(64);
    await connect(['node2', 'node0'], 'kim', 'kim-password-2');
    expect(await codeOf(connect(['node2', 'node0'], 'kim', 'kim-password-1'))).toBe(
      CODE.AUTH_FAILED,
    );

    // The refused client attempts did not count as connected clients: live-sync in place runs.
    expect(host.clientConnections).toBe(0);
    const summary = await run(host.liveSync());
    expect(summary.id).not.toBe(old);
    expect(host.appliance.info().fenced).toBe(false);
    const back = await connect(['node2']);
    expect(await codeOf(run(back.sign('removed', message)))).toBe(CODE.CANNOT_OPEN_OBJ);
    expect(await run(back.sign('kept', message))).toHaveLength(64);
    await connect(['node2'], 'kim', 'kim-password-2');
    await pool.close();
  }, 60_000);

  it('a diverged node refuses logins, reads and writes with 38504; its console still works', async () => {
    const { pool, host, services, connect, run } = await servedPool(32);
    const admin = await connect(['node0']);
    await run(admin.generateKey('signer', 'ed25519'));
    const onNode3 = await connect(['node2']);
    expect(await run(onNode3.sign('signer', message))).toHaveLength(64);
    // What commitHere sets when a commit gives another SP here than at its coordinator.
    // (No input makes a deterministic store diverge: the test sets the replica's state.)
    (host.appliance.runtime.replica as unknown as { state: { diverged: boolean } }).state.diverged =
      true;
    const service = services[2];
    expect(await run(new Driver(service).login('admin', ADMIN_PASSWORD))).toBe(38504);
    expect(await codeOf(run(onNode3.sign('signer', message)))).toBe(CODE.ALL_NODES_FAILED);
    expect(await codeOf(run(onNode3.generateKey('other', 'ed25519')))).toBe(CODE.ALL_NODES_FAILED);
    const both = await connect(['node2', 'node0']);
    expect(await run(both.sign('signer', message))).toHaveLength(64);
    // The operator's console session logs in and runs commands on the diverged node.
    const console_ = new Driver(service, service.openSession({ console: true }));
    expect(await run(console_.login('admin', ADMIN_PASSWORD))).toBe(0);
    await pool.close();
  }, 60_000);
});
