// One live-sync measurement for bench:live-sync: an in-process pool of 3 appliances (memory
// storage, the memory transport with the real secure channel, sealed by node:crypto as real
// nodes in Node seal) loaded with `keys` keys through
// the pool (group commit, never written into the stores directly), a writer committing on a
// member that is not the donor, and a new node joining by live-sync meanwhile. Then, in the
// same run, the offline route over the same state: a backup of the donor restored into an
// empty core (backup format v2: encodeBackupStream / importBackupStream).

import { InProcessPool } from '../../host/testing/in-process-pool.ts';
import { joinInProcess } from '../../host/testing/live-sync-pool.ts';
import { keyedCore, sampleObject, TEST_SVMK } from '../../test/fixtures.ts';
import { Random } from '../../host/protocol/random.ts';
import { encodeBackupStream } from '../../host/backup/format-v2.ts';
import { importBackupStream, restoreBackup } from '../../host/backup/restore.ts';
import { MemoryStorage } from '../../host/storage/memory.ts';
import { toPoolNode } from '../../host/log/log-records.ts';
import { joinBytes } from '../../host/wire/bytes.ts';
import { CODE } from '../../host/core/codes.ts';
import type { Profiler } from './profile.ts';
import { NODE_CHACHA, nodeSha256 } from '../../host/wire/crypto-engine.node.ts';

const codec = keyedCore();
const ids = new Random(2024);
const write = (name: string) => ({
  requestId: ids.id64() + ids.id64(),
  event: 'CREATE_OBJ' as const,
  sourceUser: 'alice',
  target: name,
  operations: [{ op: 'insert' as const, record: codec.encode(sampleObject(name)) }],
});
const yieldNow = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));
const since = (start: number): number => (performance.now() - start) / 1000;
/** CPU seconds (user + system) of this process since `start`: steadier than the clock when
 * another job shares the machine, and the whole join is CPU on this one thread. */
const cpuSince = (start: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
};
const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

async function drive<T>(pool: InProcessPool, promise: Promise<T>): Promise<T> {
  let done = false;
  const result = promise.finally(() => (done = true));
  result.catch(() => {});
  while (!done) await pool.run(1);
  return result;
}

async function preload(pool: InProcessPool, keys: number): Promise<void> {
  const inFlight = 1000; // more at once are answered busy (36000)
  for (let start = 0; start < keys; start += inFlight) {
    const count = Math.min(inFlight, keys - start);
    const writes = Array.from({ length: count }, (_, i) => write(`k${start + i}`));
    const replies = await drive(
      pool,
      Promise.all(writes.map((request) => pool.appliances[0].write(request))),
    );
    const failed = replies.find((reply) => reply.code !== 0);
    if (failed) throw new Error(`preload: ${failed.code}`);
  }
}

/** The writer: one write at a time on a member that is not the donor, retrying busy answers. */
function startWriter(pool: InProcessPool) {
  const acknowledged: string[] = [];
  const codes = new Map<number, number>();
  let writing = true;
  const done = (async () => {
    for (let i = 0; writing; i++) {
      const request = write(`w${i}`);
      for (;;) {
        const reply = await pool.appliances[1].write(request);
        codes.set(reply.code, (codes.get(reply.code) ?? 0) + 1);
        await yieldNow();
        if (reply.code === 0) {
          acknowledged.push(request.target);
          break;
        }
        if (reply.code !== CODE.REPLICATION_BUSY || !writing) break;
      }
    }
  })();
  const stop = async (): Promise<void> => {
    writing = false;
    await drive(pool, done);
  };
  return { acknowledged, codes, stop };
}

/** Backup of the donor's state (format v2, as `hsmpool backup` writes) and its restore, timed;
 * in memory, no disk, like the live-sync beside it. The restore is timed twice, each from the
 * same backup: into a node's storage as `hsmpool restore` does it (restoreBackup: import, then
 * the checkpoint the node will start from), which is the anchor, and into a bare core only
 * (the anchor of earlier runs, kept for comparison). */
async function backupAndRestore(pool: InProcessPool) {
  const donor = pool.appliances[0];
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const backup = joinBytes([
    ...encodeBackupStream(
      {
        poolId: donor.poolId,
        domain: donor.info().domain,
        createdMs: Date.now(),
        snapshot: donor.core.snapshotPieces(),
        aead: NODE_CHACHA, // as a node in Node seals it (server/sessions.ts)
      },
      TEST_SVMK,
    ),
  ]);
  const backupSeconds = since(start);
  const target = {
    poolId: donor.poolId,
    domain: donor.info().domain,
    founders: pool.founders.map(toPoolNode),
  };
  const restoreStart = performance.now();
  const restored = await restoreBackup(
    keyedCore(),
    keyedCore(),
    new MemoryStorage(),
    backup,
    TEST_SVMK,
    target,
    NODE_CHACHA, // as `hsmpool restore` opens it
  );
  const restoreSeconds = since(restoreStart);
  const cpuSeconds = cpuSince(cpuStart);
  const coreStart = performance.now();
  await importBackupStream(keyedCore(), backup, TEST_SVMK, undefined, NODE_CHACHA);
  const importOnlySeconds = since(coreStart);
  const seconds = backupSeconds + restoreSeconds;
  return {
    seconds: round(seconds),
    cpuSeconds: round(cpuSeconds),
    backupSeconds: round(backupSeconds),
    restoreSeconds: round(restoreSeconds),
    /** Backup, then its import into a bare core only: no checkpoint for a node to start from. */
    intoCoreSeconds: round(backupSeconds + importOnlySeconds),
    bytes: backup.length,
    records: restored.syncPoint.count,
    offline: true,
  };
}

export async function liveSyncRun(keys: number, profiler?: () => Promise<Profiler>) {
  const pool = await InProcessPool.start({
    nodes: 3,
    svmk: TEST_SVMK,
    newCore: () => keyedCore(),
    seed: 17,
    aead: NODE_CHACHA, // as real nodes in Node (transport/ws.node.ts)
    sha256: nodeSha256, // as real nodes in Node (cli/node-command.ts)
  });
  await pool.run(5);
  const loadStart = performance.now();
  await preload(pool, keys);
  const loadSeconds = since(loadStart);
  console.log(`${keys} keys loaded through the pool (group commit) in ${loadSeconds.toFixed(1)} s`);
  const writer = startWriter(pool);
  await pool.run(20);

  const profile = await profiler?.();
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  let transferSeconds = 0;
  const join = joinInProcess(pool, {
    onProgress: (progress) => {
      if (progress.phase === 'done' && transferSeconds === 0) transferSeconds = since(started);
    },
  });
  const { appliance: joiner, joined } = await drive(pool, join.done);
  const seconds = since(started);
  const cpuSeconds = cpuSince(cpuStart);
  await profile?.stop(`live-sync-${keys}`);
  await pool.run(50);
  await writer.stop();
  const after = await drive(pool, pool.appliances[0].write(write('after-join')));
  await pool.run(30);
  const offline = await backupAndRestore(pool);

  const sps = pool.appliances.map((appliance) => appliance.info().syncPoint.hex);
  const names = new Set(
    joiner.core.list().map((record) => (codec.decode(record) as { name: string }).name),
  );
  const missing =
    writer.acknowledged.filter((name) => !names.has(name)).length +
    (names.has('after-join') ? 0 : 1);
  const busyOnly = [...writer.codes.keys()].every(
    (code) => code === 0 || code === CODE.REPLICATION_BUSY,
  );
  await pool.close();
  const mb = joined.bytes / 1e6;
  return {
    keys,
    liveSync: {
      seconds: round(seconds),
      cpuSeconds: round(cpuSeconds),
      mbPerSecond: round(mb / seconds, 2),
      transferSeconds: round(transferSeconds),
      transferMbPerSecond: round(mb / transferSeconds, 2),
      snapshotBytes: joined.bytes,
      records: joined.records,
      catchUpTransactions: joined.commits,
    },
    backupRestore: { ...offline, mbPerSecond: round(offline.bytes / 1e6 / offline.seconds, 2) },
    liveSyncOverBackupRestore: round(offline.seconds / seconds, 2),
    writer: { acknowledged: writer.acknowledged.length, codes: Object.fromEntries(writer.codes) },
    afterJoinWrite: after.code,
    syncPointsEqual: new Set(sps).size === 1,
    acknowledgedMissingOnJoiner: missing,
    ok: new Set(sps).size === 1 && missing === 0 && busyOnly && after.code === 0,
    loadSeconds: round(loadSeconds, 1),
  };
}
