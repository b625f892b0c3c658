// The remote console's session, browser-safe: SCRAM login on a node's /console path, then
// `console.run` frames answered by the console command set (commands.ts). The `hsmpool
// console` command runs it over the `ws` package; the browser page over its own WebSocket.

import { NodeLink, type LinkSession } from './node-link.ts';
import type { ConnectionFactory } from './connection.ts';
import { HsmError } from '../core/codes.ts';
import { CryptoEngine } from '../wire/crypto-engine.ts';
import type { ServiceRequest, ConsoleResult } from '../wire/messages.ts';
import { secureRandomBytes } from '../wire/random.ts';
import { DEFAULT_KDF_LIMITS } from '../wire/scram.ts';

/** Console commands wait this long for an answer (node-down probes take a few hundred ms). */
export const CONSOLE_TIMEOUT_MS = 30_000;

export interface RemoteConsoleOptions {
  readonly host: string;
  readonly user: string;
  /** Connections to the nodes' /console path. */
  readonly connections: ConnectionFactory;
  readonly randomBytes?: (length: number) => Uint8Array;
  readonly timeoutMs?: number;
  /** The channel's cipher and the login's key derivation: noble's by default (browsers);
   * Node entry points pass NodeCryptoEngine (the same bytes, several times faster). */
  readonly engine?: CryptoEngine;
}

/** A logged-in remote-console session (SCRAM, then console.run frames). */
export class RemoteConsole {
  private constructor(
    private readonly link: NodeLink,
    private readonly session: LinkSession,
  ) {}

  /** Logs in; rejects with the node's HsmError (AUTH_FAILED, a network code, …). */
  static async open(options: RemoteConsoleOptions, password: string): Promise<RemoteConsole> {
    const link = new NodeLink(options.host, {
      connections: options.connections,
      credentials: { user: options.user, password },
      kdfLimits: DEFAULT_KDF_LIMITS,
      requestTimeoutMs: options.timeoutMs ?? CONSOLE_TIMEOUT_MS,
      engine: options.engine ?? new CryptoEngine(),
      randomBytes: options.randomBytes ?? secureRandomBytes,
      saltedPasswords: new Map(),
    });
    try {
      return new RemoteConsole(link, await link.open());
    } catch (error) {
      link.close();
      throw error;
    }
  }

  async run(line: string): Promise<ConsoleResult> {
    const response = await this.link.request(this.session, {
      type: 'console.run',
      line,
    } as unknown as ServiceRequest);
    if (response.code !== 0) {
      const message =
        'message' in response ? String(response.message) : new HsmError(response.code).message;
      return {
        code: response.code,
        data: { code: response.code, message },
        text: `error: ${message}`,
      };
    }
    return (response as unknown as { result: ConsoleResult }).result;
  }

  close(): void {
    this.link.close();
  }
}
