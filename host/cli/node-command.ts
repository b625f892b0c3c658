// `hsmpool node`: runs one appliance as a process: file storage in its data directory, a
// WebSocket server on its port (peers, clients, remote console), a 10 ms tick clock.
// SIGINT/SIGTERM stop it cleanly: the clock stops, pending log writes finish, links close.

import { EVENTS_KEPT, TICK_MS, type ReplicationEvent } from '../appliance/appliance.ts';
import { openNodeLog, type Level, type NodeLog } from './node-log.ts';
import type { Core } from '../core/core.ts';
import { NodeHost } from '../appliance/node-host.ts';
import type { Joined } from '../appliance/live-sync.ts';
import { dialPeerSocket } from '../appliance/live-sync-dial.node.ts';
import { parseDiscoveryRange } from '../appliance/discovery.ts';
import {
  joiningPath,
  planJoin,
  progressReporter,
  runJoin,
  writeJoining,
  type JoinPlan,
} from './live-sync-join.ts';
import { deriveSyncPointKey } from '../core/keys.ts';
import { newCore } from '../core/load.node.ts';
import { Random } from '../protocol/random.ts';
import { FileStorage } from '../storage/file.node.ts';
import { startNodeServer, type NodeServer, type NodeTls } from '../transport/ws.node.ts';
import { SessionServer, applianceBackend } from '../server/sessions.ts';
import { NodeMetrics } from '../server/metrics.node.ts';
import { AuditLog, auditFields, auditPath } from '../server/audit.node.ts';
import { Service } from '../service/service.ts';
import { NodeCryptoEngine, nodeSha256 } from '../wire/crypto-engine.node.ts';
import { runBootstrap } from './bootstrap.ts';
import { checkDataDirectory } from './startup-check.ts';
import { HsmError } from '../core/codes.ts';
import { CliError, EXIT } from './exit-codes.ts';
import {
  configPath,
  lockDirectory,
  newId,
  newNodeId,
  newSvmk,
  readConfig,
  readNodeTls,
  readSvmk,
  splitAddress,
  writeConfig,
  writeNodeDirectory,
  type NodeConfig,
} from './config.ts';
import { existsSync, unlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { runCommand } from '../server/console-commands.ts';
import { privateUmask, securePermissions } from './permissions.ts';
import { randomBytes, randomFillSync } from 'node:crypto';
import { pooledRandom } from '../wire/random.ts';
import { toHex64 } from '../wire/bytes.ts';
import type { NodeId } from '../protocol/types.ts';

/** Ticks between heartbeats to every peer (1 s at TICK_MS). */
export const HEARTBEAT_TICKS = 100;

export interface NodeCommandOptions {
  readonly data: string;
  readonly listen?: string;
  readonly domain?: string;
  readonly json: boolean;
  readonly groupCommit: boolean;
  /** The local console: commands from this process's standard input. */
  readonly console?: boolean;
  /** Live-sync a new directory from a member: HOST:PORT or ID@HOST:PORT (live-sync-join.ts). */
  readonly join?: string;
  readonly svmkFile?: string;
  /** Auto-discovery: HOST:PORT-PORT[,...] (discovery.ts). */
  readonly discover?: string;
  /** Log bytes between checkpoints (default CHECKPOINT_LOG_BYTES; fault campaigns take them
   * often). */
  readonly checkpointBytes?: number;
}

/** A data directory that does not exist yet becomes the first node of a new pool. */
function initialize(options: NodeCommandOptions): NodeConfig {
  if (existsSync(configPath(options.data))) return readConfig(options.data);
  if (!options.domain)
    throw new CliError(
      EXIT.USAGE,
      `${options.data} is not a node directory: give --domain NAME to create the first node of a pool`,
    );
  const listen = options.listen ?? '127.0.0.1:7001';
  const id = newNodeId();
  const config: NodeConfig = {
    version: 1,
    id,
    domain: options.domain,
    poolId: newId(),
    listen,
    founders: [{ id, address: listen }],
  };
  writeNodeDirectory(options.data, config, newSvmk());
  return config;
}

/** The local console on this node's terminal: the console command set, as 'local'. */
function localConsole(
  node: NodeHost,
  service: Service,
  json: boolean,
  audit: AuditLog,
  quit: () => void,
): () => void {
  // With --json, standard output carries only JSON lines: the prompt goes to standard error,
  // so no event lands on the prompt's line.
  const prompt = createInterface({
    input: process.stdin,
    output: json ? process.stderr : process.stdout,
    prompt: 'local> ',
    terminal: Boolean(process.stdin.isTTY),
  });
  const onProgress = progressReporter(json, () => {});
  prompt.prompt();
  prompt.on('line', (line) => {
    if (line.trim() === 'quit') return quit();
    void runCommand(node.appliance, 'local', line, {
      liveSync: (target) => node.liveSync(target, onProgress),
      unlockUser: (name) => service.unlockFromConsole(name),
      audit: (n) => audit.tail(n),
    }).then((result) => {
      const fields = auditFields({
        type: 'console',
        code: result.code,
        user: 'local-console',
        from: 'local',
        command: line.trim().slice(0, 256),
      });
      if (fields) audit.append(fields);
      console.log(
        json
          ? JSON.stringify({ event: 'console', code: result.code, data: result.data })
          : result.text,
      );
      prompt.prompt();
    });
  });
  // A stopping node closes its prompt, so an open terminal does not keep the process alive.
  return () => {
    prompt.close();
    process.stdin.pause();
  };
}

function discoveryAddresses(range: string): string[] {
  try {
    return parseDiscoveryRange(range);
  } catch (error) {
    throw new CliError(EXIT.USAGE, `--discover: ${(error as Error).message}`);
  }
}

/** NodeHost.open; a store it refuses (checked in phase 1 already, so only a change made since)
 * is a data error naming the code, not a crash. */
async function openNode(...args: Parameters<typeof NodeHost.open>): Promise<NodeHost> {
  try {
    return await NodeHost.open(...args);
  } catch (error) {
    if (error instanceof HsmError)
      throw new CliError(EXIT.DATA, `${args[0].address}: refused to start: ${error.message}`);
    throw error;
  }
}

type Say = (event: string, fields?: Record<string, unknown>, level?: Level) => void;

/** What this run of the node is: a directory that joins has a plan, one that runs has a config. */
interface Start {
  readonly discovery: string[] | undefined;
  readonly plan: JoinPlan | undefined;
  config: NodeConfig | undefined;
  /** The node's id: it changes when a join takes a new one or a live-sync in place does. */
  id: NodeId;
}

/** Decides between running, founding and joining, refusing a directory left half-joined. */
function startOf(options: NodeCommandOptions): Start {
  const discovery =
    options.discover === undefined ? undefined : discoveryAddresses(options.discover);
  const interrupted = existsSync(joiningPath(options.data));
  // A directory that is not a member yet joins: from --join, or from whatever discovery finds.
  const joining =
    (options.join !== undefined || discovery !== undefined) &&
    (interrupted || !existsSync(configPath(options.data)));
  if (interrupted && !joining) {
    throw new CliError(
      EXIT.DATA,
      `${options.data}: a live-sync into this directory did not finish (${joiningPath(options.data)}); ` +
        'run again with --join HOST:PORT (any member) to take the pool image',
    );
  }
  privateUmask(); // what this node creates is 0600 / 0700
  const plan = joining ? planJoin(options, discovery) : undefined;
  const config = plan ? undefined : initialize(options);
  if (config && options.domain && options.domain !== config.domain) {
    throw new CliError(
      EXIT.DATA,
      `${options.data} belongs to domain ${JSON.stringify(config.domain)}, not ${JSON.stringify(options.domain)} (domain names are case-sensitive)`,
    );
  }
  return { discovery, plan, config, id: plan?.id ?? config!.id };
}

/** Signals are taken from the start: one that arrives while the node starts stops it
 * cleanly once it is up, instead of killing it mid-start (the default action). */
function takeSignals(): (stop: (signal: string) => void) => void {
  let stopNode: ((signal: string) => void) | undefined;
  let signalled: string | undefined;
  const onSignal = (signal: string) => (): void => {
    if (stopNode) stopNode(signal);
    else signalled ??= signal;
  };
  process.once('SIGINT', onSignal('SIGINT'));
  process.once('SIGTERM', onSignal('SIGTERM'));
  return (stop) => {
    stopNode = stop;
    if (signalled) stop(signalled);
  };
}

export async function runNode(options: NodeCommandOptions): Promise<number> {
  const start = startOf(options);
  const { plan } = start;
  const listen = splitAddress(plan?.listen ?? options.listen ?? start.config!.listen);
  const release = lockDirectory(options.data);
  const nodeLog = openNodeLog({ data: options.data, json: options.json, node: () => start.id });
  const say: Say = (event, fields = {}, level) => nodeLog.say(event, fields, level);
  const onStop = takeSignals();
  let server: NodeServer | undefined;
  let storage: FileStorage | undefined;
  try {
    const svmk = plan?.svmk ?? readSvmk(options.data);
    const keyedCore = keyedCores(svmk);
    // The directory holds the SVMK and every verifier: private, checked before anything is read.
    if (existsSync(options.data))
      for (const warning of securePermissions(options.data)) say('warning', { message: warning });
    // Phase 1: read and check every file and recover the store, writing nothing (a joining
    // directory is overwritten whole by the pool image instead). Phase 2, below: open on that
    // store, repair (cut a torn tail), run.
    const checked = plan
      ? undefined
      : await checkDataDirectory(options.data, start.config!, keyedCore());
    const history = await nodeLog.openFiles();
    storage = await FileStorage.open(options.data);
    let sessions: SessionServer | undefined;
    const metrics = new NodeMetrics();
    const audit = new AuditLog(auditPath(options.data));
    // Read once: the server and every peer dial use the same pool certificate.
    const tls = readNodeTls(options.data);
    server = await startNodeServer({
      host: listen.host,
      port: listen.port,
      nodeId: start.id,
      svmk,
      tls,
      onHttpRequest: (request, response) => metrics.serve(request, response),
      onClientConnection: (path, connection) => {
        if (sessions) sessions.attach(path, connection);
        else connection.close(1013, plan ? 'joining the pool' : 'starting');
      },
    });
    const parts = {
      options,
      start,
      say,
      nodeLog,
      svmk,
      keyedCore,
      server,
      storage,
      metrics,
      audit,
      tls,
    };
    const joined = plan ? await joinPool(parts, plan) : undefined;
    // The store phase 1 recovered: the node opens on it instead of recovering again.
    const node = await openNode(
      hostOptions(parts),
      identityOf(start),
      joined,
      checked && { core: checked.core, recovered: checked.store },
    );
    const service = serviceOf(node, svmk);
    sessions = new SessionServer(node, service, {}, [metrics.request, audit.request], {
      audit: (n) => audit.tail(n),
    });
    metrics.attach(node, () => service.sessionCount);
    keepEventHistory(node, history);
    return await serve(parts, node, service, onStop);
  } finally {
    await server?.close({ graceMs: 0 });
    await storage?.close?.();
    await nodeLog.close();
    release();
  }
}

/** The client-facing service over the opened node (node:crypto for its key operations). */
function serviceOf(node: NodeHost, svmk: Uint8Array): Service {
  const secureRandom = pooledRandom((bytes) => randomFillSync(bytes));
  return new Service(applianceBackend(node, svmk, secureRandom, Date.now), {
    engine: new NodeCryptoEngine(),
  });
}

/** The event history of earlier runs goes first, for `debug` and the support bundle. */
function keepEventHistory(node: NodeHost, history: readonly ReplicationEvent[]): void {
  node.appliance.events.unshift(...history);
  node.appliance.events.splice(0, Math.max(0, node.appliance.events.length - EVENTS_KEPT));
}

/** New cores keyed for this pool's Sync-Point. */
function keyedCores(svmk: Uint8Array): () => Core {
  const spKey = deriveSyncPointKey(svmk);
  return () => {
    const core = newCore();
    core.setKey(spKey);
    return core;
  };
}

/** What a node being started is made of, once its port listens. */
interface NodeParts {
  readonly options: NodeCommandOptions;
  readonly start: Start;
  readonly say: Say;
  readonly nodeLog: NodeLog;
  readonly svmk: Uint8Array;
  readonly keyedCore: () => Core;
  readonly server: NodeServer;
  readonly storage: FileStorage;
  readonly metrics: NodeMetrics;
  readonly audit: AuditLog;
  /** The pool certificate and key when the node serves TLS. */
  readonly tls: NodeTls | undefined;
}

/** Takes the pool image by live-sync (runJoin), reporting its start, progress and end. */
async function joinPool(parts: NodeParts, plan: JoinPlan): Promise<Joined> {
  const { options, server, say, start } = parts;
  const donor = plan.donor;
  say('live-sync', {
    donor: donor ? (donor.id ? `${donor.id}@${donor.address}` : donor.address) : 'discovery',
    address: server.address,
  });
  const onProgress = progressReporter(options.json, say);
  let joined: Joined;
  try {
    ({ joined, config: start.config } = await runJoin({
      plan,
      data: options.data,
      server,
      storage: parts.storage,
      newCore: parts.keyedCore,
      onProgress,
      say,
    }));
  } catch (error) {
    if (!options.json && process.stdout.isTTY) process.stdout.write('\n');
    throw error;
  }
  start.id = start.config.id;
  say('joined', {
    sp: joined.syncPoint.hex,
    records: joined.records,
    bytes: joined.bytes,
    transactions: joined.commits,
  });
  return joined;
}

function identityOf(start: Start): Parameters<typeof NodeHost.open>[1] {
  const config = start.config!;
  return {
    id: start.id,
    domain: config.domain,
    poolId: BigInt(`0x${config.poolId}`),
    founders: config.founders,
  };
}

/** The NodeHost of this process: file storage, the node's port, metrics, the node log. */
function hostOptions(parts: NodeParts): Parameters<typeof NodeHost.open>[0] {
  const { options, start, server, metrics, nodeLog, audit, say } = parts;
  const dataDir = options.data;
  return {
    address: server.address,
    svmk: parts.svmk,
    storage: parts.storage,
    newCore: parts.keyedCore,
    random: new Random(randomBytes(4).readUInt32LE(0)),
    randomBytes: (length) => new Uint8Array(randomBytes(length)),
    newId: newNodeId,
    transportFor: (nodeId) =>
      nodeId === server.peers.nodeId ? server.peers : server.renamePeers(nodeId),
    dial: (address) => dialPeerSocket(address, undefined, parts.tls?.certPem),
    groupCommit: options.groupCommit,
    checkpointBytes: options.checkpointBytes,
    sha256: nodeSha256,
    // Idle peers heartbeat once a second: SPs and liveness stay fresh (hsmpool status).
    timers: { heartbeatTicks: HEARTBEAT_TICKS },
    observer: {
      ...metrics.observer,
      written: (code, ms) => {
        metrics.observer.written?.(code, ms);
        nodeLog.answered(code);
      },
      event: (event) => {
        metrics.observer.event?.(event);
        nodeLog.replication(event);
        if (event.event === 'node-down')
          audit.append({
            actor: 'pool',
            from: server.address,
            action: 'node-down',
            code: 0,
            detail: event.detail,
          });
      },
    },
    log: (line) => say('log', { line }, /failed|refused|diverged/.test(line) ? 'warn' : 'info'),
    discovery: start.discovery,
    // A crash while the image overwrites storage leaves joining.json: the next start asks for --join.
    beforeOverwrite: (identity) =>
      writeJoining(dataDir, { id: identity.id, listen: start.config!.listen }),
    onIdentity: (identity) => {
      start.config = {
        ...start.config!,
        id: identity.id,
        poolId: toHex64(identity.poolId),
        founders: identity.founders,
      };
      writeConfig(dataDir, start.config);
      unlinkSync(joiningPath(dataDir));
      start.id = identity.id;
    },
  };
}

/** Runs the node until a signal or the local console's quit, then stops it in order. */
async function serve(
  parts: NodeParts,
  node: NodeHost,
  service: Service,
  onStop: (stop: (signal: string) => void) => void,
): Promise<number> {
  const { options, say, server } = parts;
  const clock = setInterval(() => node.tick(), TICK_MS);
  const peers = watchPeers(node, say);
  const bootstrap = runBootstrap(options.data, node.appliance, say);
  const info = node.appliance.info();
  say('ready', {
    address: server.address,
    domain: parts.start.config!.domain,
    sp: info.syncPoint.hex,
    spvv: info.syncPoint.spvvHex,
    records: info.syncPoint.count,
    pending: info.pending.length,
  });
  let closeConsole = (): void => {};
  const code = await new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      say('stopping', { signal });
      resolve(EXIT.OK);
    };
    onStop(stop);
    if (options.console)
      closeConsole = localConsole(node, service, options.json, parts.audit, () =>
        stop('console quit'),
      );
  });
  closeConsole();
  bootstrap.cancel();
  clearInterval(clock);
  clearInterval(peers);
  await service.settled();
  await node.close();
  await server.close();
  parts.audit.close();
  say('stopped');
  return code;
}

/** A member not heard for this long is logged as lost (heartbeats come every second). */
export const PEER_LOST_MS = 5000;

/** Logs a member lost (not heard for PEER_LOST_MS) and linked again. */
function watchPeers(node: NodeHost, say: Say): NodeJS.Timeout {
  const lost = new Set<string>();
  const timer = setInterval(() => {
    const info = node.appliance.info();
    for (const n of info.nodes) {
      if (n.self || !n.member || !n.peer) continue;
      const silentMs = (info.tick - n.peer.tick) * TICK_MS;
      if (silentMs > PEER_LOST_MS && !lost.has(n.id)) {
        lost.add(n.id);
        say('peer-lost', { peer: n.id, address: n.address }, 'warn');
      } else if (silentMs <= PEER_LOST_MS && lost.delete(n.id))
        say('peer-linked', { peer: n.id, address: n.address });
    }
  }, 1000);
  timer.unref();
  return timer;
}
