// A node's data directory: its identity and pool (node.json), the pool master key
// (svmk.key, the emulated secure element: 0600, the one secret kept in the clear, as the
// HSM's tamper-proof storage would), the log, snapshots and metadata (host/storage/file.node.ts),
// and a lock file so two processes never share one directory.

import type { NodeTls } from '../transport/ws.node.ts';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
  openSync,
  closeSync,
  unlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import type { NodeAddress, NodeId } from '../protocol/types.ts';
import { CliError, EXIT, metaDamaged } from './exit-codes.ts';
import { ID64_PATTERN, isNodeId, toNodeId } from '../wire/ids.ts';

export const CONFIG_VERSION = 1;

export interface NodeConfig {
  readonly version: number;
  readonly id: NodeId;
  readonly domain: string;
  /** 64-bit pool id as 16 hex digits: log entries from another pool are refused. */
  readonly poolId: string;
  readonly listen: string;
  readonly founders: readonly NodeAddress[];
}

export const configPath = (dir: string): string => join(dir, 'node.json');
export const svmkPath = (dir: string): string => join(dir, 'svmk.key');

export function readConfig(dir: string): NodeConfig {
  const path = configPath(dir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(EXIT.DATA, `${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw metaDamaged(path, `not JSON (${(error as Error).message})`);
  }
  const config = configOf(parsed);
  if (typeof config === 'string')
    throw metaDamaged(path, `not a node configuration of version ${CONFIG_VERSION}: ${config}`);
  return config;
}

/** A parsed node.json as a node configuration, its ids checked; or what is wrong with it. */
function configOf(config: unknown): NodeConfig | string {
  if (typeof config !== 'object' || config === null || Array.isArray(config))
    return 'not a JSON object';
  const c = config as Record<string, unknown>;
  if (c.version !== CONFIG_VERSION) return `version ${JSON.stringify(c.version)}`;
  if (!isNodeId(c.id)) return 'id: 16 lowercase hex digits';
  if (typeof c.poolId !== 'string' || !ID64_PATTERN.test(c.poolId))
    return 'poolId: 16 lowercase hex digits';
  if (typeof c.domain !== 'string' || c.domain.length === 0) return 'domain: a non-empty string';
  if (typeof c.listen !== 'string' || !/^[^\s]+:\d{1,5}$/.test(c.listen))
    return 'listen: HOST:PORT';
  if (!Array.isArray(c.founders) || c.founders.length === 0) return 'founders: a non-empty list';
  const founders: NodeAddress[] = [];
  for (const founder of c.founders as unknown[]) {
    const f = founder as Record<string, unknown> | null;
    if (
      typeof f !== 'object' ||
      f === null ||
      !isNodeId(f.id) ||
      typeof f.address !== 'string' ||
      !/^[^\s]+:\d{1,5}$/.test(f.address)
    )
      return `founders: ${JSON.stringify(founder)} is not {"id": 16 hex digits, "address": "HOST:PORT"}`;
    founders.push({ id: f.id, address: f.address });
  }
  return {
    version: CONFIG_VERSION,
    id: c.id,
    domain: c.domain,
    poolId: c.poolId,
    listen: c.listen,
    founders,
  };
}

export const readSvmk = (dir: string): Uint8Array => readSvmkFile(svmkPath(dir));

/** A pool master key file: exactly 32 bytes. */
export function readSvmkFile(path: string): Uint8Array {
  let svmk: Uint8Array;
  try {
    svmk = new Uint8Array(readFileSync(path));
  } catch (error) {
    throw new CliError(EXIT.DATA, `${path}: ${(error as Error).message}`);
  }
  if (svmk.length !== 32)
    throw new CliError(EXIT.DATA, `${path}: expected 32 bytes, found ${svmk.length}`);
  return svmk;
}

/** TLS: the pool certificate and its key in a node's directory (both, or neither). */
export const tlsCertPath = (dir: string): string => join(dir, 'tls-cert.pem');
export const tlsKeyPath = (dir: string): string => join(dir, 'tls-key.pem');

/** The node's TLS files, if it serves TLS; one without the other is refused. */
export function readNodeTls(dir: string): NodeTls | undefined {
  const [cert, key] = [tlsCertPath(dir), tlsKeyPath(dir)];
  if (!existsSync(cert) && !existsSync(key)) return undefined;
  for (const path of [cert, key])
    if (!existsSync(path))
      throw new CliError(EXIT.DATA, `${path} is missing: TLS needs tls-cert.pem and tls-key.pem`);
  return { certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}

export function writeNodeTls(dir: string, tls: NodeTls): void {
  writeFileSync(tlsCertPath(dir), tls.certPem, { mode: 0o600 });
  writeFileSync(tlsKeyPath(dir), tls.keyPem, { mode: 0o600 });
}

export function writeNodeDirectory(dir: string, config: NodeConfig, svmk: Uint8Array): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(svmkPath(dir), svmk, { mode: 0o600 });
  writeConfig(dir, config);
}

/** node.json whole or not at all (a live-sync in place rewrites it on a running node). */
export function writeConfig(dir: string, config: NodeConfig): void {
  const temporary = `${configPath(dir)}.tmp`;
  writeFileSync(temporary, JSON.stringify(config, null, 2) + '\n');
  renameSync(temporary, configPath(dir));
}

export const newId = (): string => randomBytes(8).toString('hex');
/** A node id drawn for a node being created. */
export const newNodeId = (): NodeId => toNodeId(newId());
export const newSvmk = (): Uint8Array => new Uint8Array(randomBytes(32));

/** Takes the directory's lock; throws if a live process holds it. Returns the release function. */
export function lockDirectory(dir: string): () => void {
  const path = join(dir, 'lock');
  if (existsSync(path)) {
    const pid = Number(readFileSync(path, 'utf8'));
    if (pid && isAlive(pid)) throw new CliError(EXIT.DATA, `${dir} is in use by process ${pid}`);
    unlinkSync(path);
  }
  const fd = openSync(path, 'wx');
  writeFileSync(fd, String(process.pid));
  closeSync(fd);
  return () => {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** HOST:PORT, split (a usage error otherwise). */
export function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const port = Number(address.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliError(EXIT.USAGE, `not a HOST:PORT address: ${address}`);
  return { host: address.slice(0, at), port };
}
