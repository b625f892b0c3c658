// bench:web's writers, in a worker of their own (worker.js, started with a `load` message):
// each writer is an SDK client whose session to its appliance runs over a MessagePort straight
// to that appliance's worker, so neither the clients' sealed channels nor their frames take
// the page's thread, whose frames the bench measures. A real client is not in the page either.

import { HsmClient } from '../host/client/client.ts';
import type {
  ConnectionFactory,
  FrameConnection,
  FrameListener,
} from '../host/client/connection.ts';
import { CODE, HsmError } from '../host/core/codes.ts';

export interface LoadRequest {
  readonly t: 'load';
  readonly seconds: number;
  readonly password: string;
  /** One port per writer, each a client session with an appliance (TabPool.clientPort). */
  readonly ports: MessagePort[];
}

export interface LoadAnswer {
  readonly commits: number;
  /** Failed calls by return code. */
  readonly failures: Record<number, number>;
  readonly ms: number;
}

/** The client side of a session over a port: text frames, or `{ close, reason }`. */
function portConnection(port: MessagePort): FrameConnection {
  let listener: FrameListener | undefined;
  let closed = false;
  port.onmessage = (event: MessageEvent<string | { close: number; reason: string }>) => {
    if (typeof event.data === 'string') return listener?.frame(event.data);
    closed = true;
    port.close();
    listener?.closed(event.data.reason);
  };
  return {
    send: (frame) => {
      if (!closed) port.postMessage(frame);
    },
    close: () => {
      if (closed) return;
      closed = true;
      port.postMessage({ close: 1000, reason: 'closed by the client' });
      port.close();
    },
    listen: (l) => {
      listener = l;
    },
  };
}

/** Writer `w` reaches its appliance at address `writer-w`, once (a port is one session). */
function connections(ports: MessagePort[]): ConnectionFactory {
  const unused = new Set(ports.keys());
  return {
    open: async (address) => {
      const w = Number(address.slice('writer-'.length));
      if (!unused.delete(w)) throw new HsmError(CODE.NET_CONNECT_FAILED, `${address}: used`);
      return portConnection(ports[w]);
    },
  };
}

/** Every writer creates keys until `seconds` have passed; counts commits and failures. */
export async function runLoad(request: LoadRequest): Promise<LoadAnswer> {
  const factory = connections(request.ports);
  const clients = await Promise.all(
    request.ports.map((_, w) =>
      HsmClient.connect({
        nodes: [`writer-${w}`],
        user: 'admin',
        password: request.password,
        connections: factory,
      }),
    ),
  );
  const began = performance.now();
  const end = began + request.seconds * 1000;
  let commits = 0;
  const failures: Record<number, number> = {};
  await Promise.all(
    clients.map(async (client, w) => {
      for (let i = 0; performance.now() < end; i++) {
        try {
          await client.generateKey(`load-${w}-${i}-${Math.round(began)}`, 'hmac-sha256');
          commits++;
        } catch (error) {
          const number = error instanceof HsmError ? error.code : CODE.OPERATION_FAILED;
          failures[number] = (failures[number] ?? 0) + 1;
        }
      }
    }),
  );
  const ms = performance.now() - began;
  for (const client of clients) client.close();
  return { commits, failures, ms };
}
