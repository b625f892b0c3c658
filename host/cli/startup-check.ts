// The first phase of a node's start: every file of its data directory is read and checked —
// node.json, bootstrap.json, meta/node-cache, meta/request-outcomes and transaction-outcomes, the log, the snapshots —
// and the node's recovery runs over a read-only view of the directory, before anything is
// written, repaired (a torn tail cut) or opened. A refusal names the file and the reason with
// a documented code (docs/RETURN_CODES.md) and exits with EXIT.DATA; the directory is left
// byte for byte as it was. Only then does the node open its storage (node-command.ts): it
// takes the store recovered here rather than importing its checkpoint a second time, and
// its open is the only step that cuts a torn tail. The directory's lock, taken before this
// check, keeps any other hsmpool process from writing there in between.

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { HsmError } from '../core/codes.ts';
import { parseNodeCache, NODE_CACHE_KEY } from '../appliance/node-cache.ts';
import { recoverStore, type RecoveredStore } from '../appliance/runtime.ts';
import { readOptional } from '../storage/file.node.ts';
import type { Core } from '../core/core.ts';
import { STORAGE_NAME_PATTERN, checkStorageName, type Storage } from '../storage/storage.ts';
import { bootstrapPath, readBootstrap } from './bootstrap.ts';
import { CliError, EXIT } from './exit-codes.ts';
import type { NodeConfig } from './config.ts';
import { nodeSha256 } from '../wire/crypto-engine.node.ts';

/** A storage directory as file.ts lays it out, read only: every write throws. */
class ReadOnlyDirectory implements Storage {
  constructor(private readonly directory: string) {}

  async readLog(): Promise<Uint8Array> {
    return (await readOptional(join(this.directory, 'log'))) ?? new Uint8Array(0);
  }

  async logSize(): Promise<number> {
    return (await this.readLog()).length;
  }

  readSnapshot(name: string): Promise<Uint8Array | undefined> {
    checkStorageName(name, 'snapshot name');
    return readOptional(join(this.directory, 'snapshots', name));
  }

  async listSnapshots(): Promise<string[]> {
    try {
      return (await readdir(join(this.directory, 'snapshots'))).filter((name) =>
        STORAGE_NAME_PATTERN.test(name),
      );
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  readMeta(key: string): Promise<Uint8Array | undefined> {
    checkStorageName(key, 'metadata key');
    return readOptional(join(this.directory, 'meta', key));
  }

  private refuse(): Promise<never> {
    return Promise.reject(new Error('the start-up check writes nothing'));
  }
  appendLog = (): Promise<void> => this.refuse();
  syncLog = (): Promise<void> => this.refuse();
  truncateLog = (): Promise<void> => this.refuse();
  dropLogPrefix = (): Promise<void> => this.refuse();
  writeSnapshot = (): Promise<void> => this.refuse();
  writeSnapshotFrom = (): Promise<void> => this.refuse();
  deleteSnapshot = (): Promise<void> => this.refuse();
  writeMeta = (): Promise<void> => this.refuse();
}

export interface StartupCheck {
  /** Log bytes a torn tail leaves to cut (the node's open cuts them). */
  readonly tornBytes: number;
  readonly entries: number;
  /** The core given, holding the recovered store, and what recovery found: for the node's
   * open to take (runtime.ts). */
  readonly core: Core;
  readonly store: RecoveredStore;
}

/**
 * Reads and checks everything a start of `config`'s node in `dir` will read; throws CliError
 * (EXIT.DATA) naming the file, the code and the reason. Writes nothing. The recovery is the
 * node's own (recoverStore): `core` ends holding the recovered store, which the node opens
 * with instead of recovering a second time, once its lock on `dir` has kept anything else
 * from writing there.
 */
export async function checkDataDirectory(
  dir: string,
  config: NodeConfig,
  core: Core,
): Promise<StartupCheck> {
  const refuse = (error: unknown): never => {
    if (error instanceof CliError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new CliError(
      EXIT.DATA,
      `${dir}: refused to start, nothing was changed: ${message}` +
        (error instanceof HsmError ? '' : ' (an unreadable file)'),
    );
  };
  try {
    if (existsSync(bootstrapPath(dir))) readBootstrap(dir);
    const storage = new ReadOnlyDirectory(dir);
    const cache = await storage.readMeta(NODE_CACHE_KEY);
    if (cache) parseNodeCache(cache);
    // recoverStore reads and checks meta/request-outcomes and transaction-outcomes first.
    const store = await recoverStore({
      core,
      storage,
      poolId: BigInt(`0x${config.poolId}`),
      founders: config.founders,
      sha256: nodeSha256,
      cutTornTail: false,
    });
    const state = store.recovered;
    return { tornBytes: state.tornBytes, entries: state.entries, core, store };
  } catch (error) {
    return refuse(error);
  }
}
