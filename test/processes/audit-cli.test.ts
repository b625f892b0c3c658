// The audit log on real node processes (build/cli.js): a scripted session of every audited
// action — logins ok, failed and locked, users, passwords, keys, grants, export, policy, node
// cache, backup, node-down, live-sync, restore — is recorded with who, from where and the code;
// no secret used in the session appears in the file; `hsmpool audit` verifies the hash chain
// and exits 1 once a line was edited.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { nodeDir } from '../../host/cli/up-command.ts';
import { auditPath, type AuditEntry } from '../../host/server/audit.node.ts';
import {
  backupPool,
  consoleJson,
  freeAddresses,
  patientClient,
  restoreNode,
  runCli,
  startPool,
  until,
  scratchDir,
} from '../processes.ts';

const data = scratchDir('audit');

async function audit(
  address: string,
  password: string,
): Promise<{ code: number | null; out: { ok: boolean; entries: AuditEntry[] } | undefined }> {
  const args = ['audit', '--host', address, '--user', 'admin', '--json', '--last', '1000'];
  const run = await runCli(args, password);
  return { code: run.code, out: run.json };
}

it('records every audited action, never a secret, and detects an edited line', async () => {
  const [a, b] = await freeAddresses(2);
  const { password: adminPassword, nodes } = await startPool(data, 'au', [a, b]);
  let second = nodes[1];
  const connect = (user: string, password: string, address = a) =>
    patientClient(address, user, password);

  const secrets = {
    first: 'alice-first-secret-1',
    reset: 'alice-reset-secret-2',
    own: 'alice-own-secret-3',
    material: new Uint8Array(32).map((_, i) => 0xa0 + i),
  };
  const admin = await connect('admin', adminPassword);
  await admin.setPolicy({ ...(await admin.policy()), maxFailedLogins: 2 });
  await admin.createUser('alice', secrets.first);
  await admin.changePassword(secrets.reset, 'alice'); // a reset by the administrator
  const alice = await connect('alice', secrets.reset);
  await alice.changePassword(secrets.own); // her own change
  alice.close();
  await expect(connect('alice', 'wrong-1')).rejects.toThrow();
  await expect(connect('alice', 'wrong-2')).rejects.toThrow();
  await expect(connect('alice', secrets.own)).rejects.toThrow(); // locked now
  await admin.unlockUser('alice');
  await admin.generateKey('signer', 'ec-p256');
  await admin.importKey('imported', 'aes-256', secrets.material, { exportable: true });
  await admin.grant('signer', 'alice', { use: true });
  const exported = await admin.exportKey('imported');
  expect(exported).toEqual(secrets.material);
  await admin.removeKey('signer');
  await admin.deleteUser('alice');
  admin.close();
  expect(
    (await consoleJson(a, adminPassword, 'nodes add 00000000000000ff 127.0.0.9:7001')).code,
  ).toBe(0);
  expect((await consoleJson(a, adminPassword, 'nodes remove 00000000000000ff')).code).toBe(0);
  const backup = join(data, 'pool.backup');
  await backupPool(data, a, backup);

  // node-down of node 2 (stopped with SIGSTOP), then its live-sync back in place.
  const secondId = second.events[0].node as string;
  second.kill('SIGSTOP');
  expect((await consoleJson(a, adminPassword, `node-down ${secondId}`)).code).toBe(0);
  second.kill('SIGCONT');
  await until(
    'node 2 knows it is fenced',
    async () => (await fetch(`http://${b}/healthz`)).status === 503,
  );
  expect((await consoleJson(b, adminPassword, 'live-sync')).code).toBe(0);
  // Restore (offline) into node 2's directory.
  second = await restoreNode(data, 1, second, backup, 'node 2 restored');

  const read = await audit(a, adminPassword);
  expect(read.code).toBe(0);
  expect(read.out!.ok).toBe(true);
  const entries = read.out!.entries;
  const actions = entries.map((e) => e.action);
  for (const action of [
    'login',
    'login.failed',
    'login.locked',
    'policy.set',
    'user.create',
    'user.password-reset',
    'user.password',
    'user.unlock',
    'key.generate',
    'key.import',
    'key.grant',
    'key.export',
    'key.remove',
    'user.remove',
    'nodes',
    'backup',
    'node-down',
  ])
    expect(actions, action).toContain(action);
  const grant = entries.find((e) => e.action === 'key.grant')!;
  expect(grant).toMatchObject({
    actor: 'admin',
    target: 'signer',
    code: 0,
    detail: 'grantee alice',
  });
  expect(grant.from).toMatch(/^127\.0\.0\.1:\d+$/);
  // (the first failures are the administrator's, before the bootstrap write created it)
  expect(entries.filter((e) => e.action === 'login.failed').map((e) => e.actor)).toContain('alice');
  expect(entries.find((e) => e.action === 'login.locked')!.code).toBe(38701); // a locked account answers like a wrong password (issue 14)
  const onB = await audit(b, adminPassword);
  expect(onB.out!.entries.map((e) => e.action)).toEqual(
    expect.arrayContaining(['live-sync', 'restore']),
  );

  // Nothing secret in either file.
  for (const file of [auditPath(nodeDir(data, 0)), auditPath(nodeDir(data, 1))]) {
    const text = readFileSync(file, 'utf8');
    for (const secret of [secrets.first, secrets.reset, secrets.own, adminPassword])
      expect(text).not.toContain(secret);
    const material = Buffer.from(secrets.material);
    expect(text).not.toContain(material.toString('hex'));
    expect(text).not.toContain(material.toString('base64'));
  }

  // An edited line breaks the chain.
  const file = auditPath(nodeDir(data, 0));
  const lines = readFileSync(file, 'utf8').split('\n');
  const i = lines.findIndex((line) => line.includes('"key.export"'));
  lines[i] = lines[i].replace('"actor":"admin"', '"actor":"alice"');
  writeFileSync(file, lines.join('\n'));
  const tampered = await audit(a, adminPassword);
  expect(tampered.code).toBe(1);
  expect(tampered.out!.ok).toBe(false);
}, 240_000);
