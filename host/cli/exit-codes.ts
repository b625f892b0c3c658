// The hsmpool command's exit codes (docs/CLI.md).

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
