// Operating a pool of real processes (build/cli.js): `hsmpool up --init-only` creates a pool
// whose administrator can log in at once; nodes write levelled, timestamped JSON logs to
// standard output and to DATA/logs/; the replication event history survives a restart with its
// wall-clock times; `hsmpool log --data DIR` dumps the transaction log and changes nothing.

import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { adminPasswordPath, nodeDir } from '../../host/cli/up-command.ts';
import { freePort } from '../../host/testing/free-port.node.ts';
import { CLI, consoleJson, nodeClient, startNode, stop, scratchDir } from '../processes.ts';

const data = scratchDir('ops');

function run(args: string[]): Promise<{ code: number | null; lines: any[] }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (chunk) => (out += chunk));
    child.once('exit', (code) =>
      resolve({
        code,
        lines: out
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line)),
      }),
    );
  });
}

it('up --init-only, node logs, the event history across a restart, hsmpool log', async () => {
  const base = await freePort(); // one node: one port
  const pool = join(data, 'pool');
  const init = await run([
    'up',
    '--nodes',
    '1',
    '--base-port',
    String(base),
    '--data',
    pool,
    '--domain',
    'ops',
    '--json',
    '--init-only',
  ]);
  expect(init.code).toBe(0);
  const ready = init.lines.find((line) => line.event === 'pool-ready');
  expect(ready.created).toBe(true);
  const password = readFileSync(adminPasswordPath(pool), 'utf8').split('\n')[0];
  expect(ready.admin.password).toBe(password);

  // The administrator exists: the first login after a restart succeeds, no retry.
  const address = `127.0.0.1:${base}`;
  let node = await startNode(pool, 0);
  const client = await nodeClient(address, 'admin', password);
  for (let i = 0; i < 5; i++) await client.generateKey(`k${i}`, 'aes-256');
  client.close();

  // Standard output: JSON lines with level and time.
  const first = node.events.find((event) => event.event === 'ready')!;
  expect(first.level).toBe('info');
  expect(new Date(first.time as string).toISOString()).toBe(first.time);
  expect(await stop(node)).toBe(0);
  // The file log: pino JSON lines in DATA/logs/.
  const logs = join(nodeDir(pool, 0), 'logs');
  const nodeLogs = readdirSync(logs).filter((name) => /^node\.\d+\.log$/.test(name));
  expect(nodeLogs.length).toBeGreaterThan(0);
  const lines = nodeLogs
    .flatMap((name) => readFileSync(join(logs, name), 'utf8').split('\n'))
    .filter(Boolean)
    .map((line) => JSON.parse(line));
  expect(lines.map((line) => line.event)).toEqual(
    expect.arrayContaining(['ready', 'stopping', 'stopped']),
  );
  for (const line of lines) expect(['debug', 'info', 'warn', 'error']).toContain(line.level);

  // The event history of the first run is there after a restart, with its wall-clock times.
  node = await startNode(pool, 0, 'node 1 again');
  const restartedAt = Date.parse(
    node.events.find((event) => event.event === 'ready')!.time as string,
  );
  const debug = await consoleJson(address, password, 'debug');
  const commits = (debug.data.recentEvents as { event: string; at: number }[]).filter(
    (e) => e.event === 'commit',
  );
  expect(commits.length).toBeGreaterThanOrEqual(6); // the administrator and five keys
  expect(commits.every((e) => e.at < restartedAt)).toBe(true);

  // hsmpool log: every entry, a summary, the directory unchanged.
  const before = readFileSync(join(nodeDir(pool, 0), 'log'));
  const dump = await run(['log', '--data', nodeDir(pool, 0), '--json']);
  expect(dump.code).toBe(0);
  const summary = dump.lines.find((line) => line.event === 'log-summary');
  expect(summary).toMatchObject({ tail: 'clean', committed: 6, aborted: 0, pending: [] });
  const prepares = dump.lines.filter(
    (line) => line.event === 'log-entry' && line.type === 'prepare',
  );
  expect(prepares).toHaveLength(6);
  expect(prepares[1]).toMatchObject({ target: 'k0', sourceUser: 'admin' });
  expect(readFileSync(join(nodeDir(pool, 0), 'log')).equals(before)).toBe(true);
  expect((await run(['log', '--data', join(data, 'nowhere')])).code).toBe(3);
}, 180_000);

it('--checkpoint-bytes: a node checkpoints that often and restarts from it; a bad value is refused', async () => {
  const base = await freePort();
  const pool = join(data, 'checkpoints');
  const args = ['--nodes', '1', '--base-port', String(base), '--data', pool, '--domain', 'cp'];
  expect((await run(['up', ...args, '--json', '--init-only'])).code).toBe(0);
  const password = readFileSync(adminPasswordPath(pool), 'utf8').split('\n')[0];
  for (const bad of ['12', String(2 ** 31), 'many'])
    expect((await run(['node', '--data', nodeDir(pool, 0), '--checkpoint-bytes', bad])).code).toBe(
      2,
    );

  let node = await startNode(pool, 0, 'node 1', ['--checkpoint-bytes', '4096']);
  const client = await nodeClient(`127.0.0.1:${base}`, 'admin', password);
  for (let i = 0; i < 40; i++) await client.generateKey(`c${i}`, 'aes-256');
  client.close();
  const address = `127.0.0.1:${base}`;
  const before = (await consoleJson(address, password, 'info')).data.syncPoint;
  expect(await stop(node)).toBe(0);
  const checkpoints = node.events.filter((event) => event.event === 'checkpoint');
  expect(checkpoints.length).toBeGreaterThan(2);
  expect(readdirSync(join(nodeDir(pool, 0), 'snapshots')).length).toBeLessThanOrEqual(2);
  node = await startNode(pool, 0, 'node 1 again');
  const after = (await consoleJson(address, password, 'info')).data.syncPoint;
  expect(after).toEqual(before);
  expect(after.count).toBeGreaterThanOrEqual(41); // the administrator and 40 keys, at least
  expect(await stop(node)).toBe(0);
}, 120_000);
