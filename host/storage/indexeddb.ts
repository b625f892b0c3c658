// Storage in a browser: IndexedDB, one database per appliance (the page runs each appliance in
// its own Web Worker; IndexedDB works there and in the page). Browser-safe.
//
// How it keeps storage.ts's contract:
//   - The log is a sequence of chunks keyed by a growing number. Each append is its own
//     readwrite transaction; IndexedDB runs readwrite transactions over the same store in the
//     order they were created, so whatever a crash (worker.terminate(), a closed tab) keeps is
//     a prefix of the appends. A durable append (and syncLog) waits for its transaction's
//     `complete` with durability 'strict': the browser flushed it to disk (the durability point).
//   - truncateLog, dropLogPrefix, writeSnapshot, deleteSnapshot and writeMeta are one strict
//     transaction each: atomic (all or nothing) and durable when they resolve.
// The whole log is also mirrored in memory (readLog/logSize answer from it), as a node reads it
// at recovery anyway.

import {
  checkLength,
  checkMetaSize,
  checkStorageName,
  pullCopies,
  type Storage,
} from './storage.ts';
import { joinBytes } from '../wire/bytes.ts';

const LOG = 'log';
const SNAPSHOTS = 'snapshots';
const META = 'meta';
/** Database schema version (object stores above). */
const SCHEMA_VERSION = 1;

interface Chunk {
  key: number;
  bytes: Uint8Array;
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
  });
}

export class IndexedDbStorage implements Storage {
  private chunks: Chunk[] = [];
  private size = 0;
  private nextKey = 0;
  private closed = false;

  private constructor(
    private readonly db: IDBDatabase,
    readonly name: string,
  ) {}

  /** Opens (creating if needed) the database `name`. */
  static async open(
    name: string,
    factory: IDBFactory = globalThis.indexedDB,
  ): Promise<IndexedDbStorage> {
    const open = factory.open(name, SCHEMA_VERSION);
    open.onupgradeneeded = () => {
      const db = open.result;
      for (const store of [LOG, SNAPSHOTS, META])
        if (!db.objectStoreNames.contains(store)) db.createObjectStore(store);
    };
    const db = await request(open);
    const storage = new IndexedDbStorage(db, name);
    const tx = db.transaction(LOG, 'readonly');
    const store = tx.objectStore(LOG);
    const [keys, values] = await Promise.all([
      request(store.getAllKeys()),
      request(store.getAll() as IDBRequest<Uint8Array[]>),
    ]);
    storage.chunks = keys.map((key, i) => ({ key: key as number, bytes: values[i] }));
    storage.size = storage.chunks.reduce((sum, chunk) => sum + chunk.bytes.length, 0);
    storage.nextKey = keys.length ? (keys[keys.length - 1] as number) + 1 : 0;
    return storage;
  }

  /** Deletes the database `name` (the page's "new pool"). */
  static async destroy(name: string, factory: IDBFactory = globalThis.indexedDB): Promise<void> {
    await request(factory.deleteDatabase(name) as IDBRequest<unknown>);
  }

  private tx(store: string | string[], durable: boolean): IDBTransaction {
    if (this.closed) throw new Error(`storage ${this.name} is closed`);
    return this.db.transaction(store, 'readwrite', {
      durability: durable ? 'strict' : 'relaxed',
    });
  }

  async appendLog(bytes: Uint8Array, durable: boolean): Promise<void> {
    if (bytes.length === 0) return durable ? this.syncLog() : undefined;
    const chunk = { key: this.nextKey++, bytes: bytes.slice() };
    this.chunks.push(chunk);
    this.size += chunk.bytes.length;
    const tx = this.tx(LOG, durable);
    tx.objectStore(LOG).put(chunk.bytes, chunk.key);
    const completed = done(tx);
    if (durable) await completed;
    else completed.catch(() => undefined); // a lost non-durable append is within the contract
  }

  async syncLog(): Promise<void> {
    // Completes after every earlier transaction on the log store, flushed (strict).
    const tx = this.tx(LOG, true);
    tx.objectStore(LOG).count();
    await done(tx);
  }

  async readLog(): Promise<Uint8Array> {
    return joinBytes(this.chunks.map((chunk) => chunk.bytes));
  }

  async logSize(): Promise<number> {
    return this.size;
  }

  async truncateLog(length: number): Promise<void> {
    checkLength(length, this.size);
    const tx = this.tx(LOG, true);
    const store = tx.objectStore(LOG);
    let at = 0;
    const kept: Chunk[] = [];
    for (const chunk of this.chunks) {
      const end = at + chunk.bytes.length;
      if (end <= length) kept.push(chunk);
      else if (at < length) {
        const cut = { key: chunk.key, bytes: chunk.bytes.slice(0, length - at) };
        store.put(cut.bytes, cut.key);
        kept.push(cut);
      } else store.delete(chunk.key);
      at = end;
    }
    this.chunks = kept;
    this.size = length;
    await done(tx);
  }

  async dropLogPrefix(length: number): Promise<void> {
    checkLength(length, this.size);
    const tx = this.tx(LOG, true);
    const store = tx.objectStore(LOG);
    let at = 0;
    const kept: Chunk[] = [];
    for (const chunk of this.chunks) {
      const end = at + chunk.bytes.length;
      if (end <= length) store.delete(chunk.key);
      else if (at < length) {
        const tail = { key: chunk.key, bytes: chunk.bytes.slice(length - at) };
        store.put(tail.bytes, tail.key);
        kept.push(tail);
      } else kept.push(chunk);
      at = end;
    }
    this.chunks = kept;
    this.size -= length;
    await done(tx);
  }

  async writeSnapshot(name: string, chunks: Iterable<Uint8Array>): Promise<void> {
    checkStorageName(name, 'snapshot');
    const tx = this.tx(SNAPSHOTS, true);
    tx.objectStore(SNAPSHOTS).put(joinBytes(chunks), name);
    await done(tx);
  }

  async writeSnapshotFrom(name: string, next: () => Uint8Array | undefined): Promise<void> {
    checkStorageName(name, 'snapshot');
    await this.writeSnapshot(name, pullCopies(next));
  }

  async readSnapshot(name: string): Promise<Uint8Array | undefined> {
    checkStorageName(name, 'snapshot');
    const tx = this.db.transaction(SNAPSHOTS, 'readonly');
    return (await request(tx.objectStore(SNAPSHOTS).get(name))) as Uint8Array | undefined;
  }

  async listSnapshots(): Promise<string[]> {
    const tx = this.db.transaction(SNAPSHOTS, 'readonly');
    return (await request(tx.objectStore(SNAPSHOTS).getAllKeys())).map(String);
  }

  async deleteSnapshot(name: string): Promise<void> {
    checkStorageName(name, 'snapshot');
    const tx = this.tx(SNAPSHOTS, true);
    tx.objectStore(SNAPSHOTS).delete(name);
    await done(tx);
  }

  async writeMeta(key: string, bytes: Uint8Array): Promise<void> {
    checkStorageName(key, 'metadata key');
    checkMetaSize(bytes);
    const tx = this.tx(META, true);
    tx.objectStore(META).put(bytes.slice(), key);
    await done(tx);
  }

  async readMeta(key: string): Promise<Uint8Array | undefined> {
    checkStorageName(key, 'metadata key');
    const tx = this.db.transaction(META, 'readonly');
    return (await request(tx.objectStore(META).get(key))) as Uint8Array | undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.syncLog().catch(() => undefined);
    this.closed = true;
    this.db.close();
  }
}
