// Real `hsmpool` processes for the integration tests (build/cli.js on 127.0.0.1): start a node
// or a whole pool and wait for its events, run a command or a remote console command, wait for
// a condition. Every node process started here is killed by killAll.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, expect } from 'vitest';
import { runBackup } from '../host/cli/backup-command.ts';
import { runRestore } from '../host/cli/restore-command.ts';
import { adminPasswordPath, createPool, nodeDir } from '../host/cli/up-command.ts';
import { nodeProcessEnv } from '../host/cli/node-flags.ts';
import { HsmClient } from '../host/client/index.ts';
import { nodeConnections } from '../host/client/ws-client.node.ts';
import { freePort } from '../host/testing/free-port.node.ts';

export const CLI = new URL('../build/cli.js', import.meta.url).pathname;
const children: ChildProcess[] = [];

export type NodeProcess = ChildProcess & { events: { event: string; [field: string]: unknown }[] };

/** A scratch folder `hsmpool-PREFIX-*` for one file's processes: after all its tests, every
 * node process is killed and the folder removed. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `hsmpool-${prefix}-`));
  afterAll(() => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** `count` addresses on free loopback ports. */
export function freeAddresses(count: number): Promise<string[]> {
  return Promise.all(Array.from({ length: count }, async () => `127.0.0.1:${await freePort()}`));
}

/** An SDK client on one node as `user`, with the client's default retries. */
export function nodeClient(address: string, user: string, password: string): Promise<HsmClient> {
  return HsmClient.connect({ nodes: [address], user, password, connections: nodeConnections() });
}

/** An SDK client on one node, patient with busy answers (a pool of processes on a busy machine). */
export function patientClient(address: string, user: string, password: string): Promise<HsmClient> {
  return HsmClient.connect({
    nodes: [address],
    user,
    password,
    connections: nodeConnections(),
    retry: { busyRetriesMax: 40, backoffBaseMs: 20, backoffMaxMs: 500 },
  });
}

/** Starts node `index` of the pool under `data` (`hsmpool node --data DIR ...extra`) and waits
 * for its `ready` event. */
export function startNode(
  data: string,
  index: number,
  name = `node ${index + 1}`,
  extra: readonly string[] = [],
): Promise<NodeProcess> {
  return startNodeProcess(['--data', nodeDir(data, index), ...extra], ['ready'], name);
}

/** `hsmpool backup` of the node at `host` into `out`, as the administrator of the pool under
 * `data`; its exit code. */
export function backupPool(data: string, host: string, out: string): Promise<number> {
  return runBackup({ host, user: 'admin', out, passwordFile: adminPasswordPath(data), json: true });
}

/** Stops node `index` of the pool under `data` (exit 0), restores `backup` into its directory
 * offline, and starts it again as `name`. */
export async function restoreNode(
  data: string,
  index: number,
  node: ChildProcess,
  backup: string,
  name: string,
): Promise<NodeProcess> {
  expect(await stop(node)).toBe(0);
  await runRestore({ in: backup, data: nodeDir(data, index), json: true });
  return startNode(data, index, name);
}

/** Creates a pool of `addresses` under `data`, starts its nodes (`hsmpool node --data DIR
 * ...nodeArgs`) one after the other, and waits until the administrator can log in; the
 * administrator's password and the node processes. */
export async function startPool(
  data: string,
  domain: string,
  addresses: readonly string[],
  nodeArgs: readonly string[] = [],
): Promise<{ password: string; nodes: NodeProcess[] }> {
  const password = await createPool(data, domain, addresses);
  const nodes: NodeProcess[] = [];
  for (const i of addresses.keys()) nodes.push(await startNode(data, i, undefined, nodeArgs));
  await until(
    'the administrator exists',
    async () => (await patientClient(addresses[0], 'admin', password)).close() === undefined,
  );
  return { password, nodes };
}

/** The command line from the sources (tsx), for a test of the CLI as written rather than built. */
export const SOURCES_CLI = [
  '--import',
  'tsx',
  new URL('../host/cli/entry.ts', import.meta.url).pathname,
];

/** Runs `hsmpool node ARGS --json` (build/cli.js, or `cli`); resolves once every event in
 * `waitFor` was printed. The events seen are kept on the returned object. */
export function startNodeProcess(
  args: readonly string[],
  waitFor: readonly string[] = ['ready'],
  name = args.join(' '),
  cli: readonly string[] = [CLI],
): Promise<NodeProcess> {
  const child = spawn(process.execPath, [...cli, 'node', ...args, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: nodeProcessEnv(),
  }) as ChildProcess & { events: { event: string }[] };
  child.events = [];
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name}: no ${waitFor.join('+')} in 60 s`)),
      60_000,
    );
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        child.events.push(JSON.parse(line) as { event: string });
      } catch {
        return;
      }
      if (waitFor.every((event) => child.events.some((seen) => seen.event === event))) {
        clearTimeout(timer);
        resolve(child as NodeProcess);
      }
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${stderr}`)));
  });
}

/** `hsmpool ARGS` with HSMPOOL_PASSWORD: its exit code, standard output and error, and its
 * last output line parsed as JSON (undefined when that is not JSON). */
export function runCli(
  args: readonly string[],
  password: string,
): Promise<{ code: number | null; out: string; err: string; json: any }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HSMPOOL_PASSWORD: password },
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (chunk) => (out += chunk));
    child.stderr!.on('data', (chunk) => (err += chunk));
    child.once('exit', (code) => {
      let json: unknown;
      try {
        json = JSON.parse(out.trim().split('\n').pop()!);
      } catch {
        json = undefined;
      }
      resolve({ code, out, err, json });
    });
  });
}

/** `hsmpool console --host ADDRESS --user admin --json COMMAND`: its last JSON line. */
export async function consoleJson(
  address: string,
  password: string,
  command: string,
): Promise<{ code: number; data: any }> {
  const args = ['console', '--host', address, '--user', 'admin', '--json', ...command.split(' ')];
  const run = await runCli(args, password);
  if (run.json === undefined) throw new Error(`console ${command}: ${run.out} ${run.err}`);
  return run.json;
}

export async function until(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

/** Stops a process and waits for it to exit; its exit code (null when a signal ended it). */
export async function stop(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  child.kill(signal);
  return exited;
}

export function killAll(): void {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
}
