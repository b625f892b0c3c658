// A fault-injecting TCP proxy in front of one node of the chaos campaign (docs/CHAOS.md). Every
// member's address in the pool's membership is its proxy's (the membership, with its
// addresses, is replicated and its digest compared, so all nodes must see the same list);
// each node dials its peers from its own loopback source address 127.0.0.x
// (source-address.cjs), so the proxy in front of node j knows that a connection comes from
// node i and applies the fault set for the directed link i->j. A node sends its envelopes only
// on the link it dialed (host/transport/peer-link.ts): the link i->j carries i's messages to j
// and nothing of j's, so a one-way partition is one directed link, a symmetric one two.
//
// Faults per directed link:
//   pass       bytes flow
//   drop       open connections are reset and new ones refused at once (a cable pulled; the
//              dialer sees the failure)
//   blackhole  connections open but nothing crosses (a silent firewall); the dialer learns
//              only from its own timeouts. At heal, such connections are reset: bytes were lost
//              inside a TCP stream, so it cannot resume
//   delay      every chunk waits `delayMs` more, in order (a slow path)
// Connections from a source no node uses pass untouched. Only 127.0.0.0/8, ever: the proxy
// refuses any other listen or target address.

import { createServer, connect, type Server, type Socket } from 'node:net';

export type LinkFault =
  | { readonly kind: 'pass' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'blackhole' }
  | { readonly kind: 'delay'; readonly delayMs: number };

/** The longest delay a link may be given. */
export const LINK_DELAY_MS_MAX = 10_000;
/** Connections one proxy holds at once; more are reset (a peer pair uses one or two). */
export const PROXY_CONNECTIONS_MAX = 64;

const LOOPBACK = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

export function assertLoopback(host: string): void {
  if (!LOOPBACK.test(host))
    throw new RangeError(`chaos proxy: ${host} is not a 127.0.0.0/8 address`);
}

interface Pair {
  readonly source: string;
  readonly inbound: Socket;
  readonly outbound: Socket;
  /** Bytes were discarded: the streams are broken and are reset at heal. */
  broken: boolean;
  /** When the last delayed chunk of each direction is due (keeps order). */
  dueUp: number;
  dueDown: number;
  readonly timers: Set<ReturnType<typeof setTimeout>>;
}

export interface ProxyStats {
  connections: number;
  refused: number;
  bytesForwarded: number;
  bytesDiscarded: number;
  /** Connections accepted, by source address. */
  bySource: Record<string, number>;
}

export class LinkProxy {
  /** Faults by source address (the dialing node's 127.0.0.x); absent: pass. */
  private readonly faults = new Map<string, LinkFault>();
  private readonly pairs = new Set<Pair>();
  readonly stats: ProxyStats = {
    connections: 0,
    refused: 0,
    bytesForwarded: 0,
    bytesDiscarded: 0,
    bySource: {},
  };

  private constructor(
    private readonly server: Server,
    readonly listen: { host: string; port: number },
    readonly target: { host: string; port: number },
  ) {}

  /** Listens on host:port (port 0: any free port) and forwards to target. */
  static async start(
    listen: { host: string; port: number },
    target: { host: string; port: number },
  ): Promise<LinkProxy> {
    assertLoopback(listen.host);
    assertLoopback(target.host);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => resolve());
    });
    const { port } = server.address() as { port: number };
    const proxy = new LinkProxy(server, { host: listen.host, port }, target);
    server.on('connection', (socket) => proxy.accept(socket));
    return proxy;
  }

  get address(): string {
    return `${this.listen.host}:${this.listen.port}`;
  }

  faultFrom(source: string): LinkFault {
    return this.faults.get(source) ?? { kind: 'pass' };
  }

  /** The fault of the link from the node dialing from `source` to this proxy's node. */
  setFault(source: string, fault: LinkFault): void {
    assertLoopback(source);
    if (fault.kind === 'delay' && !(fault.delayMs >= 0 && fault.delayMs <= LINK_DELAY_MS_MAX))
      throw new RangeError(`delay: 0 to ${LINK_DELAY_MS_MAX} ms`);
    if (fault.kind === 'pass') this.faults.delete(source);
    else this.faults.set(source, fault);
    for (const pair of this.pairs)
      if (
        pair.source === source &&
        (fault.kind === 'drop' || (fault.kind === 'pass' && pair.broken))
      )
        this.reset(pair);
  }

  /** Every link passes again. */
  healAll(): void {
    for (const source of [...this.faults.keys()]) this.setFault(source, { kind: 'pass' });
  }

  /** Stops listening and resets every connection. */
  async close(): Promise<void> {
    for (const pair of this.pairs) this.reset(pair);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(inbound: Socket): void {
    const source = (inbound.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (this.faultFrom(source).kind === 'drop' || this.pairs.size >= PROXY_CONNECTIONS_MAX) {
      this.stats.refused++;
      inbound.resetAndDestroy();
      return;
    }
    this.stats.connections++;
    this.stats.bySource[source] = (this.stats.bySource[source] ?? 0) + 1;
    const outbound = connect(this.target.port, this.target.host);
    const pair: Pair = {
      source,
      inbound,
      outbound,
      broken: false,
      dueUp: 0,
      dueDown: 0,
      timers: new Set(),
    };
    this.pairs.add(pair);
    inbound.setNoDelay(true);
    outbound.setNoDelay(true);
    inbound.on('data', (chunk: Buffer) => this.forward(pair, chunk, outbound, 'dueUp'));
    outbound.on('data', (chunk: Buffer) => this.forward(pair, chunk, inbound, 'dueDown'));
    const end = (): void => this.reset(pair);
    for (const socket of [inbound, outbound]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  }

  private forward(pair: Pair, chunk: Buffer, to: Socket, due: 'dueUp' | 'dueDown'): void {
    const fault = this.faultFrom(pair.source);
    if (fault.kind === 'blackhole' || fault.kind === 'drop') {
      pair.broken = true;
      this.stats.bytesDiscarded += chunk.length;
      return;
    }
    const write = (): void => {
      if (!to.destroyed) {
        this.stats.bytesForwarded += chunk.length;
        to.write(chunk);
      }
    };
    const now = Date.now();
    const at = Math.max(now + (fault.kind === 'delay' ? fault.delayMs : 0), pair[due]);
    if (at <= now) return write();
    pair[due] = at;
    const timer = setTimeout(() => {
      pair.timers.delete(timer);
      write();
    }, at - now);
    pair.timers.add(timer);
  }

  private reset(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    for (const timer of pair.timers) clearTimeout(timer);
    pair.timers.clear();
    for (const socket of [pair.inbound, pair.outbound])
      if (!socket.destroyed) socket.resetAndDestroy();
  }
}
