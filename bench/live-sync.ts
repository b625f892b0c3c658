// bench:live-sync — the figure: live-sync of 100,000 keys into a new node while a
// writer keeps committing on the pool. An in-process pool of 3 appliances (memory storage,
// the memory transport with the real secure channel); the keys are committed through the
// pool with group commit (never written into the stores directly). Prints the duration and
// the transfer rate beside the offline alternative (backup + restore of the same state) and
// writes bench/results/live-sync.json.
//
//   npm run bench:live-sync [-- --keys 100000]

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { joinInProcess } from '../host/testing/live-sync-pool.ts';
import { keyedCore, TEST_SVMK } from '../test/fixtures.ts';
import type { JoinProgress } from '../host/protocol/live-sync/donor.ts';
import { encodeBackup } from '../host/backup/format.ts';
import { importBackup } from '../host/backup/restore.ts';
import { CODE } from '../host/core/codes.ts';
import { startPool, drive, objectWrites } from '../test/pool-writes.ts';

const argKeys = process.argv.indexOf('--keys');
const KEYS = argKeys > 0 ? Number(process.argv[argKeys + 1]) : 100_000;
const codec = keyedCore();
const write = objectWrites(2024);
const yieldNow = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

const pool = await startPool({ nodes: 3, seed: 17 });
await pool.run(5);
const loadStart = performance.now();
for (let start = 0; start < KEYS; start += 1000) {
  const replies = await drive(
    pool,
    Promise.all(
      Array.from({ length: Math.min(1000, KEYS - start) }, (_, i) =>
        pool.appliances[0].write(write(`k${start + i}`)),
      ),
    ),
    Infinity,
  );
  if (replies.some((reply) => reply.code !== 0))
    throw new Error(`preload: ${replies.find((reply) => reply.code !== 0)!.code}`);
}
const loadSeconds = (performance.now() - loadStart) / 1000;
console.log(`loaded ${KEYS} keys through the pool (group commit) in ${loadSeconds.toFixed(1)} s`);

// The writer: one write at a time on a node that is not the donor, retrying busy answers.
const acknowledged: string[] = [];
const codes = new Map<number, number>();
let writing = true;
const writer = (async () => {
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
await pool.run(20);

let last: JoinProgress | undefined;
let shown = 0;
const started = performance.now();
const join = joinInProcess(pool, {
  onProgress: (progress) => {
    last = progress;
    const now = performance.now();
    if (now - shown > 500 || progress.phase === 'done') {
      shown = now;
      console.log(
        `  ${progress.phase}: ${(progress.bytes / 1e6).toFixed(1)} MB, ${progress.records}/${progress.totalRecords} records, ${progress.commits} transactions`,
      );
    }
  },
});
const { appliance: joiner, joined } = await drive(pool, join.done, Infinity);
const seconds = (performance.now() - started) / 1000;
await pool.run(50);
writing = false;
await drive(pool, writer, Infinity);
const after = await drive(pool, pool.appliances[0].write(write('after-join')), Infinity);
await pool.run(30);

// What a user would do instead: the offline route, a backup of the donor restored into the new
// node's store (encrypt + checksum, then verify + decrypt + import; the node is down meanwhile
// and misses every commit made after the backup).
const offlineStart = performance.now();
const donor = pool.appliances[0];
const backup = encodeBackup(
  {
    poolId: donor.poolId,
    domain: donor.info().domain,
    createdMs: Date.now(),
    snapshot: donor.core.snapshotChunks(),
  },
  TEST_SVMK,
);
const encodeSeconds = (performance.now() - offlineStart) / 1000;
const restored = importBackup(keyedCore(), backup, TEST_SVMK);
const offlineSeconds = (performance.now() - offlineStart) / 1000;
console.log(
  `instead, backup + restore of the same state: ${offlineSeconds.toFixed(2)} s (${(backup.length / 1e6).toFixed(1)} MB; encode ${encodeSeconds.toFixed(2)} s), ` +
    `offline, and ${restored.syncPoint.count} records at the backup's point only`,
);

const sps = pool.appliances.map((appliance) => appliance.info().syncPoint.hex);
const names = new Set(
  joiner.core.list().map((record) => (codec.decode(record) as { name: string }).name),
);
const missing =
  acknowledged.filter((name) => !names.has(name)).length + (names.has('after-join') ? 0 : 1);
const busyOnly = [...codes.keys()].every((code) => code === 0 || code === CODE.REPLICATION_BUSY);
const result = {
  keys: KEYS,
  seconds: Number(seconds.toFixed(3)),
  snapshotBytes: joined.bytes,
  mbPerSecond: Number((joined.bytes / 1e6 / seconds).toFixed(2)),
  records: joined.records,
  catchUpTransactions: joined.commits,
  writerAcknowledged: acknowledged.length,
  writerCodes: Object.fromEntries(codes),
  afterJoinWrite: after.code,
  syncPointsEqual: new Set(sps).size === 1,
  acknowledgedMissingOnJoiner: missing,
  nodes: pool.appliances.length,
  loadSeconds: Number(loadSeconds.toFixed(1)),
  insteadBackupRestore: {
    seconds: Number(offlineSeconds.toFixed(3)),
    encodeSeconds: Number(encodeSeconds.toFixed(3)),
    bytes: backup.length,
    records: restored.syncPoint.count,
    offline: true,
  },
  machine: {
    cpus: cpus().length,
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
    node: process.version,
  },
  date: new Date().toISOString(),
};
console.log(
  `live-sync of ${KEYS} keys: ${seconds.toFixed(2)} s, ${(joined.bytes / 1e6).toFixed(1)} MB at ${result.mbPerSecond} MB/s; ` +
    `${joined.commits} transactions caught up; writer: ${acknowledged.length} acknowledged, codes ${JSON.stringify(result.writerCodes)}; ` +
    `SPs equal: ${result.syncPointsEqual}; acknowledged writes missing on the joiner: ${missing}; last progress ${JSON.stringify(last)}`,
);
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/live-sync.json', JSON.stringify(result, null, 2) + '\n');
await pool.close();
if (!result.syncPointsEqual || missing > 0 || !busyOnly || after.code !== 0) process.exitCode = 1;
