// Backup files (docs/FORMATS.md "Backups"): a snapshot stream (host/core/core.ts) encrypted
// under a key derived from the SVMK and checksummed. Pure and browser-safe: the CLI does the
// file I/O.
//
//   header   88 + D bytes: magic "HSBK", version, pool id, created, count/SP/SPVV, chunk
//            size, snapshot length, a random 32-byte salt, the domain (D bytes of UTF-8)
//   chunks   ceil(N / C) ciphertexts: ChaCha20-Poly1305 under HKDF(backup key, salt) with
//            nonce = 0u32 || chunk index u64 LE and the whole header as associated data
//   checksum SHA-256 of every byte before it
//
// Checks on decode, in order, each refusing before anything is decrypted further:
// 38801 BACKUP_FORMAT (not a backup of this version), 38802 BACKUP_DAMAGED (length or
// checksum: truncated, extended, corrupted), 38803 BACKUP_FOREIGN (the checksum holds but a
// chunk does not authenticate: another SVMK), 38404 (the decrypted snapshot's header does
// not repeat the backup header's count, SP and SPVV).

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import type { ChaChaAead } from '../wire/crypto-engine.ts';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { CODE, HsmError } from '../core/codes.ts';
import { deriveKey } from '../core/keys.ts';
import { concatBytes, joinBytes, toHex64 } from '../wire/bytes.ts';
import { secureRandomBytes } from '../wire/random.ts';

export const BACKUP_MAGIC = 0x4b425348; // "HSBK" little-endian
export const BACKUP_VERSION = 1;
export const BACKUP_FIXED_HEADER_SIZE = 88;
export const BACKUP_SALT_SIZE = 32;
export const BACKUP_TAG_SIZE = 16;
export const BACKUP_CHECKSUM_SIZE = 32;
export const BACKUP_DOMAIN_MAX = 255;
/** Plaintext bytes per encrypted chunk (the default, and the bounds a reader accepts). */
export const BACKUP_CHUNK_SIZE = 1 << 20;
export const BACKUP_CHUNK_SIZE_MIN = 4096;
export const BACKUP_CHUNK_SIZE_MAX = 16 << 20;
/** The snapshot header's size and offsets (docs/FORMATS.md "Snapshots"). */
const SNAPSHOT_HEADER_SIZE = 32;

/** What the headers of both versions say. */
export interface BackupSummary {
  readonly version: number;
  readonly poolId: bigint;
  readonly domain: string;
  /** Unix milliseconds. */
  readonly createdMs: number;
  readonly recordCount: bigint;
  readonly sp: bigint;
  readonly spvv: number;
}

export interface BackupHeader extends BackupSummary {
  readonly chunkSize: number;
  readonly snapshotLength: number;
  readonly salt: Uint8Array;
  /** Bytes of the encoded header (the associated data of every chunk). */
  readonly headerLength: number;
}

export interface BackupInput {
  readonly poolId: bigint;
  readonly domain: string;
  readonly createdMs: number;
  /** The snapshot stream: header then chunks, cut anywhere (version 2: pieces of whole frames
   * of at most chunkSize bytes, as Core.snapshotChunks gives them). */
  readonly snapshot: Iterable<Uint8Array>;
  readonly chunkSize?: number;
  /** Random bytes (the salt); defaults to crypto.getRandomValues. */
  readonly randomBytes?: (length: number) => Uint8Array;
  /** Version 2's ChaCha20-Poly1305: noble by default, node:crypto's from Node entry points
   * (crypto-engine.node.ts NODE_CHACHA; the same bytes, 17× as fast here). */
  readonly aead?: ChaChaAead;
}

export interface DecodedBackup {
  readonly header: BackupHeader;
  /** The snapshot stream, whole (split it with splitSnapshot to import). */
  readonly snapshot: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The key every backup of a pool is encrypted under (per file, HKDF with the file's salt). */
export function backupKey(svmk: Uint8Array): Uint8Array {
  return deriveKey(svmk, 'backup', 32);
}

function fileKey(key: Uint8Array, salt: Uint8Array): Uint8Array {
  return hkdf(sha256, key, salt, encoder.encode('hsmpool/backup-file/v1'), 32);
}

export function nonce(index: number): Uint8Array {
  const bytes = new Uint8Array(12);
  new DataView(bytes.buffer).setBigUint64(4, BigInt(index), true);
  return bytes;
}

export function chunkCount(snapshotLength: number, chunkSize: number): number {
  return Math.ceil(snapshotLength / chunkSize);
}

/** The file's total length as its header declares it. */
export function backupLength(header: BackupHeader): number {
  return (
    header.headerLength +
    header.snapshotLength +
    chunkCount(header.snapshotLength, header.chunkSize) * BACKUP_TAG_SIZE +
    BACKUP_CHECKSUM_SIZE
  );
}

function encodeHeader(header: Omit<BackupHeader, 'headerLength' | 'version'>): Uint8Array {
  const domain = encoder.encode(header.domain);
  if (domain.length === 0 || domain.length > BACKUP_DOMAIN_MAX)
    throw new RangeError(`domain: 1 to ${BACKUP_DOMAIN_MAX} bytes of UTF-8`);
  const bytes = new Uint8Array(BACKUP_FIXED_HEADER_SIZE + domain.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, BACKUP_MAGIC, true);
  view.setUint16(4, BACKUP_VERSION, true);
  view.setUint16(6, bytes.length, true);
  view.setBigUint64(8, header.poolId, true);
  view.setBigUint64(16, BigInt(header.createdMs), true);
  view.setBigUint64(24, header.recordCount, true);
  view.setBigUint64(32, header.sp, true);
  view.setUint16(40, header.spvv, true);
  view.setUint16(42, domain.length, true);
  view.setUint32(44, header.chunkSize, true);
  view.setBigUint64(48, BigInt(header.snapshotLength), true);
  bytes.set(header.salt, 56);
  bytes.set(domain, BACKUP_FIXED_HEADER_SIZE);
  return bytes;
}

/** Encrypts a snapshot stream into a backup file (whole, in memory). */
export function encodeBackup(input: BackupInput, svmk: Uint8Array): Uint8Array {
  const chunkSize = input.chunkSize ?? BACKUP_CHUNK_SIZE;
  if (
    !Number.isInteger(chunkSize) ||
    chunkSize < BACKUP_CHUNK_SIZE_MIN ||
    chunkSize > BACKUP_CHUNK_SIZE_MAX
  )
    throw new RangeError(`chunkSize: ${BACKUP_CHUNK_SIZE_MIN} to ${BACKUP_CHUNK_SIZE_MAX}`);
  const snapshot = joinBytes(input.snapshot);
  if (snapshot.length < SNAPSHOT_HEADER_SIZE)
    throw new HsmError(CODE.SNAPSHOT_BAD_HEADER, 'backup: the snapshot stream has no header');
  const snapshotView = new DataView(snapshot.buffer, snapshot.byteOffset, SNAPSHOT_HEADER_SIZE);
  const salt = (input.randomBytes ?? secureRandomBytes)(BACKUP_SALT_SIZE);
  if (salt.length !== BACKUP_SALT_SIZE) throw new RangeError('randomBytes: wrong length');
  const header = encodeHeader({
    poolId: input.poolId,
    domain: input.domain,
    createdMs: input.createdMs,
    recordCount: snapshotView.getBigUint64(8, true),
    sp: snapshotView.getBigUint64(16, true),
    spvv: snapshotView.getUint16(24, true),
    chunkSize,
    snapshotLength: snapshot.length,
    salt,
  });
  const key = fileKey(backupKey(svmk), salt);
  const parts: Uint8Array[] = [header];
  for (let index = 0, at = 0; at < snapshot.length; index++, at += chunkSize) {
    parts.push(
      chacha20poly1305(key, nonce(index), header).encrypt(
        snapshot.subarray(at, Math.min(snapshot.length, at + chunkSize)),
      ),
    );
  }
  const body = joinBytes(parts);
  return concatBytes(body, sha256(body));
}

/** Parses and checks a backup's header (38801 if it is not one of this version). */
export function readBackupHeader(bytes: Uint8Array): BackupHeader {
  const fail = (detail: string): never => {
    throw new HsmError(CODE.BACKUP_FORMAT, `backup: ${detail}`);
  };
  if (bytes.length < BACKUP_FIXED_HEADER_SIZE) {
    // Too short for a header: still say "damaged" if it starts like a backup.
    if (
      bytes.length >= 4 &&
      new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === BACKUP_MAGIC
    ) {
      throw new HsmError(
        CODE.BACKUP_DAMAGED,
        `backup: ${bytes.length} bytes, shorter than its header (truncated)`,
      );
    }
    fail(`${bytes.length} bytes, not an hsmpool backup`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== BACKUP_MAGIC) fail('no "HSBK" magic: not an hsmpool backup');
  const version = view.getUint16(4, true);
  if (version !== BACKUP_VERSION)
    fail(`format version ${version}, this build reads version ${BACKUP_VERSION}`);
  const domainLength = view.getUint16(42, true);
  const headerLength = view.getUint16(6, true);
  if (
    domainLength === 0 ||
    domainLength > BACKUP_DOMAIN_MAX ||
    headerLength !== BACKUP_FIXED_HEADER_SIZE + domainLength
  )
    fail('header length or domain length out of range');
  const chunkSize = view.getUint32(44, true);
  if (chunkSize < BACKUP_CHUNK_SIZE_MIN || chunkSize > BACKUP_CHUNK_SIZE_MAX)
    fail(`chunk size ${chunkSize} out of range`);
  const snapshotLength = view.getBigUint64(48, true);
  if (
    snapshotLength < BigInt(SNAPSHOT_HEADER_SIZE) ||
    snapshotLength > BigInt(Number.MAX_SAFE_INTEGER)
  )
    fail('snapshot length out of range');
  const createdMs = view.getBigUint64(16, true);
  if (createdMs > BigInt(Number.MAX_SAFE_INTEGER)) fail('creation time out of range');
  if (bytes.length < headerLength)
    throw new HsmError(
      CODE.BACKUP_DAMAGED,
      `backup: ${bytes.length} bytes, shorter than its header (truncated)`,
    );
  let domain = '';
  try {
    domain = decoder.decode(bytes.subarray(BACKUP_FIXED_HEADER_SIZE, headerLength));
  } catch {
    fail('the domain is not UTF-8');
  }
  return {
    version,
    poolId: view.getBigUint64(8, true),
    domain,
    createdMs: Number(createdMs),
    recordCount: view.getBigUint64(24, true),
    sp: view.getBigUint64(32, true),
    spvv: view.getUint16(40, true),
    chunkSize,
    snapshotLength: Number(snapshotLength),
    salt: bytes.slice(56, 56 + BACKUP_SALT_SIZE),
    headerLength,
  };
}

/** Length and checksum only: no key needed (38801, 38802). */
export function verifyBackupChecksum(bytes: Uint8Array): BackupHeader {
  const header = readBackupHeader(bytes);
  const expected = backupLength(header);
  if (bytes.length !== expected) {
    throw new HsmError(
      CODE.BACKUP_DAMAGED,
      `backup: ${bytes.length} bytes where its header implies ${expected} (${bytes.length < expected ? 'truncated' : 'trailing bytes'})`,
    );
  }
  const body = bytes.subarray(0, bytes.length - BACKUP_CHECKSUM_SIZE);
  const stored = bytes.subarray(bytes.length - BACKUP_CHECKSUM_SIZE);
  const actual = sha256(body);
  let diff = 0;
  for (let i = 0; i < BACKUP_CHECKSUM_SIZE; i++) diff |= actual[i] ^ stored[i];
  if (diff !== 0)
    throw new HsmError(
      CODE.BACKUP_DAMAGED,
      'backup: the SHA-256 checksum does not match (the file is corrupt)',
    );
  return header;
}

/** Verifies and decrypts a whole backup file. Throws 38801, 38802, 38803 or 38404. */
export function decodeBackup(bytes: Uint8Array, svmk: Uint8Array): DecodedBackup {
  const header = verifyBackupChecksum(bytes);
  const aad = bytes.subarray(0, header.headerLength);
  const key = fileKey(backupKey(svmk), header.salt);
  const snapshot = new Uint8Array(header.snapshotLength);
  const count = chunkCount(header.snapshotLength, header.chunkSize);
  let at = header.headerLength;
  for (let index = 0; index < count; index++) {
    const plainLength = Math.min(
      header.chunkSize,
      header.snapshotLength - index * header.chunkSize,
    );
    const sealed = bytes.subarray(at, at + plainLength + BACKUP_TAG_SIZE);
    let plain: Uint8Array;
    try {
      plain = chacha20poly1305(key, nonce(index), aad).decrypt(sealed);
    } catch {
      throw new HsmError(
        CODE.BACKUP_FOREIGN,
        `backup: chunk ${index} does not authenticate: the backup was made under another SVMK (another pool) or altered`,
      );
    }
    snapshot.set(plain, index * header.chunkSize);
    at += sealed.length;
  }
  checkSnapshotHeader(snapshot.subarray(0, SNAPSHOT_HEADER_SIZE), header);
  return { header, snapshot };
}

/** The snapshot's header (its first 32 bytes) states the count, SP and SPVV the backup's header does. */
export function checkSnapshotHeader(plain: Uint8Array, header: BackupSummary): void {
  const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  if (
    plain.length !== SNAPSHOT_HEADER_SIZE ||
    view.getBigUint64(8, true) !== header.recordCount ||
    view.getBigUint64(16, true) !== header.sp ||
    view.getUint16(24, true) !== header.spvv
  )
    throw new HsmError(
      CODE.SNAPSHOT_MISMATCH,
      'backup: the snapshot inside does not have the record count, SP and SPVV of the backup header',
    );
}

export const hex16 = (value: bigint): string => toHex64(value).toUpperCase();
