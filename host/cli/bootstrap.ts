// The first administrator of a pool made by `hsmpool up`: up writes the admin and policy
// records (a SCRAM verifier, never the password) to node 1's bootstrap.json; node 1 submits
// them as an ordinary replicated write once the pool answers, then removes the file. The
// request id makes it exactly-once across restarts.

import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Appliance, WriteInput } from '../appliance/appliance.ts';
import type { WriteRequest } from '../protocol/types.ts';

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

function readBootstrap(dir: string): WriteInput {
  const saved = JSON.parse(readFileSync(bootstrapPath(dir), 'utf8')) as Omit<
    WriteRequest,
    'operations'
  > & { operations: { op: 'insert'; record: string }[] };
  return {
    requestId: saved.requestId,
    event: saved.event,
    sourceUser: saved.sourceUser,
    target: saved.target,
    operations: saved.operations.map((operation) => ({
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
    if (reply.code === 0 || reply.code === 5022) {
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
