// Reading a backup file of either version from a stream (a file read in pieces, a download,
// bytes in memory). Version 2 is checked chunk by chunk as it arrives; version 1 (one checksum
// over the whole file) is read whole, as before, by format.ts.

import { CODE, HsmError } from '../core/codes.ts';
import type { ChaChaAead } from '../wire/crypto-engine.ts';
import { splitSnapshot } from '../log/recovery.ts';
import { ByteQueue } from './byte-queue.ts';
import {
  BACKUP_DOMAIN_MAX,
  BACKUP_FIXED_HEADER_SIZE,
  BACKUP_MAGIC,
  BACKUP_VERSION,
  backupLength,
  decodeBackup,
  readBackupHeader,
  verifyBackupChecksum,
  type BackupSummary,
  checkSnapshotHeader,
} from './format.ts';
import {
  BACKUP_V2_FIXED_HEADER_SIZE,
  BACKUP_VERSION_2,
  domainLengthV2,
  openChunkV2,
  openKeyV2,
  parseHeaderV2,
  readChunksV2,
  type BackupHeaderV2,
} from './format-v2.ts';

export type { BackupSummary } from './format.ts';

export type BackupSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface OpenedBackup {
  readonly header: BackupSummary;
  /**
   * The snapshot pieces (its header, then whole frames), each checked before it is yielded;
   * read once. Throws 38802/38803 (and 38801, 38404 for version 1).
   */
  pieces(svmk: Uint8Array, aead?: ChaChaAead): AsyncGenerator<Uint8Array>;
  /** Without the key: walks the chunks' framing to the end (38802), counts bytes and chunks. */
  scan(): Promise<{ chunks: number }>;
}

async function* toAsync(source: BackupSource): AsyncGenerator<Uint8Array> {
  for await (const piece of source) yield piece;
}

async function readPrefix(queue: ByteQueue, source: AsyncIterator<Uint8Array>): Promise<number> {
  const complete = await queue.fill(source, 6);
  const start = queue.take(Math.min(6, queue.available));
  const view = new DataView(start.buffer);
  if (start.length < 4 || view.getUint32(0, true) !== BACKUP_MAGIC) {
    throw new HsmError(
      CODE.BACKUP_FORMAT,
      `backup: ${start.length < 4 ? `${start.length} bytes` : 'no "HSBK" magic'}: not an hsmpool backup`,
    );
  }
  if (!complete) throw new HsmError(CODE.BACKUP_DAMAGED, 'backup: truncated in its header');
  const version = view.getUint16(4, true);
  if (version !== BACKUP_VERSION && version !== BACKUP_VERSION_2)
    throw new HsmError(
      CODE.BACKUP_FORMAT,
      `backup: format version ${version}, this build reads versions ${BACKUP_VERSION} and ${BACKUP_VERSION_2}`,
    );
  queue.unshift(start);
  return version;
}

async function readHeaderV2(
  queue: ByteQueue,
  source: AsyncIterator<Uint8Array>,
): Promise<BackupHeaderV2> {
  if (!(await queue.fill(source, BACKUP_V2_FIXED_HEADER_SIZE)))
    throw new HsmError(CODE.BACKUP_DAMAGED, 'backup: truncated in its header');
  const fixed = queue.take(BACKUP_V2_FIXED_HEADER_SIZE);
  const domainLength = domainLengthV2(fixed);
  if (!(await queue.fill(source, domainLength)))
    throw new HsmError(CODE.BACKUP_DAMAGED, 'backup: truncated in its header');
  return parseHeaderV2(fixed, queue.take(domainLength));
}

function openedV2(
  header: BackupHeaderV2,
  queue: ByteQueue,
  source: AsyncIterator<Uint8Array>,
): OpenedBackup {
  return {
    header,
    async *pieces(svmk, aead) {
      const key = openKeyV2(header, svmk);
      for await (const chunk of readChunksV2(queue, source, header)) {
        const plain = openChunkV2(key, header, chunk, aead);
        if (chunk.index === 0) checkSnapshotHeader(plain, header);
        yield plain;
      }
    },
    async scan() {
      let chunks = 0;
      for await (const chunk of readChunksV2(queue, source, header)) chunks = chunk.index + 1;
      return { chunks };
    },
  };
}

async function openedV1(
  queue: ByteQueue,
  source: AsyncIterator<Uint8Array>,
): Promise<OpenedBackup> {
  // Read no further than the length the header declares (plus one byte, to see trailing bytes).
  await queue.fill(source, BACKUP_FIXED_HEADER_SIZE + BACKUP_DOMAIN_MAX);
  const start = queue.take(Math.min(queue.available, BACKUP_FIXED_HEADER_SIZE + BACKUP_DOMAIN_MAX));
  queue.unshift(start);
  const declared = backupLength(readBackupHeader(start));
  await queue.fill(source, declared + 1);
  const bytes = queue.take(Math.min(queue.available, declared + 1));
  const header = verifyBackupChecksum(bytes);
  return {
    header,
    async *pieces(svmk) {
      yield* splitSnapshot(decodeBackup(bytes, svmk).snapshot);
    },
    scan: () => Promise.resolve({ chunks: 0 }),
  };
}

/** Reads a backup's header (38801, 38802); the rest is read by `pieces` or `scan`. */
export async function openBackup(input: BackupSource | Uint8Array): Promise<OpenedBackup> {
  const source = toAsync(input instanceof Uint8Array ? [input] : input);
  const queue = new ByteQueue();
  const version = await readPrefix(queue, source);
  if (version === BACKUP_VERSION) return openedV1(queue, source);
  return openedV2(await readHeaderV2(queue, source), queue, source);
}
