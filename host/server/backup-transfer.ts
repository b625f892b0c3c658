// The console's `backup` command (docs/CONSOLE.md, docs/CLI.md "hsmpool backup"): a backup
// file (format version 2, host/backup/format-v2.ts) is made on the node as it is fetched, in
// pieces, so neither the node nor any console frame ever holds the whole file.
//
//   backup                 starts a point-in-time snapshot export and answers with the
//                          backup's description and piece 0
//   backup ID INDEX        piece INDEX, sealed now from the next part of the export; pieces
//                          come in order (the previous one may be asked again). The last
//                          piece says so, with the file's length and SHA-256, and forgets it
//
// The export is a `yielding` one (Core.exportSnapshot): a checkpoint or a live-sync transfer
// that starts meanwhile closes it, and the backup's next piece answers 38805 (run it again).
// At most TRANSFERS_MAX backups are held at once (38806 BACKUP_BUSY); one not asked for during
// TRANSFER_IDLE_MS is forgotten, and asking for it then gives 38805 BACKUP_TRANSFER_UNKNOWN.

import { sha256 } from '@noble/hashes/sha2.js';
import { CODE, HsmError } from '../core/codes.ts';
import type { Core } from '../core/core.ts';
import type { Appliance } from '../appliance/appliance.ts';
import { hex16 } from '../backup/format.ts';
import { BACKUP_V2_CHUNK_SIZE, encodeBackupStream } from '../backup/format-v2.ts';
import { toBase64, toHex } from '../wire/bytes.ts';
import { secureRandomBytes } from '../wire/random.ts';
import type { ChaChaAead, Sha256Factory, Sha256Hasher } from '../wire/crypto-engine.ts';

/** Bytes of backup file per console answer (about 700 kB of JSON once in base64). */
export const TRANSFER_PIECE_SIZE = 512 * 1024;
export const TRANSFERS_MAX = 2;
export const TRANSFER_IDLE_MS = 5 * 60_000;

export interface BackupContext {
  /** The pool master key (the backup key derives from it). */
  readonly svmk: Uint8Array;
  /** The pool id; defaults to the appliance's. */
  readonly poolId?: bigint;
  readonly now?: () => number;
  readonly randomBytes?: (length: number) => Uint8Array;
  /** Bytes per piece (tests); default TRANSFER_PIECE_SIZE. */
  readonly pieceSize?: number;
  /** The file's ChaCha20-Poly1305 (the session's: node:crypto's in Node); default noble. */
  readonly aead?: ChaChaAead;
  /** The whole file's SHA-256 (the engine's: node:crypto's in Node); default noble. */
  readonly sha256?: Sha256Factory;
}

export interface BackupPiece {
  readonly id: string;
  readonly index: number;
  /** Base64 of the piece's bytes. */
  readonly data: string;
  /** The last piece: `bytes` and `sha256` are the whole file's. */
  readonly last: boolean;
  readonly bytes?: number;
  readonly sha256?: string;
}

export interface BackupStarted extends BackupPiece {
  readonly index: 0;
  readonly pieceSize: number;
  readonly domain: string;
  readonly poolId: string;
  readonly createdMs: number;
  readonly sp: string;
  readonly spvv: string;
  readonly records: number;
}

interface Transfer {
  readonly file: Generator<Uint8Array>;
  readonly pieceSize: number;
  readonly hash: Sha256Hasher;
  /** Bytes sealed and not yet sent (less than one piece). */
  pending: Uint8Array[];
  bytes: number;
  /** The piece answered last (asked again after a lost answer). */
  previous: BackupPiece | undefined;
  lastUsedMs: number;
}

const transfers = new WeakMap<Appliance, Map<string, Transfer>>();

function held(appliance: Appliance, now: number): Map<string, Transfer> {
  let map = transfers.get(appliance);
  if (!map) transfers.set(appliance, (map = new Map()));
  for (const [id, transfer] of map)
    if (now - transfer.lastUsedMs > TRANSFER_IDLE_MS) forget(map, id, transfer);
  return map;
}

function forget(map: Map<string, Transfer>, id: string, transfer: Transfer): void {
  map.delete(id);
  transfer.file.return(undefined); // closes the snapshot export
}

/** The store's snapshot, exported a piece at a time as the backup is fetched. */
function* exportPieces(core: Core): Generator<Uint8Array> {
  const reader = core.exportSnapshot(BACKUP_V2_CHUNK_SIZE, { yielding: true });
  try {
    yield reader.header;
    for (let piece = reader.next(); piece; piece = reader.next()) yield piece;
  } finally {
    reader.close();
  }
}

/** Seals the next piece: pieceSize bytes, or what is left (then `last`). */
function nextPiece(transfer: Transfer, id: string, index: number): BackupPiece {
  let length = transfer.pending.reduce((sum, part) => sum + part.length, 0);
  let done = false;
  while (length <= transfer.pieceSize && !done) {
    const item = transfer.file.next();
    if (item.done) done = true;
    else {
      transfer.pending.push(item.value);
      length += item.value.length;
    }
  }
  const joined = new Uint8Array(length);
  let at = 0;
  for (const part of transfer.pending) {
    joined.set(part, at);
    at += part.length;
  }
  const bytes = joined.subarray(0, Math.min(length, transfer.pieceSize));
  transfer.pending = bytes.length < length ? [joined.slice(bytes.length)] : [];
  transfer.hash.update(bytes);
  transfer.bytes += bytes.length;
  const last = done && transfer.pending.length === 0;
  const piece: BackupPiece = { id, index, data: toBase64(bytes), last };
  if (!last) return piece;
  return { ...piece, bytes: transfer.bytes, sha256: toHex(transfer.hash.digest()) };
}

/** `backup`: starts the file, holds it, answers with its description and piece 0. */
export function startBackup(appliance: Appliance, context: BackupContext): BackupStarted {
  const now = (context.now ?? Date.now)();
  const map = held(appliance, now);
  if (map.size >= TRANSFERS_MAX)
    throw new HsmError(
      CODE.BACKUP_BUSY,
      `${map.size} backups are being fetched from this node; finish them or wait ${TRANSFER_IDLE_MS / 60_000} minutes`,
    );
  const info = appliance.info();
  const poolId = context.poolId ?? appliance.poolId;
  const random = context.randomBytes ?? secureRandomBytes;
  const id = toHex(random(8));
  const file = encodeBackupStream(
    {
      poolId,
      domain: info.domain,
      createdMs: now,
      snapshot: exportPieces(appliance.core),
      randomBytes: context.randomBytes,
      aead: context.aead,
    },
    context.svmk,
  );
  const transfer: Transfer = {
    file,
    pieceSize: context.pieceSize ?? TRANSFER_PIECE_SIZE,
    hash: context.sha256 ? context.sha256() : sha256.create(),
    pending: [],
    bytes: 0,
    previous: undefined,
    lastUsedMs: now,
  };
  let header: Uint8Array;
  let piece: BackupPiece;
  try {
    header = file.next().value as Uint8Array;
    transfer.pending.push(header);
    piece = nextPiece(transfer, id, 0);
  } catch (error) {
    file.return(undefined);
    throw error;
  }
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  transfer.previous = piece;
  if (!piece.last) map.set(id, transfer);
  return {
    ...piece,
    index: 0,
    pieceSize: transfer.pieceSize,
    domain: info.domain,
    poolId: hex16(poolId),
    createdMs: now,
    sp: hex16(view.getBigUint64(32, true)),
    spvv: view.getUint16(40, true).toString(16).padStart(4, '0').toUpperCase(),
    records: Number(view.getBigUint64(24, true)),
  };
}

/** `backup ID INDEX`: the next piece (or the previous one again); the last forgets the file. */
export function backupPiece(
  appliance: Appliance,
  context: BackupContext,
  id: string,
  index: number,
): BackupPiece {
  const now = (context.now ?? Date.now)();
  const map = held(appliance, now);
  const transfer = map.get(id);
  if (!transfer)
    throw new HsmError(
      CODE.BACKUP_TRANSFER_UNKNOWN,
      `no backup ${id} is held here (finished, forgotten after ${TRANSFER_IDLE_MS / 60_000} idle minutes, interrupted, or the node restarted): run backup again`,
    );
  const previous = transfer.previous!;
  transfer.lastUsedMs = now;
  if (index === previous.index) return previous;
  if (!Number.isInteger(index) || index !== previous.index + 1)
    throw new HsmError(
      CODE.BACKUP_PIECE_INVALID,
      `piece index ${index}: backup ${id} is fetched in order, next piece ${previous.index + 1}`,
    );
  let piece: BackupPiece;
  try {
    piece = nextPiece(transfer, id, index);
  } catch (error) {
    forget(map, id, transfer);
    if (!(error instanceof HsmError && error.code === CODE.SNAPSHOT_STATE)) throw error;
    throw new HsmError(
      CODE.BACKUP_TRANSFER_UNKNOWN,
      `backup ${id} was interrupted: a checkpoint or a live-sync transfer took the snapshot export; run backup again`,
    );
  }
  transfer.previous = piece;
  if (piece.last) forget(map, id, transfer);
  return piece;
}

/** Backups held by an appliance (tests, debug). */
export function heldBackups(appliance: Appliance): number {
  return transfers.get(appliance)?.size ?? 0;
}
