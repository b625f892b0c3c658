// bench:flood — issue 14's figure: a 3-node pool of real `hsmpool node` processes
// (build/cli.js, run `npm run build:cli` first); node 1 is flooded by 2,000 unauthenticated
// WebSocket connections (spread over 40 loopback source addresses, 50 each) and one
// connection pipelining 200,000 one-byte frames without reading a reply. Meanwhile a write
// through node 1 must commit, and a signature through node 1 is timed against the quiet pool.
// Prints the ratio (the issue asks for under 10x; not asserted anywhere) and writes
// bench/results/flood.json.
//
//   npm run bench:flood [-- --connections 2000 --frames 200000 --signatures 50]

import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import type { HsmClient } from '../host/client/index.ts';
import { freeAddresses, killAll, patientClient, startPool } from '../test/processes.ts';
import { numberOption, writeResult } from './lib/cli.ts';
import { latenciesMs, quantile } from './lib/stats.ts';

const CONNECTIONS = numberOption('connections', 2000);
const FRAMES = numberOption('frames', 200_000);
const SIGNATURES = numberOption('signatures', 50);
const SOURCES = 40;

async function signatureMs(client: HsmClient, count: number): Promise<number> {
  const message = new TextEncoder().encode('flood bench');
  return quantile(await latenciesMs(count, () => client.sign('bench-ec', message)), 0.5);
}

const data = mkdtempSync(join(tmpdir(), 'hsmpool-flood-'));
const sockets: WebSocket[] = [];
try {
  const addresses = await freeAddresses(3);
  const { password } = await startPool(data, 'flood', addresses);
  const client = await patientClient(addresses[0], 'admin', password);
  console.error('flood: pool up, logged in');
  await client.generateKey('bench-ec', 'ec-p256');
  await signatureMs(client, 5); // warm up
  const quietMs = await signatureMs(client, SIGNATURES);

  // One connection pipelining one-byte frames, never reading a reply.
  const pipeliner = new WebSocket(`ws://${addresses[0]}/client`, {
    localAddress: '127.0.2.1',
    perMessageDeflate: false,
  });
  sockets.push(pipeliner);
  pipeliner.on('error', () => {});
  let pipelinerClose: number | undefined;
  pipeliner.once('close', (code) => (pipelinerClose = code));
  await new Promise<void>((resolve) => pipeliner.once('open', () => resolve()));
  (pipeliner as unknown as { _socket: { pause(): void } })._socket.pause();
  // The flood: idle unauthenticated connections from many loopback addresses.
  let accepted = 0;
  let refused = 0;
  const openings: Promise<void>[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const localAddress = `127.0.1.${1 + (i % SOURCES)}`;
    openings.push(
      new Promise((resolve) => {
        const ws = new WebSocket(`ws://${addresses[0]}/client`, {
          localAddress,
          perMessageDeflate: false,
        });
        sockets.push(ws);
        ws.on('error', () => {});
        ws.once('open', () => {
          accepted++;
          resolve();
        });
        ws.once('unexpected-response', () => {
          refused++;
          resolve();
        });
        ws.once('close', () => resolve());
      }),
    );
  }
  await Promise.all(openings);
  console.error(`flood: ${accepted} connections accepted, ${refused} refused`);
  let sent = 0;
  const pump = (): void => {
    while (sent < FRAMES && pipeliner.readyState === WebSocket.OPEN) {
      pipeliner.send(Uint8Array.of(sent & 0xff));
      sent++;
      if (sent % 1000 === 0) return void setImmediate(pump);
    }
  };
  pump();
  const writeStarted = performance.now();
  await client.createUser('written-under-flood', 'a-long-enough-password');
  const writeMs = performance.now() - writeStarted;
  const floodMs = await signatureMs(client, SIGNATURES);
  const ratio = floodMs / quietMs;
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, loadavg: loadavg() },
    connections: { attempted: CONNECTIONS, accepted, refused, sources: SOURCES },
    pipelined: { framesSent: sent, closedWith: pipelinerClose ?? null },
    writeThroughAttackedNode: { committed: true, ms: Math.round(writeMs) },
    signatureMedianMs: {
      quiet: +quietMs.toFixed(2),
      flood: +floodMs.toFixed(2),
      ratio: +ratio.toFixed(2),
    },
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(
    `signature under flood: ${floodMs.toFixed(2)} ms vs ${quietMs.toFixed(2)} ms quiet (${ratio.toFixed(2)}x; the issue asks < 10x)`,
  );
  writeResult('flood.json', result);
  client.close();
} finally {
  for (const ws of sockets) ws.terminate();
  killAll();
  await new Promise((resolve) => setTimeout(resolve, 500));
  rmSync(data, { recursive: true, force: true });
}
