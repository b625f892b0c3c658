// Backup and restore from the page (docs/WEB.md "Backup and restore"). A backup is what
// `hsmpool backup` fetches: the console's `backup` run on a node, the file fetched piece by
// piece (`backup ID INDEX`) until the last, checked against the length and SHA-256 the node
// announced with it and against its own framing. The page then offers it as a download and keeps it for a restore.
// A restore replaces an appliance's state offline, as `hsmpool restore` does: the worker is
// killed and a new one restores into its database before recovery (worker.ts).

import { sha256 } from '@noble/hashes/sha2.js';
import { CODE, HsmError } from '../host/core/codes.ts';
import type { BackupPiece, BackupStarted } from '../host/server/backup-transfer.ts';
import { openBackup } from '../host/backup/stream.ts';
import { fromBase64, joinBytes, toHex } from '../host/wire/bytes.ts';
import type { ConsoleAnswer } from './tab-pool.ts';

export interface PageBackup {
  readonly started: BackupStarted;
  readonly bytes: Uint8Array;
  /** The file name offered for the download. */
  readonly name: string;
}

type RunConsole = (line: string) => Promise<ConsoleAnswer>;

/** Runs one console command; a refusal becomes the HsmError it names. */
async function run(console: RunConsole, line: string): Promise<unknown> {
  const answer = await console(line);
  if (answer.code !== 0) throw new HsmError(answer.code, answer.text.split('\n')[0]);
  return answer.data;
}

function decodePiece(data: string): Uint8Array {
  const bytes = fromBase64(data);
  if (!bytes) throw new HsmError(CODE.BACKUP_DAMAGED, 'a backup piece is not base64');
  return bytes;
}

/** Fetches a whole backup file through a node's remote console. */
export async function fetchBackup(console: RunConsole): Promise<PageBackup> {
  const started = (await run(console, 'backup')) as BackupStarted;
  const pieces = [decodePiece(started.data)];
  let last: BackupPiece = started;
  for (let index = 1; !last.last; index++) {
    last = (await run(console, `backup ${started.id} ${index}`)) as BackupPiece;
    pieces.push(decodePiece(last.data));
  }
  const bytes = joinBytes(pieces);
  if (bytes.length !== last.bytes || toHex(sha256(bytes)) !== last.sha256)
    throw new HsmError(
      CODE.BACKUP_DAMAGED,
      `the file received (${bytes.length} bytes) does not match what the node announced (${last.bytes} bytes, SHA-256 ${last.sha256})`,
    );
  await (await openBackup(bytes)).scan();
  const name = `hsmpool-${started.domain}-${started.sp}.backup`;
  return { started, bytes, name };
}

/** A link that saves the backup as a file (the page's thread keeps the bytes). */
export function downloadLink(backup: PageBackup): HTMLAnchorElement {
  const link = document.createElement('a');
  link.id = 'backupfile';
  link.href = URL.createObjectURL(
    new Blob([new Uint8Array(backup.bytes)], { type: 'application/octet-stream' }),
  );
  link.download = backup.name;
  link.textContent = `${backup.name} (${backup.bytes.length} bytes, ${backup.started.records} records)`;
  return link;
}
