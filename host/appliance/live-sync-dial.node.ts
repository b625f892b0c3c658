// The raw peer connection live-sync's first check needs in a real process (Node only): a
// WebSocket to ws://ADDRESS/peer as a FramedSocket. The peer link transport dials its own.

import WebSocket from 'ws';
import { CODE, HsmError } from '../core/codes.ts';
import type { FramedSocket } from '../transport/transport.ts';
import { UNMASKED_FRAMES } from '../wire/ws-unmasked.node.ts';

/** `poolCertificate`: the pool serves TLS; dial wss:// trusting exactly that certificate. */
export function dialPeerSocket(
  address: string,
  timeoutMs = 5000,
  poolCertificate?: string,
): Promise<FramedSocket> {
  return new Promise((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(`${poolCertificate ? 'wss' : 'ws'}://${address}/peer`, {
        ...(poolCertificate ? { ca: poolCertificate } : {}),
        ...UNMASKED_FRAMES,
        perMessageDeflate: false,
        handshakeTimeout: timeoutMs,
        followRedirects: false,
      });
    } catch (error) {
      reject(new HsmError(CODE.CANNOT_P2P_CONNECT, `${address}: ${(error as Error).message}`));
      return;
    }
    ws.on('error', () => {});
    ws.once('close', () => reject(new HsmError(CODE.CANNOT_P2P_CONNECT, `${address}: closed`)));
    ws.once('open', () =>
      resolve({
        send: (frame, onWritten) => {
          if (ws.readyState === WebSocket.OPEN)
            ws.send(frame, { binary: true }, (error) => {
              if (!error) onWritten?.();
            });
        },
        bufferedBytes: () => ws.bufferedAmount,
        close: (code, reason) => {
          try {
            ws.close(code >= 4000 || code === 1000 ? code : 1000, reason.slice(0, 100));
          } catch {
            ws.terminate();
          }
        },
        onFrame: (handler) => {
          ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
            const buffer = Array.isArray(data)
              ? Buffer.concat(data)
              : Buffer.from(data as ArrayBuffer);
            handler(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength));
          });
        },
        onClose: (handler) => {
          ws.once('close', (code: number, reason: Buffer) =>
            handler(code, reason.toString('utf8')),
          );
        },
      }),
    );
  });
}
