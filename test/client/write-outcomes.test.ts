// "A busy answer means not committed" (issue 11, item 1), over in-process pools of appliances
// (memory transport, real secure channel): a write held in a transaction past its deadline is
// answered "outcome pending" (38720), never busy, and commits once; a retry of an in-flight
// request id waits for the original; a write still only queued at its deadline is withdrawn and
// never commits; the SDK reports WRITE_OUTCOME_UNKNOWN (1006) with the request id, and
// `client.outcome()` or a retry with the caller's own request id learns the original outcome.

import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { WRITE_TIMEOUT_TICKS, type Appliance } from '../../host/appliance/appliance.ts';
import { InProcessPool } from '../../host/testing/in-process-pool.ts';
import { HsmClient } from '../../host/client/client.ts';
import { WriteOutcomeUnknownError } from '../../host/client/options.ts';
import { MemoryNetwork } from '../../host/testing/memory-connection.ts';
import { HsmError, RETURN_CODES, code, writeOutcome } from '../../host/core/codes.ts';
import type { ServiceBackend } from '../../host/service/backend.ts';
import { CryptoEngine } from '../../host/wire/crypto-engine.ts';
import { Service } from '../../host/service/service.ts';
import { bootstrapPool } from '../../host/service/users.ts';
import { keyedCore, TEST_SVMK, rejection } from '../fixtures.ts';
import { drive, objectWrites, startPool } from '../pool-writes.ts';
import { ADMIN_PASSWORD, TEST_KDF, seededRandomBytes } from '../service-fixtures.ts';

const codec = keyedCore();
const write = objectWrites(11);
let pool: InProcessPool | undefined;

afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

async function threeNodes(): Promise<InProcessPool> {
  pool = await startPool({ nodes: 3 });
  await pool.run(5);
  return pool;
}

/** Cuts node i off (its links drop, dials fail) or joins it again. */
function cut(p: InProcessPool, i: number, isolated: boolean): void {
  p.hub.setIsolated(p.founders[i].address, isolated);
}

function objectsOn(appliance: Appliance): string[] {
  return appliance.core
    .list()
    .map((bytes) => codec.decode(bytes).name)
    .sort();
}

/** Runs the pool until node `appliance` no longer reports the write pending (the heal has let
 * its transaction finish), and returns what it reports then. */
async function finalOutcome(p: InProcessPool, appliance: Appliance, requestId: string) {
  for (let t = 0; t < 40; t++) {
    const reply = await drive(p, appliance.outcome(requestId));
    if (reply.code !== 38720) return reply;
    await p.run(50);
  }
  throw new Error(`${requestId} still pending after 2000 ticks`);
}

/** Whether a promise settled within the ticks run so far. */
function watch<T>(promise: Promise<T>): { settled: () => boolean; value: Promise<T> } {
  let done = false;
  void promise.finally(() => (done = true)).catch(() => {});
  return { settled: () => done, value: promise };
}

describe('write outcomes on the appliance', () => {
  it('a write held past its deadline by a cut participant is answered pending, not busy; after the heal its outcome is 0 and it is applied once', async () => {
    const p = await threeNodes();
    cut(p, 2, true);
    const held = write('held');
    const first = await drive(p, p.appliances[0].write(held), WRITE_TIMEOUT_TICKS + 50);
    expect(first.code).toBe(38720); // WRITE_OUTCOME_PENDING (the old code answered 36000)
    expect(writeOutcome(first.code)).toBe('unknown');
    // Still in its transaction: the node says so.
    expect((await drive(p, p.appliances[0].outcome(held.requestId))).code).toBe(38720);
    cut(p, 2, false);
    const outcome = await finalOutcome(p, p.appliances[0], held.requestId);
    expect(outcome.code).toBe(0);
    expect(outcome.txid).toMatch(/^[0-9a-f]{16}$/);
    // Every node remembers the same outcome, and a retry gets it rather than running again.
    for (const appliance of p.appliances)
      expect(await drive(p, appliance.outcome(held.requestId))).toEqual(outcome);
    const retry = await drive(p, p.appliances[1].write(held));
    expect(retry).toMatchObject({ code: 0, txid: outcome.txid });
    await p.run(30);
    for (const appliance of p.appliances) expect(objectsOn(appliance)).toEqual(['held']);
  });

  it('a retry of an in-flight request id waits for the original and gets its outcome', async () => {
    const p = await threeNodes();
    cut(p, 2, true);
    const held = write('attached');
    const original = watch(p.appliances[0].write(held));
    await p.run(50);
    const retry = watch(p.appliances[0].write(held));
    await p.run(50);
    expect(original.settled()).toBe(false);
    expect(retry.settled()).toBe(false);
    cut(p, 2, false);
    const [a, b] = await drive(p, Promise.all([original.value, retry.value]));
    expect(a.code).toBe(0);
    expect(b).toEqual(a);
    for (const appliance of p.appliances) expect(objectsOn(appliance)).toEqual(['attached']);
  });

  it('a write still only queued at its deadline is withdrawn (36000) and never commits', async () => {
    const p = await threeNodes();
    cut(p, 2, true);
    const blocking = write('blocking');
    const queued = write('queued');
    const first = watch(p.appliances[0].write(blocking));
    await p.run(10);
    const second = watch(p.appliances[0].write(queued));
    expect((await drive(p, second.value, WRITE_TIMEOUT_TICKS + 50)).code).toBe(36000);
    cut(p, 2, false);
    for (let t = 0; t < 40 && !objectsOn(p.appliances[0]).includes('blocking'); t++)
      await p.run(50);
    await p.run(200);
    for (const appliance of p.appliances) expect(objectsOn(appliance)).toEqual(['blocking']);
    expect(writeOutcome(36000)).toBe('not committed');
    expect((await first.value).code).toBe(38720);
    for (const appliance of p.appliances) {
      expect((await drive(p, appliance.outcome(queued.requestId))).code).toBe(38721);
    }
  });

  it('detach() withdraws a write still only queued (36000) and answers one in a transaction pending (38720)', async () => {
    const p = await threeNodes();
    cut(p, 2, true);
    const inTransaction = watch(p.appliances[0].write(write('in-tx')));
    await p.run(10);
    const queued = watch(p.appliances[0].write(write('in-queue')));
    await p.run(10);
    await p.appliances[0].detach();
    expect((await queued.value).code).toBe(36000);
    expect((await inTransaction.value).code).toBe(38720);
  });
});

// ---- the SDK over appliances ----

interface SdkPool {
  readonly pool: InProcessPool;
  connect(options?: { busyRetriesMax?: number }): Promise<HsmClient>;
}

/** Services over each appliance of a 3-node pool, bootstrapped with `admin`. */
async function sdkPool(): Promise<SdkPool> {
  const p = await threeNodes();
  const engine = new CryptoEngine();
  const randomBytes = seededRandomBytes(5);
  const network = new MemoryNetwork();
  p.appliances.forEach((_, i) => {
    const backend: ServiceBackend = {
      get core() {
        return p.appliances[i].core;
      },
      svmk: TEST_SVMK,
      submit: ({ kind: _kind, ...input }) => p.appliances[i].write(input),
      outcome: (requestId) => p.appliances[i].outcome(requestId),
      randomBytes,
      now: () => 0,
    };
    network.add(`node${i}`, new Service(backend, { kdf: TEST_KDF, engine }));
  });
  const bootstrap = await bootstrapPool({
    core: p.appliances[0].core,
    password: ADMIN_PASSWORD,
    kdf: TEST_KDF,
    randomBytes,
    engine,
  });
  const { kind: _kind, ...input } = bootstrap.write;
  expect((await drive(p, p.appliances[0].write(input))).code).toBe(0);
  await p.run(20);
  let clients = 0;
  return {
    pool: p,
    connect: (options = {}) =>
      drive(
        p,
        HsmClient.connect({
          nodes: ['node0'],
          user: 'admin',
          password: ADMIN_PASSWORD,
          connections: network,
          randomBytes: seededRandomBytes(100 + clients++),
          sleep: async () => {},
          retry: { busyRetriesMax: options.busyRetriesMax ?? 1 },
        }),
      ),
  };
}

describe('write outcomes in the SDK', () => {
  it('a write whose outcome is not known in time fails with WRITE_OUTCOME_UNKNOWN carrying its request id; client.outcome() later returns the committed result', async () => {
    const { pool: p, connect } = await sdkPool();
    const client = await connect();
    cut(p, 2, true);
    const error = await drive(p, rejection(client.generateKey('held-key', 'aes-256')));
    expect(error).toMatchObject({ code: 1006, codeName: 'WRITE_OUTCOME_UNKNOWN' });
    expect(error).toBeInstanceOf(WriteOutcomeUnknownError);
    expect(writeOutcome((error as HsmError).code)).toBe('unknown');
    const requestId = (error as WriteOutcomeUnknownError).requestId;
    expect(requestId).toMatch(/^[0-9a-f]{32}$/);
    expect(await drive(p, client.outcome(requestId))).toEqual({ requestId, state: 'pending' });
    cut(p, 2, false);
    expect((await finalOutcome(p, p.appliances[0], requestId)).code).toBe(0);
    const outcome = await drive(p, client.outcome(requestId));
    expect(outcome).toMatchObject({ requestId, state: 'committed', code: 0 });
    expect(outcome.txid).toMatch(/^[0-9a-f]{16}$/);
    const keys = await drive(p, client.listKeys());
    expect(keys.keys.map((key) => key.name)).toEqual(['held-key']);
    client.close();
  });

  it("a caller's own request id, sent again after WRITE_OUTCOME_UNKNOWN, gets the original outcome (no 5022)", async () => {
    const { pool: p, connect } = await sdkPool();
    const client = await connect();
    const requestId = 'ab'.repeat(16);
    cut(p, 2, true);
    const error = await drive(
      p,
      rejection(client.generateKey('mine', 'ed25519', { exportable: false, requestId })),
    );
    expect(error).toMatchObject({ code: 1006, requestId });
    cut(p, 2, false);
    // As CLIENT.md tells an application: send it again with the same request id while the
    // outcome is still unknown (the SDK's backoff is in wall-clock ms, the pool runs on ticks,
    // so on a loaded machine one call can give up before the healed pool finishes). Bounded;
    // a 5022 (the write run twice) or any other answer fails.
    let key: unknown;
    for (let sends = 0; sends < 5 && key === undefined; sends++) {
      try {
        key = await drive(p, client.generateKey('mine', 'ed25519', { requestId }));
      } catch (error) {
        if (!(error instanceof WriteOutcomeUnknownError)) throw error;
      }
    }
    expect(key).toMatchObject({ name: 'mine', keyType: 'ed25519' });
    expect((await drive(p, client.outcome(requestId))).state).toBe('committed');
    client.close();
  });

  it('an unknown request id is "unknown" on every node; a malformed one is refused before sending', async () => {
    const { pool: p, connect } = await sdkPool();
    const client = await connect();
    expect(await drive(p, client.outcome('cd'.repeat(16)))).toEqual({
      requestId: 'cd'.repeat(16),
      state: 'unknown',
    });
    await expect(client.outcome('CD'.repeat(16))).rejects.toMatchObject({ code: 1001 });
    await expect(
      client.generateKey('x', 'aes-256', { requestId: 'not-hex' }),
    ).rejects.toMatchObject({ code: 1001 });
    client.close();
  });
});

describe('the write-outcome classification', () => {
  it('classifies every code: 0 committed; unknown exactly for the codes after which a write may still commit; not committed otherwise', () => {
    const unknown = RETURN_CODES.filter((entry) => writeOutcome(entry.code) === 'unknown').map(
      (entry) => entry.name,
    );
    expect(unknown.sort()).toEqual(
      [
        'CANNOT_WORK',
        'NET_CONNECTION_LOST',
        'NET_TIMEOUT',
        'WRITE_OUTCOME_PENDING',
        'WRITE_OUTCOME_UNKNOWN',
      ].sort(),
    );
    expect(writeOutcome(0)).toBe('committed');
    for (const name of [
      'REPLICATION_BUSY',
      'REPLICATION_PEER_NOT_SYNCED',
      'NODE_FENCED',
      'ALL_NODES_FAILED',
      'NET_CONNECT_FAILED',
    ] as const)
      expect(writeOutcome(code(name))).toBe('not committed');
  });

  it('docs/CLIENT.md "Outcomes" lists write codes with the classification of host/core/codes.ts', () => {
    const page = readFileSync(new URL('../../docs/CLIENT.md', import.meta.url), 'utf8');
    const rows = [
      ...page.matchAll(/^\|\s*(-?\d+) \| (\w+)\s*\| (committed|not committed|unknown)\s*\|$/gm),
    ];
    expect(rows.length).toBeGreaterThanOrEqual(16);
    for (const [, number, name, outcome] of rows) {
      expect(code(name as Parameters<typeof code>[0])).toBe(Number(number));
      expect(writeOutcome(Number(number))).toBe(outcome);
    }
    // Every "unknown" code is in the page's table.
    const listed = new Set(rows.map((row) => Number(row[1])));
    for (const entry of RETURN_CODES)
      if (writeOutcome(entry.code) === 'unknown') expect(listed).toContain(entry.code);
  });
});
