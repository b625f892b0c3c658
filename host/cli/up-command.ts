// `hsmpool up`: a pool on loopback as separate processes, one `hsmpool node` each. The first
// run creates the pool (one SVMK, one pool id, every node's identity and the founders' list)
// under --data; later runs reuse it. Prints each node's address and SP/SPVV once all are
// ready; Ctrl-C stops them all cleanly.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CliError, EXIT } from './exit-codes.ts';
import { NODE_V8_FLAGS, nodeProcessEnv } from './node-flags.ts';
import {
  newId,
  newNodeId,
  newSvmk,
  readConfig,
  writeNodeDirectory,
  writeNodeTls,
  type NodeConfig,
} from './config.ts';
import { writeBootstrap } from './bootstrap.ts';
import { bootstrapPool } from '../service/users.ts';
import { newCore } from '../core/load.node.ts';
import { HsmClient } from '../client/package.node.ts';
import { POOL_CERTIFICATE_ENV, cliConnections } from './connections.ts';
import { createPoolCertificate } from '../transport/pool-certificate.node.ts';

export interface UpOptions {
  readonly nodes: number;
  readonly basePort: number;
  readonly data: string;
  readonly domain: string;
  readonly json: boolean;
  /** Create the pool and its administrator, then stop the nodes and exit. */
  readonly initOnly?: boolean;
  /** A new pool serves TLS (wss://) with a pool certificate made here. */
  readonly tls?: boolean;
}

/** How long `up` waits for the administrator to be able to log in. */
export const ADMIN_READY_TIMEOUT_MS = 30_000;

/** Resolves once `admin` logs in at `address` (the bootstrap write committed pool-wide). */
export async function waitForAdmin(
  address: string,
  password: string,
  timeoutMs = ADMIN_READY_TIMEOUT_MS,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const client = await HsmClient.connect({
        nodes: [address],
        user: 'admin',
        password,
        connections: cliConnections(),
        retry: { busyRetriesMax: 0 },
      });
      client.close();
      return;
    } catch (error) {
      if (Date.now() > end)
        throw new CliError(
          EXIT.FAILED,
          `the administrator could not log in at ${address} within ${timeoutMs} ms: ${(error as Error).message}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Pools `up` creates have at most this many nodes (NODES_MAX of the log format). */
export const UP_NODES_MAX = 16;
/** How long a node may take to report ready. */
export const READY_TIMEOUT_MS = 30_000;

interface PoolFile {
  readonly version: 1;
  readonly domain: string;
  readonly nodes: readonly string[];
}

export const nodeDir = (data: string, i: number): string => join(data, `node-${i + 1}`);

export const adminPasswordPath = (data: string): string => join(data, 'admin.password');
export const poolCertificatePath = (data: string): string => join(data, 'pool-certificate.pem');

/** Creates a pool's directories under `data` for nodes listening at `addresses`; returns the administrator's password. */
export async function createPool(
  data: string,
  domain: string,
  addresses: readonly string[],
  options: { readonly tls?: boolean } = {},
): Promise<string> {
  const svmk = newSvmk();
  const poolId = newId();
  const hosts = [
    ...new Set(addresses.map((address) => address.slice(0, address.lastIndexOf(':')))),
  ];
  const tls = options.tls ? createPoolCertificate(poolId, hosts) : undefined;
  const founders = addresses.map((address) => ({ id: newNodeId(), address }));
  mkdirSync(data, { recursive: true });
  founders.forEach((node, i) => {
    const config: NodeConfig = {
      version: 1,
      id: node.id,
      domain,
      poolId,
      listen: node.address,
      founders,
    };
    writeNodeDirectory(nodeDir(data, i), config, svmk);
    if (tls) writeNodeTls(nodeDir(data, i), tls);
  });
  // Public: what clients and consoles pin (--pool-certificate).
  if (tls) writeFileSync(poolCertificatePath(data), tls.certPem);
  // The first administrator, created by node 1 as the pool's first replicated write.
  const bootstrap = await bootstrapPool({ core: newCore() });
  writeBootstrap(nodeDir(data, 0), bootstrap.write);
  writeFileSync(adminPasswordPath(data), `${bootstrap.password}\n`, { mode: 0o600 });
  const pool: PoolFile = { version: 1, domain, nodes: founders.map((_, i) => `node-${i + 1}`) };
  writeFileSync(join(data, 'pool.json'), JSON.stringify(pool, null, 2) + '\n');
  return bootstrap.password;
}

function existingNodes(options: UpOptions): string[] {
  const pool = JSON.parse(readFileSync(join(options.data, 'pool.json'), 'utf8')) as PoolFile;
  return pool.nodes.map((name) => join(options.data, name));
}

/** The command that runs this CLI again (the bundled build/cli.js, or the TypeScript source under tsx). */
function selfCommand(): string[] {
  const script = process.argv[1];
  return script.endsWith('.ts') ? [...process.execArgv, script] : [script];
}

/** The arguments `up` starts each node process with (after the node binary). */
export function nodeProcessArgs(dir: string): string[] {
  return [...NODE_V8_FLAGS, ...selfCommand(), 'node', '--data', dir, '--json'];
}

export async function runUp(options: UpOptions): Promise<number> {
  if (options.nodes < 1 || options.nodes > UP_NODES_MAX)
    throw new CliError(EXIT.USAGE, `--nodes: 1 to ${UP_NODES_MAX}`);
  const fresh = !existsSync(join(options.data, 'pool.json'));
  if (fresh)
    await createPool(
      options.data,
      options.domain,
      Array.from({ length: options.nodes }, (_, i) => `127.0.0.1:${options.basePort + i}`),
      { tls: options.tls },
    );
  // A TLS pool: this process's own logins pin its certificate too.
  if (existsSync(poolCertificatePath(options.data)))
    process.env[POOL_CERTIFICATE_ENV] = poolCertificatePath(options.data);
  const dirs = existingNodes(options);
  if (!fresh && dirs.length !== options.nodes && process.argv.includes('--nodes')) {
    console.error(
      `note: ${options.data} holds a pool of ${dirs.length} nodes; starting those (--nodes ignored)`,
    );
  }
  const children: ChildProcess[] = [];
  const ready: Record<string, unknown>[] = [];
  let stopping = false;
  const stopAll = (): void => {
    stopping = true;
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  };
  process.once('SIGINT', stopAll);
  process.once('SIGTERM', stopAll);
  try {
    await Promise.all(dirs.map((dir) => startNode(dir, options.json, children, ready)));
    // pool-ready only once the administrator can log in (node 1 commits it as the pool's first write).
    const password = adminPassword(options.data);
    if (password) await waitForAdmin(String(ready[0]?.address), password);
  } catch (error) {
    stopAll();
    throw error;
  }
  report(options, fresh, ready);
  if (options.initOnly) {
    stopAll();
    return exitOf(children);
  }
  for (const [i, child] of children.entries()) {
    child.once('exit', (code, signal) => {
      if (stopping) console.log(`${dirs[i]}: stopped`);
      else
        console.error(
          `${dirs[i]}: node exited (${signal ?? `code ${code}`}); the others go on (a pool with a dead member blocks writes until node-down)`,
        );
    });
  }
  return exitOf(children);
}

/** Spawns `hsmpool node` on `dir`; resolves when it reports ready (its event joins `ready`). */
function startNode(
  dir: string,
  json: boolean,
  children: ChildProcess[],
  ready: Record<string, unknown>[],
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, nodeProcessArgs(dir), {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: nodeProcessEnv(),
    });
    children.push(child);
    const timer = setTimeout(
      () => reject(new CliError(EXIT.FAILED, `${dir}: not ready after ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    );
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (event.event === 'ready') {
        clearTimeout(timer);
        ready.push({ ...event, data: dir, id: readConfig(dir).id });
        resolve();
      } else if (event.event === 'log' && !json) {
        console.log(`${dir}: ${String(event.line)}`);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new CliError(EXIT.FAILED, `${dir}: node exited with code ${code}`));
    });
  });
}

/** Waits until every node has exited: EXIT.OK when each exited with code 0. */
async function exitOf(children: ChildProcess[]): Promise<number> {
  const codes = await Promise.all(
    children.map(
      (child) =>
        new Promise<number | null>((resolve) =>
          child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve),
        ),
    ),
  );
  return codes.every((code) => code === 0) ? EXIT.OK : EXIT.FAILED;
}

function adminPassword(data: string): string | undefined {
  return existsSync(adminPasswordPath(data))
    ? readFileSync(adminPasswordPath(data), 'utf8').split('\n')[0]
    : undefined;
}

function report(options: UpOptions, fresh: boolean, ready: Record<string, unknown>[]): void {
  ready.sort((a, b) => String(a.address).localeCompare(String(b.address)));
  const password = adminPassword(options.data);
  if (options.json) {
    console.log(
      JSON.stringify({
        event: 'pool-ready',
        domain: options.domain,
        created: fresh,
        admin: { user: 'admin', password },
        nodes: ready,
      }),
    );
    return;
  }
  console.log(
    `pool ${JSON.stringify(options.domain)} ${fresh ? 'created' : 'started'} in ${options.data} (${ready.length} nodes)`,
  );
  for (const node of ready)
    console.log(
      `  ${String(node.address).padEnd(16)} node ${node.id}  SP ${node.sp}  SPVV ${node.spvv}  records ${node.records}`,
    );
  if (password)
    console.log(
      `administrator: admin  password: ${password}  (kept in ${adminPasswordPath(options.data)}, mode 0600)`,
    );
  console.log(
    `remote console: npx hsmpool console --host ${String(ready[0]?.address)} --user admin`,
  );
  console.log('Ctrl-C stops the pool; `npm start` again reuses its data.');
}
