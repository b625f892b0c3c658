// A whole pool of appliances in one process (a test, a benchmark, a browser tab): memory
// storage, the memory transport (with the real secure channel) and a tick driver. The caller
// supplies a factory of keyed cores, so this runs wherever the core loads.

import type { Timers } from '../protocol/replica.ts';
import type { Core } from '../core/core.ts';
import { Random } from '../protocol/random.ts';
import type { NodeAddress } from '../protocol/types.ts';
import { toNodeId } from '../wire/ids.ts';
import { MemoryStorage } from '../storage/memory.ts';
import type { Storage } from '../storage/storage.ts';
import { MemoryHub, MemoryTransport } from '../transport/memory.ts';
import type { ChaChaAead, Sha256Factory } from '../wire/crypto-engine.ts';
import { Appliance, TICK_MS } from '../appliance/appliance.ts';

export interface InProcessPoolOptions {
  readonly nodes: number;
  readonly svmk: Uint8Array;
  /** A core keyed with the SVMK's Sync-Point key, empty. */
  readonly newCore: () => Core;
  readonly seed?: number;
  readonly domain?: string;
  readonly groupCommit?: boolean;
  readonly checkpointBytes?: number;
  /** The storage appliance i uses over its memory storage (tests: one that completes later). */
  readonly wrapStorage?: (memory: MemoryStorage, index: number) => Storage;
  readonly timers?: Partial<Timers>;
  /** Wall clock for event and PTL times (default Date.now). */
  readonly now?: () => number;
  /** The peer links' frame AEAD (default noble's; benchmarks in Node pass NODE_CHACHA). */
  readonly aead?: ChaChaAead;
  /** The request-outcomes checksum's SHA-256 (default noble's; benchmarks in Node pass
   * nodeSha256, as real nodes do). */
  readonly sha256?: Sha256Factory;
}

export class InProcessPool {
  readonly hub = new MemoryHub();
  readonly appliances: Appliance[] = [];
  readonly storages: MemoryStorage[] = [];
  readonly founders: NodeAddress[];
  private readonly random: Random;
  private timer: ReturnType<typeof setInterval> | undefined;

  private constructor(readonly options: InProcessPoolOptions) {
    this.random = new Random(options.seed ?? 1);
    this.founders = Array.from({ length: options.nodes }, (_, i) => ({
      id: toNodeId(this.random.id64()),
      address: `127.0.0.${i + 1}:7001`,
    }));
  }

  static async start(options: InProcessPoolOptions): Promise<InProcessPool> {
    const pool = new InProcessPool(options);
    for (let i = 0; i < options.nodes; i++) {
      pool.storages.push(new MemoryStorage());
      await pool.open(i);
    }
    return pool;
  }

  /** Opens (or reopens, after `crash`) appliance i from its storage. */
  async open(i: number): Promise<Appliance> {
    const node = this.founders[i];
    const transport = new MemoryTransport({
      hub: this.hub,
      nodeId: node.id,
      address: node.address,
      svmk: this.options.svmk,
      randomBytes: (n) => this.random.bytes(n),
      aead: this.options.aead,
    });
    const opening = Appliance.open({
      id: node.id,
      address: node.address,
      domain: this.options.domain ?? 'pool',
      poolId: 1n,
      founders: this.founders,
      storage: this.options.wrapStorage?.(this.storages[i], i) ?? this.storages[i],
      core: this.options.newCore(),
      random: this.random.fork(),
      transport,
      groupCommit: this.options.groupCommit,
      checkpointBytes: this.options.checkpointBytes,
      sha256: this.options.sha256,
      timers: this.options.timers,
      now: this.options.now,
    });
    // A refused start (a damaged store) must not leave the address taken.
    const appliance = await opening.catch(async (error: unknown) => {
      await transport.close();
      throw error;
    });
    this.appliances[i] = appliance;
    return appliance;
  }

  /** Advances every appliance by `ticks`, letting messages flow between ticks. */
  async run(ticks: number): Promise<void> {
    for (let t = 0; t < ticks; t++) {
      for (const appliance of this.appliances) appliance.tick();
      await Promise.all(this.appliances.map((appliance) => appliance.settled()));
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  /** Ticks in real time (TICK_MS) until stopped. */
  startClock(): void {
    this.timer ??= setInterval(() => {
      for (const appliance of this.appliances) appliance.tick();
    }, TICK_MS);
  }

  stopClock(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async close(): Promise<void> {
    this.stopClock();
    await Promise.all(this.appliances.map((appliance) => appliance.close()));
  }
}
