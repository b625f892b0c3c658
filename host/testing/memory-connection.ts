// An in-memory network of Service instances, addressed by name: the connection factory for
// tests and the in-page pool. Frames cross as text through the services' own frame handler, so
// everything a socket would carry is validated the same way. A node can be killed (every
// connection drops, new ones are refused) and revived, and a reply can be lost on purpose
// after its request took effect — the case the request id exists for.

import { CODE, HsmError } from '../core/codes.ts';
import type { Service } from '../service/service.ts';
import type { Session } from '../service/session.ts';
import { openIncoming, sealOutgoing } from '../wire/session-channel.ts';
import type { ConnectionFactory, FrameConnection, FrameListener } from '../client/connection.ts';

interface Node {
  readonly service: Service;
  alive: boolean;
  readonly connections: Set<MemoryConnection>;
  /** Requests whose replies are lost (and the connection dropped) after the node handled them. */
  loseReplyWhen: ((request: unknown) => boolean) | undefined;
}

class MemoryConnection implements FrameConnection {
  private listener: FrameListener | undefined;
  private closed = false;

  constructor(
    private readonly node: Node,
    private readonly session: Session,
  ) {}

  listen(listener: FrameListener): void {
    this.listener = listener;
  }

  send(frame: string): void {
    if (this.closed) return;
    // Opened in arrival order, sealed in send order, as a socket carrier does (sessions.ts).
    const incoming = openIncoming(this.session, frame);
    if ('refusal' in incoming) {
      this.listener?.frame(incoming.refusal);
      this.drop(`refused: ${incoming.code}`);
      return;
    }
    const loseReply =
      this.node.loseReplyWhen !== undefined && this.node.loseReplyWhen(requestOf(incoming.text));
    if (loseReply) this.node.loseReplyWhen = undefined;
    void this.node.service.handleFrame(this.session, incoming.text).then((reply) => {
      if (this.closed) return;
      if (loseReply) this.drop('connection lost before the reply');
      else this.listener?.frame(sealOutgoing(this.session, reply));
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.node.connections.delete(this);
    this.node.service.closeSession(this.session);
  }

  /** The far side or the network ends it. */
  drop(reason: string): void {
    if (this.closed) return;
    this.close();
    this.listener?.closed(reason);
  }
}

function requestOf(frame: string): unknown {
  try {
    return (JSON.parse(frame) as { request?: unknown }).request;
  } catch {
    return undefined;
  }
}

export class MemoryNetwork implements ConnectionFactory {
  private readonly nodes = new Map<string, Node>();

  add(address: string, service: Service): void {
    if (this.nodes.has(address)) throw new RangeError(`address ${address} is taken`);
    this.nodes.set(address, {
      service,
      alive: true,
      connections: new Set(),
      loseReplyWhen: undefined,
    });
  }

  async open(address: string): Promise<FrameConnection> {
    const node = this.nodes.get(address);
    if (!node || !node.alive)
      throw new HsmError(CODE.NET_CONNECT_FAILED, `${address} does not answer`);
    const connection = new MemoryConnection(node, node.service.openSession());
    node.connections.add(connection);
    return connection;
  }

  /** The node dies: its connections drop, new ones are refused until revive(). */
  kill(address: string): void {
    const node = this.node(address);
    node.alive = false;
    for (const connection of [...node.connections]) connection.drop('node down');
  }

  revive(address: string): void {
    this.node(address).alive = true;
  }

  /** The next request matching `when` takes effect on the node, but its reply is lost and the connection drops. */
  loseReply(address: string, when: (request: unknown) => boolean): void {
    this.node(address).loseReplyWhen = when;
  }

  /** Open connections to a node (tests check where traffic went). */
  connectionCount(address: string): number {
    return this.node(address).connections.size;
  }

  private node(address: string): Node {
    const node = this.nodes.get(address);
    if (!node) throw new RangeError(`no node at ${address}`);
    return node;
  }
}
