// The protocol's log records (host/protocol/types.ts) as transaction-log entries
// (host/core/txlog.ts, docs/FORMATS.md) and back. Ids are hex strings on the protocol side
// and 64-bit integers on disk; Sync-Points are bigints on both.

import type { EntryBody, LogEncoder, PoolNode, PrepareBody } from '../core/txlog.ts';
import type {
  LogRecord,
  MembershipEvents,
  NodeAddress,
  NodeId,
  Transaction,
} from '../protocol/types.ts';
import { joinBytes } from '../wire/bytes.ts';
import { nodeIdOfNumber, txIdOfNumber } from '../wire/ids.ts';

export const toBig = (hex: string): bigint => BigInt(`0x${hex}`);

export const toPoolNode = (node: NodeAddress): PoolNode => ({
  id: toBig(node.id),
  address: node.address,
});
export const fromPoolNode = (node: PoolNode): NodeAddress => ({
  id: nodeIdOfNumber(node.id),
  address: node.address,
});

export interface EntryToWrite {
  readonly body: EntryBody;
  readonly transactionId: bigint;
  readonly epoch: bigint;
}

export function toEntry(record: LogRecord): EntryToWrite {
  switch (record.type) {
    case 'prepare':
      return {
        body: prepareBody(record.tx),
        transactionId: toBig(record.tx.txid),
        epoch: BigInt(record.tx.epoch),
      };
    case 'commit':
      return {
        body: {
          type: 'commit',
          spAfter: record.sp,
          spvvAfter: record.spvv,
          terminated: record.terminated,
        },
        transactionId: toBig(record.txid),
        epoch: BigInt(record.epoch),
      };
    case 'abort':
      return {
        body: { type: 'abort', reason: record.reason },
        transactionId: toBig(record.txid),
        epoch: BigInt(record.epoch),
      };
    case 'node-down':
      return {
        body: { type: 'node-down', nodeId: toBig(record.node) },
        transactionId: 0n,
        epoch: BigInt(record.epoch),
      };
    case 'node-added':
      return {
        body: { type: 'node-added', node: toPoolNode(record.node) },
        transactionId: 0n,
        epoch: BigInt(record.epoch),
      };
  }
}

function prepareBody(tx: Transaction): PrepareBody {
  return {
    type: 'prepare',
    coordinator: toBig(tx.coordinator),
    participants: tx.participants.map(toBig),
    nodes: tx.nodes.map(toPoolNode),
    spBefore: tx.spBefore,
    spvvBefore: tx.spvvBefore,
    spAfter: tx.spAfter,
    spvvAfter: tx.spvvAfter,
    createdTick: BigInt(tx.tick),
    event: tx.event,
    sourceUser: tx.sourceUser,
    targetName: tx.target,
    batch: tx.batch,
  };
}

export function transactionOf(
  transactionId: bigint,
  epoch: bigint,
  body: PrepareBody,
): Transaction {
  return {
    txid: txIdOfNumber(transactionId),
    epoch: Number(epoch),
    coordinator: nodeIdOfNumber(body.coordinator),
    participants: body.participants.map(nodeIdOfNumber),
    nodes: body.nodes.map(fromPoolNode),
    spBefore: body.spBefore,
    spvvBefore: body.spvvBefore,
    spAfter: body.spAfter,
    spvvAfter: body.spvvAfter,
    tick: Number(body.createdTick),
    event: body.event,
    sourceUser: body.sourceUser,
    target: body.targetName,
    batch: body.batch,
  };
}

/** Membership events as log records (at the epoch they make), except the nodes added and the
 * nodes down the log already says: a checkpoint's node list says which nodes are members,
 * nothing more, so the nodes fenced (and added, then fenced) follow it as entries. */
export function membershipRecordsBeyond(
  events: MembershipEvents,
  logged: { readonly added: ReadonlySet<NodeId>; readonly down: ReadonlySet<NodeId> },
): LogRecord[] {
  const epoch = events.added.length + events.down.length;
  return [
    ...events.added
      .filter((node) => !logged.added.has(node.id))
      .map((node): LogRecord => ({ type: 'node-added', node, epoch })),
    ...events.down
      .filter((id) => !logged.down.has(id))
      .map((node): LogRecord => ({ type: 'node-down', node, epoch })),
  ];
}

/** Log entries for records, chained by `encoder` after the last one it encoded. */
export function encodeRecords(encoder: LogEncoder, records: readonly LogRecord[]): Uint8Array {
  if (records.length === 0) return new Uint8Array(0);
  const parts = records.map((record) => {
    const entry = toEntry(record);
    return encoder.encode(entry.body, { transactionId: entry.transactionId, epoch: entry.epoch });
  });
  return parts.length === 1 ? parts[0] : joinBytes(parts);
}
