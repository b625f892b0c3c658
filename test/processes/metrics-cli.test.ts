// /metrics, /healthz and /readyz on real node processes (build/cli.js): a scrape parses with a
// real Prometheus text-format parser, its counters move with load (writes, reads, commit and
// fsync latency), and /healthz and /readyz turn 503 once a node is fenced.

import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import { expect, it } from 'vitest';
import {
  consoleJson,
  freeAddresses,
  patientClient,
  startPool,
  until,
  scratchDir,
} from '../processes.ts';

const data = scratchDir('metrics');

async function scrape(address: string): Promise<Map<string, ParsedFamily>> {
  const response = await fetch(`http://${address}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  const families = parsePrometheusTextFormat(await response.text());
  return new Map(families.map((family) => [family.name, family]));
}

function value(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const family = families.get(name);
  if (!family) return 0;
  const metric = family.metrics.find((m) =>
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v),
  );
  return Number(metric?.value ?? metric?.count ?? 0);
}

const status = async (address: string, path: string) => {
  const response = await fetch(`http://${address}${path}`);
  return { code: response.status, body: (await response.json()) as { state: string } };
};

it('a scrape parses, its counters move with load, /healthz and /readyz flip when fenced', async () => {
  const [a, b] = await freeAddresses(2);
  const { password, nodes } = await startPool(data, 'mx', [a, b]);
  const second = nodes[1];
  const client = (address: string) => patientClient(address, 'admin', password);

  const before = await scrape(a);
  for (const name of [
    'hsmpool_commits_total',
    'hsmpool_commit_latency_seconds',
    'hsmpool_fsync_latency_seconds',
    'hsmpool_sessions',
    'hsmpool_write_queue_depth',
    'hsmpool_ptl_age_seconds',
    'hsmpool_sync_point_info',
    'hsmpool_build_info',
  ])
    expect(before.has(name), name).toBe(true);
  expect(before.get('hsmpool_commit_latency_seconds')!.type).toBe('HISTOGRAM');

  const app = await client(a);
  const writes = 12;
  for (let i = 0; i < writes; i++) await app.generateKey(`k${i}`, 'ec-p256');
  const message = new TextEncoder().encode('load');
  for (let i = 0; i < 7; i++) await app.sign(`k${i}`, message);

  const after = await scrape(a);
  expect(value(after, 'hsmpool_commits_total')).toBeGreaterThanOrEqual(
    value(before, 'hsmpool_commits_total') + writes,
  );
  expect(value(after, 'hsmpool_commit_latency_seconds')).toBeGreaterThanOrEqual(
    value(before, 'hsmpool_commit_latency_seconds') + writes,
  );
  expect(value(after, 'hsmpool_fsync_latency_seconds')).toBeGreaterThan(
    value(before, 'hsmpool_fsync_latency_seconds'),
  );
  expect(value(after, 'hsmpool_requests_total', { operation: 'sign', kind: 'read' })).toBe(7);
  expect(value(after, 'hsmpool_requests_total', { operation: 'key.generate', kind: 'write' })).toBe(
    writes,
  );
  expect(value(after, 'hsmpool_client_writes_total', { code: '0' })).toBeGreaterThanOrEqual(writes);
  expect(value(after, 'hsmpool_sessions')).toBeGreaterThanOrEqual(1);
  expect(value(after, 'hsmpool_records')).toBe(value(before, 'hsmpool_records') + writes);
  // The participant commits the same transactions.
  expect(value(await scrape(b), 'hsmpool_commits_total')).toBeGreaterThanOrEqual(writes);
  app.close();

  expect((await status(b, '/healthz')).code).toBe(200);
  expect(await status(b, '/readyz')).toEqual({
    code: 200,
    body: { healthy: true, ready: true, state: 'member' },
  });
  expect((await fetch(`http://${a}/nothing-here`)).status).toBe(426);

  // Node 2 stops answering (SIGSTOP), is declared down, and resumes: it learns it is fenced.
  second.kill('SIGSTOP');
  const down = await consoleJson(a, password, `node-down ${second.events[0].node}`);
  expect(down.code).toBe(0);
  second.kill('SIGCONT');
  await until('node 2 knows it is fenced', async () => (await status(b, '/healthz')).code === 503);
  expect(await status(b, '/healthz')).toEqual({
    code: 503,
    body: { healthy: false, ready: false, state: 'fenced' },
  });
  expect((await status(b, '/readyz')).code).toBe(503);
  expect(value(await scrape(b), 'hsmpool_fenced')).toBe(1);
  expect((await status(a, '/readyz')).code).toBe(200);
}, 180_000);
