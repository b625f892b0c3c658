// Backup files, version 2 (docs/FORMATS.md "Backups"): a stream. The writer seals the snapshot
// stream piece by piece as it is exported; the reader checks each chunk as it arrives. Neither
// holds more than one chunk. Pure and browser-safe.
//
//   header   96 + D bytes: magic "HSBK", version 2, pool id, created, count/SP/SPVV, the chunk
//            size bound C, KDF and AEAD ids, a random 32-byte salt, an 8-byte key check, domain
//   chunks   each: a u32 word (plaintext length L in bits 0..30, bit 31 = final) then L + 16
//            bytes of ChaCha20-Poly1305 under HKDF(backup key, salt), nonce = 0u32 || index u64,
//            associated data = header || index u64 || word u32. Chunk 0 is the snapshot header,
//            every other chunk whole snapshot frames (what Core.importChunk takes).
//
// The reader refuses: 38801 BACKUP_FORMAT (not a version-2 backup), 38803 BACKUP_FOREIGN (the
// key check fails: another SVMK), 38802 BACKUP_DAMAGED (a word out of range, a chunk that does
// not authenticate under the right key, no final chunk, bytes after it).

import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { CODE, HsmError } from '../core/codes.ts';
import { constantTimeEqual } from '../wire/bytes.ts';
import { NOBLE_CHACHA, type ChaChaAead } from '../wire/crypto-engine.ts';
import { secureRandomBytes } from '../wire/random.ts';
import { ByteQueue } from './byte-queue.ts';
import {
  BACKUP_DOMAIN_MAX,
  BACKUP_MAGIC,
  BACKUP_SALT_SIZE,
  backupKey,
  nonce,
  type BackupInput,
  type BackupSummary,
} from './format.ts';

export const BACKUP_VERSION_2 = 2;
export const BACKUP_V2_FIXED_HEADER_SIZE = 96;
export const BACKUP_V2_KEY_CHECK_SIZE = 8;
export const BACKUP_V2_WORD_SIZE = 4;
export const BACKUP_V2_TAG_SIZE = 16;
/** Plaintext bytes per chunk when written, and the bounds a reader accepts for C. */
export const BACKUP_V2_CHUNK_SIZE = 256 * 1024;
export const BACKUP_V2_CHUNK_SIZE_MIN = 4096;
export const BACKUP_V2_CHUNK_SIZE_MAX = 16 << 20;
/** Chunks per file (the index is a u64 in the nonce; this bound keeps it a safe integer). */
export const BACKUP_V2_CHUNKS_MAX = 2 ** 32;
const KDF_HKDF_SHA256 = 1;
const AEAD_CHACHA20_POLY1305 = 1;
const FINAL_BIT = 0x8000_0000;
const SNAPSHOT_HEADER_SIZE = 32;

export interface BackupHeaderV2 extends BackupSummary {
  readonly version: 2;
  readonly chunkSize: number;
  readonly salt: Uint8Array;
  readonly keyCheck: Uint8Array;
  /** The encoded header (the start of every chunk's associated data). */
  readonly bytes: Uint8Array;
}

/** One sealed chunk as framed in the file. */
export interface SealedChunk {
  readonly index: number;
  readonly final: boolean;
  readonly word: number;
  readonly sealed: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

interface FileKeys {
  readonly key: Uint8Array;
  readonly check: Uint8Array;
}

function fileKeys(svmk: Uint8Array, salt: Uint8Array): FileKeys {
  const okm = hkdf(sha256, backupKey(svmk), salt, encoder.encode('hsmpool/backup-file/v2'), 40);
  return { key: okm.subarray(0, 32), check: okm.subarray(32, 40) };
}

function associatedData(header: Uint8Array, index: number, word: number): Uint8Array {
  const bytes = new Uint8Array(header.length + 12);
  bytes.set(header);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(header.length, BigInt(index), true);
  view.setUint32(header.length + 8, word, true);
  return bytes;
}

function checkChunkSize(chunkSize: number): void {
  if (
    !Number.isInteger(chunkSize) ||
    chunkSize < BACKUP_V2_CHUNK_SIZE_MIN ||
    chunkSize > BACKUP_V2_CHUNK_SIZE_MAX
  )
    throw new RangeError(`chunkSize: ${BACKUP_V2_CHUNK_SIZE_MIN} to ${BACKUP_V2_CHUNK_SIZE_MAX}`);
}

function encodeHeader(
  input: BackupInput,
  snapshotHeader: Uint8Array,
  chunkSize: number,
  salt: Uint8Array,
  keyCheck: Uint8Array,
): Uint8Array {
  const domain = encoder.encode(input.domain);
  if (domain.length === 0 || domain.length > BACKUP_DOMAIN_MAX)
    throw new RangeError(`domain: 1 to ${BACKUP_DOMAIN_MAX} bytes of UTF-8`);
  if (snapshotHeader.length !== SNAPSHOT_HEADER_SIZE)
    throw new HsmError(CODE.SNAPSHOT_BAD_HEADER, 'backup: the snapshot stream has no header');
  const snapshot = new DataView(snapshotHeader.buffer, snapshotHeader.byteOffset, 32);
  const bytes = new Uint8Array(BACKUP_V2_FIXED_HEADER_SIZE + domain.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, BACKUP_MAGIC, true);
  view.setUint16(4, BACKUP_VERSION_2, true);
  view.setUint16(6, bytes.length, true);
  view.setBigUint64(8, input.poolId, true);
  view.setBigUint64(16, BigInt(input.createdMs), true);
  view.setBigUint64(24, snapshot.getBigUint64(8, true), true);
  view.setBigUint64(32, snapshot.getBigUint64(16, true), true);
  view.setUint16(40, snapshot.getUint16(24, true), true);
  view.setUint16(42, domain.length, true);
  view.setUint32(44, chunkSize, true);
  view.setUint8(48, KDF_HKDF_SHA256);
  view.setUint8(49, AEAD_CHACHA20_POLY1305);
  bytes.set(salt, 56);
  bytes.set(keyCheck, 88);
  bytes.set(domain, BACKUP_V2_FIXED_HEADER_SIZE);
  return bytes;
}

function sealChunk(
  aead: ChaChaAead,
  keys: FileKeys,
  header: Uint8Array,
  index: number,
  plain: Uint8Array,
  final: boolean,
): Uint8Array {
  const word = (plain.length | (final ? FINAL_BIT : 0)) >>> 0;
  // Sealed behind room for the chunk's word, which is then written in front: no copy.
  const out = aead.seal(
    keys.key,
    nonce(index),
    associatedData(header, index, word),
    plain,
    BACKUP_V2_WORD_SIZE,
  );
  new DataView(out.buffer, out.byteOffset).setUint32(0, word, true);
  return out;
}

/**
 * The backup file as a stream: the header, then one sealed chunk per snapshot piece, pulled
 * from `input.snapshot` one ahead (to know which is final). Holds at most two pieces.
 */
export function* encodeBackupStream(input: BackupInput, svmk: Uint8Array): Generator<Uint8Array> {
  const chunkSize = input.chunkSize ?? BACKUP_V2_CHUNK_SIZE;
  checkChunkSize(chunkSize);
  const salt = (input.randomBytes ?? secureRandomBytes)(BACKUP_SALT_SIZE);
  if (salt.length !== BACKUP_SALT_SIZE) throw new RangeError('randomBytes: wrong length');
  const keys = fileKeys(svmk, salt);
  const aead = input.aead ?? NOBLE_CHACHA;
  const pieces = input.snapshot[Symbol.iterator]();
  try {
    const first = pieces.next();
    if (first.done)
      throw new HsmError(CODE.SNAPSHOT_BAD_HEADER, 'backup: an empty snapshot stream');
    const header = encodeHeader(input, first.value, chunkSize, salt, keys.check);
    yield header;
    let current = first.value;
    for (let index = 0; ; index++) {
      const next = pieces.next();
      if (current.length === 0 || current.length > chunkSize)
        throw new RangeError(`snapshot piece ${index}: ${current.length} bytes, 1 to ${chunkSize}`);
      if (index >= BACKUP_V2_CHUNKS_MAX) throw new RangeError('backup: too many chunks');
      yield sealChunk(aead, keys, header, index, current, next.done === true);
      if (next.done) return;
      current = next.value;
    }
  } finally {
    pieces.return?.(); // a backup abandoned half way closes its snapshot export
  }
}

const formatError = (detail: string): HsmError =>
  new HsmError(CODE.BACKUP_FORMAT, `backup: ${detail}`);
const damaged = (detail: string): HsmError =>
  new HsmError(CODE.BACKUP_DAMAGED, `backup: ${detail}`);

/** Parses a version-2 header from its first BACKUP_V2_FIXED_HEADER_SIZE + D bytes. */
export function parseHeaderV2(fixed: Uint8Array, domainBytes: Uint8Array): BackupHeaderV2 {
  const view = new DataView(fixed.buffer, fixed.byteOffset, BACKUP_V2_FIXED_HEADER_SIZE);
  const chunkSize = view.getUint32(44, true);
  if (chunkSize < BACKUP_V2_CHUNK_SIZE_MIN || chunkSize > BACKUP_V2_CHUNK_SIZE_MAX)
    throw formatError(`chunk size ${chunkSize} out of range`);
  if (view.getUint8(48) !== KDF_HKDF_SHA256 || view.getUint8(49) !== AEAD_CHACHA20_POLY1305)
    throw formatError(`unknown KDF ${view.getUint8(48)} or AEAD ${view.getUint8(49)}`);
  if (view.getUint16(50, true) !== 0 || view.getUint32(52, true) !== 0)
    throw formatError('reserved header bytes are not zero');
  const createdMs = view.getBigUint64(16, true);
  if (createdMs > BigInt(Number.MAX_SAFE_INTEGER)) throw formatError('creation time out of range');
  let domain = '';
  try {
    domain = decoder.decode(domainBytes);
  } catch {
    throw formatError('the domain is not UTF-8');
  }
  const bytes = new Uint8Array(fixed.length + domainBytes.length);
  bytes.set(fixed);
  bytes.set(domainBytes, fixed.length);
  return {
    version: 2,
    poolId: view.getBigUint64(8, true),
    domain,
    createdMs: Number(createdMs),
    recordCount: view.getBigUint64(24, true),
    sp: view.getBigUint64(32, true),
    spvv: view.getUint16(40, true),
    chunkSize,
    salt: bytes.slice(56, 88),
    keyCheck: bytes.slice(88, 96),
    bytes,
  };
}

/** The domain length a fixed header declares (38801 if the lengths disagree). */
export function domainLengthV2(fixed: Uint8Array): number {
  const view = new DataView(fixed.buffer, fixed.byteOffset, BACKUP_V2_FIXED_HEADER_SIZE);
  const domainLength = view.getUint16(42, true);
  if (
    domainLength === 0 ||
    domainLength > BACKUP_DOMAIN_MAX ||
    view.getUint16(6, true) !== BACKUP_V2_FIXED_HEADER_SIZE + domainLength
  )
    throw formatError('header length or domain length out of range');
  return domainLength;
}

/**
 * The chunks after a version-2 header, framed without the key: checks every word, that the
 * final chunk comes and that nothing follows it (38802).
 */
export async function* readChunksV2(
  queue: ByteQueue,
  source: AsyncIterator<Uint8Array>,
  header: BackupHeaderV2,
): AsyncGenerator<SealedChunk> {
  for (let index = 0; ; index++) {
    if (!(await queue.fill(source, BACKUP_V2_WORD_SIZE)))
      throw damaged(`truncated: chunk ${index} missing, no final chunk`);
    const word = new DataView(queue.take(BACKUP_V2_WORD_SIZE).buffer).getUint32(0, true);
    const length = word & ~FINAL_BIT;
    const final = (word & FINAL_BIT) !== 0;
    if (length === 0 || length > header.chunkSize)
      throw damaged(`chunk ${index}: length ${length} out of range 1 to ${header.chunkSize}`);
    if (!(await queue.fill(source, length + BACKUP_V2_TAG_SIZE)))
      throw damaged(`truncated in chunk ${index}`);
    yield { index, final, word, sealed: queue.take(length + BACKUP_V2_TAG_SIZE) };
    if (final) {
      if (await queue.fill(source, 1)) throw damaged('bytes after the final chunk');
      return;
    }
    if (index + 1 >= BACKUP_V2_CHUNKS_MAX) throw damaged('too many chunks');
  }
}

/** Throws 38803 unless `svmk` is the key the file was made under; returns the file key. */
export function openKeyV2(header: BackupHeaderV2, svmk: Uint8Array): Uint8Array {
  const keys = fileKeys(svmk, header.salt);
  if (!constantTimeEqual(keys.check, header.keyCheck))
    throw new HsmError(
      CODE.BACKUP_FOREIGN,
      'backup: made under another SVMK (another pool): its key check does not match',
    );
  return keys.key;
}

/** Decrypts one chunk (38802 if it does not authenticate: altered, reordered or spliced). */
export function openChunkV2(
  key: Uint8Array,
  header: BackupHeaderV2,
  chunk: SealedChunk,
  aead: ChaChaAead = NOBLE_CHACHA,
): Uint8Array {
  const plain = aead.open(
    key,
    nonce(chunk.index),
    associatedData(header.bytes, chunk.index, chunk.word),
    chunk.sealed,
  );
  if (plain === undefined)
    throw damaged(
      `chunk ${chunk.index} does not authenticate (altered, reordered, or from another file)`,
    );
  return plain;
}
