// Shared by the transaction log, storage and recovery suites: sample entries, a JSON view of
// entries for vectors, an independent (TypeScript) check of the checksum and chain rules, and
// an emulated appliance that writes a log and remembers the state after every entry.

import { encodeBatch, type Operation, type Write } from '../host/core/batch.ts';
import type { Core } from '../host/core/core.ts';
import {
  LOG_HEADER_SIZE,
  LogEncoder,
  checksumHex,
  type ChainPosition,
  type EntryBody,
  type PoolNode,
  type PrepareBody,
} from '../host/core/txlog.ts';
import { recover, type RecoveredState } from '../host/log/recovery.ts';
import { writeCheckpoint } from '../host/log/compaction.ts';
import type { Storage } from '../host/storage/storage.ts';
import { Random } from '../host/protocol/random.ts';
import { keyedCore, sampleObject, sampleUser, toHex } from './fixtures.ts';
import { joinBytes } from '../host/wire/bytes.ts';

export const POOL = 0x600d_5eedn;
export const NODE_A: PoolNode = { id: 0xa1n, address: '10.0.0.1:4433' };
export const NODE_B: PoolNode = { id: 0xb2n, address: '10.0.0.2:4433' };
export const NODE_C: PoolNode = { id: 0xc3n, address: 'hsm-c.example:4433' };
export const FOUNDERS: readonly PoolNode[] = [NODE_A, NODE_B];

/** Entry JSON for vectors and comparisons: bigints as hex strings, bytes as hex. */
export function shown(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, item) => {
      if (typeof item === 'bigint') return `0x${item.toString(16)}`;
      if (item instanceof Uint8Array) return toHex(item);
      return item;
    }),
  );
}

/** Recomputes an entry's checksums with core.checksum and checks the layout rules (docs/FORMATS.md). */
export function independentlyChecked(
  core: Core,
  bytes: Uint8Array,
  parent: Uint8Array,
): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bodyLength = view.getUint32(8, true);
  if (bytes.length !== LOG_HEADER_SIZE + bodyLength) return 'length';
  const [headerLo, headerHi] = core.checksum(bytes.subarray(0, 96));
  const [bodyLo, bodyHi] = core.checksum(bytes.subarray(LOG_HEADER_SIZE));
  if (view.getBigUint64(96, true) !== headerLo || view.getBigUint64(104, true) !== headerHi)
    return 'header checksum';
  if (view.getBigUint64(48, true) !== bodyLo || view.getBigUint64(56, true) !== bodyHi)
    return 'body checksum';
  if (checksumHex(bytes.subarray(64, 80)) !== checksumHex(parent)) return 'parent';
  return undefined;
}

/** Rewrites an entry's body checksum and header checksum after a test changed its bytes. */
export function reseal(core: Core, bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const [bodyLo, bodyHi] = core.checksum(out.subarray(LOG_HEADER_SIZE));
  view.setBigUint64(48, bodyLo, true);
  view.setBigUint64(56, bodyHi, true);
  const [headerLo, headerHi] = core.checksum(out.subarray(0, 96));
  view.setBigUint64(96, headerLo, true);
  view.setBigUint64(104, headerHi, true);
  return out;
}

export function samplePrepare(core: Core, overrides: Partial<PrepareBody> = {}): PrepareBody {
  const batch = encodeBatch([
    {
      event: 'CREATE_USR',
      operations: [{ op: 'insert', record: core.encode(sampleUser('bob', 3)) }],
    },
  ]);
  return {
    type: 'prepare',
    coordinator: NODE_A.id,
    participants: [NODE_B.id],
    nodes: FOUNDERS,
    spBefore: 0x0123456789abcdefn,
    spvvBefore: 0x5058,
    spAfter: 0xca110f4b3a0662a2n,
    spvvAfter: 0x1234,
    createdTick: 1_000_000n,
    event: 2,
    sourceUser: 'master',
    targetName: 'bob',
    batch,
    ...overrides,
  };
}

/** One entry of each type, in an order a real log could have (epoch rises before the checkpoint). */
export function sampleChain(
  core: Core,
): { body: EntryBody; transactionId?: bigint; epoch?: bigint }[] {
  return [
    { body: { type: 'node-added', node: NODE_C }, epoch: 1n },
    { body: samplePrepare(core), transactionId: 0x1122334455667788n },
    {
      body: { type: 'commit', spAfter: 0xca110f4b3a0662a2n, spvvAfter: 0x1234 },
      transactionId: 0x1122334455667788n,
    },
    {
      body: samplePrepare(core, { participants: [], nodes: [], sourceUser: '', targetName: '' }),
      transactionId: 0x99n,
    },
    { body: { type: 'abort', reason: 36500 }, transactionId: 0x99n },
    { body: { type: 'commit', spAfter: 1n, spvvAfter: 2, terminated: true }, transactionId: 0x77n },
    { body: { type: 'node-down', nodeId: NODE_B.id } },
    { body: { type: 'epoch-raised', epoch: 2n } },
    {
      body: {
        type: 'checkpoint',
        snapshotSequence: 8n,
        sp: 0xca110f4b3a0662a2n,
        spvv: 0x1234,
        recordCount: 1n,
        snapshotName: 'checkpoint-00000000000000000009',
        nodes: [NODE_A, NODE_C],
      },
    },
  ];
}

/** Encodes entries into one log; returns the log and each entry's bytes. */
export function encodeChain(
  core: Core,
  items: ReturnType<typeof sampleChain>,
  poolId = POOL,
): { log: Uint8Array; entries: Uint8Array[] } {
  const encoder = new LogEncoder(core, poolId);
  const entries = items.map((item) =>
    encoder.encode(item.body, { transactionId: item.transactionId, epoch: item.epoch }),
  );
  return { log: concat(entries), entries };
}

/** A fresh keyed core and the sample chain encoded on it for `poolId`. */
export function sampleLog(poolId = POOL): { core: Core; log: Uint8Array; entries: Uint8Array[] } {
  const core = keyedCore();
  return { core, ...encodeChain(core, sampleChain(core), poolId) };
}

/** The parts one after the other. */
export const concat = joinBytes;

/** What recovery must give back after a given entry. */
export interface ExpectedState {
  readonly sp: bigint;
  readonly spvv: number;
  readonly count: number;
  readonly pending: bigint | undefined;
  readonly nodes: string;
  readonly epoch: bigint;
  readonly last: ChainPosition;
}

export const nodesKey = (nodes: Iterable<PoolNode>): string =>
  [...nodes]
    .map((node) => `${node.id.toString(16)}=${node.address}`)
    .sort()
    .join(',');

/**
 * An emulated appliance writing its log through a Storage: transactions (committed, aborted,
 * left pending), membership changes, epoch changes and checkpoints. `states[i]` is the state
 * after the log's first i entries of this run; `ends[i]` the log length then.
 */
export class ApplianceModel {
  readonly encoder: LogEncoder;
  readonly nodes = new Map<bigint, PoolNode>();
  pending: { id: bigint; prepare: PrepareBody } | undefined;
  epoch = 1n;
  readonly states: ExpectedState[] = [];
  /** Log length after each entry (ends[0] = 0); only meaningful while nothing compacts the log. */
  readonly ends: number[] = [0];
  /** Entry count at the last durable append: a crash never goes below it. */
  durableEntries = 0;
  private users = 0;
  private nextNode = 0xd00n;

  constructor(
    readonly core: Core,
    readonly storage: Storage,
    readonly random: Random,
    founders: readonly PoolNode[] = FOUNDERS,
  ) {
    this.encoder = new LogEncoder(core, POOL, undefined, this.epoch);
    for (const node of founders) this.nodes.set(node.id, node);
    // An empty log says nothing of the epoch: recovery starts at 0.
    this.states.push({ ...this.snapshotState(), epoch: 0n });
  }

  snapshotState(): ExpectedState {
    const syncPoint = this.core.syncPoint();
    return {
      sp: syncPoint.sp,
      spvv: syncPoint.spvv,
      count: syncPoint.count,
      pending: this.pending?.id,
      nodes: nodesKey(this.nodes.values()),
      epoch: this.epoch,
      last: this.encoder.last,
    };
  }

  private async append(body: EntryBody, durable: boolean, transactionId?: bigint): Promise<void> {
    const bytes = this.encoder.encode(body, { transactionId, epoch: this.epoch });
    await this.storage.appendLog(bytes, durable);
    await this.afterAppend(durable);
  }

  private async afterAppend(durable: boolean): Promise<void> {
    this.ends.push(await this.storage.logSize());
    this.states.push(this.snapshotState());
    if (durable) this.durableEntries = this.states.length - 1;
  }

  private writes(): Write[] {
    const r = this.random;
    const writes: Write[] = [];
    for (let i = 0, n = r.between(1, 3); i < n; i++) {
      const name = `user${this.users++}`;
      const record = r.chance(0.5)
        ? this.core.encode(sampleUser(name, this.users))
        : this.core.encode(sampleObject(`key${this.users}`, name, r.between(16, 300), this.users));
      const operations: Operation[] = [{ op: 'insert', record }];
      if (this.users > 2 && r.chance(0.3))
        operations.push({ op: 'delete', kind: 'user', name: `user${r.below(this.users - 1)}` });
      writes.push({ event: 'CREATE_OBJ', operations });
    }
    return writes;
  }

  /** Logs a PREPARE (durable, as a participant must before it votes). */
  async prepare(durable = true): Promise<bigint> {
    if (this.pending) throw new Error('one pending transaction at a time');
    const batch = encodeBatch(this.writes());
    const before = this.core.syncPoint();
    const after = this.core.apply(batch, true).syncPoint;
    const id =
      BigInt.asUintN(64, (BigInt(this.random.next32()) << 32n) | BigInt(this.random.next32())) | 1n;
    const prepare: PrepareBody = {
      type: 'prepare',
      coordinator: NODE_A.id,
      participants: [NODE_B.id],
      nodes: [...this.nodes.values()],
      spBefore: before.sp,
      spvvBefore: before.spvv,
      spAfter: after.sp,
      spvvAfter: after.spvv,
      createdTick: BigInt(this.states.length),
      event: 4,
      sourceUser: 'master',
      targetName: `user${this.users - 1}`,
      batch,
    };
    this.pending = { id, prepare };
    await this.append(prepare, durable, id);
    return id;
  }

  async commit(durable = false): Promise<void> {
    const pending = this.pending!;
    const after = this.core.apply(pending.prepare.batch).syncPoint;
    this.pending = undefined;
    await this.append(
      { type: 'commit', spAfter: after.sp, spvvAfter: after.spvv },
      durable,
      pending.id,
    );
  }

  async abort(durable = false): Promise<void> {
    const pending = this.pending!;
    this.pending = undefined;
    await this.append({ type: 'abort', reason: 37001 }, durable, pending.id);
  }

  async nodeAdded(durable = true): Promise<void> {
    const node = { id: this.nextNode++, address: `10.1.0.${this.nodes.size}:4433` };
    this.nodes.set(node.id, node);
    await this.append({ type: 'node-added', node }, durable);
  }

  async nodeDown(durable = true): Promise<void> {
    const ids = [...this.nodes.keys()].filter((id) => id !== NODE_A.id);
    if (ids.length === 0) return this.nodeAdded(durable);
    const id = this.random.pick(ids);
    this.nodes.delete(id);
    await this.append({ type: 'node-down', nodeId: id }, durable);
  }

  async raiseEpoch(durable = true): Promise<void> {
    const epoch = this.epoch + 1n;
    await this.append({ type: 'epoch-raised', epoch }, durable);
    this.epoch = epoch;
    this.states[this.states.length - 1] = this.snapshotState();
  }

  async checkpoint(): Promise<void> {
    await writeCheckpoint(this.core, this.storage, this.encoder, [...this.nodes.values()]);
    await this.afterAppend(true);
  }

  /** One random step of a plausible history. */
  async step(): Promise<void> {
    const r = this.random;
    if (this.pending) return r.chance(0.8) ? this.commit(r.chance(0.5)) : this.abort(r.chance(0.5));
    const roll = r.below(100);
    if (roll < 60) return void (await this.prepare(r.chance(0.9)));
    if (roll < 70) return this.nodeAdded(r.chance(0.5));
    if (roll < 78) return this.nodeDown(r.chance(0.5));
    if (roll < 85) return this.raiseEpoch(r.chance(0.5));
    return this.checkpoint();
  }
}

/** The comparable view of a recovered state. */
export function recoveredView(state: {
  syncPoint: { sp: bigint; spvv: number; count: number };
  pending?: { transactionId: bigint };
  nodes: readonly PoolNode[];
  epoch: bigint;
  last: ChainPosition;
}): ExpectedState {
  return {
    sp: state.syncPoint.sp,
    spvv: state.syncPoint.spvv,
    count: state.syncPoint.count,
    pending: state.pending?.transactionId,
    nodes: nodesKey(state.nodes),
    epoch: state.epoch,
    last: state.last,
  };
}

/** Recovers `storage` into `core` (emptied first; a fresh keyed core by default). */
export async function recoverFresh(
  storage: Storage,
  core: Core = keyedCore(),
): Promise<RecoveredState> {
  core.clear();
  return recover(core, storage, { poolId: POOL, founders: FOUNDERS });
}
