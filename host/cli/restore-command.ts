// `hsmpool restore --in FILE --data DIR [--json]`: offline restore of a backup into a node
// directory (docs/CLI.md, docs/FORMATS.md "Backups"). The node must be stopped: its lock is
// taken for the whole run. The backup is verified (length, SHA-256, AEAD under this node's
// SVMK, pool id and domain, the snapshot's SP) as it is read, a piece at a time, before
// anything is written; a refusal changes nothing. Then the node's log is replaced by one CHECKPOINT of the restored snapshot
// (host/backup/restore.ts), so its next start recovers exactly the backup's SP.

import { NODE_CHACHA } from '../wire/crypto-engine.node.ts';
import { userInfo } from 'node:os';
import { AuditLog, auditPath } from '../server/audit.node.ts';
import { closeSync, createReadStream, openSync, existsSync } from 'node:fs';
import { HsmError } from '../core/codes.ts';
import { deriveSyncPointKey } from '../core/keys.ts';
import { newCore } from '../core/load.node.ts';
import { FileStorage } from '../storage/file.node.ts';
import { hex16 } from '../backup/format.ts';
import { restoreBackup, type RestoreResult } from '../backup/restore.ts';
import { toPoolNode } from '../log/log-records.ts';
import { configPath, lockDirectory, readConfig, readSvmk } from './config.ts';
import { CliError, EXIT } from './exit-codes.ts';

export interface RestoreOptions {
  readonly in: string;
  readonly data: string;
  readonly json: boolean;
}

/** What a restore reports (its JSON fields): the backup's identity, the state the node holds. */
interface RestoreSummary {
  readonly data: string;
  readonly in: string;
  readonly domain: string;
  readonly poolId: string;
  readonly created: string;
  readonly sp: string;
  readonly spvv: string;
  readonly records: number;
  readonly snapshot: string;
  readonly epoch: string;
  readonly nodes: number;
}

export async function runRestore(options: RestoreOptions): Promise<number> {
  if (!existsSync(configPath(options.data)))
    throw new CliError(
      EXIT.DATA,
      `${options.data} is not a node directory (no node.json): create the node first (hsmpool up / hsmpool node)`,
    );
  const config = readConfig(options.data);
  const svmk = readSvmk(options.data);
  try {
    closeSync(openSync(options.in, 'r'));
  } catch (error) {
    throw new CliError(EXIT.USAGE, `${options.in}: ${(error as Error).message}`);
  }
  const release = lockDirectory(options.data);
  try {
    const keyed = () => {
      const core = newCore();
      core.setKey(deriveSyncPointKey(svmk));
      return core;
    };
    const storage = await FileStorage.open(options.data);
    try {
      const result = await restoreBackup(
        keyed(),
        keyed(),
        storage,
        createReadStream(options.in),
        svmk,
        {
          poolId: BigInt(`0x${config.poolId}`),
          domain: config.domain,
          founders: config.founders.map(toPoolNode),
        },
        NODE_CHACHA,
      );
      reportRestore(options, restoreSummary(options, result));
      return EXIT.OK;
    } finally {
      await storage.close?.();
    }
  } catch (error) {
    if (error instanceof HsmError)
      throw new CliError(EXIT.DATA, `restore refused, nothing changed: ${error.message}`);
    throw error;
  } finally {
    release();
  }
}

function restoreSummary(options: RestoreOptions, result: RestoreResult): RestoreSummary {
  return {
    data: options.data,
    in: options.in,
    domain: result.header.domain,
    poolId: hex16(result.header.poolId),
    created: new Date(result.header.createdMs).toISOString(),
    sp: result.syncPoint.hex,
    spvv: result.syncPoint.spvvHex,
    records: result.syncPoint.count,
    snapshot: result.snapshotName,
    epoch: result.epoch.toString(),
    nodes: result.nodes.length,
  };
}

/** The restore goes into the node's audit log, then to the operator (a line, or JSON). */
function reportRestore(options: RestoreOptions, summary: RestoreSummary): void {
  new AuditLog(auditPath(options.data)).append({
    actor: `os:${userInfo().username}`,
    from: 'local',
    action: 'restore',
    code: 0,
    detail: `${options.in}: SP ${summary.sp} SPVV ${summary.spvv}, ${summary.records} records`,
  });
  if (options.json) console.log(JSON.stringify({ event: 'restored', ...summary }));
  else {
    console.log(
      `restored ${options.in} into ${options.data}: ${summary.records} records, SP ${summary.sp} SPVV ${summary.spvv} (backup of ${summary.created})`,
    );
    console.log(
      'start the node; if the pool has moved on since the backup, it rejoins by live-sync',
    );
  }
}
