// The hsmpool command: `hsmpool <command> [options]`. docs/CLI.md documents every command,
// option and exit code.

import { POOL_CERTIFICATE_ENV } from './connections.ts';
import { privateUmask } from './permissions.ts';
import { parseArgs } from 'node:util';
import { CliError, EXIT } from './exit-codes.ts';
import { runNode } from './node-command.ts';
import { runUp } from './up-command.ts';
import { runConsole } from './console-command.ts';
import { runBackup } from './backup-command.ts';
import { runRestore } from './restore-command.ts';
import { runWeb } from './web-command.ts';
import { runStatus } from './status-command.ts';
import { runKeyCommand } from './key-command.ts';
import { runAudit } from './audit-command.ts';
import { runLog } from './log-command.ts';
import {
  CHECKPOINT_BYTES_MAX,
  CHECKPOINT_BYTES_MIN,
  CHECKPOINT_LOG_BYTES,
} from '../appliance/runtime.ts';

const HELP: Record<string, string> = {
  main: `hsmpool — an emulated pool of replicated network HSMs

Usage: hsmpool <command> [options]

Commands:
  up        start a pool of appliances on loopback (created on first run)
  node      run one appliance
  console   the remote console of a node
  status    the pool at a glance: every member, and the manual's four checks
  key       keys: generate, import, list, info, remove, grant, export, public, sign, verify,
            encrypt, decrypt, mac, mac-verify
  user      users: create, list, password, unlock, remove
  audit     a node's hash-chained audit log
  log       dump a node directory's transaction log (read-only, for support)
  backup    an encrypted backup of a running pool's state
  restore   restore a backup into a stopped node's directory
  web       serve the browser page on 127.0.0.1 (docs/WEB.md)

Run \`hsmpool <command> --help\` for a command's options.
Exit codes: 0 ok, 1 failed, 2 usage, 3 data directory, 4 unreachable.`,
  up: `Usage: hsmpool up [--nodes 3] [--base-port 7001] [--data .hsmpool] [--domain pool] [--init-only] [--tls] [--json]

Starts a pool on 127.0.0.1 as separate processes, one per node (ports base-port, +1, ...).
The first run creates it under --data; later runs reuse that data. Ctrl-C stops it cleanly.
It reports ready (--json: one pool-ready event) only once the administrator can log in.
--init-only creates the pool and its administrator, then stops the nodes and exits.`,
  console: `Usage: hsmpool console --host HOST:PORT --user NAME [--password-file FILE] [--pool-certificate FILE] [--json] [command ...]

The remote console of a node (docs/CONSOLE.md). With a command (info, nodes, refresh,
cross-check, node-down ID, status, audit, debug, backup, live-sync, help) it runs it once; without, it opens a prompt. The
password comes from --password-file, HSMPOOL_PASSWORD or the first line of standard input.`,
  status: `Usage: hsmpool status --host HOST:PORT[,HOST:PORT...] --user NAME [--password-file FILE] [--pool-certificate FILE] [--timeout MS] [--json]

Asks every member of the pool (found through the first node that answers) for its view and
prints one table (address, state, SP/SPVV, epoch, round trip, PTL with age and PA, sessions,
version), each node's cache and connection test, then the manual's four checks: node cache,
communication, sync point, PTL — PASS or FAIL with what to do (docs/TROUBLESHOOTING.md).
Exit 0 only when all four pass, 1 when one fails, 4 when no node answers.`,
  key: `Usage: hsmpool key ACTION [ARGS] --host HOST:PORT[,...] --user NAME [--password-file FILE] [--pool-certificate FILE] [--json]

  generate NAME --type TYPE [--exportable]      import NAME --type TYPE --in FILE|- [--exportable]
  list [--owner USER]     info NAME     remove NAME     export NAME [--out FILE|-]
  grant NAME USER [--use] [--export] [--remove]  (no right given: revoke)     public NAME
  sign NAME (--in FILE|- | --text S) [--out FILE|-]
  verify NAME (--in FILE|- | --text S) --signature FILE          (exit 1 when invalid)
  encrypt|decrypt NAME (--in FILE|- | --text S) [--aad FILE] [--out FILE|-]
  mac NAME (--in ... | --text S) [--out FILE|-]     mac-verify NAME (--in ...) --signature FILE

TYPE: aes-128, aes-256, hmac-sha256, ec-p256, ed25519, rsa-2048. Results print as base64
unless --out (raw bytes; - for standard output). The password comes from --password-file or
HSMPOOL_PASSWORD. Exit 1 with the return code printed when the pool refuses (docs/CLI.md).`,
  user: `Usage: hsmpool user ACTION [ARGS] --host HOST:PORT[,...] --user NAME [--password-file FILE] [--pool-certificate FILE] [--json]

  create NAME [--admin]    list    password [NAME]    unlock NAME    remove NAME

A new password comes from --new-password-file or HSMPOOL_NEW_PASSWORD, never the command line.`,
  audit: `Usage: hsmpool audit --host HOST:PORT --user NAME [--password-file FILE] [--pool-certificate FILE] [--last N] [--json]

Prints the last N (default 100) entries of the node's audit log — who, from where, when, what,
on which key or user, the return code — and checks its hash chain (exit 1 when broken).`,
  log: `Usage: hsmpool log --data DIR [--json]

Prints every entry of DIR's transaction log (sequence, epoch, type, transaction, SPs, node
changes, checkpoints; batches by size only) and a summary: committed, aborted, pending, last SP,
and whether the tail is clean, torn or corrupt (exit 3). Read-only; runs beside a live node.`,
  backup: `Usage: hsmpool backup --host HOST:PORT --user NAME --out FILE [--password-file FILE] [--pool-certificate FILE] [--json]

Fetches an encrypted backup of the pool's replicated state from a running node (through its
remote console, as an administrator) and writes it to FILE atomically (docs/CLI.md).`,
  web: `Usage: hsmpool web [--port 8080]

Serves the browser page (build/web/, made by \`npm run build\`) on 127.0.0.1 and prints its
URL: a pool of appliances in Web Workers, the dashboard of a running pool (?pool=HOST:PORT)
and the simulator's replay (?replay=--seed S). Ctrl-C stops it (docs/WEB.md).`,
  restore: `Usage: hsmpool restore --in FILE --data DIR [--json]

Restores a backup into the node directory DIR, whose node must be stopped. A corrupt,
truncated or foreign backup is refused and nothing is changed (docs/CLI.md).`,
  node: `Usage: hsmpool node --data DIR [--listen 127.0.0.1:PORT] [--domain NAME] [--discover RANGE] [--no-group-commit] [--checkpoint-bytes N] [--console] [--json]
       hsmpool node --data DIR --listen HOST:PORT --join [ID@]HOST:PORT --svmk-file FILE --domain NAME
       hsmpool node --data DIR --listen HOST:PORT --discover RANGE --svmk-file FILE --domain NAME

Runs one appliance. DIR is a node directory made by \`hsmpool up\`; a DIR that does not exist
becomes the first node of a new pool of domain NAME. --json prints one JSON event per line.
--console opens the local console on this terminal (the console commands; node-down is
refused there, planned removal (remove-node) is accepted; quit stops the node).
With --join, a new DIR joins a running pool by live-sync from the member at HOST:PORT, with the
pool's SVMK from FILE (32 bytes). --discover RANGE (HOST:PORT-PORT[,...], at most 64 addresses)
turns auto-discovery on: the node cache learns every node answering there under the SVMK, a
new DIR joins from the first member found (it never founds a pool), and a node that finds
itself diverged live-syncs by itself (docs/LIVE_SYNC.md).`,
};

function fail(message: string): never {
  throw new CliError(EXIT.USAGE, message);
}

export async function main(argv: string[]): Promise<number> {
  // Data directories, backups and password files hold secrets: 0600 / 0700 (docs/SECURITY.md).
  privateUmask();
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(HELP.main);
    return command ? EXIT.OK : EXIT.USAGE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(HELP[command] ?? HELP.main);
    return HELP[command] ? EXIT.OK : EXIT.USAGE;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!run) fail(`unknown command ${JSON.stringify(command)}; see hsmpool --help`);
  return run(rest, command);
}

type Values = Record<string, unknown>;

/** The options of every command that logs in to a node. */
const LOGIN: Kinds = {
  host: 'string',
  user: 'string',
  'password-file': 'string',
  json: 'boolean',
  'pool-certificate': 'string',
};

function text(values: Values, name: string): string | undefined {
  return values[name] as string | undefined;
}

/** The LOGIN options of a command that talks to one node. */
function login(values: Values) {
  const passwordFile = text(values, 'password-file');
  return {
    host: values.host as string,
    user: values.user as string,
    passwordFile,
    json: Boolean(values.json),
  };
}

function hostList(values: Values): string[] {
  return (values.host as string).split(',').filter((h) => h.length > 0);
}

/** Each command: parse and check its options, then run it. */
const COMMANDS: Record<string, (args: string[], command: string) => Promise<number>> = {
  up: (args) => {
    const { values } = parse(args, {
      tls: 'boolean',
      nodes: 'string',
      'base-port': 'string',
      data: 'string',
      domain: 'string',
      json: 'boolean',
      'init-only': 'boolean',
    });
    return runUp({
      tls: Boolean(values.tls),
      initOnly: Boolean(values['init-only']),
      nodes: integer(values.nodes, 3, '--nodes'),
      basePort: integer(values['base-port'], 7001, '--base-port'),
      data: text(values, 'data') ?? '.hsmpool',
      domain: text(values, 'domain') ?? 'pool',
      json: Boolean(values.json),
    });
  },
  node: (args) => {
    const { values } = parse(args, {
      data: 'string',
      listen: 'string',
      domain: 'string',
      json: 'boolean',
      'no-group-commit': 'boolean',
      join: 'string',
      'svmk-file': 'string',
      console: 'boolean',
      discover: 'string',
      'checkpoint-bytes': 'string',
    });
    if (!values.data) fail('node: --data DIR is required');
    const checkpointBytes = integer(
      values['checkpoint-bytes'],
      CHECKPOINT_LOG_BYTES,
      '--checkpoint-bytes',
    );
    if (checkpointBytes < CHECKPOINT_BYTES_MIN || checkpointBytes > CHECKPOINT_BYTES_MAX)
      fail(
        `node: --checkpoint-bytes N: ${CHECKPOINT_BYTES_MIN} to ${CHECKPOINT_BYTES_MAX} bytes of log between checkpoints`,
      );
    return runNode({
      data: values.data as string,
      listen: text(values, 'listen'),
      domain: text(values, 'domain'),
      json: Boolean(values.json),
      groupCommit: !values['no-group-commit'],
      join: text(values, 'join'),
      svmkFile: text(values, 'svmk-file'),
      console: Boolean(values.console),
      discover: text(values, 'discover'),
      checkpointBytes,
    });
  },
  console: (args) => {
    const { values, positionals } = parse(args, LOGIN);
    if (!values.host || !values.user)
      fail('console: --host HOST:PORT and --user NAME are required');
    return runConsole({ ...login(values), command: positionals });
  },
  status: (args) => {
    const { values } = parse(args, { ...LOGIN, timeout: 'string' });
    if (!values.host || !values.user)
      fail('status: --host HOST:PORT[,HOST:PORT...] and --user NAME are required');
    const timeoutMs = integer(values.timeout, 2000, '--timeout');
    if (timeoutMs < 1 || timeoutMs > 60_000) fail('status: --timeout MS: 1 to 60000');
    return runStatus({
      hosts: hostList(values),
      user: values.user as string,
      passwordFile: text(values, 'password-file'),
      timeoutMs,
      json: Boolean(values.json),
    });
  },
  key: keyOrUser,
  user: keyOrUser,
  audit: (args) => {
    const { values } = parse(args, { ...LOGIN, last: 'string' });
    if (!values.host || !values.user) fail('audit: --host HOST:PORT and --user NAME are required');
    const last = integer(values.last, 100, '--last');
    if (last < 1 || last > 10_000) fail('audit: --last N: 1 to 10000');
    return runAudit({ ...login(values), last });
  },
  log: (args) => {
    const { values } = parse(args, { data: 'string', json: 'boolean' });
    if (!values.data) fail('log: --data DIR is required');
    return runLog({ data: values.data as string, json: Boolean(values.json) });
  },
  backup: (args) => {
    const { values } = parse(args, { ...LOGIN, out: 'string' });
    if (!values.host || !values.user || !values.out)
      fail('backup: --host HOST:PORT, --user NAME and --out FILE are required');
    return runBackup({ ...login(values), out: values.out as string });
  },
  restore: (args) => {
    const { values } = parse(args, { in: 'string', data: 'string', json: 'boolean' });
    if (!values.in || !values.data) fail('restore: --in FILE and --data DIR are required');
    return runRestore({
      in: values.in as string,
      data: values.data as string,
      json: Boolean(values.json),
    });
  },
  web: (args) => {
    const { values } = parse(args, { port: 'string' });
    return runWeb({ port: integer(values.port, 8080, '--port') });
  },
};

const KEY_OPTIONS: Kinds = {
  ...LOGIN,
  'new-password-file': 'string',
  type: 'string',
  in: 'string',
  text: 'string',
  out: 'string',
  aad: 'string',
  signature: 'string',
  owner: 'string',
  exportable: 'boolean',
  admin: 'boolean',
  use: 'boolean',
  export: 'boolean',
  remove: 'boolean',
};

/** `hsmpool key ACTION` and `hsmpool user ACTION`: one option set, checked per action. */
function keyOrUser(args: string[], command: string): Promise<number> {
  const { values, positionals } = parse(args, KEY_OPTIONS);
  const [action, ...rest] = positionals;
  if (!action) fail(`${command}: an action is required; see hsmpool ${command} --help`);
  if (!values.host || !values.user)
    fail(`${command}: --host HOST:PORT[,HOST:PORT...] and --user NAME are required`);
  return runKeyCommand({
    group: command as 'key' | 'user',
    action,
    args: rest,
    hosts: hostList(values),
    user: values.user as string,
    passwordFile: text(values, 'password-file'),
    newPasswordFile: text(values, 'new-password-file'),
    json: Boolean(values.json),
    type: text(values, 'type'),
    in: text(values, 'in'),
    text: text(values, 'text'),
    out: text(values, 'out'),
    aad: text(values, 'aad'),
    signature: text(values, 'signature'),
    owner: text(values, 'owner'),
    exportable: Boolean(values.exportable),
    admin: Boolean(values.admin),
    use: Boolean(values.use),
    export: Boolean(values.export),
    remove: Boolean(values.remove),
  });
}

type Kinds = Record<string, 'string' | 'strings' | 'boolean'>;

function parse(
  args: string[],
  kinds: Kinds,
): { values: Record<string, unknown>; positionals: string[] } {
  const options = Object.fromEntries(
    Object.entries(kinds).map(([name, kind]) => [
      name,
      kind === 'strings' ? { type: 'string' as const, multiple: true } : { type: kind },
    ]),
  );
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    fail((error as Error).message);
  }
  // --pool-certificate FILE: this command's connections go over wss://, pinned to it.
  const certificate = parsed.values['pool-certificate'];
  if (typeof certificate === 'string') process.env[POOL_CERTIFICATE_ENV] = certificate;
  return parsed;
}

function integer(value: unknown, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n)) fail(`${name}: not an integer: ${String(value)}`);
  return n;
}

export async function run(): Promise<void> {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    if (error instanceof CliError) {
      console.error(`hsmpool: ${error.message}`);
      process.exitCode = error.exitCode;
    } else {
      console.error(`hsmpool: ${error instanceof Error ? error.stack : String(error)}`);
      process.exitCode = EXIT.FAILED;
    }
  }
}
