// `hsmpool node`: runs one appliance as a process: file storage in its data directory, a
// WebSocket server on its port (peers, clients, remote console), a 10 ms tick clock.
// SIGINT/SIGTERM stop it cleanly: the clock stops, pending log writes finish, links close.

import { Appliance, TICK_MS } from '../appliance/appliance.ts';
import { deriveSyncPointKey } from '../core/keys.ts';
import { newCore } from '../node/core-file.ts';
import { Random } from '../protocol/random.ts';
import { FileStorage } from '../storage/file.ts';
import { startNodeServer } from '../transport/ws-node.ts';
import { SessionServer, applianceBackend } from '../appliance/sessions.ts';
import { Service } from '../service/service.ts';
import { runBootstrap } from './bootstrap.ts';
import { CliError, EXIT } from './exit-codes.ts';
import { configPath, lockDirectory, newId, newSvmk, readConfig, readSvmk, writeNodeDirectory, type NodeConfig } from './config.ts';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { runCommand } from '../console/commands.ts';
import { randomBytes } from 'node:crypto';

export interface NodeCommandOptions {
  readonly data: string;
  readonly listen?: string;
  readonly domain?: string;
  readonly peers: readonly string[];
  readonly json: boolean;
  readonly groupCommit: boolean;
  /** The local console: commands from this process's standard input. */
  readonly console?: boolean;
  /** Live-sync a new directory from this member: ID@HOST:PORT (host/appliance/live-sync-cli.node.ts). */
  readonly join?: string;
  readonly svmkFile?: string;
}

export function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const port = Number(address.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(EXIT.USAGE, `not a HOST:PORT address: ${address}`);
  return { host: address.slice(0, at), port };
}

/** A data directory that does not exist yet becomes the first node of a new pool. */
function initialize(options: NodeCommandOptions): NodeConfig {
  if (existsSync(configPath(options.data))) return readConfig(options.data);
  if (!options.domain) throw new CliError(EXIT.USAGE, `${options.data} is not a node directory: give --domain NAME to create the first node of a pool`);
  if (options.peers.length > 0) throw new CliError(EXIT.USAGE, 'a new node joins a running pool by live-sync (--join ID@HOST:PORT --svmk-file FILE)');
  const listen = options.listen ?? '127.0.0.1:7001';
  const id = newId();
  const config: NodeConfig = { version: 1, id, domain: options.domain, poolId: newId(), listen, founders: [{ id, address: listen }] };
  writeNodeDirectory(options.data, config, newSvmk());
  return config;
}

/** The local console on this node's terminal: the console command set, as 'local'. */
function localConsole(appliance: Appliance, json: boolean, quit: () => void): void {
  const prompt = createInterface({ input: process.stdin, output: process.stdout, prompt: 'local> ', terminal: Boolean(process.stdin.isTTY) });
  prompt.prompt();
  prompt.on('line', (line) => {
    if (line.trim() === 'quit') return quit();
    void runCommand(appliance, 'local', line).then((result) => {
      console.log(json ? JSON.stringify({ event: 'console', code: result.code, data: result.data }) : result.text);
      prompt.prompt();
    });
  });
}

export async function runNode(options: NodeCommandOptions): Promise<number> {
  if (options.join !== undefined && !existsSync(configPath(options.data))) {
    const { joinNewNode } = await import('./live-sync-join.ts');
    await joinNewNode(options);
    return runNode({ ...options, join: undefined });
  }
  const config = initialize(options);
  if (options.domain && options.domain !== config.domain) {
    throw new CliError(EXIT.DATA, `${options.data} belongs to domain ${JSON.stringify(config.domain)}, not ${JSON.stringify(options.domain)} (domain names are case-sensitive)`);
  }
  const listen = splitAddress(options.listen ?? config.listen);
  const release = lockDirectory(options.data);
  const say = (event: string, fields: Record<string, unknown> = {}): void => {
    if (options.json) console.log(JSON.stringify({ event, node: config.id, ...fields }));
    else console.log(`[${config.id}] ${event}${Object.keys(fields).length ? ' ' + Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ') : ''}`);
  };
  try {
    const svmk = readSvmk(options.data);
    const storage = await FileStorage.open(options.data);
    const core = newCore();
    core.setKey(deriveSyncPointKey(svmk));
    let sessions: SessionServer | undefined;
    const server = await startNodeServer({
      host: listen.host, port: listen.port, nodeId: config.id, svmk,
      onClientConnection: (path, connection) => {
        if (sessions) sessions.attach(path, connection);
        else connection.close(1013, 'starting');
      },
    });
    const appliance = await Appliance.open({
      id: config.id, address: server.address, domain: config.domain, poolId: BigInt(`0x${config.poolId}`), founders: config.founders,
      storage, core, random: new Random(randomBytes(4).readUInt32LE(0)), transport: server.peers, groupCommit: options.groupCommit,
      log: (line) => say('log', { line }),
    });
    for (const peer of options.peers) splitAddress(peer);
    const secureRandom = (length: number): Uint8Array => new Uint8Array(randomBytes(length));
    const service = new Service(applianceBackend(appliance, svmk, secureRandom, Date.now));
    sessions = new SessionServer(appliance, service);
    const clock = setInterval(() => appliance.tick(), TICK_MS);
    const bootstrap = runBootstrap(options.data, appliance, say);
    const info = appliance.info();
    say('ready', { address: server.address, domain: config.domain, sp: info.syncPoint.hex, spvv: info.syncPoint.spvvHex, records: info.syncPoint.count, pending: info.pending.length });
    const code = await new Promise<number>((resolve) => {
      const stop = (signal: string): void => {
        say('stopping', { signal });
        resolve(EXIT.OK);
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      if (options.console) localConsole(appliance, options.json, () => stop('console quit'));
    });
    bootstrap.cancel();
    clearInterval(clock);
    await service.settled();
    await appliance.close();
    await server.close();
    say('stopped');
    return code;
  } finally {
    release();
  }
}
