// The attack suite's harness: a pool over the in-memory network, and an on-path proxy that
// sees every frame both ways and can inject, replay, alter or reorder frames toward the node.

import { HsmClient } from '../../host/client/client.ts';
import type {
  ConnectionFactory,
  FrameConnection,
  FrameListener,
} from '../../host/client/connection.ts';
import { MemoryNetwork } from '../../host/testing/memory-connection.ts';
import { ADMIN_PASSWORD, makePool, seededRandomBytes, type TestPool } from '../service-fixtures.ts';

export interface Tap {
  readonly upstream: FrameConnection;
  /** Frames the client sent, as it sent them. */
  readonly toNode: string[];
  /** Frames the node sent, as it sent them. */
  readonly fromNode: string[];
  /** The connection ended (either end). */
  closed: boolean;
}

/** An on-path attacker between the SDK and the nodes. */
export class OnPathProxy implements ConnectionFactory {
  readonly taps: Tap[] = [];
  /** Rewrites (or, with undefined, holds back) a client frame on its way to the node. */
  rewrite: ((frame: string, index: number) => string | undefined) | undefined;

  constructor(private readonly network: MemoryNetwork) {}

  async open(address: string): Promise<FrameConnection> {
    const upstream = await this.network.open(address);
    const tap: Tap = { upstream, toNode: [], fromNode: [], closed: false };
    this.taps.push(tap);
    let listener: FrameListener | undefined;
    upstream.listen({
      frame: (text) => {
        tap.fromNode.push(text);
        listener?.frame(text);
      },
      closed: (reason) => {
        tap.closed = true;
        listener?.closed(reason);
      },
    });
    return {
      send: (frame) => {
        const index = tap.toNode.push(frame) - 1;
        const out = this.rewrite ? this.rewrite(frame, index) : frame;
        if (out !== undefined) upstream.send(out);
      },
      close: () => {
        tap.closed = true;
        upstream.close();
      },
      listen: (l) => {
        listener = l;
      },
    };
  }

  /** Every frame seen either way, as one text. */
  get everything(): string {
    return this.taps.flatMap((tap) => [...tap.toNode, ...tap.fromNode]).join('\n');
  }
}

export interface Pool {
  readonly pool: TestPool;
  readonly network: MemoryNetwork;
  readonly addresses: string[];
  client(user: string, password: string, connections?: ConnectionFactory): Promise<HsmClient>;
}

let seed = 5000;
export async function pool(count = 1): Promise<Pool> {
  const testPool = await makePool(count);
  const network = new MemoryNetwork();
  const addresses = testPool.nodes.map((_, i) => `node${i}`);
  testPool.nodes.forEach((node, i) => network.add(addresses[i], node.service));
  return {
    pool: testPool,
    network,
    addresses,
    client: (user, password, connections = network) =>
      HsmClient.connect({
        nodes: addresses,
        user,
        password,
        connections,
        randomBytes: seededRandomBytes(seed++),
        sleep: async () => {},
      }),
  };
}

export { ADMIN_PASSWORD };

/** The `response` of a JSON frame, or undefined. */
export function responseOf(frame: string | undefined): { code?: number } | undefined {
  if (frame === undefined) return undefined;
  try {
    return (JSON.parse(frame) as { response?: { code?: number } }).response;
  } catch {
    return undefined;
  }
}

export const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));
