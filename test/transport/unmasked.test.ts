// Frames our WebSocket clients send go unmasked (host/wire/ws-unmasked.node.ts): a raw TCP
// server answers the upgrade by hand and reads the first frame's header, where the mask bit and
// the masking key are. The peer links dial with the same option (ws.node.ts).

import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { dialPeerSocket } from '../../host/appliance/live-sync-dial.node.ts';
import { nodeConnections } from '../../host/client/ws-client.node.ts';

const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

interface FirstFrame {
  readonly masked: boolean;
  readonly key: Buffer;
  readonly payload: Buffer;
}

/** A server that accepts one WebSocket upgrade and resolves with the first frame it reads. */
function frameCatcher(): Promise<{ server: Server; address: string; first: Promise<FirstFrame> }> {
  let resolveFirst: (frame: FirstFrame) => void;
  const first = new Promise<FirstFrame>((resolve) => (resolveFirst = resolve));
  const server = createServer((socket: Socket) => {
    let buffered = Buffer.alloc(0);
    let upgraded = false;
    socket.on('data', (data: Buffer) => {
      buffered = Buffer.concat([buffered, data]);
      if (!upgraded) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const request = buffered.subarray(0, end).toString('latin1');
        const key = /sec-websocket-key: *(\S+)/i.exec(request)![1];
        const accept = createHash('sha1')
          .update(key + WEBSOCKET_GUID)
          .digest('base64');
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
        );
        upgraded = true;
        buffered = buffered.subarray(end + 4);
      }
      if (buffered.length < 2) return;
      const masked = (buffered[1] & 0x80) !== 0;
      const length = buffered[1] & 0x7f; // the test frames are short (< 126 bytes)
      const keyAt = 2;
      const payloadAt = masked ? 6 : 2;
      if (buffered.length < payloadAt + length) return;
      resolveFirst({
        masked,
        key: buffered.subarray(keyAt, keyAt + 4),
        payload: buffered.subarray(payloadAt, payloadAt + length),
      });
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({ server, address: `127.0.0.1:${port}`, first });
    }),
  );
}

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

describe('frames our WebSocket clients send', () => {
  it("a peer dial's frames carry a zero masking key and the bytes as they are", async () => {
    const { server, address, first } = await frameCatcher();
    servers.push(server);
    const socket = await dialPeerSocket(address);
    const bytes = Uint8Array.from([1, 2, 3, 250, 251, 252, 9]);
    socket.send(bytes);
    const frame = await first;
    expect(frame.masked).toBe(true); // the mask bit a client sets (RFC 6455)
    expect([...frame.key]).toEqual([0, 0, 0, 0]);
    expect([...frame.payload]).toEqual([...bytes]);
    socket.close(1000, '');
  });

  it("the SDK's Node connections send theirs the same way", async () => {
    const { server, address, first } = await frameCatcher();
    servers.push(server);
    const connection = await nodeConnections('/client').open(address);
    connection.send('{"sealed":"AAEC"}'); // the SDK's frames are text
    const frame = await first;
    expect(frame.masked).toBe(true);
    expect([...frame.key]).toEqual([0, 0, 0, 0]);
    expect(frame.payload.toString('utf8')).toBe('{"sealed":"AAEC"}');
    connection.close();
  });
});
