// The Storage contract, run against both implementations, then what only each one does:
// the memory storage's crash model, the file storage's files on disk.

import { mkdtemp, readdir, readlink, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FileStorage } from '../../host/storage/file.node.ts';
import { DelayedStorage } from '../../host/storage/delayed.ts';
import { MemoryStorage, TORN_GARBAGE_MAX } from '../../host/storage/memory.ts';
import { META_SIZE_MAX, type Storage } from '../../host/storage/storage.ts';
import { Random } from '../../host/protocol/random.ts';

const directories: string[] = [];
async function temporaryDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'hsmpool-storage-'));
  directories.push(directory);
  return directory;
}
afterAll(async () => {
  for (const directory of directories) await rm(directory, { recursive: true, force: true });
});

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

const opened: FileStorage[] = [];
const implementations: [string, () => Promise<Storage>][] = [
  ['memory', async () => new MemoryStorage()],
  [
    "delayed (the simulator's: every call completes a timer later)",
    async () => new DelayedStorage(new MemoryStorage(), () => new Promise((r) => setTimeout(r, 1))),
  ],
  [
    'file',
    async () => {
      const storage = await FileStorage.open(await temporaryDirectory());
      opened.push(storage);
      return storage;
    },
  ],
];
afterEach(async () => {
  for (const storage of opened.splice(0)) await storage.close();
});

describe.each(implementations)('the Storage contract: %s', (_name, make) => {
  it('appends, reads, truncates and drops a prefix of the log', async () => {
    const storage = await make();
    expect(await storage.readLog()).toEqual(new Uint8Array(0));
    await storage.appendLog(bytes(1, 2, 3), false);
    await storage.appendLog(bytes(4, 5), true);
    await storage.syncLog();
    expect(await storage.readLog()).toEqual(bytes(1, 2, 3, 4, 5));
    expect(await storage.logSize()).toBe(5);
    await storage.truncateLog(4);
    await storage.appendLog(bytes(9), true);
    expect(await storage.readLog()).toEqual(bytes(1, 2, 3, 4, 9));
    await storage.dropLogPrefix(2);
    await storage.appendLog(bytes(7), false);
    expect(await storage.readLog()).toEqual(bytes(3, 4, 9, 7));
    await expect(storage.truncateLog(99)).rejects.toThrow(RangeError);
    await expect(storage.dropLogPrefix(-1)).rejects.toThrow(RangeError);
  });

  it('appends called while the log is read or compacted keep their order after it', async () => {
    const storage = await make();
    for (let i = 0; i < 100; i++) await storage.appendLog(bytes(i), i % 7 === 0);
    const read = storage.readLog();
    const dropped = storage.dropLogPrefix(40);
    const appends = Array.from({ length: 100 }, (_, i) =>
      storage.appendLog(bytes(100 + i), i % 3 === 0),
    );
    const size = storage.logSize();
    const later = [...appends, storage.appendLog(bytes(200), true)];
    expect(Array.from(await read)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    await Promise.all([dropped, ...later]);
    expect(await size).toBe(160);
    expect(Array.from(await storage.readLog())).toEqual(
      Array.from({ length: 161 }, (_, i) => i + 40),
    );
    // Not awaited: the truncation counts from the log as the drop before it leaves it.
    const calls = [storage.dropLogPrefix(1), storage.truncateLog(10), storage.dropLogPrefix(2)];
    await Promise.all([...calls, storage.appendLog(bytes(7), true)]);
    expect(Array.from(await storage.readLog())).toEqual([43, 44, 45, 46, 47, 48, 49, 50, 7]);
  });

  it('the caller may reuse its buffer once append returns', async () => {
    const storage = await make();
    const buffer = bytes(1, 2);
    const pending = storage.appendLog(buffer, false);
    buffer[0] = 9;
    await pending;
    expect(await storage.readLog()).toEqual(bytes(1, 2));
  });

  it('writes, lists, reads and deletes snapshots', async () => {
    const storage = await make();
    await storage.writeSnapshot('checkpoint-1', [bytes(1), bytes(2, 3)]);
    await storage.writeSnapshot('checkpoint-2', [bytes(4)]);
    await storage.writeSnapshot('checkpoint-2', [bytes(5)]);
    expect((await storage.listSnapshots()).sort()).toEqual(['checkpoint-1', 'checkpoint-2']);
    expect(await storage.readSnapshot('checkpoint-1')).toEqual(bytes(1, 2, 3));
    expect(await storage.readSnapshot('checkpoint-2')).toEqual(bytes(5));
    expect(await storage.readSnapshot('missing')).toBeUndefined();
    await storage.deleteSnapshot('checkpoint-1');
    await storage.deleteSnapshot('checkpoint-1');
    expect(await storage.listSnapshots()).toEqual(['checkpoint-2']);
  });

  it('writes a snapshot pulled a piece at a time from one reused buffer', async () => {
    const storage = await make();
    const pieces = [bytes(1, 2, 3), bytes(4), bytes(5, 6)];
    const buffer = new Uint8Array(3); // each piece is valid only until the next pull
    let pulls = 0;
    await storage.writeSnapshotFrom('checkpoint-1', () => {
      const piece = pieces[pulls++];
      if (!piece) return undefined;
      buffer.fill(0xee).set(piece);
      return buffer.subarray(0, piece.length);
    });
    expect(pulls).toBe(4);
    expect(await storage.readSnapshot('checkpoint-1')).toEqual(bytes(1, 2, 3, 4, 5, 6));
  });

  it('a snapshot source that throws leaves the old snapshot whole', async () => {
    const storage = await make();
    await storage.writeSnapshot('checkpoint-1', [bytes(1, 2)]);
    let pulls = 0;
    await expect(
      storage.writeSnapshotFrom('checkpoint-1', () => {
        if (pulls++ === 0) return bytes(9, 9);
        throw new Error('export failed');
      }),
    ).rejects.toThrow('export failed');
    await expect(
      storage.writeSnapshotFrom('checkpoint-2', () => {
        throw new Error('export failed');
      }),
    ).rejects.toThrow('export failed');
    expect(await storage.readSnapshot('checkpoint-1')).toEqual(bytes(1, 2));
    expect(await storage.listSnapshots()).toEqual(['checkpoint-1']);
  });

  it('keeps metadata blobs, and refuses unsafe names and oversize blobs', async () => {
    const storage = await make();
    await storage.writeMeta('node-identity', bytes(1, 2));
    await storage.writeMeta('node-identity', bytes(3));
    expect(await storage.readMeta('node-identity')).toEqual(bytes(3));
    expect(await storage.readMeta('node-cache')).toBeUndefined();
    for (const name of ['', '../x', '.tmp-x', 'a/b', 'x'.repeat(65)]) {
      await expect(async () => storage.writeMeta(name, bytes())).rejects.toThrow(RangeError);
      await expect(async () => storage.writeSnapshot(name, [])).rejects.toThrow(RangeError);
      await expect(async () => storage.writeSnapshotFrom(name, () => undefined)).rejects.toThrow(
        RangeError,
      );
    }
    await expect(async () =>
      storage.writeMeta('big', new Uint8Array(META_SIZE_MAX + 1)),
    ).rejects.toThrow(RangeError);
  });
});

describe('memory storage crashes', () => {
  it('keeps every synced byte and a prefix of the rest, plus bounded garbage, deterministically by seed', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const storage = new MemoryStorage();
      const random = new Random(seed);
      const written: number[] = [];
      for (let i = 0, n = random.between(1, 12); i < n; i++) {
        const chunk = Uint8Array.from(
          { length: random.between(1, 200) },
          () => written.length & 0xff,
        );
        chunk.forEach((byte) => written.push(byte));
        await storage.appendLog(chunk, random.chance(0.3));
      }
      const synced = storage.syncedLength;
      const report = storage.crash(new Random(seed * 7));
      const log = await storage.readLog();
      expect(report.lengthAfter).toBe(log.length);
      expect(report.synced).toBe(synced);
      expect(report.garbage).toBeLessThanOrEqual(TORN_GARBAGE_MAX);
      const kept = synced + report.keptUnsynced;
      expect(kept).toBeLessThanOrEqual(written.length);
      expect(
        Buffer.from(log.subarray(0, kept)).equals(Uint8Array.from(written.slice(0, kept))),
      ).toBe(true);
      expect(storage.unsyncedLength).toBe(0);
      const again = new MemoryStorage();
      await again.appendLog(Uint8Array.from(written.slice(0, synced)), true);
      await again.appendLog(Uint8Array.from(written.slice(synced)), false);
      again.crash(new Random(seed * 7));
      expect(Buffer.from(await again.readLog()).equals(log)).toBe(true);
    }
  });

  it('a crash with nothing unsynced changes nothing', async () => {
    const storage = new MemoryStorage();
    await storage.appendLog(bytes(1, 2, 3), true);
    for (let seed = 0; seed < 20; seed++) storage.crash(new Random(seed));
    expect(await storage.readLog()).toEqual(bytes(1, 2, 3));
  });

  it('truncate and compaction leave the log synced', async () => {
    const storage = new MemoryStorage();
    await storage.appendLog(bytes(1, 2, 3, 4), false);
    await storage.dropLogPrefix(1);
    expect(storage.unsyncedLength).toBe(0);
    await storage.appendLog(bytes(5), false);
    await storage.truncateLog(2);
    expect([storage.syncedLength, storage.unsyncedLength]).toEqual([2, 0]);
  });
});

/** Linux: the open-file flags (octal, /proc/self/fdinfo) of every descriptor this process holds on `path`. */
async function openFlags(path: string): Promise<number[]> {
  const flags: number[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(join('/proc/self/fd', fd)).catch(() => '');
    if (target !== path) continue;
    const info = await readFile(join('/proc/self/fdinfo', fd), 'utf8');
    flags.push(parseInt(/^flags:\s*([0-7]+)/m.exec(info)![1], 8));
  }
  return flags;
}

describe('file storage on disk', () => {
  it.runIf(process.platform === 'linux')(
    'the log is held with O_APPEND and O_DSYNC, also after compaction reopens it',
    async () => {
      const O_APPEND = 0o2000;
      const O_DSYNC = 0o10000;
      const directory = await temporaryDirectory();
      const storage = await FileStorage.open(directory);
      const log = join(directory, 'log');
      for (const step of ['opened', 'compacted']) {
        const flags = await openFlags(log);
        expect(flags, step).toHaveLength(1);
        expect(flags[0] & (O_APPEND | O_DSYNC), step).toBe(O_APPEND | O_DSYNC);
        await storage.appendLog(bytes(1, 2), true);
        await storage.dropLogPrefix(1);
      }
      await storage.close();
      expect(await openFlags(log)).toEqual([]);
    },
  );

  it('what was written is there after reopening, and no temporary file is left', async () => {
    const directory = await temporaryDirectory();
    const storage = await FileStorage.open(directory);
    await storage.appendLog(bytes(1, 2, 3), true);
    await storage.writeSnapshot('checkpoint-1', [bytes(7)]);
    await storage.writeMeta('node-identity', bytes(8));
    await storage.dropLogPrefix(1);
    await storage.close();
    const reopened = await FileStorage.open(directory);
    expect(await reopened.readLog()).toEqual(bytes(2, 3));
    expect(await reopened.readSnapshot('checkpoint-1')).toEqual(bytes(7));
    expect(await reopened.readMeta('node-identity')).toEqual(bytes(8));
    for (const sub of ['', 'snapshots', 'meta'])
      expect((await readdir(join(directory, sub))).filter((name) => name.startsWith('.'))).toEqual(
        [],
      );
    await reopened.close();
    await expect(reopened.readLog()).rejects.toThrow(/closed/);
  });

  it('a temporary file left by a crash mid-write is removed on open and never listed', async () => {
    const directory = await temporaryDirectory();
    await (await FileStorage.open(directory)).close();
    await writeFile(join(directory, 'snapshots', '.tmp-checkpoint-9'), bytes(1));
    await writeFile(join(directory, '.tmp-log'), bytes(1));
    const storage = await FileStorage.open(directory);
    expect(await storage.listSnapshots()).toEqual([]);
    expect(await readdir(join(directory, 'snapshots'))).toEqual([]);
    expect((await readdir(directory)).sort()).toEqual(['log', 'meta', 'snapshots']);
    await storage.close();
  });

  it('operations run in call order even when not awaited one by one', async () => {
    const directory = await temporaryDirectory();
    const storage = await FileStorage.open(directory);
    const writes = Array.from({ length: 200 }, (_, i) => storage.appendLog(bytes(i), i % 17 === 0));
    const truncated = storage.truncateLog(150);
    const dropped = storage.dropLogPrefix(50);
    await Promise.all([...writes, truncated, dropped]);
    expect(Array.from(await readFile(join(directory, 'log')))).toEqual(
      Array.from({ length: 100 }, (_, i) => i + 50),
    );
    await storage.close();
  });
});
