// hsmpool backup and restore against a real node process (the sources, run with tsx): a
// backup over the remote console, the pool moving on, refusals while the node runs and for a
// damaged file (nothing changed), then restore and a restart at the backup's SP.

import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { freePort } from '../../host/testing/free-port.node.ts';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createPool, nodeDir } from '../../host/cli/up-command.ts';
import { runRestore } from '../../host/cli/restore-command.ts';
import { CliError } from '../../host/cli/exit-codes.ts';
import { hex16 } from '../../host/backup/format.ts';
import { openBackup } from '../../host/backup/stream.ts';
import {
  SOURCES_CLI,
  backupPool,
  nodeClient,
  scratchDir,
  startNodeProcess,
  stop,
  type NodeProcess,
} from '../processes.ts';

const data = scratchDir('backup');

/** Starts node 1 from the sources once every event in `waitFor` was printed; its `ready` event. */
async function startNode(waitFor: string[]): Promise<{ child: NodeProcess; ready: any }> {
  const args = ['--data', nodeDir(data, 0)];
  const child = await startNodeProcess(args, waitFor, 'node 1', SOURCES_CLI);
  return { child, ready: child.events.find((event) => event.event === 'ready') };
}

/** `run` with console.log silenced (the commands print their result as JSON). */
async function quietly<T>(run: () => Promise<T>): Promise<T> {
  const log = console.log;
  console.log = () => {};
  try {
    return await run();
  } finally {
    console.log = log;
  }
}

async function exitCodeOf(run: () => Promise<unknown>): Promise<number> {
  try {
    await run();
    return 0;
  } catch (error) {
    if (error instanceof CliError) return error.exitCode;
    throw error;
  }
}

/** The node directory's log and snapshots, to check that a refusal wrote nothing. */
function state(dir: string): string {
  const snapshots = readdirSync(join(dir, 'snapshots')).sort();
  return [
    readFileSync(join(dir, 'log')).toString('hex'),
    ...snapshots.map(
      (name) => `${name}:${readFileSync(join(dir, 'snapshots', name)).toString('hex')}`,
    ),
  ].join('|');
}

it('backs up a running node, refuses bad restores, restores and restarts at the backup SP', async () => {
  const address = `127.0.0.1:${await freePort()}`;
  const password = await createPool(data, 'bk', [address]);
  let node = await startNode(['ready', 'bootstrap']);
  const client = await nodeClient(address, 'admin', password);
  for (let i = 0; i < 5; i++) await client.generateKey(`before-${i}`, 'aes-256');

  const out = join(data, 'pool.backup');
  expect(await quietly(() => backupPool(data, address, out))).toBe(0);
  const file = new Uint8Array(readFileSync(out));
  const { header } = await openBackup(file);
  expect(header.version).toBe(2);
  expect(header.domain).toBe('bk');
  expect(header.recordCount).toBeGreaterThan(5n);
  expect(statSync(out).mode & 0o777).toBe(0o600);
  expect(readdirSync(data).filter((name) => name.includes('.tmp-'))).toEqual([]);

  // The pool moves on after the backup.
  await client.generateKey('after', 'aes-256');
  await client.close();

  // Refused while the node runs (its lock), and nothing changes.
  const dir = nodeDir(data, 0);
  expect(await exitCodeOf(() => runRestore({ in: out, data: dir, json: true }))).toBe(3);
  await stop(node.child);
  const before = state(dir);

  // A damaged backup is refused with exit 3, and nothing changes.
  const damaged = join(data, 'damaged.backup');
  const flipped = file.slice();
  flipped[file.length >> 1] ^= 0x10;
  writeFileSync(damaged, flipped);
  expect(await exitCodeOf(() => runRestore({ in: damaged, data: dir, json: true }))).toBe(3);
  writeFileSync(damaged, file.subarray(0, file.length - 1));
  expect(await exitCodeOf(() => runRestore({ in: damaged, data: dir, json: true }))).toBe(3);
  expect(state(dir)).toBe(before);

  expect(await quietly(() => runRestore({ in: out, data: dir, json: true }))).toBe(0);
  node = await startNode(['ready']);
  expect(node.ready.sp.toUpperCase()).toBe(hex16(header.sp));
  expect(BigInt(node.ready.records)).toBe(header.recordCount);
  await stop(node.child);
}, 90_000);
