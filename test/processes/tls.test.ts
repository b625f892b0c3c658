// TLS with the pool certificate (issue 14, item 1's second layer) on two real node processes:
// `createPool(..., { tls: true })` as `hsmpool up --tls` does; the peer links run over wss://
// (a write commits on both nodes), an SDK client pinned to the pool certificate works, and a
// client that speaks plain ws:// or pins another pool's certificate gets nowhere. The CLI's
// --pool-certificate pins it too.

import { readFileSync, statSync } from 'node:fs';
import { expect, it } from 'vitest';
import { HsmClient } from '../../host/client/client.ts';
import { nodeConnections } from '../../host/client/ws-client.node.ts';
import { tlsKeyPath } from '../../host/cli/config.ts';
import { createPool, nodeDir, poolCertificatePath } from '../../host/cli/up-command.ts';
import { createPoolCertificate } from '../../host/transport/pool-certificate.node.ts';
import { freeAddresses, runCli, startNode, until, scratchDir } from '../processes.ts';

const data = scratchDir('tls');

function client(address: string, password: string, poolCertificate?: string) {
  return HsmClient.connect({
    nodes: [address],
    user: 'admin',
    password,
    connections: nodeConnections('/client', { poolCertificate }),
    retry: { busyRetriesMax: 40, backoffBaseMs: 20, backoffMaxMs: 500 },
    requestTimeoutMs: 10_000,
  });
}

it('a TLS pool: peers over wss://, the SDK and the CLI pinned to the pool certificate, plain and foreign clients refused', async () => {
  const [a, b] = await freeAddresses(2);
  const password = await createPool(data, 'tl', [a, b], { tls: true });
  const certificate = readFileSync(poolCertificatePath(data), 'utf8');
  expect(certificate).toMatch(/^-----BEGIN CERTIFICATE-----/);
  expect(statSync(tlsKeyPath(nodeDir(data, 0))).mode & 0o777).toBe(0o600);
  await startNode(data, 0);
  await startNode(data, 1);

  let first: HsmClient | undefined;
  await until('the administrator logs in over wss://', async () => {
    first = await client(a, password, certificate);
    return true;
  });
  await first!.generateKey('tls_key', 'ec-p256'); // a 2PC write: the peer links carry it
  const second = await client(b, password, certificate);
  const message = new TextEncoder().encode('over TLS');
  const signature = await second.sign('tls_key', message);
  expect(await first!.verify('tls_key', message, signature)).toBe(true);
  first!.close();
  second.close();

  // Plain ws:// to a TLS port, or TLS pinned to another pool's certificate: no session.
  await expect(client(a, password)).rejects.toThrow();
  const foreign = createPoolCertificate('other', ['127.0.0.1']).certPem;
  await expect(client(a, password, foreign)).rejects.toThrow();

  // The CLI pins it with --pool-certificate.
  const listed = await runCli(
    [
      'key',
      'list',
      '--host',
      a,
      '--user',
      'admin',
      '--json',
      '--pool-certificate',
      poolCertificatePath(data),
    ],
    password,
  );
  expect(listed.code).toBe(0);
  expect(listed.out).toContain('tls_key');
  const unpinned = await runCli(
    ['key', 'list', '--host', a, '--user', 'admin', '--json'],
    password,
  );
  expect(unpinned.code).not.toBe(0);
}, 120_000);
