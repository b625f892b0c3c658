// Log entry bodies as TypeScript values, and their byte layout (docs/FORMATS.md, "Transaction
// log"). Pure: no WebAssembly. The core checks every body it seals or decodes, so `parseBody`
// runs only on bytes the core has accepted; `writeBody` checks only what would otherwise
// wrap a length field, and leaves the rest to the core.

import { CODE, HsmError } from './codes.ts';
import {
  BATCH_SIZE_MAX,
  NAME_LENGTH_MAX,
  NODES_MAX,
  NODE_ADDRESS_LENGTH_MAX,
  SNAPSHOT_NAME_LENGTH_MAX,
} from './layout.ts';
import { fromUtf8, utf8 } from './records.ts';

export const ENTRY_TYPES = {
  prepare: 1,
  commit: 2,
  abort: 3,
  'node-added': 4,
  'node-down': 5,
  'epoch-raised': 6,
  checkpoint: 7,
} as const;
export type EntryType = keyof typeof ENTRY_TYPES;
export const ENTRY_TYPE_OF_NUMBER: readonly (EntryType | undefined)[] = [
  undefined,
  'prepare',
  'commit',
  'abort',
  'node-added',
  'node-down',
  'epoch-raised',
  'checkpoint',
];

/** A member of the pool: its id and address ("host:port", printable ASCII). */
export interface PoolNode {
  readonly id: bigint;
  readonly address: string;
}

export interface PrepareBody {
  readonly type: 'prepare';
  readonly coordinator: bigint;
  readonly participants: readonly bigint[];
  /** The node list when the transaction began. */
  readonly nodes: readonly PoolNode[];
  readonly spBefore: bigint;
  readonly spvvBefore: number;
  readonly spAfter: bigint;
  readonly spvvAfter: number;
  readonly createdTick: bigint;
  /** DINAMO replicated event type, 1..32. */
  readonly event: number;
  /** May be empty. */
  readonly sourceUser: string;
  /** May be empty. */
  readonly targetName: string;
  /** An operation batch (host/core/batch.ts). */
  readonly batch: Uint8Array;
}

export interface CommitBody {
  readonly type: 'commit';
  readonly spAfter: bigint;
  readonly spvvAfter: number;
  /** Decided by the termination protocol (DINAMO's COMMITTED_TM) rather than the coordinator. */
  readonly terminated?: boolean;
}

export interface AbortBody {
  readonly type: 'abort';
  readonly reason: number;
}

export interface NodeAddedBody {
  readonly type: 'node-added';
  readonly node: PoolNode;
}

export interface NodeDownBody {
  readonly type: 'node-down';
  readonly nodeId: bigint;
}

export interface EpochRaisedBody {
  readonly type: 'epoch-raised';
  readonly epoch: bigint;
}

export interface CheckpointBody {
  readonly type: 'checkpoint';
  /** The last entry the snapshot reflects: always the CHECKPOINT entry's sequence minus 1. */
  readonly snapshotSequence: bigint;
  readonly sp: bigint;
  readonly spvv: number;
  readonly recordCount: bigint;
  /** [A-Za-z0-9._-], 1..64 bytes, not starting with a dot. */
  readonly snapshotName: string;
  readonly nodes: readonly PoolNode[];
}

export type EntryBody =
  | PrepareBody
  | CommitBody
  | AbortBody
  | NodeAddedBody
  | NodeDownBody
  | EpochRaisedBody
  | CheckpointBody;

const PREPARE_FIXED_SIZE = 48;
const CHECKPOINT_FIXED_SIZE = 32;
const NODE_FIXED_SIZE = 9;

function fail(detail: string): never {
  throw new HsmError(CODE.LOG_MALFORMED_BODY, detail);
}

function bounded(bytes: Uint8Array, maximum: number, what: string): Uint8Array {
  if (bytes.length > maximum) fail(`${what}: at most ${maximum} bytes`);
  return bytes;
}

function nodesSize(addresses: readonly Uint8Array[]): number {
  return addresses.reduce((sum, address) => sum + NODE_FIXED_SIZE + address.length, 0);
}

function encodeAddresses(nodes: readonly PoolNode[]): Uint8Array[] {
  if (nodes.length > NODES_MAX) fail(`nodes: at most ${NODES_MAX}`);
  return nodes.map((node) => bounded(utf8(node.address), NODE_ADDRESS_LENGTH_MAX, 'node address'));
}

/** A little-endian writer over a byte range (wasm memory or a plain array). */
class Writer {
  constructor(
    readonly bytes: Uint8Array,
    readonly view: DataView,
    public at: number,
  ) {}
  u8(value: number): void {
    this.view.setUint8(this.at, value);
    this.at += 1;
  }
  u16(value: number): void {
    this.view.setUint16(this.at, value, true);
    this.at += 2;
  }
  u32(value: number): void {
    this.view.setUint32(this.at, value, true);
    this.at += 4;
  }
  u64(value: bigint): void {
    this.view.setBigUint64(this.at, BigInt.asUintN(64, value), true);
    this.at += 8;
  }
  raw(data: Uint8Array): void {
    this.bytes.set(data, this.at);
    this.at += data.length;
  }
  zeros(count: number): void {
    this.bytes.fill(0, this.at, this.at + count);
    this.at += count;
  }
  nodes(nodes: readonly PoolNode[], addresses: readonly Uint8Array[]): void {
    nodes.forEach((node, i) => {
      this.u64(node.id);
      this.u8(addresses[i].length);
      this.raw(addresses[i]);
    });
  }
}

/** A body ready to be written: its size and a function writing it. */
export interface BodyPlan {
  readonly size: number;
  write(bytes: Uint8Array, view: DataView, at: number): void;
}

function planPrepare(body: PrepareBody): BodyPlan {
  if (body.participants.length > NODES_MAX) fail(`participants: at most ${NODES_MAX}`);
  if (body.batch.length > BATCH_SIZE_MAX) fail(`batch: at most ${BATCH_SIZE_MAX} bytes`);
  const addresses = encodeAddresses(body.nodes);
  const source = bounded(utf8(body.sourceUser), NAME_LENGTH_MAX, 'source user');
  const target = bounded(utf8(body.targetName), NAME_LENGTH_MAX, 'target name');
  const size =
    PREPARE_FIXED_SIZE +
    8 * body.participants.length +
    nodesSize(addresses) +
    source.length +
    target.length +
    body.batch.length;
  return {
    size,
    write(bytes, view, at) {
      const w = new Writer(bytes, view, at);
      w.u64(body.coordinator);
      w.u64(body.spBefore);
      w.u64(body.spAfter);
      w.u64(body.createdTick);
      w.u16(body.spvvBefore);
      w.u16(body.spvvAfter);
      w.u8(body.event);
      w.u8(body.participants.length);
      w.u8(body.nodes.length);
      w.u8(source.length);
      w.u8(target.length);
      w.zeros(3);
      w.u32(body.batch.length);
      for (const id of body.participants) w.u64(id);
      w.nodes(body.nodes, addresses);
      w.raw(source);
      w.raw(target);
      w.raw(body.batch);
    },
  };
}

function planCheckpoint(body: CheckpointBody): BodyPlan {
  const name = bounded(utf8(body.snapshotName), SNAPSHOT_NAME_LENGTH_MAX, 'snapshot name');
  const addresses = encodeAddresses(body.nodes);
  return {
    size: CHECKPOINT_FIXED_SIZE + name.length + nodesSize(addresses),
    write(bytes, view, at) {
      const w = new Writer(bytes, view, at);
      w.u64(body.snapshotSequence);
      w.u64(body.sp);
      w.u64(body.recordCount);
      w.u16(body.spvv);
      w.u8(name.length);
      w.u8(body.nodes.length);
      w.zeros(4);
      w.raw(name);
      w.nodes(body.nodes, addresses);
    },
  };
}

function planFixed(size: number, fill: (w: Writer) => void): BodyPlan {
  return { size, write: (bytes, view, at) => fill(new Writer(bytes, view, at)) };
}

/** The size and writer of a body; throws HsmError 38311 for a field that does not fit its length field. */
export function planBody(body: EntryBody): BodyPlan {
  switch (body.type) {
    case 'prepare':
      return planPrepare(body);
    case 'checkpoint':
      return planCheckpoint(body);
    case 'commit':
      return planFixed(16, (w) => {
        w.u64(body.spAfter);
        w.u16(body.spvvAfter);
        w.u8(body.terminated ? 1 : 0);
        w.zeros(5);
      });
    case 'abort':
      return planFixed(8, (w) => {
        w.u32(body.reason);
        w.zeros(4);
      });
    case 'node-down':
      return planFixed(8, (w) => w.u64(body.nodeId));
    case 'epoch-raised':
      return planFixed(8, (w) => w.u64(body.epoch));
    case 'node-added': {
      const addresses = encodeAddresses([body.node]);
      return planFixed(nodesSize(addresses), (w) => w.nodes([body.node], addresses));
    }
  }
}

/** A little-endian reader over a body the core has accepted. */
class Reader {
  private readonly view: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    public at = 0,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u8(): number {
    return this.view.getUint8(this.at++);
  }
  u16(): number {
    const v = this.view.getUint16(this.at, true);
    this.at += 2;
    return v;
  }
  u32(): number {
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  u64(): bigint {
    const v = this.view.getBigUint64(this.at, true);
    this.at += 8;
    return v;
  }
  raw(length: number): Uint8Array {
    const v = this.bytes.slice(this.at, this.at + length);
    this.at += length;
    return v;
  }
  text(length: number): string {
    return fromUtf8(this.raw(length));
  }
  nodes(count: number): PoolNode[] {
    const nodes: PoolNode[] = [];
    for (let i = 0; i < count; i++) {
      const id = this.u64();
      nodes.push({ id, address: this.text(this.u8()) });
    }
    return nodes;
  }
}

function parsePrepare(r: Reader): PrepareBody {
  const coordinator = r.u64(),
    spBefore = r.u64(),
    spAfter = r.u64(),
    createdTick = r.u64();
  const spvvBefore = r.u16(),
    spvvAfter = r.u16();
  const event = r.u8(),
    participantCount = r.u8(),
    nodeCount = r.u8(),
    sourceLength = r.u8(),
    targetLength = r.u8();
  r.at += 3;
  const batchLength = r.u32();
  const participants = Array.from({ length: participantCount }, () => r.u64());
  const nodes = r.nodes(nodeCount);
  const sourceUser = r.text(sourceLength);
  const targetName = r.text(targetLength);
  return {
    type: 'prepare',
    coordinator,
    participants,
    nodes,
    spBefore,
    spvvBefore,
    spAfter,
    spvvAfter,
    createdTick,
    event,
    sourceUser,
    targetName,
    batch: r.raw(batchLength),
  };
}

function parseCheckpoint(r: Reader): CheckpointBody {
  const snapshotSequence = r.u64(),
    sp = r.u64(),
    recordCount = r.u64();
  const spvv = r.u16(),
    nameLength = r.u8(),
    nodeCount = r.u8();
  r.at += 4;
  const snapshotName = r.text(nameLength);
  return {
    type: 'checkpoint',
    snapshotSequence,
    sp,
    spvv,
    recordCount,
    snapshotName,
    nodes: r.nodes(nodeCount),
  };
}

/** Reads a body of an entry type; only for bytes the core accepted (log_check or a scan). */
export function parseBody(type: EntryType, body: Uint8Array): EntryBody {
  const r = new Reader(body);
  switch (type) {
    case 'prepare':
      return parsePrepare(r);
    case 'checkpoint':
      return parseCheckpoint(r);
    case 'commit':
      return { type, spAfter: r.u64(), spvvAfter: r.u16(), terminated: r.u8() === 1 };
    case 'abort':
      return { type, reason: r.u32() };
    case 'node-added':
      return { type, node: r.nodes(1)[0] };
    case 'node-down':
      return { type, nodeId: r.u64() };
    case 'epoch-raised':
      return { type, epoch: r.u64() };
  }
}
