// Writes and a tick driver for tests over in-process pools (InProcessPool): one copy of what
// the appliance, live-sync, checkpoint and request-outcome tests all need.

import { Appliance, type WriteInput } from '../host/appliance/appliance.ts';
import { NodeRuntime } from '../host/appliance/runtime.ts';
import type { Storage } from '../host/storage/storage.ts';
import { toNodeId } from '../host/wire/ids.ts';
import { encodeBatch } from '../host/core/batch.ts';
import type { Core } from '../host/core/core.ts';
import { expect } from 'vitest';
import { runCommand } from '../host/server/console-commands.ts';
import type { BackupContext, BackupPiece, BackupStarted } from '../host/server/backup-transfer.ts';
import { InProcessPool, type InProcessPoolOptions } from '../host/testing/in-process-pool.ts';
import type { joinInProcess } from '../host/testing/live-sync-pool.ts';
import { Random } from '../host/protocol/random.ts';
import type { NodeAddress } from '../host/protocol/types.ts';
import { MemoryTransport } from '../host/transport/memory.ts';
import { keyedCore, sampleObject, TEST_SVMK } from './fixtures.ts';

const codec = keyedCore();

/** An in-process pool under TEST_SVMK, every node on a fresh keyed core. */
export function startPool(
  options: Omit<InProcessPoolOptions, 'svmk' | 'newCore'>,
): Promise<InProcessPool> {
  return InProcessPool.start({ svmk: TEST_SVMK, newCore: () => keyedCore(), ...options });
}

/** Writes that create an object named `name`, each with a fresh request id drawn from `seed`
 * (or the one given: a client's retry). */
export function objectWrites(seed: number): (name: string, requestId?: string) => WriteInput {
  const ids = new Random(seed);
  return (name, requestId = ids.id64() + ids.id64()) => ({
    requestId,
    event: 'CREATE_OBJ',
    sourceUser: 'alice',
    target: name,
    operations: [{ op: 'insert', record: codec.encode(sampleObject(name)) }],
  });
}

/** Puts object `name` straight into `core`, behind the replica's back: no transaction says it. */
export function applyObject(core: Core, name: string): void {
  const operations = [{ op: 'insert' as const, record: core.encode(sampleObject(name)) }];
  core.apply(encodeBatch([{ event: 'CREATE_OBJ', operations }]));
}

/** Runs the pool a tick at a time (or `step` does) until `promise` settles (or `ticksMax` ticks). */
export async function drive<T>(
  pool: InProcessPool,
  promise: Promise<T>,
  ticksMax = 20_000,
  step = () => pool.run(1),
): Promise<T> {
  let done = false;
  const result = promise.finally(() => (done = true));
  result.catch(() => {});
  for (let t = 0; t < ticksMax && !done; t++) await step();
  return result;
}

/** Opens again, from its storage, the node that `join` brought into `pool` (after its appliance
 * was closed), as the CLI restarts it: a new transport at its address, randomness from `seed`. */
export function reopenJoined(
  pool: InProcessPool,
  join: ReturnType<typeof joinInProcess>,
  options: { poolId: bigint; founders: readonly NodeAddress[]; seed: number },
): Promise<Appliance> {
  const random = new Random(options.seed + 1);
  return Appliance.open({
    id: join.node.id,
    address: join.node.address,
    domain: 'pool',
    poolId: options.poolId,
    founders: options.founders,
    storage: join.storage,
    core: keyedCore(),
    random: new Random(options.seed),
    transport: new MemoryTransport({
      hub: pool.hub,
      nodeId: join.node.id,
      address: join.node.address,
      svmk: TEST_SVMK,
      randomBytes: (n) => random.bytes(n),
    }),
  });
}

/** A whole backup fetched from `appliance` through the remote console's `backup` command, piece
 * after piece (`onPiece` runs after each piece but the first): the first answer, the last
 * piece, how many pieces and the file. */
export async function fetchBackup(
  appliance: Appliance,
  context: BackupContext,
  onPiece: (
    index: number,
    piece: BackupPiece,
    head: BackupStarted,
  ) => Promise<void> = async () => {},
) {
  const backup = (line: string) => runCommand(appliance, 'remote', line, { backup: context });
  const started = await backup('backup');
  expect(started.code).toBe(0);
  const head = started.data as BackupStarted;
  const pieces = [Buffer.from(head.data, 'base64')];
  let last: BackupPiece = head;
  for (let index = 1; !last.last; index++) {
    const answer = await backup(`backup ${head.id} ${index}`);
    expect(answer.code).toBe(0);
    last = answer.data as BackupPiece;
    pieces.push(Buffer.from(last.data, 'base64'));
    await onPiece(index, last, head);
  }
  const file = new Uint8Array(Buffer.concat(pieces));
  expect(file.length).toBe(last.bytes);
  return { head, last, pieces: pieces.length, file };
}

/** Commits `input` on a one-node appliance, ticking it until the write is answered. */
export async function commitAlone(appliance: Appliance, input: WriteInput): Promise<void> {
  const reply = appliance.write(input);
  let done = false;
  void reply.then(() => (done = true));
  while (!done) {
    appliance.tick();
    await appliance.settled();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  expect((await reply).code).toBe(0);
}

/** Closes every node of `pool` cleanly and opens each again from its storage: each must come
 * back at the SP it had. */
export async function restartAtSameSps(pool: InProcessPool): Promise<void> {
  const sps = pool.appliances.map((appliance) => appliance.info().syncPoint.hex);
  await pool.close();
  for (let i = 0; i < sps.length; i++) {
    const reopened = await pool.open(i);
    expect(reopened.info().syncPoint.hex).toBe(sps[i]);
    await reopened.close();
  }
}

/** Node 1 of a one-node pool (pool 1), alone in its founders. */
export const LONE_NODE = { id: toNodeId('0000000000000001'), address: '127.0.0.1:7001' };

/** The runtime of LONE_NODE over `storage`, on a fresh keyed core: its transaction ids come
 * from `seed` (a restart that must not repeat them takes another). */
export function openLoneRuntime(
  storage: Storage,
  seed: number,
  checkpointBytes?: number,
): Promise<NodeRuntime> {
  return NodeRuntime.open({
    id: LONE_NODE.id,
    poolId: 1n,
    founders: [LONE_NODE],
    storage,
    core: keyedCore(),
    random: new Random(seed),
    checkpointBytes,
  });
}
