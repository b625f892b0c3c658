// The SDK's connections over WebSocket: a browser passes its global WebSocket, Node passes
// the `ws` package's (host/client/ws-client.node.ts). Frames are JSON text; the node answers in
// binary frames holding UTF-8 JSON.

import { CODE, HsmError } from '../core/codes.ts';
import type { ConnectionFactory, FrameConnection, FrameListener } from './connection.ts';

/** What this needs of a WebSocket (the browser's and the `ws` package's both fit). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Opening a connection gives up after this long. */
export const OPEN_TIMEOUT_MS = 5000;
// The client's network codes are DINAMO's negative ones (docs/RETURN_CODES.md).

const decoder = new TextDecoder();

function text(data: unknown): string {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return decoder.decode(new Uint8Array(data));
  if (ArrayBuffer.isView(data))
    return decoder.decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return '';
}

/** `scheme` 'wss' for nodes that serve TLS (the browser then checks the certificate against
 * what it trusts; a Node application pins the pool's certificate, ws-client.node.ts). */
export function webSocketConnections(
  WebSocketImpl: WebSocketConstructor,
  path: '/client' | '/console' = '/client',
  scheme: 'ws' | 'wss' = 'ws',
): ConnectionFactory {
  return {
    open(address: string): Promise<FrameConnection> {
      return new Promise((resolve, reject) => {
        const socket = new WebSocketImpl(`${scheme}://${address}${path}`);
        socket.binaryType = 'arraybuffer';
        let listener: FrameListener | undefined;
        let opened = false;
        let closedByUs = false;
        const timer = setTimeout(() => {
          socket.close();
          reject(
            new HsmError(CODE.NET_CONNECT_FAILED, `${address}: no answer in ${OPEN_TIMEOUT_MS} ms`),
          );
        }, OPEN_TIMEOUT_MS);
        socket.onopen = () => {
          opened = true;
          clearTimeout(timer);
          resolve({
            send: (frame) => {
              if (socket.readyState === 1) socket.send(frame);
            },
            close: () => {
              closedByUs = true;
              socket.close(1000, 'client closed');
            },
            listen: (l) => {
              listener = l;
            },
          });
        };
        socket.onmessage = (event) => listener?.frame(text(event.data));
        socket.onerror = () => {
          if (!opened) {
            clearTimeout(timer);
            reject(new HsmError(CODE.NET_CONNECT_FAILED, `${address}: cannot connect`));
          }
        };
        socket.onclose = (event) => {
          if (!opened) {
            clearTimeout(timer);
            reject(
              new HsmError(
                CODE.NET_CONNECT_FAILED,
                `${address}: closed (${event.code} ${event.reason})`,
              ),
            );
          } else if (!closedByUs)
            listener?.closed(`closed by the node (${event.code} ${event.reason})`);
        };
      });
    },
  };
}
