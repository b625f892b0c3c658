// The CLI's connections to nodes: ws://, or wss:// pinned to the pool certificate when one
// is given (--pool-certificate FILE, or HSMPOOL_POOL_CERTIFICATE; `hsmpool up --tls` writes
// DATA/pool-certificate.pem and uses it itself).

import { readFileSync } from 'node:fs';
import type { ConnectionFactory } from '../client/connection.ts';
import { nodeConnections } from '../client/ws-client.node.ts';
import { CliError, EXIT } from './exit-codes.ts';

export const POOL_CERTIFICATE_ENV = 'HSMPOOL_POOL_CERTIFICATE';

/** The pool certificate (PEM) this process was told to pin, if any. */
export function pinnedCertificate(): string | undefined {
  const path = process.env[POOL_CERTIFICATE_ENV];
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(EXIT.DATA, `${path}: ${(error as Error).message}`);
  }
}

export function cliConnections(path: '/client' | '/console' = '/client'): ConnectionFactory {
  return nodeConnections(path, { poolCertificate: pinnedCertificate() });
}
