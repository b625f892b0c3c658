// `hsmpool backup --host HOST:PORT --user NAME --out FILE [--password-file FILE] [--json]`:
// an encrypted backup of the pool's replicated state (docs/CLI.md, docs/FORMATS.md
// "Backups"). It logs in to the node's remote console as an administrator (SCRAM), runs
// `backup` there, fetches the file piece by piece (`backup ID INDEX`: no console frame grows
// with the pool), checks its length, SHA-256 and its own checksum, and writes it atomically:
// a temporary file next to FILE, fsync, rename, fsync of the directory.

import { open, rename, rm } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { HsmError } from '../core/codes.ts';
import type { ConsoleResult } from '../wire/messages.ts';
import type { BackupPiece, BackupStarted } from '../server/backup-transfer.ts';
import { verifyBackupChecksum } from '../backup/format.ts';
import { CliError, EXIT } from './exit-codes.ts';
import { RemoteConsole, readPassword } from './console-command.ts';

export interface BackupOptions {
  readonly host: string;
  readonly user: string;
  readonly out: string;
  readonly passwordFile?: string;
  readonly json: boolean;
}

const TIMEOUT_MS = 60_000;

/** Runs one console command; a refusal becomes a CliError naming it. */
async function run(remote: RemoteConsole, line: string): Promise<ConsoleResult> {
  const result = await remote.run(line);
  if (result.code !== 0)
    throw new CliError(
      EXIT.FAILED,
      `backup: ${result.text.split('\n')[0].replace(/^error: /, '')}`,
    );
  return result;
}

/** Fetches a whole backup file over an open console session. */
export async function fetchBackup(
  remote: RemoteConsole,
): Promise<{ started: BackupStarted; bytes: Uint8Array }> {
  const started = (await run(remote, 'backup')).data as BackupStarted;
  const pieces: Buffer[] = [Buffer.from(started.data, 'base64')];
  for (let index = 1; index < started.pieces; index++) {
    const piece = (await run(remote, `backup ${started.id} ${index}`)).data as BackupPiece;
    if (piece.index !== index)
      throw new CliError(EXIT.FAILED, `backup: asked for piece ${index}, got ${piece.index}`);
    pieces.push(Buffer.from(piece.data, 'base64'));
  }
  const bytes = new Uint8Array(Buffer.concat(pieces));
  if (
    bytes.length !== started.bytes ||
    createHash('sha256').update(bytes).digest('hex') !== started.sha256
  ) {
    throw new CliError(
      EXIT.FAILED,
      `backup: the file received (${bytes.length} bytes) does not match what the node announced (${started.bytes} bytes, SHA-256 ${started.sha256})`,
    );
  }
  verifyBackupChecksum(bytes);
  return { started, bytes };
}

/** Writes `bytes` to `path` atomically and durably (temporary file, fsync, rename, fsync of the directory). */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const temporary = join(
    dirname(path),
    `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  const handle = await open(temporary, 'wx', 0o600);
  try {
    try {
      for (let at = 0; at < bytes.length;)
        at += (await handle.write(bytes, at, bytes.length - at)).bytesWritten;
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  const directory = await open(dirname(path), 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

export async function runBackup(options: BackupOptions): Promise<number> {
  const password = await readPassword(options);
  const remote = await RemoteConsole.open(options, password, TIMEOUT_MS);
  let fetched: { started: BackupStarted; bytes: Uint8Array };
  try {
    fetched = await fetchBackup(remote);
  } catch (error) {
    if (error instanceof HsmError)
      throw new CliError(
        error.code < 0 ? EXIT.UNREACHABLE : EXIT.FAILED,
        `backup: ${error.message}`,
      );
    throw error;
  } finally {
    remote.close();
  }
  await writeFileAtomic(options.out, fetched.bytes);
  const { started } = fetched;
  const summary = {
    out: options.out,
    bytes: started.bytes,
    domain: started.domain,
    poolId: started.poolId,
    created: new Date(started.createdMs).toISOString(),
    sp: started.sp,
    spvv: started.spvv,
    records: started.records,
    sha256: started.sha256,
  };
  if (options.json) console.log(JSON.stringify({ event: 'backup', ...summary }));
  else
    console.log(
      `backup of domain ${started.domain} (pool ${started.poolId}) written to ${options.out}: ${started.bytes} bytes, ${started.records} records, SP ${started.sp} SPVV ${started.spvv}`,
    );
  return EXIT.OK;
}
