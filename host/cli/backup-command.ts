// `hsmpool backup --host HOST:PORT --user NAME --out FILE [--password-file FILE] [--json]`:
// an encrypted backup of the pool's replicated state (docs/CLI.md, docs/FORMATS.md
// "Backups"). It logs in to the node's remote console as an administrator (SCRAM), runs
// `backup` there, fetches the file piece by piece (`backup ID INDEX`: no console frame grows
// with the pool; the next piece is asked for while the last one is written) straight into a temporary file next to FILE, checks its length and SHA-256
// against the node's last answer and its framing to the final chunk, then fsync, rename,
// fsync of the directory. It holds at most two pieces at a time.

import { createReadStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { HsmError } from '../core/codes.ts';
import type { ConsoleResult } from '../wire/messages.ts';
import type { BackupPiece, BackupStarted } from '../server/backup-transfer.ts';
import { openBackup } from '../backup/stream.ts';
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

/** The file's bytes as the node sends them, piece by piece. The next piece is asked for as
 * soon as a piece that is not the last arrives, so the node seals it while this process
 * decodes, hashes and writes the one before (bench:live-sync --processes times a backup);
 * nothing is asked for past the last piece, and at most two pieces are held. */
async function* fetchPieces(
  remote: RemoteConsole,
  started: BackupStarted,
): AsyncGenerator<Uint8Array, BackupPiece> {
  const ask = (index: number): Promise<BackupPiece> => {
    const asked = run(remote, `backup ${started.id} ${index}`).then(
      (result) => result.data as BackupPiece,
    );
    asked.catch(() => undefined); // awaited below; a consumer that stops early must not leak it
    return asked;
  };
  let piece: BackupPiece = started;
  let next = piece.last ? undefined : ask(1);
  yield Buffer.from(piece.data, 'base64');
  for (let index = 1; next; index++) {
    piece = await next;
    if (piece.index !== index)
      throw new CliError(EXIT.FAILED, `backup: asked for piece ${index}, got ${piece.index}`);
    next = piece.last ? undefined : ask(index + 1);
    yield Buffer.from(piece.data, 'base64');
  }
  return piece;
}

/**
 * Fetches a backup over an open console session into `path` (atomically, durably), checking
 * the length and SHA-256 the node announced with the last piece, then the file's framing to
 * its final chunk (without the key). Holds at most two pieces at a time.
 */
export async function fetchBackup(
  remote: RemoteConsole,
  path: string,
): Promise<{ started: BackupStarted; bytes: number; sha256: string }> {
  const started = (await run(remote, 'backup')).data as BackupStarted;
  const hash = createHash('sha256');
  let bytes = 0;
  let last: BackupPiece = started;
  await writeFileAtomic(path, async function* (temporary) {
    const pieces = fetchPieces(remote, started);
    for (let item = await pieces.next(); ; item = await pieces.next()) {
      if (item.done) {
        last = item.value;
        break;
      }
      hash.update(item.value);
      bytes += item.value.length;
      yield item.value;
    }
    const sha256 = hash.digest('hex');
    if (bytes !== last.bytes || sha256 !== last.sha256)
      throw new CliError(
        EXIT.FAILED,
        `backup: the file received (${bytes} bytes) does not match what the node announced (${last.bytes} bytes, SHA-256 ${last.sha256})`,
      );
    await (await openBackup(createReadStream(temporary))).scan();
  });
  return { started, bytes, sha256: last.sha256! };
}

/**
 * Writes what `produce` yields to `path` atomically and durably (temporary file, fsync,
 * rename, fsync of the directory). `produce` may read the temporary file back once it has
 * yielded everything; if it throws, nothing is left behind.
 */
export async function writeFileAtomic(
  path: string,
  produce: Uint8Array | ((temporary: string) => AsyncIterable<Uint8Array>),
): Promise<void> {
  const temporary = join(
    dirname(path),
    `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  const handle = await open(temporary, 'wx', 0o600);
  try {
    try {
      const source = produce instanceof Uint8Array ? [produce] : produce(temporary);
      for await (const bytes of source)
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
  let fetched: { started: BackupStarted; bytes: number; sha256: string };
  try {
    fetched = await fetchBackup(remote, options.out);
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
  const { started } = fetched;
  const summary = {
    out: options.out,
    bytes: fetched.bytes,
    domain: started.domain,
    poolId: started.poolId,
    created: new Date(started.createdMs).toISOString(),
    sp: started.sp,
    spvv: started.spvv,
    records: started.records,
    sha256: fetched.sha256,
  };
  if (options.json) console.log(JSON.stringify({ event: 'backup', ...summary }));
  else
    console.log(
      `backup of domain ${started.domain} (pool ${started.poolId}) written to ${options.out}: ${fetched.bytes} bytes, ${started.records} records, SP ${started.sp} SPVV ${started.spvv}`,
    );
  return EXIT.OK;
}
