// Live-sync with real processes on 127.0.0.1 (docs/LIVE_SYNC.md): a new node joins with
// `hsmpool node --join HOST:PORT` (no node id needed), then a node declared down while it was
// dead restarts fenced, refuses client logins (38503), and comes back by the console's
// `live-sync` under a new id — the refused clients do not block it (37033) — and a node
// started with discovery on joins without being told where.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { CODE } from '../../host/core/codes.ts';
import { nodeDir } from '../../host/cli/up-command.ts';
import {
  consoleJson,
  freeAddresses,
  patientClient,
  startNode,
  startNodeProcess,
  startPool,
  stop,
  until,
  scratchDir,
} from '../processes.ts';
import { rejection } from '../fixtures.ts';

const data = scratchDir('lsc');

const nodeId = (dir: string): string =>
  (JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8')) as { id: string }).id;

it("joins by HOST:PORT, and a fenced node comes back by the console's live-sync under a new id", async () => {
  const [a, b, c, d] = await freeAddresses(4);
  const { password, nodes } = await startPool(data, 'ls', [a, b]);
  let second = nodes[1];
  const client = (address: string) => patientClient(address, 'admin', password);
  const writer = await client(a);
  for (let i = 0; i < 30; i++) await writer.generateKey(`before-${i}`, 'aes-256');

  /** A node in a new directory `dir` listening on `address`, brought in as `how` says. */
  const svmkFile = join(nodeDir(data, 0), 'svmk.key');
  const newNode = (dir: string, address: string, how: string[], name: string) =>
    startNodeProcess(
      ['--data', dir, '--listen', address, ...how, '--svmk-file', svmkFile, '--domain', 'ls'],
      ['joined', 'ready'],
      name,
    );

  // A new node joins, naming the donor by its address alone.
  const third = await newNode(join(data, 'node-3'), c, ['--join', a], 'node 3');
  expect(third.events.find((e) => e.event === 'joined')).toBeDefined();
  const sp = async (address: string): Promise<string> =>
    (await consoleJson(address, password, 'info')).data.syncPoint.hex;
  await until('node 3 has the pool image', async () => (await sp(c)) === (await sp(a)));
  const members = (await consoleJson(a, password, 'info')).data.nodes.filter(
    (n: { member: boolean }) => n.member,
  );
  expect(members).toHaveLength(3);

  // Node 2 dies and is declared down; the pool goes on with nodes 1 and 3.
  const oldId = nodeId(nodeDir(data, 1));
  await stop(second, 'SIGKILL');
  expect((await consoleJson(a, password, `node-down ${b}`)).code).toBe(0);
  await writer.generateKey('while-down', 'ed25519');

  // It restarts fenced. It refuses client logins (38503: its keys and passwords may be stale):
  // a client with only this node in its list sees every node refuse. Those refused attempts do
  // not count as connected clients (37033), so the console's live-sync brings it back as a new
  // node without another restart.
  second = await startNode(data, 1, 'node 2 again');
  await until(
    'node 2 knows it is fenced',
    async () => (await consoleJson(b, password, 'info')).data.fenced === true,
  );
  const refused = await rejection(client(b));
  expect(refused).toMatchObject({ code: CODE.ALL_NODES_FAILED });
  expect((refused as Error).message).toMatch(/NODE_FENCED_NO_READS \(38503\)/);
  expect(nodeId(nodeDir(data, 1))).toBe(oldId);
  const synced = await consoleJson(b, password, 'live-sync');
  expect(synced.code, JSON.stringify(synced.data)).toBe(0);
  expect(synced.data.previousId).toBe(oldId);
  expect(synced.data.id).not.toBe(oldId);
  expect(nodeId(nodeDir(data, 1))).toBe(synced.data.id);
  const back = await client(b);
  await back.generateKey('after-live-sync', 'hmac-sha256');
  await until('all three SPs equal', async () => {
    const [x, y, z] = await Promise.all([a, b, c].map(sp));
    return x === y && y === z;
  });
  const names = new Set(
    (await (await client(c)).listKeys({ limit: 1000 })).keys.map((key) => key.name),
  );
  for (const name of ['before-0', 'before-29', 'while-down', 'after-live-sync'])
    expect(names).toContain(name);

  // After a restart it is still the new node, in sync.
  expect(await stop(second)).toBe(0);
  second = await startNode(data, 1, 'node 2, fourth start');
  expect(second.events.find((e) => e.event === 'ready')?.node).toBe(synced.data.id);
  await until('node 2 in sync after its restart', async () => (await sp(b)) === (await sp(a)));

  // With discovery on, a new directory needs no --join: it finds a member in the range.
  const discover = ['--discover', [a, b, c, d].join(',')];
  const fourth = await newNode(join(data, 'node-4'), d, discover, 'node 4');
  expect(fourth.events.some((e) => e.event === 'joined')).toBe(true);
  await until('node 4 has the pool image', async () => (await sp(d)) === (await sp(a)));
  const fourthInfo = (await consoleJson(d, password, 'info')).data;
  expect(fourthInfo.discovery.addresses).toBe(4);
  expect(fourthInfo.discovery.autoLiveSync).toBe(true);
  back.close();
  writer.close();
}, 180_000);
