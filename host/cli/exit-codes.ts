// The hsmpool command's exit codes (docs/CLI.md).

import { CODE, HsmError } from '../core/codes.ts';

export const EXIT = {
  OK: 0,
  /** The command ran and failed (a node error, a refused operation). */
  FAILED: 1,
  /** Bad command line: unknown command or option, missing value. */
  USAGE: 2,
  /** The data directory is missing, corrupt, foreign or in use by another process. */
  DATA: 3,
  /** Could not reach a node. */
  UNREACHABLE: 4,
  /** Stopped by Ctrl-C / SIGTERM after a clean shutdown. */
  INTERRUPTED: 130,
} as const;

export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** A metadata file of a data directory that does not parse or has the wrong shape: EXIT.DATA
 * with 38314 META_DAMAGED, naming the file and why. */
export function metaDamaged(path: string, why: string): CliError {
  return new CliError(EXIT.DATA, new HsmError(CODE.META_DAMAGED, `${path}: ${why}`).message);
}
