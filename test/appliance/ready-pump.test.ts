// The Ready pump carries a step's output out in the order that keeps "persist before you
// speak", and with no hop that is not I/O: a coordinator's early PREPARE leaves before its
// record is written, the rest right after the write completes (same turn, microtasks only).

import { describe, expect, it } from 'vitest';
import { NodeRuntime } from '../../host/appliance/runtime.ts';
import { pumpReady } from '../../host/appliance/ready-pump.ts';
import { Random } from '../../host/protocol/random.ts';
import type { ClientReply, Envelope } from '../../host/protocol/types.ts';
import { MemoryStorage } from '../../host/storage/memory.ts';
import { toHex } from '../../host/wire/bytes.ts';
import { keyedCore, sampleObject } from '../fixtures.ts';
import { nodeIdOfNumber } from '../../host/wire/ids.ts';

/** Memory storage whose log appends complete when the test says so. */
class HeldStorage extends MemoryStorage {
  held: (() => void)[] = [];
  hold = false;
  override async appendLog(bytes: Uint8Array, durable: boolean): Promise<void> {
    if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
    return super.appendLog(bytes, durable);
  }
}

async function node(founders: number): Promise<{ runtime: NodeRuntime; storage: HeldStorage }> {
  const storage = new HeldStorage();
  const nodes = Array.from({ length: founders }, (_, i) => ({
    id: nodeIdOfNumber(BigInt(i + 1)),
    address: `n${i + 1}:7001`,
  }));
  const runtime = await NodeRuntime.open({
    id: nodes[0].id,
    poolId: 1n,
    founders: nodes,
    storage,
    core: keyedCore(),
    random: new Random(7),
  });
  storage.hold = true;
  return { runtime, storage };
}

function write(runtime: NodeRuntime, label: string): void {
  const core = keyedCore();
  runtime.replica.request({
    kind: 'write',
    requestId: toHex(new TextEncoder().encode(label.padEnd(16, '.'))),
    event: 'CREATE_OBJ',
    operations: [{ op: 'insert', record: core.encode(sampleObject(label)) }],
    sourceUser: 'alice',
    target: label,
  });
}

const nextMacrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('the Ready pump', () => {
  it("sends a coordinator's PREPARE while its record is being written, nothing else", async () => {
    const { runtime, storage } = await node(3);
    write(runtime, 'w1');
    const sent: Envelope[] = [];
    const pump = pumpReady(runtime, {
      running: () => true,
      send: (envelope) => sent.push(envelope),
      reply: () => {},
    });
    await nextMacrotask();
    expect(storage.held).toHaveLength(1); // the PREPARE record is not durable yet
    expect(sent.map((e) => e.body.type)).toEqual(['prepare', 'prepare']);
    storage.held.shift()!();
    await pump;
  });

  it('delivers replies in the turn the durable append completes (no timer or tick hop)', async () => {
    const { runtime, storage } = await node(1); // alone: it decides in the step it begins
    write(runtime, 'w1');
    const replies: ClientReply[] = [];
    const pump = pumpReady(runtime, {
      running: () => true,
      send: () => {},
      reply: (reply) => replies.push(reply),
    });
    await nextMacrotask();
    expect(replies).toEqual([]); // PREPARE and COMMIT are not durable: nothing said yet
    let hopped = false;
    setImmediate(() => (hopped = true));
    storage.held.shift()!();
    await pump;
    expect(replies.map((reply) => reply.code)).toEqual([0]);
    expect(hopped).toBe(false);
  });
});
