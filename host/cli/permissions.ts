// A node's data directory holds the SVMK, every key wrapped under it and every user's SCRAM
// verifier (docs/SECURITY.md "A local user"): only the node's own account may read it. At
// start `hsmpool node` sets its umask to 077 (what it creates is 0600 / 0700) and checks what
// is there: a directory open to group or others is made 0700, a file 0600, each with a warning
// (fix, not refuse: the node's own files from an older version were created 0644 / 0755).
// A file it cannot fix (owned by another account) is refused.

import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, EXIT } from './exit-codes.ts';

export const DIRECTORY_MODE = 0o700;
export const FILE_MODE = 0o600;
/** Entries looked at in one data directory; more is not a node's directory. */
export const PERMISSION_CHECK_ENTRIES_MAX = 100_000;

/** New files 0600, new directories 0700, for the rest of this process. */
export function privateUmask(): void {
  process.umask(0o077);
}

/**
 * Makes `dir` and everything under it private (directories 0700, files 0600); returns one
 * warning per entry it had to fix. Symbolic links are not followed.
 */
export function securePermissions(dir: string): string[] {
  const warnings: string[] = [];
  let seen = 0;
  const visit = (path: string): void => {
    if (++seen > PERMISSION_CHECK_ENTRIES_MAX)
      throw new CliError(EXIT.DATA, `${dir}: more than ${PERMISSION_CHECK_ENTRIES_MAX} entries`);
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return;
    const wanted = stat.isDirectory() ? DIRECTORY_MODE : FILE_MODE;
    const mode = stat.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      try {
        chmodSync(path, wanted);
      } catch (error) {
        throw new CliError(
          EXIT.DATA,
          `${path} is readable by other accounts (mode ${mode.toString(8)}) and cannot be made ${wanted.toString(8)}: ${(error as Error).message}`,
        );
      }
      warnings.push(
        `${path} was mode ${mode.toString(8).padStart(4, '0')}: made ${wanted.toString(8).padStart(4, '0')} (it holds secrets)`,
      );
    }
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
  return warnings;
}
