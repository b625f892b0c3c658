// A node's data directory: its identity and pool (node.json), the pool master key
// (svmk.key, the emulated secure element: 0600, the one secret kept in the clear, as the
// HSM's tamper-proof storage would), the log, snapshots and metadata (host/storage/file.ts),
// and a lock file so two processes never share one directory.

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
import type { NodeAddress } from '../protocol/types.ts';
import { CliError, EXIT } from './exit-codes.ts';

export const CONFIG_VERSION = 1;

export interface NodeConfig {
  readonly version: number;
  readonly id: string;
  readonly domain: string;
  /** 64-bit pool id as 16 hex digits: log entries from another pool are refused. */
  readonly poolId: string;
  readonly listen: string;
  readonly founders: readonly NodeAddress[];
}

export const configPath = (dir: string): string => join(dir, 'node.json');
export const svmkPath = (dir: string): string => join(dir, 'svmk.key');

export function readConfig(dir: string): NodeConfig {
  let config: NodeConfig;
  try {
    config = JSON.parse(readFileSync(configPath(dir), 'utf8')) as NodeConfig;
  } catch (error) {
    throw new CliError(EXIT.DATA, `${configPath(dir)}: ${(error as Error).message}`);
  }
  if (
    config.version !== CONFIG_VERSION ||
    !/^[0-9a-f]{16}$/.test(config.id) ||
    !/^[0-9a-f]{16}$/.test(config.poolId) ||
    !Array.isArray(config.founders)
  ) {
    throw new CliError(
      EXIT.DATA,
      `${configPath(dir)}: not a node configuration of version ${CONFIG_VERSION}`,
    );
  }
  return config;
}

export function readSvmk(dir: string): Uint8Array {
  let svmk: Uint8Array;
  try {
    svmk = new Uint8Array(readFileSync(svmkPath(dir)));
  } catch (error) {
    throw new CliError(EXIT.DATA, `${svmkPath(dir)}: ${(error as Error).message}`);
  }
  if (svmk.length !== 32)
    throw new CliError(EXIT.DATA, `${svmkPath(dir)}: expected 32 bytes, found ${svmk.length}`);
  return svmk;
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
