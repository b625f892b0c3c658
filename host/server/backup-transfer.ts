// The console's `backup` command (docs/CONSOLE.md, docs/CLI.md "hsmpool backup"): a backup
// file is made on the node and fetched in pieces, so no console frame grows with the pool.
//
//   backup                 takes a snapshot now, encrypts it into a backup file held in the
//                          node's memory; answers with its id, size, piece count and SHA-256,
//                          and piece 0
//   backup ID INDEX        piece INDEX (base64, TRANSFER_PIECE_SIZE bytes, the last shorter);
//                          serving the last piece forgets the file
//
// At most TRANSFERS_MAX files are held at once (38806 BACKUP_BUSY); one not asked for during
// TRANSFER_IDLE_MS is forgotten, and asking for it then gives 38805 BACKUP_TRANSFER_UNKNOWN.

import { CODE, HsmError } from '../core/codes.ts';
import type { Appliance } from '../appliance/appliance.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { encodeBackup, hex16 } from '../backup/format.ts';
import { toBase64, toHex } from '../wire/bytes.ts';

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
}

interface Transfer {
  readonly bytes: Uint8Array;
  readonly pieceSize: number;
  lastUsedMs: number;
}

export interface BackupStarted {
  readonly id: string;
  readonly bytes: number;
  readonly pieces: number;
  readonly pieceSize: number;
  readonly sha256: string;
  readonly domain: string;
  readonly poolId: string;
  readonly createdMs: number;
  readonly sp: string;
  readonly spvv: string;
  readonly records: number;
  readonly index: 0;
  readonly data: string;
}

export interface BackupPiece {
  readonly id: string;
  readonly index: number;
  readonly pieces: number;
  readonly data: string;
}

const transfers = new WeakMap<Appliance, Map<string, Transfer>>();

function held(appliance: Appliance, now: number): Map<string, Transfer> {
  let map = transfers.get(appliance);
  if (!map) transfers.set(appliance, (map = new Map()));
  for (const [id, transfer] of map)
    if (now - transfer.lastUsedMs > TRANSFER_IDLE_MS) map.delete(id);
  return map;
}

function piece(bytes: Uint8Array, index: number, size: number): string {
  return toBase64(bytes.subarray(index * size, Math.min(bytes.length, (index + 1) * size)));
}

const pieceCount = (bytes: Uint8Array, size: number): number => Math.ceil(bytes.length / size);

/** `backup`: makes the file, holds it, answers with its description and piece 0. */
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
  const snapshot = appliance.core.snapshotChunks();
  const bytes = encodeBackup(
    { poolId, domain: info.domain, createdMs: now, snapshot, randomBytes: context.randomBytes },
    context.svmk,
  );
  const random = (
    context.randomBytes ?? ((n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n)))
  )(8);
  const id = toHex(random);
  const pieceSize = context.pieceSize ?? TRANSFER_PIECE_SIZE;
  const pieces = pieceCount(bytes, pieceSize);
  const view = new DataView(snapshot[0].buffer, snapshot[0].byteOffset, 32);
  if (pieces > 1) map.set(id, { bytes, pieceSize, lastUsedMs: now });
  return {
    id,
    bytes: bytes.length,
    pieces,
    pieceSize,
    sha256: toHex(sha256(bytes)),
    domain: info.domain,
    poolId: hex16(poolId),
    createdMs: now,
    sp: hex16(view.getBigUint64(16, true)),
    spvv: view.getUint16(24, true).toString(16).padStart(4, '0').toUpperCase(),
    records: Number(view.getBigUint64(8, true)),
    index: 0,
    data: piece(bytes, 0, pieceSize),
  };
}

/** `backup ID INDEX`: one piece; the last one forgets the file. */
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
      `no backup ${id} is held here (finished, forgotten after ${TRANSFER_IDLE_MS / 60_000} idle minutes, or the node restarted): run backup again`,
    );
  const pieces = pieceCount(transfer.bytes, transfer.pieceSize);
  if (!Number.isInteger(index) || index < 0 || index >= pieces)
    throw new HsmError(
      CODE.BACKUP_PIECE_INVALID,
      `piece index ${index}: backup ${id} has pieces 0 to ${pieces - 1}`,
    );
  transfer.lastUsedMs = now;
  const data = piece(transfer.bytes, index, transfer.pieceSize);
  if (index === pieces - 1) map.delete(id);
  return { id, index, pieces, data };
}

/** Backups held by an appliance (tests, debug). */
export function heldBackups(appliance: Appliance): number {
  return transfers.get(appliance)?.size ?? 0;
}
