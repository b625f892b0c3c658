// The audit log file: owner-only, one hash chain across reopenings (a node restart, the offline
// restore command) and across close() — the node keeps the file open between entries.

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { AuditLog, readAudit, verifyChain } from '../../host/server/audit.node.ts';

const entry = (target: string) => ({
  actor: 'admin',
  from: '127.0.0.1',
  action: 'key.generate',
  target,
  code: 0,
});

it('keeps one chain across close, reopen and another writer, in a file only its owner reads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hsmpool-audit-'));
  const path = join(dir, 'audit.log');
  const node = new AuditLog(path);
  node.append(entry('k1'));
  node.append(entry('k2'));
  expect(statSync(path).mode & 0o777).toBe(0o600);
  node.close();
  node.append(entry('k3')); // reopens
  const restore = new AuditLog(path); // another writer continues from the last line
  restore.append(entry('k4'));
  node.close();
  restore.close();
  const entries = readAudit(path);
  expect(entries.map((e) => [e.seq, e.target])).toEqual([
    [1, 'k1'],
    [2, 'k2'],
    [3, 'k3'],
    [4, 'k4'],
  ]);
  expect(verifyChain(entries)).toEqual({ ok: true, count: 4 });
  expect(new AuditLog(path).tail(2).entries.map((e) => e.target)).toEqual(['k3', 'k4']);
  rmSync(dir, { recursive: true });
});
