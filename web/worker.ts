// One appliance in a Web Worker: the real NodeHost (recovery, runtime, replication, live-sync
// donor), the real Service and its session server, IndexedDB storage and peer links whose
// sockets the page relays. `worker.terminate()` in the page is this appliance's kill -9.

import { TICK_MS } from '../host/appliance/appliance.ts';
import { liveSyncJoin, type Joined } from '../host/appliance/live-sync.ts';
import { NodeHost } from '../host/appliance/node-host.ts';
import { SessionServer, applianceBackend } from '../host/server/sessions.ts';
import { runCommand } from '../host/server/console-commands.ts';
import { CODE, HsmError, describe } from '../host/core/codes.ts';
import { Core } from '../host/core/core.ts';
import { deriveSyncPointKey } from '../host/core/keys.ts';
import { Random } from '../host/protocol/random.ts';
import type { NodeId } from '../host/protocol/types.ts';
import { secureRandomBytes } from '../host/wire/random.ts';
import { Service } from '../host/service/service.ts';
import { bootstrapPool } from '../host/service/users.ts';
import { IndexedDbStorage } from '../host/storage/indexeddb.ts';
import { PeerLinkTransport } from '../host/transport/peer-link.ts';
import type { ClientConnection, FramedSocket } from '../host/transport/transport.ts';
import type { NodeConfig, NodeStatus, PageToWorker, WorkerToPage } from './messages.ts';
import { toHex64 } from '../host/wire/bytes.ts';

const scope = globalThis as unknown as {
  postMessage(message: WorkerToPage, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<PageToWorker>) => void) | null;
};
const post = (message: WorkerToPage, transfer?: Transferable[]): void =>
  scope.postMessage(message, transfer);

/** Closing code of a connection cut by a pulled cable or a dead process. */
const ABNORMAL = 1006;
/** How often the worker reports its state to the dashboard. */
const STATUS_MS = 100;
/** Bootstrap write retry while the pool is not writable yet. */
const BOOTSTRAP_RETRY_MS = 500;

/** Frames a peer connection carries: a sealed frame, or the other end's close. */
type PortMessage = Uint8Array | { close: number; reason: string };

/** One end of a peer connection: a MessagePort straight to the other appliance's worker. */
class PortSocket implements FramedSocket {
  closed = false;
  private frameHandler: ((frame: Uint8Array) => void) | undefined;
  private closeHandler: ((code: number, reason: string) => void) | undefined;
  constructor(
    private readonly port: MessagePort,
    readonly peer: number,
  ) {
    sockets.add(this);
    port.onmessage = (event: MessageEvent<PortMessage>) => {
      if (!holding) return this.receive(event.data);
      if (held.length >= HELD_FRAMES_MAX) held.shift();
      held.push(() => this.receive(event.data));
    };
  }
  private receive(message: PortMessage): void {
    if (message instanceof Uint8Array) {
      if (!this.closed) this.frameHandler?.(message);
    } else this.shut(message.close, message.reason);
  }
  send(frame: Uint8Array, onWritten?: () => void): void {
    if (this.closed) return;
    const copy = frame.slice();
    this.port.postMessage(copy, [copy.buffer]);
    if (flights.length < FLIGHTS_REPORTED_MAX) flights.push(this.peer, copy.byteLength);
    if (onWritten) queueMicrotask(onWritten);
  }
  bufferedBytes(): number {
    return 0;
  }
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.port.postMessage({ close: code, reason } satisfies PortMessage);
    this.shut(code, reason);
  }
  /** Ends this side: no more frames either way; the transport hears of it once. */
  shut(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    sockets.delete(this);
    this.port.close();
    queueMicrotask(() => this.closeHandler?.(code, reason));
  }
  onFrame(handler: (frame: Uint8Array) => void): void {
    this.frameHandler = handler;
  }
  onClose(handler: (code: number, reason: string) => void): void {
    this.closeHandler = handler;
  }
}

/** A client or console session opened by the page. */
class PageClientConnection implements ClientConnection {
  readonly remoteAddress = 'page';
  private closed = false;
  private messageHandler: ((bytes: Uint8Array) => void) | undefined;
  private closeHandler: ((code: number, reason: string) => void) | undefined;
  constructor(
    readonly conn: number,
    readonly path: '/client' | '/console',
  ) {}
  send(bytes: Uint8Array): void {
    if (!this.closed) post({ t: 'cframe', conn: this.conn, text: decoder.decode(bytes) });
  }
  bufferedBytes(): number {
    return 0;
  }
  onMessage(handler: (bytes: Uint8Array) => void): void {
    this.messageHandler = handler;
  }
  onClose(handler: (code: number, reason: string) => void): void {
    this.closeHandler = handler;
  }
  close(code = 1000, reason = ''): void {
    if (this.closed) return;
    post({ t: 'cclose', conn: this.conn, code, reason });
    this.shut(code, reason);
  }
  shut(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clients.delete(this.conn);
    this.closeHandler?.(code, reason);
  }
  deliver(text: string): void {
    if (!this.closed) this.messageHandler?.(encoder.encode(text));
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const sockets = new Set<PortSocket>();
/** Frames sent since the last report, as [peer, bytes] pairs. */
let flights: number[] = [];
/** At most this many frames per report (a picture does not need more). */
const FLIGHTS_REPORTED_MAX = 1000;
/** How often the frames sent are reported to the page. */
const FLIGHTS_MS = 50;
/** While paused: received frames wait here. */
let holding = false;
let held: (() => void)[] = [];
/** Frames held for a paused node, at most (older ones are dropped, as a full socket buffer would). */
const HELD_FRAMES_MAX = 4096;
const dials = new Map<number, { resolve: (s: FramedSocket) => void; reject: (e: Error) => void }>();
const clients = new Map<number, PageClientConnection>();
/** Connections this worker dials: odd numbers above its index's range (the page's are even). */
let nextConn = 1;
let config: NodeConfig | undefined;
let node: NodeHost | undefined;
let sessions: SessionServer | undefined;
let transport: PeerLinkTransport | undefined;
let clock: ReturnType<typeof setInterval> | undefined;
let bootstrapped = false;
/** Messages that arrived before the node was up (accepts, frames). */
const early: PageToWorker[] = [];

function dial(address: string): Promise<FramedSocket> {
  const conn = (config!.index << 20) + nextConn++;
  return new Promise((resolve, reject) => {
    dials.set(conn, { resolve, reject });
    post({ t: 'dial', conn, to: address });
  });
}

function setClock(ticksPerSecond: number, paused: boolean): void {
  if (clock) clearInterval(clock);
  clock = undefined;
  if (paused || !node) return;
  const every = Math.max(TICK_MS, Math.round(1000 / Math.max(1, ticksPerSecond)));
  const perInterval = Math.max(1, Math.round((ticksPerSecond * every) / 1000));
  clock = setInterval(() => {
    for (let i = 0; i < perInterval; i++) node!.tick();
  }, every);
}

function status(): NodeStatus {
  const appliance = node!.appliance;
  const info = appliance.info();
  return {
    index: config!.index,
    info,
    events: appliance.events.slice(-12),
    records: info.syncPoint.count,
    bootstrapped,
  };
}

async function start(options: NodeConfig): Promise<void> {
  config = options;
  const began = performance.now();
  const module = await WebAssembly.compileStreaming(fetch(options.wasmUrl));
  const spKey = deriveSyncPointKey(options.svmk);
  const newCore = (): Core => {
    const core = Core.fromModule(module);
    core.setKey(spKey);
    return core;
  };
  const storage = await IndexedDbStorage.open(options.database);
  const seed = new DataView(secureRandomBytes(4).buffer).getUint32(0);
  let joined: Joined | undefined;
  let poolId = BigInt(`0x${options.poolId}`);
  let founders = options.founders;
  if (options.join) {
    // A new node: the pool image by live-sync from a member, on the transport it keeps.
    transport = new PeerLinkTransport({ nodeId: options.id as NodeId, svmk: options.svmk, dial });
    joined = await liveSyncJoin({
      id: options.id as NodeId,
      address: options.address,
      domain: options.domain,
      svmk: options.svmk,
      donor: { address: options.join.donor },
      transport,
      dial,
      core: newCore(),
      storage,
      randomBytes: secureRandomBytes,
      onProgress: (progress) => post({ t: 'progress', index: options.index, progress }),
    });
    poolId = joined.poolIdValue;
    founders = joined.membership.founders;
    post({ t: 'joined', index: options.index, poolId: toHex64(poolId) });
  }
  const joinTransport = transport;
  node = await NodeHost.open(
    {
      address: options.address,
      svmk: options.svmk,
      storage,
      newCore,
      random: new Random(seed),
      randomBytes: secureRandomBytes,
      newId: () => new Random(seed ^ 0x5bd1e995).id64(),
      transportFor: (id: NodeId) => {
        if (joinTransport && id === joinTransport.nodeId) return joinTransport;
        transport = new PeerLinkTransport({ nodeId: id, svmk: options.svmk, dial });
        return transport;
      },
      dial,
      groupCommit: true,
      log: (line) => post({ t: 'log', line }),
    },
    {
      id: options.id as NodeId,
      domain: options.domain,
      poolId,
      founders,
    },
    joined,
  );
  const service = new Service(applianceBackend(node, options.svmk, secureRandomBytes, Date.now));
  sessions = new SessionServer(node, service);
  setClock(options.ticksPerSecond, false);
  post({
    t: 'ready',
    index: options.index,
    id: options.id,
    recoveredMs: performance.now() - began,
  });
  for (const message of early.splice(0)) handle(message);
  setInterval(() => post({ t: 'status', status: status() }), STATUS_MS);
  setInterval(() => {
    if (flights.length === 0) return;
    post({ t: 'flights', sent: flights });
    flights = [];
  }, FLIGHTS_MS);
  if (options.bootstrapPassword !== undefined) void bootstrap(options.bootstrapPassword, newCore);
  else bootstrapped = true;
}

/** Node 1 of a new pool writes the administrator and the policy, as `hsmpool up` has it do. */
async function bootstrap(password: string, newCore: () => Core): Promise<void> {
  const { write } = await bootstrapPool({ core: newCore(), password });
  const { kind: _kind, ...input } = write;
  for (;;) {
    const reply = await node!.appliance.write(input);
    // 5022: the records exist (an earlier attempt committed before a reload).
    if (reply.code === 0 || reply.code === CODE.OBJ_ALREADY_EXISTS) break;
    await new Promise((resolve) => setTimeout(resolve, BOOTSTRAP_RETRY_MS));
  }
  bootstrapped = true;
}

function handle(message: PageToWorker): void {
  if (message.t === 'start') {
    start(message.config).catch((error: unknown) =>
      post({
        t: 'failed',
        index: message.config.index,
        message: error instanceof Error ? error.message : String(error),
        code: error instanceof HsmError ? error.code : undefined,
      }),
    );
    return;
  }
  // A joining node has its transport before its appliance: it accepts connections already.
  const earlyOk =
    message.t === 'dialed' ||
    message.t === 'drop' ||
    message.t === 'hold' ||
    (message.t === 'accept' && transport !== undefined);
  if (!node && !earlyOk) {
    early.push(message);
    return;
  }
  switch (message.t) {
    case 'accept':
      transport!.accept(new PortSocket(message.port, message.peer));
      break;
    case 'dialed': {
      const waiting = dials.get(message.conn);
      dials.delete(message.conn);
      if (!waiting) {
        message.port?.close();
        break;
      }
      if (message.ok && message.port && message.peer !== undefined) {
        waiting.resolve(new PortSocket(message.port, message.peer));
      } else {
        waiting.reject(
          new HsmError(message.code ?? CODE.CANNOT_P2P_CONNECT, message.message ?? 'unreachable'),
        );
      }
      break;
    }
    case 'drop':
      for (const socket of [...sockets])
        if (socket.peer === message.peer) socket.close(ABNORMAL, message.reason);
      break;
    case 'hold':
      holding = message.on;
      if (!holding) for (const deliver of held.splice(0)) deliver();
      break;
    case 'copen': {
      const connection = new PageClientConnection(message.conn, message.path);
      clients.set(message.conn, connection);
      sessions!.attach(message.path, connection);
      break;
    }
    case 'cframe':
      clients.get(message.conn)?.deliver(message.text);
      break;
    case 'cclose':
      clients.get(message.conn)?.shut(1000, 'closed by the page');
      break;
    case 'console': {
      const { id, line, kind } = message;
      void runCommand(node!.appliance, kind, line, {
        liveSync: (target) => node!.liveSync(target),
      })
        .then((result) => post({ t: 'console', id, result }))
        .catch((error: unknown) => {
          const code = error instanceof HsmError ? error.code : CODE.OPERATION_FAILED;
          post({
            t: 'console',
            id,
            result: { code, text: `${describe(code).name} (${code}): ${String(error)}` },
          });
        });
      break;
    }
    case 'clock':
      setClock(message.ticksPerSecond, message.paused);
      break;
    case 'step':
      for (let i = 0; i < message.ticks; i++) node!.tick();
      break;
  }
}

scope.onmessage = (event) => handle(event.data);
