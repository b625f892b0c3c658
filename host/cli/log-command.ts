// `hsmpool log --data DIR [--json]`: the durable transaction log of a node directory, for
// support — every entry (sequence, epoch, type, transaction, Sync-Points, the node list
// changes, checkpoints), then a summary: entries, transactions committed, aborted and still
// prepared (a PTL), the last SP, and the tail (clean, torn or corrupt). Read-only: it opens
// DIR/log for reading and takes no lock, so it runs beside a live node (a tail being written
// shows as torn). Batches are shown by size only: their records are never printed.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from '../core/codes.ts';
import { checksumHex, parseEntry, scanLog, type EntryBody } from '../core/txlog.ts';
import { newCore } from '../core/load.node.ts';
import { syncPointHex } from '../core/core.ts';
import { toHex64 } from '../wire/bytes.ts';
import { CliError, EXIT } from './exit-codes.ts';

export interface LogOptions {
  readonly data: string;
  readonly json: boolean;
}

const spText = (sp: bigint, spvv: number): string =>
  `${syncPointHex(sp)}/${spvv.toString(16).toUpperCase().padStart(4, '0')}`;

function bodyFields(body: EntryBody): Record<string, unknown> {
  switch (body.type) {
    case 'prepare':
      return {
        coordinator: toHex64(body.coordinator),
        participants: body.participants.map(toHex64),
        eventType: body.event,
        sourceUser: body.sourceUser,
        target: body.targetName,
        spBefore: spText(body.spBefore, body.spvvBefore),
        spAfter: spText(body.spAfter, body.spvvAfter),
        batchBytes: body.batch.length,
      };
    case 'commit':
      return {
        spAfter: spText(body.spAfter, body.spvvAfter),
        terminated: Boolean(body.terminated),
      };
    case 'abort':
      return { reason: body.reason, reasonName: describe(body.reason).name };
    case 'node-added':
      return { node: toHex64(body.node.id), address: body.node.address };
    case 'node-down':
      return { node: toHex64(body.nodeId) };
    case 'epoch-raised':
      return { epoch: body.epoch.toString() };
    case 'checkpoint':
      return {
        snapshot: body.snapshotName,
        snapshotSequence: body.snapshotSequence.toString(),
        sp: spText(body.sp, body.spvv),
        records: body.recordCount.toString(),
        nodes: body.nodes.map((n) => `${toHex64(n.id)}@${n.address}`),
      };
  }
}

export function dumpLog(data: string): {
  entries: Record<string, unknown>[];
  summary: Record<string, unknown>;
} {
  const path = join(data, 'log');
  if (!existsSync(path)) throw new CliError(EXIT.DATA, `${data}: no transaction log (${path})`);
  const bytes = new Uint8Array(readFileSync(path));
  const core = newCore();
  const entries: Record<string, unknown>[] = [];
  const prepared = new Set<string>();
  let committed = 0;
  let aborted = 0;
  let lastSp: string | undefined;
  const result = scanLog(core, bytes, {}, (scanned) => {
    const entry = parseEntry(bytes.subarray(scanned.offset, scanned.offset + scanned.length));
    const txid = entry.transactionId === 0n ? undefined : toHex64(entry.transactionId);
    const fields = bodyFields(entry.body);
    if (entry.body.type === 'prepare') prepared.add(txid!);
    if (entry.body.type === 'commit') {
      committed++;
      prepared.delete(txid!);
      lastSp = fields.spAfter as string;
    }
    if (entry.body.type === 'abort') {
      aborted++;
      prepared.delete(txid!);
    }
    if (entry.body.type === 'checkpoint') lastSp = fields.sp as string;
    entries.push({
      sequence: entry.sequence.toString(),
      epoch: entry.epoch.toString(),
      offset: scanned.offset,
      type: entry.body.type,
      ...(txid ? { txid } : {}),
      ...fields,
      checksum: checksumHex(entry.checksum),
    });
  });
  return {
    entries,
    summary: {
      file: path,
      bytes: bytes.length,
      entries: entries.length,
      tail: result.tail,
      ...(result.damage ? { damage: result.damage } : {}),
      committed,
      aborted,
      pending: [...prepared],
      lastSp: lastSp ?? null,
      poolId: toHex64(result.poolId),
    },
  };
}

export async function runLog(options: LogOptions): Promise<number> {
  const { entries, summary } = dumpLog(options.data);
  if (options.json) {
    for (const entry of entries) console.log(JSON.stringify({ event: 'log-entry', ...entry }));
    console.log(JSON.stringify({ event: 'log-summary', ...summary }));
  } else {
    for (const e of entries) {
      const { sequence, epoch, type, txid, offset: _offset, checksum: _checksum, ...rest } = e;
      console.log(
        `${String(sequence).padStart(6)}  epoch ${epoch}  ${String(type).padEnd(12)} ${txid ?? ''.padEnd(16)}  ${Object.entries(
          rest,
        )
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ')}`,
      );
    }
    console.log(
      `${summary.entries} entries, ${summary.bytes} bytes, tail ${summary.tail}; committed ${summary.committed}, aborted ${summary.aborted}, pending ${(summary.pending as string[]).length}; last SP ${summary.lastSp ?? '-'}`,
    );
  }
  return summary.tail === 'corrupt' ? EXIT.DATA : EXIT.OK;
}
