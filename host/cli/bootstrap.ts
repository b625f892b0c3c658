// The first administrator of a pool made by `hsmpool up`: up writes the admin and policy
// records (a SCRAM verifier, never the password) to node 1's bootstrap.json; node 1 submits
// them as an ordinary replicated write once the pool answers, then removes the file. The
// request id makes it exactly-once across restarts.

import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Appliance, WriteInput } from '../appliance/appliance.ts';
import type { WriteRequest } from '../protocol/types.ts';
import { metaDamaged } from './exit-codes.ts';
import { CODE } from '../core/codes.ts';
import { isRequestId } from '../wire/ids.ts';

export const bootstrapPath = (dir: string): string => join(dir, 'bootstrap.json');
/** How often node 1 tries again while the pool is not writable yet. */
export const BOOTSTRAP_RETRY_MS = 500;

export function writeBootstrap(dir: string, write: WriteRequest): void {
  const operations = write.operations.map((operation) =>
    operation.op === 'delete'
      ? operation
      : { op: operation.op, record: Buffer.from(operation.record).toString('base64') },
  );
  writeFileSync(bootstrapPath(dir), JSON.stringify({ ...write, operations }, null, 2) + '\n', {
    mode: 0o600,
  });
}

/** The saved write; CliError (EXIT.DATA, 38314) naming the file if it is not one. */
export function readBootstrap(dir: string): WriteInput {
  const path = bootstrapPath(dir);
  let saved: unknown;
  try {
    saved = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw metaDamaged(path, `not JSON (${(error as Error).message})`);
  }
  const s = saved as Record<string, unknown> | null;
  const text = (value: unknown): value is string => typeof value === 'string';
  const base64 = (value: unknown): value is string =>
    text(value) && /^[A-Za-z0-9+/]*={0,2}$/.test(value) && value.length % 4 === 0;
  if (
    typeof s !== 'object' ||
    s === null ||
    !isRequestId(s.requestId) ||
    !text(s.event) ||
    !text(s.sourceUser) ||
    !text(s.target) ||
    !Array.isArray(s.operations) ||
    s.operations.length === 0 ||
    !(s.operations as unknown[]).every(
      (operation) =>
        typeof operation === 'object' &&
        operation !== null &&
        (operation as Record<string, unknown>).op === 'insert' &&
        base64((operation as Record<string, unknown>).record),
    )
  )
    throw metaDamaged(
      path,
      'not a bootstrap write (requestId, event, sourceUser, target, operations of inserts)',
    );
  const write = saved as Omit<WriteRequest, 'operations'> & {
    operations: { op: 'insert'; record: string }[];
  };
  return {
    requestId: write.requestId,
    event: write.event,
    sourceUser: write.sourceUser,
    target: write.target,
    operations: write.operations.map((operation) => ({
      op: 'insert' as const,
      record: new Uint8Array(Buffer.from(operation.record, 'base64')),
    })),
  };
}

export function runBootstrap(
  dir: string,
  appliance: Appliance,
  say: (event: string, fields?: Record<string, unknown>) => void,
): { cancel(): void } {
  let cancelled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (!existsSync(bootstrapPath(dir))) return { cancel() {} };
  const write = readBootstrap(dir);
  const attempt = async (): Promise<void> => {
    if (cancelled) return;
    const reply = await appliance.write(write);
    // 5022: the records exist (an earlier attempt committed and this one came after restart).
    if (reply.code === 0 || reply.code === CODE.OBJ_ALREADY_EXISTS) {
      unlinkSync(bootstrapPath(dir));
      say('bootstrap', { user: write.target, code: reply.code });
    } else if (!cancelled) {
      timer = setTimeout(() => void attempt(), BOOTSTRAP_RETRY_MS);
    }
  };
  void attempt();
  return {
    cancel() {
      cancelled = true;
      if (timer) clearTimeout(timer);
    },
  };
}
