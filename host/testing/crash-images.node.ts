// The crash-image check (issue 11): every disk image a crash could leave on a node's
// FileStorage must recover exactly the durable prefix of what the node appended.
//
// A real multi-node history runs (an in-process pool, each node over FileStorage in a temp
// directory, concurrent writers, a checkpoint every few KiB) with every storage call going
// through a RecordingStorage, which runs the calls one at a time and, after each call that
// changes the disk, reads the whole directory back: the image a crash right after it leaves
// (every call the contract calls durable is, once it resolved). A crash during the next call
// can also leave, for an append, any prefix of its bytes, maybe followed by garbage; for a
// file replaced (snapshot, metadata, compacted log), a partial temporary file beside the old
// one. Each image is written to a fresh directory, opened with FileStorage and recovered, and
// the result is compared with an independent replay of the bytes appended before the crash:
// the entries are cut with the header layout and read with parseEntry (no recovery code), the
// whole ones are the durable prefix. Recovery must end at the prefix's last entry, hold the SP
// after its last COMMIT, have its unresolved PREPARE pending, and know the outcome of exactly
// the client writes its COMMITs carried (request-outcomes blob plus the log).
//
// Node only (files).

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessPool } from './in-process-pool.ts';
import { loadRequestOutcomes } from '../log/request-outcomes.ts';
import { recover } from '../log/recovery.ts';
import { toPoolNode } from '../log/log-records.ts';
import { batchRequestIdsHex } from '../core/batch.ts';
import type { Core } from '../core/core.ts';
import { H_BODY_LENGTH, LOG_HEADER_SIZE } from '../core/txlog-layout.ts';
import { parseEntry } from '../core/txlog.ts';
import type { PrepareBody, CommitBody } from '../core/txlog-body.ts';
import { Random } from '../protocol/random.ts';
import { FileStorage } from '../storage/file.node.ts';
import { pullCopies, type Storage } from '../storage/storage.ts';
import { joinBytes } from '../wire/bytes.ts';
import type { WriteInput } from '../appliance/appliance.ts';
import type { NodeAddress } from '../protocol/types.ts';

const LOG_FILE = 'log';
const SNAPSHOTS = 'snapshots';
const META = 'meta';
const TEMPORARY_PREFIX = '.tmp-';
const POOL_ID = 1n;
/** Most garbage bytes after a torn append in an image (MemoryStorage's TORN_GARBAGE_MAX is 512). */
const GARBAGE_MAX = 512;

/** A node's directory as a crash leaves it. */
export interface DiskImage {
  readonly log: Uint8Array;
  readonly snapshots: ReadonlyMap<string, Uint8Array>;
  readonly meta: ReadonlyMap<string, Uint8Array>;
  /** A partial temporary file left by a replacement in flight: [directory, name, bytes]. */
  readonly temporary?: readonly [string, string, Uint8Array];
}

export interface RecordedCall {
  readonly operation: string;
  /** The disk after the call (the previous image for a call that changes nothing). */
  readonly image: DiskImage;
  /** Bytes appended by this call (appendLog). */
  readonly appended?: Uint8Array;
  /** Where a replacing call writes its temporary file: [directory, file name]. */
  readonly replaces?: readonly [string, string];
  /** Total bytes appended by the calls up to this one. */
  readonly appendedTotal: number;
}

const EMPTY_IMAGE: DiskImage = { log: new Uint8Array(0), snapshots: new Map(), meta: new Map() };

async function readDirectoryFiles(directory: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const name of (await readdir(directory)).sort())
    if (!name.startsWith(TEMPORARY_PREFIX))
      files.set(name, new Uint8Array(await readFile(join(directory, name))));
  return files;
}

/** Storage over a FileStorage that records every completed call and the disk after it. */
export class RecordingStorage implements Storage {
  readonly calls: RecordedCall[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private appendedTotal = 0;

  constructor(readonly inner: FileStorage) {}

  private get last(): DiskImage {
    return this.calls.at(-1)?.image ?? EMPTY_IMAGE;
  }

  private async image(): Promise<DiskImage> {
    const directory = this.inner.directory;
    return {
      log: new Uint8Array(await readFile(join(directory, LOG_FILE))),
      snapshots: await readDirectoryFiles(join(directory, SNAPSHOTS)),
      meta: await readDirectoryFiles(join(directory, META)),
    };
  }

  /** One call at a time; the disk is read back after a call that changes it, before the next. */
  private record<T>(
    operation: string,
    run: () => Promise<T>,
    changes: { appended?: Uint8Array; replaces?: readonly [string, string] } | undefined,
  ): Promise<T> {
    const result = this.queue.then(async () => {
      const value = await run();
      if (changes?.appended) this.appendedTotal += changes.appended.length;
      this.calls.push({
        operation,
        image: changes ? await this.image() : this.last,
        appended: changes?.appended,
        replaces: changes?.replaces,
        appendedTotal: this.appendedTotal,
      });
      return value;
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  appendLog(bytes: Uint8Array, durable: boolean): Promise<void> {
    const copy = bytes.slice();
    return this.record('appendLog', () => this.inner.appendLog(copy, durable), {
      appended: copy,
    });
  }
  syncLog(): Promise<void> {
    return this.record('syncLog', () => this.inner.syncLog(), {});
  }
  readLog(): Promise<Uint8Array> {
    return this.record('readLog', () => this.inner.readLog(), undefined);
  }
  logSize(): Promise<number> {
    return this.record('logSize', () => this.inner.logSize(), undefined);
  }
  truncateLog(length: number): Promise<void> {
    return this.record('truncateLog', () => this.inner.truncateLog(length), {});
  }
  dropLogPrefix(length: number): Promise<void> {
    return this.record('dropLogPrefix', () => this.inner.dropLogPrefix(length), {
      replaces: ['', LOG_FILE],
    });
  }
  writeSnapshot(name: string, chunks: Iterable<Uint8Array>): Promise<void> {
    const copies = [...chunks].map((chunk) => chunk.slice());
    return this.record('writeSnapshot', () => this.inner.writeSnapshot(name, copies), {
      replaces: [SNAPSHOTS, name],
    });
  }
  writeSnapshotFrom(name: string, next: () => Uint8Array | undefined): Promise<void> {
    return this.record('writeSnapshot', () => this.inner.writeSnapshot(name, pullCopies(next)), {
      replaces: [SNAPSHOTS, name],
    });
  }
  readSnapshot(name: string): Promise<Uint8Array | undefined> {
    return this.record('readSnapshot', () => this.inner.readSnapshot(name), undefined);
  }
  listSnapshots(): Promise<string[]> {
    return this.record('listSnapshots', () => this.inner.listSnapshots(), undefined);
  }
  deleteSnapshot(name: string): Promise<void> {
    return this.record('deleteSnapshot', () => this.inner.deleteSnapshot(name), {});
  }
  writeMeta(key: string, bytes: Uint8Array): Promise<void> {
    const copy = bytes.slice();
    return this.record('writeMeta', () => this.inner.writeMeta(key, copy), {
      replaces: [META, key],
    });
  }
  readMeta(key: string): Promise<Uint8Array | undefined> {
    return this.record('readMeta', () => this.inner.readMeta(key), undefined);
  }
  async close(): Promise<void> {
    await this.queue;
    await this.inner.close();
  }
}

/** What the entries appended before a crash say, replayed without the recovery code. */
export interface DurablePrefix {
  readonly lastSequence: bigint;
  /** The SP after the last COMMIT (undefined: none). */
  readonly sp: bigint | undefined;
  readonly pending: bigint | undefined;
  /** Request ids of the client writes the COMMITs carried. */
  readonly requestIds: ReadonlySet<string>;
  readonly entries: number;
}

/** The whole entries at the start of `stream` (the bytes appended, in order), replayed. */
export function durablePrefix(stream: Uint8Array): DurablePrefix {
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const prepares = new Map<bigint, PrepareBody>();
  const requestIds = new Set<string>();
  let lastSequence = 0n;
  let sp: bigint | undefined;
  let pending: bigint | undefined;
  let entries = 0;
  for (let at = 0; at + LOG_HEADER_SIZE <= stream.length;) {
    const length = LOG_HEADER_SIZE + view.getUint32(at + H_BODY_LENGTH, true);
    if (at + length > stream.length) break;
    const entry = parseEntry(stream.subarray(at, at + length));
    at += length;
    entries++;
    lastSequence = entry.sequence;
    const body = entry.body;
    if (body.type === 'prepare') {
      prepares.set(entry.transactionId, body as PrepareBody);
      pending = entry.transactionId;
    } else if (body.type === 'commit' || body.type === 'abort') {
      if (pending === entry.transactionId) pending = undefined;
      if (body.type === 'commit') {
        sp = (body as CommitBody).spAfter;
        const prepare = prepares.get(entry.transactionId);
        if (!prepare) throw new Error(`COMMIT ${entry.transactionId} without its PREPARE`);
        for (const id of batchRequestIdsHex(prepare.batch)) if (id) requestIds.add(id);
      }
    }
  }
  return { lastSequence, sp, pending, requestIds, entries };
}

async function writeImage(directory: string, image: DiskImage): Promise<void> {
  await rm(directory, { recursive: true, force: true });
  for (const sub of [SNAPSHOTS, META]) await mkdir(join(directory, sub), { recursive: true });
  await writeFile(join(directory, LOG_FILE), image.log);
  for (const [name, bytes] of image.snapshots)
    await writeFile(join(directory, SNAPSHOTS, name), bytes);
  for (const [key, bytes] of image.meta) await writeFile(join(directory, META, key), bytes);
  if (image.temporary) {
    const [sub, name, bytes] = image.temporary;
    await writeFile(join(directory, sub, TEMPORARY_PREFIX + name), bytes);
  }
}

export interface ImageCheck {
  readonly image: DiskImage;
  /** Bytes of the appended stream the image holds (whole entries among them are durable). */
  readonly appended: number;
  readonly what: string;
}

/** The images a crash after `calls[k - 1]` (during `calls[k]`) can leave. */
export function crashImages(
  calls: readonly RecordedCall[],
  k: number,
  random: Random,
): ImageCheck[] {
  const before = k === 0 ? EMPTY_IMAGE : calls[k - 1].image;
  const appended = k === 0 ? 0 : calls[k - 1].appendedTotal;
  // After a call that changed nothing, the disk is the one already checked after the call before.
  const unchanged = k > 0 && before === (k === 1 ? EMPTY_IMAGE : calls[k - 2].image);
  const images: ImageCheck[] = unchanged
    ? []
    : [{ image: before, appended, what: `after call ${k}` }];
  const next = calls[k];
  if (next?.appended && next.appended.length > 0) {
    // The append in flight: a prefix of its bytes reached the disk, maybe garbage after it.
    const bytes = next.appended;
    const cut = 1 + random.below(bytes.length - 1 || 1);
    const torn = (garbage: Uint8Array): Uint8Array => {
      const log = new Uint8Array(before.log.length + cut + garbage.length);
      log.set(before.log);
      log.set(bytes.subarray(0, cut), before.log.length);
      log.set(garbage, before.log.length + cut);
      return log;
    };
    images.push({
      image: { ...before, log: torn(new Uint8Array(0)) },
      appended: appended + cut,
      what: `during call ${k + 1} (append torn at ${cut} of ${bytes.length})`,
    });
    const garbage = random.bytes(1 + random.below(GARBAGE_MAX));
    if (random.below(2) === 0) garbage.fill(0);
    // Garbage that happens to equal the bytes it covers (zeros over reserved bytes) wrote them.
    let same = 0;
    while (
      same < garbage.length &&
      cut + same < bytes.length &&
      garbage[same] === bytes[cut + same]
    )
      same++;
    images.push({
      image: { ...before, log: torn(garbage) },
      appended: appended + cut + same,
      what: `during call ${k + 1} (append torn at ${cut}, ${garbage.length} garbage bytes)`,
    });
  } else if (next?.replaces) {
    // A replacement in flight: its temporary file, partly written, beside the old content.
    images.push({
      image: {
        ...before,
        temporary: [next.replaces[0], next.replaces[1], random.bytes(random.below(256))],
      },
      appended,
      what: `during call ${k + 1} (${next.operation}: temporary file left)`,
    });
  }
  return images;
}

/** Recovers an image in `directory` and says how it differs from the durable prefix. */
export async function checkImage(
  check: ImageCheck,
  stream: Uint8Array,
  directory: string,
  newCore: () => Core,
  founders: readonly NodeAddress[],
): Promise<string | undefined> {
  const expected = durablePrefix(stream.subarray(0, check.appended));
  await writeImage(directory, check.image);
  const storage = await FileStorage.open(directory);
  const core = newCore();
  const initialSp = core.syncPoint().sp;
  try {
    const outcomes = new Set((await loadRequestOutcomes(storage)).map(([id]) => id));
    const recovered = await recover(core, storage, {
      poolId: POOL_ID,
      founders: founders.map(toPoolNode),
      onCommit: (_, prepare) => {
        for (const id of batchRequestIdsHex(prepare.batch)) if (id) outcomes.add(id);
      },
    });
    const problems: string[] = [];
    if (recovered.last.sequence !== expected.lastSequence)
      problems.push(
        `recovered up to entry ${recovered.last.sequence}, durable prefix ends at ${expected.lastSequence}`,
      );
    const sp = expected.sp ?? initialSp;
    if (recovered.syncPoint.sp !== sp)
      problems.push(`SP ${recovered.syncPoint.hex}, the durable prefix gives ${sp.toString(16)}`);
    if (recovered.pending?.transactionId !== expected.pending)
      problems.push(
        `pending ${recovered.pending?.transactionId.toString(16)}, the durable prefix leaves ${expected.pending?.toString(16)}`,
      );
    const missing = [...expected.requestIds].filter((id) => !outcomes.has(id));
    const extra = [...outcomes].filter((id) => !expected.requestIds.has(id));
    if (missing.length > 0) problems.push(`outcomes of ${missing.length} committed writes missing`);
    if (extra.length > 0)
      problems.push(`outcomes of ${extra.length} writes not committed in the durable prefix`);
    return problems.length > 0 ? problems.join('; ') : undefined;
  } catch (error) {
    return `recovery failed: ${(error as Error).message}`;
  } finally {
    await storage.close();
  }
}

export interface HistoryOptions {
  readonly seed: number;
  readonly newCore: () => Core;
  readonly svmk: Uint8Array;
  /** Encodes a sample object record named `name` (the writes' payload). */
  readonly record: (name: string) => Uint8Array;
  readonly nodes?: number;
  readonly rounds?: number;
  readonly checkpointBytes?: number;
  /** Where the nodes' temp directories go (default: the OS's temp directory). */
  readonly directory?: string;
}

export interface HistoryResult {
  readonly seed: number;
  readonly calls: number;
  readonly images: number;
  readonly checkpoints: number;
  readonly committed: number;
  readonly failures: string[];
}

/** One history: a pool over recorded FileStorage, concurrent writers; then every image checked. */
export async function runHistory(options: HistoryOptions): Promise<HistoryResult> {
  const random = new Random(options.seed);
  const nodes = options.nodes ?? 3;
  const root = await mkdtemp(join(options.directory ?? tmpdir(), 'hsmpool-crash-images-'));
  const storages: RecordingStorage[] = [];
  for (let i = 0; i < nodes; i++)
    storages.push(new RecordingStorage(await FileStorage.open(join(root, `node-${i}`))));
  const pool = await InProcessPool.start({
    nodes,
    svmk: options.svmk,
    newCore: options.newCore,
    seed: options.seed,
    groupCommit: random.chance(0.5),
    checkpointBytes: options.checkpointBytes ?? 1024 * (2 + random.below(4)),
    wrapStorage: (_, i) => storages[i],
  });
  let committed = 0;
  let checkpoints = 0;
  try {
    const rounds = options.rounds ?? 4 + random.below(4);
    for (let round = 0; round < rounds; round++) {
      const writers = 2 + random.below(5);
      const replies = Array.from({ length: writers }, (_, w) =>
        pool.appliances[random.below(nodes)].write(objectWrite(random, `h${round}-${w}`, options)),
      );
      let done = false;
      const all = Promise.all(replies).finally(() => (done = true));
      for (let t = 0; t < 20_000 && !done; t++) await pool.run(1);
      committed += (await all).filter((reply) => reply.code === 0).length;
    }
    checkpoints = pool.appliances.reduce(
      (sum, appliance) => sum + appliance.events.filter((e) => e.event === 'checkpoint').length,
      0,
    );
  } finally {
    await pool.close();
  }
  const failures: string[] = [];
  let images = 0;
  const scratch = join(root, 'image');
  for (let i = 0; i < nodes; i++) {
    const calls = storages[i].calls;
    const stream = joinBytes(calls.flatMap((call) => (call.appended ? [call.appended] : [])));
    for (let k = 0; k <= calls.length; k++) {
      for (const check of crashImages(calls, k, random)) {
        images++;
        const problem = await checkImage(check, stream, scratch, options.newCore, pool.founders);
        if (problem)
          failures.push(
            `seed ${options.seed} node ${i} ${check.what} (${calls[k - 1]?.operation ?? 'start'}): ${problem}`,
          );
      }
    }
  }
  await rm(root, { recursive: true, force: true });
  return {
    seed: options.seed,
    calls: storages.reduce((sum, s) => sum + s.calls.length, 0),
    images,
    checkpoints,
    committed,
    failures,
  };
}

function objectWrite(random: Random, name: string, options: HistoryOptions): WriteInput {
  return {
    requestId: random.id64() + random.id64(),
    event: 'CREATE_OBJ',
    sourceUser: 'alice',
    target: name,
    operations: [{ op: 'insert', record: options.record(name) }],
  };
}
