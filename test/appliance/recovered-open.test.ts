// A node opened on a store its start-up check recovered already (runtime.ts `recovered`, the
// CLI's phase 1 in startup-check.ts): the open reads no snapshot and imports nothing again,
// cuts the torn tail the read-only recovery left, and the node runs from that state.

import { expect, it } from 'vitest';
import { Appliance, type ApplianceOptions } from '../../host/appliance/appliance.ts';
import { recoverStore } from '../../host/appliance/runtime.ts';
import { Random } from '../../host/protocol/random.ts';
import { MemoryStorage } from '../../host/storage/memory.ts';
import { readOnlyView, type Storage } from '../../host/storage/storage.ts';
import { MemoryHub, MemoryTransport } from '../../host/transport/memory.ts';
import { toNodeId } from '../../host/wire/ids.ts';
import { TEST_SVMK, keyedCore } from '../fixtures.ts';
import { commitAlone, objectWrites } from '../pool-writes.ts';

const id = toNodeId('00000000000000a1');
const address = '127.0.0.1:7001';
const poolId = 0xb2n;
const founders = [{ id, address }];

function options(storage: Storage, extra: Partial<ApplianceOptions> = {}): ApplianceOptions {
  return {
    id,
    address,
    domain: 'recovered',
    poolId,
    founders,
    storage,
    core: keyedCore(),
    random: new Random(3),
    transport: new MemoryTransport({ hub: new MemoryHub(), nodeId: id, address, svmk: TEST_SVMK }),
    checkpointBytes: 2048,
    ...extra,
  };
}

// One source of request ids for the whole test: a repeated id would be answered as a retry.
const write = objectWrites(91);

async function commit(appliance: Appliance, names: readonly string[]): Promise<void> {
  for (const name of names) await commitAlone(appliance, write(name));
}

/** The storage itself, with its snapshot reads counted. */
function counted(storage: Storage, reads: { snapshots: number }): Storage {
  return new Proxy(storage, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (property === 'readSnapshot')
        return (name: string) => (reads.snapshots++, target.readSnapshot(name));
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

it('opens on the recovered store without reading a snapshot, cuts the torn tail, and runs on', async () => {
  const storage = new MemoryStorage();
  const first = await Appliance.open(options(storage));
  await commit(
    first,
    Array.from({ length: 30 }, (_, i) => `k${i}`),
  );
  const sp = first.core.syncPoint();
  await first.close();
  expect((await storage.listSnapshots()).length).toBeGreaterThan(0); // a checkpoint to import
  const logLength = await storage.logSize();
  await storage.appendLog(new TextEncoder().encode('HPLG\x01torn'), true);

  // Phase 1: the node's recovery over a read-only view, into the core the node will open on.
  const checkReads = { snapshots: 0 };
  const core = keyedCore();
  const store = await recoverStore({
    core,
    storage: readOnlyView(counted(storage, checkReads), () =>
      Promise.reject(new Error('read only')),
    ),
    poolId,
    founders,
    cutTornTail: false,
  });
  expect(checkReads.snapshots).toBe(1);
  expect([store.recovered.tornBytes > 0, store.recovered.logLength]).toEqual([true, logLength]);
  expect(core.syncPoint()).toEqual(sp);

  // Phase 2: the open takes that store.
  const openReads = { snapshots: 0 };
  const second = await Appliance.open(
    options(counted(storage, openReads), { core, recovered: store }),
  );
  expect(openReads.snapshots).toBe(0);
  expect(await storage.logSize()).toBe(logLength);
  expect(second.core).toBe(core);
  expect(second.core.syncPoint()).toEqual(sp);
  await commit(second, ['after']);
  const after = second.core.syncPoint();
  expect(after.count).toBe(31);
  await second.close();

  // A plain open of what it left (the counter counts: this one reads its checkpoint).
  const plainReads = { snapshots: 0 };
  const third = await Appliance.open(options(counted(storage, plainReads)));
  expect(plainReads.snapshots).toBeGreaterThan(0);
  expect([third.core.syncPoint(), third.core.count()]).toEqual([after, 31]);
  await third.close();
});
