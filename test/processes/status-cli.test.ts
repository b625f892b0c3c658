// `hsmpool status` against a pool of real node processes (build/cli.js): exit 0 on a healthy
// pool with every check PASS; then a forced divergence (a node restored from an old backup),
// a kill -9 and a node that moved to another port each make it exit 1 naming the failing check.

import { join } from 'node:path';
import { expect, it } from 'vitest';
import { freePort } from '../../host/testing/free-port.node.ts';
import type { PoolStatus } from '../../host/cli/status-command.ts';
import {
  backupPool,
  freeAddresses,
  patientClient,
  restoreNode,
  runCli,
  startNode,
  startPool,
  until,
  scratchDir,
} from '../processes.ts';

const data = scratchDir('status');

/** `hsmpool status --host HOSTS --json`: its exit code, parsed output and text. */
async function status(
  hosts: string[],
  password: string,
  json = true,
): Promise<{ code: number | null; pool?: PoolStatus; out: string }> {
  const args = ['status', '--host', hosts.join(','), '--user', 'admin', '--timeout', '1000'];
  const run = await runCli(json ? [...args, '--json'] : args, password);
  return { code: run.code, pool: json ? run.json : undefined, out: run.out + run.err };
}

const failing = (pool: PoolStatus | undefined): string[] =>
  (pool?.checks ?? []).filter((c) => !c.pass).map((c) => c.name);

it('exits 0 on a healthy pool; names the failing check after a divergence, a kill -9, a moved node', async () => {
  const [a, b, c] = await freeAddresses(3);
  const { password, nodes } = await startPool(data, 'st', [a, b, c]);
  let third = nodes[2];
  const client = (address: string) => patientClient(address, 'admin', password);

  // Healthy: every check passes, every member answered, caches and tests complete.
  await until('a healthy status', async () => (await status([a], password)).code === 0);
  const healthy = await status([a], password);
  expect(healthy.code).toBe(0);
  expect(healthy.pool!.members).toHaveLength(3);
  expect(healthy.pool!.checks.map((check) => [check.name, check.pass])).toEqual([
    ['node cache', true],
    ['communication', true],
    ['sync point', true],
    ['PTL', true],
  ]);
  for (const member of healthy.pool!.members) {
    expect(member.status!.state).toBe('member');
    expect(member.status!.crossCheck.filter((r) => r.rttMs !== undefined)).toHaveLength(2);
    expect(member.status!.version).toMatch(/^\d+\.\d+\.\d+$/);
  }
  const text = await status([a], password, false);
  expect(text.code).toBe(0);
  expect(text.out).toMatch(/1\. node cache +PASS/);
  expect(text.out).toMatch(/4\. PTL +PASS/);

  // A forced divergence: node 3 restored from a backup older than the pool's state.
  const backup = join(data, 'old.backup');
  await backupPool(data, a, backup);
  const writer = await client(a);
  await writer.generateKey('after-the-backup', 'aes-256');
  writer.close();
  third = await restoreNode(data, 2, third, backup, 'node 3 restored');
  const diverged = await status([a], password);
  expect(diverged.code).toBe(1);
  expect(failing(diverged.pool)).toContain('sync point');
  const spCheck = diverged.pool!.checks.find((check) => check.name === 'sync point')!;
  expect(spCheck.failures.join(' ')).toContain(third.events[0].node as string);

  // kill -9 of node 3: it does not answer, and the others' connection tests fail.
  third.kill('SIGKILL');
  await until('node 3 is gone', async () => third.exitCode !== null || third.signalCode !== null);
  const killed = await status([a], password);
  expect(killed.code).toBe(1);
  expect(failing(killed.pool)).toContain('communication');
  const thirdId = third.events[0].node as string;
  expect(
    killed.pool!.checks.find((check) => check.name === 'communication')!.failures.join(' '),
  ).toContain(thirdId);

  // Node 3 comes back on another port: the others' caches still dial the old one.
  const moved = `127.0.0.1:${await freePort()}`;
  await startNode(data, 2, 'node 3 moved', ['--listen', moved]);
  const wrongCache = await status([a, moved], password);
  expect(wrongCache.code).toBe(1);
  expect(failing(wrongCache.pool)).toContain('node cache');
  const cacheCheck = wrongCache.pool!.checks.find((check) => check.name === 'node cache')!;
  expect(cacheCheck.failures.join(' ')).toContain(`${thirdId} at ${c}, but it listens at ${moved}`);
}, 240_000);
