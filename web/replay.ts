// Replay of a simulator seed in the picture: paste what `npm run sim` prints on a failure
// (`--seed S --nodes K`) and the page runs the very same deterministic run (host/sim's
// runSeed, the same SVMK and parameters as scripts/sim.ts) one step at a time, drawing the
// simulated nodes, their SPs and PTLs and the messages the simulated network carries. The
// observer only reads the world, so the run is the run `npm run sim` makes.

import type { ConnectionFactory } from '../host/client/connection.ts';
import { CODE, HsmError } from '../host/core/codes.ts';
import { Core } from '../host/core/core.ts';
import { deriveSyncPointKey } from '../host/core/keys.ts';
import type { Envelope } from '../host/protocol/types.ts';
import type { SimParams } from '../host/sim/params.ts';
import { finalSyncPoints, runSeed, type SimResult } from '../host/sim/run.ts';
import type { SimNode, World } from '../host/sim/world.ts';
import type { NodeStatus } from './messages.ts';
import { newTabNode, type ConsoleAnswer, type Flight, type TabNode } from './tab-pool.ts';

/** The simulator's SVMK (scripts/sim.ts): the same key gives the same Sync-Points. */
export const SIM_SVMK = new Uint8Array(32).fill(0x42);
/** Work done between two yields to the page at full speed. */
const SLICE_MS = 12;

export interface ReplayRequest {
  readonly seed: number;
  readonly overrides: Partial<SimParams>;
}

/** Parses `--seed S [--nodes K]` (also with `npm run sim --` in front); undefined if it is not one. */
export function parseReplay(text: string): ReplayRequest | undefined {
  const seed = /--seed[ =](\d+)/.exec(text);
  if (!seed) return undefined;
  const nodes = /--nodes[ =](\d+)/.exec(text);
  const value = Number(seed[1]);
  if (!Number.isSafeInteger(value)) return undefined;
  return { seed: value, overrides: nodes ? { nodes: Number(nodes[1]) } : {} };
}

export class ReplayPool {
  readonly kind = 'replay';
  readonly nodes: TabNode[] = [];
  readonly flights: Flight[] = [];
  readonly bootstrapped = true;
  readonly password = '';
  onStatus: (() => void) | undefined;
  onChange: (() => void) | undefined;
  /** The simulator runs replicas without the HSM service: the client pane cannot connect. */
  readonly connections: ConnectionFactory = {
    open: (address) =>
      Promise.reject(
        new HsmError(CODE.NET_CONNECT_FAILED, `${address}: a replay has no HSM service`),
      ),
  };
  result: SimResult | undefined;
  error: string | undefined;
  phase = 'open';
  tick = 0;
  finalSps: string[] = [];
  private world: World | undefined;
  private ticksPerSecond = 100;
  private stepping = false;
  private stepWaiter: (() => void) | undefined;
  private sliceStart = performance.now();

  private constructor(readonly request: ReplayRequest) {}

  static start(request: ReplayRequest, module: WebAssembly.Module): ReplayPool {
    const pool = new ReplayPool(request);
    const spKey = deriveSyncPointKey(SIM_SVMK);
    const factory = (): Core => {
      const core = Core.fromModule(module);
      core.setKey(spKey);
      return core;
    };
    runSeed(request.seed, factory, request.overrides, (world, phase) => pool.observe(world, phase))
      .then((result) => {
        pool.result = result;
        pool.phase = result.ok ? 'done: ok' : `done: FAILED (${result.problems.join('; ')})`;
        pool.finalSps = pool.world ? finalSyncPoints(pool.world) : [];
        pool.refresh();
      })
      .catch((error: unknown) => {
        pool.error = error instanceof Error ? error.message : String(error);
        pool.phase = `failed with an exception: ${pool.error}`;
        pool.onChange?.();
      });
    return pool;
  }

  setSpeed(ticksPerSecond: number): void {
    this.ticksPerSecond = ticksPerSecond;
  }

  setStepping(stepping: boolean): void {
    this.stepping = stepping;
    if (!stepping) this.release();
  }

  step(): void {
    this.release();
  }

  private release(): void {
    const waiter = this.stepWaiter;
    this.stepWaiter = undefined;
    waiter?.();
  }

  private async observe(world: World, phase: string): Promise<void> {
    if (!this.world) {
      this.world = world;
      // Watch the simulated network's sends: the wrapper passes every call on unchanged.
      const network = world.network;
      const send = network.send.bind(network);
      network.send = (now: number, envelope: Envelope) => {
        this.flight(envelope);
        send(now, envelope);
      };
    }
    this.phase = phase;
    this.tick = world.now;
    if (this.stepping) {
      this.refresh();
      await new Promise<void>((resolve) => (this.stepWaiter = resolve));
    } else if (this.ticksPerSecond < 100) {
      this.refresh();
      await new Promise((resolve) => setTimeout(resolve, 1000 / this.ticksPerSecond));
    } else if (performance.now() - this.sliceStart > SLICE_MS) {
      this.refresh();
      await new Promise((resolve) => setTimeout(resolve, 0));
      this.sliceStart = performance.now();
    }
  }

  private flight(envelope: Envelope): void {
    const from = this.nodes.findIndex((node) => node.id === envelope.from);
    const to = this.nodes.findIndex((node) => node.id === envelope.to);
    if (from < 0 || to < 0) return;
    this.flights.push({ from, to, bytes: 100, at: performance.now() });
    if (this.flights.length > 2000) this.flights.splice(0, this.flights.length - 2000);
  }

  /** Mirrors the world's nodes into the picture's. */
  private refresh(): void {
    const world = this.world;
    if (!world) return;
    let changed = false;
    world.nodes.forEach((simNode, index) => {
      let node = this.nodes[index];
      if (!node) {
        node = newTabNode(index, `sim node ${index + 1}`, simNode.id);
        this.nodes.push(node);
        changed = true;
      }
      const alive = simNode.replica !== undefined;
      if (alive !== node.alive) changed = true;
      node.alive = alive;
      node.ready = alive;
      if (alive) node.status = statusOf(world, simNode, index);
    });
    if (changed) this.onChange?.();
    this.onStatus?.();
  }

  async console(): Promise<ConsoleAnswer> {
    return { code: 0, text: this.events().join('\n') };
  }

  events(): string[] {
    return this.world?.events.slice(-40) ?? [];
  }

  isCut(): boolean {
    return false;
  }
}

function statusOf(world: World, node: SimNode, index: number): NodeStatus {
  const replica = node.replica!.status();
  const info = {
    domain: 'sim',
    id: node.id,
    address: `sim node ${index + 1}`,
    syncPoint: node.replica!.core.syncPoint(),
    epoch: replica.epoch,
    fenced: replica.fenced,
    diverged: replica.diverged,
    tick: world.now,
    timers: { ...replica.timers, tickMs: 10 },
    nodes: world.nodes.map((other) => ({
      id: other.id,
      address: other.id,
      member: replica.members.some((member) => member.id === other.id),
      fenced: replica.down.includes(other.id),
      self: other.id === node.id,
    })),
    pending: replica.pending.map((p) => ({
      txid: p.txid,
      state: p.state,
      stateNumber: undefined,
      role: p.role,
      tick: p.tick,
      event: p.event,
      sourceUser: p.sourceUser,
      target: p.target,
      nodes: p.nodes.map((n) => ({
        id: n.id,
        address: n.id,
        coordinator: n.id === p.coordinator,
        pendingAck: n.pendingAck,
      })),
    })),
    queuedWrites: replica.queueLength,
    storage: { broken: undefined },
  };
  return {
    index,
    info,
    events: world.events.slice(-12).map((event) => ({ tick: world.now, event })),
    records: info.syncPoint.count,
    bootstrapped: true,
  };
}
