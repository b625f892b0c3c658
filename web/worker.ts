// One appliance in a Web Worker: the real NodeHost (recovery, runtime, replication, live-sync
// donor), the real Service and its session server, IndexedDB storage and peer links whose
// connections the page hands over (worker-links.ts). `worker.terminate()` in the page is this
// appliance's kill -9.

import { TICK_MS } from '../host/appliance/appliance.ts';
import { liveSyncJoin, type Joined } from '../host/appliance/live-sync.ts';
import { NodeHost } from '../host/appliance/node-host.ts';
import { restoreBackup } from '../host/backup/restore.ts';
import { SessionServer, applianceBackend } from '../host/server/sessions.ts';
import { runCommand } from '../host/server/console-commands.ts';
import { CODE, HsmError, describe } from '../host/core/codes.ts';
import { Core } from '../host/core/core.ts';
import { deriveSyncPointKey } from '../host/core/keys.ts';
import { toPoolNode } from '../host/log/log-records.ts';
import { Random } from '../host/protocol/random.ts';
import type { NodeId } from '../host/protocol/types.ts';
import { secureRandomBytes } from '../host/wire/random.ts';
import { toNodeId } from '../host/wire/ids.ts';
import { Service } from '../host/service/service.ts';
import { bootstrapPool } from '../host/service/users.ts';
import { IndexedDbStorage } from '../host/storage/indexeddb.ts';
import { PeerLinkTransport } from '../host/transport/peer-link.ts';
import type { FramedSocket } from '../host/transport/transport.ts';
import type { NodeConfig, NodeStatus, PageToWorker } from './messages.ts';
import { runLoad, type LoadAnswer, type LoadRequest } from './load-worker.ts';
import { toHex64 } from '../host/wire/bytes.ts';
import {
  PageClientConnection,
  PortSocket,
  clients,
  hold,
  post,
  sockets,
  takeFlights,
} from './worker-links.ts';

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<PageToWorker | LoadRequest>) => void) | null;
  /** A writers' worker answers once (web/load.ts). */
  postMessage(message: LoadAnswer | { error: string }): void;
};

/** Closing code of a connection cut by a pulled cable or a dead process. */
const ABNORMAL = 1006;
/** How often the worker reports its state to the dashboard (its tables are rebuilt four times
 * a second; with 16 workers, reports every 100 ms cost the page's thread three times more). */
const STATUS_MS = 250;
/** How often the frames sent are reported to the page (the picture's dots; a dot flies 350 ms). */
const FLIGHTS_MS = 100;
/** Bootstrap write retry while the pool is not writable yet. */
const BOOTSTRAP_RETRY_MS = 500;

const dials = new Map<number, { resolve: (s: FramedSocket) => void; reject: (e: Error) => void }>();
/** Connections this worker dials: numbered in its index's range (the page's are above 2^30). */
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

const errorText = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/** Offline restore before recovery, as `hsmpool restore` does; a refusal changes nothing. */
async function restore(options: NodeConfig, storage: IndexedDbStorage, newCore: () => Core) {
  const index = options.index;
  try {
    const result = await restoreBackup(
      newCore(),
      newCore(),
      storage,
      options.restore!,
      options.svmk,
      {
        poolId: BigInt(`0x${options.poolId}`),
        domain: options.domain,
        founders: options.founders.map(toPoolNode),
      },
    );
    const sp = result.syncPoint;
    const text = `restored: ${sp.count} records, SP ${sp.hex} SPVV ${sp.spvvHex}`;
    post({ t: 'restored', index, code: 0, text });
  } catch (error) {
    const code = error instanceof HsmError ? error.code : CODE.OPERATION_FAILED;
    const text = `restore refused, nothing changed: ${describe(code).name} (${code}): ${errorText(error)}`;
    post({ t: 'restored', index, code, text });
  }
}

/** A new node: the pool image by live-sync from a member, on the transport it keeps. */
async function join(options: NodeConfig, storage: IndexedDbStorage, core: Core): Promise<Joined> {
  transport = new PeerLinkTransport({ nodeId: options.id, svmk: options.svmk, dial });
  const joined = await liveSyncJoin({
    id: options.id,
    address: options.address,
    domain: options.domain,
    svmk: options.svmk,
    donor: { address: options.join!.donor },
    transport,
    dial,
    core,
    storage,
    randomBytes: secureRandomBytes,
    onProgress: (progress) => post({ t: 'progress', index: options.index, progress }),
  });
  post({ t: 'joined', index: options.index, poolId: toHex64(joined.poolIdValue) });
  return joined;
}

/** Recovery from storage (or the joined image), as a node process opens. */
function open(
  options: NodeConfig,
  storage: IndexedDbStorage,
  newCore: () => Core,
  joined: Joined | undefined,
): Promise<NodeHost> {
  const seed = new DataView(secureRandomBytes(4).buffer).getUint32(0);
  const joinTransport = transport;
  return NodeHost.open(
    {
      address: options.address,
      svmk: options.svmk,
      storage,
      newCore,
      random: new Random(seed),
      randomBytes: secureRandomBytes,
      newId: () => toNodeId(new Random(seed ^ 0x5bd1e995).id64()),
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
      id: options.id,
      domain: options.domain,
      poolId: joined?.poolIdValue ?? BigInt(`0x${options.poolId}`),
      founders: joined?.membership.founders ?? options.founders,
    },
    joined,
  );
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
  if (options.restore) await restore(options, storage, newCore);
  const joined = options.join ? await join(options, storage, newCore()) : undefined;
  node = await open(options, storage, newCore, joined);
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
    const sent = takeFlights();
    if (sent.length > 0) post({ t: 'flights', sent });
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

/** The page handed over a peer connection (accepted or dialed), or cut some. */
function peerMessage(message: PageToWorker & { t: 'accept' | 'dialed' | 'drop' }): void {
  if (message.t === 'accept') {
    transport!.accept(new PortSocket(message.port, message.peer));
  } else if (message.t === 'drop') {
    for (const socket of [...sockets])
      if (socket.peer === message.peer) socket.close(ABNORMAL, message.reason);
  } else {
    const waiting = dials.get(message.conn);
    dials.delete(message.conn);
    if (!waiting) message.port?.close();
    else if (message.ok && message.port && message.peer !== undefined)
      waiting.resolve(new PortSocket(message.port, message.peer));
    else
      waiting.reject(
        new HsmError(message.code ?? CODE.CANNOT_P2P_CONNECT, message.message ?? 'unreachable'),
      );
  }
}

/** A console command from the page, run as this node's remote (or local) console runs it. */
function consoleCommand(id: number, line: string, kind: 'local' | 'remote'): void {
  const context = {
    liveSync: (target?: string) => node!.liveSync(target),
    backup: { svmk: config!.svmk },
  };
  void runCommand(node!.appliance, kind, line, context)
    .then((result) => post({ t: 'console', id, result }))
    .catch((error: unknown) => {
      const code = error instanceof HsmError ? error.code : CODE.OPERATION_FAILED;
      const text = `${describe(code).name} (${code}): ${String(error)}`;
      post({ t: 'console', id, result: { code, text } });
    });
}

function handle(message: PageToWorker): void {
  if (message.t === 'start') {
    const index = message.config.index;
    start(message.config).catch((error: unknown) =>
      post({
        t: 'failed',
        index,
        message: errorText(error),
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
    case 'dialed':
    case 'drop':
      return peerMessage(message);
    case 'hold':
      return hold(message.on);
    case 'copen':
      return sessions!.attach(
        message.path,
        PageClientConnection.viaPage(message.conn, message.path),
      );
    case 'cport':
      return sessions!.attach('/client', PageClientConnection.viaPort(message.port));
    case 'cframe':
      return clients.get(message.conn)?.deliver(message.text);
    case 'cclose':
      return clients.get(message.conn)?.shut(1000, 'closed by the page');
    case 'console':
      return consoleCommand(message.id, message.line, message.kind);
    case 'clock':
      return setClock(message.ticksPerSecond, message.paused);
    case 'step':
      for (let i = 0; i < message.ticks; i++) node!.tick();
  }
}

// worker.js also runs bench:web's writers (load-worker.ts), when its first word is `load`.
scope.onmessage = (event: MessageEvent<PageToWorker | LoadRequest>) => {
  const message = event.data;
  if (message.t !== 'load') return handle(message);
  runLoad(message).then(
    (answer) => scope.postMessage(answer),
    (error: unknown) => scope.postMessage({ error: errorText(error) }),
  );
};
