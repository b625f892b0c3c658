// Real WebSocket servers on 127.0.0.1, port 0: envelopes between nodes, a killed and
// restarted node, frames that must close only their own connection, the cross check, and
// the client and console paths.

import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Random } from '../../host/protocol/random.ts';
import type { Envelope, NodeId } from '../../host/protocol/types.ts';
import { BATCH_SIZE_MAX } from '../../host/core/layout.ts';
import { PEER_MESSAGE_SIZE_MAX } from '../../host/transport/envelope-codec.ts';
import { PEER_FRAME_SIZE_MAX } from '../../host/transport/link.ts';
import type { LinkFailure } from '../../host/transport/peer-link-limits.ts';
import {
  CLOSE_CODES,
  type ClientConnection,
  type ClientPath,
} from '../../host/transport/transport.ts';
import {
  startNodeServer,
  type NodeServer,
  type NodeServerOptions,
} from '../../host/transport/ws.node.ts';
import { until, openWebSocket } from '../sockets.ts';
import { toNodeId, toTxId } from '../../host/wire/ids.ts';

const A = toNodeId('00000000000000a1');
const B = toNodeId('00000000000000b2');
const C = toNodeId('00000000000000c3');
const KEY = new Uint8Array(32).fill(5);
const OTHER_KEY = new Uint8Array(32).fill(6);
const FAST = { reconnectDelayMsMin: 10, reconnectDelayMsMax: 100, handshakeTimeoutMs: 2_000 };

const running: NodeServer[] = [];
const clients: WebSocket[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const ws of clients.splice(0)) ws.terminate();
  await Promise.all(running.splice(0).map((server) => server.close({ graceMs: 100 })));
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function start(nodeId: NodeId, options: Partial<NodeServerOptions> = {}) {
  const random = new Random(parseInt(nodeId, 16));
  const server = await startNodeServer({
    host: '127.0.0.1',
    port: 0,
    nodeId,
    svmk: KEY,
    random: () => random.float(),
    ...options,
    limits: { ...FAST, ...options.limits },
  });
  running.push(server);
  const received: Envelope[] = [];
  const failures: LinkFailure[] = [];
  server.peers.onEnvelope((envelope) => received.push(envelope));
  server.peers.onLinkFailure((failure) => failures.push(failure));
  return { server, received, failures };
}

function envelope(from: NodeId, to: NodeId, n: number, batch?: Uint8Array): Envelope {
  const base = {
    from,
    to,
    epoch: n,
    digest: '0:0000000000000000',
    sp: 0n,
    spvv: 0,
  };
  if (batch === undefined)
    return { ...base, body: { type: 'ack', txid: toTxId(n.toString(16).padStart(16, '0')) } };
  return {
    ...base,
    body: {
      type: 'prepare',
      tx: {
        txid: toTxId('0000000000000001'),
        epoch: n,
        coordinator: from,
        participants: [to],
        nodes: [],
        spBefore: 0n,
        spvvBefore: 0,
        spAfter: 1n,
        spvvAfter: 1,
        tick: 0,
        event: 4,
        sourceUser: 'u',
        target: 't',
        batch,
      },
    },
  };
}

/** An address where something listens but hangs up at once: no WebSocket there. A port that
 * just closed could be taken by a parallel test's server, this one cannot. */
async function deadAddress(): Promise<string> {
  const server = createNetServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A and B, A told B's address, and a first envelope delivered. */
async function linked() {
  const a = await start(A);
  const b = await start(B);
  a.server.peers.setPeerAddress(B, b.server.address);
  a.server.peers.send(envelope(A, B, 1));
  await until(() => b.received.length === 1, 'the first envelope');
  return { a, b };
}

describe('ws transport between nodes', () => {
  it('two nodes exchange envelopes both ways, a full-size batch included', async () => {
    const a = await start(A);
    const b = await start(B);
    a.server.peers.setPeerAddress(B, b.server.address);
    b.server.peers.setPeerAddress(A, a.server.address);
    const batch = new Uint8Array(BATCH_SIZE_MAX).map((_, i) => i & 0xff);
    a.server.peers.send(envelope(A, B, 1));
    a.server.peers.send(envelope(A, B, 2, batch));
    b.server.peers.send(envelope(B, A, 3));
    await until(() => b.received.length === 2 && a.received.length === 1, 'the envelopes');
    expect(b.received.map((e) => e.epoch)).toEqual([1, 2]);
    const prepare = b.received[1].body;
    expect(prepare.type === 'prepare' && Buffer.from(prepare.tx.batch).equals(batch)).toBe(true);
    expect(a.received[0]).toEqual(envelope(B, A, 3));
    expect([...a.failures, ...b.failures]).toEqual([]);
  });

  it('reconnects to a node that was killed and restarted on the same port', async () => {
    const { a, b } = await linked();
    running.splice(running.indexOf(b.server), 1);
    await b.server.close({ graceMs: 0 }); // no close frames: as kill -9 looks from outside
    await until(() => !a.server.peers.peerStates()[0].connected, 'the link to drop');
    a.server.peers.send(envelope(A, B, 2));
    await until(() => a.failures.some((failure) => failure.code === 37004), 'a refused redial');
    const restarted = await start(B, { port: b.server.port });
    await until(() => restarted.received.length === 1, 'the envelope sent while it was down');
    expect(restarted.received[0].epoch).toBe(2);
  });

  it('an oversize frame closes only its own connection (1009)', async () => {
    const { a, b } = await linked();
    const raw = await openWebSocket(`ws://${b.server.address}/peer`, clients);
    raw.ws.send(new Uint8Array(PEER_FRAME_SIZE_MAX + 1));
    expect(await raw.closed).toBe(CLOSE_CODES.MESSAGE_TOO_BIG);
    a.server.peers.send(envelope(A, B, 2));
    await until(() => b.received.length === 2, 'the envelope after');
    expect(a.failures).toEqual([]);
    expect(b.failures).toEqual([{ direction: 'inbound', peerId: undefined, code: 38601 }]);
  });

  it('garbage closes only its own connection with 4400, binary or text', async () => {
    const { a, b } = await linked();
    const binary = await openWebSocket(`ws://${b.server.address}/peer`, clients);
    binary.ws.send(new TextEncoder().encode('garbage, not a frame'));
    const text = await openWebSocket(`ws://${b.server.address}/peer`, clients);
    text.ws.send('{"hello": "world"}');
    expect(await binary.closed).toBe(CLOSE_CODES.MALFORMED);
    expect(await text.closed).toBe(CLOSE_CODES.MALFORMED);
    a.server.peers.send(envelope(A, B, 2));
    await until(() => b.received.length === 2, 'the envelope after');
    expect(b.server.peers.stats().connectionsRefused).toBe(2);
    expect(a.failures).toEqual([]);
  });

  it('cross check: an RTT for a live peer; 5306, 38604 and 37004 for the others', async () => {
    const a = await start(A);
    const b = await start(B);
    const stranger = await start(C, { svmk: OTHER_KEY });
    const dead = await deadAddress();
    a.server.peers.setPeerAddress(B, b.server.address);
    a.server.peers.setPeerAddress(C, stranger.server.address);
    const [E, F] = [toNodeId('00000000000000ee'), toNodeId('00000000000000ff')];
    a.server.peers.setPeerAddress(E, b.server.address);
    a.server.peers.setPeerAddress(F, dead);
    const results = await a.server.peers.crossCheck(3_000);
    expect(results.map(({ id, code }) => ({ id, code }))).toEqual([
      { id: B, code: undefined },
      { id: C, code: 5306 },
      { id: E, code: 38604 },
      { id: F, code: 37004 },
    ]);
    expect(results[0].rttMs).toBeGreaterThanOrEqual(0);
    expect(results[0].rttMs).toBeLessThan(3_000);
    await until(() => stranger.failures.length > 0, 'the stranger to hear of it');
    expect(stranger.failures).toEqual([{ direction: 'inbound', peerId: A, code: 5306 }]);
  });
});

describe('the node port', () => {
  function echoServer(): {
    connections: ClientConnection[];
    hook: (path: ClientPath, connection: ClientConnection) => void;
  } {
    const connections: ClientConnection[] = [];
    return {
      connections,
      hook: (path, connection) => {
        connections.push(connection);
        connection.onMessage((bytes) =>
          connection.send(Uint8Array.of(path === '/client' ? 1 : 2, ...bytes.subarray(0, 16))),
        );
      },
    };
  }

  it('routes /client and /console to the hook, refuses other paths (404) and plain HTTP (426)', async () => {
    const echo = echoServer();
    const { server } = await start(A, { onClientConnection: echo.hook });
    for (const [path, tag] of [
      ['/client', 1],
      ['/console', 2],
    ] as const) {
      const { ws } = await openWebSocket(`ws://${server.address}${path}`, clients);
      const reply = new Promise<Buffer>((resolve) =>
        ws.once('message', (data) => resolve(data as Buffer)),
      );
      ws.send(Uint8Array.of(9, 9));
      expect([...(await reply)]).toEqual([tag, 9, 9]);
    }
    await expect(openWebSocket(`ws://${server.address}/other`, clients)).rejects.toThrow(
      'HTTP 404',
    );
    const response = await fetch(`http://${server.address}/`);
    expect(response.status).toBe(426);
    const { server: bare } = await start(B);
    await expect(openWebSocket(`ws://${bare.address}/client`, clients)).rejects.toThrow('HTTP 404');
  });

  it('an oversize client message closes that session (1009) and no other', async () => {
    const echo = echoServer();
    const { server } = await start(A, {
      onClientConnection: echo.hook,
      clientMessageSizeMax: 1024,
    });
    const good = await openWebSocket(`ws://${server.address}/client`, clients);
    const bad = await openWebSocket(`ws://${server.address}/client`, clients);
    bad.ws.send(new Uint8Array(1025));
    expect(await bad.closed).toBe(CLOSE_CODES.MESSAGE_TOO_BIG);
    const reply = new Promise<Buffer>((resolve) =>
      good.ws.once('message', (data) => resolve(data as Buffer)),
    );
    good.ws.send(Uint8Array.of(7));
    expect([...(await reply)]).toEqual([1, 7]);
  });

  it('answers 503 past connectionsMax', async () => {
    const { server } = await start(A, {
      connectionsMax: 2,
      peerConnectionsReserved: 0,
      onClientConnection: echoServer().hook,
    });
    await openWebSocket(`ws://${server.address}/client`, clients);
    await openWebSocket(`ws://${server.address}/console`, clients);
    await expect(openWebSocket(`ws://${server.address}/client`, clients)).rejects.toThrow(
      'HTTP 503',
    );
  });

  it('refuses options that would listen somewhere unsaid or without a finite limit', async () => {
    await expect(startNodeServer({ host: '', port: 0, nodeId: A, svmk: KEY })).rejects.toThrow(
      RangeError,
    );
    await expect(
      startNodeServer({
        host: '127.0.0.1',
        port: 0,
        nodeId: A,
        svmk: KEY,
        clientMessageSizeMax: PEER_MESSAGE_SIZE_MAX + 1,
      }),
    ).rejects.toThrow(RangeError);
  });
});
