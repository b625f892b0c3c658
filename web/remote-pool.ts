// The dashboard on real processes: `?pool=HOST:PORT` attaches the page to a running Node pool.
// The page logs in on every node's /console path as the remote console does (SCRAM over the
// browser's WebSocket; the password never crosses the network), polls `info` (and `debug` for
// the events) and runs the console's commands for the buttons. The client pane's SDK talks to
// the same nodes over /client. The browser is then a real client of real processes.

import type { ConnectionFactory } from '../host/client/connection.ts';
import { webSocketConnections, type WebSocketConstructor } from '../host/client/ws-connection.ts';
import { CODE, HsmError, describe } from '../host/core/codes.ts';
import { RemoteConsole } from '../host/client/remote-console.ts';
import type { NodeStatus } from './messages.ts';
import type { NodeId } from '../host/protocol/types.ts';
import { isNodeId } from '../host/wire/ids.ts';
import { newTabNode, type ConsoleAnswer, type Flight, type TabNode } from './tab-pool.ts';

/** How often each node's `info` is polled. */
export const POLL_MS = 500;
/** `debug` (events) is polled every this many `info` polls. */
const EVENTS_EVERY = 4;
/** A node that failed is tried again after this long. */
const RECONNECT_MS = 2000;
/** Nodes the page attaches to at most (the pool's nodes-per-pool limit). */
const REMOTE_NODES_MAX = 16;

/** A node as another process's `info` lists it (its id is checked before the page keeps it). */
interface InfoNode {
  id: unknown;
  address: string;
  member: boolean;
}

export class RemotePool {
  readonly kind = 'remote';
  readonly nodes: TabNode[] = [];
  readonly flights: Flight[] = [];
  readonly log: string[] = [];
  readonly connections: ConnectionFactory;
  readonly bootstrapped = true;
  readonly password = '';
  onStatus: (() => void) | undefined;
  onChange: (() => void) | undefined;
  private readonly consoles = new Map<number, RemoteConsole>();
  private readonly retryAt = new Map<number, number>();
  private polls = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  private constructor(
    private readonly user: string,
    private readonly secret: string,
    private readonly consoleConnections: ConnectionFactory,
  ) {
    this.connections = webSocketConnections(
      globalThis.WebSocket as unknown as WebSocketConstructor,
    );
  }

  /** Logs in on `seed` and on every node its `info` lists; rejects (changing nothing) when the
   * seed refuses the login or does not answer. */
  static async attach(seed: string, user: string, password: string): Promise<RemotePool> {
    const consoleConnections = webSocketConnections(
      globalThis.WebSocket as unknown as WebSocketConstructor,
      '/console',
    );
    const first = await RemoteConsole.open(
      { host: seed, user, connections: consoleConnections },
      password,
    );
    const info = await first.run('info');
    if (info.code !== 0) {
      first.close();
      throw new HsmError(info.code, info.text);
    }
    const seedId = (info.data as { id?: unknown }).id;
    if (!isNodeId(seedId)) {
      first.close();
      throw new HsmError(CODE.OPERATION_FAILED, `${seed}: its info names no node id`);
    }
    const pool = new RemotePool(user, password, consoleConnections);
    pool.addNode(seed, seedId);
    pool.consoles.set(0, first);
    pool.learn(info.data as { nodes: InfoNode[] });
    await pool.poll();
    pool.timer = setInterval(() => void pool.poll(), POLL_MS);
    return pool;
  }

  private addNode(address: string, id: NodeId): TabNode {
    const node = newTabNode(this.nodes.length, address, id);
    node.alive = true;
    node.startedAt = performance.now();
    this.nodes.push(node);
    this.onChange?.();
    return node;
  }

  /** Every node an `info` lists joins the picture. */
  private learn(info: { nodes: InfoNode[] }): void {
    for (const entry of info.nodes ?? []) {
      if (this.nodes.length >= REMOTE_NODES_MAX) break;
      if (!isNodeId(entry.id)) continue;
      const known = this.nodes.find((node) => node.address === entry.address);
      if (!known) this.addNode(entry.address, entry.id);
      else if (known.id !== entry.id && entry.member) known.id = entry.id;
    }
  }

  private async session(index: number): Promise<RemoteConsole | undefined> {
    const open = this.consoles.get(index);
    if (open) return open;
    if ((this.retryAt.get(index) ?? 0) > performance.now()) return undefined;
    const node = this.nodes[index];
    try {
      const session = await RemoteConsole.open(
        { host: node.address, user: this.user, connections: this.consoleConnections },
        this.secret,
      );
      this.consoles.set(index, session);
      return session;
    } catch (error) {
      this.fail(index, error);
      return undefined;
    }
  }

  private fail(index: number, error: unknown): void {
    const node = this.nodes[index];
    const failure =
      error instanceof HsmError ? error : new HsmError(CODE.NET_CONNECT_FAILED, String(error));
    const changed = node.alive || node.failure !== failure.message;
    node.alive = false;
    node.ready = false;
    node.failure = failure.message;
    this.consoles.get(index)?.close();
    this.consoles.delete(index);
    this.retryAt.set(index, performance.now() + RECONNECT_MS);
    if (changed) this.onChange?.();
  }

  private async poll(): Promise<void> {
    const round = this.polls++;
    await Promise.all(
      this.nodes.map(async (node) => {
        const session = await this.session(node.index);
        if (!session) return;
        try {
          const info = await session.run('info');
          if (info.code !== 0) throw new HsmError(info.code, info.text);
          const data = info.data as NodeStatus['info'];
          let events = node.status?.events ?? [];
          if (round % EVENTS_EVERY === 0) {
            const debug = await session.run('debug');
            if (debug.code === 0)
              events = ((debug.data as { recentEvents?: typeof events }).recentEvents ?? []).slice(
                -12,
              );
          }
          const wasReady = node.ready;
          node.alive = true;
          node.ready = true;
          node.failure = undefined;
          node.id = data.id;
          node.status = {
            index: node.index,
            info: data,
            events,
            records: data.syncPoint.count,
            bootstrapped: true,
          };
          this.learn(data as unknown as { nodes: InfoNode[] });
          if (!wasReady) this.onChange?.();
        } catch (error) {
          this.fail(node.index, error);
        }
      }),
    );
    this.onStatus?.();
  }

  /** A console command on one node (the buttons); a refusal comes back with its code. */
  async console(index: number, line: string): Promise<ConsoleAnswer> {
    const session = await this.session(index);
    if (!session) {
      const failure = new HsmError(
        CODE.NET_CONNECT_FAILED,
        `${this.nodes[index].address} does not answer`,
      );
      return { code: failure.code, text: failure.message };
    }
    try {
      return await session.run(line);
    } catch (error) {
      const failure = error instanceof HsmError ? error : undefined;
      const number = failure?.code ?? CODE.NET_CONNECT_FAILED;
      return {
        code: number,
        text: `error: ${describe(number).name} (${number}): ${String(error)}`,
      };
    }
  }

  isCut(): boolean {
    return false;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    for (const session of this.consoles.values()) session.close();
    this.consoles.clear();
  }
}
