// Backups (host/backup, docs/FORMATS.md "Backups"): the console's piece protocol, the file
// format's refusals, and restore into a node's storage followed by its recovery.

import {
  encodeTransactionOutcomes,
  loadTransactionOutcomes,
  TRANSACTION_OUTCOMES_KEY,
} from '../../host/log/transaction-outcomes.ts';
import { describe, expect, it } from 'vitest';
import { recover } from '../../host/log/recovery.ts';
import { toPoolNode } from '../../host/log/log-records.ts';
import { runCommand } from '../../host/server/console-commands.ts';
import { CODE } from '../../host/core/codes.ts';
import { LOG_START, LogEncoder } from '../../host/core/txlog.ts';
import type { Core } from '../../host/core/core.ts';
import {
  BACKUP_CHECKSUM_SIZE,
  decodeBackup,
  encodeBackup,
  readBackupHeader,
} from '../../host/backup/format.ts';
import { restoreBackup } from '../../host/backup/restore.ts';
import { heldBackups, type BackupPiece } from '../../host/server/backup-transfer.ts';
import { MemoryStorage } from '../../host/storage/memory.ts';
import type { Storage } from '../../host/storage/storage.ts';
import { Random } from '../../host/protocol/random.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  codeOf as rejectionCode,
  thrownCode,
  filledCore,
  keyedCore,
  storageContents as contents,
  TEST_SVMK,
} from '../fixtures.ts';
import { drive, fetchBackup, objectWrites, startPool } from '../pool-writes.ts';
import { joinBytes } from '../../host/wire/bytes.ts';

const OTHER_SVMK = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
const snapshotOf = (core: Core): Uint8Array => joinBytes(core.snapshotChunks());

const target = (founders = [{ id: 1n, address: '127.0.0.1:7001' }]) => ({
  poolId: 1n,
  domain: 'bank',
  founders,
});

/** A backup of `core`'s state for pool 1, domain bank, made now under TEST_SVMK unless told. */
function backupOf(
  core: Core,
  options: { createdMs?: number; chunkSize?: number; svmk?: Uint8Array } = {},
): Uint8Array {
  const { createdMs = Date.now(), chunkSize, svmk = TEST_SVMK } = options;
  const input = { poolId: 1n, domain: 'bank', createdMs, snapshot: core.snapshotChunks() };
  return encodeBackup({ ...input, chunkSize }, svmk);
}

/** Restores `file` into `storage` under TEST_SVMK for `to`. */
const restoreInto = (storage: Storage, file: Uint8Array, to = target()) =>
  restoreBackup(keyedCore(), keyedCore(), storage, file, TEST_SVMK, to);

describe('backup file format', () => {
  const core = filledCore(160);
  const file = backupOf(core, { createdMs: 1_700_000_000_000, chunkSize: 4096 });

  it('round-trips a snapshot, with the header in the clear and several chunks', () => {
    const header = readBackupHeader(file);
    expect(header).toMatchObject({
      poolId: 1n,
      domain: 'bank',
      createdMs: 1_700_000_000_000,
      sp: core.syncPoint().sp,
      spvv: core.syncPoint().spvv,
      recordCount: 161n,
      chunkSize: 4096,
    });
    expect(header.snapshotLength).toBeGreaterThan(3 * 4096);
    const decoded = decodeBackup(file, TEST_SVMK);
    expect(decoded.snapshot).toEqual(snapshotOf(core));
    // A fresh salt per file: two backups of the same state differ everywhere after the header's salt.
    const again = backupOf(core, { createdMs: 1_700_000_000_000, chunkSize: 4096 });
    expect(
      Buffer.from(again.subarray(header.headerLength, header.headerLength + 64)).equals(
        Buffer.from(file.subarray(header.headerLength, header.headerLength + 64)),
      ),
    ).toBe(false);
  });

  it('refuses every truncation (38802, or 38801 below 4 bytes) and trailing bytes', () => {
    for (let length = 0; length < file.length; length++) {
      const code = thrownCode(() => decodeBackup(file.subarray(0, length), TEST_SVMK));
      expect(code, `length ${length}`).toBe(length < 4 ? 38801 : 38802);
    }
    expect(thrownCode(() => decodeBackup(joinBytes([file, new Uint8Array(1)]), TEST_SVMK))).toBe(
      38802,
    );
  });

  it('refuses bit flips: by the checksum, or (re-checksummed) by the AEAD', () => {
    const random = new Random(7);
    const header = readBackupHeader(file);
    for (let i = 0; i < 200; i++) {
      const at = i < 60 ? random.below(header.headerLength) : random.below(file.length);
      const flipped = file.slice();
      flipped[at] ^= 1 << random.below(8);
      const code = thrownCode(() => decodeBackup(flipped, TEST_SVMK));
      expect([38801, 38802], `byte ${at}`).toContain(code);
      // With the checksum recomputed (an attacker without the SVMK): the AEAD still refuses.
      if (at < file.length - BACKUP_CHECKSUM_SIZE) {
        flipped.set(
          sha256(flipped.subarray(0, file.length - BACKUP_CHECKSUM_SIZE)),
          file.length - BACKUP_CHECKSUM_SIZE,
        );
        expect([38801, 38802, 38803], `byte ${at} re-checksummed`).toContain(
          thrownCode(() => decodeBackup(flipped, TEST_SVMK)),
        );
        if (at >= header.headerLength)
          expect(thrownCode(() => decodeBackup(flipped, TEST_SVMK))).toBe(38803);
      }
    }
  });

  it('refuses a backup made under another SVMK (38803), and files that are not backups (38801)', () => {
    expect(thrownCode(() => decodeBackup(file, OTHER_SVMK))).toBe(38803);
    expect(thrownCode(() => decodeBackup(snapshotOf(core), TEST_SVMK))).toBe(38801);
    const newer = file.slice();
    newer[4] = 2;
    expect(thrownCode(() => decodeBackup(newer, TEST_SVMK))).toBe(38801);
  });
});

describe('restore into a node storage', () => {
  it('replaces the state: recovery gives the backup SP, SPVV and records; the old epoch and node list stay', async () => {
    const source = filledCore(25);
    const file = backupOf(source);
    // The node's own state: another history, at epoch 3, with a second node.
    const storage = new MemoryStorage();
    const old = filledCore(3);
    const nodes = [
      { id: 1n, address: '127.0.0.1:7001' },
      { id: 2n, address: '127.0.0.1:7002' },
    ];
    const encoder = new LogEncoder(old, 1n, LOG_START, 3n);
    await storage.writeSnapshot('checkpoint-00000000000000000001', old.snapshotChunks());
    const sp = old.syncPoint();
    await storage.appendLog(
      encoder.encode({
        type: 'checkpoint',
        snapshotSequence: 0n,
        sp: sp.sp,
        spvv: sp.spvv,
        recordCount: BigInt(sp.count),
        snapshotName: 'checkpoint-00000000000000000001',
        nodes,
      }),
      true,
    );
    // What the old state remembered of its transactions is not the backup's.
    await storage.writeMeta(
      TRANSACTION_OUTCOMES_KEY,
      encodeTransactionOutcomes([['00000000000000ab', false]]),
    );

    const result = await restoreInto(storage, file);
    expect(result.previousStateRead).toBe(true);
    expect(await loadTransactionOutcomes(storage)).toEqual([]);
    expect(result.epoch).toBe(3n);
    expect(await storage.listSnapshots()).toEqual([result.snapshotName]);

    const recovered = keyedCore();
    const state = await recover(recovered, storage, { poolId: 1n });
    expect(state.syncPoint.sp).toBe(source.syncPoint().sp);
    expect(state.syncPoint.spvv).toBe(source.syncPoint().spvv);
    expect(state.syncPoint.count).toBe(26);
    expect(state.epoch).toBe(3n);
    expect(state.nodes).toEqual(nodes);
    expect(state.snapshot).toBe(result.snapshotName);
    expect(snapshotOf(recovered)).toEqual(snapshotOf(source));
  });

  it('restores into an empty storage with the founders as node list', async () => {
    const source = filledCore(2);
    const file = backupOf(source);
    const storage = new MemoryStorage();
    const result = await restoreInto(storage, file);
    expect(result.nodes).toEqual(target().founders);
    const recovered = keyedCore();
    await recover(recovered, storage, { poolId: 1n });
    expect(snapshotOf(recovered)).toEqual(snapshotOf(source));
  });

  it('refuses corrupt, truncated, foreign and other-pool backups, writing nothing', async () => {
    const source = filledCore(10);
    const file = backupOf(source, { chunkSize: 4096 });
    const storage = new MemoryStorage();
    const first = backupOf(filledCore(1));
    await restoreInto(storage, first);
    const before = await contents(storage);
    const refuse = async (bytes: Uint8Array, svmk = TEST_SVMK, to = target()) => {
      const core = keyedCore('release', svmk);
      const code = await rejectionCode(
        restoreBackup(core, keyedCore('release', svmk), storage, bytes, svmk, to),
      );
      expect(core.count()).toBe(0);
      return code;
    };
    for (let length = 0; length < file.length; length += 97)
      expect(await refuse(file.subarray(0, length))).toBe(length < 4 ? 38801 : 38802);
    const random = new Random(3);
    for (let i = 0; i < 50; i++) {
      const flipped = file.slice();
      flipped[random.below(file.length)] ^= 1 << random.below(8);
      expect([38801, 38802]).toContain(await refuse(flipped));
    }
    expect(await refuse(file, OTHER_SVMK)).toBe(38803);
    const foreign = backupOf(filledCore(4, { svmk: OTHER_SVMK }), { svmk: OTHER_SVMK });
    expect(await refuse(foreign)).toBe(38803);
    expect(await refuse(file, TEST_SVMK, { ...target(), poolId: 2n })).toBe(38804);
    expect(await refuse(file, TEST_SVMK, { ...target(), domain: 'Bank' })).toBe(38804);
    expect(await contents(storage)).toBe(before);
  });

  it('a crash after the new CHECKPOINT is appended but before the old log is dropped: restore again finishes', async () => {
    const storage = new MemoryStorage();
    const old = backupOf(filledCore(3), { createdMs: 1 });
    await restoreInto(storage, old);
    const oldLog = await storage.readLog();
    const source = filledCore(7);
    const file = backupOf(source, { createdMs: 2 });
    // Simulate: the restore's append landed, its dropLogPrefix did not.
    const half = new MemoryStorage();
    await restoreInto(half, file);
    await storage.appendLog(await half.readLog(), true);
    for (const name of await half.listSnapshots())
      await storage.writeSnapshot(name, [(await half.readSnapshot(name))!]);
    const code = await rejectionCode(recover(keyedCore(), storage, { poolId: 1n }));
    // The node refuses to start (a valid entry out of place), it does not load a mix of states.
    expect(code).toBe(37027);
    expect(oldLog.length).toBeGreaterThan(0);
    await restoreInto(storage, file);
    const recovered = keyedCore();
    await recover(recovered, storage, { poolId: 1n });
    expect(snapshotOf(recovered)).toEqual(snapshotOf(source));
  });
});

describe('console backup command and restore of a pool node', () => {
  it('fetches a backup in pieces from a running pool, restores it into a stopped node, which recovers the same SP', async () => {
    const pool = await startPool({ nodes: 2, domain: 'bank' });
    const [a] = pool.appliances;
    const write = objectWrites(5);
    for (let i = 0; i < 12; i++) expect((await drive(pool, a.write(write(`k${i}`)))).code).toBe(0);
    const context = { svmk: TEST_SVMK, pieceSize: 512 };
    const backup = (line: string) => runCommand(a, 'remote', line, { backup: context });
    expect((await runCommand(a, 'remote', 'backup')).code).toBe(CODE.CONSOLE_NOT_HERE); // no backup context (no SVMK): refused
    const { head, last, pieces, file } = await fetchBackup(a, context, async (i, piece, { id }) => {
      if (i !== 1) return;
      // Asked again (a lost answer): the same piece; out of order: refused.
      const again = await backup(`backup ${id} 1`);
      expect((again.data as BackupPiece).data).toBe(piece.data);
      const skip = await backup(`backup ${id} 3`);
      expect(skip.code).toBe(CODE.BACKUP_PIECE_INVALID);
    });
    expect(head.last).toBe(false);
    expect(head.sp).toBe(a.info().syncPoint.hex);
    expect(pieces).toBeGreaterThan(2);
    expect(heldBackups(a)).toBe(0); // the last piece forgot it
    expect((await backup(`backup ${head.id} 1`)).code).toBe(38805);
    expect((await backup(`backup ${head.id}`)).code).toBe(CODE.CONSOLE_USAGE);
    expect(Buffer.from(sha256(file)).toString('hex')).toBe(last.sha256);
    const expected = a.info().syncPoint;

    // The pool moves on; node 2 is stopped and restored to the backup.
    expect((await drive(pool, a.write(write('later')))).code).toBe(0);
    await pool.close();
    const result = await restoreInto(pool.storages[1], file, {
      poolId: 1n,
      domain: 'bank',
      founders: pool.founders.map(toPoolNode),
    });
    expect(result.previousStateRead).toBe(true);
    const reopened = await pool.open(1);
    expect(reopened.info().syncPoint.hex).toBe(expected.hex);
    expect(reopened.info().syncPoint.spvvHex).toBe(expected.spvvHex);
    expect(reopened.info().syncPoint.count).toBe(expected.count);
    await reopened.close();
  });

  it('holds at most two backups being fetched (38806); idle ones are forgotten', async () => {
    const pool = await startPool({ nodes: 1, domain: 'bank' });
    const [a] = pool.appliances;
    let now = 1_000_000;
    const context = { svmk: TEST_SVMK, pieceSize: 16, now: () => now };
    const backup = async () => (await runCommand(a, 'remote', 'backup', { backup: context })).code;
    expect(await backup()).toBe(0);
    expect(await backup()).toBe(0);
    expect(await backup()).toBe(38806);
    now += 5 * 60_000 + 1;
    expect(await backup()).toBe(0);
    expect(heldBackups(a)).toBe(1);
    await pool.close();
  });
});
