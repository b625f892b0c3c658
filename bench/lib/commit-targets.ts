// The two systems bench:commit drives with the same loops: a 3-node hsmpool of real processes
// and, when it is installed, the 3-node MariaDB Galera anchor (../shared/anchors/galera). A
// writer performs one durable replicated write (hsmpool: generate an AES key; Galera: an
// autocommit INSERT of a 32-byte name and 64 random bytes, the anchor's workload).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { HsmClient } from '../../host/client/package.node.ts';
import { nodeConnections } from '../../host/client/ws-client.node.ts';
import { NODE_V8_FLAGS, nodeProcessEnv } from '../../host/cli/node-flags.ts';
import { PROFILE_ARGS } from './profile.ts';
import { createPool, nodeDir } from '../../host/cli/up-command.ts';
import { freePort } from '../../host/testing/free-port.node.ts';

export type Writer = () => Promise<void>;

export interface Target {
  readonly name: string;
  /** `count` writers; 'first' puts all on node 1, 'spread' rotates them over the nodes. */
  writers(count: number, placement: 'first' | 'spread'): Promise<Writer[]>;
  /** Closes every writer's connection (a node limits connections per source address). */
  closeWriters(): Promise<void>;
  stop(): Promise<void>;
  /** The node processes, where the bench can account their CPU. */
  readonly pids?: readonly number[];
}

const CLI = new URL('../../build/cli.js', import.meta.url).pathname;
let sequence = 0;
const uniqueName = (prefix: string): string => `${prefix}${process.pid}-${++sequence}`;

function startNode(dir: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [...NODE_V8_FLAGS, ...PROFILE_ARGS, CLI, 'node', '--data', dir, '--json'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: nodeProcessEnv(),
    },
  );
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"event":"ready"')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`${dir}: exited ${code}`)));
  });
}

async function connectClient(nodes: string[], password: string): Promise<HsmClient> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await HsmClient.connect({
        nodes,
        user: 'admin',
        password,
        connections: nodeConnections(),
        retry: { busyRetriesMax: 100, backoffBaseMs: 5, backoffMaxMs: 200 },
      });
    } catch (error) {
      if (attempt > 40) throw error; // the administrator is still being created
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export interface HsmpoolTarget extends Target {
  readonly addresses: string[];
  client(nodes: string[]): Promise<HsmClient>;
  /** Process ids of the three nodes (for CPU accounting). */
  readonly pids: number[];
}

export async function startHsmpool(): Promise<HsmpoolTarget> {
  const data = mkdtempSync(join(tmpdir(), 'hsmpool-bench-'));
  const addresses = await Promise.all([0, 1, 2].map(async () => `127.0.0.1:${await freePort()}`));
  const password = await createPool(data, 'bench', addresses);
  const children = await Promise.all([0, 1, 2].map((i) => startNode(nodeDir(data, i))));
  let clients: HsmClient[] = [];
  const client = async (nodes: string[]): Promise<HsmClient> => {
    const c = await connectClient(nodes, password);
    clients.push(c);
    return c;
  };
  return {
    name: 'hsmpool',
    addresses,
    pids: children.map((c) => c.pid!),
    client,
    async writers(count, placement) {
      const made: Writer[] = [];
      for (let i = 0; i < count; i++) {
        const c = await client([placement === 'first' ? addresses[0] : addresses[i % 3]]);
        made.push(async () => {
          await c.generateKey(uniqueName('w'), 'aes-256');
        });
      }
      return made;
    },
    async closeWriters() {
      clients.forEach((c) => c.close());
      clients = [];
    },
    async stop() {
      clients.forEach((c) => c.close());
      await Promise.all(
        children.map((c) => new Promise((resolve) => c.once('exit', resolve).kill('SIGTERM'))),
      );
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** Where the Galera anchor lives, and whether this machine can run it. */
export function galeraAnchor(): string | undefined {
  const dir =
    process.env.GALERA_ANCHOR ??
    new URL('../../../shared/anchors/galera', import.meta.url).pathname;
  const runnable =
    existsSync(join(dir, 'run-cluster.sh')) &&
    existsSync('/usr/sbin/mariadbd') &&
    existsSync('/usr/lib/galera/libgalera_smm.so');
  return runnable ? dir : undefined;
}

const GALERA_PORTS = [13306, 13307, 13308];
const INSERT = 'INSERT INTO `keys` (name, material) VALUES (?, ?)';

interface MysqlConnection {
  execute(sql: string, values: unknown[]): Promise<unknown>;
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
}

/** Starts the anchor's 3-node cluster (its own scripts) and drives it over mysql2. */
export async function startGalera(anchor: string): Promise<Target> {
  if (!existsSync(join(anchor, 'node_modules/mysql2'))) {
    execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: anchor, stdio: 'inherit' });
  }
  const stop = (): void => {
    execFileSync(join(anchor, 'stop-cluster.sh'), { stdio: 'ignore' });
  };
  stop();
  execFileSync(join(anchor, 'run-cluster.sh'), ['galera'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const mysql = (await import(pathToFileURL(join(anchor, 'node_modules/mysql2/promise.js')).href))
    .default as { createConnection(options: object): Promise<MysqlConnection> };
  const connect = (port: number): Promise<MysqlConnection> =>
    mysql.createConnection({
      host: '127.0.0.1',
      port,
      user: 'bench',
      password: 'bench',
      database: 'bench',
    });
  let connections: MysqlConnection[] = [];
  const admin = await connect(GALERA_PORTS[0]);
  await admin.query(
    'CREATE TABLE IF NOT EXISTS `keys` (name VARCHAR(32) NOT NULL PRIMARY KEY, material VARBINARY(256) NOT NULL) ENGINE=InnoDB',
  );
  const closeWriters = async (): Promise<void> => {
    await Promise.all(connections.map((c) => c.end().catch(() => undefined)));
    connections = [];
  };
  return {
    name: 'Galera',
    async writers(count, placement) {
      const made: Writer[] = [];
      for (let i = 0; i < count; i++) {
        const c = await connect(placement === 'first' ? GALERA_PORTS[0] : GALERA_PORTS[i % 3]);
        connections.push(c);
        made.push(async () => {
          for (;;) {
            try {
              await c.execute(INSERT, [uniqueName('g'), randomBytes(64)]);
              return;
            } catch (error) {
              // deadlock / brute-force abort / lock wait: Galera's answer to a conflict; retry
              const errno = (error as { errno?: number }).errno;
              if (errno !== 1213 && errno !== 1205) throw error;
            }
          }
        });
      }
      return made;
    },
    closeWriters,
    async stop() {
      await closeWriters();
      await admin.end().catch(() => undefined);
      stop();
    },
  };
}

/** A 512-byte write + fdatasync on the filesystem the pools use: the floor of any commit. */
export async function fdatasyncFloorMs(count = 1000): Promise<number[]> {
  const { openSync, writeSync, fdatasyncSync, closeSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'hsmpool-fsync-'));
  const fd = openSync(join(dir, 'probe'), 'w');
  const buffer = Buffer.alloc(512, 1);
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    writeSync(fd, buffer, 0, buffer.length, 0);
    fdatasyncSync(fd);
    latencies.push(performance.now() - start);
  }
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  return latencies.sort((a, b) => a - b);
}
