// Attack suite, items 2 and 3 on the node's session server (host/server/sessions.ts):
// an unauthenticated connection must log in in time and within a few frames, a connection
// may not pile up requests or unread replies, and the remote console keeps the idle timeout.

import { describe, expect, it } from 'vitest';
import type { NodeHost } from '../../host/appliance/node-host.ts';
import { ConnectionGuard, type GuardTimers } from '../../host/server/connection-guard.ts';
import { SessionServer } from '../../host/server/sessions.ts';
import type { ConnectionFactory, FrameConnection } from '../../host/client/connection.ts';
import { NodeLink } from '../../host/client/node-link.ts';
import { CODE } from '../../host/core/codes.ts';
import { CryptoEngine } from '../../host/wire/crypto-engine.ts';
import { DEFAULT_KDF_LIMITS } from '../../host/wire/scram.ts';
import type { ServiceRequest } from '../../host/wire/messages.ts';
import type { ClientConnection, ClientPath } from '../../host/transport/transport.ts';
import { ADMIN_PASSWORD, makeNode, seededRandomBytes } from '../service-fixtures.ts';
import { responseOf, settle } from './harness.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Timers the test fires by hand. */
class HandTimers implements GuardTimers {
  private next = 1;
  readonly due = new Map<number, { callback: () => void; ms: number }>();
  set(callback: () => void, ms: number): unknown {
    const id = this.next++;
    this.due.set(id, { callback, ms });
    return id;
  }
  clear(handle: unknown): void {
    this.due.delete(handle as number);
  }
  fireAll(): void {
    for (const [id, timer] of [...this.due]) {
      this.due.delete(id);
      timer.callback();
    }
  }
}

/** One end of a ClientConnection the test holds. */
class FakeConnection implements ClientConnection {
  readonly remoteAddress = '203.0.113.9:40000';
  readonly sent: string[] = [];
  closedWith: { code: number; reason: string } | undefined;
  buffered = 0;
  private messageHandler: ((bytes: Uint8Array) => void) | undefined;
  private closeHandlers: ((code: number, reason: string) => void)[] = [];
  constructor(readonly path: ClientPath) {}
  send(bytes: Uint8Array): void {
    if (!this.closedWith) this.sent.push(decoder.decode(bytes));
  }
  bufferedBytes(): number {
    return this.buffered;
  }
  onMessage(handler: (bytes: Uint8Array) => void): void {
    this.messageHandler = handler;
  }
  onClose(handler: (code: number, reason: string) => void): void {
    this.closeHandlers.push(handler);
  }
  close(code = 1000, reason = ''): void {
    if (this.closedWith) return;
    this.closedWith = { code, reason };
    for (const handler of this.closeHandlers) handler(code, reason);
  }
  deliver(text: string): void {
    if (!this.closedWith) this.messageHandler?.(encoder.encode(text));
  }
}

async function server() {
  const node = await makeNode(31);
  const timers = new HandTimers();
  const host = { appliance: {}, clientConnections: 0 } as unknown as NodeHost;
  const sessions = new SessionServer(host, node.service, { timers });
  const attach = (path: ClientPath = '/client'): FakeConnection => {
    const connection = new FakeConnection(path);
    sessions.attach(path, connection);
    return connection;
  };
  /** The SDK's link over a fresh connection to this server. */
  const link = (path: ClientPath = '/client'): NodeLink => {
    const factory: ConnectionFactory = {
      async open(): Promise<FrameConnection> {
        const connection = attach(path);
        let listener: { frame(text: string): void; closed(reason: string): void } | undefined;
        const send = connection.send.bind(connection);
        connection.send = (bytes) => {
          send(bytes);
          const text = decoder.decode(bytes);
          queueMicrotask(() => listener?.frame(text));
        };
        connection.onClose(() => queueMicrotask(() => listener?.closed('closed by the node')));
        return {
          send: (frame) => connection.deliver(frame),
          close: () => connection.close(),
          listen: (l) => void (listener = l),
        };
      },
    };
    return new NodeLink('node', {
      connections: factory,
      credentials: { user: 'admin', password: ADMIN_PASSWORD },
      kdfLimits: { ...DEFAULT_KDF_LIMITS, pbkdf2IterationsMin: 1 },
      requestTimeoutMs: 10_000,
      engine: new CryptoEngine(),
      randomBytes: seededRandomBytes(77),
      saltedPasswords: new Map(),
    });
  };
  return { node, timers, attach, link };
}

const ping = (id: number): string => JSON.stringify({ id, request: { type: 'ping' } });

describe('the session server before login', () => {
  it('closes a connection that does not log in by the deadline (38733)', async () => {
    const { timers, attach } = await server();
    const idle = attach();
    const other = attach();
    other.deliver(ping(1));
    await settle();
    timers.fireAll();
    expect(idle.closedWith?.code).toBe(1008);
    expect(responseOf(idle.sent.at(-1))?.code).toBe(CODE.LOGIN_DEADLINE);
    expect(responseOf(other.sent[0])?.code).toBe(0);
  });

  it('closes a connection that sends more than PRE_LOGIN_FRAMES_MAX frames before login (38733)', async () => {
    const { attach } = await server();
    const flood = attach();
    for (let i = 1; i <= 200; i++) flood.deliver(ping(i));
    await settle();
    expect(flood.closedWith?.code).toBe(1008);
    expect(flood.sent.length).toBeLessThanOrEqual(9); // 8 answers and the refusal
    expect(responseOf(flood.sent.at(-1))?.code).toBe(CODE.LOGIN_DEADLINE);
  });

  it('a logged-in connection is not held to the login deadline', async () => {
    const { timers, link } = await server();
    const nodeLink = link();
    const session = await nodeLink.open();
    for (const [, timer] of timers.due) expect(timer.ms).toBeGreaterThan(10_000); // only the idle close
    const reply = await nodeLink.request(session, { type: 'policy.get' } as ServiceRequest);
    expect(reply.code).toBe(0);
  });
});

describe('a connection piling up work', () => {
  /** A guard on a fresh connection: generous limits but `inFlightMax` and a backlog of 1000 bytes. */
  function guarded(inFlightMax: number) {
    const connection = new FakeConnection('/client');
    const limits = { loginDeadlineMs: 10_000, preLoginFramesMax: 100, idleCloseMs: 60_000 };
    const guard = new ConnectionGuard(
      connection,
      { ...limits, inFlightMax, replyBacklogBytesMax: 1000 },
      new HandTimers(),
    );
    return { connection, guard };
  }

  it('is closed past the in-flight limit (38734)', () => {
    const { connection, guard } = guarded(2);
    expect(guard.admit(false)).toBe(true);
    expect(guard.admit(false)).toBe(true);
    expect(guard.admit(false)).toBe(false);
    expect(connection.closedWith?.code).toBe(1008);
    expect(responseOf(connection.sent.at(-1))?.code).toBe(CODE.CONNECTION_LIMIT);
  });

  it('is closed when it leaves more than REPLY_BACKLOG_BYTES_MAX of replies unread (38734)', () => {
    const { connection, guard } = guarded(100);
    expect(guard.admit(false)).toBe(true);
    guard.replied(false);
    expect(connection.closedWith).toBeUndefined();
    connection.buffered = 1001;
    expect(guard.admit(false)).toBe(true);
    guard.replied(false);
    expect(connection.closedWith?.code).toBe(1008);
    expect(responseOf(connection.sent.at(-1))?.code).toBe(CODE.CONNECTION_LIMIT);
  });
});

describe('the remote console', () => {
  it("keeps the policy's idle timeout (38704), as every other request does", async () => {
    const { node, link } = await server();
    const consoleLink = link('/console');
    const session = await consoleLink.open();
    const run = () =>
      consoleLink.request(session, {
        type: 'console.run',
        line: 'help',
      } as unknown as ServiceRequest);
    expect((await run()).code).toBe(0);
    node.clock.advance(901_000); // the default sessionTimeoutSeconds is 900
    expect((await run()).code).toBe(CODE.SESSION_EXPIRED);
  });
});
