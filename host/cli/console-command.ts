// `hsmpool console --host HOST:PORT --user admin [command ...]`: the remote console. With a
// command it runs it once and prints its text (or JSON with --json); without, it opens a
// prompt. The password comes from --password-file, the HSMPOOL_PASSWORD environment
// variable, or the first line of standard input; it never crosses the network (SCRAM).

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { HsmError } from '../core/codes.ts';
import { cliConnections } from './connections.ts';
import { NodeCryptoEngine } from '../wire/crypto-engine.node.ts';
import { RemoteConsole as SharedRemoteConsole } from '../client/remote-console.ts';
import type { ConsoleResult } from '../wire/messages.ts';
import { CliError, EXIT } from './exit-codes.ts';

export interface ConsoleOptions {
  readonly host: string;
  readonly user: string;
  readonly passwordFile?: string;
  readonly json: boolean;
  readonly command: readonly string[];
}

/** Console commands wait this long for an answer (node-down probes take a few hundred ms). */
export const CONSOLE_TIMEOUT_MS = 30_000;
/** A live-sync answers once the whole pool image arrived; a prompt may run one at any time. */
export const LIVE_SYNC_CONSOLE_TIMEOUT_MS = 600_000;

/** The password from --password-file, HSMPOOL_PASSWORD or the first line of standard input. */
export async function readPassword(options: {
  readonly passwordFile?: string;
  readonly user: string;
}): Promise<string> {
  if (options.passwordFile) return readFileSync(options.passwordFile, 'utf8').split('\n')[0];
  if (process.env.HSMPOOL_PASSWORD) return process.env.HSMPOOL_PASSWORD;
  if (process.stdin.isTTY) process.stderr.write(`password for ${options.user}: `);
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    lines.close();
    return line;
  }
  throw new CliError(
    EXIT.USAGE,
    'no password: use --password-file, HSMPOOL_PASSWORD or standard input',
  );
}

/** A logged-in remote-console session over the `ws` package (host/client/remote-console.ts). */
export type RemoteConsole = SharedRemoteConsole;
export const RemoteConsole = {
  async open(
    options: { readonly host: string; readonly user: string },
    password: string,
    timeoutMs = CONSOLE_TIMEOUT_MS,
  ): Promise<SharedRemoteConsole> {
    try {
      return await SharedRemoteConsole.open(
        {
          ...options,
          connections: cliConnections('/console'),
          randomBytes: (length) => new Uint8Array(randomBytes(length)),
          timeoutMs,
          engine: new NodeCryptoEngine(),
        },
        password,
      );
    } catch (error) {
      if (error instanceof HsmError && error.code < 0)
        throw new CliError(EXIT.UNREACHABLE, error.message);
      throw error;
    }
  },
};

function show(result: ConsoleResult, json: boolean): void {
  if (json) console.log(JSON.stringify({ code: result.code, data: result.data }));
  else console.log(result.text);
}

export async function runConsole(options: ConsoleOptions): Promise<number> {
  const password = await readPassword(options);
  const once = options.command.length > 0;
  const remote = await RemoteConsole.open(
    options,
    password,
    once && options.command[0] !== 'live-sync' ? CONSOLE_TIMEOUT_MS : LIVE_SYNC_CONSOLE_TIMEOUT_MS,
  );
  try {
    if (once) {
      const result = await remote.run(options.command.join(' '));
      show(result, options.json);
      return result.code === 0 ? EXIT.OK : EXIT.FAILED;
    }
    console.log(`connected to ${options.host} as ${options.user}; type help, or quit`);
    const prompt = createInterface({
      input: process.stdin,
      output: process.stdout,
      prompt: 'hsmpool> ',
    });
    prompt.prompt();
    for await (const line of prompt) {
      if (line.trim() === 'quit' || line.trim() === 'exit') break;
      if (line.trim()) show(await remote.run(line), options.json);
      prompt.prompt();
    }
    prompt.close();
    return EXIT.OK;
  } finally {
    remote.close();
  }
}
