// The chaos campaign's pool: N `hsmpool node` processes (build/cli.js) on 127.0.0.1, each behind
// a fault-injecting proxy (proxy.node.ts). The pool's membership names every node at its
// proxy (one list for all: the membership and its addresses are replicated and compared);
// each node listens at its real port (node.json `listen`) and dials its peers from its own
// source address 127.0.0.(SOURCE_BASE+i) (source-address.cjs), which is how the proxy in front
// of node j tells the link i->j from k->j. Clients dial the real ports directly.
// Kill (SIGKILL), pause (SIGSTOP/SIGCONT), restart; every exit and every stderr line a node
// did not get from us is recorded as a problem. close() ends every process and proxy.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { NODE_V8_FLAGS, nodeProcessEnv } from '../../host/cli/node-flags.ts';
import { createPool, nodeDir } from '../../host/cli/up-command.ts';
import { readConfig, writeConfig } from '../../host/cli/config.ts';
import { freePort } from '../../host/testing/free-port.node.ts';
import { RemoteConsole } from '../../host/cli/console-command.ts';
import { LinkProxy, type LinkFault } from './proxy.node.ts';

export const CLI = new URL('../../build/cli.js', import.meta.url).pathname;
const SOURCE_HOOK = new URL('./source-address.cjs', import.meta.url).pathname;
/** Node i dials its peers from 127.0.0.(SOURCE_BASE + i). */
export const SOURCE_BASE = 11;
export const sourceAddress = (i: number): string => `127.0.0.${SOURCE_BASE + i}`;
/** How long a (re)started node may take to print `ready`. */
export const NODE_READY_TIMEOUT_MS = 60_000;
/** How long a node may take to exit after SIGTERM at the end. */
export const NODE_STOP_TIMEOUT_MS = 15_000;
/** Lines of problems (stderr, unexpected exits) kept; more are counted only. */
export const PROBLEMS_KEPT_MAX = 200;
/** Lines of each node's output kept for diagnosis. */
export const NODE_LOG_KEPT = 300;

export interface NodeInfo {
  readonly sp: string;
  readonly spvv: string;
  readonly records: number;
  readonly pending: number;
  readonly fenced: boolean;
  readonly diverged: boolean;
}

/** Every node process alive, so that the runner's own exit (even on Ctrl-C) kills them. */
const LIVE = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const alive of LIVE) alive.kill('SIGKILL');
    });
  }
  LIVE.add(child);
  child.once('exit', () => LIVE.delete(child));
}

class NodeProcess {
  child: ChildProcess | undefined;
  paused = false;
  /** Set when we kill or stop it: its exit is expected. */
  private expectExit = false;
  starts = 0;
  /** Checkpoints this node's processes reported: stored, and given way to an export. */
  checkpoints = 0;
  checkpointsGivenWay = 0;
  /** The last NODE_LOG_KEPT lines the node printed (for a failure's diagnosis). */
  readonly recent: string[] = [];

  constructor(
    readonly index: number,
    readonly dir: string,
    readonly address: string,
    private readonly problem: (line: string) => void,
  ) {}

  get alive(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  /** Spawns the node; resolves on `ready`, rejects if it exits first or times out. */
  start(): Promise<void> {
    if (this.alive) return Promise.reject(new Error(`node ${this.index + 1} is running`));
    this.starts++;
    this.expectExit = false;
    this.paused = false;
    const child = spawn(
      process.execPath,
      [
        ...NODE_V8_FLAGS,
        '--require',
        SOURCE_HOOK,
        CLI,
        'node',
        '--data',
        this.dir,
        '--checkpoint-bytes',
        String(CHAOS_CHECKPOINT_BYTES),
        '--json',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...nodeProcessEnv(), HSMPOOL_CHAOS_SOURCE: sourceAddress(this.index) },
      },
    );
    this.child = child;
    track(child);
    const name = `node ${this.index + 1}`;
    createInterface({ input: child.stderr! }).on('line', (line) =>
      this.problem(`${name} stderr: ${line}`),
    );
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${name}: no ready in ${NODE_READY_TIMEOUT_MS} ms`));
      }, NODE_READY_TIMEOUT_MS);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        this.recent.push(line);
        if (this.recent.length > NODE_LOG_KEPT) this.recent.shift();
        let event: { event?: string };
        try {
          event = JSON.parse(line) as { event?: string };
        } catch {
          return;
        }
        if (event.event === 'checkpoint') this.checkpoints++;
        if (event.event === 'checkpoint-given-way') this.checkpointsGivenWay++;
        if (event.event === 'ready') {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (!this.expectExit)
          this.problem(`${name} exited unexpectedly (${signal ?? `code ${code}`})`);
        reject(new Error(`${name} exited (${signal ?? `code ${code}`}) before ready`));
      });
    });
  }

  /** SIGKILL; resolves once it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.alive) return;
    this.expectExit = true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    this.paused = false;
    await exited;
  }

  pause(): void {
    if (!this.alive || this.paused) return;
    this.child!.kill('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (!this.alive || !this.paused) return;
    this.child!.kill('SIGCONT');
    this.paused = false;
  }

  /** SIGTERM, and the exit code (a clean stop is 0); SIGKILL after NODE_STOP_TIMEOUT_MS. */
  async stop(): Promise<number | null> {
    const child = this.child;
    if (!child || !this.alive) return child?.exitCode ?? null;
    this.resume();
    this.expectExit = true;
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), NODE_STOP_TIMEOUT_MS);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}

/** Log bytes between a node's checkpoints (16 MiB by default): small, so that kills land while
 * snapshots are written and logs compacted, not only between appends. */
export const CHAOS_CHECKPOINT_BYTES = 16 << 10;

export class ChaosPool {
  readonly problems: string[] = [];
  problemCount = 0;

  private constructor(
    readonly nodes: NodeProcess[],
    /** proxies[j]: in front of node j; its address is node j's in the membership. */
    readonly proxies: LinkProxy[],
    readonly password: string,
  ) {}

  /** Real addresses, for clients (no proxy between clients and nodes). */
  get addresses(): string[] {
    return this.nodes.map((node) => node.address);
  }

  /** The directed peer link i->j: the fault node i's connections to node j meet. */
  link(i: number, j: number): { setFault(fault: LinkFault): void } {
    return { setFault: (fault) => this.proxies[j].setFault(sourceAddress(i), fault) };
  }

  static async create(data: string, size: number): Promise<ChaosPool> {
    const ports: number[] = [];
    // Distinct free ports (freePort may hand the same one twice once it is released).
    while (ports.length < size) {
      const port = await freePort();
      if (!ports.includes(port)) ports.push(port);
    }
    const proxies: LinkProxy[] = [];
    for (const port of ports)
      proxies.push(
        await LinkProxy.start({ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port }),
      );
    const password = await createPool(
      data,
      'chaos',
      proxies.map((proxy) => proxy.address),
    );
    const pool = new ChaosPool([], proxies, password);
    for (let i = 0; i < size; i++) {
      const dir = nodeDir(data, i);
      const listen = `127.0.0.1:${ports[i]}`;
      writeConfig(dir, { ...readConfig(dir), listen });
      pool.nodes.push(new NodeProcess(i, dir, listen, (line) => pool.report(line)));
    }
    return pool;
  }

  report(line: string): void {
    this.problemCount++;
    if (this.problems.length < PROBLEMS_KEPT_MAX) this.problems.push(line);
  }

  startAll(): Promise<void> {
    return Promise.all(this.nodes.filter((node) => !node.alive).map((node) => node.start())).then(
      () => undefined,
    );
  }

  /** Every link passes again, every paused node runs, every dead node is restarted. */
  async heal(): Promise<void> {
    for (const proxy of this.proxies) proxy.healAll();
    for (const node of this.nodes) node.resume();
    await this.startAll();
  }

  /** The replication info of node i (remote console as admin). */
  async info(i: number): Promise<NodeInfo> {
    const remote = await RemoteConsole.open(
      { host: this.nodes[i].address, user: 'admin' },
      this.password,
      5000,
    );
    try {
      const result = await remote.run('info');
      if (result.code !== 0) throw new Error(`node ${i + 1} info: code ${result.code}`);
      const data = result.data as {
        syncPoint: { hex: string; spvvHex: string; count: number };
        pending: unknown[];
        fenced?: boolean;
        diverged?: boolean;
      };
      return {
        sp: data.syncPoint.hex,
        spvv: data.syncPoint.spvvHex,
        records: data.syncPoint.count,
        pending: data.pending.length,
        fenced: Boolean(data.fenced),
        diverged: Boolean(data.diverged),
      };
    } finally {
      remote.close();
    }
  }

  /** Stops every node (SIGTERM; exit code 0 expected) and every proxy. Safe to call twice. */
  async close(): Promise<(number | null)[]> {
    const codes = await Promise.all(this.nodes.map((node) => node.stop()));
    for (const proxy of this.proxies) await proxy.close();
    return codes;
  }

  /** Last resort on failure: SIGKILL every node we started. */
  killAll(): void {
    for (const node of this.nodes) if (node.alive) node.child!.kill('SIGKILL');
  }
}
