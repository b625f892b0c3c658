// Two replicas over a fake key store that only counts what it applied (the KeyStore interface
// is all the protocol uses), and a pump that carries their messages as a host does: persist
// first, then send. Shared by the replica and forwarding tests.

import { Random } from '../../host/protocol/random.ts';
import { Replica } from '../../host/protocol/replica.ts';
import type { KeyStore } from '../../host/protocol/state.ts';
import type { ClientReply, Envelope, LogRecord, NodeAddress } from '../../host/protocol/types.ts';
import { toNodeId } from '../../host/wire/ids.ts';

/** A key store that only counts the batches it applied: its SP is that count. */
export class CountingStore implements KeyStore {
  applied = 0;
  syncPoint(): { sp: bigint; spvv: number } {
    return { sp: BigInt(this.applied), spvv: this.applied };
  }
  apply(batch: Uint8Array, dryRun = false) {
    const writes = new DataView(batch.buffer, batch.byteOffset).getUint16(0, true);
    if (!dryRun) this.applied++;
    const after = this.applied + (dryRun ? 1 : 0);
    return {
      writeResults: new Array<number>(writes).fill(0),
      syncPoint: { sp: BigInt(after), spvv: after },
    };
  }
}

export const nodes: NodeAddress[] = [
  { id: toNodeId('000000000000000a'), address: 'a:7001' },
  { id: toNodeId('000000000000000b'), address: 'b:7001' },
];

export interface Node {
  replica: Replica<CountingStore>;
  persisted: LogRecord[];
  replies: ClientReply[];
}

export function pool(): Node[] {
  return nodes.map((node, i) => ({
    replica: new Replica({
      id: node.id,
      core: new CountingStore(),
      random: new Random(i + 1),
      founders: nodes,
    }),
    persisted: [],
    replies: [],
  }));
}

/** Delivers every message until none is left (persist before send, as a host does); the
 * invariants are checked after every step. A message `keep` refuses is dropped (lost). */
export function run(pool: Node[], keep: (envelope: Envelope) => boolean = () => true): void {
  for (let round = 0; round < 100; round++) {
    let moved = false;
    for (const node of pool) {
      node.replica.checkInvariants();
      const ready = node.replica.ready();
      node.persisted.push(...ready.persist);
      node.replies.push(...ready.replies);
      for (const envelope of [...ready.early, ...ready.messages]) {
        if (!keep(envelope)) continue;
        moved = true;
        pool.find((other) => other.replica.id === envelope.to)!.replica.receive(envelope);
      }
    }
    if (!moved) return;
  }
  throw new Error('the pool did not settle');
}

export const write = (requestId: string) =>
  ({
    kind: 'write',
    requestId,
    event: 'CREATE_OBJ',
    operations: [{ op: 'insert', record: new Uint8Array([1, 2, 3]) }],
    sourceUser: 'alice',
    target: 'k',
  }) as const;

export const REQUEST = '0123456789abcdef0123456789abcdef';
