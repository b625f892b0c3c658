// Restore of version-2 backups read as a stream (host/backup/restore.ts): the state comes back
// exactly; any corruption is refused with a documented code and changes nothing; a backup
// being fetched from a node gives way to a checkpoint instead of blocking it.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CODE } from '../../host/core/codes.ts';
import type { Core } from '../../host/core/core.ts';
import { encodeBackupStream } from '../../host/backup/format-v2.ts';
import { importBackupStream, restoreBackup } from '../../host/backup/restore.ts';
import { recover, splitSnapshot } from '../../host/log/recovery.ts';
import { heldBackups } from '../../host/server/backup-transfer.ts';
import { MemoryStorage } from '../../host/storage/memory.ts';
import { joinBytes, toHex } from '../../host/wire/bytes.ts';
import {
  codeOf,
  filledCore,
  keyedCore,
  storageContents as contents,
  TEST_SVMK,
} from '../fixtures.ts';
import { fetchBackup, startPool } from '../pool-writes.ts';

const OTHER_SVMK = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
const target = { poolId: 1n, domain: 'bank', founders: [{ id: 1n, address: '127.0.0.1:7001' }] };

function backupOf(core: Core, svmk = TEST_SVMK, poolId = 1n): Uint8Array[] {
  const [header, ...frames] = splitSnapshot(joinBytes(core.snapshotChunks()), 4096);
  return [
    ...encodeBackupStream(
      {
        poolId,
        domain: 'bank',
        createdMs: 1_700_000_000_000,
        snapshot: [header, ...frames],
        chunkSize: 4096,
      },
      svmk,
    ),
  ];
}

/** Restores `file` into `storage` under TEST_SVMK for `target`. */
const restoreInto = (storage: MemoryStorage, file: Parameters<typeof restoreBackup>[3]) =>
  restoreBackup(keyedCore(), keyedCore(), storage, file, TEST_SVMK, target);

/** The bytes in pieces of `size` (a file read), as an async stream. */
async function* streamed(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

describe('restore of a version-2 backup', () => {
  const source = filledCore(150);
  const sealed = backupOf(source);
  const file = joinBytes(sealed);

  it('restores from a stream: recovery gives the backup state exactly', async () => {
    expect(sealed.length).toBeGreaterThan(4);
    const storage = new MemoryStorage();
    const result = await restoreInto(storage, streamed(file, 1000));
    expect(result.header.version).toBe(2);
    const recovered = keyedCore();
    const state = await recover(recovered, storage, { poolId: 1n });
    expect(state.syncPoint.hex).toBe(source.syncPoint().hex);
    expect(toHex(joinBytes(recovered.snapshotChunks()))).toBe(
      toHex(joinBytes(source.snapshotChunks())),
    );
  });

  it('any corruption is refused with a documented code, and the storage is unchanged', async () => {
    const storage = new MemoryStorage();
    await restoreInto(storage, joinBytes(backupOf(filledCore(2, { first: 900 }))));
    const before = await contents(storage);
    const foreign = joinBytes(backupOf(filledCore(3), OTHER_SVMK));
    const otherPool = joinBytes(backupOf(source, TEST_SVMK, 2n));
    const corruption = fc.oneof(
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(file.length - 1) }),
      fc.record({
        kind: fc.constant('flip' as const),
        at: fc.nat(file.length - 1),
        mask: fc.integer({ min: 1, max: 255 }),
      }),
      fc.record({
        kind: fc.constant('swap' as const),
        at: fc.integer({ min: 1, max: sealed.length - 2 }),
      }),
      fc.record({ kind: fc.constant('extend' as const), at: fc.integer({ min: 1, max: 64 }) }),
      fc.constantFrom({ kind: 'foreign' as const, at: 0 }, { kind: 'pool' as const, at: 0 }),
    );
    const damage = (c: { kind: string; at: number; mask?: number }): Uint8Array => {
      if (c.kind === 'truncate') return file.subarray(0, c.at);
      if (c.kind === 'extend') return joinBytes([file, new Uint8Array(c.at)]);
      if (c.kind === 'foreign') return foreign;
      if (c.kind === 'pool') return otherPool;
      if (c.kind === 'swap') {
        const chunks = sealed.slice();
        [chunks[c.at], chunks[c.at + 1]] = [chunks[c.at + 1], chunks[c.at]];
        return joinBytes(chunks);
      }
      const bad = file.slice();
      bad[c.at] ^= c.mask!;
      return bad;
    };
    const documented: number[] = [
      CODE.BACKUP_FORMAT,
      CODE.BACKUP_DAMAGED,
      CODE.BACKUP_FOREIGN,
      CODE.BACKUP_POOL_MISMATCH,
    ];
    await fc.assert(
      fc.asyncProperty(corruption, fc.integer({ min: 1, max: 5000 }), async (c, size) => {
        const core = keyedCore();
        const code = await codeOf(
          restoreBackup(core, keyedCore(), storage, streamed(damage(c), size), TEST_SVMK, target),
        );
        expect(documented).toContain(code);
        if (c.kind === 'foreign') expect(code).toBe(CODE.BACKUP_FOREIGN);
        if (c.kind === 'pool') expect(code).toBe(CODE.BACKUP_POOL_MISMATCH);
        if (c.kind === 'swap' || c.kind === 'extend') expect(code).toBe(CODE.BACKUP_DAMAGED);
        expect(core.count()).toBe(0);
        expect(await contents(storage)).toBe(before);
      }),
      { numRuns: 120, seed: 20261205 },
    );
  });
});

describe('a backup fetched from a node', () => {
  it('its snapshot export gives way to the next export (a checkpoint, live-sync) and says so', () => {
    const core = filledCore(5000);
    const backup = core.exportSnapshot(undefined, { yielding: true });
    expect(backup.next()).toBeDefined();
    // A checkpoint's export (compaction, live-sync) is not refused...
    const checkpoint = core.exportSnapshot();
    // ...the backup's next read throws, and closing it does not end the checkpoint's export.
    expect(() => backup.next()).toThrow(expect.objectContaining({ code: CODE.SNAPSHOT_STATE }));
    backup.close();
    const pieces = [checkpoint.header];
    for (let piece = checkpoint.next(); piece; piece = checkpoint.next()) pieces.push(piece);
    checkpoint.close();
    expect(toHex(joinBytes(pieces))).toBe(toHex(joinBytes(core.snapshotChunks())));
    // An export that does not yield still makes the next one throw, as before.
    const held = core.exportSnapshot();
    expect(() => core.exportSnapshot()).toThrow(
      expect.objectContaining({ code: CODE.SNAPSHOT_STATE }),
    );
    held.close();
  });

  it('a whole fetch through the console: pieces in order until the last, then forgotten', async () => {
    const pool = await startPool({ nodes: 1, domain: 'bank' });
    const [a] = pool.appliances;
    const { file } = await fetchBackup(a, { svmk: TEST_SVMK, pieceSize: 16 });
    expect(heldBackups(a)).toBe(0);
    const restored = keyedCore();
    const { syncPoint } = await importBackupStream(restored, file, TEST_SVMK);
    expect(syncPoint.hex).toBe(a.info().syncPoint.hex);
    // A core export started after the fetch finished is not refused: the backup closed its own.
    a.core.exportSnapshot().close();
    await pool.close();
  });
});
