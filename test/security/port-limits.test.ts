// Attack suite, item 2 at the node's port: a client without credentials cannot starve peers,
// hold unbounded connections from one address, send peer-sized messages on client paths, or
// park partial messages. Each refusal leaves other clients and peers working.

import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Random } from '../../host/protocol/random.ts';
import { CLIENT_MESSAGE_SIZE_MAX } from '../../host/transport/connection-limits.ts';
import { CLOSE_CODES, type ClientConnection } from '../../host/transport/transport.ts';
import {
  startNodeServer,
  type NodeServer,
  type NodeServerOptions,
} from '../../host/transport/ws.node.ts';
import { openWebSocket } from '../sockets.ts';
import { toNodeId } from '../../host/wire/ids.ts';

const KEY = new Uint8Array(32).fill(5);
const running: NodeServer[] = [];
const sockets: (WebSocket | Socket)[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s instanceof WebSocket ? s.terminate() : s.destroy();
  await Promise.all(running.splice(0).map((server) => server.close({ graceMs: 50 })));
});

async function start(options: Partial<NodeServerOptions> = {}): Promise<NodeServer> {
  const random = new Random(7);
  const server = await startNodeServer({
    host: '127.0.0.1',
    port: 0,
    nodeId: toNodeId('00000000000000a1'),
    svmk: KEY,
    random: () => random.float(),
    onClientConnection: (_path, connection: ClientConnection) =>
      connection.onMessage((bytes) => connection.send(bytes)),
    ...options,
  });
  running.push(server);
  return server;
}

const open = (url: string) => openWebSocket(url, sockets, { maxPayload: 64 * 2 ** 20 });

async function echoes(ws: WebSocket): Promise<boolean> {
  const reply = new Promise<Buffer>((resolve) =>
    ws.once('message', (data) => resolve(data as Buffer)),
  );
  ws.send(Uint8Array.of(1, 2, 3));
  return [...(await reply)].join() === '1,2,3';
}

describe('the node port under an unauthenticated flood', () => {
  it('keeps connections for peers: clients are refused (503) before a peer link is', async () => {
    const server = await start({ connectionsMax: 4, peerConnectionsReserved: 2 });
    await open(`ws://${server.address}/client`);
    await open(`ws://${server.address}/console`);
    await expect(open(`ws://${server.address}/client`)).rejects.toThrow('HTTP 503');
    // The upgrade for /peer is still taken (the SVMK handshake then decides).
    const peer = await open(`ws://${server.address}/peer`);
    expect(peer.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('bounds client connections from one address (503); the ones it holds keep working', async () => {
    const server = await start({ connectionsPerSourceMax: 3 });
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await open(`ws://${server.address}/client`));
    await expect(open(`ws://${server.address}/client`)).rejects.toThrow('HTTP 503');
    expect(await echoes(held[0].ws)).toBe(true);
    held[1].ws.close();
    await held[1].closed;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await echoes((await open(`ws://${server.address}/client`)).ws)).toBe(true);
  });

  it('uses the client limit on client paths, not the 4 MiB peer limit (1009)', async () => {
    const server = await start();
    const good = await open(`ws://${server.address}/client`);
    const bad = await open(`ws://${server.address}/client`);
    bad.ws.send(new Uint8Array(CLIENT_MESSAGE_SIZE_MAX + 1));
    expect(await bad.closed).toBe(CLOSE_CODES.MESSAGE_TOO_BIG);
    expect(await echoes(good.ws)).toBe(true);
  });

  it('closes a connection that parks a partial message (38734); others keep working', async () => {
    const server = await start({ partialMessageMs: 100 });
    const good = await open(`ws://${server.address}/client`);
    // A raw upgrade, then a frame header announcing 60,000 bytes, and only 10 of them.
    const [host, port] = server.address.split(':');
    const raw = connect(Number(port), host);
    sockets.push(raw);
    const closed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
    raw.on('error', () => {});
    await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
    raw.write(
      `GET /client HTTP/1.1\r\nHost: ${server.address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await new Promise<void>((resolve) => raw.once('data', () => resolve()));
    const header = Uint8Array.of(0x82, 0xfe, 0xea, 0x60, 1, 2, 3, 4); // binary, masked, 60000 bytes
    raw.write(header);
    raw.write(new Uint8Array(10));
    await closed; // without the deadline this waits until the test times out
    expect(await echoes(good.ws)).toBe(true);
  }, 15_000);
});
