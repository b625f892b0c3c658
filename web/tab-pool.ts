// The pool in the tab: one Web Worker per appliance, their peer connections (the page checks
// each dial, then hands both ends a MessageChannel), and the SDK's connections into them. Kill is worker.terminate() (as abrupt as kill -9); restart
// is a new worker that recovers from the appliance's IndexedDB database. The pool's identity
// (founders, SVMK, administrator password) is kept in localStorage, so a reload restarts every
// appliance through recovery.

import { CODE, HsmError } from '../host/core/codes.ts';
import type {
  ConnectionFactory,
  FrameConnection,
  FrameListener,
} from '../host/client/connection.ts';
import { Random } from '../host/protocol/random.ts';
import type { NodeAddress, NodeId } from '../host/protocol/types.ts';
import { isNodeId, toNodeId } from '../host/wire/ids.ts';
import { secureRandomBytes } from '../host/wire/random.ts';
import { IndexedDbStorage } from '../host/storage/indexeddb.ts';
import type { JoinProgress } from '../host/protocol/live-sync/donor.ts';
import type { NodeConfig, NodeStatus, PageToWorker, WorkerToPage } from './messages.ts';
import { fromHex, toHex } from '../host/wire/bytes.ts';

/** Appliances a tab runs at most (the protocol's nodes-per-pool limit). */
export const TAB_NODES_MAX = 16;
/** Protocol ticks per second at full speed (TICK_MS = 10). */
export const FULL_SPEED_TICKS = 100;
const STORAGE_KEY = 'hsmpool.tab-pool';
/** Frames in flight the picture keeps, at most. */
const FLIGHTS_MAX = 2000;

export interface SavedPool {
  readonly domain: string;
  readonly poolId: string;
  readonly svmk: string;
  readonly founders: NodeAddress[];
  readonly password: string;
  readonly tag: string;
  bootstrapped: boolean;
  /** Nodes added to the running pool by live-sync, in order (indexes after the founders'). */
  added?: { id: NodeId; address: string; joined: boolean }[];
}

/** The pool saved in localStorage, its node ids checked: this page wrote it, but it outlives
 * the page's code and anyone can edit it. */
function savedPoolOf(text: string): SavedPool {
  const saved = JSON.parse(text) as Omit<SavedPool, 'founders' | 'added'> & {
    founders: { id: unknown; address: string }[];
    added?: { id: unknown; address: string; joined: boolean }[];
  };
  const checked = <T extends { id: unknown }>(node: T): T & { id: NodeId } => {
    if (!isNodeId(node.id))
      throw new RangeError(`${STORAGE_KEY}: ${JSON.stringify(node.id)} is not a node id`);
    return { ...node, id: node.id };
  };
  const { founders, added, ...rest } = saved;
  return { ...rest, founders: founders.map(checked), ...(added && { added: added.map(checked) }) };
}

export interface TabNode {
  readonly index: number;
  readonly address: string;
  id: NodeId;
  worker: Worker | undefined;
  alive: boolean;
  ready: boolean;
  paused: boolean;
  status: NodeStatus | undefined;
  failure: string | undefined;
  startedAt: number;
  recoveredMs: number | undefined;
  /** A node joining by live-sync: how far the pool image came. */
  progress?: JoinProgress;
}

/** A node of the picture, not started yet (alive and ready come with its life). */
export function newTabNode(index: number, address: string, id: NodeId): TabNode {
  return {
    index,
    address,
    id,
    worker: undefined,
    alive: false,
    ready: false,
    paused: false,
    status: undefined,
    failure: undefined,
    startedAt: 0,
    recoveredMs: undefined,
  };
}

/** A frame the page relayed (the dashboard draws it in flight). */
export interface Flight {
  readonly from: number;
  readonly to: number;
  readonly bytes: number;
  readonly at: number;
}

/** The SVMK the page saved (as hex); throws if the saved pool is damaged. */
function savedSvmk(text: string): Uint8Array {
  const svmk = fromHex(text);
  if (!svmk) throw new Error('saved pool: the SVMK is not lowercase hex');
  return svmk;
}

function generatePassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  return [...secureRandomBytes(20)].map((b) => alphabet[b % alphabet.length]).join('') + '-9aA';
}

export class TabPool {
  readonly kind = 'tab';
  readonly nodes: TabNode[];
  private readonly cuts = new Set<string>();
  private readonly clients = new Map<number, { node: number; listener?: FrameListener }>();
  private readonly consoles = new Map<number, (result: ConsoleAnswer) => void>();
  private nextPageConn = 1;
  private ticksPerSecond = FULL_SPEED_TICKS;
  private stepping = false;
  readonly flights: Flight[] = [];
  readonly log: string[] = [];
  /** Called on each status report (the dashboard redraws its tables). */
  onStatus: (() => void) | undefined;
  /** Called on each change of a node's life (started, ready, killed, failed). */
  onChange: (() => void) | undefined;
  /** Peer frames sent so far, as the workers report them (the bench reads it). */
  framesRelayed = 0;

  private constructor(
    readonly saved: SavedPool,
    private readonly wasmUrl: string,
    readonly workerUrl: string,
  ) {
    this.nodes = [...saved.founders, ...(saved.added ?? [])].map((founder, index) =>
      newTabNode(index, founder.address, founder.id),
    );
  }

  /** The saved pool, or a new one of `count` appliances. */
  static load(count: number): SavedPool {
    const text = globalThis.localStorage?.getItem(STORAGE_KEY);
    if (text) return savedPoolOf(text);
    if (!Number.isInteger(count) || count < 1 || count > TAB_NODES_MAX)
      throw new RangeError(`nodes: 1 to ${TAB_NODES_MAX}, got ${count}`);
    const random = new Random(new DataView(secureRandomBytes(4).buffer).getUint32(0));
    const saved: SavedPool = {
      domain: 'tab',
      poolId: random.id64(),
      svmk: toHex(secureRandomBytes(32)),
      founders: Array.from({ length: count }, (_, i) => ({
        id: toNodeId(random.id64()),
        address: `10.0.0.${i + 1}:7001`,
      })),
      password: generatePassword(),
      tag: random.id64().slice(0, 8),
      bootstrapped: false,
    };
    TabPool.save(saved);
    return saved;
  }

  static save(saved: SavedPool): void {
    globalThis.localStorage?.setItem(STORAGE_KEY, JSON.stringify(saved));
  }

  /** Forgets the saved pool and deletes every appliance's database. */
  static async forget(): Promise<void> {
    const text = globalThis.localStorage?.getItem(STORAGE_KEY);
    if (!text) return;
    const saved = JSON.parse(text) as SavedPool;
    await Promise.all(
      [...saved.founders, ...(saved.added ?? [])].map((_, i) =>
        IndexedDbStorage.destroy(TabPool.database(saved, i)),
      ),
    );
    globalThis.localStorage.removeItem(STORAGE_KEY);
  }

  static database(saved: SavedPool, index: number): string {
    return `hsmpool-${saved.tag}-${index + 1}`;
  }

  static start(saved: SavedPool, wasmUrl: string, workerUrl: string): TabPool {
    const pool = new TabPool(saved, wasmUrl, workerUrl);
    for (const node of pool.nodes) pool.startNode(node.index);
    return pool;
  }

  get password(): string {
    return this.saved.password;
  }

  get bootstrapped(): boolean {
    return this.saved.bootstrapped;
  }

  // ---- life of a node ----

  startNode(index: number, restore?: Uint8Array): void {
    const node = this.nodes[index];
    if (node.alive) return;
    const worker = new Worker(this.workerUrl, { type: 'module', name: `appliance-${index + 1}` });
    node.worker = worker;
    node.alive = true;
    node.ready = false;
    node.paused = false;
    node.failure = undefined;
    node.startedAt = performance.now();
    node.recoveredMs = undefined;
    worker.onmessage = (event: MessageEvent<WorkerToPage>) => this.fromWorker(index, event.data);
    worker.onerror = (event) => {
      node.failure = event.message || 'worker error';
      this.onChange?.();
    };
    const config: NodeConfig = {
      index,
      id: node.id,
      address: node.address,
      domain: this.saved.domain,
      poolId: this.saved.poolId,
      founders: this.saved.founders,
      svmk: savedSvmk(this.saved.svmk),
      database: TabPool.database(this.saved, index),
      wasmUrl: this.wasmUrl,
      bootstrapPassword: index === 0 && !this.saved.bootstrapped ? this.saved.password : undefined,
      join: this.joinFor(index),
      ticksPerSecond: this.ticksPerSecond,
      restore,
    };
    worker.postMessage({ t: 'start', config } satisfies PageToWorker);
    if (this.stepping) this.post(index, { t: 'clock', ticksPerSecond: 0, paused: true });
    this.onChange?.();
  }

  /** An added node that has not joined yet takes the image from the first member running. */
  private joinFor(index: number): { donor: string } | undefined {
    const added = this.saved.added?.[index - this.saved.founders.length];
    if (!added || added.joined) return undefined;
    const donor = this.nodes.find(
      (node) => node.ready && node.index !== index && !this.isAdding(node),
    );
    return { donor: donor?.address ?? this.nodes[0].address };
  }

  private isAdding(node: TabNode): boolean {
    const added = this.saved.added?.[node.index - this.saved.founders.length];
    return added !== undefined && !added.joined;
  }

  /** Adds an appliance to the running pool: a new worker joins by live-sync (docs/LIVE_SYNC.md). */
  addNode(): TabNode {
    if (this.nodes.length >= TAB_NODES_MAX)
      throw new RangeError(`a pool has at most ${TAB_NODES_MAX} nodes`);
    const random = new Random(new DataView(secureRandomBytes(4).buffer).getUint32(0));
    const index = this.nodes.length;
    const added = {
      id: toNodeId(random.id64()),
      address: `10.0.0.${index + 1}:7001`,
      joined: false,
    };
    this.saved.added = [...(this.saved.added ?? []), added];
    TabPool.save(this.saved);
    const node = newTabNode(index, added.address, added.id);
    this.nodes.push(node);
    this.startNode(index);
    return node;
  }

  /** kill -9: the worker ends wherever it is (a write half done stays half done on disk). */
  kill(index: number): void {
    const node = this.nodes[index];
    if (!node.alive) return;
    node.worker?.terminate();
    node.worker = undefined;
    node.alive = false;
    node.ready = false;
    // The dead worker's ports say nothing: its peers are told, as TCP would time out.
    this.dropPeer(index, 'process died');
    for (const [conn, client] of [...this.clients]) {
      if (client.node !== index) continue;
      this.clients.delete(conn);
      client.listener?.closed('node down');
    }
    this.onChange?.();
  }

  restart(index: number): void {
    this.kill(index);
    this.startNode(index);
  }

  /** Offline restore, as `hsmpool restore` on a stopped node: the worker is killed, and a new
   * one restores the backup into its database, then recovers. A refused backup (damaged, of
   * another pool) changes nothing: the node recovers what it had. Resolves with the outcome. */
  restore(index: number, backup: Uint8Array): Promise<ConsoleAnswer> {
    this.kill(index);
    return new Promise((resolve) => {
      // Restore outcomes wait under a negative id per node (console ids are positive).
      this.consoles.set(-index - 1, resolve);
      this.startNode(index, backup);
    });
  }

  /** A paused node neither ticks nor receives (frames wait for it), like SIGSTOP. */
  setPaused(index: number, paused: boolean): void {
    const node = this.nodes[index];
    if (!node.alive || node.paused === paused) return;
    node.paused = paused;
    this.post(index, { t: 'hold', on: paused });
    this.post(index, {
      t: 'clock',
      ticksPerSecond: this.ticksPerSecond,
      paused: paused || this.stepping,
    });
    this.onChange?.();
  }

  // ---- links ----

  private static linkKey(a: number, b: number): string {
    return a < b ? `${a}-${b}` : `${b}-${a}`;
  }

  isCut(a: number, b: number): boolean {
    return this.cuts.has(TabPool.linkKey(a, b));
  }

  /** Pull (or plug back) the cable between two appliances. */
  setCut(a: number, b: number, cut: boolean): void {
    const key = TabPool.linkKey(a, b);
    if (!cut) {
      this.cuts.delete(key);
    } else {
      this.cuts.add(key);
      this.post(a, { t: 'drop', peer: b, reason: 'link cut' });
      this.post(b, { t: 'drop', peer: a, reason: 'link cut' });
    }
    this.onChange?.();
  }

  // ---- speed ----

  /** Protocol speed: ticks per second (100 = real time). */
  setSpeed(ticksPerSecond: number): void {
    this.ticksPerSecond = Math.max(1, Math.min(FULL_SPEED_TICKS, ticksPerSecond));
    this.broadcastClock();
  }

  /** Single-step mode: clocks stop; step() advances every running appliance by one tick. */
  setStepping(stepping: boolean): void {
    this.stepping = stepping;
    this.broadcastClock();
  }

  step(ticks = 1): void {
    for (const node of this.nodes)
      if (node.alive && !node.paused) this.post(node.index, { t: 'step', ticks });
  }

  private broadcastClock(): void {
    for (const node of this.nodes)
      if (node.alive)
        this.post(node.index, {
          t: 'clock',
          ticksPerSecond: this.ticksPerSecond,
          paused: node.paused || this.stepping,
        });
  }

  // ---- console ----

  private nextConsole = 1;

  /** Runs a console command on a node, as its remote (or local) console would. */
  console(
    index: number,
    line: string,
    kind: 'local' | 'remote' = 'remote',
  ): Promise<ConsoleAnswer> {
    const node = this.nodes[index];
    if (!node.alive || !node.ready) {
      const failure = new HsmError(CODE.NET_CONNECT_FAILED, `${node.address} does not answer`);
      return Promise.resolve({ code: failure.code, text: failure.message });
    }
    const id = this.nextConsole++;
    return new Promise((resolve) => {
      this.consoles.set(id, resolve);
      this.post(index, { t: 'console', id, line, kind });
    });
  }

  // ---- the SDK's connections ----

  /** A ConnectionFactory for HsmClient: addresses are the appliances' (10.0.0.N:7001). */
  readonly connections: ConnectionFactory = {
    open: async (address: string): Promise<FrameConnection> => {
      const node = this.nodes.find((candidate) => candidate.address === address);
      if (!node || !node.alive || !node.ready)
        throw new HsmError(CODE.NET_CONNECT_FAILED, `${address} does not answer`);
      const conn = this.pageConn();
      const entry: { node: number; listener?: FrameListener } = { node: node.index };
      this.clients.set(conn, entry);
      this.post(node.index, { t: 'copen', conn, path: '/client' });
      return {
        send: (frame: string) => {
          if (this.clients.has(conn)) this.post(node.index, { t: 'cframe', conn, text: frame });
        },
        close: () => {
          if (!this.clients.delete(conn)) return;
          this.post(node.index, { t: 'cclose', conn });
        },
        listen: (listener: FrameListener) => {
          entry.listener = listener;
        },
      };
    },
  };

  /** A client session with appliance `index` over a port of its own: hand the port to a
   * worker and the session's frames never cross the page's thread (bench:web's writers). */
  clientPort(index: number): MessagePort {
    const node = this.nodes[index];
    if (!node.alive || !node.ready)
      throw new HsmError(CODE.NET_CONNECT_FAILED, `${node.address} does not answer`);
    const channel = new MessageChannel();
    this.post(index, { t: 'cport', port: channel.port2 }, [channel.port2]);
    return channel.port1;
  }

  // ---- plumbing ----

  private pageConn(): number {
    return (1 << 30) + this.nextPageConn++;
  }

  private post(index: number, message: PageToWorker, transfer: Transferable[] = []): void {
    const node = this.nodes[index];
    if (!node.alive || !node.worker) return;
    node.worker.postMessage(message, transfer);
  }

  /** Every other appliance drops its connections to `index`. */
  private dropPeer(index: number, reason: string): void {
    for (const other of this.nodes)
      if (other.index !== index) this.post(other.index, { t: 'drop', peer: index, reason });
  }

  private fromWorker(index: number, message: WorkerToPage): void {
    const node = this.nodes[index];
    if (!node.alive) return; // a terminated worker's last messages
    switch (message.t) {
      case 'dial':
        return this.dialed(index, message.conn, message.to);
      case 'flights':
        return this.flown(index, message.sent);
      case 'cframe':
        return this.clients.get(message.conn)?.listener?.frame(message.text);
      case 'cclose': {
        const client = this.clients.get(message.conn);
        this.clients.delete(message.conn);
        return client?.listener?.closed(message.reason || `closed (${message.code})`);
      }
      case 'console':
      case 'restored': {
        const id = message.t === 'console' ? message.id : -index - 1;
        const resolve = this.consoles.get(id);
        this.consoles.delete(id);
        return resolve?.(message.t === 'console' ? message.result : message);
      }
      case 'log':
        this.log.push(`node ${index + 1}: ${message.line}`);
        if (this.log.length > 200) this.log.splice(0, this.log.length - 200);
        return;
      default:
        return this.lifeOf(node, message);
    }
  }

  /** A worker's news about its appliance's life: ready, joining, joined, failed, its status. */
  private lifeOf(node: TabNode, message: WorkerToPage): void {
    switch (message.t) {
      case 'ready':
        node.ready = true;
        node.recoveredMs = message.recoveredMs;
        this.onChange?.();
        break;
      case 'progress':
        node.progress = message.progress;
        this.onStatus?.();
        break;
      case 'joined': {
        const added = this.saved.added?.[node.index - this.saved.founders.length];
        if (added) {
          added.joined = true;
          TabPool.save(this.saved);
        }
        break;
      }
      case 'failed':
        node.failure = message.message;
        this.log.push(`node ${node.index + 1}: ${message.message}`);
        this.onChange?.();
        break;
      case 'status':
        node.status = message.status;
        if (node.index === 0 && message.status.bootstrapped && !this.saved.bootstrapped) {
          this.saved.bootstrapped = true;
          TabPool.save(this.saved);
        }
        this.onStatus?.();
        break;
    }
  }

  /** A worker dials an address: refused if nothing alive is there or the cable is cut; else
   * one port of a new MessageChannel each, and the frames then go worker to worker. */
  private dialed(index: number, conn: number, to: string): void {
    const target = this.nodes.find((candidate) => candidate.address === to);
    if (!target || !target.alive || this.isCut(index, target.index)) {
      const message = `nothing reachable listens at ${to}`;
      this.post(index, { t: 'dialed', conn, ok: false, code: CODE.CANNOT_P2P_CONNECT, message });
      return;
    }
    const channel = new MessageChannel();
    this.post(target.index, { t: 'accept', port: channel.port2, peer: index }, [channel.port2]);
    this.post(index, { t: 'dialed', conn, ok: true, port: channel.port1, peer: target.index }, [
      channel.port1,
    ]);
  }

  /** The frames a worker sent since its last report: the picture's dots. */
  private flown(index: number, sent: number[]): void {
    const at = performance.now();
    for (let i = 0; i < sent.length; i += 2) {
      this.framesRelayed++;
      this.flights.push({ from: index, to: sent[i], bytes: sent[i + 1], at });
    }
    if (this.flights.length > FLIGHTS_MAX)
      this.flights.splice(0, this.flights.length - FLIGHTS_MAX);
  }
}

export interface ConsoleAnswer {
  readonly code: number;
  readonly text: string;
  readonly data?: unknown;
}
