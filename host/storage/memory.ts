// Storage in memory, for the simulator and the browser. It tracks which log bytes are synced
// so that `crash` can do what a power cut does to a file: keep the synced bytes, keep some
// prefix of the unsynced ones, and maybe leave garbage where an append was in flight.
// Deterministic: every random choice comes from the generator passed to `crash`.

import {
  checkLength,
  checkMetaSize,
  checkStorageName,
  pullCopies,
  type Storage,
} from './storage.ts';
import { joinBytes } from '../wire/bytes.ts';

/** The part of a seeded generator a crash needs (host/protocol/random.ts's Random fits). */
export interface CrashRandom {
  /** A uniform integer in [0, n). */
  below(n: number): number;
}

/** Most garbage bytes a crash leaves after the kept log prefix (an in-flight append's blocks). */
export const TORN_GARBAGE_MAX = 512;

export interface CrashReport {
  /** Log length before the crash and after it. */
  readonly lengthBefore: number;
  readonly lengthAfter: number;
  /** Synced bytes (all kept). */
  readonly synced: number;
  /** Unsynced bytes kept, then garbage bytes written after them. */
  readonly keptUnsynced: number;
  readonly garbage: number;
}

export class MemoryStorage implements Storage {
  private log = new Uint8Array(4096);
  private length = 0;
  private synced = 0;
  private readonly snapshots = new Map<string, Uint8Array>();
  private readonly meta = new Map<string, Uint8Array>();
  /** Counters for tests and the console. */
  readonly stats = { appends: 0, syncs: 0 };

  /** Log bytes that survive any crash. */
  get syncedLength(): number {
    return this.synced;
  }

  get unsyncedLength(): number {
    return this.length - this.synced;
  }

  async appendLog(bytes: Uint8Array, durable: boolean): Promise<void> {
    this.reserve(this.length + bytes.length);
    this.log.set(bytes, this.length);
    this.length += bytes.length;
    this.stats.appends++;
    if (durable) await this.syncLog();
  }

  async syncLog(): Promise<void> {
    this.synced = this.length;
    this.stats.syncs++;
  }

  async readLog(): Promise<Uint8Array> {
    return this.log.slice(0, this.length);
  }

  async logSize(): Promise<number> {
    return this.length;
  }

  async truncateLog(length: number): Promise<void> {
    checkLength(length, this.length);
    this.length = length;
    this.synced = length;
  }

  async dropLogPrefix(length: number): Promise<void> {
    checkLength(length, this.length);
    this.log.copyWithin(0, length, this.length);
    this.length -= length;
    this.synced = this.length;
  }

  async writeSnapshot(name: string, chunks: Iterable<Uint8Array>): Promise<void> {
    checkStorageName(name, 'snapshot name');
    this.snapshots.set(name, joinBytes(chunks));
  }

  async writeSnapshotFrom(name: string, next: () => Uint8Array | undefined): Promise<void> {
    checkStorageName(name, 'snapshot name');
    this.snapshots.set(name, joinBytes(pullCopies(next)));
  }

  async readSnapshot(name: string): Promise<Uint8Array | undefined> {
    checkStorageName(name, 'snapshot name');
    return this.snapshots.get(name)?.slice();
  }

  async listSnapshots(): Promise<string[]> {
    return [...this.snapshots.keys()];
  }

  async deleteSnapshot(name: string): Promise<void> {
    checkStorageName(name, 'snapshot name');
    this.snapshots.delete(name);
  }

  async writeMeta(key: string, bytes: Uint8Array): Promise<void> {
    checkStorageName(key, 'metadata key');
    checkMetaSize(bytes);
    this.meta.set(key, bytes.slice());
  }

  async readMeta(key: string): Promise<Uint8Array | undefined> {
    checkStorageName(key, 'metadata key');
    return this.meta.get(key)?.slice();
  }

  /**
   * A power cut: keeps the synced log bytes and a random prefix of the unsynced ones; if an
   * append was in flight, may write up to TORN_GARBAGE_MAX bytes of zeros or noise after
   * them. Snapshots and metadata are kept (their writes are atomic). Everything left is
   * what a restart reads, so it counts as synced afterwards.
   */
  crash(random: CrashRandom): CrashReport {
    const lengthBefore = this.length;
    const unsynced = this.length - this.synced;
    const keptUnsynced = random.below(unsynced + 1);
    this.length = this.synced + keptUnsynced;
    const garbage = unsynced > 0 && random.below(2) === 1 ? random.below(TORN_GARBAGE_MAX + 1) : 0;
    this.writeGarbage(garbage, random);
    const report = {
      lengthBefore,
      lengthAfter: this.length,
      synced: this.synced,
      keptUnsynced,
      garbage,
    };
    this.synced = this.length;
    return report;
  }

  private writeGarbage(count: number, random: CrashRandom): void {
    const zeros = random.below(2) === 0;
    this.reserve(this.length + count);
    for (let i = 0; i < count; i++) this.log[this.length + i] = zeros ? 0 : random.below(256);
    this.length += count;
  }

  private reserve(size: number): void {
    if (size <= this.log.length) return;
    const grown = new Uint8Array(Math.max(size, this.log.length * 2));
    grown.set(this.log.subarray(0, this.length));
    this.log = grown;
  }
}
