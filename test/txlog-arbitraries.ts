// fast-check arbitraries of log entry bodies, and a helper that chains them into a log.

import fc from 'fast-check';
import { encodeBatch, type Operation, type Write } from '../host/core/batch.ts';
import type { Core } from '../host/core/core.ts';
import { LogEncoder, type EntryBody, type PoolNode } from '../host/core/txlog.ts';
import { nameArbitrary } from './fixtures.ts';
import { POOL, concat } from './txlog-helpers.ts';

const id64 = fc.bigInt({ min: 1n, max: (1n << 64n) - 1n });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const u16 = fc.integer({ min: 0, max: 0xffff });
const addressArbitrary = fc.string({
  unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
  minLength: 1,
  maxLength: 64,
});
const nodeArbitrary: fc.Arbitrary<PoolNode> = fc.record({ id: id64, address: addressArbitrary });
const nodesArbitrary = fc.uniqueArray(nodeArbitrary, {
  selector: (node) => node.id,
  maxLength: 16,
});
const optionalName = fc.oneof(fc.constant(''), nameArbitrary);
const snapshotNameArbitrary = fc
  .string({ unit: fc.constantFrom(...'abcXYZ0189._-'), minLength: 1, maxLength: 64 })
  .filter((name) => !name.startsWith('.'));

const operationArbitrary: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({
    op: fc.constantFrom('insert' as const, 'replace' as const),
    record: fc.uint8Array({ maxLength: 300 }),
  }),
  fc.record({
    op: fc.constant('delete' as const),
    kind: fc.constantFrom('user' as const, 'object' as const, 'policy' as const),
    name: nameArbitrary,
  }),
);
const writeArbitrary: fc.Arbitrary<Write> = fc.record({
  event: fc.constantFrom('NULL' as const, 'CREATE_USR' as const, 'DELETE_OBJ' as const),
  operations: fc.array(operationArbitrary, { minLength: 1, maxLength: 4 }),
});
const batchArbitrary = fc.array(writeArbitrary, { minLength: 1, maxLength: 3 }).map(encodeBatch);

const prepareArbitrary: fc.Arbitrary<EntryBody> = fc.record({
  type: fc.constant('prepare' as const),
  coordinator: id64,
  participants: fc.uniqueArray(id64, { maxLength: 16 }),
  nodes: nodesArbitrary,
  spBefore: u64,
  spvvBefore: u16,
  spAfter: u64,
  spvvAfter: u16,
  createdTick: u64,
  event: fc.integer({ min: 1, max: 32 }),
  sourceUser: optionalName,
  targetName: optionalName,
  batch: batchArbitrary,
});

/** A body, with the checkpoint's sequence and the raised epoch fixed up when it is chained. */
export const bodyArbitrary: fc.Arbitrary<EntryBody> = fc.oneof(
  prepareArbitrary,
  fc.record({
    type: fc.constant('commit' as const),
    spAfter: u64,
    spvvAfter: u16,
    terminated: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('abort' as const),
    reason: fc.integer({ min: 0, max: 0xffffffff }),
  }),
  fc.record({ type: fc.constant('node-added' as const), node: nodeArbitrary }),
  fc.record({ type: fc.constant('node-down' as const), nodeId: id64 }),
  fc.record({
    type: fc.constant('epoch-raised' as const),
    epoch: fc.bigInt({ min: 1n, max: 1000n }),
  }),
  fc.record({
    type: fc.constant('checkpoint' as const),
    snapshotSequence: fc.constant(0n),
    sp: u64,
    spvv: u16,
    recordCount: fc.bigInt({ min: 0n, max: 1n << 21n }),
    snapshotName: snapshotNameArbitrary,
    nodes: nodesArbitrary,
  }),
);

export const bodiesArbitrary = fc.array(bodyArbitrary, { minLength: 1, maxLength: 8 });

/** Chains bodies into a log: transaction ids for PREPARE/COMMIT/ABORT, epochs that rise, checkpoint sequences. */
export function encodeBodies(
  core: Core,
  items: readonly EntryBody[],
): { log: Uint8Array; entries: Uint8Array[]; bodies: EntryBody[] } {
  const encoder = new LogEncoder(core, POOL, undefined, 1n);
  const bodies: EntryBody[] = [];
  const entries = items.map((item, i) => {
    let body = item;
    if (body.type === 'epoch-raised') body = { ...body, epoch: encoder.currentEpoch + body.epoch };
    if (body.type === 'checkpoint') body = { ...body, snapshotSequence: encoder.last.sequence };
    bodies.push(body);
    return encoder.encode(body, { transactionId: BigInt(i + 1) });
  });
  return { log: concat(entries), entries, bodies };
}
