// Transaction outcomes kept durably beside each checkpoint (host/appliance/transaction-
// outcomes.ts): the format, and the node that forgot its no-vote once compaction dropped the
// ABORT entry (the simulator found a transaction aborted and then committed on one node).

import { describe, expect, it } from 'vitest';
import {
  decodeTransactionOutcomes,
  encodeTransactionOutcomes,
} from '../../host/log/transaction-outcomes.ts';
import type { Transaction } from '../../host/protocol/types.ts';
import { MemoryStorage } from '../../host/storage/memory.ts';
import { thrownCode } from '../fixtures.ts';
import { LONE_NODE, openLoneRuntime } from '../pool-writes.ts';
import { toNodeId, toTxId } from '../../host/wire/ids.ts';

const SAMPLE: [string, boolean][] = [
  ['0123456789abcdef', true],
  ['fedcba9876543210', false],
];

describe('transaction outcomes blob', () => {
  it('has golden bytes and decodes back to what was encoded', () => {
    const bytes = encodeTransactionOutcomes(SAMPLE);
    expect(Buffer.from(bytes.subarray(0, 12 + 2 * 16)).toString('hex')).toBe(
      '4853544f' +
        '01000000' +
        '02000000' +
        'efcdab8967452301' +
        '01000000000000' +
        '00' +
        '1032547698badcfe' +
        '00000000000000' +
        '00',
    );
    expect(bytes.length).toBe(12 + 32 + 32);
    expect(decodeTransactionOutcomes(bytes)).toEqual(SAMPLE);
  });

  it('refuses a damaged blob whole (37027)', () => {
    const bytes = encodeTransactionOutcomes(SAMPLE);
    for (const at of [0, 4, 5, 8, 20, 21, bytes.length - 1]) {
      const bad = bytes.slice();
      bad[at] ^= 1;
      expect(thrownCode(() => decodeTransactionOutcomes(bad))).toBe(37027);
    }
    expect(thrownCode(() => decodeTransactionOutcomes(bytes.subarray(0, 40)))).toBe(37027);
  });
});

it('a node remembers its no-vote after compaction dropped the ABORT entry and it restarted', async () => {
  const storage = new MemoryStorage();
  const self = LONE_NODE;
  const open = () => openLoneRuntime(storage, 4, 600);
  const runtime = await open();
  const stranger = toNodeId('00000000000000ff');
  const abort = (txid: string): void => {
    // A participant's no-vote (participant.ts voteNo) logs the ABORT and remembers it: here to
    // a PREPARE that does not name this node.
    const { digest, sp, spvv } = runtime.replica.status();
    const tx: Transaction = {
      txid: toTxId(txid),
      epoch: 0,
      coordinator: stranger,
      participants: [],
      nodes: [],
      spBefore: sp,
      spvvBefore: spvv,
      spAfter: sp,
      spvvAfter: spvv,
      tick: 0,
      event: 0,
      sourceUser: 'alice',
      target: 'k',
      batch: new Uint8Array(4),
    };
    const body = { type: 'prepare', tx } as const;
    runtime.replica.receive({ from: stranger, to: self.id, epoch: 0, digest, sp, spvv, body });
  };
  const flush = async (): Promise<number> => {
    const batch = runtime.takeBatch();
    await runtime.storeBatch(batch);
    if (batch.checkpoint) await runtime.storeCheckpoint(batch.checkpoint);
    return batch.checkpoint ? 1 : 0;
  };
  const refused = '00000000000000aa';
  abort(refused);
  let checkpoints = await flush();
  for (let i = 1; i <= 30; i++) {
    abort(i.toString(16).padStart(16, '0'));
    checkpoints += await flush();
  }
  expect(checkpoints).toBeGreaterThan(3);
  // The ABORT of `refused` is no longer in the log: only the blob keeps it.
  const again = await open();
  expect(again.recovered.outcomes.has(BigInt(`0x${refused}`))).toBe(false);
  expect(again.replica.outcomes.get(toTxId(refused))).toBe(false);
});
