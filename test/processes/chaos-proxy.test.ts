// The chaos campaign's fault proxy (scripts/chaos/proxy.node.ts) and the source-address hook
// (scripts/chaos/source-address.cjs), on real loopback sockets: faults apply per dialing
// source, one-way; drop resets, blackhole swallows, delay keeps order, heal restores.

import { execFile } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LinkProxy } from '../../scripts/chaos/proxy.node.ts';

const HOOK = new URL('../../scripts/chaos/source-address.cjs', import.meta.url).pathname;
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** An echo server on 127.0.0.1 that also records each connection's source address. */
async function echoServer(): Promise<{ port: number; sources: string[] }> {
  const sources: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sources.push(socket.remoteAddress ?? '');
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as { port: number }).port, sources };
}

async function proxyFor(port: number): Promise<LinkProxy> {
  const proxy = await LinkProxy.start({ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port });
  closers.push(() => proxy.close());
  return proxy;
}

/** A client socket from `source`, with what it received and whether it was reset/closed. */
function dial(
  port: number,
  source: string,
): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    let data = '';
    let closed = false;
    const socket = connect({ host: '127.0.0.1', port, localAddress: source }, () =>
      resolve({ socket, received: () => data, closed: () => closed }),
    );
    socket.on('data', (chunk) => (data += chunk));
    socket.on('error', () => {});
    socket.on('close', () => (closed = true));
    socket.once('error', reject);
    closers.push(() => void socket.destroy());
  });
}

const settle = (ms = 150): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('LinkProxy', () => {
  it('forwards both ways while the link passes', async () => {
    const echo = await echoServer();
    const proxy = await proxyFor(echo.port);
    const client = await dial(proxy.listen.port, '127.0.0.21');
    client.socket.write('hello');
    await settle();
    expect(client.received()).toBe('hello');
    expect(proxy.stats.bySource).toEqual({ '127.0.0.21': 1 });
  });

  it('drop resets the open connections of that source only, and refuses new ones', async () => {
    const echo = await echoServer();
    const proxy = await proxyFor(echo.port);
    const a = await dial(proxy.listen.port, '127.0.0.21');
    const b = await dial(proxy.listen.port, '127.0.0.22');
    proxy.setFault('127.0.0.21', { kind: 'drop' });
    await settle();
    expect(a.closed()).toBe(true);
    expect(b.closed()).toBe(false);
    b.socket.write('still');
    // Refused: reset at once (before or right after the connect completes).
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect({
        host: '127.0.0.1',
        port: proxy.listen.port,
        localAddress: '127.0.0.21',
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(true));
      closers.push(() => void socket.destroy());
    });
    expect(refused).toBe(true);
    await settle();
    expect(b.received()).toBe('still');
    expect(proxy.stats.refused).toBe(1);
    proxy.setFault('127.0.0.21', { kind: 'pass' });
    const healed = await dial(proxy.listen.port, '127.0.0.21');
    healed.socket.write('back');
    await settle();
    expect(healed.received()).toBe('back');
  });

  it('blackhole swallows bytes silently; the heal resets the broken connection', async () => {
    const echo = await echoServer();
    const proxy = await proxyFor(echo.port);
    const a = await dial(proxy.listen.port, '127.0.0.21');
    proxy.setFault('127.0.0.21', { kind: 'blackhole' });
    a.socket.write('lost');
    await settle();
    expect(a.received()).toBe('');
    expect(a.closed()).toBe(false);
    expect(proxy.stats.bytesDiscarded).toBe(4);
    proxy.healAll();
    await settle();
    expect(a.closed()).toBe(true);
  });

  it('delay holds bytes and keeps their order', async () => {
    const echo = await echoServer();
    const proxy = await proxyFor(echo.port);
    const a = await dial(proxy.listen.port, '127.0.0.21');
    proxy.setFault('127.0.0.21', { kind: 'delay', delayMs: 300 });
    a.socket.write('one,');
    a.socket.write('two');
    await settle(50);
    expect(a.received()).toBe('');
    await settle(900);
    expect(a.received()).toBe('one,two');
  });

  it('refuses addresses outside 127.0.0.0/8 and delays past its bound', async () => {
    await expect(
      LinkProxy.start({ host: '0.0.0.0', port: 0 }, { host: '127.0.0.1', port: 1 }),
    ).rejects.toThrow(/127\.0\.0\.0\/8/);
    const echo = await echoServer();
    const proxy = await proxyFor(echo.port);
    expect(() => proxy.setFault('10.0.0.1', { kind: 'drop' })).toThrow(/127/);
    expect(() => proxy.setFault('127.0.0.21', { kind: 'delay', delayMs: 1e9 })).toThrow(/delay/);
  });
});

it('the source-address hook makes a process dial loopback from its own address', async () => {
  const echo = await echoServer();
  const script = `require('node:net').connect({ host: '127.0.0.1', port: ${echo.port} }, function () { this.end(); });`;
  await new Promise<void>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--require', HOOK, '-e', script],
      { env: { ...process.env, HSMPOOL_CHAOS_SOURCE: '127.0.0.23' }, timeout: 20_000 },
      (error) => (error ? reject(error) : resolve()),
    ),
  );
  await settle();
  expect(echo.sources).toEqual(['127.0.0.23']);
});
